//! Deterministic test signals. Randomness comes from `prism_shared::synth::XorShift` (no
//! `rand` crate); the tones here are peak-normalised, unlike the shared crate's synth.

use std::f64::consts::TAU;

pub use prism_shared::synth::XorShift;

/// White noise in `[-amplitude, amplitude)`.
pub fn white_noise(seed: u32, len: usize, amplitude: f32) -> Vec<f32> {
    let mut rng = XorShift::new(u64::from(seed));
    (0..len).map(|_| rng.next_f32() * amplitude).collect()
}

/// A pure sine.
pub fn sine(freq_hz: f64, sample_rate: f64, len: usize, amplitude: f32) -> Vec<f32> {
    (0..len)
        .map(|n| (amplitude as f64 * (TAU * freq_hz * n as f64 / sample_rate).sin()) as f32)
        .collect()
}

/// A tone with `harmonics` partials at amplitudes 1/k (a soft saw-like timbre), normalised so
/// its peak is at most `amplitude`. Partials above Nyquist are dropped.
pub fn harmonic_tone(
    freq_hz: f64,
    sample_rate: f64,
    len: usize,
    amplitude: f32,
    harmonics: usize,
) -> Vec<f32> {
    let partials: Vec<(f64, f64)> = (1..=harmonics.max(1))
        .map(|k| (freq_hz * k as f64, 1.0 / k as f64))
        .filter(|(f, _)| *f < sample_rate * 0.45)
        .collect();
    let norm: f64 = partials.iter().map(|(_, a)| a).sum::<f64>().max(1e-9);
    (0..len)
        .map(|n| {
            let t = n as f64 / sample_rate;
            let v: f64 = partials.iter().map(|(f, a)| a * (TAU * f * t).sin()).sum();
            (amplitude as f64 * v / norm) as f32
        })
        .collect()
}

/// Frequency of a MIDI note for a given A4 reference.
pub fn midi_to_hz(note: u8, a4_hz: f64) -> f64 {
    f64::from(prism_shared::synth::midi_to_hz(
        f32::from(note),
        a4_hz as f32,
    ))
}

/// A chord of harmonic tones (one per MIDI note), peak-limited to `amplitude`.
pub fn chord(notes: &[u8], a4_hz: f64, sample_rate: f64, len: usize, amplitude: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; len];
    let per_note = amplitude / notes.len().max(1) as f32;
    for &note in notes {
        let tone = harmonic_tone(midi_to_hz(note, a4_hz), sample_rate, len, per_note, 6);
        for (o, t) in out.iter_mut().zip(tone) {
            *o += t;
        }
    }
    out
}

/// Splits `total` samples into blocks whose sizes cycle through `pattern` (each clamped to
/// `1..=max_block`), e.g. `[1, 17, max, 64, 2027]`.
pub fn block_sizes(total: usize, pattern: &[usize], max_block: usize) -> Vec<usize> {
    assert!(!pattern.is_empty() && max_block > 0);
    let mut sizes = Vec::new();
    let mut done = 0;
    let mut i = 0;
    while done < total {
        let want = pattern[i % pattern.len()].clamp(1, max_block);
        let n = want.min(total - done);
        sizes.push(n);
        done += n;
        i += 1;
    }
    sizes
}

/// Writes planar channels as a 32-bit float WAV (decoded bit-exactly by the CLI and by the
/// Python host scripts).
pub fn write_wav_f32(
    path: &std::path::Path,
    sample_rate: u32,
    channels: &[Vec<f32>],
) -> anyhow::Result<()> {
    use anyhow::Context;
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    for i in 0..channels[0].len() {
        for channel in channels {
            writer.write_sample(channel[i])?;
        }
    }
    writer.finalize()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_is_deterministic_and_bounded() {
        let a = white_noise(42, 1000, 0.5);
        let b = white_noise(42, 1000, 0.5);
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (-0.5..0.5).contains(x)));
        assert_ne!(a, white_noise(43, 1000, 0.5));
    }

    #[test]
    fn blocks_cover_total() {
        let b = block_sizes(10_000, &[1, 17, 4096, 64], 512);
        assert_eq!(b.iter().sum::<usize>(), 10_000);
        assert!(b.iter().all(|&n| (1..=512).contains(&n)));
        assert_eq!(&b[..4], &[1, 17, 512, 64]);
    }

    #[test]
    fn a4_is_440() {
        assert!((midi_to_hz(69, 440.0) - 440.0).abs() < 1e-9);
        assert!((midi_to_hz(60, 440.0) - 261.6256).abs() < 1e-3);
    }
}
