//! `prism pitch`: f0 track, notes and pitch bend of a monophonic recording, with the
//! plugin's tracker streamed in host-sized blocks.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use prism_shared::pitch::notes::{MidiOut, NoteSettings};
use prism_shared::pitch::{PitchSettings, PitchTracker};
use prism_shared::Processor;

use crate::audio::{self, Audio};
use crate::output::Outputs;
use crate::progress::Progress;

/// Command-line options of `prism pitch`.
#[derive(clap::Args, Debug, Clone)]
pub struct PitchArgs {
    /// Input audio file (WAV, FLAC, OGG/Vorbis, MP3, ...). Stereo is mixed to mono.
    pub input: PathBuf,
    /// CSV output `time_s,frequency_hz,confidence,voiced`, one row per hop; stdout when
    /// omitted.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Standard MIDI file of the notes, with pitch bend, timed as the plugin sends them.
    #[arg(long)]
    pub midi: Option<PathBuf>,
    /// PNG plot: pitch trace over a piano roll, confidence shading, MIDI notes.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Host block size in samples used to stream the file (1..=16384).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub block: u32,
    /// CSV times as a live host sees them (frame emission) instead of the time each
    /// estimate describes (emission − the tracker's latency).
    #[arg(long)]
    pub raw_times: bool,
    /// Lowest pitch searched, Hz.
    #[arg(long, default_value_t = 40.0)]
    pub fmin: f32,
    /// Highest pitch searched, Hz.
    #[arg(long, default_value_t = 2000.0)]
    pub fmax: f32,
    /// Reference pitch of A4, Hz (415..466): tunes the MIDI notes.
    #[arg(long, default_value_t = 440.0)]
    pub reference_hz: f32,
    /// Frames with a voicing probability below this are unvoiced (0..1).
    #[arg(long, default_value_t = PitchSettings::default().voicing_threshold)]
    pub voicing_threshold: f32,
    /// Pitch-bend range of the receiving synth, semitones (1..24).
    #[arg(long, default_value_t = 2.0)]
    pub bend_range: f32,
    /// Minimum note length, ms.
    #[arg(long, default_value_t = 40.0)]
    pub min_note_ms: f32,
    /// Transpose the MIDI notes by this many semitones.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub transpose: i32,
    /// No progress bar and no summary line.
    #[arg(short, long)]
    pub quiet: bool,
}

impl PitchArgs {
    fn settings(&self) -> Result<(PitchSettings, NoteSettings)> {
        if !(40.0..=4000.0).contains(&self.fmin) || !(40.0..=4000.0).contains(&self.fmax) {
            bail!("--fmin and --fmax must be between 40 and 4000 Hz");
        }
        if self.fmax < 2.0 * self.fmin {
            bail!(
                "--fmax ({}) must be at least an octave above --fmin ({})",
                self.fmax,
                self.fmin
            );
        }
        if !(415.0..=466.0).contains(&self.reference_hz) {
            bail!(
                "--reference-hz must be between 415 and 466 (got {})",
                self.reference_hz
            );
        }
        if !(0.0..=1.0).contains(&self.voicing_threshold) {
            bail!("--voicing-threshold must be between 0 and 1");
        }
        if !(1.0..=24.0).contains(&self.bend_range) {
            bail!("--bend-range must be between 1 and 24 semitones");
        }
        if !(0.0..=2000.0).contains(&self.min_note_ms) {
            bail!("--min-note-ms must be between 0 and 2000");
        }
        if !(-48..=48).contains(&self.transpose) {
            bail!("--transpose must be between -48 and 48");
        }
        Ok((
            PitchSettings {
                min_hz: self.fmin,
                max_hz: self.fmax,
                reference_hz: self.reference_hz,
                voicing_threshold: self.voicing_threshold,
            },
            NoteSettings {
                enabled: true,
                bend_range: self.bend_range,
                min_note_ms: self.min_note_ms,
                transpose: self.transpose,
            },
        ))
    }
}

/// One decided frame, as written to the CSV.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Time the estimate describes, s (or its emission time with `--raw-times`).
    pub time_s: f64,
    /// Best frequency estimate, Hz.
    pub frequency_hz: f32,
    /// Voicing probability.
    pub confidence: f32,
    /// Voiced decision.
    pub voiced: bool,
}

/// A MIDI event at a sample position of the stream.
#[derive(Debug, Clone, Copy)]
pub struct TimedEvent {
    /// Sample at which the plugin sends it.
    pub sample: u64,
    /// The event.
    pub event: MidiOut,
}

/// Everything a run produces.
pub struct Track {
    /// One row per hop.
    pub rows: Vec<Row>,
    /// MIDI events in order.
    pub events: Vec<TimedEvent>,
    /// The tracker's algorithmic latency, s.
    pub latency_s: f64,
}

/// Streams `audio` through the tracker in host blocks of `block` samples.
pub fn track(
    audio: &Audio,
    settings: PitchSettings,
    notes: NoteSettings,
    block: usize,
    raw_times: bool,
    progress: &Progress,
) -> Track {
    let sr = audio.sample_rate as f64;
    let mut tracker = PitchTracker::new(settings);
    tracker.set_note_settings(notes);
    let num_channels = audio.channels.len().min(2);
    tracker.prepare(audio.sample_rate as f32, block, num_channels);
    let latency = tracker.latency_samples();
    let mut rows = Vec::with_capacity(audio.len() / tracker.hop_samples().max(1) + 1);
    let mut events = Vec::new();
    let len = audio.len();
    let mut pos = 0;
    while pos < len {
        let end = (pos + block).min(len);
        let channels: [&[f32]; 2] = [
            &audio.channels[0][pos..end],
            &audio.channels[num_channels - 1][pos..end],
        ];
        tracker.process(&channels[..num_channels], |frame, frame_events, idx| {
            let t = if raw_times {
                frame.end_sample as f64
            } else {
                frame.time_sample as f64
            };
            rows.push(Row {
                time_s: t / sr,
                frequency_hz: frame.frequency_hz,
                confidence: frame.confidence,
                voiced: frame.voiced,
            });
            for event in frame_events.iter() {
                events.push(TimedEvent {
                    sample: (pos + idx) as u64,
                    event,
                });
            }
        });
        pos = end;
        progress.set(pos as u64);
    }
    // The file ends: a sounding note ends with it.
    for event in tracker.release_notes().iter() {
        events.push(TimedEvent {
            sample: len as u64,
            event,
        });
    }
    Track {
        rows,
        events,
        latency_s: latency as f64 / sr,
    }
}

/// The CSV text.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 40 + 64);
    out.push_str("time_s,frequency_hz,confidence,voiced\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{:.6},{:.4},{:.4},{}",
            r.time_s, r.frequency_hz, r.confidence, r.voiced as u8
        );
    }
    out
}

/// A standard MIDI file (format 0, 480 ticks per quarter at 120 bpm, so 960 ticks per
/// second) of the events.
pub fn midi_file(events: &[TimedEvent], sample_rate: u32, bend_range: f32) -> Result<Vec<u8>> {
    use midly::num::{u14, u15, u24, u28, u4, u7};
    use midly::{Format, Header, MetaMessage, MidiMessage, PitchBend, Smf, Timing, TrackEvent};
    use midly::{TrackEventKind as Kind, TrackEventKind};
    const TICKS_PER_BEAT: u16 = 480;
    const US_PER_BEAT: u32 = 500_000;
    let ticks_per_s = TICKS_PER_BEAT as f64 * 1e6 / US_PER_BEAT as f64;
    let channel = u4::new(0);
    let mut track: Vec<TrackEvent> = Vec::with_capacity(events.len() + 16);
    let push = |track: &mut Vec<TrackEvent>, tick: u64, last: &mut u64, kind| {
        let delta = tick
            .saturating_sub(*last)
            .min(u28::max_value().as_int() as u64);
        *last = tick;
        track.push(TrackEvent {
            delta: u28::new(delta as u32),
            kind,
        });
    };
    let mut last = 0u64;
    push(
        &mut track,
        0,
        &mut last,
        Kind::Meta(MetaMessage::Tempo(u24::new(US_PER_BEAT))),
    );
    // Pitch-bend sensitivity (RPN 0) so a GM synth bends by the range the bends assume.
    let range = bend_range.round().clamp(1.0, 24.0) as u8;
    for (cc, value) in [
        (101u8, 0u8),
        (100, 0),
        (6, range),
        (38, 0),
        (101, 127),
        (100, 127),
    ] {
        push(
            &mut track,
            0,
            &mut last,
            TrackEventKind::Midi {
                channel,
                message: MidiMessage::Controller {
                    controller: u7::new(cc),
                    value: u7::new(value),
                },
            },
        );
    }
    for e in events {
        let tick = (e.sample as f64 / sample_rate as f64 * ticks_per_s).round() as u64;
        let message = match e.event {
            MidiOut::NoteOn { key, velocity } => MidiMessage::NoteOn {
                key: u7::new(key.min(127)),
                vel: u7::new(((velocity * 127.0).round() as u8).clamp(1, 127)),
            },
            MidiOut::NoteOff { key } => MidiMessage::NoteOff {
                key: u7::new(key.min(127)),
                vel: u7::new(0),
            },
            MidiOut::PitchBend { value } => {
                let raw = (8192.0 + value.clamp(-1.0, 1.0) * 8191.0).round() as u16;
                MidiMessage::PitchBend {
                    bend: PitchBend(u14::new(raw.min(16383))),
                }
            }
        };
        push(
            &mut track,
            tick,
            &mut last,
            TrackEventKind::Midi { channel, message },
        );
    }
    let end = last;
    push(
        &mut track,
        end,
        &mut last,
        Kind::Meta(MetaMessage::EndOfTrack),
    );
    let smf = Smf {
        header: Header::new(
            Format::SingleTrack,
            Timing::Metrical(u15::new(TICKS_PER_BEAT)),
        ),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .context("cannot encode the MIDI file")?;
    Ok(bytes)
}

/// Notes `(start_s, end_s, key)` of the events (for the plot).
pub fn notes(events: &[TimedEvent], sample_rate: u32) -> Vec<(f64, f64, u8)> {
    let sr = sample_rate as f64;
    let mut out = Vec::new();
    let mut open: Option<(u64, u8)> = None;
    for e in events {
        match e.event {
            MidiOut::NoteOn { key, .. } => open = Some((e.sample, key)),
            MidiOut::NoteOff { key } => {
                if let Some((start, k)) = open.take() {
                    if k == key {
                        out.push((start as f64 / sr, e.sample as f64 / sr, key));
                    }
                }
            }
            MidiOut::PitchBend { .. } => {}
        }
    }
    out
}

/// Runs the command.
pub fn run(args: &PitchArgs) -> Result<()> {
    let (settings, note_settings) = args.settings()?;
    let audio = audio::read(&args.input)?;
    let show_progress = !args.quiet && args.output.is_some();
    let progress = Progress::new(
        audio.len() as u64,
        audio.duration_s(),
        show_progress,
        "pitch",
    );
    let started = std::time::Instant::now();
    let result = track(
        &audio,
        settings,
        note_settings,
        args.block as usize,
        args.raw_times,
        &progress,
    );
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();

    let mut outputs = Outputs::default();
    let text = csv(&result.rows);
    if let Some(path) = &args.output {
        let tmp = outputs.stage(path)?;
        std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.midi {
        let tmp = outputs.stage(path)?;
        let bytes = midi_file(&result.events, audio.sample_rate, note_settings.bend_range)?;
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let notes = notes(&result.events, audio.sample_rate);
    if let Some(path) = &args.png {
        let tmp = outputs.stage(path)?;
        crate::plot::pitch_trace(
            &tmp,
            &result.rows,
            &notes,
            note_settings.transpose,
            settings.reference_hz,
            audio.duration_s(),
            &title(&args.input),
        )?;
    }
    outputs.commit()?;
    if args.output.is_none() {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let _ = lock.write_all(text.as_bytes());
    }
    if !args.quiet {
        let voiced = result.rows.iter().filter(|r| r.voiced).count();
        eprintln!(
            "prism pitch: {} frames ({:.0} % voiced), {} notes, latency {:.1} ms; {:.1} s of audio in {:.2} s ({:.0}x real time)",
            result.rows.len(),
            100.0 * voiced as f64 / result.rows.len().max(1) as f64,
            notes.len(),
            result.latency_s * 1000.0,
            audio.duration_s(),
            elapsed,
            audio.duration_s() / elapsed.max(1e-9)
        );
    }
    Ok(())
}

fn title(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
