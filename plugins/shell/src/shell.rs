//! [`Shell`]: a [`Glue`] as a nice-plug plugin.

use std::sync::Arc;

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use prism_shared::midi::MidiMessage;

use crate::{editor, note_event, Glue, Io, MidiSink, Setup, ShellParams};

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
