//! Semitone pitch filterbank (A0..C8) on a two-resolution STFT, tuning estimation and
//! chroma folding.

/// MIDI note of the lowest filterbank pitch (A0, 27.5 Hz at A4 = 440 Hz).
pub const LOWEST_PITCH: usize = 21;
/// Number of filterbank pitches, A0..C8.
pub const NUM_PITCHES: usize = 88;
/// Pitch-class names, C first, as used in CSV headers and labels.
pub const PITCH_CLASS_NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

/// Per-bin fractional MIDI pitch at A4 = 440 Hz for one FFT resolution.
#[derive(Debug, Default, Clone)]
pub struct BinPitches {
    /// `69 + 12 log2(f_k / 440)`, or `f32::NEG_INFINITY` for DC.
    pub pitch: Vec<f32>,
    /// Bin spacing in Hz.
    pub bin_hz: f32,
}

impl BinPitches {
    /// Precomputes bin pitches for an FFT of `n` at `sample_rate`.
    pub fn new(sample_rate: f32, n: usize) -> Self {
        let bin_hz = sample_rate / n as f32;
        let pitch = (0..=n / 2)
            .map(|k| {
                if k == 0 {
                    f32::NEG_INFINITY
                } else {
                    69.0 + 12.0 * (k as f32 * bin_hz / 440.0).log2()
                }
            })
            .collect();
        Self { pitch, bin_hz }
    }
}

/// Distributes power spectra onto semitone pitches with triangular filters one semitone wide
/// on the log-frequency axis, centred on the tuned equal-tempered grid.
///
/// Pitches at or above `split_pitch` come from the short FFT (better time resolution), lower
/// ones from the long FFT (better frequency resolution).
#[derive(Debug, Default, Clone)]
pub struct PitchFilterbank {
    long: BinPitches,
    short: BinPitches,
    /// MIDI pitch (at A440) from which the short FFT resolves semitones.
    split_pitch: f32,
}

impl PitchFilterbank {
    /// Precomputes the bin pitch tables. Not real-time safe.
    pub fn new(sample_rate: f32, n_long: usize, n_short: usize) -> Self {
        let long = BinPitches::new(sample_rate, n_long);
        let short = BinPitches::new(sample_rate, n_short);
        // Use the short FFT once a semitone is at least 1.2 of its bins wide:
        // f · (2^(1/12) − 1) ≥ 1.2 · Δf.
        let split_hz = 1.2 * short.bin_hz / (2f32.powf(1.0 / 12.0) - 1.0);
        let split_pitch = 69.0 + 12.0 * (split_hz / 440.0).log2();
        Self {
            long,
            short,
            split_pitch,
        }
    }

    /// Bin pitch table of the long FFT.
    pub fn long_bins(&self) -> &BinPitches {
        &self.long
    }

    /// Bin spacing of the short FFT in Hz.
    pub fn short_bin_hz(&self) -> f32 {
        self.short.bin_hz
    }

    /// The pitch from which the short FFT is used.
    pub fn split_pitch(&self) -> f32 {
        self.split_pitch
    }

    /// Computes `pitch_energy[i]` for MIDI pitch `LOWEST_PITCH + i`. `shift_semitones` moves
    /// the grid (reference pitch and tuning). Never allocates.
    pub fn apply(
        &self,
        power_long: &[f32],
        power_short: &[f32],
        shift_semitones: f32,
        pitch_energy: &mut [f32; NUM_PITCHES],
    ) {
        pitch_energy.fill(0.0);
        let lo = LOWEST_PITCH as f32 - 1.0;
        let hi = (LOWEST_PITCH + NUM_PITCHES) as f32;
        let split = self.split_pitch;
        let mut spread = |q: f32, p: f32| {
            let below = q.floor();
            let frac = q - below;
            let idx = below as isize - LOWEST_PITCH as isize;
            if idx >= 0 && (idx as usize) < NUM_PITCHES {
                pitch_energy[idx as usize] += (1.0 - frac) * p;
            }
            let above = idx + 1;
            if above >= 0 && (above as usize) < NUM_PITCHES {
                pitch_energy[above as usize] += frac * p;
            }
        };
        for (&q440, &p) in self.long.pitch.iter().zip(power_long) {
            let q = q440 - shift_semitones;
            if q > lo && q < split.min(hi) {
                spread(q, p);
            }
        }
        for (&q440, &p) in self.short.pitch.iter().zip(power_short) {
            let q = q440 - shift_semitones;
            if q >= split && q < hi {
                spread(q, p);
            }
        }
    }
}

/// Running tuning estimate: the circular mean of spectral-peak deviations from the semitone
/// grid, weighted by peak magnitude, with exponential memory.
#[derive(Debug, Default, Clone)]
pub struct TuningEstimator {
    re: f32,
    im: f32,
    weight: f32,
    /// Per-frame decay of the memory.
    decay: f32,
}

/// Lowest and highest frequency (Hz) of the peaks used for tuning.
const TUNING_BAND_HZ: (f32, f32) = (80.0, 4000.0);
/// Memory of the tuning estimate in seconds.
const TUNING_MEMORY_S: f32 = 8.0;

impl TuningEstimator {
    /// Sets the memory for frames every `hop_s` seconds.
    pub fn prepare(&mut self, hop_s: f32) {
        self.decay = (-hop_s / TUNING_MEMORY_S).exp();
        self.reset();
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.re = 0.0;
        self.im = 0.0;
        self.weight = 0.0;
    }

    /// Updates from the long-FFT power spectrum. `reference_hz` is the A4 the deviation is
    /// measured against. Never allocates.
    pub fn update(&mut self, power: &[f32], bins: &BinPitches, reference_hz: f32) {
        self.re *= self.decay;
        self.im *= self.decay;
        self.weight *= self.decay;
        let k_lo = ((TUNING_BAND_HZ.0 / bins.bin_hz) as usize).max(2);
        let k_hi = ((TUNING_BAND_HZ.1 / bins.bin_hz) as usize).min(power.len().saturating_sub(2));
        if k_lo >= k_hi {
            return;
        }
        let max_power = power[k_lo..k_hi].iter().fold(0.0f32, |a, &b| a.max(b));
        // Ignore frames without clear peaks (−70 dBFS) and peaks 40 dB under the loudest.
        if max_power < 1e-7 {
            return;
        }
        let floor = max_power * 1e-4;
        let shift = 12.0 * (reference_hz / 440.0).log2();
        for k in k_lo..k_hi {
            let b = power[k];
            if b <= floor || b < power[k - 1] || b <= power[k + 1] {
                continue;
            }
            let (a, c) = (power[k - 1].max(1e-30).ln(), power[k + 1].max(1e-30).ln());
            let bl = b.ln();
            let denom = a - 2.0 * bl + c;
            let delta = if denom.abs() > 1e-12 {
                (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            let freq = (k as f32 + delta) * bins.bin_hz;
            let q = 69.0 + 12.0 * (freq / 440.0).log2() - shift;
            let deviation = q - q.round();
            let w = b.sqrt();
            let angle = 2.0 * std::f32::consts::PI * deviation;
            self.re += w * angle.cos();
            self.im += w * angle.sin();
            self.weight += w;
        }
        self.re = crate::sanitize::flush(self.re);
        self.im = crate::sanitize::flush(self.im);
        self.weight = crate::sanitize::flush(self.weight);
    }

    /// Estimated deviation of the music from the reference grid, in cents (−50..50).
    pub fn cents(&self) -> f32 {
        if self.weight <= 0.0 {
            return 0.0;
        }
        100.0 * self.im.atan2(self.re) / (2.0 * std::f32::consts::PI)
    }

    /// Concentration of the deviations, 0 (spread) to 1 (all peaks agree).
    pub fn confidence(&self) -> f32 {
        if self.weight <= 0.0 {
            return 0.0;
        }
        (self.re.hypot(self.im) / self.weight).clamp(0.0, 1.0)
    }
}

/// Folds log-compressed pitch energies into a 12-bin chroma, L2-normalised. Returns the total
/// pitch energy (linear). Chroma is all zeros below `silence_floor`.
pub fn fold_chroma(
    pitch_energy: &[f32; NUM_PITCHES],
    compression: f32,
    silence_floor: f32,
    chroma: &mut [f32; 12],
) -> f32 {
    chroma.fill(0.0);
    let total: f32 = pitch_energy.iter().sum();
    if total.partial_cmp(&silence_floor) != Some(std::cmp::Ordering::Greater) {
        return total.max(0.0);
    }
    // Compression is relative to the frame's strongest pitch, so the chroma does not depend
    // on the playback level: γ sets the dynamic range that counts (γ = 30 ≈ 15 dB).
    let peak = pitch_energy.iter().fold(0.0f32, |a, &b| a.max(b));
    let scale = compression / peak;
    for (i, &e) in pitch_energy.iter().enumerate() {
        chroma[(LOWEST_PITCH + i) % 12] += (1.0 + scale * e).ln();
    }
    normalize(chroma);
    total
}

/// L2-normalises in place (leaves an all-zero vector alone).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bin_exactly_on_a4_goes_to_pitch_69_only() {
        let fb = PitchFilterbank::new(44_100.0, 8192, 4096);
        let short = BinPitches::new(44_100.0, 4096);
        // Find the bin closest to 440 Hz and build a spectrum with only that bin.
        let k = (440.0 / short.bin_hz).round() as usize;
        let mut p_short = vec![0.0; 2049];
        p_short[k] = 1.0;
        let p_long = vec![0.0; 4097];
        let mut energy = [0.0; NUM_PITCHES];
        // Shift the grid so that bin k sits exactly on A4.
        let shift = short.pitch[k] - 69.0;
        fb.apply(&p_long, &p_short, shift, &mut energy);
        assert!((energy[69 - LOWEST_PITCH] - 1.0).abs() < 1e-4);
        assert!(energy.iter().sum::<f32>() - 1.0 < 1e-4);
    }

    #[test]
    fn tuning_of_a_sharp_tone_is_measured_in_cents() {
        let sr = 44_100.0;
        let n = 8192;
        let mut analyzer = crate::stft::SpectrumAnalyzer::default();
        analyzer.prepare(n);
        let bins = BinPitches::new(sr, n);
        let mut tuning = TuningEstimator::default();
        tuning.prepare(0.023);
        let f0 = 440.0 * 2f32.powf(20.0 / 1200.0); // +20 cents
        let frame: Vec<f32> = (0..n)
            .map(|i| {
                (1..=4)
                    .map(|h| {
                        (2.0 * std::f32::consts::PI * f0 * h as f32 * i as f32 / sr).sin()
                            / h as f32
                    })
                    .sum()
            })
            .collect();
        let mut power = vec![0.0; n / 2 + 1];
        analyzer.power(&frame, &mut power);
        tuning.update(&power, &bins, 440.0);
        assert!((tuning.cents() - 20.0).abs() < 2.0, "{}", tuning.cents());
        tuning.reset();
        tuning.update(&power, &bins, 442.0);
        let expected = 20.0 - 1200.0 * (442.0f32 / 440.0).log2();
        assert!(
            (tuning.cents() - expected).abs() < 2.0,
            "{}",
            tuning.cents()
        );
    }
}
