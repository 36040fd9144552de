//! `prism chroma`: chroma, chords and key of an audio file, with the plugin's processor.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use prism_shared::analyzer::schema;
use prism_shared::analyzer::Evidence;
use prism_shared::chord::{chord_label, ChordModelParams};
use prism_shared::chordnet::ChordNetWeights;
use prism_shared::chroma::PITCH_CLASS_NAMES;
use prism_shared::key::key_label;
use prism_shared::midi::ChordMidi;
use prism_shared::{ChordVocabulary, ChromaAnalyzer, ChromaSettings, Processor};

use crate::audio::{self, Audio};
use crate::midi_file::{self, TimedMessage};
use crate::output::Outputs;
use crate::progress::Progress;
use crate::schema_args;

/// Command-line options of `prism chroma`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChromaArgs {
    /// Input audio file (WAV, FLAC, OGG/Vorbis, MP3, ...).
    pub input: PathBuf,
    /// CSV output (one row per frame); stdout when omitted.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// MIREX chord .lab output (`start end label`).
    #[arg(long)]
    pub lab: Option<PathBuf>,
    /// PNG chromagram with the chord lane.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Standard MIDI file of the chord notes, exactly as Prism Chroma sends them (one tick
    /// per sample), with the held chord released at the end of the file.
    #[arg(long)]
    pub midi: Option<PathBuf>,
    /// NumPy `.npy` of the NNLS evidence per frame (float32, one row per frame: time_s,
    /// level_db, silent, 12 bass chroma, 12 treble chroma, 84 note activations A0..G#7), the
    /// chord recipe's features (`bundle/models/chord/`). Needs `--evidence nnls` or
    /// `learned` (the default).
    #[arg(long, value_name = "FILE.npy")]
    pub features: Option<PathBuf>,
    /// Chord-network weights for `--evidence learned` instead of the shipped model (a
    /// `prism-chord-*.bin` from `bundle/models/chord/export.py`).
    #[arg(long, value_name = "FILE.bin")]
    pub chord_model: Option<PathBuf>,
    /// Host block size in samples used to stream the file (1..=16384).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub block: u32,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Analysis settings: the plugin's parameters (ranges and defaults from the schema).
#[derive(clap::Args, Debug, Clone)]
pub struct SettingsArgs {
    /// Reference pitch of A4 in Hz.
    #[arg(long = schema::REFERENCE_HZ.flag, default_value_t = schema::REFERENCE_HZ.default,
          value_parser = schema_args::float(&schema::REFERENCE_HZ))]
    pub reference_hz: f32,
    /// Do not apply the running tuning estimate.
    #[arg(long = schema::AUTO_TUNING.flag)]
    pub no_auto_tuning: bool,
    /// Chroma smoothing time constant in ms (0 = off).
    #[arg(long = schema::SMOOTHING_MS.flag, default_value_t = schema::SMOOTHING_MS.default,
          value_parser = schema_args::float(&schema::SMOOTHING_MS))]
    pub smoothing_ms: f32,
    /// Log-compression factor γ of ln(1 + γ·E/E_max).
    #[arg(long = schema::COMPRESSION.flag, default_value_t = schema::COMPRESSION.default,
          value_parser = schema_args::float(&schema::COMPRESSION))]
    pub compression: f32,
    /// Chord vocabulary: majmin, sevenths or full.
    #[arg(long = schema::VOCABULARY.flag, default_value = schema_args::default_id::<ChordVocabulary>(),
          value_parser = schema_args::choice::<ChordVocabulary>())]
    pub vocabulary: ChordVocabulary,
    /// Disable HPSS drum suppression.
    #[arg(long = schema::DRUM_SUPPRESSION.flag)]
    pub no_drum_suppression: bool,
    /// Look-ahead of the chord decision in ms: the decision for each moment is made this
    /// much later, seeing what follows (the CSV's time is when it is made, `chord_time_s`
    /// the moment it is for; the .lab and PNG use the latter).
    #[arg(long = schema::LOOKAHEAD_MS.flag, default_value_t = schema::LOOKAHEAD_MS.default,
          value_parser = schema_args::float(&schema::LOOKAHEAD_MS))]
    pub lookahead_ms: f32,
    /// Chord evidence: filterbank (chroma vs harmonic chord templates), nnls (NNLS note
    /// transcription: bass and treble chroma vs bass/treble templates) or learned (NNLS
    /// evidence into the learned chord layer, the templates as its prior; decided one hop
    /// later).
    #[arg(long = schema::EVIDENCE.flag, default_value = schema_args::default_id::<Evidence>(),
          value_parser = schema_args::choice::<Evidence>())]
    pub evidence: Evidence,
    /// Chord HMM observation sharpness (evaluation and tuning only).
    #[arg(long, hide = true)]
    pub chord_kappa: Option<f32>,
    /// Chord HMM self-transition probability (evaluation and tuning only).
    #[arg(long, hide = true)]
    pub chord_stay: Option<f32>,
    /// Template fit given to N (evaluation and tuning only).
    #[arg(long, hide = true)]
    pub no_chord_fit: Option<f32>,
    /// Flatness margin of N (evaluation and tuning only).
    #[arg(long, hide = true)]
    pub flatness_margin: Option<f32>,
    /// Weight of the bass chroma beside the treble's, NNLS evidence (0 = no bass; ablation).
    #[arg(long, hide = true)]
    pub bass_weight: Option<f32>,
    /// Exponent of the learned layer's posterior in the chord HMM (evaluation and tuning).
    #[arg(long, hide = true)]
    pub model_weight: Option<f32>,
    /// Self-transition of the chord HMM on the learned posterior (evaluation and tuning).
    #[arg(long, hide = true)]
    pub model_stay: Option<f32>,
    /// Onset gating of chord changes, 0..1 (evaluation and tuning).
    #[arg(long, hide = true)]
    pub onset_gate: Option<f32>,
    /// Onset novelty that fully opens a frame to a change (evaluation and tuning).
    #[arg(long, hide = true)]
    pub onset_full: Option<f32>,
    /// Decay of the openness after an onset, ms (evaluation and tuning).
    #[arg(long, hide = true)]
    pub onset_decay_ms: Option<f32>,
    /// Hysteresis margin of the chord decision (evaluation and tuning).
    #[arg(long, hide = true)]
    pub switch_margin: Option<f32>,
}

impl SettingsArgs {
    /// The chord model, with any hidden overrides applied.
    pub fn chord_model(&self) -> ChordModelParams {
        let defaults = ChordModelParams::default();
        ChordModelParams {
            kappa: self.chord_kappa.unwrap_or(defaults.kappa),
            self_transition: self
                .chord_stay
                .unwrap_or(defaults.self_transition)
                .clamp(0.0, 0.9999),
            no_chord_fit: self.no_chord_fit.unwrap_or(defaults.no_chord_fit),
            flatness_margin: self.flatness_margin.unwrap_or(defaults.flatness_margin),
            bass_weight: self
                .bass_weight
                .filter(|w| w.is_finite())
                .unwrap_or(defaults.bass_weight)
                .clamp(0.0, 10.0),
            model_weight: self
                .model_weight
                .filter(|w| w.is_finite())
                .unwrap_or(defaults.model_weight)
                .clamp(0.0, 10.0),
            model_self_transition: self
                .model_stay
                .filter(|w| w.is_finite())
                .unwrap_or(defaults.model_self_transition)
                .clamp(0.0, 0.9999),
            switch_margin: self.switch_margin.unwrap_or(defaults.switch_margin),
            onset_gate: self.onset_gate.unwrap_or(defaults.onset_gate),
            onset_full: self.onset_full.unwrap_or(defaults.onset_full),
            onset_decay_ms: self.onset_decay_ms.unwrap_or(defaults.onset_decay_ms),
        }
    }

    /// The analyser settings.
    pub fn settings(&self) -> ChromaSettings {
        ChromaSettings {
            reference_hz: self.reference_hz,
            auto_tuning: !self.no_auto_tuning,
            smoothing_ms: self.smoothing_ms,
            compression: self.compression,
            vocabulary: self.vocabulary,
            drum_suppression: !self.no_drum_suppression,
            lookahead_ms: self.lookahead_ms,
            evidence: self.evidence,
        }
    }
}

/// One analysed frame, as written to the CSV.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Time of the frame's last sample in seconds (when the plugin would show it).
    pub time_s: f64,
    /// Unit-norm chroma.
    pub chroma: [f32; 12],
    /// Chord index.
    pub chord: usize,
    /// The moment (end of the frame) the chord decision is for, in seconds: `time_s` minus
    /// the look-ahead.
    pub chord_time_s: f64,
    /// Key index.
    pub key: usize,
}

/// What one analysis of a file gives.
pub struct Analysis {
    pub rows: Vec<Row>,
    /// [`FEATURES`] floats per frame when asked for (`--features`), else empty.
    pub features: Vec<f32>,
    /// The chord MIDI, at absolute samples (what Prism Chroma sends with MIDI Chords on).
    pub midi: Vec<TimedMessage>,
}

/// Streams `audio` through the analyser in host blocks of `block` samples.
pub fn analyze(
    audio: &Audio,
    settings: ChromaSettings,
    chord_model: ChordModelParams,
    block: usize,
    progress: &Progress,
    features: bool,
    chord_weights: Option<&ChordNetWeights>,
) -> Analysis {
    let sample_rate = audio.sample_rate as f32;
    let mut analyzer = ChromaAnalyzer::new(settings);
    analyzer.set_chord_model(chord_model);
    if let Some(weights) = chord_weights {
        analyzer.set_chord_weights(weights.clone(), "custom chord model");
    }
    // A file is not real time: the learned layer's logits are waited for (bounded).
    analyzer.set_deadline(prism_shared::deadline::Deadline::Wait);
    let num_channels = audio.channels.len().min(2);
    analyzer.prepare(sample_rate, block, num_channels);
    let mut rows = Vec::with_capacity(audio.len() / analyzer.hop_samples().max(1) + 1);
    let mut midi = Vec::new();
    let mut evidence = Vec::new();
    let mut chords = ChordMidi::default();
    let len = audio.len();
    let mut pos = 0;
    while pos < len {
        let end = (pos + block).min(len);
        // Files with more than two channels are analysed from their first two.
        let left = &audio.channels[0][pos..end];
        let right = &audio.channels[num_channels - 1][pos..end];
        let channels: [&[f32]; 2] = [left, right];
        analyzer.process_with_evidence(&channels[..num_channels], |frame, e, sample_idx| {
            if features {
                evidence.extend([frame.end_sample as f32 / sample_rate, e.level_db]);
                evidence.push(if e.silent { 1.0 } else { 0.0 });
                evidence.extend(e.bass.iter().chain(&e.treble).chain(&e.activations));
            }
            rows.push(Row {
                time_s: frame.end_sample as f64 / audio.sample_rate as f64,
                chroma: frame.chroma,
                chord: frame.chord as usize,
                chord_time_s: frame.chord_end_sample as f64 / audio.sample_rate as f64,
                key: frame.key as usize,
            });
            let at = (pos + sample_idx) as u64;
            chords.decide(frame.chord, frame.chord_confidence, |m| midi.push((at, m)));
        });
        pos = end;
        progress.set(pos as u64);
    }
    // The file ends: the held chord ends with it.
    chords.release(|m| midi.push((len as u64, m)));
    Analysis {
        rows,
        midi,
        features: evidence,
    }
}

/// Floats per frame of `--features`: time, level, silent, bass, treble, activations.
pub const FEATURES: usize = 3 + 12 + 12 + prism_shared::nnls::NUM_NOTES;

/// The CSV text for `rows`.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 120 + 64);
    out.push_str("time_s");
    for name in PITCH_CLASS_NAMES {
        out.push(',');
        out.push_str(name);
    }
    out.push_str(",chord,key,chord_time_s\n");
    for row in rows {
        let _ = write!(out, "{:.6}", row.time_s);
        for c in row.chroma {
            let _ = write!(out, ",{c:.5}");
        }
        let _ = writeln!(
            out,
            ",{},{},{:.6}",
            chord_label(row.chord),
            key_label(row.key),
            row.chord_time_s
        );
    }
    out
}

/// Chord segments `(start_s, end_s, chord)`: a chord starts at the moment its first decision
/// is for (`chord_time_s`: when it is emitted, without look-ahead). The first segment starts
/// at 0 (N until the first decision); the last ends at `duration_s`.
pub fn segments(rows: &[Row], duration_s: f64) -> Vec<(f64, f64, usize)> {
    let mut segments: Vec<(f64, f64, usize)> = Vec::new();
    let mut current = (0.0, prism_shared::chord::NO_CHORD);
    for row in rows {
        if row.chord != current.1 {
            let at = row.chord_time_s.max(current.0);
            if at > current.0 {
                segments.push((current.0, at, current.1));
            }
            current = (at, row.chord);
        }
    }
    if duration_s > current.0 {
        segments.push((current.0, duration_s, current.1));
    }
    segments
}

/// MIREX `.lab` text.
pub fn lab(segments: &[(f64, f64, usize)]) -> String {
    let mut out = String::new();
    for (start, end, chord) in segments {
        let _ = writeln!(out, "{start:.6} {end:.6} {}", chord_label(*chord));
    }
    out
}

/// Runs the command.
pub fn run(args: &ChromaArgs) -> Result<()> {
    let settings = args.settings.settings();
    let audio = audio::read(&args.input)?;
    let show_progress = !args.quiet && args.output.is_some();
    let progress = Progress::new(
        audio.len() as u64,
        audio.duration_s(),
        show_progress,
        "chroma",
    );
    let started = std::time::Instant::now();
    if args.features.is_some() && settings.evidence == Evidence::Filterbank {
        bail!("--features writes the NNLS evidence: use --evidence nnls or learned");
    }
    let chord_weights = match &args.chord_model {
        Some(path) => {
            if settings.evidence != Evidence::Learned {
                bail!("--chord-model is the learned layer's: add --evidence learned");
            }
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                ChordNetWeights::parse(&bytes)
                    .with_context(|| format!("{} is not a usable chord model", path.display()))?,
            )
        }
        None => None,
    };
    let Analysis {
        rows,
        midi,
        features,
    } = analyze(
        &audio,
        settings,
        args.settings.chord_model(),
        args.block as usize,
        &progress,
        args.features.is_some(),
        chord_weights.as_ref(),
    );
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();

    let mut outputs = Outputs::default();
    let text = csv(&rows);
    if let Some(path) = &args.output {
        let tmp = outputs.stage(path)?;
        std::fs::write(&tmp, &text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let segs = segments(&rows, audio.duration_s());
    if let Some(path) = &args.lab {
        let tmp = outputs.stage(path)?;
        std::fs::write(&tmp, lab(&segs))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.midi {
        let tmp = outputs.stage(path)?;
        let bytes = midi_file::write(&midi, audio.sample_rate, audio.len() as u64)?;
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.features {
        let tmp = outputs.stage(path)?;
        std::fs::write(&tmp, npy_f32(&features, FEATURES))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.png {
        let tmp = outputs.stage(path)?;
        crate::plot::chromagram(&tmp, &rows, &segs, audio.duration_s(), &title(&args.input))?;
    }
    outputs.commit()?;
    if args.output.is_none() {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        // A closed pipe (e.g. `| head`) is not an error worth a message.
        let _ = lock.write_all(text.as_bytes());
    }
    if !args.quiet {
        eprintln!(
            "prism chroma: {} frames, {:.1} s of audio in {:.2} s ({:.0}x real time)",
            rows.len(),
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

/// A NumPy `.npy` (format 1.0) of little-endian float32 `data`, `columns` per row.
pub fn npy_f32(data: &[f32], columns: usize) -> Vec<u8> {
    let rows = data.len() / columns.max(1);
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
    // Magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in &data[..rows * columns] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
