//! Prism Split: streaming drums / bass / other separation.
//!
//! * [`model`]: the ONNX mask network in tract (worker-thread only: tract allocates).
//! * [`engine`]: the real-time engine: STFT on the audio thread, frames to an inference
//!   worker through preallocated SPSC rings, masks back, overlap-add; a classical HPSS
//!   mode; fixed latency; a defined fallback on every missed deadline.
//! * [`deadline`]: when the audio thread may wait for the worker (the deadline policy, shared
//!   with the chord layer: [`crate::deadline`]).
//! * [`source`]: where the model comes from, and its fallbacks.
//! * [`remix`]: the plugin's remix of the stems (gain, mute, solo, bypass).
//! * [`bins`]: how other sample rates map onto the model's 44.1 kHz bins.
//!
//! The model runs on [`crate::infer`]'s inference worker.

pub mod bins;
pub use crate::deadline;
pub mod display;
pub mod engine;
mod masks;
pub mod model;
pub mod remix;
pub mod schema;
pub mod source;

pub use crate::infer::{Status as SplitStatus, StatusCode, Telemetry as SplitTelemetry};
pub use deadline::{
    Deadline, AUTO_LEAD_BLOCKS, AUTO_LEAD_LEAK, AUTO_LEAD_MIN, AUTO_MAX_WAIT, OFFLINE_MAX_WAIT,
};
pub use engine::{SplitEngine, SplitMode, SplitSettings};
pub use masks::FrameView;
pub use model::{ModelError, NeuralModel, DEFAULT_MODEL};
pub use source::{ModelLoader, ModelSource, ModelSwap, SplitModel};

/// The sample rate the model was trained at.
pub const MODEL_SAMPLE_RATE: f32 = 44_100.0;
/// The model's FFT length (periodic Hann window) at [`MODEL_SAMPLE_RATE`].
pub const MODEL_FFT: usize = 1024;
/// The model's hop at [`MODEL_SAMPLE_RATE`].
pub const MODEL_HOP: usize = 256;
/// Bins per model frame.
pub const MODEL_BINS: usize = MODEL_FFT / 2 + 1;
/// Drums, bass, other.
pub const NUM_STEMS: usize = 3;
/// Stem names, in output order.
pub const STEM_NAMES: [&str; NUM_STEMS] = ["drums", "bass", "other"];

/// The deterministic 44.1 kHz test signal of the model's parity check (bass notes, chords
/// and drum hits, mono), computed in `f64`. `bundle/models/split/export.py` computes the
/// same signal (`parity_signal`) and stores PyTorch's masks for it beside the model; a test
/// runs the shipped model in tract on it and compares.
pub fn parity_signal(len: usize) -> Vec<f32> {
    use std::f64::consts::PI;
    let sr = MODEL_SAMPLE_RATE as f64;
    let mut state = 12_345u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f64 / 16_777_216.0
    };
    let hz = |midi: f64| 440.0 * 2f64.powf((midi - 69.0) / 12.0);
    let mut out = vec![0.0f64; len];
    // Bass: a note every 0.5 s, 8 harmonics (1/h), decaying.
    let seg = 22_050;
    for start in (0..len).step_by(seg) {
        let f = hz(33.0 + (uniform() * 15.0).floor());
        for (i, o) in out[start..(start + seg).min(len)].iter_mut().enumerate() {
            let t = i as f64 / sr;
            let env = (t / 0.005).min(1.0) * (-2.0 * t).exp();
            let x: f64 = (1..=8)
                .map(|h| (2.0 * PI * f * h as f64 * t).sin() / h as f64)
                .sum();
            *o += 0.25 * env * x;
        }
    }
    // Chords: a triad every 2 s, 5 harmonics (1/h^1.5).
    let seg = 88_200;
    for start in (0..len).step_by(seg) {
        let root = 55.0 + (uniform() * 12.0).floor();
        let third = if uniform() < 0.5 { 3.0 } else { 4.0 };
        for interval in [0.0, third, 7.0] {
            let f = hz(root + interval);
            for (i, o) in out[start..(start + seg).min(len)].iter_mut().enumerate() {
                let t = i as f64 / sr;
                let env = (t / 0.02).min(1.0);
                let x: f64 = (1..=5)
                    .map(|h| (2.0 * PI * f * h as f64 * t).sin() / (h as f64).powf(1.5))
                    .sum();
                *o += 0.07 * env * x;
            }
        }
    }
    // Drums: a noise hit every 0.25 s (0.1 s long), a 60 Hz kick every 0.5 s.
    let seg = 11_025;
    for (n, start) in (0..len).step_by(seg).enumerate() {
        for (i, o) in out[start..(start + 4_410).min(len)].iter_mut().enumerate() {
            let t = i as f64 / sr;
            *o += 0.3 * (-t / 0.03).exp() * (2.0 * uniform() - 1.0);
        }
        if n % 2 == 0 {
            for (i, o) in out[start..(start + seg).min(len)].iter_mut().enumerate() {
                let t = i as f64 / sr;
                *o += 0.5 * (-t / 0.08).exp() * (2.0 * PI * 60.0 * t).sin();
            }
        }
    }
    out.into_iter().map(|x| x as f32).collect()
}
