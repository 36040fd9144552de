//! The one plugin shell every Prism plugin is.
//!
//! A plugin crate is its parameters (built from `prism-shared`'s schemas with
//! [`params`]), its editor (a [`editor::View`]) and a [`Glue`]: what it does at activation,
//! reset and in each block. [`Shell`] turns that into a nice-plug plugin (CLAP, VST3 and the
//! standalone): the layout → prepare mapping, the per-call process mode, the editor feed and
//! MIDI output (`prism-shared`'s [`MidiMessage`] wire format, so the `prism` command writes
//! what the plugin sends).

use std::sync::Arc;

use nice_plug::prelude::*;

pub mod editor;
mod io;
mod midi;
pub mod params;
mod shell;

pub use editor::{EditorSize, History, View};
pub use io::{Channels, Io, Setup, PASSTHROUGH_LAYOUTS};
pub use midi::{note_event, MidiSink};
pub use params::Choice;
pub use shell::Shell;

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
