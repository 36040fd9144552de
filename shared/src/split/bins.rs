//! Running the 44.1 kHz model at other sample rates, by mapping frequency bins.
//!
//! The method (no time-domain resampling, so the latency stays an exact, fixed number of
//! samples): the engine's STFT length at sample rate `sr` is `1024 · 2^round(log2(sr /
//! 44100))`, so a frame always lasts 21–30 ms and its hop 5–7 ms, as in training. Each model
//! bin `j` (at `j · 44100 / 1024` Hz) reads the host spectrum's magnitude at the same
//! frequency by linear interpolation, scaled by `1024 / n` (a Hann-windowed sinusoid's peak
//! grows with the window length); model bins above the host's Nyquist read 0. The masks
//! come back the same way: each host bin takes the model's masks at its frequency by
//! linear interpolation, and host bins above 22.05 kHz go to "other". At 44.1, 88.2 and
//! 176.4 kHz the bins coincide and the maps are exact copies.

use super::{MODEL_BINS, MODEL_FFT, MODEL_SAMPLE_RATE, NUM_STEMS};

/// The engine's FFT length at `sample_rate` (a power of two).
pub fn fft_len_for_rate(sample_rate: f32) -> usize {
    let ratio = (sample_rate / MODEL_SAMPLE_RATE).max(1e-3);
    let octaves = ratio.log2().round().clamp(-4.0, 4.0) as i32;
    if octaves >= 0 {
        MODEL_FFT << octaves
    } else {
        (MODEL_FFT >> (-octaves)).max(64)
    }
}

/// A linear-interpolation tap: `(1 - frac) · x[index] + frac · x[index + 1]`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tap {
    index: usize,
    frac: f32,
    /// False: the source frequency is out of range (read 0 / route to "other").
    valid: bool,
}

fn taps(num_out: usize, num_in: usize, out_hz_per_bin: f64, in_hz_per_bin: f64) -> Vec<Tap> {
    (0..num_out)
        .map(|j| {
            let pos = j as f64 * out_hz_per_bin / in_hz_per_bin;
            let last = (num_in - 1) as f64;
            if pos > last + 1e-9 {
                Tap::default()
            } else {
                let index = (pos.floor() as usize).min(num_in - 1);
                let frac = if index + 1 < num_in {
                    (pos - index as f64) as f32
                } else {
                    0.0
                };
                // Snap float noise so the identity map is an exact copy.
                let frac = if frac < 1e-6 { 0.0 } else { frac };
                Tap {
                    index,
                    frac,
                    valid: true,
                }
            }
        })
        .collect()
}

/// The two maps between a host STFT and the model's bins. Built at `prepare`.
#[derive(Debug, Clone, Default)]
pub struct BinMap {
    host_bins: usize,
    scale: f32,
    to_model: Vec<Tap>,
    to_host: Vec<Tap>,
}

impl BinMap {
    /// Maps for a host STFT of `n` samples at `sample_rate`. Allocates.
    pub fn new(sample_rate: f32, n: usize) -> Self {
        let host_bins = n / 2 + 1;
        let host_hz = sample_rate as f64 / n as f64;
        let model_hz = MODEL_SAMPLE_RATE as f64 / MODEL_FFT as f64;
        Self {
            host_bins,
            scale: MODEL_FFT as f32 / n as f32,
            to_model: taps(MODEL_BINS, host_bins, model_hz, host_hz),
            to_host: taps(host_bins, MODEL_BINS, host_hz, model_hz),
        }
    }

    /// Host bins per frame.
    pub fn host_bins(&self) -> usize {
        self.host_bins
    }

    /// Host magnitudes (`host_bins`) → model magnitudes (513). Never allocates.
    pub fn magnitudes_to_model(&self, host: &[f32], model: &mut [f32]) {
        for (m, t) in model.iter_mut().zip(&self.to_model) {
            *m = if t.valid {
                let a = host[t.index];
                let b = if t.frac > 0.0 { host[t.index + 1] } else { a };
                (a + t.frac * (b - a)) * self.scale
            } else {
                0.0
            };
        }
    }

    /// Model masks (stem-major, 3 × 513) → host masks (stem-major, 3 × `host_bins`); host
    /// bins above the model's range go to the last stem ("other"). Never allocates.
    pub fn masks_to_host(&self, model: &[f32], host: &mut [f32]) {
        let hb = self.host_bins;
        for (i, t) in self.to_host.iter().enumerate() {
            for s in 0..NUM_STEMS {
                let src = &model[s * MODEL_BINS..(s + 1) * MODEL_BINS];
                host[s * hb + i] = if t.valid {
                    let a = src[t.index];
                    let b = if t.frac > 0.0 { src[t.index + 1] } else { a };
                    a + t.frac * (b - a)
                } else if s == NUM_STEMS - 1 {
                    1.0
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_lengths_keep_frames_near_23_ms() {
        for (sr, n) in [
            (8_000.0, 256),
            (11_025.0, 256),
            (16_000.0, 512),
            (22_050.0, 512),
            (44_100.0, 1024),
            (48_000.0, 1024),
            (88_200.0, 2048),
            (96_000.0, 2048),
            (192_000.0, 4096),
        ] {
            assert_eq!(fft_len_for_rate(sr), n, "{sr}");
            let ms = n as f32 / sr * 1000.0;
            assert!((18.0..=33.0).contains(&ms), "{sr}: {ms} ms");
        }
    }

    #[test]
    fn identity_at_model_rate_and_its_octaves() {
        for (sr, n) in [(44_100.0, 1024), (88_200.0, 2048)] {
            let map = BinMap::new(sr, n);
            let host: Vec<f32> = (0..n / 2 + 1).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut model = vec![0.0; MODEL_BINS];
            map.magnitudes_to_model(&host, &mut model);
            let scale = 1024.0 / n as f32;
            for j in 0..MODEL_BINS {
                assert_eq!(model[j], host[j] * scale, "{sr} bin {j}");
            }
            let masks: Vec<f32> = (0..3 * MODEL_BINS).map(|i| (i % 7) as f32 / 7.0).collect();
            let mut back = vec![0.0; 3 * (n / 2 + 1)];
            map.masks_to_host(&masks, &mut back);
            let hb = n / 2 + 1;
            for s in 0..3 {
                for i in 0..hb {
                    let want = if i < MODEL_BINS {
                        masks[s * MODEL_BINS + i]
                    } else if s == 2 {
                        1.0
                    } else {
                        0.0
                    };
                    assert_eq!(back[s * hb + i], want, "{sr} stem {s} bin {i}");
                }
            }
        }
    }

    #[test]
    fn masks_that_sum_to_one_still_do_at_48k() {
        let map = BinMap::new(48_000.0, 1024);
        let mut masks = vec![0.0; 3 * MODEL_BINS];
        for j in 0..MODEL_BINS {
            let a = (j as f32 * 0.1).sin().abs();
            let b = (j as f32 * 0.07).cos().abs();
            let sum = a + b + 0.5;
            masks[j] = a / sum;
            masks[MODEL_BINS + j] = b / sum;
            masks[2 * MODEL_BINS + j] = 0.5 / sum;
        }
        let mut host = vec![0.0; 3 * 513];
        map.masks_to_host(&masks, &mut host);
        for i in 0..513 {
            let s = host[i] + host[513 + i] + host[1026 + i];
            assert!((s - 1.0).abs() < 1e-5, "bin {i}: {s}");
        }
        // 48 kHz has bins above 22.05 kHz: those are "other".
        assert_eq!(host[512], 0.0);
        assert_eq!(host[1026 + 512], 1.0);
    }
}
