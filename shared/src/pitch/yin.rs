//! The per-frame pitch front end: YIN's difference function computed with FFTs over the most
//! recent samples, its cumulative-mean normalisation, and pYIN's probabilistic candidates
//! (Mauch & Dixon 2014: a Beta(2, 18) prior over thresholds and a Boltzmann prior that
//! favours shorter periods).
//!
//! For lag τ the difference function compares the last `W` samples with the `W` samples τ
//! earlier: `d(τ) = Σ_{j ∈ last W} (x_j − x_{j−τ})²`, so an estimate describes the signal
//! centred `(W + τ) / 2` samples before the frame's end. Computing it from the newest
//! samples (instead of the oldest, as in textbook YIN) keeps the analysis latency at
//! `W / 2` plus half a period.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Most troughs considered per frame (the first ones, by increasing lag).
pub const MAX_TROUGHS: usize = 24;
/// Number of thresholds of pYIN's threshold distribution (0.01 … 1.00).
const NUM_THRESHOLDS: usize = 100;
/// Boltzmann parameter of the trough prior (pYIN's default).
const BOLTZMANN: f32 = 2.0;
/// Probability given to the global minimum when no trough lies below a threshold.
const NO_TROUGH_PROB: f32 = 0.01;
/// Frames whose mean square is below this are silent (−100 dBFS): no candidates.
const SILENCE_MEAN_SQUARE: f64 = 1e-10;

/// One pitch candidate of a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Candidate {
    /// Interpolated period in samples.
    pub period: f32,
    /// Frequency in Hz.
    pub frequency_hz: f32,
    /// pYIN probability (the candidates of a frame sum to at most 1).
    pub probability: f32,
    /// Depth: the normalised difference at the trough (0 = perfectly periodic).
    pub height: f32,
}

/// The candidates of one frame.
#[derive(Debug, Clone, Copy)]
pub struct Candidates {
    /// Candidates by increasing period; only the first `len` are valid.
    pub items: [Candidate; MAX_TROUGHS],
    /// Valid entries.
    pub len: usize,
    /// Sum of the candidates' probabilities (the frame's voicing probability), 0..=1.
    pub voiced_probability: f32,
    /// Mean square of the newest `W` samples in dBFS (a full-scale sine is −3 dB).
    pub level_db: f32,
}

impl Default for Candidates {
    fn default() -> Self {
        Self {
            items: [Candidate::default(); MAX_TROUGHS],
            len: 0,
            voiced_probability: 0.0,
            level_db: -120.0,
        }
    }
}

impl Candidates {
    /// The valid candidates.
    pub fn as_slice(&self) -> &[Candidate] {
        &self.items[..self.len]
    }
}

/// Regularised incomplete beta function I_x(2, 18), the CDF of Beta(2, 18).
fn beta_2_18_cdf(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    1.0 - (1.0 - x).powi(19) - 19.0 * x * (1.0 - x).powi(18)
}

/// FFT-based YIN with pYIN candidate probabilities. All buffers are allocated in `prepare`.
#[derive(Default)]
pub struct Yin {
    sample_rate: f32,
    /// Integration window in samples.
    window: usize,
    /// Largest lag the buffers hold (one more than the largest searchable period).
    max_lag: usize,
    /// Frame length: `window + max_lag`.
    frame_len: usize,
    fft_len: usize,
    forward: Option<Arc<dyn RealToComplex<f32>>>,
    inverse: Option<Arc<dyn ComplexToReal<f32>>>,
    buf_newest: Vec<f32>,
    buf_frame: Vec<f32>,
    spec_newest: Vec<Complex<f32>>,
    spec_frame: Vec<Complex<f32>>,
    scratch_forward: Vec<Complex<f32>>,
    scratch_inverse: Vec<Complex<f32>>,
    correlation: Vec<f32>,
    prefix: Vec<f64>,
    diff: Vec<f32>,
    cmnd: Vec<f32>,
    beta_probs: Vec<f32>,
    /// Lags of the troughs found in the current frame.
    troughs: [usize; MAX_TROUGHS],
}

/// FFT length for `n` samples: the next power of two unless a 2·3·5-smooth length is
/// much shorter (power-of-two transforms are the fastest per point).
fn fft_len_for(n: usize) -> usize {
    let pow2 = n.max(2).next_power_of_two();
    let smooth = smooth_fft_len(n);
    if (smooth as f64) < 0.8 * pow2 as f64 {
        smooth
    } else {
        pow2
    }
}

/// Smallest FFT length ≥ `n` whose only prime factors are 2, 3 and 5.
fn smooth_fft_len(n: usize) -> usize {
    let mut m = n.max(2);
    loop {
        let mut k = m;
        for p in [2, 3, 5] {
            while k.is_multiple_of(p) {
                k /= p;
            }
        }
        if k == 1 {
            return m;
        }
        m += 1;
    }
}

impl Yin {
    /// Allocates for frames of `window + max_period + 2` samples. Not real-time safe.
    pub fn prepare(&mut self, sample_rate: f32, window: usize, max_period: usize) {
        self.sample_rate = sample_rate;
        self.window = window.max(2);
        self.max_lag = max_period.max(4) + 2;
        self.frame_len = self.window + self.max_lag;
        self.fft_len = fft_len_for(self.frame_len);
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(self.fft_len);
        let inverse = planner.plan_fft_inverse(self.fft_len);
        self.buf_newest = forward.make_input_vec();
        self.buf_frame = forward.make_input_vec();
        self.spec_newest = forward.make_output_vec();
        self.spec_frame = forward.make_output_vec();
        self.scratch_forward = forward.make_scratch_vec();
        self.scratch_inverse = inverse.make_scratch_vec();
        self.correlation = inverse.make_output_vec();
        self.forward = Some(forward);
        self.inverse = Some(inverse);
        self.prefix = vec![0.0; self.frame_len + 1];
        self.diff = vec![0.0; self.max_lag + 1];
        self.cmnd = vec![1.0; self.max_lag + 1];
        self.beta_probs = (0..NUM_THRESHOLDS)
            .map(|i| {
                let lo = i as f64 / NUM_THRESHOLDS as f64;
                let hi = (i + 1) as f64 / NUM_THRESHOLDS as f64;
                (beta_2_18_cdf(hi) - beta_2_18_cdf(lo)) as f32
            })
            .collect();
    }

    /// Samples per frame (the newest sample last).
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Integration window in samples.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The cumulative-mean-normalised difference of the last frame (index = lag).
    pub fn cmnd(&self) -> &[f32] {
        &self.cmnd
    }

    /// Analyses one frame (`frame_len()` samples, oldest first), searching periods
    /// `min_period..=max_period` samples. Never allocates.
    pub fn analyze(
        &mut self,
        frame: &[f32],
        min_period: usize,
        max_period: usize,
        out: &mut Candidates,
    ) {
        *out = Candidates::default();
        let (Some(forward), Some(inverse)) = (&self.forward, &self.inverse) else {
            return;
        };
        let n = self.frame_len;
        let w = self.window;
        debug_assert_eq!(frame.len(), n);
        let frame = &frame[..n.min(frame.len())];
        if frame.len() < n {
            return;
        }

        // Energies by prefix sums in f64 (the difference function cancels them to ~0).
        self.prefix[0] = 0.0;
        for (j, &x) in frame.iter().enumerate() {
            self.prefix[j + 1] = self.prefix[j] + (x as f64) * (x as f64);
        }
        let e_newest = self.prefix[n] - self.prefix[n - w];
        let mean_square = e_newest / w as f64;
        out.level_db = (10.0 * mean_square.max(1e-12).log10()) as f32;
        if mean_square < SILENCE_MEAN_SQUARE {
            return;
        }

        // Cross-correlation of the newest W samples with the whole frame:
        // c(s) = Σ_i a_i b_{i+s}, and d(τ) uses c(n − w − τ).
        self.buf_newest.fill(0.0);
        self.buf_newest[..w].copy_from_slice(&frame[n - w..]);
        self.buf_frame.fill(0.0);
        self.buf_frame[..n].copy_from_slice(frame);
        if forward
            .process_with_scratch(
                &mut self.buf_newest,
                &mut self.spec_newest,
                &mut self.scratch_forward,
            )
            .is_err()
            || forward
                .process_with_scratch(
                    &mut self.buf_frame,
                    &mut self.spec_frame,
                    &mut self.scratch_forward,
                )
                .is_err()
        {
            return;
        }
        for (b, a) in self.spec_frame.iter_mut().zip(&self.spec_newest) {
            *b *= a.conj();
        }
        // The DC and Nyquist bins of a real signal's spectrum are real.
        if let Some(first) = self.spec_frame.first_mut() {
            first.im = 0.0;
        }
        if let Some(last) = self.spec_frame.last_mut() {
            last.im = 0.0;
        }
        if inverse
            .process_with_scratch(
                &mut self.spec_frame,
                &mut self.correlation,
                &mut self.scratch_inverse,
            )
            .is_err()
        {
            return;
        }
        let scale = 1.0 / self.fft_len as f64;

        let max_period = max_period.min(self.max_lag - 2);
        let min_period = min_period.clamp(2, max_period);
        let last_lag = max_period + 1;
        self.diff[0] = 0.0;
        self.cmnd[0] = 1.0;
        let mut running = 0.0f64;
        for tau in 1..=last_lag {
            let r = self.correlation[n - w - tau] as f64 * scale;
            let e_lagged = self.prefix[n - tau] - self.prefix[n - w - tau];
            let d = (e_newest + e_lagged - 2.0 * r).max(0.0);
            self.diff[tau] = d as f32;
            running += d;
            self.cmnd[tau] = if running > 1e-30 {
                (d * tau as f64 / running) as f32
            } else {
                1.0
            };
        }

        // Troughs: local minima of the normalised difference in the search range.
        let mut num_troughs = 0;
        for tau in min_period..=max_period {
            let c = self.cmnd[tau];
            if c < self.cmnd[tau - 1] && c <= self.cmnd[tau + 1] {
                self.troughs[num_troughs] = tau;
                num_troughs += 1;
                if num_troughs == MAX_TROUGHS {
                    break;
                }
            }
        }
        if num_troughs == 0 {
            return;
        }

        // pYIN probabilities.
        let mut probs = [0.0f32; MAX_TROUGHS];
        let decay = (-BOLTZMANN).exp();
        for (ti, &beta) in self.beta_probs.iter().enumerate() {
            let threshold = (ti + 1) as f32 / NUM_THRESHOLDS as f32;
            let below = self.troughs[..num_troughs]
                .iter()
                .filter(|&&t| self.cmnd[t] < threshold)
                .count();
            if below == 0 {
                continue;
            }
            // Boltzmann pmf over the rank among the troughs below the threshold.
            let norm = (1.0 - decay) / (1.0 - decay.powi(below as i32));
            let mut weight = norm;
            for (k, &t) in self.troughs[..num_troughs].iter().enumerate() {
                if self.cmnd[t] < threshold {
                    probs[k] += weight * beta;
                    weight *= decay;
                }
            }
        }
        let (global_min, min_height) = self.troughs[..num_troughs]
            .iter()
            .enumerate()
            .map(|(k, &t)| (k, self.cmnd[t]))
            .fold(
                (0, f32::INFINITY),
                |best, cur| if cur.1 < best.1 { cur } else { best },
            );
        let thresholds_not_reached = (0..NUM_THRESHOLDS)
            .filter(|&ti| (ti + 1) as f32 / NUM_THRESHOLDS as f32 <= min_height)
            .count();
        let unreached_mass: f32 = self.beta_probs[..thresholds_not_reached].iter().sum();
        probs[global_min] += NO_TROUGH_PROB * unreached_mass;

        let mut total = 0.0;
        for (k, &tau) in self.troughs[..num_troughs].iter().enumerate() {
            let period = self.interpolate(tau);
            let p = probs[k].clamp(0.0, 1.0);
            total += p;
            out.items[k] = Candidate {
                period,
                frequency_hz: self.sample_rate / period,
                probability: p,
                height: self.cmnd[tau],
            };
        }
        out.len = num_troughs;
        out.voiced_probability = total.clamp(0.0, 1.0);
    }

    /// Refines a candidate's period on the signal itself: the difference function at
    /// fractional lags (the lagged signal by 6-point Lagrange interpolation) at `period ± h`,
    /// twice, with a parabola through each triple. Parabolic interpolation on integer lags
    /// is biased by up to several cents where the difference function is not parabolic
    /// (sharp waveforms, periods that are long for the window, low sample rates); this
    /// removes that bias. `frame` is the frame the candidate came from. Never allocates.
    pub fn refine(&self, frame: &[f32], period: f32) -> f32 {
        let n = self.frame_len;
        let w = self.window;
        if frame.len() < n || !(period.is_finite() && period >= 3.0) {
            return period;
        }
        let max_period = (self.max_lag - 2) as f64 - 0.5;
        let mut p = (period as f64).min(max_period);
        for h in [0.25f64, 0.06] {
            let lo = p - h;
            let hi = (p + h).min(max_period);
            if lo < 3.0 || hi <= lo {
                break;
            }
            let a = fractional_difference(frame, n, w, lo);
            let b = fractional_difference(frame, n, w, p);
            let c = fractional_difference(frame, n, w, hi);
            let denom = a - 2.0 * b + c;
            if denom.partial_cmp(&1e-30) != Some(std::cmp::Ordering::Greater) {
                break;
            }
            p += (0.5 * h * (a - c) / denom).clamp(-h, h);
        }
        p as f32
    }

    /// Sub-sample period: the vertex of the parabola through the raw difference function
    /// around the trough (YIN step 5; on `d`, which the normalisation would tilt).
    fn interpolate(&self, tau: usize) -> f32 {
        let (a, b, c) = (
            self.diff[tau - 1] as f64,
            self.diff[tau] as f64,
            self.diff[tau + 1] as f64,
        );
        let denom = a - 2.0 * b + c;
        let offset = if denom > 1e-30 {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        (tau as f64 + offset) as f32
    }
}

/// `Σ_{j ∈ last w} (x_j − x(j − τ))²` with `x(j − τ)` by 6-point Lagrange interpolation
/// (the fractional part, hence the weights, is the same for every `j`).
fn fractional_difference(frame: &[f32], n: usize, w: usize, tau: f64) -> f64 {
    let whole = tau.floor();
    // x(j − τ) = x(j − whole − frac): interpolate at position i + mu with i = j − whole − 1,
    // mu = 1 − frac (so mu is in (0, 1]).
    let frac = tau - whole;
    let shift = whole as usize + 1;
    let mu = 1.0 - frac;
    // Lagrange weights for nodes −2..=3 at mu.
    let mut weights = [0.0f32; 6];
    for (k, weight) in weights.iter_mut().enumerate() {
        let xk = k as f64 - 2.0;
        let mut l = 1.0;
        for m in 0..6 {
            if m != k {
                let xm = m as f64 - 2.0;
                l *= (mu - xm) / (xk - xm);
            }
        }
        *weight = l as f32;
    }
    let start = n - w;
    let mut acc = 0.0f64;
    let mut partial = 0.0f32;
    for (count, j) in (start..n).enumerate() {
        let base = j - shift - 2;
        let s = &frame[base..base + 6];
        let lagged = weights[0] * s[0]
            + weights[1] * s[1]
            + weights[2] * s[2]
            + weights[3] * s[3]
            + weights[4] * s[4]
            + weights[5] * s[5];
        let e = frame[j] - lagged;
        partial += e * e;
        if count % 64 == 63 {
            acc += partial as f64;
            partial = 0.0;
        }
    }
    acc + partial as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze_tone(freq: f64, harmonics: usize) -> Candidates {
        let sr = 44_100.0f32;
        let mut yin = Yin::default();
        yin.prepare(sr, 882, 1103);
        let n = yin.frame_len();
        let frame: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / sr as f64;
                (1..=harmonics)
                    .map(|k| (2.0 * std::f64::consts::PI * freq * k as f64 * t).sin() / k as f64)
                    .sum::<f64>() as f32
                    * 0.3
            })
            .collect();
        let mut out = Candidates::default();
        yin.analyze(&frame, 22, 1103, &mut out);
        out
    }

    #[test]
    fn beta_cdf_is_a_cdf() {
        assert!((beta_2_18_cdf(0.0)).abs() < 1e-12);
        assert!((beta_2_18_cdf(1.0) - 1.0).abs() < 1e-12);
        // Mean of Beta(2, 18) is 0.1; the median is a bit below.
        assert!(beta_2_18_cdf(0.1) > 0.5 && beta_2_18_cdf(0.05) < 0.5);
    }

    #[test]
    fn a_harmonic_tone_has_its_period_as_the_most_probable_candidate() {
        for freq in [55.0, 110.0, 220.0, 440.0, 880.0, 1500.0] {
            let c = analyze_tone(freq, 8);
            let best = c
                .as_slice()
                .iter()
                .max_by(|a, b| a.probability.total_cmp(&b.probability))
                .unwrap();
            let cents = 1200.0 * (best.frequency_hz as f64 / freq).log2();
            assert!(cents.abs() < 2.0, "{freq} Hz: {cents} cents");
            assert!(
                c.voiced_probability > 0.9,
                "{freq}: {}",
                c.voiced_probability
            );
        }
    }

    #[test]
    fn silence_has_no_candidates() {
        let mut yin = Yin::default();
        yin.prepare(44_100.0, 882, 1103);
        let frame = vec![0.0; yin.frame_len()];
        let mut out = Candidates::default();
        yin.analyze(&frame, 22, 1103, &mut out);
        assert_eq!(out.len, 0);
        assert_eq!(out.voiced_probability, 0.0);
    }

    #[test]
    fn fft_lengths_are_smooth() {
        assert_eq!(smooth_fft_len(1987), 2000);
        assert_eq!(smooth_fft_len(2048), 2048);
        assert_eq!(smooth_fft_len(7), 8);
        assert_eq!(fft_len_for(1767), 2048);
        assert_eq!(fft_len_for(2100), 2160);
    }
}
