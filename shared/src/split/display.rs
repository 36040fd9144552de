//! A compact view of separation frames for displays (the editor's spectrogram, the CLI's
//! plot): the mix level and each stem's share on log-spaced frequency rows.

use super::FrameView;
use super::NUM_STEMS;

/// Rows of a reduced frame: log-spaced from [`LOW_HZ`] to [`HIGH_HZ`].
pub const ROWS: usize = 128;
/// Lowest row's frequency.
pub const LOW_HZ: f32 = 30.0;
/// Highest row's frequency (or the Nyquist frequency, if lower).
pub const HIGH_HZ: f32 = 16_000.0;

/// One reduced frame (`Copy`, so it can travel through an SPSC ring).
#[derive(Debug, Clone, Copy)]
pub struct ReducedFrame {
    /// Mix level per row, dB re a full-scale sine's bin (≈ 0 at full scale).
    pub level_db: [f32; ROWS],
    /// Each stem's share of the row's energy, 0..1.
    pub masks: [[f32; ROWS]; NUM_STEMS],
    /// Whether the model's masks were used (false: HPSS or the miss fallback).
    pub neural: bool,
}

impl Default for ReducedFrame {
    fn default() -> Self {
        Self {
            level_db: [-120.0; ROWS],
            masks: [[0.0; ROWS]; NUM_STEMS],
            neural: false,
        }
    }
}

/// The row → host-bin ranges for one STFT size and rate. Built off the audio thread.
#[derive(Debug, Clone, Default)]
pub struct Reducer {
    rows: Vec<(usize, usize)>,
    /// Converts |X|² to dB re a full-scale sine at a bin centre (|X| = n / 4).
    norm: f32,
}

impl Reducer {
    /// Allocates the row table for an `n`-point STFT at `sample_rate`.
    pub fn new(sample_rate: f32, n: usize) -> Self {
        let bins = n / 2 + 1;
        let hz_per_bin = sample_rate / n as f32;
        let hi = HIGH_HZ.min(0.5 * sample_rate);
        let rows = (0..ROWS)
            .map(|r| {
                let f0 = LOW_HZ * (hi / LOW_HZ).powf(r as f32 / ROWS as f32);
                let f1 = LOW_HZ * (hi / LOW_HZ).powf((r + 1) as f32 / ROWS as f32);
                let b0 = ((f0 / hz_per_bin).round() as usize).min(bins - 1);
                let b1 = ((f1 / hz_per_bin).round() as usize).clamp(b0 + 1, bins);
                (b0, b1)
            })
            .collect();
        let full = n as f32 / 4.0;
        Self {
            rows,
            norm: 1.0 / (full * full),
        }
    }

    /// Reduces a frame. Never allocates (audio-thread safe).
    pub fn reduce(&self, view: &FrameView<'_>, out: &mut ReducedFrame) {
        let hb = view.host_bins;
        out.neural = view.neural;
        for (r, &(b0, b1)) in self.rows.iter().enumerate() {
            let mut energy = 0.0f32;
            let mut weighted = [0.0f32; NUM_STEMS];
            for b in b0..b1.min(hb) {
                let e: f32 = view.spectra.iter().map(|s| s[b].norm_sqr()).sum();
                energy += e;
                for (s, w) in weighted.iter_mut().enumerate() {
                    *w += e * view.masks[s * hb + b];
                }
            }
            let channels = view.spectra.len().max(1) as f32;
            out.level_db[r] =
                10.0 * (energy * self.norm / ((b1 - b0) as f32 * channels) + 1e-12).log10();
            for (s, (row, w)) in out.masks.iter_mut().zip(weighted).enumerate() {
                row[r] = if energy > 0.0 {
                    (w / energy).clamp(0.0, 1.0)
                } else {
                    view.masks[s * hb + b0.min(hb - 1)]
                };
            }
        }
    }
}
