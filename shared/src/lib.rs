//! Prism's host-agnostic streaming DSP library.
//!
//! Every processor here follows one life cycle, which the conformance suite in
//! `tests/conformance.rs` checks for each of them:
//!
//! * `new` / `Default` is cheap and never touches the sample rate;
//! * `prepare(sample_rate, max_block, num_channels)` allocates everything for the worst case;
//! * `process*` never allocates, locks, logs or waits, and accepts any block length
//!   (including 0), with results that do not depend on how the host splits the stream;
//! * `reset()` only zeroes state (safe to call before every block);
//! * `latency_samples()` is fixed at `prepare`.
//!
//! Nothing here depends on a plugin framework: inputs are plain `&[f32]` slices.

// Audio-path bans (clippy.toml): locks, blocking, I/O and printing are errors in the library;
// the few places that run on other threads (the inference worker, model loading) say so.
#![deny(clippy::disallowed_types, clippy::disallowed_methods)]
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::dbg_macro)]

pub mod analyzer;
pub mod chord;
pub mod chordnet;
pub mod chroma;
pub mod deadline;
pub mod framing;
pub mod gui;
pub mod hpss;
pub mod infer;
pub mod key;
pub mod lookahead;
pub mod midi;
pub mod nnls;
pub mod params;
pub mod pitch;
pub mod rtsan;
pub mod sanitize;
#[cfg(feature = "split")]
pub mod split;
pub mod stft;
pub mod synth;

pub use analyzer::{ChromaAnalyzer, ChromaFrame, ChromaSettings};
pub use chord::{ChordVocabulary, NUM_CHORDS};
pub use framing::Framer;
pub use hpss::HpssSeparator;
pub use pitch::{PitchFrame, PitchSettings, PitchTracker};
pub use stft::{SpectralEngine, SpectrumAnalyzer};

/// The lowest and highest sample rates every processor supports.
pub const MIN_SAMPLE_RATE_HZ: f32 = 8_000.0;
/// See [`MIN_SAMPLE_RATE_HZ`].
pub const MAX_SAMPLE_RATE_HZ: f32 = 192_000.0;

/// What a processor reports besides its audio, once per analysis frame (a chord decision,
/// a pitch with its MIDI, a separated frame's state). Generic code (the conformance suite,
/// determinism and block-size checks) compares frames through their digest.
pub trait Frame {
    /// Appends the frame's numbers to `out` (the caller reserves room: no allocation).
    fn digest(&self, out: &mut Vec<f32>);
}

/// Processors with no per-frame report.
impl Frame for () {
    fn digest(&self, _out: &mut Vec<f32>) {}
}

/// The life cycle and the block call of every Prism streaming processor.
pub trait Processor {
    /// What it reports per frame (`()` for none).
    type Frame: Frame;
    /// Allocates for the worst case. Not real-time safe. `sample_rate` is clamped to
    /// [`MIN_SAMPLE_RATE_HZ`]..=[`MAX_SAMPLE_RATE_HZ`] (odd rates in between are fine).
    fn prepare(&mut self, sample_rate: f32, max_block: usize, num_channels: usize);
    /// Zeroes all state, keeping the allocations. Real-time safe.
    fn reset(&mut self);
    /// Delay between input and the corresponding output, in samples. For analysers this is
    /// the number of samples between a frame's first sample and its emission.
    fn latency_samples(&self) -> usize;
    /// Audio outputs it writes for `num_channels` inputs (0 for an analyser).
    fn num_outputs(num_channels: usize) -> usize
    where
        Self: Sized;
    /// One block: planar `inputs` (any length, the same for all), planar `outputs` (as
    /// many as [`num_outputs`](Self::num_outputs), as long as the inputs); `sink` gets every
    /// frame completed in the block with the index in the block of its last sample. Never
    /// allocates, locks or waits (Split's offline deadline excepted, bounded).
    fn process(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        sink: &mut dyn FnMut(usize, &Self::Frame),
    );
}

/// Clamps a host sample rate into the supported range (non-finite rates become 44.1 kHz).
pub fn sanitize_sample_rate(sample_rate: f32) -> f32 {
    if sample_rate.is_finite() {
        sample_rate.clamp(MIN_SAMPLE_RATE_HZ, MAX_SAMPLE_RATE_HZ)
    } else {
        44_100.0
    }
}
