//! Events in (notes, MIDI, parameter values) and out (what the plugin sent), converted from and to `clack-host`.

use super::*;

/// An event sent to the plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InEvent {
    /// `CLAP_EVENT_PARAM_VALUE` with a plain value, at sample `time` of the block.
    ParamValue {
        /// Sample offset in the block.
        time: u32,
        /// Param id.
        id: u32,
        /// Plain value (`min..=max` as reported by the param info).
        value: f64,
    },
}

/// An event received from the plugin, copied out of the output event list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutEvent {
    /// CLAP note on.
    NoteOn {
        /// Sample offset in the block.
        time: u32,
        /// Note port index (-1 = any).
        port: i16,
        /// Channel (-1 = any).
        channel: i16,
        /// Key (-1 = any).
        key: i16,
        /// Velocity 0..1.
        velocity: f64,
    },
    /// CLAP note off.
    NoteOff {
        /// Sample offset in the block.
        time: u32,
        /// Note port index.
        port: i16,
        /// Channel.
        channel: i16,
        /// Key.
        key: i16,
        /// Release velocity.
        velocity: f64,
    },
    /// Raw MIDI 1.0 message.
    Midi {
        /// Sample offset in the block.
        time: u32,
        /// Note port index.
        port: u16,
        /// The three MIDI bytes.
        data: [u8; 3],
    },
    /// A parameter value reported by the plugin.
    ParamValue {
        /// Sample offset in the block.
        time: u32,
        /// Param id.
        id: u32,
        /// Plain value.
        value: f64,
    },
    /// Anything else (gesture begin/end, note end, expressions, …), by event type id.
    Other {
        /// Sample offset in the block.
        time: u32,
        /// CLAP event type.
        type_id: u16,
    },
}

impl OutEvent {
    /// Sample offset of the event within its block.
    pub fn time(&self) -> u32 {
        match *self {
            OutEvent::NoteOn { time, .. }
            | OutEvent::NoteOff { time, .. }
            | OutEvent::Midi { time, .. }
            | OutEvent::ParamValue { time, .. }
            | OutEvent::Other { time, .. } => time,
        }
    }

    /// The event as the three bytes of a MIDI 1.0 channel message, if it is a note or a MIDI
    /// event: CLAP notes as 0x9n / 0x8n (velocity × 127, rounded; release velocity 0).
    pub fn as_wire(&self) -> Option<[u8; 3]> {
        let note = |status: u8, channel: i16, key: i16, velocity: f64| {
            let channel = u8::try_from(channel).ok().filter(|c| *c < 16)?;
            let key = u8::try_from(key).ok().filter(|k| *k < 128)?;
            Some([
                status | channel,
                key,
                (velocity * 127.0).round().clamp(0.0, 127.0) as u8,
            ])
        };
        match *self {
            OutEvent::NoteOn {
                channel,
                key,
                velocity,
                ..
            } => note(0x90, channel, key, velocity),
            OutEvent::NoteOff { channel, key, .. } => note(0x80, channel, key, 0.0),
            OutEvent::Midi { data, .. } => Some(data),
            _ => None,
        }
    }

    /// `Some((key, velocity))` if this is a note-on, whether sent as a CLAP note event or as
    /// a MIDI 0x9n message with non-zero velocity.
    pub fn as_note_on(&self) -> Option<(u8, f64)> {
        match *self {
            OutEvent::NoteOn { key, velocity, .. } if (0..128).contains(&key) => {
                Some((key as u8, velocity))
            }
            OutEvent::Midi { data, .. } if data[0] & 0xF0 == 0x90 && data[2] > 0 => {
                Some((data[1] & 0x7F, f64::from(data[2]) / 127.0))
            }
            _ => None,
        }
    }

    /// `Some(key)` if this is a note-off (CLAP note off, MIDI 0x8n, or 0x9n with velocity 0).
    /// `Some(None)` means "all keys" (a CLAP note-off with key -1).
    pub fn as_note_off(&self) -> Option<Option<u8>> {
        match *self {
            OutEvent::NoteOff { key, .. } => Some(u8::try_from(key).ok().filter(|k| *k < 128)),
            OutEvent::Midi { data, .. }
                if data[0] & 0xF0 == 0x80 || (data[0] & 0xF0 == 0x90 && data[2] == 0) =>
            {
                Some(Some(data[1] & 0x7F))
            }
            _ => None,
        }
    }
}

pub(super) fn convert_out_event(event: &UnknownEvent) -> OutEvent {
    let time = event.header().time();
    match event.as_core_event() {
        Some(CoreEventSpace::NoteOn(e)) => {
            let p = e.pckn();
            OutEvent::NoteOn {
                time,
                port: p.raw_port_index(),
                channel: p.raw_channel(),
                key: p.raw_key(),
                velocity: e.velocity(),
            }
        }
        Some(CoreEventSpace::NoteOff(e)) => {
            let p = e.pckn();
            OutEvent::NoteOff {
                time,
                port: p.raw_port_index(),
                channel: p.raw_channel(),
                key: p.raw_key(),
                velocity: e.velocity(),
            }
        }
        Some(CoreEventSpace::Midi(e)) => OutEvent::Midi {
            time,
            port: e.port_index(),
            data: e.data(),
        },
        Some(CoreEventSpace::ParamValue(e)) => OutEvent::ParamValue {
            time,
            id: e.param_id().map(|i| i.get()).unwrap_or(u32::MAX),
            value: e.value(),
        },
        _ => OutEvent::Other {
            time,
            type_id: event.header().type_id(),
        },
    }
}

pub(super) fn fill_input_events(buffer: &mut EventBuffer, events: &[InEvent]) {
    buffer.clear();
    let mut sorted: Vec<InEvent> = events.to_vec();
    sorted.sort_by_key(|e| match e {
        InEvent::ParamValue { time, .. } => *time,
    });
    for e in sorted {
        match e {
            InEvent::ParamValue { time, id, value } => {
                buffer.push(&ParamValueEvent::new(
                    time,
                    ClapId::new(id),
                    Pckn::match_all(),
                    value,
                ));
            }
        }
    }
}
