//! Prism Split's audio-thread state, and one piece of a host block.

// All of this runs on the audio thread: no locks, blocking calls, I/O or printing.
#![deny(clippy::disallowed_types, clippy::disallowed_methods)]
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::dbg_macro)]

use std::ops::Range;
use std::sync::Arc;

use nice_plug::prelude::*;
use prism_shared::split::display::{ReducedFrame, Reducer};
use prism_shared::split::remix::{Mix, Remix};
use prism_shared::split::{ModelSwap, SplitEngine, SplitSettings, SplitTelemetry, NUM_STEMS};

use crate::{ports, Meters};

/// Reduced frames buffered for the editor (≈ 1.5 s at 172 frames/s).
const FRAME_RING: usize = 256;

/// Prism Split's part of the plugin.
pub struct Split {
    pub(crate) meters: Arc<Meters>,
    pub(crate) engine: SplitEngine,
    pub(crate) telemetry: Arc<SplitTelemetry>,
    pub(crate) swapper: crossbeam::channel::Sender<ModelSwap>,
    pub(crate) num_channels: usize,
    pub(crate) sample_rate: f32,
    /// Copies of the main input (the host's buffer is overwritten in place).
    pub(crate) inputs: Vec<Vec<f32>>,
    /// `stems[stem * num_channels + ch]`.
    pub(crate) stems: Vec<Vec<f32>>,
    pub(crate) remix: Remix,
    /// Whether the last call was an offline render (the host's per-call mode).
    pub(crate) rendering_offline: bool,
    /// State restores already applied ([`params::SavedModelPath::restores`]).
    pub(crate) restores_seen: u32,
    pub(crate) reducer: Reducer,
    pub(crate) frames_tx: rtrb::Producer<ReducedFrame>,
    pub(crate) frames_rx: Option<rtrb::Consumer<ReducedFrame>>,
}

impl Default for Split {
    fn default() -> Self {
        let (frames_tx, frames_rx) = rtrb::RingBuffer::new(FRAME_RING);
        let engine = SplitEngine::new(SplitSettings::default());
        Self {
            meters: Arc::default(),
            telemetry: engine.telemetry(),
            swapper: engine.model_swapper(),
            engine,
            num_channels: 2,
            sample_rate: 44_100.0,
            inputs: Vec::new(),
            stems: Vec::new(),
            remix: Remix::default(),
            rendering_offline: false,
            restores_seen: 0,
            reducer: Reducer::default(),
            frames_tx,
            frames_rx: Some(frames_rx),
        }
    }
}

impl Split {
    /// One piece of a host block: `span` of the host's buffers, at most the prepared block
    /// size. The audio thread.
    pub(crate) fn span(
        &mut self,
        main: &mut [&mut [f32]],
        aux_outputs: &mut [Buffer],
        span: Range<usize>,
        mix: &Mix,
        editor_open: bool,
        peaks: &mut [f32; NUM_STEMS],
    ) {
        let (n, nc) = (span.len(), self.num_channels);
        for (ch, input) in self.inputs.iter_mut().enumerate() {
            match main.get(ch.min(main.len().saturating_sub(1))) {
                Some(src) => input[..n].copy_from_slice(&src[span.clone()]),
                None => input[..n].fill(0.0),
            }
        }
        let ins: [&[f32]; 2] = [&self.inputs[0][..n], &self.inputs[nc - 1][..n]];
        let mut outs: [&mut [f32]; 2 * NUM_STEMS] = Default::default();
        for (slot, buf) in outs.iter_mut().zip(self.stems.iter_mut()) {
            *slot = &mut buf[..n];
        }
        let (reducer, frames_tx) = (&self.reducer, &mut self.frames_tx);
        let stem_outs = &mut outs[..NUM_STEMS * nc];
        self.engine.process_observed(&ins[..nc], stem_outs, |view| {
            // Editor only, and only while it is open.
            if editor_open {
                let mut frame = ReducedFrame::default();
                reducer.reduce(view, &mut frame);
                let _ = frames_tx.push(frame);
            }
        });
        let stems: [&[f32]; 2 * NUM_STEMS] =
            std::array::from_fn(|i| self.stems.get(i).map_or(&[][..], |s| &s[..n]));
        let width = nc.min(main.len());
        let mut remix: [&mut [f32]; 2] = Default::default();
        for (slot, ch) in remix.iter_mut().zip(main.iter_mut()) {
            *slot = &mut ch[span.clone()];
        }
        let outputs = &mut remix[..width];
        let peaks = editor_open.then_some(peaks);
        self.remix
            .process(mix, &ins[..nc], &stems[..NUM_STEMS * nc], outputs, peaks);
        // A mono layout's extra host channels (if any) get the first channel.
        for ch in nc..main.len() {
            let (first, rest) = main.split_at_mut(ch);
            rest[0][span.clone()].copy_from_slice(&first[0][span.clone()]);
        }
        ports::write_stems(aux_outputs, &self.stems, nc, span);
    }
}
