//! Prism Split's remix: the stems summed with per-stem gain, mute and solo, and a bypass
//! crossfade to the dry input delayed by exactly the engine's latency.
//!
//! Gains move by a one-pole approach ([`GAIN_TIME_S`]) that snaps to its target within
//! [`GAIN_SNAP`], so a muted stem is exactly silent (not a decaying product that underflows
//! to subnormals); bypass is a linear crossfade ([`BYPASS_TIME_S`]). A mix the host restores
//! applies from its first sample ([`Remix::snap`]). Real-time safe after `prepare`.

use super::NUM_STEMS;
use crate::sanitize;

/// Gain smoothing for gain, mute and solo changes, seconds.
pub const GAIN_TIME_S: f32 = 0.005;
/// A smoothed gain this close to its target is set to it.
pub const GAIN_SNAP: f32 = 1.0e-6;
/// Bypass crossfade, seconds.
pub const BYPASS_TIME_S: f32 = 0.010;

/// What the remix should be: the strips' settings as the parameters state them now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    pub gain_db: [f32; NUM_STEMS],
    pub mute: [bool; NUM_STEMS],
    pub solo: [bool; NUM_STEMS],
    pub bypass: bool,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            gain_db: [0.0; NUM_STEMS],
            mute: [false; NUM_STEMS],
            solo: [false; NUM_STEMS],
            bypass: false,
        }
    }
}

impl Mix {
    /// Each stem's linear gain with mute and solo applied (gains clamped to the schema's
    /// range).
    pub fn gains(&self) -> [f32; NUM_STEMS] {
        let any_solo = self.solo.iter().any(|&s| s);
        std::array::from_fn(|s| {
            let audible = !self.mute[s] && (!any_solo || self.solo[s]);
            if audible {
                10f32.powf(super::schema::STEM_GAIN.clamp(self.gain_db[s]) / 20.0)
            } else {
                0.0
            }
        })
    }

    /// The stems whose gain is not zero (the others need no mask).
    pub fn audible(&self) -> [bool; NUM_STEMS] {
        self.gains().map(|g| g > 0.0)
    }
}

/// The remix state.
#[derive(Debug, Clone, Default)]
pub struct Remix {
    gains: [f32; NUM_STEMS],
    bypass_mix: f32,
    gain_coef: f32,
    bypass_step: f32,
    /// Per channel: a delay line of exactly the latency (the bypass path).
    dry: Vec<Vec<f32>>,
    dry_pos: usize,
}

impl Remix {
    /// Allocates the dry delay for `latency` samples. Not real-time safe.
    pub fn prepare(&mut self, sample_rate: f32, latency: usize, num_channels: usize) {
        let sr = crate::sanitize_sample_rate(sample_rate);
        self.gain_coef = 1.0 - (-1.0 / (GAIN_TIME_S * sr)).exp();
        self.bypass_step = 1.0 / (BYPASS_TIME_S * sr);
        self.dry = vec![vec![0.0; latency.max(1)]; num_channels.max(1)];
        self.dry_pos = 0;
    }

    /// Zeroes the dry delay and jumps to `mix`.
    pub fn reset(&mut self, mix: &Mix) {
        for d in &mut self.dry {
            d.fill(0.0);
        }
        self.dry_pos = 0;
        self.snap(mix);
    }

    /// Jumps to `mix` with no fade (activation, a restored session).
    pub fn snap(&mut self, mix: &Mix) {
        self.gains = mix.gains();
        self.bypass_mix = if mix.bypass { 1.0 } else { 0.0 };
    }

    /// Mixes one block. `inputs` are the dry channels, `stems[stem * nc + ch]` the engine's
    /// stems, `outputs` the remix channels (as many as the prepared channels, or fewer); all
    /// at least as long as `outputs[0]`. `peaks`, if given, take each stem's post-fader peak.
    pub fn process(
        &mut self,
        mix: &Mix,
        inputs: &[&[f32]],
        stems: &[&[f32]],
        outputs: &mut [&mut [f32]],
        mut peaks: Option<&mut [f32; NUM_STEMS]>,
    ) {
        let nc = self.dry.len().min(inputs.len());
        if nc == 0 || stems.len() < NUM_STEMS * nc {
            return;
        }
        let n = outputs.first().map_or(0, |o| o.len());
        let targets = mix.gains();
        let bypass_target = if mix.bypass { 1.0 } else { 0.0 };
        let latency = self.dry[0].len();
        for i in 0..n {
            for (gain, target) in self.gains.iter_mut().zip(targets) {
                *gain = if (target - *gain).abs() < GAIN_SNAP {
                    target
                } else {
                    *gain + (target - *gain) * self.gain_coef
                };
            }
            if self.bypass_mix < bypass_target {
                self.bypass_mix = (self.bypass_mix + self.bypass_step).min(1.0);
            } else if self.bypass_mix > bypass_target {
                self.bypass_mix = (self.bypass_mix - self.bypass_step).max(0.0);
            }
            let pos = self.dry_pos;
            for (ch, out) in outputs.iter_mut().enumerate().take(nc) {
                let d = &mut self.dry[ch];
                let dry = d[pos];
                d[pos] = sanitize::input_sample(inputs[ch][i]);
                let mut wet = 0.0;
                for (s, gain) in self.gains.iter().enumerate() {
                    let y = gain * stems[s * nc + ch][i];
                    if let Some(peaks) = peaks.as_deref_mut() {
                        peaks[s] = peaks[s].max(y.abs());
                    }
                    wet += y;
                }
                out[i] = self.bypass_mix * dry + (1.0 - self.bypass_mix) * wet;
            }
            self.dry_pos = if pos + 1 == latency { 0 } else { pos + 1 };
        }
        // No subnormal leaves: a remix of tiny stems can underflow.
        for out in outputs.iter_mut() {
            sanitize::flush_subnormals(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solo_and_mute_select_stems_and_bypass_is_the_delayed_input() {
        let mix = Mix {
            solo: [false, true, false],
            ..Mix::default()
        };
        assert_eq!(mix.gains(), [0.0, 1.0, 0.0]);
        let mut remix = Remix::default();
        remix.prepare(44_100.0, 3, 1);
        remix.snap(&mix);
        let input = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let stems = [[10.0f32; 5], [20.0; 5], [30.0; 5]];
        let stem_refs: Vec<&[f32]> = stems.iter().map(|s| &s[..]).collect();
        let mut out = [0.0f32; 5];
        remix.process(&mix, &[&input], &stem_refs, &mut [&mut out], None);
        assert_eq!(out, [20.0; 5]);
        let bypassed = Mix {
            bypass: true,
            ..mix
        };
        remix.reset(&bypassed);
        remix.process(&bypassed, &[&input], &stem_refs, &mut [&mut out], None);
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0, 2.0]);
    }
}
