//! `prism split`: drums / bass / other stems of an audio file, with the plugin's engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use prism_shared::split::display::{ReducedFrame, Reducer};
use prism_shared::split::schema;
use prism_shared::split::{
    Deadline, ModelSource, NeuralModel, SplitEngine, SplitMode, SplitSettings, StatusCode,
    NUM_STEMS, STEM_NAMES,
};
use prism_shared::Processor;

use crate::audio;
use crate::output::Outputs;
use crate::progress::Progress;
use crate::schema_args;

/// Command-line options of `prism split`.
#[derive(clap::Args, Debug, Clone)]
pub struct SplitArgs {
    /// Input audio file (WAV, FLAC, OGG/Vorbis, MP3, ...); mono or stereo (more channels:
    /// the first two).
    pub input: PathBuf,
    /// Output folder: one `<stem>.wav` per stem (32-bit float, the input's rate and length,
    /// sample-aligned with the input).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Stems to write, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "drums,bass,other")]
    pub stems: Vec<String>,
    /// An ONNX model with Prism Split's interface instead of the built-in one.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Separator: the neural model, or classical HPSS (percussive / harmonic bass / rest).
    #[arg(long = schema::MODE.flag, default_value = schema_args::default_id::<SplitMode>(),
          value_parser = schema_args::choice::<SplitMode>())]
    pub mode: SplitMode,
    /// PNG of the stems' masks over the spectrogram.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Host block size in samples used to stream the file (1..=16384).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub block: u32,
    /// No progress bar or summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The separated stems, aligned with the input, and the plot frames.
pub struct Separation {
    /// `stems[s][ch]`.
    pub stems: Vec<Vec<Vec<f32>>>,
    pub frames: Vec<ReducedFrame>,
    pub hop_s: f64,
    pub latency_samples: usize,
    /// The worker's mean and largest inference time per frame, µs (0 in HPSS mode).
    pub infer_us_mean: f64,
    pub infer_us_max: f32,
}

/// Streams `channels` through a [`SplitEngine`] (offline deadline: waits for the worker) in
/// blocks of `block`, and removes the engine's latency so every stem lines up with the input.
pub fn separate(
    channels: &[Vec<f32>],
    sample_rate: u32,
    settings: SplitSettings,
    block: usize,
    want_plot: bool,
    progress: &Progress,
) -> Result<Separation> {
    let nc = channels.len().clamp(1, 2);
    let len = channels.first().map_or(0, |c| c.len());
    let mut engine = SplitEngine::new(settings.clone());
    engine.prepare(sample_rate as f32, block, nc);
    let status = engine.wait_until_loaded(Duration::from_secs(60));
    if settings.mode == SplitMode::Neural && status != StatusCode::Ready {
        let why = engine.telemetry().snapshot().message;
        bail!("the model cannot be used: {why}");
    }
    let latency = engine.latency_samples();
    let total = len + latency;
    let mut stems = vec![vec![Vec::with_capacity(len); nc]; NUM_STEMS];
    let mut scratch = vec![vec![0.0f32; block]; NUM_STEMS * nc];
    let mut inbuf = vec![vec![0.0f32; block]; nc];
    let n = engine.fft_len();
    let reducer = Reducer::new(sample_rate as f32, n);
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < total {
        let m = block.min(total - pos);
        // The input, then `latency` samples of silence to flush the engine.
        for (ch, buf) in inbuf.iter_mut().enumerate() {
            let avail = len.saturating_sub(pos).min(m);
            if avail > 0 {
                buf[..avail].copy_from_slice(&channels[ch][pos..pos + avail]);
            }
            buf[avail..m].fill(0.0);
        }
        let inputs: Vec<&[f32]> = inbuf.iter().map(|b| &b[..m]).collect();
        let mut outs: Vec<&mut [f32]> = scratch.iter_mut().map(|b| &mut b[..m]).collect();
        engine.process_observed(&inputs, &mut outs, |view| {
            if want_plot {
                let mut f = ReducedFrame::default();
                reducer.reduce(view, &mut f);
                frames.push(f);
            }
        });
        for s in 0..NUM_STEMS {
            for ch in 0..nc {
                let out = &scratch[s * nc + ch][..m];
                // Drop the first `latency` samples: the stems then start with the input.
                let skip = latency.saturating_sub(pos).min(m);
                stems[s][ch].extend_from_slice(&out[skip..]);
            }
        }
        pos += m;
        progress.set(pos.min(len) as u64);
    }
    for stem in &mut stems {
        for ch in stem.iter_mut() {
            ch.truncate(len);
        }
    }
    let telemetry = engine.telemetry();
    let inferences = telemetry
        .inferences
        .load(std::sync::atomic::Ordering::Relaxed);
    let infer_ns = telemetry
        .infer_ns_total
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok(Separation {
        infer_us_mean: if inferences > 0 {
            infer_ns as f64 / inferences as f64 / 1e3
        } else {
            0.0
        },
        infer_us_max: telemetry.snapshot().infer_us_max,
        stems,
        frames,
        hop_s: (n / 4) as f64 / sample_rate as f64,
        latency_samples: latency,
    })
}

fn parse_stems(names: &[String]) -> Result<Vec<usize>> {
    let mut picked = Vec::new();
    for name in names {
        let name = name.trim().to_ascii_lowercase();
        let Some(idx) = STEM_NAMES.iter().position(|s| *s == name) else {
            bail!(
                "unknown stem '{name}' (choose from {})",
                STEM_NAMES.join(", ")
            );
        };
        if !picked.contains(&idx) {
            picked.push(idx);
        }
    }
    if picked.is_empty() {
        bail!("no stems chosen");
    }
    Ok(picked)
}

pub fn run(args: &SplitArgs) -> Result<()> {
    let stems = parse_stems(&args.stems)?;
    let model = match &args.model {
        None => ModelSource::Default,
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read the model {}", path.display()))?;
            // Validate here for a clear message naming the file.
            NeuralModel::load(&bytes).with_context(|| format!("model {}", path.display()))?;
            ModelSource::Bytes(Arc::from(bytes))
        }
    };
    if args.model.is_some() && args.mode == SplitMode::Hpss {
        bail!("--model has no effect with --mode hpss");
    }
    let settings = SplitSettings {
        mode: args.mode,
        deadline: Deadline::Wait,
        model: if args.mode == SplitMode::Hpss {
            ModelSource::None
        } else {
            model
        },
    };
    let audio = audio::read(&args.input)?;
    if audio.is_empty() {
        bail!("{} has no samples", args.input.display());
    }
    let channels: Vec<Vec<f32>> = audio.channels.iter().take(2).cloned().collect();
    let progress = Progress::new(audio.len() as u64, audio.duration_s(), !args.quiet, "split");
    let started = std::time::Instant::now();
    let sep = separate(
        &channels,
        audio.sample_rate,
        settings,
        args.block as usize,
        args.png.is_some(),
        &progress,
    )?;
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();

    let mut outputs = Outputs::default();
    if args.output.exists() && !args.output.is_dir() {
        bail!("{} exists and is not a folder", args.output.display());
    }
    for &s in &stems {
        let target = args.output.join(format!("{}.wav", STEM_NAMES[s]));
        let tmp = outputs.stage(&target)?;
        let chans: Vec<&[f32]> = sep.stems[s].iter().map(|c| c.as_slice()).collect();
        audio::write_wav(&tmp, audio.sample_rate, &chans)?;
    }
    if let Some(path) = &args.png {
        let tmp = outputs.stage(path)?;
        crate::plot::split_masks(&tmp, &sep.frames, sep.hop_s, &title(&args.input))?;
    }
    outputs.commit()?;
    if !args.quiet {
        let what = match args.mode {
            SplitMode::Neural => "neural",
            SplitMode::Hpss => "HPSS",
        };
        if sep.infer_us_mean > 0.0 {
            eprintln!(
                "prism split: model inference {:.0} µs per frame on the worker thread (max {:.0} µs; the hop is {:.0} µs)",
                sep.infer_us_mean,
                sep.infer_us_max,
                sep.hop_s * 1e6
            );
        }
        eprintln!(
            "prism split ({what}): {:.1} s of audio in {:.2} s ({:.0}x real time); stems {} in {}; engine latency {} samples (compensated)",
            audio.duration_s(),
            elapsed,
            audio.duration_s() / elapsed.max(1e-9),
            stems
                .iter()
                .map(|&s| STEM_NAMES[s])
                .collect::<Vec<_>>()
                .join(", "),
            args.output.display(),
            sep.latency_samples,
        );
    }
    Ok(())
}

fn title(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
