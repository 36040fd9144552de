//! MIDI out: `prism-shared`'s wire messages as nice-plug events.

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use prism_shared::midi::{MidiKind, MidiMessage};

/// Where a plugin's MIDI goes: the host's output queue (a full queue drops the event).
pub struct MidiSink<'s> {
    pub(crate) send: &'s mut dyn FnMut(u32, MidiMessage),
}

impl MidiSink<'_> {
    /// Sends `message` at sample `timing` of the block.
    #[inline]
    pub fn send(&mut self, timing: u32, message: MidiMessage) {
        (self.send)(timing, message);
    }
}

/// A wire message as nice-plug's event: notes as note events (CLAP note dialect), the rest
/// as MIDI. Values are the message's exact 7- and 14-bit values, normalised the way nice-plug
/// turns them back into bytes.
pub fn note_event<S>(timing: u32, message: MidiMessage) -> Option<NoteEvent<S>> {
    let (voice_id, wildcard) = (VoiceID::Wildcard, Channel::Number);
    Some(match message.kind() {
        MidiKind::NoteOn {
            channel,
            key,
            velocity,
        } => NoteEvent::NoteOn {
            timing,
            voice_id,
            channel: wildcard(channel),
            key: Key::Number(key),
            velocity: velocity as f32 / 127.0,
        },
        MidiKind::NoteOff { channel, key } => NoteEvent::NoteOff {
            timing,
            voice_id,
            channel: wildcard(channel),
            key: Key::Number(key),
            velocity: 0.0,
        },
        MidiKind::PitchBend { channel, value } => NoteEvent::MidiPitchBend {
            timing,
            channel,
            value: value as f32 / 16383.0,
        },
        MidiKind::ControlChange { channel, cc, value } => NoteEvent::MidiCC {
            timing,
            channel,
            cc,
            value: value as f32 / 127.0,
        },
        MidiKind::Other => return None,
    })
}
