//! NNLS approximate transcription, per frame (the idea behind Chordino: Mauch & Dixon,
//! "Approximate note transcription for the improved identification of difficult chords",
//! ISMIR 2010).
//!
//! A tuned log-frequency magnitude spectrum with three bins per semitone is whitened (each bin
//! relative to its neighbourhood's mean and spread, so broadband drum energy and the spectral
//! tilt fall away) and explained as a non-negative sum of note profiles, each a fundamental
//! with 20 partials decaying geometrically. The activations of the 84 notes A0–G#7 fold into
//! a **bass** chroma (low notes, which pick the root and the inversion) and a **treble**
//! chroma (the middle of the keyboard). The partials a filterbank chroma folds onto the fifth
//! and the major third of every note are explained by the profiles instead.
//!
//! Everything is allocated in [`NoteTranscriber::new`]; [`NoteTranscriber::transcribe`] never
//! allocates and costs about 0.2 M multiply-adds per frame.

/// MIDI note of the lowest transcribed note (A0).
pub const LOWEST_NOTE: usize = 21;
/// Notes transcribed, A0..G#7.
pub const NUM_NOTES: usize = 84;
/// Log-spectrum bins per semitone.
const BINS_PER_SEMITONE: usize = 3;
/// Pitch (at the tuned grid) of log bin 0: one semitone below A0.
const LOG_LOWEST_PITCH: f32 = LOWEST_NOTE as f32 - 1.0;
/// Log bins: up to pitch 108.67 (≈ 4.3 kHz at A440), within the analysed band.
const LOG_BINS: usize = 267;
/// Partials per note profile, and their amplitude decay per partial.
const PARTIALS: usize = 20;
const PARTIAL_DECAY: f32 = 0.7;
/// Half-width in log bins of the whitening neighbourhood: a Hamming window half an octave
/// long (Chordino's).
const WHITEN_HALF_WIDTH: usize = 9;
const WHITEN_LEN: usize = 2 * WHITEN_HALF_WIDTH + 1;
/// Coordinate-descent sweeps per frame, and the relative change that ends them early.
const SWEEPS: usize = 20;
const TOLERANCE: f32 = 1e-4;

/// One power spectrum and its bin spacing.
#[derive(Debug, Clone, Copy)]
pub struct Spectrum<'a> {
    /// Power per bin, DC first (may be shorter than the FFT's half spectrum).
    pub power: &'a [f32],
    /// Bin spacing in Hz.
    pub bin_hz: f32,
}

/// Weight of note `midi` in the bass chroma: a raised cosine over A0..A3 peaking at D#2/E2
/// (Chordino's bass window).
pub fn bass_weight(midi: usize) -> f32 {
    raised_cosine(midi as f32, LOWEST_NOTE as f32 - 0.5, 57.5)
}

/// Weight of note `midi` in the treble chroma: a raised cosine over the 84 notes peaking at
/// D4/D#4 (Chordino's treble window).
pub fn treble_weight(midi: usize) -> f32 {
    raised_cosine(
        midi as f32,
        LOWEST_NOTE as f32 - 0.5,
        (LOWEST_NOTE + NUM_NOTES) as f32 - 0.5,
    )
}

fn raised_cosine(x: f32, lo: f32, hi: f32) -> f32 {
    if x <= lo || x >= hi {
        0.0
    } else {
        0.5 - 0.5 * (2.0 * std::f32::consts::PI * (x - lo) / (hi - lo)).cos()
    }
}

/// What the NNLS front end made of one frame: the note activations and their bass and treble
/// chroma (not normalised, so their level is kept). The learned chord layer's input, and the
/// chord recipe's features (`prism chroma --features`, `bundle/models/chord/`).
#[derive(Debug, Clone, Copy)]
pub struct NoteEvidence {
    /// Bass chroma, C first.
    pub bass: [f32; 12],
    /// Treble chroma, C first.
    pub treble: [f32; 12],
    /// Note activations, A0 ([`LOWEST_NOTE`]) first.
    pub activations: [f32; NUM_NOTES],
    /// Level of the frame's pitch energy, dB (as [`crate::analyzer::ChromaFrame::level_db`]).
    pub level_db: f32,
    /// Below the analyser's level floor.
    pub silent: bool,
}

impl Default for NoteEvidence {
    fn default() -> Self {
        Self {
            bass: [0.0; 12],
            treble: [0.0; 12],
            activations: [0.0; NUM_NOTES],
            level_db: -120.0,
            silent: true,
        }
    }
}

/// The per-frame NNLS note transcriber.
#[derive(Debug, Clone)]
pub struct NoteTranscriber {
    /// Unit-norm note profiles, `NUM_NOTES` rows of `LOG_BINS`.
    profiles: Vec<f32>,
    /// First and one-past-last nonzero bin of each profile.
    support: Vec<(usize, usize)>,
    /// Gram matrix of the profiles, `NUM_NOTES²`.
    gram: Vec<f32>,
    log_spectrum: Vec<f32>,
    /// Local mean, then local spread, of the log spectrum.
    local_mean: Vec<f32>,
    deviation: Vec<f32>,
    whitened: Vec<f32>,
    whiten_window: [f32; WHITEN_LEN],
    correlation: Vec<f32>,
    gradient: Vec<f32>,
    activation: Vec<f32>,
}

impl Default for NoteTranscriber {
    fn default() -> Self {
        Self::new()
    }
}

impl NoteTranscriber {
    /// Builds the note profiles and their Gram matrix. Not real-time safe.
    pub fn new() -> Self {
        let mut profiles = vec![0.0f32; NUM_NOTES * LOG_BINS];
        let mut support = vec![(0, 0); NUM_NOTES];
        for note in 0..NUM_NOTES {
            let row = &mut profiles[note * LOG_BINS..(note + 1) * LOG_BINS];
            let pitch = (LOWEST_NOTE + note) as f32;
            for partial in 1..=PARTIALS {
                let at = (pitch + 12.0 * (partial as f32).log2() - LOG_LOWEST_PITCH)
                    * BINS_PER_SEMITONE as f32;
                let below = at.floor();
                let frac = at - below;
                let amplitude = PARTIAL_DECAY.powi(partial as i32 - 1);
                let k = below as usize;
                if k < LOG_BINS {
                    row[k] += (1.0 - frac) * amplitude;
                }
                if k + 1 < LOG_BINS {
                    row[k + 1] += frac * amplitude;
                }
            }
            crate::chroma::normalize(row);
            let first = row.iter().position(|&v| v > 0.0).unwrap_or(0);
            let last = row.iter().rposition(|&v| v > 0.0).map_or(0, |l| l + 1);
            support[note] = (first, last.max(first));
        }
        let mut gram = vec![0.0f32; NUM_NOTES * NUM_NOTES];
        for i in 0..NUM_NOTES {
            for j in 0..NUM_NOTES {
                let (a, b) = (
                    &profiles[i * LOG_BINS..(i + 1) * LOG_BINS],
                    &profiles[j * LOG_BINS..(j + 1) * LOG_BINS],
                );
                gram[i * NUM_NOTES + j] = a.iter().zip(b).map(|(x, y)| x * y).sum();
            }
        }
        Self {
            profiles,
            support,
            gram,
            log_spectrum: vec![0.0; LOG_BINS],
            local_mean: vec![0.0; LOG_BINS],
            deviation: vec![0.0; LOG_BINS],
            whitened: vec![0.0; LOG_BINS],
            whiten_window: std::array::from_fn(|i| {
                0.54 - 0.46
                    * (2.0 * std::f32::consts::PI * i as f32 / (WHITEN_LEN - 1) as f32).cos()
            }),
            correlation: vec![0.0; NUM_NOTES],
            gradient: vec![0.0; NUM_NOTES],
            activation: vec![0.0; NUM_NOTES],
        }
    }

    /// Transcribes one frame: `long` serves pitches below `split_pitch` (MIDI pitch at A440),
    /// `short` the rest; `shift_semitones` moves the grid (reference and tuning), as for
    /// [`crate::chroma::PitchFilterbank::apply`]. Returns the note activations, A0 first.
    /// Never allocates.
    pub fn transcribe(
        &mut self,
        long: Spectrum,
        short: Spectrum,
        split_pitch: f32,
        shift_semitones: f32,
    ) -> &[f32] {
        self.map_log_spectrum(long, short, split_pitch, shift_semitones);
        self.whiten();
        self.solve();
        &self.activation
    }

    /// The activations of the last frame.
    pub fn activations(&self) -> &[f32] {
        &self.activation
    }

    /// Folds the last activations into bass and treble chroma (C first, not normalised).
    pub fn bass_treble_chroma(&self, bass: &mut [f32; 12], treble: &mut [f32; 12]) {
        bass.fill(0.0);
        treble.fill(0.0);
        for (note, &a) in self.activation.iter().enumerate() {
            let midi = LOWEST_NOTE + note;
            bass[midi % 12] += bass_weight(midi) * a;
            treble[midi % 12] += treble_weight(midi) * a;
        }
    }

    /// Tuned log-frequency magnitude spectrum: at each bin's centre the larger of the
    /// interpolated magnitude (low bins, finer than the FFT's) and the largest FFT bin
    /// within the log bin (high bins, coarser than the FFT's).
    fn map_log_spectrum(&mut self, long: Spectrum, short: Spectrum, split: f32, shift: f32) {
        let half_bin = 1.0 / (2.0 * 12.0 * BINS_PER_SEMITONE as f32);
        let (down, up) = (2f32.powf(-half_bin), 2f32.powf(half_bin));
        for (i, out) in self.log_spectrum.iter_mut().enumerate() {
            let pitch = LOG_LOWEST_PITCH + i as f32 / BINS_PER_SEMITONE as f32 + shift;
            let spectrum = if pitch < split { long } else { short };
            let hz = 440.0 * 2f32.powf((pitch - 69.0) / 12.0);
            *out = magnitude_near(spectrum, hz, hz * down, hz * up);
        }
    }

    /// Each bin relative to its neighbourhood (Hamming-weighted, half an octave): `(x − mean)
    /// / std` where above the mean, else 0.
    fn whiten(&mut self) {
        let window = &self.whiten_window;
        local_average(&self.log_spectrum, window, &mut self.local_mean);
        for ((d, &x), &m) in self
            .deviation
            .iter_mut()
            .zip(&self.log_spectrum)
            .zip(&self.local_mean)
        {
            *d = (x - m) * (x - m);
        }
        // `whitened` holds the local variance for a moment.
        local_average(&self.deviation, window, &mut self.whitened);
        for ((out, &x), &mean) in self
            .whitened
            .iter_mut()
            .zip(&self.log_spectrum)
            .zip(&self.local_mean)
        {
            let std = out.sqrt();
            *out = if x > mean && std > 1e-9 && std.is_finite() {
                crate::sanitize::flush((x - mean) / std)
            } else {
                0.0
            };
        }
    }

    /// Non-negative least squares `min ‖P a − w‖², a ≥ 0` by coordinate descent on the Gram
    /// matrix, from zero.
    fn solve(&mut self) {
        for (note, c) in self.correlation.iter_mut().enumerate() {
            let (first, last) = self.support[note];
            let row = &self.profiles[note * LOG_BINS + first..note * LOG_BINS + last];
            *c = row
                .iter()
                .zip(&self.whitened[first..last])
                .map(|(p, w)| p * w)
                .sum();
        }
        self.activation.fill(0.0);
        for (g, &c) in self.gradient.iter_mut().zip(&self.correlation) {
            *g = -c;
        }
        if !self.correlation.iter().any(|&c| c > 0.0) {
            return;
        }
        for _ in 0..SWEEPS {
            let mut largest_step = 0.0f32;
            let mut largest = 0.0f32;
            for j in 0..NUM_NOTES {
                let column = &self.gram[j * NUM_NOTES..(j + 1) * NUM_NOTES];
                let next = (self.activation[j] - self.gradient[j] / column[j]).max(0.0);
                let step = next - self.activation[j];
                if step != 0.0 {
                    self.activation[j] = next;
                    for (g, &q) in self.gradient.iter_mut().zip(column) {
                        *g += step * q;
                    }
                    largest_step = largest_step.max(step.abs());
                }
                largest = largest.max(next);
            }
            if largest_step <= TOLERANCE * largest {
                break;
            }
        }
        for a in self.activation.iter_mut() {
            *a = crate::sanitize::flush(*a);
        }
    }
}

/// `out[i]`: the `window`-weighted mean of `x` around `i` (weights renormalised at the edges).
fn local_average(x: &[f32], window: &[f32; WHITEN_LEN], out: &mut [f32]) {
    for (i, o) in out.iter_mut().enumerate() {
        let (mut sum, mut weight) = (0.0, 0.0);
        for (k, &w) in window.iter().enumerate() {
            let Some(j) = (i + k).checked_sub(WHITEN_HALF_WIDTH) else {
                continue;
            };
            if let Some(&v) = x.get(j) {
                sum += w * v;
                weight += w;
            }
        }
        *o = if weight > 0.0 { sum / weight } else { 0.0 };
    }
}

/// Magnitude of `spectrum` around `hz`: the interpolated value at `hz`, or the largest bin in
/// `lo..=hi` if larger. 0 outside the spectrum.
fn magnitude_near(spectrum: Spectrum, hz: f32, lo: f32, hi: f32) -> f32 {
    let power = spectrum.power;
    if spectrum.bin_hz.is_nan() || spectrum.bin_hz <= 0.0 || power.len() < 2 {
        return 0.0;
    }
    let at = hz / spectrum.bin_hz;
    let k = at.floor() as usize;
    if k + 1 >= power.len() {
        return 0.0;
    }
    let frac = at - k as f32;
    let mut value = (1.0 - frac) * power[k].max(0.0).sqrt() + frac * power[k + 1].max(0.0).sqrt();
    let first = (lo / spectrum.bin_hz).ceil() as usize;
    let last = ((hi / spectrum.bin_hz).floor() as usize).min(power.len() - 1);
    for &p in power.iter().take(last + 1).skip(first) {
        value = value.max(p.max(0.0).sqrt());
    }
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stft::SpectrumAnalyzer;

    const SR: f32 = 44_100.0;
    const N_LONG: usize = 8192;
    const N_SHORT: usize = 4096;

    /// Harmonic tones (`partials` partials decaying 1/h) at MIDI pitches `notes`.
    fn spectra(notes: &[f32], partials: usize) -> (Vec<f32>, Vec<f32>) {
        let frame: Vec<f32> = (0..N_LONG)
            .map(|i| {
                let t = i as f32 / SR;
                notes
                    .iter()
                    .map(|&m| {
                        let f0 = 440.0 * 2f32.powf((m - 69.0) / 12.0);
                        (1..=partials)
                            .filter(|&h| f0 * (h as f32) < 0.45 * SR)
                            .map(|h| {
                                (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32
                            })
                            .sum::<f32>()
                    })
                    .sum::<f32>()
                    * 0.1
            })
            .collect();
        let mut long = SpectrumAnalyzer::default();
        long.prepare(N_LONG);
        let mut short = SpectrumAnalyzer::default();
        short.prepare(N_SHORT);
        let mut p_long = vec![0.0; N_LONG / 2 + 1];
        let mut p_short = vec![0.0; N_SHORT / 2 + 1];
        long.power(&frame, &mut p_long);
        short.power(&frame[N_LONG - N_SHORT..], &mut p_short);
        (p_long, p_short)
    }

    fn run(t: &mut NoteTranscriber, notes: &[f32], shift: f32) -> ([f32; 12], [f32; 12]) {
        let (p_long, p_short) = spectra(notes, 8);
        let fb = crate::chroma::PitchFilterbank::new(SR, N_LONG, N_SHORT);
        t.transcribe(
            Spectrum {
                power: &p_long,
                bin_hz: SR / N_LONG as f32,
            },
            Spectrum {
                power: &p_short,
                bin_hz: SR / N_SHORT as f32,
            },
            fb.split_pitch(),
            shift,
        );
        let (mut bass, mut treble) = ([0.0; 12], [0.0; 12]);
        t.bass_treble_chroma(&mut bass, &mut treble);
        crate::chroma::normalize(&mut bass);
        crate::chroma::normalize(&mut treble);
        (bass, treble)
    }

    fn share(chroma: &[f32; 12], pc: usize) -> f32 {
        chroma[pc] * chroma[pc] / chroma.iter().map(|c| c * c).sum::<f32>().max(1e-12)
    }

    #[test]
    fn a_harmonic_tone_is_one_pitch_class_without_its_fifth() {
        let mut t = NoteTranscriber::new();
        // C4 with 8 partials: a filterbank chroma puts its 3rd and 6th partials on G.
        let (_, treble) = run(&mut t, &[60.0], 0.0);
        assert!(share(&treble, 0) > 0.7, "C share {treble:?}");
        assert!(share(&treble, 7) < 0.1, "G share {treble:?}");
        let strongest = (0..NUM_NOTES)
            .max_by(|&a, &b| t.activations()[a].total_cmp(&t.activations()[b]))
            .unwrap();
        assert_eq!(LOWEST_NOTE + strongest, 60);
    }

    #[test]
    fn a_triad_gives_its_three_pitch_classes() {
        let mut t = NoteTranscriber::new();
        // A minor, root position, in the treble: A3 C4 E4.
        let (_, treble) = run(&mut t, &[57.0, 60.0, 64.0], 0.0);
        let chord: f32 = [9, 0, 4].iter().map(|&pc| share(&treble, pc)).sum();
        assert!(chord > 0.8, "{treble:?}");
    }

    #[test]
    fn the_bass_chroma_names_the_lowest_note() {
        let mut t = NoteTranscriber::new();
        // C major, first inversion: E2 in the bass under C4 E4 G4.
        let (bass, treble) = run(&mut t, &[40.0, 60.0, 64.0, 67.0], 0.0);
        let strongest = (0..12)
            .max_by(|&a, &b| bass[a].total_cmp(&bass[b]))
            .unwrap();
        assert_eq!(strongest, 4, "bass {bass:?}");
        let chord: f32 = [0, 4, 7].iter().map(|&pc| share(&treble, pc)).sum();
        assert!(chord > 0.8, "{treble:?}");
    }

    #[test]
    fn the_grid_follows_the_tuning_shift() {
        let mut t = NoteTranscriber::new();
        // D4 played 40 cents sharp: with the grid shifted by 0.4 semitones it is D, not a
        // D / D# mixture.
        let (_, treble) = run(&mut t, &[62.4], 0.4);
        assert!(share(&treble, 2) > 0.8, "{treble:?}");
    }

    /// Transcribes `power` as both spectra (the short one its first half).
    fn transcribe_raw<'a>(t: &'a mut NoteTranscriber, power: &[f32], shift: f32) -> &'a [f32] {
        let long = Spectrum { power, bin_hz: 5.0 };
        let short = Spectrum {
            power: &power[..N_SHORT / 2 + 1],
            bin_hz: 10.0,
        };
        t.transcribe(long, short, 70.0, shift)
    }

    #[test]
    fn silence_and_garbage_give_finite_zero_or_bounded_activations() {
        let mut t = NoteTranscriber::new();
        let zeros = vec![0.0; N_LONG / 2 + 1];
        assert!(transcribe_raw(&mut t, &zeros, 0.0)
            .iter()
            .all(|&v| v == 0.0));
        let mut garbage = vec![f32::NAN; N_LONG / 2 + 1];
        garbage[100] = f32::INFINITY;
        garbage[200] = 1e30;
        let a = transcribe_raw(&mut t, &garbage, f32::NAN);
        assert!(a.iter().all(|v| v.is_finite()));
    }
}
