//! Key estimation (24 keys) from Krumhansl–Kessler profiles against an exponentially
//! weighted chroma memory.

use crate::chroma::PITCH_CLASS_NAMES;

/// Number of keys: 0..12 major (C..B), 12..24 minor.
pub const NUM_KEYS: usize = 24;

const MAJOR_PROFILE: [f32; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const MINOR_PROFILE: [f32; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];

/// Memory of the key estimate in seconds.
pub const KEY_MEMORY_S: f32 = 30.0;
/// How much the first chord of a stream counts as its tonic ([`KeyEstimator::prime`]): as
/// much as about this many seconds of chord tones.
pub const FIRST_CHORD_PRIOR_S: f32 = 3.0;

/// The label of key `idx`, e.g. `A:min`.
pub fn key_label(idx: usize) -> KeyLabel {
    KeyLabel(idx.min(NUM_KEYS - 1))
}

/// A key label without allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLabel(usize);

impl std::fmt::Display for KeyLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.0 < 12 { "maj" } else { "min" };
        write!(f, "{}:{}", PITCH_CLASS_NAMES[self.0 % 12], mode)
    }
}

/// Running key estimator.
#[derive(Debug, Clone)]
pub struct KeyEstimator {
    /// Zero-mean, unit-norm rotated profiles.
    profiles: [[f32; 12]; NUM_KEYS],
    memory: [f32; 12],
    decay: f32,
    correlation: [f32; NUM_KEYS],
    best: usize,
    /// Frames per second (for the first-chord prior's weight).
    frame_rate: f32,
    /// The first chord has primed the memory since the last reset.
    primed: bool,
}

impl Default for KeyEstimator {
    fn default() -> Self {
        let mut profiles = [[0.0; 12]; NUM_KEYS];
        for (key, profile) in profiles.iter_mut().enumerate() {
            let base = if key < 12 {
                &MAJOR_PROFILE
            } else {
                &MINOR_PROFILE
            };
            let tonic = key % 12;
            for pc in 0..12 {
                profile[(tonic + pc) % 12] = base[pc];
            }
            let mean = profile.iter().sum::<f32>() / 12.0;
            profile.iter_mut().for_each(|x| *x -= mean);
            crate::chroma::normalize(profile);
        }
        Self {
            profiles,
            memory: [0.0; 12],
            decay: 0.998,
            correlation: [0.0; NUM_KEYS],
            best: 0,
            frame_rate: 43.0,
            primed: false,
        }
    }
}

impl KeyEstimator {
    /// Sets the memory for frames every `hop_s` seconds.
    pub fn prepare(&mut self, hop_s: f32) {
        self.decay = (-hop_s / KEY_MEMORY_S).exp();
        if hop_s > 0.0 {
            self.frame_rate = 1.0 / hop_s;
        }
        self.reset();
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.memory = [0.0; 12];
        self.correlation = [0.0; NUM_KEYS];
        self.best = 0;
        self.primed = false;
    }

    /// The fast start: the first chord of a stream is most likely its tonic (what a musician
    /// guesses before hearing more), so the first call after a reset adds the profile of that
    /// key to the memory, weighted like [`FIRST_CHORD_PRIOR_S`] of chord tones; it fades with
    /// the memory, so the music that follows can overrule it. Later calls do nothing.
    pub fn prime(&mut self, root: usize, minor: bool) {
        if self.primed {
            return;
        }
        self.primed = true;
        let key = root % 12 + if minor { 12 } else { 0 };
        // A frame of a triad's tones (root weighted 1.5) has a centred norm of about 1.2.
        let weight = FIRST_CHORD_PRIOR_S * self.frame_rate * 1.2;
        let profile = self.profiles[key];
        let lowest = profile.iter().fold(f32::MAX, |m, &v| m.min(v));
        for (m, &p) in self.memory.iter_mut().zip(&profile) {
            // Non-negative like the chord tones (the correlation centres it again).
            *m += weight * (p - lowest);
        }
    }

    /// Whether the first chord has primed the memory since the last reset.
    pub fn primed(&self) -> bool {
        self.primed
    }

    /// Adds one chroma frame and re-estimates. Never allocates.
    pub fn update(&mut self, chroma: &[f32; 12]) -> usize {
        for (m, &c) in self.memory.iter_mut().zip(chroma) {
            *m = crate::sanitize::flush(*m * self.decay + c);
        }
        let mean = self.memory.iter().sum::<f32>() / 12.0;
        let mut centred = [0.0f32; 12];
        for (c, &m) in centred.iter_mut().zip(&self.memory) {
            *c = m - mean;
        }
        let norm = centred.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm < 1e-9 {
            self.correlation = [0.0; NUM_KEYS];
            return self.best;
        }
        for (key, profile) in self.profiles.iter().enumerate() {
            self.correlation[key] = profile
                .iter()
                .zip(&centred)
                .map(|(a, b)| a * b)
                .sum::<f32>()
                / norm;
        }
        // Hysteresis: a new key must beat the current one by a small margin.
        let mut best = self.best;
        for key in 0..NUM_KEYS {
            if self.correlation[key] > self.correlation[best] + 0.01 {
                best = key;
            }
        }
        self.best = best;
        best
    }

    /// The current key.
    pub fn current(&self) -> usize {
        self.best
    }

    /// Confidence 0..1: the winner's correlation margin over the runner-up, scaled.
    pub fn confidence(&self) -> f32 {
        let best = self.correlation[self.best];
        let second = self
            .correlation
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != self.best)
            .map(|(_, &c)| c)
            .fold(f32::MIN, f32::max);
        if best <= 0.0 {
            return 0.0;
        }
        (best.max(0.0) * (best - second).max(0.0) * 10.0).clamp(0.0, 1.0)
    }

    /// Correlation with every key profile.
    pub fn correlations(&self) -> &[f32; NUM_KEYS] {
        &self.correlation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triad(root: usize, minor: bool) -> [f32; 12] {
        let mut t = [0.0f32; 12];
        t[root % 12] = 1.5;
        t[(root + if minor { 3 } else { 4 }) % 12] = 1.0;
        t[(root + 7) % 12] = 1.0;
        t
    }

    #[test]
    fn the_first_chord_is_taken_for_the_tonic_until_the_music_says_otherwise() {
        let mut estimator = KeyEstimator::default();
        estimator.prepare(1024.0 / 44_100.0);
        // An F major chord alone fits F major, C major and others alike; as the first chord
        // it names the key at once.
        estimator.prime(5, false);
        for _ in 0..20 {
            estimator.update(&triad(5, false));
        }
        assert_eq!(key_label(estimator.current()).to_string(), "F:maj");
        // Primed once per stream: a second call changes nothing.
        estimator.prime(9, true);
        estimator.update(&triad(5, false));
        assert_eq!(key_label(estimator.current()).to_string(), "F:maj");
        // A long passage of i – iv – V in D minor overrules the guess.
        for _ in 0..30 {
            for (root, minor) in [(2, true), (7, true), (9, false)] {
                for _ in 0..40 {
                    estimator.update(&triad(root, minor));
                }
            }
        }
        assert_eq!(key_label(estimator.current()).to_string(), "D:min");
        // A reset forgets the prior.
        estimator.reset();
        assert!(!estimator.primed());
    }

    #[test]
    fn a_major_scale_is_in_its_major_key_and_its_tonic_triad_minor() {
        let mut estimator = KeyEstimator::default();
        // G major: G A B C D E F#, tonic weighted.
        let mut chroma = [0.0f32; 12];
        for (pc, w) in [
            (7, 3.0),
            (9, 1.0),
            (11, 2.0),
            (0, 1.0),
            (2, 2.5),
            (4, 1.0),
            (6, 1.0),
        ] {
            chroma[pc] = w;
        }
        for _ in 0..50 {
            estimator.update(&chroma);
        }
        assert_eq!(key_label(estimator.current()).to_string(), "G:maj");
        let mut a_minor = [0.0f32; 12];
        for (pc, w) in [
            (9, 3.0),
            (0, 2.0),
            (4, 2.5),
            (2, 1.0),
            (5, 1.0),
            (7, 1.0),
            (11, 1.0),
        ] {
            a_minor[pc] = w;
        }
        estimator.reset();
        for _ in 0..50 {
            estimator.update(&a_minor);
        }
        assert_eq!(key_label(estimator.current()).to_string(), "A:min");
    }
}
