//! Prism Split: real-time drums / bass / other separation.
//!
//! The main output is the remix (per-stem gain, mute, solo: `prism-shared`'s [`Remix`]); each
//! stem also leaves on its own output (pre-fader, [`ports`]). STFT, masks and synthesis run
//! on the audio thread in [`SplitEngine`]; the ONNX model runs on the engine's inference
//! worker (tract allocates). Latency is fixed at activation and reported to the host.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use nice_plug::prelude::*;
use prism_plugin::{Glue, Io, MidiSink, Setup, Shell};
use prism_shared::split::display::Reducer;
use prism_shared::split::{Deadline, NUM_STEMS};
use prism_shared::Processor;

mod editor;
pub mod params;
mod ports;
mod state;

pub use state::Split;

pub use editor::Meters;
pub use params::SplitParams;

/// The plugin.
pub type PrismSplit = Shell<Split>;

/// A render the host announces or states per call waits for every frame's masks, so it
/// equals `prism split`; otherwise the engine never waits while the host keeps real-time pace
/// (and waits while it runs far ahead of the wall clock: a bounce it did not announce).
fn deadline(offline: bool) -> Deadline {
    if offline {
        Deadline::Wait
    } else {
        Deadline::Auto
    }
}

impl Glue for Split {
    type Params = SplitParams;
    type View = editor::SplitView;

    const NAME: &'static str = "Prism Split";
    const CLAP_ID: &'static str = "com.prism-audio.split";
    const DESCRIPTION: &'static str =
        "Real-time drums / bass / other separation with stems on their own outputs";
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Utility,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
    const VST3_CLASS_ID: [u8; 16] = *b"PrismSplitStems1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = ports::LAYOUTS;

    fn activate(&mut self, params: &SplitParams, setup: &Setup) -> u32 {
        let (nc, max_block) = (setup.num_channels, setup.max_block);
        self.engine.set_model_source(params.model_source());
        self.rendering_offline = setup.offline;
        self.engine.set_deadline(deadline(setup.offline));
        self.engine.set_mode(params.separator.value().0);
        self.engine.prepare(setup.sample_rate, max_block, nc);
        let latency = self.engine.latency_samples();
        self.num_channels = nc;
        self.sample_rate = prism_shared::sanitize_sample_rate(setup.sample_rate);
        self.inputs = vec![vec![0.0; max_block]; nc];
        self.stems = vec![vec![0.0; max_block]; NUM_STEMS * nc];
        self.remix.prepare(self.sample_rate, latency, nc);
        // The parameters as they are now (restored from a session, say) apply from the first
        // sample: no fade from the defaults.
        self.remix.snap(&params.mix());
        self.restores_seen = params.model_path.restores();
        self.reducer = Reducer::new(self.sample_rate, self.engine.fft_len());
        let m = &self.meters;
        m.latency_samples.store(latency as u32, Ordering::Relaxed);
        m.sample_rate.store(self.sample_rate, Ordering::Relaxed);
        let rate = self.sample_rate / (self.engine.fft_len() / 4) as f32;
        m.frame_rate_hz.store(rate, Ordering::Relaxed);
        latency as u32
    }

    fn reset(&mut self, params: &SplitParams) {
        self.engine.reset();
        self.remix.reset(&params.mix());
    }

    fn process(&mut self, params: &SplitParams, io: Io, _midi: &mut MidiSink) {
        let started = Instant::now();
        let total = io.buffer.samples();
        if total == 0 || self.inputs.first().is_none_or(|i| i.is_empty()) {
            return;
        }
        // Entering an offline render starts a new stream (as `prism split` does for a file),
        // so a bounce equals it whatever was played before; leaving it returns to real time.
        if io.offline != self.rendering_offline {
            self.rendering_offline = io.offline;
            if io.offline {
                self.reset(params);
            }
            self.engine.switch_deadline(deadline(io.offline));
        }
        let mix = params.mix();
        // A session state loaded while active applies from this block, without a fade.
        let restores = params.model_path.restores();
        if restores != self.restores_seen {
            self.restores_seen = restores;
            self.remix.snap(&mix);
        }
        self.engine.set_mode(params.separator.value().0);
        // Hosts may send more samples than they announced (an export's larger blocks): the
        // block is processed in pieces of at most the prepared size, never cut.
        let (max, mut peaks, mut start) = (self.inputs[0].len(), [0.0f32; NUM_STEMS], 0);
        while start < total {
            let span = start..(start + max).min(total);
            start = span.end;
            let main = io.buffer.as_slice();
            self.span(main, io.aux.outputs, span, &mix, io.editor_open, &mut peaks);
        }
        if io.editor_open {
            for (meter, p) in self.meters.stem_peak.iter().zip(peaks) {
                meter.store(p, Ordering::Relaxed);
            }
            let load = started.elapsed().as_secs_f32() * self.sample_rate / total as f32;
            self.meters.cpu_load.store(load, Ordering::Relaxed);
        }
    }

    fn view(&mut self, params: Arc<SplitParams>) -> Option<editor::SplitView> {
        Some(editor::SplitView::new(editor::EditorData {
            params,
            meters: self.meters.clone(),
            telemetry: self.telemetry.clone(),
            swapper: self.swapper.clone(),
            frames: self.frames_rx.take()?,
        }))
    }
}

nice_export_clap!(PrismSplit);
nice_export_vst3!(PrismSplit);
