//! Audio-to-MIDI: turning the tracked pitch into notes and pitch bend, in real time.
//!
//! A note starts when the pitch has been voiced and near one semitone for [`ON_FRAMES`]
//! frames; it changes when the pitch leaves the note by more than half a semitone plus a
//! hysteresis for [`CHANGE_FRAMES`] frames after a leap or [`SETTLE_MS`] settled on a neighbour;
//! it ends after [`OFF_MS`] unvoiced.
//! A re-attack on the same pitch (the level dips and rises again) restarts the note. No note
//! ends or changes before the minimum note length. Velocity comes from the level at the
//! onset; the deviation from the note within it is sent as pitch bend.

use super::schema;

/// Voiced frames needed to start a note (≈ 5.8 ms at 44.1 kHz).
pub const ON_FRAMES: u32 = 2;
/// Frames off the note needed to change note by a leap.
pub const CHANGE_FRAMES: u32 = 2;
/// A change by less than a leap (a semitone step, or vibrato and glides passing the next
/// semitone) needs the pitch to settle within [`SETTLE_SEMITONES`] of the new note for this
/// long, ms: vibrato and glides stay one note, bent.
pub const SETTLE_MS: f32 = 50.0;
/// See [`SETTLE_MS`].
pub const SETTLE_SEMITONES: f32 = 0.25;
/// A pitch this far from the note (semitones) changes it after one frame: a leap, not a
/// wobble.
pub const LEAP_SEMITONES: f32 = 1.5;
/// Unvoiced time that ends a note, ms (shorter voicing gaps do not split it).
pub const OFF_MS: f32 = 20.0;
/// Hysteresis beyond the half-semitone boundary before a note change, semitones.
pub const HYSTERESIS_SEMITONES: f32 = 0.25;
/// Level dip (from the note's peak) that arms a re-attack, dB.
const REATTACK_DIP_DB: f32 = 9.0;
/// Rise from the dip's minimum that triggers the re-attack, dB.
const REATTACK_RISE_DB: f32 = 6.0;
/// Frames below this level are treated as unvoiced, dBFS.
pub const NOTE_GATE_DB: f32 = -65.0;
/// A note that restarts the pitch of the note that ended less than this long ago (ms) needs
/// [`REONSET_EXTRA_FRAMES`] more frames: across a leap the old period often survives a few
/// frames after a short voicing gap (an octave up is also periodic at the old period).
pub const REONSET_GUARD_MS: f32 = 30.0;
/// See [`REONSET_GUARD_MS`].
pub const REONSET_EXTRA_FRAMES: u32 = 3;
/// Voicing probability the frames starting a note need (at least): a frame that is only
/// just voiced (a transition, a noisy attack) does not start a note on its own.
pub const ONSET_CONFIDENCE: f32 = 0.25;
/// Smallest pitch-bend change worth sending, semitones (1 cent).
const BEND_STEP_SEMITONES: f32 = 0.01;

/// Note-output settings. Changing them never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteSettings {
    /// Produce MIDI at all.
    pub enabled: bool,
    /// Pitch-bend range of the receiving synth, semitones ([`schema::BEND_RANGE`]).
    pub bend_range: i32,
    /// Minimum note length, ms.
    pub min_note_ms: f32,
    /// Transposition of the sent notes, semitones.
    pub transpose: i32,
}

impl NoteSettings {
    /// The settings inside their schema ranges.
    pub fn sanitized(self) -> Self {
        Self {
            bend_range: schema::BEND_RANGE.clamp(self.bend_range),
            min_note_ms: schema::MIN_NOTE_MS.clamp(self.min_note_ms),
            transpose: schema::TRANSPOSE.clamp(self.transpose),
            ..self
        }
    }
}

impl Default for NoteSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bend_range: schema::BEND_RANGE.default,
            min_note_ms: schema::MIN_NOTE_MS.default,
            transpose: schema::TRANSPOSE.default,
        }
    }
}

/// A MIDI event produced by the segmenter (channel 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MidiOut {
    /// Note on, velocity 0..=1 (never 0).
    NoteOn { key: u8, velocity: f32 },
    /// Note off.
    NoteOff { key: u8 },
    /// Pitch bend, −1..=1 of the bend range (0 = centre).
    PitchBend { value: f32 },
}

/// Events of one frame (at most: off, bend, on).
#[derive(Debug, Clone, Copy, Default)]
pub struct MidiEvents {
    items: [Option<MidiOut>; 4],
    len: usize,
}

impl MidiEvents {
    fn push(&mut self, event: MidiOut) {
        if self.len < self.items.len() {
            self.items[self.len] = Some(event);
            self.len += 1;
        }
    }

    /// Removes all events.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The events in order.
    pub fn iter(&self) -> impl Iterator<Item = MidiOut> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No events.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The real-time note segmenter.
#[derive(Debug, Clone, Default)]
pub struct NoteSegmenter {
    settings: NoteSettings,
    hop_s: f32,
    /// Sounding note (in semitones relative to the reference, untransposed) and the key sent.
    sounding: Option<(i32, Option<u8>)>,
    age_frames: u32,
    candidate: i32,
    on_count: u32,
    off_count: u32,
    change_count: u32,
    /// Frames the pitch has been settled on `settle_note`.
    settle_count: u32,
    settle_note: i32,
    last_bend: f32,
    peak_db: f32,
    dip_min_db: f32,
    armed: bool,
    /// The last note that ended and the frames since.
    last_note: Option<i32>,
    frames_since_off: u32,
}

fn velocity_of(level_db: f32) -> f32 {
    // −60 dBFS RMS → 1/127, −6 dBFS → 127/127.
    let v = ((level_db + 60.0) / 54.0).clamp(0.0, 1.0);
    (1.0 + v * 126.0).round() / 127.0
}

impl NoteSegmenter {
    /// Sets the frame period. Not real-time relevant (no allocation anyway).
    pub fn prepare(&mut self, hop_s: f32) {
        self.hop_s = hop_s;
        self.reset();
    }

    /// Forgets all state (without sending anything; see [`NoteSegmenter::release`]).
    pub fn reset(&mut self) {
        let settings = self.settings;
        let hop_s = self.hop_s;
        *self = Self {
            settings,
            hop_s,
            ..Self::default()
        };
    }

    /// Updates the settings. A disabled output releases its note on the next frame.
    pub fn set_settings(&mut self, settings: NoteSettings) {
        let s = settings.sanitized();
        self.settings = s;
    }

    /// Current settings.
    pub fn settings(&self) -> &NoteSettings {
        &self.settings
    }

    /// The sounding note in semitones relative to the reference (MIDI numbering, before
    /// transposition), if any.
    pub fn sounding(&self) -> Option<i32> {
        self.sounding.map(|(n, _)| n)
    }

    /// Ends the sounding note, if any.
    pub fn release(&mut self, out: &mut MidiEvents) {
        if let Some((note, key)) = self.sounding.take() {
            if let Some(key) = key {
                out.push(MidiOut::NoteOff { key });
            }
            self.last_note = Some(note);
            self.frames_since_off = 0;
        }
        self.age_frames = 0;
        self.on_count = 0;
        self.change_count = 0;
        self.off_count = 0;
        self.armed = false;
    }

    fn min_frames(&self) -> u32 {
        self.frames_for(self.settings.min_note_ms)
    }

    fn frames_for(&self, ms: f32) -> u32 {
        if self.hop_s > 0.0 {
            (ms / 1000.0 / self.hop_s).ceil() as u32
        } else {
            0
        }
    }

    fn start(&mut self, note: i32, pitch: f32, level_db: f32, out: &mut MidiEvents) {
        let key = note + self.settings.transpose;
        let key = (0..=127).contains(&key).then_some(key as u8);
        if key.is_some() {
            let bend = self.bend_value(pitch - note as f32);
            out.push(MidiOut::PitchBend { value: bend });
            self.last_bend = pitch - note as f32;
            out.push(MidiOut::NoteOn {
                key: key.unwrap_or(0),
                velocity: velocity_of(level_db),
            });
        }
        self.sounding = Some((note, key));
        self.age_frames = 0;
        self.change_count = 0;
        self.settle_count = 0;
        self.off_count = 0;
        self.peak_db = level_db;
        self.armed = false;
    }

    fn bend_value(&self, deviation: f32) -> f32 {
        (deviation / self.settings.bend_range as f32).clamp(-1.0, 1.0)
    }

    /// Advances by one frame. `pitch` is in semitones relative to the reference (MIDI
    /// numbering, fractional), `confidence` the frame's voicing probability. Never allocates.
    pub fn update(
        &mut self,
        voiced: bool,
        pitch: f32,
        confidence: f32,
        level_db: f32,
        out: &mut MidiEvents,
    ) {
        if !self.settings.enabled {
            self.release(out);
            return;
        }
        let voiced = voiced && pitch.is_finite() && level_db > NOTE_GATE_DB;
        let min_frames = self.min_frames();
        match self.sounding {
            Some((note, key)) => {
                self.age_frames = self.age_frames.saturating_add(1);
                let grown = self.age_frames >= min_frames;
                if !voiced {
                    self.off_count += 1;
                    if self.off_count >= self.frames_for(OFF_MS).max(1) && grown {
                        self.release(out);
                    }
                    return;
                }
                self.off_count = 0;
                let deviation = pitch - note as f32;
                let leap = deviation.abs() > LEAP_SEMITONES.min(self.settings.bend_range as f32);
                if deviation.abs() > 0.5 + HYSTERESIS_SEMITONES {
                    self.change_count += 1;
                } else {
                    self.change_count = 0;
                }
                let nearest = pitch.round() as i32;
                if nearest != note && (pitch - nearest as f32).abs() < SETTLE_SEMITONES {
                    if nearest != self.settle_note {
                        self.settle_note = nearest;
                        self.settle_count = 0;
                    }
                    self.settle_count += 1;
                } else {
                    self.settle_count = 0;
                }
                let settled = self.settle_count >= self.frames_for(SETTLE_MS);
                // Re-attack detection on the level envelope.
                if level_db > self.peak_db {
                    self.peak_db = level_db;
                }
                let mut reattack = false;
                if !self.armed && level_db < self.peak_db - REATTACK_DIP_DB {
                    self.armed = true;
                    self.dip_min_db = level_db;
                } else if self.armed {
                    self.dip_min_db = self.dip_min_db.min(level_db);
                    reattack = level_db > self.dip_min_db + REATTACK_RISE_DB;
                }
                // A leap changes the note even before the minimum length: the minimum keeps
                // notes from ending in short gaps or flickering between neighbours, it must
                // not hold a wrong note.
                if (leap && self.change_count >= CHANGE_FRAMES) || (grown && settled) {
                    self.release(out);
                    self.start(pitch.round() as i32, pitch, level_db, out);
                } else if grown && reattack {
                    self.release(out);
                    self.start(note, pitch, level_db, out);
                } else if key.is_some() && (deviation - self.last_bend).abs() >= BEND_STEP_SEMITONES
                {
                    self.last_bend = deviation.clamp(
                        -(self.settings.bend_range as f32),
                        self.settings.bend_range as f32,
                    );
                    out.push(MidiOut::PitchBend {
                        value: self.bend_value(deviation),
                    });
                }
            }
            None => {
                self.frames_since_off = self.frames_since_off.saturating_add(1);
                if !voiced || confidence < ONSET_CONFIDENCE {
                    self.on_count = 0;
                    return;
                }
                let nearest = pitch.round() as i32;
                if nearest != self.candidate {
                    self.candidate = nearest;
                    self.on_count = 0;
                }
                self.on_count += 1;
                let guard_frames = (REONSET_GUARD_MS / 1000.0 / self.hop_s.max(1e-6)) as u32;
                let needed =
                    if self.last_note == Some(nearest) && self.frames_since_off < guard_frames {
                        ON_FRAMES + REONSET_EXTRA_FRAMES
                    } else {
                        ON_FRAMES
                    };
                if self.on_count >= needed {
                    self.start(nearest, pitch, level_db, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seg: &mut NoteSegmenter, frames: &[(bool, f32, f32)]) -> Vec<(usize, MidiOut)> {
        let mut all = Vec::new();
        let mut ev = MidiEvents::default();
        for (i, &(v, p, l)) in frames.iter().enumerate() {
            ev.clear();
            seg.update(v, p, 0.9, l, &mut ev);
            all.extend(ev.iter().map(|e| (i, e)));
        }
        all
    }

    #[test]
    fn a_held_pitch_gives_one_note_with_bend() {
        let mut seg = NoteSegmenter::default();
        seg.prepare(0.0029);
        let mut frames = vec![(true, 60.2, -20.0); 50];
        frames.extend(vec![(false, 60.2, -90.0); 20]);
        let ev = run(&mut seg, &frames);
        let ons: Vec<_> = ev
            .iter()
            .filter(|(_, e)| matches!(e, MidiOut::NoteOn { .. }))
            .collect();
        assert_eq!(ons.len(), 1);
        assert_eq!(ons[0].0, ON_FRAMES as usize - 1);
        assert!(matches!(ons[0].1, MidiOut::NoteOn { key: 60, .. }));
        assert!(ev
            .iter()
            .any(|(_, e)| matches!(e, MidiOut::PitchBend { value } if (value - 0.1).abs() < 1e-4)));
        let offs: Vec<_> = ev
            .iter()
            .filter(|(_, e)| matches!(e, MidiOut::NoteOff { key: 60 }))
            .collect();
        assert_eq!(offs.len(), 1);
        assert_eq!(offs[0].0, 50 + (OFF_MS / 2.9).ceil() as usize - 1);
    }

    #[test]
    fn vibrato_within_the_hysteresis_does_not_change_the_note_but_a_step_does() {
        let mut seg = NoteSegmenter::default();
        seg.prepare(0.0029);
        // ±100 cents at 5.5 Hz (2.9 ms frames): reaches both neighbours, settles on none.
        let mut frames: Vec<_> = (0..200)
            .map(|i| (true, 64.0 + (i as f32 * 0.1).sin(), -20.0))
            .collect();
        frames.extend(vec![(true, 66.0, -20.0); 30]);
        let ev = run(&mut seg, &frames);
        let keys: Vec<u8> = ev
            .iter()
            .filter_map(|(_, e)| match e {
                MidiOut::NoteOn { key, .. } => Some(*key),
                _ => None,
            })
            .collect();
        assert_eq!(keys, vec![64, 66]);
    }

    #[test]
    fn transposition_and_disable_release() {
        let mut seg = NoteSegmenter::default();
        seg.prepare(0.0029);
        seg.set_settings(NoteSettings {
            transpose: -12,
            ..NoteSettings::default()
        });
        let ev = run(&mut seg, &[(true, 69.0, -10.0); 5]);
        assert!(ev
            .iter()
            .any(|(_, e)| matches!(e, MidiOut::NoteOn { key: 57, .. })));
        seg.set_settings(NoteSettings {
            enabled: false,
            ..NoteSettings::default()
        });
        let ev = run(&mut seg, &[(true, 69.0, -10.0); 1]);
        assert_eq!(ev, vec![(0, MidiOut::NoteOff { key: 57 })]);
    }

    #[test]
    fn velocity_follows_level() {
        assert!(velocity_of(-6.0) > 0.99);
        assert!(velocity_of(-60.0) > 0.0 && velocity_of(-60.0) < 0.01);
        assert!(velocity_of(-30.0) > velocity_of(-40.0));
    }
}
