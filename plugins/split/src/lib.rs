//! Prism Split: real-time drums / bass / other separation.
//!
//! The main output is the remix (per-stem gain, mute, solo); each stem also leaves on its
//! own auxiliary output (pre-fader) so a DAW can route stems to tracks. The STFT, masking
//! and synthesis run on the audio thread in `prism-shared`'s [`SplitEngine`]; the ONNX model
//! runs on the engine's worker thread (tract allocates), reached only through preallocated
//! SPSC rings. Latency is fixed at activation and reported to the host.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use atomic_float::AtomicF32;
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use prism_shared::split::display::{ReducedFrame, Reducer};
use prism_shared::split::{
    Deadline, ModelSource, ModelSwap, SplitEngine, SplitSettings, SplitTelemetry, NUM_STEMS,
};
use prism_shared::Processor;

mod editor;
pub mod params;

pub use params::{Separator, SplitParams};

/// Reduced frames buffered for the editor (≈ 1.5 s at 172 frames/s).
const FRAME_RING: usize = 256;
/// Gain smoothing for mute / solo changes, seconds.
const GAIN_TIME_S: f32 = 0.005;
/// A smoothed gain this close to its target is set to it.
const GAIN_SNAP: f32 = 1.0e-6;
/// Bypass crossfade, seconds.
const BYPASS_TIME_S: f32 = 0.010;

/// Scalars the editor shows (relaxed atomics, written by the audio thread while the editor is
/// open, except the activation-time values).
#[derive(Default)]
pub struct Meters {
    /// Per stem: the block's output peak (post-fader, linear).
    pub stem_peak: [AtomicF32; NUM_STEMS],
    /// Audio-thread time of the last block / the block's duration.
    pub cpu_load: AtomicF32,
    /// Reported latency in samples.
    pub latency_samples: AtomicU32,
    pub sample_rate: AtomicF32,
    /// Engine frames per second (for the spectrogram's time axis).
    pub frame_rate_hz: AtomicF32,
}

/// The plugin.
pub struct PrismSplit {
    params: Arc<SplitParams>,
    editor_state: Arc<EguiEditorState>,
    meters: Arc<Meters>,
    engine: SplitEngine,
    telemetry: Arc<SplitTelemetry>,
    swapper: crossbeam::channel::Sender<ModelSwap>,
    num_channels: usize,
    sample_rate: f32,
    /// Copies of the main input (the host's buffer is overwritten in place).
    inputs: Vec<Vec<f32>>,
    /// `stems[stem * num_channels + ch]`.
    stems: Vec<Vec<f32>>,
    /// Per channel: a delay line of exactly the reported latency (bypass path).
    dry: Vec<Vec<f32>>,
    dry_pos: usize,
    gains: [f32; NUM_STEMS],
    bypass_mix: f32,
    /// Whether the last process call was an offline render (the host's per-call mode).
    rendering_offline: bool,
    /// State restores already applied ([`params::SavedModelPath::restores`]).
    restores_seen: u32,
    reducer: Reducer,
    frames_tx: rtrb::Producer<ReducedFrame>,
    frames_rx: Option<rtrb::Consumer<ReducedFrame>>,
}

impl Default for PrismSplit {
    fn default() -> Self {
        let (frames_tx, frames_rx) = rtrb::RingBuffer::new(FRAME_RING);
        let engine = SplitEngine::new(SplitSettings {
            deadline: Deadline::Auto,
            ..SplitSettings::default()
        });
        Self {
            params: Arc::new(SplitParams::default()),
            editor_state: EguiEditorState::from_size(
                nice_plug::editor::dpi::LogicalSize::new(1000.0, 620.0),
                1.0,
            ),
            meters: Arc::new(Meters::default()),
            telemetry: engine.telemetry(),
            swapper: engine.model_swapper(),
            engine,
            num_channels: 2,
            sample_rate: 44_100.0,
            inputs: Vec::new(),
            stems: Vec::new(),
            dry: Vec::new(),
            dry_pos: 0,
            gains: [1.0; NUM_STEMS],
            bypass_mix: 0.0,
            rendering_offline: false,
            restores_seen: 0,
            reducer: Reducer::default(),
            frames_tx,
            frames_rx: Some(frames_rx),
        }
    }
}

impl PrismSplit {
    /// One piece of a host block: `span` of the host's buffers, at most the prepared block
    /// size. The audio thread (see `process`).
    #[deny(
        clippy::disallowed_types,
        clippy::disallowed_methods,
        clippy::print_stdout,
        clippy::print_stderr,
        clippy::dbg_macro
    )]
    fn process_span(
        &mut self,
        main: &mut [&mut [f32]],
        aux_outputs: &mut [Buffer],
        span: std::ops::Range<usize>,
        editor_open: bool,
        peaks: &mut [f32; NUM_STEMS],
    ) {
        let n = span.len();
        let nc = self.num_channels;
        {
            for ch in 0..nc {
                let src = main.get(ch.min(main.len().saturating_sub(1)));
                match src {
                    Some(src) => self.inputs[ch][..n].copy_from_slice(&src[span.clone()]),
                    None => self.inputs[ch][..n].fill(0.0),
                }
            }
        }
        {
            let ins: [&[f32]; 2] = [&self.inputs[0][..n], &self.inputs[nc - 1][..n]];
            let mut outs: [&mut [f32]; 2 * NUM_STEMS] = Default::default();
            for (slot, buf) in outs.iter_mut().zip(self.stems.iter_mut()) {
                *slot = &mut buf[..n];
            }
            let reducer = &self.reducer;
            let frames_tx = &mut self.frames_tx;
            self.engine
                .process_observed(&ins[..nc], &mut outs[..NUM_STEMS * nc], |view| {
                    // Editor only, and only while it is open.
                    if editor_open {
                        let mut frame = ReducedFrame::default();
                        reducer.reduce(view, &mut frame);
                        let _ = frames_tx.push(frame);
                    }
                });
        }

        // The remix.
        let stems_params = self.params.stems();
        let any_solo = stems_params.iter().any(|p| p.solo.value());
        let gain_coef = 1.0 - (-1.0 / (GAIN_TIME_S * self.sample_rate)).exp();
        let bypass_target = if self.params.bypass.value() { 1.0 } else { 0.0 };
        let bypass_step = 1.0 / (BYPASS_TIME_S * self.sample_rate);
        let latency = self.dry.first().map_or(1, |d| d.len());
        for i in 0..n {
            let mut targets = [0.0f32; NUM_STEMS];
            for (s, p) in stems_params.iter().enumerate() {
                let g = util::db_to_gain(p.gain_db.smoothed.next());
                let audible = !p.mute.value() && (!any_solo || p.solo.value());
                targets[s] = if audible { g } else { 0.0 };
                // An exponential approach never arrives: within 1e-6 (-120 dB) it snaps to
                // the target, so a muted stem's gain is exactly 0, not a decaying value whose
                // product with the stem underflows to subnormals.
                let step = (targets[s] - self.gains[s]) * gain_coef;
                self.gains[s] = if (targets[s] - self.gains[s]).abs() < GAIN_SNAP {
                    targets[s]
                } else {
                    self.gains[s] + step
                };
            }
            if self.bypass_mix < bypass_target {
                self.bypass_mix = (self.bypass_mix + bypass_step).min(1.0);
            } else if self.bypass_mix > bypass_target {
                self.bypass_mix = (self.bypass_mix - bypass_step).max(0.0);
            }
            let pos = self.dry_pos;
            for ch in 0..nc.min(main.len()) {
                let d = &mut self.dry[ch];
                let dry = d[pos];
                d[pos] = prism_shared::sanitize::input_sample(self.inputs[ch][i]);
                let mut wet = 0.0;
                for (s, (peak, gain)) in peaks.iter_mut().zip(self.gains).enumerate() {
                    let y = gain * self.stems[s * nc + ch][i];
                    // Meters are for the editor only.
                    if editor_open {
                        *peak = peak.max(y.abs());
                    }
                    wet += y;
                }
                main[ch][span.start + i] = self.bypass_mix * dry + (1.0 - self.bypass_mix) * wet;
            }
            self.dry_pos = if pos + 1 == latency { 0 } else { pos + 1 };
        }
        // No subnormal leaves the plugin: a remix of tiny stems can underflow.
        for ch in main.iter_mut() {
            prism_shared::sanitize::flush_subnormals(&mut ch[span.clone()]);
        }
        // A mono layout's extra host channels (if any) get the first channel.
        for ch in nc..main.len() {
            let (first, rest) = main.split_at_mut(ch);
            rest[0][span.clone()].copy_from_slice(&first[0][span.clone()]);
        }
        // Stems on their own buses, pre-fader.
        // (A bus the host deactivated has no channels.)
        for (s, bus) in aux_outputs.iter_mut().enumerate().take(NUM_STEMS) {
            for (ch, out) in bus.as_slice().iter_mut().enumerate() {
                if let Some(out) = out.get_mut(span.clone()) {
                    out.copy_from_slice(&self.stems[s * nc + ch.min(nc - 1)][..n]);
                }
            }
        }
    }

    /// Each stem's remix gain as the parameters ask for it now (mute and solo applied).
    fn gain_targets(&self) -> [f32; NUM_STEMS] {
        let stems = self.params.stems();
        let any_solo = stems.iter().any(|p| p.solo.value());
        stems.map(|p| {
            let audible = !p.mute.value() && (!any_solo || p.solo.value());
            if audible {
                util::db_to_gain(p.gain_db.value())
            } else {
                0.0
            }
        })
    }

    /// The model the saved path names (read here, off the audio thread); a path that cannot
    /// be read falls back to the built-in model, and the worker says so.
    fn model_source(&self) -> ModelSource {
        let path = self.params.model_path();
        if path.is_empty() {
            return ModelSource::Default;
        }
        match std::fs::read(&path) {
            Ok(bytes) => ModelSource::Bytes(Arc::from(bytes)),
            // An unreadable file is the same as a rejected one: the worker falls back.
            Err(_) => ModelSource::Bytes(Arc::from(Vec::new())),
        }
    }
}

impl Plugin for PrismSplit {
    const NAME: &'static str = "Prism Split";
    const VENDOR: &'static str = "Prism";
    const URL: &'static str = "https://example.invalid/prism";
    const EMAIL: &'static str = "prism@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_output_ports: &[new_nonzero_u32(2); NUM_STEMS],
            names: PortNames {
                layout: Some("Stereo"),
                // `None`: nice-plug 0.4.2 names the main *output* after `main_input` too
                // (`AudioIOLayout::main_output_name`), so any name here gives the JACK
                // standalone two ports of the same name and it cannot start. Without one the
                // ports are input_N / output_N (and drums_N, bass_N, other_N).
                main_input: None,
                main_output: Some("Remix"),
                aux_inputs: &[],
                aux_outputs: &["Drums", "Bass", "Other"],
            },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            aux_output_ports: &[new_nonzero_u32(1); NUM_STEMS],
            names: PortNames {
                layout: Some("Mono"),
                // `None`: nice-plug 0.4.2 names the main *output* after `main_input` too
                // (`AudioIOLayout::main_output_name`), so any name here gives the JACK
                // standalone two ports of the same name and it cannot start. Without one the
                // ports are input_N / output_N (and drums_N, bass_N, other_N).
                main_input: None,
                main_output: Some("Remix"),
                aux_inputs: &[],
                aux_outputs: &["Drums", "Bass", "Other"],
            },
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = editor::Editor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(editor::EditorData {
            params: self.params.clone(),
            meters: self.meters.clone(),
            telemetry: self.telemetry.clone(),
            swapper: self.swapper.clone(),
            state: self.editor_state.clone(),
            frames: self.frames_rx.take()?,
        })
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let nc = audio_io_layout
            .main_input_channels
            .map(|c| c.get() as usize)
            .unwrap_or(2)
            .clamp(1, 2);
        let max_block = (buffer_config.max_buffer_size as usize).max(1);
        let sr = buffer_config.sample_rate;
        self.engine.set_model_source(self.model_source());
        // A render the host announces waits for every frame's masks, so it equals `prism
        // split`: at activation (CLAP `clap.render`, VST3 `setupProcessing`) and per process
        // call (VST3 hosts state the mode in every call; see `process`). Otherwise the engine
        // never waits while the host keeps real-time pace, and waits while the host runs far
        // ahead of the wall clock (a bounce it did not announce).
        self.rendering_offline = buffer_config.process_mode == ProcessMode::Offline;
        self.engine.set_deadline(if self.rendering_offline {
            Deadline::Wait
        } else {
            Deadline::Auto
        });
        self.engine.set_mode(self.params.separator.value().into());
        self.engine.prepare(sr, max_block, nc);
        let latency = self.engine.latency_samples();
        self.num_channels = nc;
        self.sample_rate = prism_shared::sanitize_sample_rate(sr);
        self.inputs = vec![vec![0.0; max_block]; nc];
        self.stems = vec![vec![0.0; max_block]; NUM_STEMS * nc];
        self.dry = vec![vec![0.0; latency.max(1)]; nc];
        self.dry_pos = 0;
        self.reducer = Reducer::new(self.sample_rate, self.engine.fft_len());
        // The parameters as they are now (restored from a session, say) apply from the first
        // sample: no fade from the defaults.
        self.bypass_mix = if self.params.bypass.value() { 1.0 } else { 0.0 };
        self.gains = self.gain_targets();
        self.restores_seen = self.params.model_path.restores();
        self.meters
            .latency_samples
            .store(latency as u32, Ordering::Relaxed);
        self.meters
            .sample_rate
            .store(self.sample_rate, Ordering::Relaxed);
        self.meters.frame_rate_hz.store(
            self.sample_rate / (self.engine.fft_len() / 4) as f32,
            Ordering::Relaxed,
        );
        context.set_latency_samples(latency as u32);
        true
    }

    fn reset(&mut self) {
        self.engine.reset();
        self.gains = self.gain_targets();
        self.bypass_mix = if self.params.bypass.value() { 1.0 } else { 0.0 };
        for d in &mut self.dry {
            d.fill(0.0);
        }
        self.dry_pos = 0;
    }

    // The audio thread: no locks, blocking calls, I/O or printing (clippy.toml).
    #[deny(
        clippy::disallowed_types,
        clippy::disallowed_methods,
        clippy::print_stdout,
        clippy::print_stderr,
        clippy::dbg_macro
    )]
    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let started = Instant::now();
        let total = buffer.samples();
        if total == 0 || self.inputs.len() < self.num_channels || self.inputs[0].is_empty() {
            return ProcessStatus::Normal;
        }
        // The host's mode for this call. Entering an offline render starts a new stream (as
        // `prism split` does for a file), so a bounce equals it sample for sample whatever was
        // played before, and waits for every frame's masks; leaving it returns to the policy
        // of the activation.
        let offline = nice_plug::wrapper::call_process_mode() == Some(ProcessMode::Offline);
        if offline != self.rendering_offline {
            self.rendering_offline = offline;
            if offline {
                self.reset();
            }
            self.engine.switch_deadline(if offline {
                Deadline::Wait
            } else {
                Deadline::Auto
            });
        }
        // A session state loaded while active (hosts do, at any time): its parameters apply
        // from this block, not after a fade from the previous values.
        let restores = self.params.model_path.restores();
        if restores != self.restores_seen {
            self.restores_seen = restores;
            self.gains = self.gain_targets();
            self.bypass_mix = if self.params.bypass.value() { 1.0 } else { 0.0 };
        }
        let editor_open = self.editor_state.is_open();
        self.engine.set_mode(self.params.separator.value().into());
        // Hosts may send more samples than they announced at activation (an export's larger
        // blocks): the block is processed in pieces of at most the prepared size, never cut.
        let max = self.inputs[0].len();
        let mut peaks = [0.0f32; NUM_STEMS];
        let mut start = 0;
        while start < total {
            let n = (total - start).min(max);
            self.process_span(
                buffer.as_slice(),
                aux.outputs,
                start..start + n,
                editor_open,
                &mut peaks,
            );
            start += n;
        }
        let n = total;
        if editor_open {
            for (meter, p) in self.meters.stem_peak.iter().zip(peaks) {
                meter.store(p, Ordering::Relaxed);
            }
            let load = started.elapsed().as_secs_f32() / (n as f32 / self.sample_rate);
            self.meters.cpu_load.store(load, Ordering::Relaxed);
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for PrismSplit {
    const CLAP_ID: &'static str = "com.prism-audio.split";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time drums / bass / other separation with stems on their own outputs");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(Self::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Utility,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for PrismSplit {
    const VST3_CLASS_ID: [u8; 16] = *b"PrismSplitStems1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(PrismSplit);
nice_export_vst3!(PrismSplit);
