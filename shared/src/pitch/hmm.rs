//! Online pitch tracking: pYIN's hidden Markov model (a voiced and an unvoiced state per
//! pitch bin, local pitch transitions, rare voicing switches) decoded by Viterbi with a
//! fixed lag, plus a small probability of jumping anywhere so that note changes larger
//! than the local transition width are followed at once.
//!
//! Every frame the forward (max-product) scores are updated in the log domain and the best
//! current state is traced back `lag` frames through a ring of back-pointers; that state is
//! the decision for the frame `lag` hops ago. All storage is sized in `prepare`.

/// Pitch resolution of the HMM states in cents (the output frequency comes from the
/// interpolated candidate, not from the bin).
pub const BIN_CENTS: f32 = 20.0;
/// Lowest pitch the HMM can represent, Hz.
pub const HMM_MIN_HZ: f32 = 30.0;
/// Highest pitch the HMM can represent, Hz.
pub const HMM_MAX_HZ: f32 = 4200.0;
/// Fastest pitch change followed by the local transitions, octaves per second (pYIN: 35.92).
const MAX_RATE_OCTAVES_PER_S: f32 = 36.0;
/// Probability per second of switching between voiced and unvoiced (pYIN: 0.01 per 11.6 ms
/// frame ≈ 0.86 per second).
const SWITCH_RATE_PER_S: f32 = 0.86;
/// Probability per frame of a jump to any pitch (note changes, octave leaps).
const JUMP_PROB: f32 = 2e-3;
/// Floor of a voiced state's observation probability (no candidate in the bin).
const MIN_OBSERVATION: f32 = 1e-7;

/// Everything the tracker needs per frame: candidate probability per bin.
#[derive(Default)]
pub struct PitchHmm {
    num_bins: usize,
    /// Half-width of the local pitch transition in bins.
    spread: usize,
    /// log of the triangular local transition weights, index = |Δbin|.
    log_local: Vec<f32>,
    log_stay_voicing: f32,
    log_switch_voicing: f32,
    log_jump: f32,
    /// Scores of the previous frame: voiced bins then unvoiced bins.
    scores: Vec<f32>,
    next: Vec<f32>,
    /// Log observation probabilities of the current frame (same layout).
    log_obs: Vec<f32>,
    /// Back-pointer ring: `lag` rows of `2 · num_bins` predecessors.
    back: Vec<u16>,
    lag: usize,
    /// Row of `back` the next frame writes.
    back_row: usize,
    /// Frames decoded since reset (the first `lag` decisions trace back to frame 0).
    frames: u64,
}

impl PitchHmm {
    /// Allocates for `lag` frames of look-behind at `frames_per_s`. Not real-time safe.
    pub fn prepare(&mut self, frames_per_s: f32, lag: usize) {
        self.num_bins = num_bins();
        let max_step_cents = 1200.0 * MAX_RATE_OCTAVES_PER_S / frames_per_s;
        self.spread = ((max_step_cents / BIN_CENTS).round() as usize).max(1);
        let weights: Vec<f32> = (0..=self.spread)
            .map(|k| (self.spread + 1 - k) as f32)
            .collect();
        let total: f32 = weights[0] + 2.0 * weights[1..].iter().sum::<f32>();
        self.log_local = weights.iter().map(|w| (w / total).ln()).collect();
        let switch = (SWITCH_RATE_PER_S / frames_per_s).clamp(1e-6, 0.5);
        self.log_stay_voicing = (1.0 - switch).ln() + (1.0 - JUMP_PROB).ln();
        self.log_switch_voicing = switch.ln() + (1.0 - JUMP_PROB).ln();
        self.log_jump = (JUMP_PROB / (2 * self.num_bins) as f32).ln();
        let states = 2 * self.num_bins;
        self.scores = vec![0.0; states];
        self.next = vec![0.0; states];
        self.log_obs = vec![0.0; states];
        self.lag = lag;
        self.back = vec![0; lag.max(1) * states];
        self.reset();
    }

    /// Zeroes the state. Real-time safe.
    pub fn reset(&mut self) {
        // Start unvoiced with a flat pitch prior.
        let nb = self.num_bins;
        for (i, s) in self.scores.iter_mut().enumerate() {
            *s = if i < nb { -10.0 } else { 0.0 };
        }
        self.back.fill(0);
        self.back_row = 0;
        self.frames = 0;
    }

    /// Number of pitch bins.
    pub fn num_bins(&self) -> usize {
        self.num_bins
    }

    /// Look-behind in frames.
    pub fn lag(&self) -> usize {
        self.lag
    }

    /// Adds one frame. `observe(bin)` gives the voiced observation probability of each bin
    /// (sum of candidate probabilities in it); `voiced_probability` is their total. Returns
    /// the decided `(voiced, bin)` for the frame `lag` frames ago. Never allocates.
    pub fn push(&mut self, voiced_bins: &[f32], voiced_probability: f32) -> (bool, usize) {
        let nb = self.num_bins;
        debug_assert_eq!(voiced_bins.len(), nb);
        let unvoiced_obs = ((1.0 - voiced_probability.clamp(0.0, 1.0)) / nb as f32)
            .max(MIN_OBSERVATION)
            .ln();
        for (o, &p) in self.log_obs[..nb].iter_mut().zip(voiced_bins) {
            *o = p.max(MIN_OBSERVATION).ln();
        }
        self.log_obs[nb..].fill(unvoiced_obs);

        let (mut best_all, mut best_all_idx) = (f32::NEG_INFINITY, 0usize);
        for (i, &s) in self.scores.iter().enumerate() {
            if s > best_all {
                best_all = s;
                best_all_idx = i;
            }
        }
        let jump_score = best_all + self.log_jump;
        let row = self.back_row * 2 * nb;
        let spread = self.spread;
        let mut best_new = f32::NEG_INFINITY;
        let mut best_new_idx = 0usize;
        for voiced in [true, false] {
            let base = if voiced { 0 } else { nb };
            let other = if voiced { nb } else { 0 };
            for j in 0..nb {
                let lo = j.saturating_sub(spread);
                let hi = (j + spread).min(nb - 1);
                let mut best = jump_score;
                let mut arg = best_all_idx;
                for i in lo..=hi {
                    let w = self.log_local[i.abs_diff(j)];
                    let same = self.scores[base + i] + w + self.log_stay_voicing;
                    if same > best {
                        best = same;
                        arg = base + i;
                    }
                    let switch = self.scores[other + i] + w + self.log_switch_voicing;
                    if switch > best {
                        best = switch;
                        arg = other + i;
                    }
                }
                let s = best + self.log_obs[base + j];
                self.next[base + j] = s;
                self.back[row + base + j] = arg as u16;
                if s > best_new {
                    best_new = s;
                    best_new_idx = base + j;
                }
            }
        }
        // Renormalise so the scores stay near zero.
        for (s, &n) in self.scores.iter_mut().zip(&self.next) {
            *s = n - best_new;
        }

        // Trace back `lag` frames from the best current state.
        let rows = self.lag.max(1);
        let mut state = best_new_idx;
        let steps = (self.lag as u64).min(self.frames) as usize;
        let mut r = self.back_row;
        for _ in 0..steps {
            state = self.back[r * 2 * nb + state] as usize;
            r = (r + rows - 1) % rows;
        }
        self.back_row = (self.back_row + 1) % rows;
        self.frames += 1;
        (state < nb, state % nb)
    }
}

/// Number of HMM pitch bins between [`HMM_MIN_HZ`] and [`HMM_MAX_HZ`].
pub fn num_bins() -> usize {
    (1200.0 * (HMM_MAX_HZ / HMM_MIN_HZ).log2() / BIN_CENTS).ceil() as usize + 1
}

/// Bin of a frequency (clamped to the HMM's range).
pub fn bin_of(frequency_hz: f32) -> usize {
    let cents = 1200.0 * (frequency_hz.max(HMM_MIN_HZ) / HMM_MIN_HZ).log2();
    ((cents / BIN_CENTS).round() as usize).min(num_bins() - 1)
}

/// Centre frequency of a bin.
pub fn bin_hz(bin: usize) -> f32 {
    HMM_MIN_HZ * 2f32.powf(bin as f32 * BIN_CENTS / 1200.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_round_trip() {
        for f in [40.0, 100.0, 440.0, 2000.0] {
            let b = bin_of(f);
            let cents = 1200.0 * (bin_hz(b) / f).log2();
            assert!(cents.abs() <= BIN_CENTS / 2.0 + 1e-3);
        }
    }

    #[test]
    fn a_steady_observation_is_tracked_and_a_single_outlier_frame_is_ignored() {
        let mut hmm = PitchHmm::default();
        hmm.prepare(344.0, 2);
        let nb = hmm.num_bins();
        let mut obs = vec![0.0; nb];
        let target = bin_of(220.0);
        let octave = bin_of(440.0);
        let mut decisions = Vec::new();
        for t in 0..40 {
            obs.fill(0.0);
            if t == 20 {
                obs[octave] = 0.6;
                obs[target] = 0.3;
            } else {
                obs[target] = 0.9;
            }
            decisions.push(hmm.push(&obs, 0.9));
        }
        // Decisions lag by two frames; all voiced at the target after start-up.
        for (t, &(voiced, bin)) in decisions.iter().enumerate().skip(4) {
            assert!(voiced, "frame {t}");
            assert_eq!(bin, target, "frame {t}");
        }
    }

    #[test]
    fn silence_is_unvoiced() {
        let mut hmm = PitchHmm::default();
        hmm.prepare(344.0, 2);
        let obs = vec![0.0; hmm.num_bins()];
        for _ in 0..10 {
            let (voiced, _) = hmm.push(&obs, 0.0);
            assert!(!voiced);
        }
    }
}
