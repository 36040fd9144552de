//! Fixed-lag smoothing of the chord HMM: the decision for the frame `lag` frames back uses
//! the evidence of the frames after it (forward–backward over the last `lag` frames).
//!
//! The chord HMM's transitions are "stay with probability `stay`, else move to any other
//! chord with probability `leave`", so one backward step costs O(states) and a decision
//! O(lag · states). Storage is allocated once ([`FixedLag::prepare`]); pushing a frame never
//! allocates.

use crate::chord::{NO_CHORD, NUM_CHORDS};

/// A ring of the last forward posteriors and observation likelihoods, and the smoothed
/// decision for the frame `lag` frames before the newest.
#[derive(Debug, Clone)]
pub struct FixedLag {
    alphas: Vec<[f32; NUM_CHORDS]>,
    likelihoods: Vec<[f32; NUM_CHORDS]>,
    /// Per stored frame: the (stay, leave) transition into it.
    transitions: Vec<(f32, f32)>,
    lag: usize,
    /// Ring index of the newest frame.
    head: usize,
    /// Frames stored (at most `lag + 1` matter).
    stored: usize,
    smoothed: [f32; NUM_CHORDS],
    decided: usize,
    /// How many frames before the newest the decision refers to.
    behind: usize,
    /// Hysteresis: a new chord replaces the decided one only when its posterior exceeds the
    /// decided chord's by this much (0: plain argmax).
    margin: f32,
}

impl Default for FixedLag {
    fn default() -> Self {
        let mut lag = Self {
            alphas: Vec::new(),
            likelihoods: Vec::new(),
            transitions: Vec::new(),
            lag: 0,
            head: 0,
            stored: 0,
            smoothed: [0.0; NUM_CHORDS],
            decided: NO_CHORD,
            behind: 0,
            margin: 0.0,
        };
        lag.reset();
        lag
    }
}

impl FixedLag {
    /// Allocates room for look-aheads up to `max_lag` frames. Not real-time safe.
    pub fn prepare(&mut self, max_lag: usize) {
        self.alphas = vec![[0.0; NUM_CHORDS]; max_lag + 1];
        self.likelihoods = vec![[0.0; NUM_CHORDS]; max_lag + 1];
        self.transitions = vec![(1.0, 0.0); max_lag + 1];
        self.lag = self.lag.min(max_lag);
        self.reset();
    }

    /// The largest look-ahead the storage allows, in frames.
    pub fn max_lag(&self) -> usize {
        self.alphas.len().saturating_sub(1)
    }

    /// Sets the look-ahead in frames (clamped to [`Self::max_lag`]). Real-time safe; a change
    /// forgets the stored frames.
    pub fn set_lag(&mut self, lag: usize) {
        let lag = lag.min(self.max_lag());
        if lag != self.lag {
            self.lag = lag;
            self.reset();
        }
    }

    /// Sets the hysteresis margin (0..1; real-time safe).
    pub fn set_margin(&mut self, margin: f32) {
        self.margin = if margin.is_finite() {
            margin.clamp(0.0, 1.0)
        } else {
            0.0
        };
    }

    /// The look-ahead in frames.
    pub fn lag(&self) -> usize {
        self.lag
    }

    /// Forgets the stored frames; the decision is N.
    pub fn reset(&mut self) {
        self.head = 0;
        self.stored = 0;
        self.smoothed = [0.0; NUM_CHORDS];
        self.smoothed[NO_CHORD] = 1.0;
        self.decided = NO_CHORD;
        self.behind = 0;
    }

    /// Adds the newest frame's forward posterior `alpha` (normalised), observation
    /// likelihoods and the transition into it (`stay`, `leave`: they may change from frame to
    /// frame), and decides the frame `lag` frames back (the oldest stored frame while
    /// fewer than `lag + 1` have arrived). Returns the decided chord.
    pub fn push(
        &mut self,
        alpha: &[f32; NUM_CHORDS],
        likelihood: &[f32; NUM_CHORDS],
        stay: f32,
        leave: f32,
    ) -> usize {
        let capacity = self.alphas.len();
        if self.lag == 0 || capacity == 0 {
            self.smoothed = *alpha;
            self.behind = 0;
            self.decided = self.decide(alpha);
            return self.decided;
        }
        self.head = (self.head + 1) % capacity;
        self.alphas[self.head] = *alpha;
        self.likelihoods[self.head] = *likelihood;
        self.transitions[self.head] = (stay, leave);
        self.stored = (self.stored + 1).min(self.lag + 1);
        let behind = self.stored - 1;

        // β at the newest frame is 1; step back through the likelihoods of the frames after
        // the target.
        let mut beta = [1.0f32; NUM_CHORDS];
        for j in 0..behind {
            let slot = (self.head + capacity - j) % capacity;
            let like = &self.likelihoods[slot];
            let (stay, leave) = self.transitions[slot];
            let mut total = 0.0;
            for (b, &l) in beta.iter_mut().zip(like) {
                *b *= l;
                total += *b;
            }
            let mut norm = 0.0;
            for b in beta.iter_mut() {
                *b = stay * *b + leave * (total - *b);
                norm += *b;
            }
            if !(norm > 0.0 && norm.is_finite()) {
                beta = [1.0; NUM_CHORDS];
                continue;
            }
            for b in beta.iter_mut() {
                *b = crate::sanitize::flush(*b / norm);
            }
        }
        let target = &self.alphas[(self.head + capacity - behind) % capacity];
        let mut total = 0.0;
        for ((s, &a), &b) in self.smoothed.iter_mut().zip(target).zip(&beta) {
            *s = a * b;
            total += *s;
        }
        if total > 0.0 && total.is_finite() {
            for s in self.smoothed.iter_mut() {
                *s = crate::sanitize::flush(*s / total);
            }
        } else {
            self.smoothed = *target;
        }
        self.behind = behind;
        self.decided = self.decide(&self.smoothed);
        self.decided
    }

    /// The argmax of `p`, unless it beats the decided chord by less than the margin.
    fn decide(&self, p: &[f32; NUM_CHORDS]) -> usize {
        let best = argmax(p);
        let held = self.decided;
        if best != held && p[best] < p[held] + self.margin {
            held
        } else {
            best
        }
    }

    /// The decided chord.
    pub fn decided(&self) -> usize {
        self.decided
    }

    /// Smoothed posterior of the decided frame.
    pub fn posterior(&self) -> &[f32; NUM_CHORDS] {
        &self.smoothed
    }

    /// How many frames before the newest the decision refers to (`lag` once enough frames
    /// have arrived).
    pub fn frames_behind(&self) -> usize {
        self.behind
    }
}

fn argmax(p: &[f32; NUM_CHORDS]) -> usize {
    let mut best = NO_CHORD;
    for (idx, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = idx;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(favoured: usize, strength: f32) -> [f32; NUM_CHORDS] {
        let mut like = [0.1f32; NUM_CHORDS];
        like[favoured] = strength;
        like
    }

    /// The forward filter alone, as [`crate::chord::ChordRecognizer`] runs it.
    fn forward(alpha: &mut [f32; NUM_CHORDS], like: &[f32; NUM_CHORDS], stay: f32, leave: f32) {
        let mut total = 0.0;
        for (a, &l) in alpha.iter_mut().zip(like) {
            *a = (stay * *a + leave * (1.0 - *a)) * l;
            total += *a;
        }
        alpha.iter_mut().for_each(|a| *a /= total);
    }

    #[test]
    fn the_margin_keeps_the_decision_until_a_new_chord_clearly_wins() {
        let mut lag = FixedLag::default();
        lag.prepare(0);
        lag.set_margin(0.2);
        let posterior = |a: usize, pa: f32, b: usize, pb: f32| {
            let mut p = [0.0f32; NUM_CHORDS];
            p[a] = pa;
            p[b] = pb;
            p
        };
        let like = [1.0; NUM_CHORDS];
        assert_eq!(lag.push(&posterior(5, 0.9, 7, 0.1), &like, 0.9, 0.001), 5);
        // 7 ahead by 0.1: not enough.
        assert_eq!(lag.push(&posterior(5, 0.45, 7, 0.55), &like, 0.9, 0.001), 5);
        // Ahead by 0.3: it wins.
        assert_eq!(lag.push(&posterior(5, 0.35, 7, 0.65), &like, 0.9, 0.001), 7);
        // Without a margin the argmax decides every frame.
        lag.set_margin(0.0);
        assert_eq!(lag.push(&posterior(5, 0.55, 7, 0.45), &like, 0.9, 0.001), 5);
        // A reset forgets the held chord.
        lag.set_margin(0.5);
        lag.reset();
        assert_eq!(lag.push(&posterior(5, 0.9, 7, 0.1), &like, 0.9, 0.001), 5);
    }

    #[test]
    fn lag_zero_is_the_forward_decision() {
        let mut lag = FixedLag::default();
        lag.prepare(10);
        let alpha = frame(5, 0.9);
        assert_eq!(lag.push(&alpha, &alpha, 0.9, 0.001), 5);
        assert_eq!(lag.frames_behind(), 0);
    }

    #[test]
    fn look_ahead_moves_a_change_back_to_where_the_evidence_changed() {
        // Chord 3 for 20 frames, then chord 7. The forward filter needs a few frames to
        // switch; with four frames of look-ahead the decision switches at the change itself.
        let (stay, leave) = (0.98, 0.02 / (NUM_CHORDS - 1) as f32);
        let mut lag = FixedLag::default();
        lag.prepare(8);
        lag.set_lag(4);
        let mut alpha = [1.0 / NUM_CHORDS as f32; NUM_CHORDS];
        let mut forward_switch = None;
        let mut smoothed_switch = None;
        for t in 0..40 {
            let like = if t < 20 { frame(3, 0.5) } else { frame(7, 0.5) };
            forward(&mut alpha, &like, stay, leave);
            let decided = lag.push(&alpha, &like, stay, leave);
            if forward_switch.is_none() && argmax(&alpha) == 7 {
                forward_switch = Some(t);
            }
            if smoothed_switch.is_none() && decided == 7 {
                smoothed_switch = Some(t - lag.frames_behind());
            }
        }
        let (forward_switch, smoothed_switch) = (forward_switch.unwrap(), smoothed_switch.unwrap());
        assert!(forward_switch > 20, "forward switched at {forward_switch}");
        assert!(
            smoothed_switch < forward_switch && smoothed_switch >= 19,
            "smoothed switched at {smoothed_switch}, forward at {forward_switch}"
        );
        assert_eq!(lag.frames_behind(), 4);
    }

    #[test]
    fn a_one_frame_blip_is_smoothed_away() {
        let (stay, leave) = (0.95, 0.05 / (NUM_CHORDS - 1) as f32);
        let mut lag = FixedLag::default();
        lag.prepare(6);
        lag.set_lag(3);
        let mut alpha = [1.0 / NUM_CHORDS as f32; NUM_CHORDS];
        let mut decisions = Vec::new();
        let mut forward_decisions = Vec::new();
        for t in 0..30 {
            let like = if t == 15 {
                let mut like = frame(9, 0.9);
                like[2] = 1e-5;
                like
            } else {
                frame(2, 0.4)
            };
            forward(&mut alpha, &like, stay, leave);
            forward_decisions.push(argmax(&alpha));
            decisions.push(lag.push(&alpha, &like, stay, leave));
        }
        assert!(forward_decisions.contains(&9), "the filter alone flickers");
        assert!(decisions[5..].iter().all(|&d| d == 2), "{decisions:?}");
    }

    #[test]
    fn garbage_likelihoods_keep_a_finite_decision() {
        let mut lag = FixedLag::default();
        lag.prepare(4);
        lag.set_lag(4);
        let bad = [f32::NAN; NUM_CHORDS];
        let zero = [0.0; NUM_CHORDS];
        for _ in 0..10 {
            lag.push(&zero, &bad, 0.9, 0.001);
        }
        assert!(lag.decided() < NUM_CHORDS);
        assert!(lag.posterior().iter().all(|p| p.is_finite()));
    }
}
