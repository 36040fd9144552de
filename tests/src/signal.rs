//! Deterministic test signals. No `rand` crate: a 32-bit xorshift is plenty for white noise.

use std::f64::consts::TAU;

/// Marsaglia's xorshift32. Deterministic for a given non-zero seed.
#[derive(Debug, Clone)]
pub struct XorShift32 {
    state: u32,
}

impl XorShift32 {
    /// A generator seeded with `seed` (zero is replaced by a fixed non-zero constant).
    pub fn new(seed: u32) -> Self {
        Self {
            state: if seed == 0 { 0x9E37_79B9 } else { seed },
        }
    }

    /// The next raw 32-bit value.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        x
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_bipolar(&mut self) -> f32 {
        // 24 random bits map exactly onto f32's mantissa.
        let unit = (self.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        unit * 2.0 - 1.0
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        assert!(lo <= hi);
        let span = (hi - lo + 1) as u64;
        lo + (u64::from(self.next_u32()) % span) as usize
    }
}

/// White noise in `[-amplitude, amplitude)`.
pub fn white_noise(seed: u32, len: usize, amplitude: f32) -> Vec<f32> {
    let mut rng = XorShift32::new(seed);
    (0..len).map(|_| rng.next_bipolar() * amplitude).collect()
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
    a4_hz * 2f64.powf((f64::from(note) - 69.0) / 12.0)
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
