//! Block-size-independent framing: host blocks of any length become fixed-hop frames.

use crate::sanitize;

/// The shortest channel's length: how many samples a block of `channels` has.
#[inline]
pub fn block_len(channels: &[&[f32]]) -> usize {
    channels.iter().map(|c| c.len()).min().unwrap_or(0)
}

/// Sample `i` of the channels' mean, each input sanitised first ([`sanitize::input_sample`]).
/// Summed in `f64`: for one or two channels this equals the `f32` mean bit for bit. Every
/// analyser's mono mix is this one.
#[inline]
pub fn mono_sample(channels: &[&[f32]], i: usize) -> f64 {
    let sum: f64 = channels
        .iter()
        .map(|c| sanitize::input_sample(c[i]) as f64)
        .sum();
    sum / channels.len().max(1) as f64
}

/// Turns a stream of (multi-channel) samples into overlapping mono frames of `window`
/// samples every `hop` samples. Channels are averaged. Frame boundaries are counted from
/// the last `prepare`/`reset`, so the frames never depend on the host's block sizes.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    window: usize,
    hop: usize,
    /// Circular history of the last `window` mono samples.
    ring: Vec<f32>,
    write_idx: usize,
    /// Samples since the last emitted frame.
    since_hop: usize,
    /// The frame handed to the callback, oldest sample first.
    frame: Vec<f32>,
}

impl Framer {
    /// Allocates for frames of `window` samples every `hop` samples (a window of at least 1,
    /// a hop of 1..=window). Not real-time safe.
    pub fn prepare(&mut self, window: usize, hop: usize) {
        let window = window.max(1);
        let hop = hop.clamp(1, window);
        self.window = window;
        self.hop = hop;
        self.ring = vec![0.0; window];
        self.frame = vec![0.0; window];
        self.reset();
    }

    /// Zeroes the history. Real-time safe.
    pub fn reset(&mut self) {
        self.ring.fill(0.0);
        self.frame.fill(0.0);
        self.write_idx = 0;
        self.since_hop = 0;
    }

    /// Frame length in samples.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Hop in samples.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Feeds one block. `channels` are equally long planar slices (any count ≥ 1; an empty
    /// slice list is treated as silence of length 0). For every completed frame,
    /// `on_frame(frame, sample_idx)` is called with the frame (oldest sample first) and the
    /// index within this block of the frame's last sample. Never allocates.
    pub fn process(&mut self, channels: &[&[f32]], mut on_frame: impl FnMut(&[f32], usize)) {
        let len = block_len(channels);
        if self.window == 0 || channels.is_empty() {
            return;
        }
        for sample_idx in 0..len {
            self.ring[self.write_idx] = mono_sample(channels, sample_idx) as f32;
            self.write_idx += 1;
            if self.write_idx == self.window {
                self.write_idx = 0;
            }
            self.since_hop += 1;
            if self.since_hop == self.hop {
                self.since_hop = 0;
                // Oldest sample sits at write_idx.
                let (newer, older) = self.ring.split_at(self.write_idx);
                self.frame[..older.len()].copy_from_slice(older);
                self.frame[older.len()..].copy_from_slice(newer);
                on_frame(&self.frame, sample_idx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_hold_the_last_window_samples_every_hop() {
        let mut framer = Framer::default();
        framer.prepare(8, 4);
        let input: Vec<f32> = (1..=16).map(|x| x as f32).collect();
        let mut frames = Vec::new();
        framer.process(&[&input], |frame, idx| frames.push((frame.to_vec(), idx)));
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0].0, vec![0., 0., 0., 0., 1., 2., 3., 4.]);
        assert_eq!(frames[0].1, 3);
        assert_eq!(frames[3].0, vec![9., 10., 11., 12., 13., 14., 15., 16.]);
    }

    #[test]
    fn stereo_is_averaged() {
        let mut framer = Framer::default();
        framer.prepare(2, 2);
        let mut got = Vec::new();
        framer.process(&[&[1.0, 2.0], &[3.0, 4.0]], |f, _| got.extend_from_slice(f));
        assert_eq!(got, vec![2.0, 3.0]);
    }
}
