//! Streaming harmonic/percussive separation by median filtering (FitzGerald 2010), with
//! soft Wiener-like masks (Driedger, Müller & Disch 2014 use the same two medians).
//!
//! Harmonic sounds are smooth along time, percussive ones along frequency. Per bin, the
//! median over the last `len_h` frames estimates the harmonic part; per frame, the median
//! over `len_p` neighbouring bins estimates the percussive part. A causal median lags, so
//! the target frame may be delayed by `lookahead_frames` (≤ `len_h - 1`), which is the
//! processor's extra latency in hops.

use realfft::num_complex::Complex;

use crate::stft::{fft_len_for, SpectralEngine};
use crate::Processor;

/// Median-filter HPSS on magnitude frames.
#[derive(Debug, Default, Clone)]
pub struct MedianHpss {
    num_bins: usize,
    len_h: usize,
    len_p: usize,
    lookahead_frames: usize,
    /// `len_h` magnitude frames, circular (frame-major).
    history: Vec<f32>,
    newest: usize,
    scratch: Vec<f32>,
    /// Harmonic mask of the target frame, per bin, 0..=1.
    mask: Vec<f32>,
}

impl MedianHpss {
    /// Allocates. `len_h` (odd, ≥ 1) frames along time, `len_p` (odd) bins along frequency.
    pub fn prepare(
        &mut self,
        num_bins: usize,
        len_h: usize,
        len_p: usize,
        lookahead_frames: usize,
    ) {
        // Lengths of at least 1, and a look-ahead inside the time window.
        let (len_h, len_p) = (len_h.max(1), len_p.max(1));
        let lookahead_frames = lookahead_frames.min(len_h - 1);
        self.num_bins = num_bins;
        self.len_h = len_h;
        self.len_p = len_p;
        self.lookahead_frames = lookahead_frames;
        self.history = vec![0.0; num_bins * len_h];
        self.scratch = vec![0.0; len_h.max(len_p)];
        self.mask = vec![1.0; num_bins];
        self.reset();
    }

    /// Zeroes the history. Real-time safe.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.mask.fill(1.0);
        self.newest = 0;
    }

    /// Frames between the newest input and the frame the mask refers to.
    pub fn lookahead_frames(&self) -> usize {
        self.lookahead_frames
    }

    /// Pushes the newest magnitude frame (at least `num_bins` long) and computes the
    /// harmonic mask of the frame `lookahead_frames` ago. Never allocates.
    pub fn push(&mut self, magnitude: &[f32]) -> &[f32] {
        let bins = self.num_bins;
        if bins == 0 {
            return &self.mask;
        }
        self.newest = (self.newest + 1) % self.len_h;
        let start = self.newest * bins;
        self.history[start..start + bins].copy_from_slice(&magnitude[..bins]);
        let target = (self.newest + self.len_h - self.lookahead_frames) % self.len_h;
        let target_frame = target * bins;
        let half_p = self.len_p / 2;
        for k in 0..bins {
            // Harmonic: median along time.
            let h = {
                let s = &mut self.scratch[..self.len_h];
                for (f, slot) in s.iter_mut().enumerate() {
                    *slot = self.history[f * bins + k];
                }
                median(s)
            };
            // Percussive: median along frequency in the target frame (edges shrink the
            // window symmetrically so the estimate stays centred).
            let reach = half_p.min(k).min(bins - 1 - k);
            let p = {
                let frame = &self.history[target_frame..target_frame + bins];
                let width = 2 * reach + 1;
                let s = &mut self.scratch[..width];
                s.copy_from_slice(&frame[k - reach..=k + reach]);
                median(s)
            };
            let h2 = h * h;
            let p2 = p * p;
            let denom = h2 + p2;
            self.mask[k] = if denom > 1e-24 { h2 / denom } else { 0.5 };
        }
        &self.mask
    }

    /// The harmonic mask computed by the last [`push`](Self::push).
    pub fn mask(&self) -> &[f32] {
        &self.mask
    }
}

/// Median of a small slice (reorders it). Never allocates. Lengths 3, 5 and 9 use
/// branch-light exchange networks (the HPSS hot path); others a selection.
fn median(values: &mut [f32]) -> f32 {
    match values.len() {
        3 => return median3(values[0], values[1], values[2]),
        5 => return median5(values),
        9 => return median9(values),
        _ => {}
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

#[inline]
fn sort2(v: &mut [f32], a: usize, b: usize) {
    let (x, y) = (v[a], v[b]);
    v[a] = x.min(y);
    v[b] = x.max(y);
}

#[inline]
fn median3(a: f32, b: f32, c: f32) -> f32 {
    a.max(b).min(a.min(b).max(c))
}

/// Median of 5 by a 7-exchange network (NaN-free input assumed: magnitudes are sanitised).
fn median5(v: &mut [f32]) -> f32 {
    sort2(v, 0, 1);
    sort2(v, 3, 4);
    sort2(v, 0, 3);
    sort2(v, 1, 4);
    sort2(v, 1, 2);
    sort2(v, 2, 3);
    sort2(v, 1, 2);
    v[2]
}

/// Median of 9 by Paeth's 19-exchange network.
fn median9(v: &mut [f32]) -> f32 {
    const NET: [(usize, usize); 19] = [
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 1),
        (3, 4),
        (6, 7),
        (1, 2),
        (4, 5),
        (7, 8),
        (0, 3),
        (5, 8),
        (4, 7),
        (3, 6),
        (1, 4),
        (2, 5),
        (4, 7),
        (4, 2),
        (6, 4),
        (4, 2),
    ];
    for (a, b) in NET {
        sort2(v, a, b);
    }
    v[4]
}

/// Streaming audio HPSS: splits every input channel into a harmonic and a percussive
/// signal that sum to the input delayed by [`latency_samples`](Processor::latency_samples).
///
/// FFT ≈ 46 ms (2048 at 44.1 kHz), hop a quarter of that, a 9-frame time median centred
/// with a 4-frame lookahead, and a 17-bin frequency median. Outputs are laid out as
/// `[harmonic ch0, harmonic ch1, …, percussive ch0, percussive ch1, …]`.
#[derive(Default)]
pub struct HpssSeparator {
    engine: SpectralEngine,
    hpss: MedianHpss,
    num_channels: usize,
    magnitude: Vec<f32>,
    /// Per channel, `lookahead + 1` delayed complex spectra (circular).
    delay: Vec<Vec<Vec<Complex<f32>>>>,
    delay_idx: usize,
}

/// Time-median length of [`HpssSeparator`] in frames.
pub const HPSS_LEN_H: usize = 9;
/// Frequency-median length of [`HpssSeparator`] in bins.
pub const HPSS_LEN_P: usize = 17;
/// Lookahead of [`HpssSeparator`] in frames (centres the time median).
pub const HPSS_LOOKAHEAD: usize = 4;

impl HpssSeparator {
    /// Processes a block; `outputs` holds `2 * num_channels` slices (see the type docs).
    /// Never allocates.
    pub fn process(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        let num_channels = self.num_channels;
        let hpss = &mut self.hpss;
        let magnitude = &mut self.magnitude;
        let delay = &mut self.delay;
        let delay_idx = &mut self.delay_idx;
        self.engine.process(inputs, outputs, |spectra, out| {
            let depth = HPSS_LOOKAHEAD + 1;
            magnitude.fill(0.0);
            for spectrum in spectra.iter().take(num_channels) {
                for (m, c) in magnitude.iter_mut().zip(spectrum) {
                    *m += c.norm();
                }
            }
            for (ch, spectrum) in spectra.iter().take(num_channels).enumerate() {
                delay[ch][*delay_idx].copy_from_slice(spectrum);
            }
            let mask = hpss.push(magnitude);
            // The target frame is HPSS_LOOKAHEAD frames old: the next slot to be overwritten.
            let target = (*delay_idx + 1) % depth;
            for ch in 0..num_channels {
                let source = &delay[ch][target];
                let (harmonic, percussive) = out.split_at_mut(num_channels);
                for (k, &c) in source.iter().enumerate() {
                    harmonic[ch][k] = c * mask[k];
                    percussive[ch][k] = c * (1.0 - mask[k]);
                }
            }
            *delay_idx = (*delay_idx + 1) % depth;
        });
    }

    /// Number of channels prepared.
    pub fn num_channels(&self) -> usize {
        self.num_channels
    }
}

impl Processor for HpssSeparator {
    type Frame = ();
    fn num_outputs(num_channels: usize) -> usize {
        2 * num_channels
    }
    fn process(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        _: &mut dyn FnMut(usize, &()),
    ) {
        HpssSeparator::process(self, inputs, outputs);
    }

    fn prepare(&mut self, sample_rate: f32, _max_block: usize, num_channels: usize) {
        let n = fft_len_for(crate::sanitize_sample_rate(sample_rate), 0.046);
        let num_channels = num_channels.max(1);
        self.engine.prepare(n, num_channels, 2);
        let bins = self.engine.num_bins();
        self.hpss
            .prepare(bins, HPSS_LEN_H, HPSS_LEN_P, HPSS_LOOKAHEAD);
        self.magnitude = vec![0.0; bins];
        self.delay = (0..num_channels)
            .map(|_| vec![vec![Complex::new(0.0, 0.0); bins]; HPSS_LOOKAHEAD + 1])
            .collect();
        self.num_channels = num_channels;
        self.reset();
    }

    fn reset(&mut self) {
        self.engine.reset();
        self.hpss.reset();
        for channel in &mut self.delay {
            for frame in channel {
                frame.fill(Complex::new(0.0, 0.0));
            }
        }
        self.delay_idx = 0;
    }

    fn latency_samples(&self) -> usize {
        self.engine.latency_samples() + HPSS_LOOKAHEAD * self.engine.hop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_slices() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [5.0]), 5.0);
    }

    #[test]
    fn median_networks_agree_with_sorting() {
        let mut rng = crate::synth::XorShift::new(3);
        for len in [3usize, 5, 7, 9, 17] {
            for _ in 0..2000 {
                let mut v: Vec<f32> = (0..len).map(|_| rng.next_f32()).collect();
                let mut sorted = v.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                assert_eq!(median(&mut v), sorted[len / 2], "len {len}");
            }
        }
    }

    #[test]
    fn steady_tone_is_harmonic_and_a_click_is_percussive() {
        let mut hpss = MedianHpss::default();
        hpss.prepare(64, 5, 9, 0);
        let mut tone = vec![0.0; 64];
        tone[10] = 1.0;
        for _ in 0..5 {
            hpss.push(&tone);
        }
        assert!(hpss.mask()[10] > 0.99);
        let click = vec![1.0; 64];
        hpss.push(&click);
        // A broadband frame arriving after silence in most bins: percussive.
        assert!(hpss.mask()[40] < 0.01, "{}", hpss.mask()[40]);
    }
}
