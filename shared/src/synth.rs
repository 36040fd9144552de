//! Deterministic test and demo signals: harmonic tones, chord progressions, drum hits.

use crate::chord::{chord_parts, QUALITIES};

/// A tiny xorshift PRNG (deterministic noise without dependencies).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// Seeds the generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn step(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        ((self.step() >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.step() >> 32) as u32
    }

    /// Uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        assert!(lo <= hi);
        let span = (hi - lo + 1) as u64;
        lo + (u64::from(self.next_u32()) % span) as usize
    }
}

/// Frequency of MIDI pitch `midi` at reference `a4_hz`.
pub fn midi_to_hz(midi: f32, a4_hz: f32) -> f32 {
    a4_hz * 2f32.powf((midi - 69.0) / 12.0)
}

/// Adds a harmonic tone (`num_harmonics` partials with 1/k amplitudes) to `out`, starting at
/// sample `start`, lasting `len` samples, with 10 ms raised-cosine fades.
pub fn add_tone(
    out: &mut [f32],
    sample_rate: f32,
    start: usize,
    len: usize,
    freq_hz: f32,
    amplitude: f32,
    num_harmonics: usize,
) {
    let fade = ((0.01 * sample_rate) as usize).max(1).min(len / 2 + 1);
    let end = (start + len).min(out.len());
    for (i, slot) in out[start.min(end)..end].iter_mut().enumerate() {
        let t = i as f32 / sample_rate;
        let env = if i < fade {
            0.5 - 0.5 * (std::f32::consts::PI * i as f32 / fade as f32).cos()
        } else if len - i < fade {
            0.5 - 0.5 * (std::f32::consts::PI * (len - i) as f32 / fade as f32).cos()
        } else {
            1.0
        };
        let mut x = 0.0;
        for h in 1..=num_harmonics {
            let f = freq_hz * h as f32;
            if f < 0.45 * sample_rate {
                x += (2.0 * std::f32::consts::PI * f * t).sin() / h as f32;
            }
        }
        *slot += amplitude * env * x;
    }
}

/// Adds a chord (index as in [`crate::chord`]) voiced around C4 plus a bass note.
pub fn add_chord(
    out: &mut [f32],
    sample_rate: f32,
    start: usize,
    len: usize,
    chord: usize,
    a4_hz: f32,
) {
    let Some((root, quality)) = chord_parts(chord) else {
        return;
    };
    let base = 60 + root;
    for &interval in QUALITIES[quality].1 {
        add_tone(
            out,
            sample_rate,
            start,
            len,
            midi_to_hz((base + interval) as f32, a4_hz),
            0.12,
            6,
        );
    }
    add_tone(
        out,
        sample_rate,
        start,
        len,
        midi_to_hz((36 + root) as f32, a4_hz),
        0.15,
        6,
    );
}

/// Adds a synthetic drum hit: a decaying sine sweep (kick) or filtered noise burst (snare/hat).
pub fn add_drum(
    out: &mut [f32],
    sample_rate: f32,
    start: usize,
    kind: DrumKind,
    rng: &mut XorShift,
) {
    let (len_s, amp) = match kind {
        DrumKind::Kick => (0.25, 0.8),
        DrumKind::Snare => (0.18, 0.5),
        DrumKind::Hat => (0.05, 0.25),
    };
    let len = (len_s * sample_rate) as usize;
    let end = (start + len).min(out.len());
    let mut phase = 0.0f32;
    let mut lp = 0.0f32;
    for (i, slot) in out[start.min(end)..end].iter_mut().enumerate() {
        let t = i as f32 / sample_rate;
        let env = (-t / (len_s * 0.25)).exp();
        let x = match kind {
            DrumKind::Kick => {
                let f = 50.0 + 120.0 * (-t * 30.0).exp();
                phase += 2.0 * std::f32::consts::PI * f / sample_rate;
                phase.sin()
            }
            DrumKind::Snare => {
                let n = rng.next_f32();
                lp += 0.5 * (n - lp);
                0.6 * lp + 0.4 * (2.0 * std::f32::consts::PI * 190.0 * t).sin()
            }
            DrumKind::Hat => {
                let n = rng.next_f32();
                let hp = n - lp;
                lp = n;
                hp
            }
        };
        *slot += amp * env * x;
    }
}

/// Kinds of synthetic drum hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrumKind {
    /// Pitch-swept sine.
    Kick,
    /// Noise plus a body tone.
    Snare,
    /// High-passed noise click.
    Hat,
}

/// A rendered chord progression with its ground truth.
#[derive(Debug, Clone)]
pub struct Progression {
    /// Mono samples.
    pub samples: Vec<f32>,
    /// `(start_s, end_s, chord_idx)` segments.
    pub segments: Vec<(f32, f32, usize)>,
}

/// Renders `chords` (each lasting `beats_per_chord` beats at `bpm`), with an optional
/// rock drum pattern. Deterministic for a given seed.
pub fn progression(
    sample_rate: f32,
    chords: &[usize],
    bpm: f32,
    beats_per_chord: usize,
    drums: bool,
    seed: u64,
) -> Progression {
    let beat = (60.0 / bpm * sample_rate) as usize;
    let chord_len = beat * beats_per_chord;
    let total = chord_len * chords.len() + (sample_rate * 0.5) as usize;
    let mut samples = vec![0.0; total];
    let mut segments = Vec::with_capacity(chords.len());
    let mut rng = XorShift::new(seed);
    for (i, &chord) in chords.iter().enumerate() {
        let start = i * chord_len;
        add_chord(&mut samples, sample_rate, start, chord_len, chord, 440.0);
        segments.push((
            start as f32 / sample_rate,
            (start + chord_len) as f32 / sample_rate,
            chord,
        ));
        if drums {
            for b in 0..beats_per_chord {
                let at = start + b * beat;
                add_drum(
                    &mut samples,
                    sample_rate,
                    at,
                    if b % 2 == 0 {
                        DrumKind::Kick
                    } else {
                        DrumKind::Snare
                    },
                    &mut rng,
                );
                add_drum(
                    &mut samples,
                    sample_rate,
                    at + beat / 2,
                    DrumKind::Hat,
                    &mut rng,
                );
            }
        }
    }
    Progression { samples, segments }
}
