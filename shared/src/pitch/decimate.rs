//! The tracker's anti-alias low-pass and decimation.

use crate::sanitize;

/// Anti-alias low-pass and decimation by an integer factor: a Kaiser-windowed sinc FIR,
/// evaluated only for the samples kept. The analysis runs at `sample_rate / factor`
/// (20–40 kHz, or the input rate below 40 kHz): the pitch needs the harmonics below a few
/// kHz, and half the rate halves every FFT and loop after it.
#[derive(Debug, Clone, Default)]
pub(super) struct Decimator {
    pub(super) factor: usize,
    taps: Vec<f32>,
    /// The last `taps.len()` input samples, written twice so a window is contiguous.
    history: Vec<f32>,
    pos: usize,
    phase: usize,
}

/// Zeroth-order modified Bessel function of the first kind (for the Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < 1e-12 * sum {
            break;
        }
    }
    sum
}

impl Decimator {
    /// Taps per unit of decimation factor (sharper with more).
    const TAPS_PER_FACTOR: usize = 24;
    /// Kaiser β (≈ 80 dB stop band).
    const BETA: f64 = 8.0;

    pub(super) fn prepare(&mut self, sample_rate: f32, factor: usize, corner_hz: f32) {
        self.factor = factor.max(1);
        let n = Self::TAPS_PER_FACTOR * self.factor + 1;
        let fc = (corner_hz / sample_rate) as f64;
        let mid = (n - 1) as f64 / 2.0;
        let mut taps: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 - mid;
                let sinc = if t == 0.0 {
                    2.0 * fc
                } else {
                    (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
                };
                let r = t / mid;
                sinc * bessel_i0(Self::BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(Self::BETA)
            })
            .collect();
        let dc: f64 = taps.iter().sum();
        for t in &mut taps {
            *t /= dc;
        }
        self.taps = taps.into_iter().map(|t| t as f32).collect();
        self.history = vec![0.0; 2 * n];
        self.reset();
    }

    pub(super) fn reset(&mut self) {
        self.history.fill(0.0);
        self.pos = 0;
        self.phase = 0;
    }

    /// Group delay in input samples.
    pub(super) fn delay(&self) -> usize {
        self.taps.len() / 2
    }

    /// Pushes one input sample; returns an output sample every `factor` inputs.
    #[inline]
    pub(super) fn push(&mut self, x: f32) -> Option<f32> {
        let n = self.taps.len();
        self.history[self.pos] = x;
        self.history[self.pos + n] = x;
        self.pos += 1;
        if self.pos == n {
            self.pos = 0;
        }
        self.phase += 1;
        if self.phase < self.factor {
            return None;
        }
        self.phase = 0;
        // Oldest sample at `pos`; the taps are symmetric, so orientation does not matter.
        let window = &self.history[self.pos..self.pos + n];
        let mut acc = 0.0f32;
        for (h, v) in self.taps.iter().zip(window) {
            acc += h * v;
        }
        Some(sanitize::flush(acc))
    }
}

/// Decimation factor for a sample rate (analysis at 20–40 kHz; no decimation below 40 kHz).
pub(super) fn decimation_for(sample_rate: f32) -> usize {
    ((sample_rate / 20_000.0).floor() as usize).max(1)
}
