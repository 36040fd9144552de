//! Standard MIDI files of what a Prism plugin sends: `prism-shared`'s [`MidiMessage`]s at
//! the samples the plugin would send them.
//!
//! The timing is sample-exact: format 0 with one tick per sample (120 bpm where the rate
//! allows it, e.g. 22 050 ticks per quarter at 44.1 kHz; another tempo where it does not).
//! Reading a file back with [`read`] gives the same samples and messages. (A rate sharing
//! too little with 10⁶, 44 101 Hz say, gets 48 000 ticks per second instead.)

use anyhow::{bail, Context, Result};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, Smf, Timing, TrackEvent, TrackEventKind};
use prism_shared::midi::MidiMessage;

/// A message at an absolute sample.
pub type TimedMessage = (u64, MidiMessage);

/// Ticks per quarter and µs per quarter that make one tick one sample of `sample_rate`:
/// ticks per quarter = rate / d and µs per quarter = 10⁶ / d for a d dividing both (2 gives
/// 120 bpm; others only where the rate needs them).
fn timing(sample_rate: u32) -> (u16, u32) {
    let divisors = [2, 1]
        .into_iter()
        .chain((3..=1_000_000).filter(|d| 1_000_000 % d == 0));
    for d in divisors {
        if sample_rate.is_multiple_of(d) && (1..=32_767).contains(&(sample_rate / d)) {
            return ((sample_rate / d) as u16, 1_000_000 / d);
        }
    }
    // A rate sharing no divisor with 10⁶ small enough: 48 000 ticks per second.
    (24_000, 500_000)
}

/// The file's bytes: `events` (in order), then the end of the track at `end_sample`.
pub fn write(events: &[TimedMessage], sample_rate: u32, end_sample: u64) -> Result<Vec<u8>> {
    let (tpq, us_per_quarter) = timing(sample_rate);
    let ticks_per_sample = tpq as f64 * 1e6 / us_per_quarter as f64 / sample_rate.max(1) as f64;
    let mut track: Vec<TrackEvent> = Vec::with_capacity(events.len() + 2);
    let mut last = 0u64;
    let mut push = |tick: u64, kind| {
        let delta = tick
            .saturating_sub(last)
            .min(u28::max_value().as_int() as u64);
        last = last.max(tick);
        track.push(TrackEvent {
            delta: u28::new(delta as u32),
            kind,
        });
    };
    push(
        0,
        TrackEventKind::Meta(MetaMessage::Tempo(u24::new(us_per_quarter))),
    );
    for &(sample, message) in events {
        let [status, a, b] = message.0;
        let channel = u4::new(status & 0x0F);
        let (a, b) = (u7::new(a & 0x7F), u7::new(b & 0x7F));
        let message = match status & 0xF0 {
            0x90 => midly::MidiMessage::NoteOn { key: a, vel: b },
            0x80 => midly::MidiMessage::NoteOff { key: a, vel: b },
            0xB0 => midly::MidiMessage::Controller {
                controller: a,
                value: b,
            },
            0xE0 => midly::MidiMessage::PitchBend {
                bend: midly::PitchBend(midly::num::u14::new(
                    a.as_int() as u16 | (b.as_int() as u16) << 7,
                )),
            },
            _ => bail!("Prism does not send MIDI status {status:#04x}"),
        };
        let tick = (sample as f64 * ticks_per_sample).round() as u64;
        push(tick, TrackEventKind::Midi { channel, message });
    }
    let end = (end_sample as f64 * ticks_per_sample).round() as u64;
    push(end, TrackEventKind::Meta(MetaMessage::EndOfTrack));
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(tpq))),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .context("cannot encode the MIDI file")?;
    Ok(bytes)
}

/// The messages of a file [`write`] made, at their samples.
pub fn read(bytes: &[u8]) -> Result<Vec<TimedMessage>> {
    let smf = Smf::parse(bytes).context("not a MIDI file")?;
    let track = smf.tracks.first().context("the MIDI file has no track")?;
    let mut out = Vec::new();
    let mut tick = 0u64;
    for event in track {
        tick += event.delta.as_int() as u64;
        if let TrackEventKind::Midi { channel, message } = event.kind {
            let ch = channel.as_int();
            let m = match message {
                midly::MidiMessage::NoteOn { key, vel } => {
                    MidiMessage([0x90 | ch, key.as_int(), vel.as_int()])
                }
                midly::MidiMessage::NoteOff { key, vel } => {
                    MidiMessage([0x80 | ch, key.as_int(), vel.as_int()])
                }
                midly::MidiMessage::Controller { controller, value } => {
                    MidiMessage::control_change(ch, controller.as_int(), value.as_int())
                }
                midly::MidiMessage::PitchBend { bend } => {
                    MidiMessage::pitch_bend(ch, bend.0.as_int())
                }
                _ => continue,
            };
            out.push((tick, m));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_sample_exactly_at_common_rates() {
        let events = vec![
            (0, MidiMessage::control_change(0, 101, 0)),
            (1, MidiMessage::note_on(0, 60, 90)),
            (44_101, MidiMessage::pitch_bend(0, 9000)),
            (44_102, MidiMessage::note_off(0, 60)),
        ];
        for rate in [
            8_000, 11_025, 22_050, 44_100, 48_000, 88_200, 96_000, 192_000,
        ] {
            let bytes = write(&events, rate, 50_000).unwrap();
            assert_eq!(read(&bytes).unwrap(), events, "{rate} Hz");
            let (tpq, us) = timing(rate);
            assert_eq!(tpq as u64 * 1_000_000, rate as u64 * us as u64, "{rate} Hz");
        }
    }
}
