//! The one plugin shell every Prism plugin is.
//!
//! A plugin crate is its parameters (built from `prism-shared`'s schemas with
//! [`params`]), its editor (a [`editor::View`]) and a [`Glue`]: what it does at activation,
//! reset and in each block. [`Shell`] turns that into a nice-plug plugin (CLAP, VST3 and the
//! standalone): the layout → prepare mapping, the per-call process mode, the editor feed and
//! MIDI output (`prism-shared`'s [`MidiMessage`] wire format, so the `prism` command writes
//! what the plugin sends).

use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use prism_shared::midi::{MidiKind, MidiMessage};

pub mod editor;
pub mod params;

pub use editor::{EditorSize, History, View};
pub use params::Choice;

/// Stereo and mono, input and output: the pass-through analysers' layouts.
pub const PASSTHROUGH_LAYOUTS: &[AudioIOLayout] = &[
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    },
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(1),
        main_output_channels: NonZeroU32::new(1),
        ..AudioIOLayout::const_default()
    },
];

/// What a plugin is prepared for at activation.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub sample_rate: f32,
    /// The largest block the host announced (at least 1).
    pub max_block: usize,
    /// Main input channels, 1 or 2.
    pub num_channels: usize,
    /// The host announced an offline render (CLAP `render`, VST3 `setupProcessing`).
    pub offline: bool,
}

/// One host block.
pub struct Io<'a, 'b, 'c> {
    pub buffer: &'a mut Buffer<'b>,
    pub aux: &'a mut AuxiliaryBuffers<'c>,
    /// The editor is open: feed it (and only then).
    pub editor_open: bool,
    /// This call is an offline render (the host's per-call mode).
    pub offline: bool,
}

impl Io<'_, '_, '_> {
    /// For pass-through plugins: the audio stays as it is, except that subnormals become zero
    /// (hosts and validators reject subnormal output). Returns the (at most two) input
    /// channels to analyse, empty when the host gave none.
    pub fn passthrough(&mut self) -> Channels<'_> {
        for channel in self.buffer.as_slice().iter_mut() {
            prism_shared::sanitize::flush_subnormals(channel);
        }
        let slices = self.buffer.as_slice_immutable();
        let mut channels = Channels {
            slices: [&[], &[]],
            len: slices.len().min(2),
        };
        for (dst, src) in channels.slices.iter_mut().zip(slices.iter()) {
            *dst = src;
        }
        channels
    }
}

/// Up to two borrowed input channels.
pub struct Channels<'a> {
    slices: [&'a [f32]; 2],
    len: usize,
}

impl<'a> Channels<'a> {
    /// The channels as planar slices.
    pub fn get(&self) -> &[&'a [f32]] {
        &self.slices[..self.len]
    }
}

/// Where a plugin's MIDI goes: the host's output queue (a full queue drops the event).
pub struct MidiSink<'s> {
    send: &'s mut dyn FnMut(u32, MidiMessage),
}

impl MidiSink<'_> {
    /// Sends `message` at sample `timing` of the block.
    #[inline]
    pub fn send(&mut self, timing: u32, message: MidiMessage) {
        (self.send)(timing, message);
    }
}

/// A wire message as nice-plug's event: notes as note events (CLAP note dialect), the rest
/// as MIDI. Values are the message's exact 7- and 14-bit values, normalised the way nice-plug
/// turns them back into bytes.
pub fn note_event<S>(timing: u32, message: MidiMessage) -> Option<NoteEvent<S>> {
    let (voice_id, wildcard) = (VoiceID::Wildcard, Channel::Number);
    Some(match message.kind() {
        MidiKind::NoteOn {
            channel,
            key,
            velocity,
        } => NoteEvent::NoteOn {
            timing,
            voice_id,
            channel: wildcard(channel),
            key: Key::Number(key),
            velocity: velocity as f32 / 127.0,
        },
        MidiKind::NoteOff { channel, key } => NoteEvent::NoteOff {
            timing,
            voice_id,
            channel: wildcard(channel),
            key: Key::Number(key),
            velocity: 0.0,
        },
        MidiKind::PitchBend { channel, value } => NoteEvent::MidiPitchBend {
            timing,
            channel,
            value: value as f32 / 16383.0,
        },
        MidiKind::ControlChange { channel, cc, value } => NoteEvent::MidiCC {
            timing,
            channel,
            cc,
            value: value as f32 / 127.0,
        },
        MidiKind::Other => return None,
    })
}

/// A plugin's parameters as the shell needs them: nice-plug `Params` (built from the
/// plugin's schema) that also persist the editor's size.
pub trait ShellParams: Params + Default + 'static {
    /// The persisted editor size (`#[persist = "editor_size"]`).
    fn editor_size(&self) -> &editor::EditorSize;
}

/// What makes a plugin out of the shell.
pub trait Glue: Default + Send + 'static {
    /// The parameters.
    type Params: ShellParams;
    /// The editor.
    type View: View;

    const NAME: &'static str;
    const CLAP_ID: &'static str;
    const DESCRIPTION: &'static str;
    const CLAP_FEATURES: &'static [ClapFeature];
    const VST3_CLASS_ID: [u8; 16];
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory];
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = PASSTHROUGH_LAYOUTS;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::None;

    /// Allocates for `setup`; returns the latency to report, in samples. Not real-time.
    fn activate(&mut self, params: &Self::Params, setup: &Setup) -> u32;
    /// Zeroes the state (real-time safe).
    fn reset(&mut self, params: &Self::Params);
    /// One block (the audio thread: no allocation, locks or I/O).
    fn process(&mut self, params: &Self::Params, io: Io, midi: &mut MidiSink);
    /// Leaves the active state.
    fn deactivate(&mut self) {}
    /// The editor's view (called once per instance).
    fn view(&mut self, params: Arc<Self::Params>) -> Option<Self::View>;
}

/// A Prism plugin: the shell around a [`Glue`].
pub struct Shell<G: Glue> {
    params: Arc<G::Params>,
    editor_state: Arc<EguiEditorState>,
    glue: G,
}

impl<G: Glue> Default for Shell<G> {
    fn default() -> Self {
        let params = Arc::new(G::Params::default());
        Self {
            editor_state: params.editor_size().state(),
            params,
            glue: G::default(),
        }
    }
}

impl<G: Glue> Plugin for Shell<G> {
    const NAME: &'static str = G::NAME;
    const VENDOR: &'static str = "Prism";
    const URL: &'static str = "https://example.invalid/prism";
    const EMAIL: &'static str = "prism@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = G::AUDIO_IO_LAYOUTS;
    const MIDI_OUTPUT: MidiConfig = G::MIDI_OUTPUT;

    type Editor = editor::Editor<G::View>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let view = self.glue.view(self.params.clone())?;
        editor::create(G::NAME, self.editor_state.clone(), view)
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let setup = Setup {
            sample_rate: config.sample_rate,
            max_block: (config.max_buffer_size as usize).max(1),
            num_channels: layout
                .main_input_channels
                .map_or(2, |c| c.get() as usize)
                .clamp(1, 2),
            offline: config.process_mode == ProcessMode::Offline,
        };
        let latency = self.glue.activate(&self.params, &setup);
        context.set_latency_samples(latency);
        true
    }

    fn reset(&mut self) {
        self.glue.reset(&self.params);
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
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let io = Io {
            buffer,
            aux,
            editor_open: self.editor_state.is_open(),
            offline: nice_plug::wrapper::call_process_mode() == Some(ProcessMode::Offline),
        };
        let mut send = |timing: u32, message: MidiMessage| {
            if let Some(event) = note_event(timing, message) {
                let _ = context.try_send_event(event);
            }
        };
        let mut midi = MidiSink { send: &mut send };
        self.glue.process(&self.params, io, &mut midi);
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.glue.deactivate();
    }
}

impl<G: Glue> ClapPlugin for Shell<G> {
    const CLAP_ID: &'static str = G::CLAP_ID;
    const CLAP_DESCRIPTION: Option<&'static str> = Some(G::DESCRIPTION);
    const CLAP_MANUAL_URL: Option<&'static str> = Some(<Self as Plugin>::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = G::CLAP_FEATURES;
}

impl<G: Glue> Vst3Plugin for Shell<G> {
    const VST3_CLASS_ID: [u8; 16] = G::VST3_CLASS_ID;
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = G::VST3_SUBCATEGORIES;
}
