//! Online pitch tracking: pYIN's hidden Markov model (a voiced and an unvoiced state per
//! pitch bin, local pitch transitions between voiced states, rare voicing switches) decoded
//! by Viterbi with a fixed lag, plus a small probability of jumping anywhere so that note
//! changes larger than the local transition width are followed at once. Unlike pYIN the
//! unvoiced states do not move in pitch (they remember the last note): the jump covers a
//! new note after a rest, and the voiced part costs one pass per transition offset.
//!
//! Every frame the forward (max-product) scores are updated in the log domain and the best
//! current state is traced back `lag` frames; that state is the decision for the frame
//! `lag` hops ago. Only the last `lag + 1` score rows are kept: the predecessors along the
//! traced path are recomputed from them (O(lag · spread)), so the per-frame update is pure
//! max-plus arithmetic that vectorises.

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

/// The online decoder. All storage is sized in `prepare`.
#[derive(Default)]
pub struct PitchHmm {
    num_bins: usize,
    /// Half-width of the local pitch transition in bins.
    spread: usize,
    /// log of the triangular local transition weights plus the voicing stay, index = |Δbin|.
    log_local: Vec<f32>,
    log_stay_voicing: f32,
    log_switch_voicing: f32,
    log_jump: f32,
    /// Ring of the last `lag + 1` frames' scores (voiced bins then unvoiced bins), kept so
    /// that the predecessors along the traced path can be recomputed instead of storing a
    /// back-pointer for every state of every frame.
    rows: Vec<f32>,
    /// Best predecessor score of each voiced state (scratch).
    best: Vec<f32>,
    /// Log observation probabilities of the current frame (same layout as a row).
    log_obs: Vec<f32>,
    /// Best-scoring state of each row (for the jump transition).
    row_best: Vec<(f32, usize)>,
    lag: usize,
    /// Row the next frame writes.
    row: usize,
    /// Frames decoded since reset.
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
        let switch = (SWITCH_RATE_PER_S / frames_per_s).clamp(1e-6, 0.5);
        self.log_stay_voicing = (1.0 - switch).ln() + (1.0 - JUMP_PROB).ln();
        self.log_switch_voicing = switch.ln() + (1.0 - JUMP_PROB).ln();
        self.log_local = weights
            .iter()
            .map(|w| (w / total).ln() + self.log_stay_voicing)
            .collect();
        self.log_jump = (JUMP_PROB / (2 * self.num_bins) as f32).ln();
        let states = 2 * self.num_bins;
        self.lag = lag;
        self.rows = vec![0.0; (lag + 1) * states];
        self.row_best = vec![(0.0, 0); lag + 1];
        self.best = vec![0.0; self.num_bins];
        self.log_obs = vec![0.0; states];
        self.reset();
    }

    /// Zeroes the state. Real-time safe.
    pub fn reset(&mut self) {
        self.row = 0;
        self.frames = 0;
        // The row before the first frame: unvoiced with a flat pitch prior.
        let states = 2 * self.num_bins;
        let last = self.lag * states;
        if self.rows.len() >= last + states {
            let (voiced, unvoiced) = self.rows[last..last + states].split_at_mut(self.num_bins);
            voiced.fill(-10.0);
            unvoiced.fill(0.0);
            self.row_best[self.lag] = (0.0, self.num_bins);
        }
    }

    /// Number of pitch bins.
    pub fn num_bins(&self) -> usize {
        self.num_bins
    }

    /// Look-behind in frames.
    pub fn lag(&self) -> usize {
        self.lag
    }

    fn prev_row(&self, row: usize) -> usize {
        (row + self.lag) % (self.lag + 1)
    }

    /// Adds one frame. `voiced_bins[b]` is the voiced observation probability of bin `b`
    /// (sum of candidate probabilities in it); `voiced_probability` is their total. Returns
    /// the decided `(voiced, bin)` for the frame `lag` frames ago (or frame 0 during the
    /// first `lag` frames). Never allocates.
    pub fn push(&mut self, voiced_bins: &[f32], voiced_probability: f32) -> (bool, usize) {
        let nb = self.num_bins;
        let states = 2 * nb;
        debug_assert_eq!(voiced_bins.len(), nb);
        let unvoiced_obs = ((1.0 - voiced_probability.clamp(0.0, 1.0)) / nb as f32)
            .max(MIN_OBSERVATION)
            .ln();
        for (o, &p) in self.log_obs[..nb].iter_mut().zip(voiced_bins) {
            *o = p.max(MIN_OBSERVATION).ln();
        }
        self.log_obs[nb..].fill(unvoiced_obs);

        let prev = self.prev_row(self.row);
        let jump_score = self.row_best[prev].0 + self.log_jump;
        let (prev_start, cur_start) = (prev * states, self.row * states);
        // Split the ring so the previous row is read while the current one is written.
        let (cur, prev_scores) = if cur_start < prev_start {
            let (a, b) = self.rows.split_at_mut(prev_start);
            (&mut a[cur_start..cur_start + states], &b[..states])
        } else {
            let (a, b) = self.rows.split_at_mut(cur_start);
            (&mut b[..states], &a[prev_start..prev_start + states])
        };
        let (voiced_prev, unvoiced_prev) = prev_scores.split_at(nb);

        // Voiced states: the best of a voicing switch (same bin), a jump, and the local
        // transitions (offset-major: the inner loops vectorise).
        let best = &mut self.best[..nb];
        for ((b, &u), _) in best.iter_mut().zip(unvoiced_prev).zip(0..nb) {
            *b = (u + self.log_switch_voicing).max(jump_score);
        }
        let spread = self.spread.min(nb - 1);
        for k in 0..=spread {
            let w = self.log_local[k];
            // From below (i = j − k) and from above (i = j + k).
            for (b, &v) in best[k..].iter_mut().zip(&voiced_prev[..nb - k]) {
                *b = b.max(v + w);
            }
            if k > 0 {
                for (b, &v) in best[..nb - k].iter_mut().zip(&voiced_prev[k..]) {
                    *b = b.max(v + w);
                }
            }
        }
        let (cur_voiced, cur_unvoiced) = cur.split_at_mut(nb);
        for ((c, &b), &o) in cur_voiced
            .iter_mut()
            .zip(best.iter())
            .zip(&self.log_obs[..nb])
        {
            *c = b + o;
        }
        // Unvoiced states keep their pitch, switch from the voiced state of the same bin,
        // or jump.
        for (((c, &u), &v), &o) in cur_unvoiced
            .iter_mut()
            .zip(unvoiced_prev)
            .zip(voiced_prev)
            .zip(&self.log_obs[nb..])
        {
            *c = (u + self.log_stay_voicing)
                .max(v + self.log_switch_voicing)
                .max(jump_score)
                + o;
        }
        let (mut best_new, mut best_idx) = (f32::NEG_INFINITY, 0usize);
        for (i, &c) in cur.iter().enumerate() {
            if c > best_new {
                best_new = c;
                best_idx = i;
            }
        }
        // Renormalise so the scores stay near zero.
        for c in cur.iter_mut() {
            *c -= best_new;
        }
        self.row_best[self.row] = (0.0, best_idx);

        // Trace back `lag` frames from the best current state.
        let steps = (self.lag as u64).min(self.frames) as usize;
        let mut state = best_idx;
        let mut r = self.row;
        for _ in 0..steps {
            let p = self.prev_row(r);
            state = self.predecessor(p, state);
            r = p;
        }
        self.row = (self.row + 1) % (self.lag + 1);
        self.frames += 1;
        (state < nb, state % nb)
    }

    /// The best predecessor (in row `prev`) of `state`, by the same transition scores as
    /// `push` (ties resolve to the lowest index).
    fn predecessor(&self, prev: usize, state: usize) -> usize {
        let nb = self.num_bins;
        let scores = &self.rows[prev * 2 * nb..(prev + 1) * 2 * nb];
        let (jump_score, jump_from) = {
            let (s, i) = self.row_best[prev];
            (s + self.log_jump, i)
        };
        let mut best = (jump_score, jump_from);
        let mut consider = |score: f32, idx: usize| {
            if score > best.0 || (score == best.0 && idx < best.1) {
                best = (score, idx);
            }
        };
        if state < nb {
            let j = state;
            consider(scores[nb + j] + self.log_switch_voicing, nb + j);
            let spread = self.spread.min(nb - 1);
            let lo = j.saturating_sub(spread);
            let hi = (j + spread).min(nb - 1);
            for (i, &score) in scores.iter().enumerate().take(hi + 1).skip(lo) {
                consider(score + self.log_local[i.abs_diff(j)], i);
            }
        } else {
            let j = state - nb;
            consider(scores[nb + j] + self.log_stay_voicing, nb + j);
            consider(scores[j] + self.log_switch_voicing, j);
        }
        best.1
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
