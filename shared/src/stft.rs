//! STFT analysis and overlap-add synthesis on `realfft`, with every FFT plan and scratch
//! buffer made in `prepare`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::framing::FrameRing;
use crate::{sanitize, Processor};

/// A periodic Hann window of length `n` (the COLA-friendly variant).
pub fn hann_periodic(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let phase = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            (0.5 - 0.5 * phase.cos()) as f32
        })
        .collect()
}

/// Windowed forward FFT of a real frame to a power spectrum.
#[derive(Default)]
pub struct SpectrumAnalyzer {
    n: usize,
    window: Vec<f32>,
    fft: Option<Arc<dyn RealToComplex<f32>>>,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Scales |X|² so that a full-scale sine at a bin centre gives a peak of 0.25 (A²/4).
    power_scale: f32,
}

impl SpectrumAnalyzer {
    /// Plans an FFT of `n` samples with a periodic Hann window. Not real-time safe.
    pub fn prepare(&mut self, n: usize) {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(n);
        self.input = fft.make_input_vec();
        self.spectrum = fft.make_output_vec();
        self.scratch = fft.make_scratch_vec();
        self.window = hann_periodic(n);
        let window_sum: f32 = self.window.iter().sum();
        self.power_scale = 1.0 / (window_sum * window_sum);
        self.fft = Some(fft);
        self.n = n;
    }

    /// FFT length.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether `prepare` has not been called.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of bins (`n / 2 + 1`).
    pub fn num_bins(&self) -> usize {
        self.spectrum.len()
    }

    /// Computes the power spectrum of `frame` (length `n`) into `power` (length
    /// `num_bins()`). Never allocates.
    pub fn power(&mut self, frame: &[f32], power: &mut [f32]) {
        let Some(fft) = &self.fft else { return };
        for ((dst, &x), &w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *dst = x * w;
        }
        // NOTE: the only error realfft reports is a length mismatch, excluded by construction.
        let _ = fft.process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch);
        for (p, c) in power.iter_mut().zip(&self.spectrum) {
            *p = sanitize::flush(c.norm_sqr() * self.power_scale);
        }
    }
}

/// Streaming STFT → user spectral processing → overlap-add resynthesis, for any number of
/// channels and any number of output signals per channel (e.g. harmonic and percussive).
///
/// Periodic Hann analysis and synthesis windows at a hop of `n / 4` (overlap 75 %), which
/// satisfy the COLA condition for the squared window. Latency is exactly `n` samples: a frame
/// is transformed once its last sample has arrived, and its first sample leaves `n` samples
/// after it entered.
#[derive(Default)]
pub struct SpectralEngine {
    n: usize,
    hop: usize,
    num_channels: usize,
    num_outputs: usize,
    analysis_window: Vec<f32>,
    /// Synthesis window divided by the overlap-add gain.
    synthesis_window: Vec<f32>,
    forward: Option<Arc<dyn RealToComplex<f32>>>,
    inverse: Option<Arc<dyn ComplexToReal<f32>>>,
    /// Per channel: the input history of `n` samples, a frame every hop.
    input: FrameRing,
    /// Per output signal and channel (`out_idx * num_channels + ch`): overlap-add
    /// accumulator, in step with `input`'s ring position.
    accumulators: Vec<Vec<f32>>,
    time_buf: Vec<f32>,
    scratch_fwd: Vec<Complex<f32>>,
    scratch_inv: Vec<Complex<f32>>,
    /// Per channel: the analysed spectrum of the current frame.
    in_spectra: Vec<Vec<Complex<f32>>>,
    /// Per output and channel: the spectrum to resynthesise.
    out_spectra: Vec<Vec<Complex<f32>>>,
}

impl SpectralEngine {
    /// Allocates for `num_channels` channels and `num_outputs` output signals with an FFT
    /// of `n` samples (a power of two ≥ 16; another `n` is rounded up to one). Not real-time
    /// safe.
    pub fn prepare(&mut self, n: usize, num_channels: usize, num_outputs: usize) {
        let n = n.max(16).next_power_of_two();
        let num_channels = num_channels.max(1);
        let num_outputs = num_outputs.max(1);
        let hop = n / 4;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        self.analysis_window = hann_periodic(n);
        // Overlap-add gain of analysis × synthesis windows (1.5 for Hann² at 75 % overlap),
        // and the 1/n of the unnormalised inverse FFT.
        let ola_gain: f32 = (0..n / hop)
            .map(|k| self.analysis_window[k * hop].powi(2))
            .sum();
        self.synthesis_window = self
            .analysis_window
            .iter()
            .map(|w| w / (ola_gain * n as f32))
            .collect();
        self.time_buf = forward.make_input_vec();
        self.scratch_fwd = forward.make_scratch_vec();
        self.scratch_inv = inverse.make_scratch_vec();
        self.in_spectra = (0..num_channels)
            .map(|_| forward.make_output_vec())
            .collect();
        self.out_spectra = (0..num_channels * num_outputs)
            .map(|_| forward.make_output_vec())
            .collect();
        self.input.prepare(n, hop, num_channels);
        self.accumulators = vec![vec![0.0; n]; num_channels * num_outputs];
        self.forward = Some(forward);
        self.inverse = Some(inverse);
        self.n = n;
        self.hop = hop;
        self.num_channels = num_channels;
        self.num_outputs = num_outputs;
        self.reset();
    }

    /// Zeroes all history. Real-time safe.
    pub fn reset(&mut self) {
        self.input.reset();
        self.accumulators.iter_mut().for_each(|r| r.fill(0.0));
    }

    /// FFT length (= latency in samples).
    pub fn fft_len(&self) -> usize {
        self.n
    }

    /// Hop between frames in samples.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Number of bins per spectrum.
    pub fn num_bins(&self) -> usize {
        self.n / 2 + 1
    }

    /// Latency in samples.
    pub fn latency_samples(&self) -> usize {
        self.n
    }

    /// Processes one block. `inputs[ch]` are the input channels and
    /// `outputs[o * num_channels + ch]` the output signals (all the same length as the
    /// inputs; extra channels are ignored, missing ones read as silence). For every hop,
    /// `modify(in_spectra, out_spectra)` is called with the analysed spectrum of each
    /// channel and must fill every output spectrum. Never allocates.
    pub fn process(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        mut modify: impl FnMut(&[Vec<Complex<f32>>], &mut [Vec<Complex<f32>>]),
    ) {
        if self.n == 0 {
            return;
        }
        let len = outputs.iter().map(|o| o.len()).min().unwrap_or(0);
        for sample_idx in 0..len {
            let pos = self.input.position();
            for (out_idx, acc) in self.accumulators.iter_mut().enumerate() {
                let y = acc[pos];
                acc[pos] = 0.0;
                if let Some(out) = outputs.get_mut(out_idx) {
                    out[sample_idx] = y;
                }
            }
            let frame_done = self.input.push(|ch| {
                let x = inputs.get(ch).and_then(|c| c.get(sample_idx));
                sanitize::input_sample(x.copied().unwrap_or(0.0))
            });
            if frame_done {
                self.process_frame(&mut modify);
            }
        }
    }

    fn process_frame(
        &mut self,
        modify: &mut impl FnMut(&[Vec<Complex<f32>>], &mut [Vec<Complex<f32>>]),
    ) {
        let (Some(forward), Some(inverse)) = (&self.forward, &self.inverse) else {
            return;
        };
        let n = self.n;
        for ch in 0..self.num_channels {
            self.input
                .window_frame(ch, &self.analysis_window, &mut self.time_buf);
            let _ = forward.process_with_scratch(
                &mut self.time_buf,
                &mut self.in_spectra[ch],
                &mut self.scratch_fwd,
            );
        }
        modify(&self.in_spectra, &mut self.out_spectra);
        for (out_idx, spectrum) in self.out_spectra.iter_mut().enumerate() {
            // The inverse real FFT requires purely real DC and Nyquist bins.
            if let Some(first) = spectrum.first_mut() {
                first.im = 0.0;
            }
            if let Some(last) = spectrum.last_mut() {
                last.im = 0.0;
            }
            let _ =
                inverse.process_with_scratch(spectrum, &mut self.time_buf, &mut self.scratch_inv);
            let acc = &mut self.accumulators[out_idx];
            // The frame's first sample is output next, at the ring's position.
            let pos = self.input.position();
            for i in 0..n {
                let j = (pos + i) % n;
                acc[j] = sanitize::flush(acc[j] + self.time_buf[i] * self.synthesis_window[i]);
            }
        }
    }
}

/// The STFT identity: analysis followed by unmodified resynthesis. It exists to test the
/// engine's perfect reconstruction and latency through the conformance suite.
#[derive(Default)]
pub struct StftIdentity {
    engine: SpectralEngine,
}

impl StftIdentity {
    /// Processes planar channels, writing the delayed reconstruction into `outputs`.
    pub fn process(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        self.engine.process(inputs, outputs, |input, output| {
            for (o, i) in output.iter_mut().zip(input) {
                o.copy_from_slice(i);
            }
        });
    }
}

impl Processor for StftIdentity {
    type Frame = ();
    fn num_outputs(num_channels: usize) -> usize {
        num_channels
    }
    fn process(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        _: &mut dyn FnMut(usize, &()),
    ) {
        StftIdentity::process(self, inputs, outputs);
    }

    fn prepare(&mut self, sample_rate: f32, _max_block: usize, num_channels: usize) {
        let n = fft_len_for(crate::sanitize_sample_rate(sample_rate), 0.046);
        self.engine.prepare(n, num_channels, 1);
    }

    fn reset(&mut self) {
        self.engine.reset();
    }

    fn latency_samples(&self) -> usize {
        self.engine.latency_samples()
    }
}

/// The power of two closest (in log terms) to `seconds` at `sample_rate`, at least 256.
pub fn fft_len_for(sample_rate: f32, seconds: f32) -> usize {
    let target = (sample_rate * seconds).max(256.0);
    let exponent = target.log2().round() as u32;
    1usize << exponent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_periodic_hann_at_quarter_hop_is_cola() {
        for n in [64usize, 1024, 4096] {
            let w = hann_periodic(n);
            let hop = n / 4;
            let sums: Vec<f32> = (0..hop)
                .map(|j| (0..4).map(|k| w[j + k * hop].powi(2)).sum())
                .collect();
            for s in sums {
                assert!((s - 1.5).abs() < 1e-5, "overlap-add sum {s} != 1.5");
            }
        }
    }

    #[test]
    fn identity_reconstructs_the_input_delayed_by_the_fft_length() {
        let mut engine = SpectralEngine::default();
        engine.prepare(256, 2, 1);
        let len = 4000;
        let left: Vec<f32> = (0..len)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let right: Vec<f32> = (0..len).map(|i| (i as f32 * 0.01).sin()).collect();
        let mut out_l = vec![0.0; len];
        let mut out_r = vec![0.0; len];
        engine.process(&[&left, &right], &mut [&mut out_l, &mut out_r], |i, o| {
            for (o, i) in o.iter_mut().zip(i) {
                o.copy_from_slice(i);
            }
        });
        let mut max_err: f32 = 0.0;
        for t in 256..len {
            max_err = max_err.max((out_l[t] - left[t - 256]).abs());
            max_err = max_err.max((out_r[t] - right[t - 256]).abs());
        }
        assert!(max_err < 1e-5, "reconstruction error {max_err}");
        assert!(out_l[..256].iter().all(|&x| x.abs() < 1e-6));
    }

    #[test]
    fn power_of_a_bin_centred_full_scale_sine_is_a_quarter() {
        let mut analyzer = SpectrumAnalyzer::default();
        analyzer.prepare(1024);
        let frame: Vec<f32> = (0..1024)
            .map(|i| (2.0 * std::f32::consts::PI * 32.0 * i as f32 / 1024.0).sin())
            .collect();
        let mut power = vec![0.0; analyzer.num_bins()];
        analyzer.power(&frame, &mut power);
        assert!((power[32] - 0.25).abs() < 1e-3, "{}", power[32]);
    }
}
