//! MIDI as Prism sends it: one wire format for the plugins' MIDI output and the `prism`
//! command's MIDI files, so both carry the same messages at the same samples.
//!
//! * [`MidiMessage`]: a three-byte channel message (note on/off, pitch bend, control change).
//! * [`ChordMidi`]: Prism Chroma's chord → held notes (the old chord's note-offs, then the new
//!   chord's note-ons, at the sample the chord is decided).
//! * [`NoteWire`]: Prism Pitch's segmenter events → messages, with the pitch-bend range sent
//!   to the synth as RPN 0 before the first note and whenever it changes, so a synth bends by
//!   Prism's range, not its own default.
//!
//! Everything here is allocation-free and real-time safe.

use crate::chord::chord_midi_notes;
use crate::pitch::notes::MidiOut;

/// The channel Prism sends on (0 = MIDI channel 1).
pub const CHANNEL: u8 = 0;

const NOTE_OFF: u8 = 0x80;
const NOTE_ON: u8 = 0x90;
const CONTROL_CHANGE: u8 = 0xB0;
const PITCH_BEND: u8 = 0xE0;

/// A MIDI channel message as sent: status byte and two data bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MidiMessage(pub [u8; 3]);

/// A [`MidiMessage`] taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidiKind {
    NoteOn { channel: u8, key: u8, velocity: u8 },
    NoteOff { channel: u8, key: u8 },
    PitchBend { channel: u8, value: u16 },
    ControlChange { channel: u8, cc: u8, value: u8 },
    Other,
}

impl MidiMessage {
    /// Note on; velocity 1..=127 (0 would mean note off).
    pub const fn note_on(channel: u8, key: u8, velocity: u8) -> Self {
        let velocity = if velocity == 0 { 1 } else { velocity & 0x7F };
        Self([NOTE_ON | (channel & 0x0F), key & 0x7F, velocity])
    }

    /// Note off (release velocity 0).
    pub const fn note_off(channel: u8, key: u8) -> Self {
        Self([NOTE_OFF | (channel & 0x0F), key & 0x7F, 0])
    }

    /// Pitch bend, 14 bits (8192 = centre).
    pub const fn pitch_bend(channel: u8, value: u16) -> Self {
        let value = if value > 0x3FFF { 0x3FFF } else { value };
        Self([
            PITCH_BEND | (channel & 0x0F),
            (value & 0x7F) as u8,
            (value >> 7) as u8,
        ])
    }

    /// Control change.
    pub const fn control_change(channel: u8, cc: u8, value: u8) -> Self {
        Self([CONTROL_CHANGE | (channel & 0x0F), cc & 0x7F, value & 0x7F])
    }

    /// The message taken apart.
    pub fn kind(&self) -> MidiKind {
        let [status, a, b] = self.0;
        let channel = status & 0x0F;
        match status & 0xF0 {
            NOTE_ON if b > 0 => MidiKind::NoteOn {
                channel,
                key: a,
                velocity: b,
            },
            NOTE_ON | NOTE_OFF => MidiKind::NoteOff { channel, key: a },
            PITCH_BEND => MidiKind::PitchBend {
                channel,
                value: a as u16 | (b as u16) << 7,
            },
            CONTROL_CHANGE => MidiKind::ControlChange {
                channel,
                cc: a,
                value: b,
            },
            _ => MidiKind::Other,
        }
    }
}

/// A velocity 0..=1 as a 7-bit note-on velocity (1..=127).
pub fn velocity_7bit(velocity: f32) -> u8 {
    let v = if velocity.is_finite() { velocity } else { 1.0 };
    (v * 127.0).round().clamp(1.0, 127.0) as u8
}

/// A bend of −1..=1 of the bend range as a 14-bit pitch-bend value (8192 = centre).
pub fn bend_14bit(value: f32) -> u16 {
    let v = if value.is_finite() { value } else { 0.0 };
    (8192.0 + v.clamp(-1.0, 1.0) * 8191.0).round() as u16
}

/// RPN 0 (pitch-bend sensitivity) set to `semitones`, then the null RPN so later data-entry
/// messages change nothing.
pub fn bend_range_rpn(channel: u8, semitones: u8) -> [MidiMessage; 6] {
    let cc = |cc, value| MidiMessage::control_change(channel, cc, value);
    [
        cc(101, 0),
        cc(100, 0),
        cc(6, semitones.min(127)),
        cc(38, 0),
        cc(101, 127),
        cc(100, 127),
    ]
}

/// Prism Chroma's MIDI chord output: holds the decided chord's notes
/// ([`chord_midi_notes`]) and changes them when the chord changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChordMidi {
    sounding: [u8; 4],
    count: usize,
    /// The chord whose notes are held (0 = N / none).
    chord: u16,
}

impl ChordMidi {
    /// The chord whose notes are held.
    pub fn chord(&self) -> u16 {
        self.chord
    }

    /// Whether any note is held.
    pub fn is_sounding(&self) -> bool {
        self.count > 0
    }

    /// A decided chord: if it differs from the held one, the held notes stop and the new
    /// chord's start (velocity from the decision's confidence).
    pub fn decide(&mut self, chord: u16, confidence: f32, mut emit: impl FnMut(MidiMessage)) {
        if chord == self.chord {
            return;
        }
        self.release(&mut emit);
        self.chord = chord;
        self.count = chord_midi_notes(chord as usize, &mut self.sounding);
        let velocity = velocity_7bit((0.4 + 0.6 * confidence).clamp(0.05, 1.0));
        for &key in &self.sounding[..self.count] {
            emit(MidiMessage::note_on(CHANNEL, key, velocity));
        }
    }

    /// Stops the held notes.
    pub fn release(&mut self, mut emit: impl FnMut(MidiMessage)) {
        for &key in &self.sounding[..self.count] {
            emit(MidiMessage::note_off(CHANNEL, key));
        }
        self.count = 0;
        self.chord = 0;
    }
}

/// Prism Pitch's MIDI output: segmenter events as messages, with the bend range announced.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoteWire {
    /// The bend range last sent as RPN 0 (`None`: not sent since the stream began).
    announced: Option<i32>,
}

impl NoteWire {
    /// A new stream: the bend range is announced again before the next events.
    pub fn reset(&mut self) {
        self.announced = None;
    }

    /// Called at the start of every block while MIDI output is on: sends RPN 0 when the
    /// range has not been sent in this stream or has changed since.
    pub fn announce(&mut self, bend_range: i32, mut emit: impl FnMut(MidiMessage)) {
        if self.announced != Some(bend_range) {
            self.announced = Some(bend_range);
            for m in bend_range_rpn(CHANNEL, bend_range.clamp(0, 127) as u8) {
                emit(m);
            }
        }
    }

    /// One segmenter event as a message.
    pub fn message(event: MidiOut) -> MidiMessage {
        match event {
            MidiOut::NoteOn { key, velocity } => {
                MidiMessage::note_on(CHANNEL, key, velocity_7bit(velocity))
            }
            MidiOut::NoteOff { key } => MidiMessage::note_off(CHANNEL, key),
            MidiOut::PitchBend { value } => MidiMessage::pitch_bend(CHANNEL, bend_14bit(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let on = MidiMessage::note_on(0, 60, 100);
        assert_eq!(on.0, [0x90, 60, 100]);
        assert_eq!(
            on.kind(),
            MidiKind::NoteOn {
                channel: 0,
                key: 60,
                velocity: 100
            }
        );
        let bend = MidiMessage::pitch_bend(0, bend_14bit(1.0));
        assert_eq!(
            bend.kind(),
            MidiKind::PitchBend {
                channel: 0,
                value: 16383
            }
        );
        assert_eq!(bend_14bit(0.0), 8192);
        assert_eq!(bend_14bit(-1.0), 1);
        assert_eq!(velocity_7bit(0.0), 1);
    }

    #[test]
    fn chord_changes_release_then_start() {
        let mut midi = ChordMidi::default();
        let mut sent = Vec::new();
        midi.decide(1, 1.0, |m| sent.push(m)); // C major
        assert_eq!(sent.len(), 3);
        midi.decide(1, 1.0, |m| sent.push(m));
        assert_eq!(sent.len(), 3, "the same chord sends nothing");
        midi.decide(0, 1.0, |m| sent.push(m));
        assert_eq!(sent.len(), 6);
        assert!(sent[3..]
            .iter()
            .all(|m| matches!(m.kind(), MidiKind::NoteOff { .. })));
        assert!(!midi.is_sounding());
    }

    #[test]
    fn bend_range_is_announced_once_and_on_change() {
        let mut wire = NoteWire::default();
        let mut sent = Vec::new();
        wire.announce(2, |m| sent.push(m));
        wire.announce(2, |m| sent.push(m));
        assert_eq!(sent.len(), 6);
        assert_eq!(
            sent[2].kind(),
            MidiKind::ControlChange {
                channel: 0,
                cc: 6,
                value: 2
            }
        );
        wire.announce(12, |m| sent.push(m));
        assert_eq!(sent.len(), 12);
        wire.reset();
        wire.announce(12, |m| sent.push(m));
        assert_eq!(sent.len(), 18);
    }
}
