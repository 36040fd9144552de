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

/// Writes the mono mix ([`mono_sample`], bit for bit) of samples `start..start + out.len()`
/// into `out`: one tight loop per run instead of a call per sample.
#[inline]
pub fn mono_run(channels: &[&[f32]], start: usize, out: &mut [f32]) {
    let end = start + out.len();
    match channels {
        [a] => {
            for (o, &x) in out.iter_mut().zip(&a[start..end]) {
                *o = sanitize::input_sample(x);
            }
        }
        // (a + b) / 2 in f64 is exact, and equals the sum times 0.5.
        [a, b] => {
            for ((o, &x), &y) in out.iter_mut().zip(&a[start..end]).zip(&b[start..end]) {
                let sum = sanitize::input_sample(x) as f64 + sanitize::input_sample(y) as f64;
                *o = (sum * 0.5) as f32;
            }
        }
        _ => {
            for (k, o) in out.iter_mut().enumerate() {
                *o = mono_sample(channels, start + k) as f32;
            }
        }
    }
}

/// The one framing primitive: per-channel circular histories of the last `window` samples
/// and a hop counter, counted from the last `prepare`/`reset`, so frames never depend on the
/// host's block sizes. [`Framer`] (analysis frames) and [`crate::stft::SpectralEngine`]
/// (overlap-add) are both built on it.
#[derive(Debug, Default, Clone)]
pub struct FrameRing {
    window: usize,
    hop: usize,
    /// Per channel: circular history of the last `window` samples.
    rings: Vec<Vec<f32>>,
    /// Where the next sample goes, which is also where the oldest sample is.
    pos: usize,
    /// Samples since the last completed frame.
    since_hop: usize,
}

impl FrameRing {
    /// Allocates for `channels` channels (at least 1) of frames of `window` samples (at least
    /// 1) every `hop` samples (1..=window). Not real-time safe.
    pub fn prepare(&mut self, window: usize, hop: usize, channels: usize) {
        self.window = window.max(1);
        self.hop = hop.clamp(1, self.window);
        self.rings = vec![vec![0.0; self.window]; channels.max(1)];
        self.reset();
    }

    /// Zeroes the history. Real-time safe.
    pub fn reset(&mut self) {
        self.rings.iter_mut().for_each(|r| r.fill(0.0));
        self.pos = 0;
        self.since_hop = 0;
    }

    /// Frame length in samples (0 before `prepare`).
    pub fn window(&self) -> usize {
        self.window
    }

    /// Hop in samples.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// The ring position the next sample goes to: the oldest sample's, and the frame's first
    /// sample's once a frame completes. An overlap-add accumulator of `window` samples in step
    /// with the ring reads its output here.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many samples can be written as one run ([`Self::run_mut`]): up to the end of the
    /// circular buffer or the next frame, whichever is first (0 before `prepare`).
    #[inline]
    pub fn run_len(&self) -> usize {
        if self.rings.is_empty() {
            0
        } else {
            (self.window - self.pos).min(self.hop - self.since_hop)
        }
    }

    /// The next `len` (≤ [`Self::run_len`]) slots of channel `ch`'s history, to be filled
    /// before [`Self::advance`].
    #[inline]
    pub fn run_mut(&mut self, ch: usize, len: usize) -> &mut [f32] {
        let pos = self.pos;
        &mut self.rings[ch][pos..pos + len]
    }

    /// Advances past `len` (≤ [`Self::run_len`]) written samples; true when they complete a
    /// frame.
    #[inline]
    pub fn advance(&mut self, len: usize) -> bool {
        self.pos += len;
        if self.pos >= self.window {
            self.pos = 0;
        }
        self.since_hop += len;
        if self.since_hop >= self.hop {
            self.since_hop = 0;
            true
        } else {
            false
        }
    }

    /// Writes one sample per channel (`sample(ch)`) and advances; true when this sample
    /// completes a frame. Does nothing before `prepare`.
    #[inline]
    pub fn push(&mut self, mut sample: impl FnMut(usize) -> f32) -> bool {
        if self.window == 0 {
            return false;
        }
        for (ch, ring) in self.rings.iter_mut().enumerate() {
            ring[self.pos] = sample(ch);
        }
        self.pos += 1;
        if self.pos == self.window {
            self.pos = 0;
        }
        self.since_hop += 1;
        if self.since_hop == self.hop {
            self.since_hop = 0;
            true
        } else {
            false
        }
    }

    /// Channel `ch`'s last `window` samples, oldest first, into `frame` (`window` long).
    pub fn copy_frame(&self, ch: usize, frame: &mut [f32]) {
        let (newer, older) = self.rings[ch].split_at(self.pos);
        frame[..older.len()].copy_from_slice(older);
        frame[older.len()..].copy_from_slice(newer);
    }

    /// Channel `ch`'s last `window` samples, oldest first, times `weights`, into `frame`.
    pub fn window_frame(&self, ch: usize, weights: &[f32], frame: &mut [f32]) {
        let (newer, older) = self.rings[ch].split_at(self.pos);
        let (w_older, w_newer) = weights.split_at(older.len());
        let (f_older, f_newer) = frame.split_at_mut(older.len());
        for ((f, &x), &w) in f_older.iter_mut().zip(older).zip(w_older) {
            *f = x * w;
        }
        for ((f, &x), &w) in f_newer.iter_mut().zip(newer).zip(w_newer) {
            *f = x * w;
        }
    }
}

/// Turns a stream of (multi-channel) samples into overlapping mono frames of `window`
/// samples every `hop` samples. Channels are averaged ([`mono_sample`]).
#[derive(Debug, Default, Clone)]
pub struct Framer {
    ring: FrameRing,
    /// The frame handed to the callback, oldest sample first.
    frame: Vec<f32>,
}

impl Framer {
    /// Allocates for frames of `window` samples every `hop` samples (a window of at least 1,
    /// a hop of 1..=window). Not real-time safe.
    pub fn prepare(&mut self, window: usize, hop: usize) {
        self.ring.prepare(window, hop, 1);
        self.frame = vec![0.0; self.ring.window()];
    }

    /// Zeroes the history. Real-time safe.
    pub fn reset(&mut self) {
        self.ring.reset();
        self.frame.fill(0.0);
    }

    /// Frame length in samples.
    pub fn window(&self) -> usize {
        self.ring.window()
    }

    /// Hop in samples.
    pub fn hop(&self) -> usize {
        self.ring.hop()
    }

    /// Feeds one block. `channels` are equally long planar slices (any count ≥ 1; an empty
    /// slice list is treated as silence of length 0). For every completed frame,
    /// `on_frame(frame, sample_idx)` is called with the frame (oldest sample first) and the
    /// index within this block of the frame's last sample. Never allocates.
    pub fn process(&mut self, channels: &[&[f32]], mut on_frame: impl FnMut(&[f32], usize)) {
        if self.ring.window() == 0 || channels.is_empty() {
            return;
        }
        let len = block_len(channels);
        let mut start = 0;
        while start < len {
            let run = self.ring.run_len().min(len - start);
            if run == 0 {
                return;
            }
            mono_run(channels, start, self.ring.run_mut(0, run));
            start += run;
            if self.ring.advance(run) {
                self.ring.copy_frame(0, &mut self.frame);
                on_frame(&self.frame, start - 1);
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
    fn stereo_frames_are_the_mono_mix_framed_sample_by_sample() {
        let left: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut right: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.11).cos()).collect();
        right[5] = f32::NAN;
        right[6] = 1e-40;
        let mut framer = Framer::default();
        framer.prepare(64, 24);
        let mut frames = Vec::new();
        for (l, r) in left.chunks(37).zip(right.chunks(37)) {
            framer.process(&[l, r], |f, idx| frames.push((f.to_vec(), idx)));
        }
        let mut ring = FrameRing::default();
        ring.prepare(64, 24, 1);
        let mut expected = Vec::new();
        let mut frame = vec![0.0; 64];
        for i in 0..1000 {
            if ring.push(|_| mono_sample(&[&left, &right], i) as f32) {
                ring.copy_frame(0, &mut frame);
                expected.push((frame.clone(), i % 37));
            }
        }
        assert_eq!(frames, expected);
    }

    #[test]
    fn a_windowed_frame_is_the_copied_frame_times_the_weights() {
        let mut ring = FrameRing::default();
        ring.prepare(5, 2, 2);
        let mut n = 0.0;
        for _ in 0..7 {
            n += 1.0;
            ring.push(|ch| n + 10.0 * ch as f32);
        }
        assert_eq!(ring.position(), 2);
        let (mut copied, mut windowed) = ([0.0; 5], [0.0; 5]);
        let weights = [1.0, 2.0, 3.0, 4.0, 5.0];
        for ch in 0..2 {
            ring.copy_frame(ch, &mut copied);
            ring.window_frame(ch, &weights, &mut windowed);
            let base = 10.0 * ch as f32;
            assert_eq!(copied, [3.0, 4.0, 5.0, 6.0, 7.0].map(|x| x + base));
            for i in 0..5 {
                assert_eq!(windowed[i], copied[i] * weights[i]);
            }
        }
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
