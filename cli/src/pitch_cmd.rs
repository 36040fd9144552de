//! `prism pitch`: f0 track, notes and pitch bend of a monophonic recording, with the
//! plugin's tracker streamed in host-sized blocks.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use prism_shared::midi::{MidiKind, NoteWire};
use prism_shared::pitch::notes::NoteSettings;
use prism_shared::pitch::{schema, PitchSettings, PitchTracker};
use prism_shared::Processor;

use crate::audio::{self, Audio};
use crate::midi_file::{self, TimedMessage};
use crate::output::Outputs;
use crate::progress::Progress;
use crate::schema_args;

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
    #[arg(long = schema::MIN_HZ.flag, default_value_t = schema::MIN_HZ.default,
          value_parser = schema_args::float(&schema::MIN_HZ))]
    pub fmin: f32,
    /// Highest pitch searched, Hz (at least an octave above --fmin).
    #[arg(long = schema::MAX_HZ.flag, default_value_t = schema::MAX_HZ.default,
          value_parser = schema_args::float(&schema::MAX_HZ))]
    pub fmax: f32,
    /// Reference pitch of A4, Hz: tunes the MIDI notes.
    #[arg(long = schema::REFERENCE_HZ.flag, default_value_t = schema::REFERENCE_HZ.default,
          value_parser = schema_args::float(&schema::REFERENCE_HZ))]
    pub reference_hz: f32,
    /// Frames with a voicing probability below this are unvoiced.
    #[arg(long = schema::VOICING_THRESHOLD.flag, default_value_t = schema::VOICING_THRESHOLD.default,
          value_parser = schema_args::float(&schema::VOICING_THRESHOLD))]
    pub voicing_threshold: f32,
    /// Pitch-bend range of the receiving synth, semitones (sent to it as RPN 0).
    #[arg(long = schema::BEND_RANGE.flag, default_value_t = schema::BEND_RANGE.default,
          value_parser = schema_args::int(&schema::BEND_RANGE))]
    pub bend_range: i32,
    /// Minimum note length, ms.
    #[arg(long = schema::MIN_NOTE_MS.flag, default_value_t = schema::MIN_NOTE_MS.default,
          value_parser = schema_args::float(&schema::MIN_NOTE_MS))]
    pub min_note_ms: f32,
    /// Transpose the MIDI notes by this many semitones.
    #[arg(long = schema::TRANSPOSE.flag, default_value_t = schema::TRANSPOSE.default,
          allow_hyphen_values = true, value_parser = schema_args::int(&schema::TRANSPOSE))]
    pub transpose: i32,
    /// No progress bar and no summary line.
    #[arg(short, long)]
    pub quiet: bool,
}

impl PitchArgs {
    fn settings(&self) -> Result<(PitchSettings, NoteSettings)> {
        if self.fmax < 2.0 * self.fmin {
            bail!(
                "--fmax ({}) must be at least an octave above --fmin ({})",
                self.fmax,
                self.fmin
            );
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

/// Everything a run produces.
pub struct Track {
    /// One row per hop.
    pub rows: Vec<Row>,
    /// The MIDI, in order, at absolute samples: what Prism Pitch sends (RPN 0 with the bend
    /// range first, then notes and bends).
    pub events: Vec<TimedMessage>,
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
    // The plugin announces the bend range at the start of its first block.
    NoteWire::default().announce(notes.bend_range, |m| events.push((0, m)));
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
                events.push(((pos + idx) as u64, NoteWire::message(event)));
            }
        });
        pos = end;
        progress.set(pos as u64);
    }
    // The file ends: a sounding note ends with it.
    for event in tracker.release_notes().iter() {
        events.push((len as u64, NoteWire::message(event)));
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

/// Notes `(start_s, end_s, key)` of the events (for the plot).
pub fn notes(events: &[TimedMessage], sample_rate: u32) -> Vec<(f64, f64, u8)> {
    let sr = sample_rate as f64;
    let mut out = Vec::new();
    let mut open: Option<(u64, u8)> = None;
    for &(sample, message) in events {
        match message.kind() {
            MidiKind::NoteOn { key, .. } => open = Some((sample, key)),
            MidiKind::NoteOff { key, .. } => {
                if let Some((start, k)) = open.take() {
                    if k == key {
                        out.push((start as f64 / sr, sample as f64 / sr, key));
                    }
                }
            }
            _ => {}
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
        let bytes = midi_file::write(&result.events, audio.sample_rate, audio.len() as u64)?;
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
