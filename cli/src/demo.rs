//! `prism demo`: a newcomer's first look without a DAW. Synthesises a short piece (chords,
//! bass and drums, with known ground truth) and runs every Prism processor on it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use prism_shared::chord::chord_label;
use prism_shared::hpss::HpssSeparator;
use prism_shared::synth::progression;
use prism_shared::{ChromaSettings, Processor};

use crate::audio::{write_wav, Audio};
use crate::chroma_cmd::{analyze, csv, lab, segments};
use crate::output::Outputs;
use crate::progress::Progress;

/// Options of `prism demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(short, long, default_value = "prism-demo")]
    pub output: PathBuf,
}

/// The demo's progression: I V vi IV | ii iii V I in C, then the same in A minor colours.
const DEMO_CHORDS: [usize; 12] = [1, 8, 22, 6, 15, 17, 8, 1, 22, 3, 5, 10];

/// Runs the demo.
pub fn run(args: &DemoArgs) -> Result<()> {
    let sample_rate = 44_100u32;
    let piece = progression(sample_rate as f32, &DEMO_CHORDS, 110.0, 4, true, 2026);
    let audio = Audio {
        sample_rate,
        channels: vec![piece.samples.clone()],
    };
    let dir = &args.output;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut outputs = Outputs::default();

    let wav = outputs.stage(&dir.join("demo.wav"))?;
    write_wav(&wav, sample_rate, &[&piece.samples])?;
    let truth: String = piece
        .segments
        .iter()
        .map(|(s, e, c)| format!("{s:.6} {e:.6} {}\n", chord_label(*c)))
        .collect();
    std::fs::write(outputs.stage(&dir.join("truth.lab"))?, truth)?;

    // Chroma, chords, key.
    let rows = analyze(
        &audio,
        ChromaSettings::default(),
        prism_shared::chord::ChordModelParams::default(),
        512,
        &Progress::hidden(),
        false,
        None,
    )
    .rows;
    let segs = segments(&rows, audio.duration_s());
    std::fs::write(outputs.stage(&dir.join("chroma.csv"))?, csv(&rows))?;
    std::fs::write(outputs.stage(&dir.join("chords.lab"))?, lab(&segs))?;
    crate::plot::chromagram(
        &outputs.stage(&dir.join("chroma.png"))?,
        &rows,
        &segs,
        audio.duration_s(),
        "demo",
    )?;

    // Streaming HPSS: harmonic and percussive stems, latency-compensated.
    let mut hpss = HpssSeparator::default();
    hpss.prepare(sample_rate as f32, 512, 1);
    let latency = hpss.latency_samples();
    let len = piece.samples.len();
    let mut padded = piece.samples.clone();
    padded.resize(len + latency, 0.0);
    let mut harmonic = vec![0.0; len + latency];
    let mut percussive = vec![0.0; len + latency];
    for start in (0..len + latency).step_by(512) {
        let end = (start + 512).min(len + latency);
        let (h, p) = (&mut harmonic[start..end], &mut percussive[start..end]);
        hpss.process(&[&padded[start..end]], &mut [h, p]);
    }
    let harmonic = &harmonic[latency..];
    let percussive = &percussive[latency..];
    write_wav(
        &outputs.stage(&dir.join("harmonic.wav"))?,
        sample_rate,
        &[harmonic],
    )?;
    write_wav(
        &outputs.stage(&dir.join("percussive.wav"))?,
        sample_rate,
        &[percussive],
    )?;
    crate::plot::waveforms(
        &outputs.stage(&dir.join("hpss.png"))?,
        sample_rate,
        &[
            ("mix", &piece.samples),
            ("harmonic", harmonic),
            ("percussive", percussive),
        ],
        "Prism streaming HPSS (latency-compensated)",
    )?;
    outputs.commit()?;

    let correct = rows
        .iter()
        .filter(|r| {
            piece
                .segments
                .iter()
                .find(|(s, e, _)| r.time_s as f32 >= *s && (r.time_s as f32) < *e)
                .is_some_and(|(_, _, c)| *c == r.chord)
        })
        .count();
    println!("Prism demo written to {}/", dir.display());
    println!(
        "  demo.wav        the synthesised piece ({:.1} s, chords + bass + drums)",
        audio.duration_s()
    );
    println!("  truth.lab       its chords");
    println!(
        "  chroma.csv      chroma, chord and key per frame ({} frames)",
        rows.len()
    );
    println!(
        "  chords.lab      detected chord segments ({} segments)",
        segs.len()
    );
    println!("  chroma.png      chromagram with the chord lane");
    println!("  harmonic.wav, percussive.wav, hpss.png   streaming HPSS ({latency} samples latency, compensated)");
    println!(
        "Frames with the right chord: {:.1} % (frame-level, including the decision delay)",
        100.0 * correct as f64 / rows.len().max(1) as f64
    );
    Ok(())
}
