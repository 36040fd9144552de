//! A small, test-oriented CLAP host built on `clack-host` 0.2.
//!
//! ```no_run
//! use prism_tests::clap::{ClapBundle, ProcessOptions};
//! let bundle = ClapBundle::load("target/bundled/Prism Chroma.clap").unwrap();
//! let desc = &bundle.descriptors().unwrap()[0];
//! let mut plugin = bundle.instantiate(&desc.id).unwrap();
//! plugin.activate(48_000.0, 1, 512).unwrap();
//! let input = vec![vec![0.0f32; 512]; 2];
//! let out = plugin.process(&input, &ProcessOptions::default()).unwrap();
//! assert_eq!(out.audio, input);
//! ```
//!
//! The host offers the host-side `clap.gui`, `clap.params`, `clap.state`, `clap.latency`,
//! `clap.audio-ports`, `clap.note-ports` and `clap.log` extensions and records every callback a
//! plugin makes, so tests can assert on them. Everything runs on the calling thread (which is then
//! both the main and the audio thread, as in many offline hosts); create each [`ClapPlugin`] on
//! the thread that uses it.
//!
//! Its parts: `host` (the host-side handlers and what they record), `info` (port and
//! parameter descriptions), `events` (note, MIDI and parameter events in and out),
//! `main_thread` (ports, parameters, state, GUI), `process` (activation and the audio
//! thread's `process` call), `stream` (chunked state streams), `assertions`.

use anyhow::{anyhow, bail, Context, Result};
use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfoBuffer, AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl,
    PluginAudioPorts,
};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiSize, HostGui, HostGuiImpl, PluginGui, Window,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::note_ports::{
    HostNotePorts, HostNotePortsImpl, NoteDialects, NotePortInfoBuffer, NotePortRescanFlags,
    PluginNotePorts,
};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamInfoFlags, ParamRescanFlags, PluginParams,
};
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::events::spaces::CoreEventSpace;
use clack_host::prelude::*;
use clap_sys::audio_buffer::clap_audio_buffer;
use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

mod assertions;
mod events;
mod host;
mod info;
mod main_thread;
mod process;
mod stream;

pub use assertions::*;
pub use events::*;
pub use host::*;
pub use info::*;
pub use process::*;
pub use stream::*;

// ---------------------------------------------------------------------------------------------
// Bundle / factory
// ---------------------------------------------------------------------------------------------

/// A plugin descriptor, copied out of the factory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Plugin id (`com.prism-audio.chroma`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Vendor, if given.
    pub vendor: Option<String>,
    /// Version string, if given.
    pub version: Option<String>,
    /// URL, if given.
    pub url: Option<String>,
    /// Description, if given.
    pub description: Option<String>,
    /// Feature strings (`audio-effect`, `analyzer`, `stereo`, …).
    pub features: Vec<String>,
}

fn cstr_opt(s: Option<&CStr>) -> Option<String> {
    s.map(|s| s.to_string_lossy().into_owned())
}

/// A loaded `.clap` file (its `clap_entry` initialised).
pub struct ClapBundle {
    path: PathBuf,
    entry: PluginEntry,
}

impl ClapBundle {
    /// Loads the shared object and initialises its entry. The library is pinned in memory for
    /// the rest of the process (see [`crate::dl`] for why); use
    /// [`load_unpinned`](Self::load_unpinned) to test unloading.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        crate::dl::pin(path.as_ref())?;
        Self::load_unpinned(path)
    }

    /// Loads the shared object and initialises its entry, without pinning: when the last
    /// `ClapBundle` for this path is dropped, the entry is deinitialised and the library
    /// `dlclose`d.
    pub fn load_unpinned(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // SAFETY: loading a plugin runs its code; these are the project's own bundles, and
        // crashing on them is exactly what these tests are for.
        let entry = unsafe { PluginEntry::load(&path) }
            .map_err(|e| anyhow!("loading CLAP entry from {}: {e}", path.display()))?;
        Ok(Self { path, entry })
    }

    /// The path the bundle was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying clack entry.
    pub fn entry(&self) -> &PluginEntry {
        &self.entry
    }

    /// The CLAP version the entry declares, as `(major, minor, revision)`.
    pub fn clap_version(&self) -> (u32, u32, u32) {
        let v = self.entry.version();
        (v.major, v.minor, v.revision)
    }

    /// All descriptors the plugin factory lists. Errors if there is no plugin factory or a
    /// descriptor has no id or name.
    pub fn descriptors(&self) -> Result<Vec<Descriptor>> {
        let factory = self
            .entry
            .get_plugin_factory()
            .ok_or_else(|| anyhow!("{}: entry has no clap.plugin-factory", self.path.display()))?;
        let mut out = Vec::new();
        for (i, d) in factory.plugin_descriptors().enumerate() {
            let id = d
                .id()
                .ok_or_else(|| anyhow!("descriptor #{i} has no id"))?
                .to_string_lossy()
                .into_owned();
            let name = d
                .name()
                .ok_or_else(|| anyhow!("descriptor #{i} ({id}) has no name"))?
                .to_string_lossy()
                .into_owned();
            out.push(Descriptor {
                id,
                name,
                vendor: cstr_opt(d.vendor()),
                version: cstr_opt(d.version()),
                url: cstr_opt(d.url()),
                description: cstr_opt(d.description()),
                features: d
                    .features()
                    .map(|f| f.to_string_lossy().into_owned())
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Number of plugins the factory reports.
    pub fn plugin_count(&self) -> u32 {
        self.entry
            .get_plugin_factory()
            .map(|f| f.plugin_count())
            .unwrap_or(0)
    }

    /// Creates and initialises a plugin instance.
    pub fn instantiate(&self, plugin_id: &str) -> Result<ClapPlugin> {
        ClapPlugin::new(self, plugin_id, false)
    }

    /// Like [`instantiate`](Self::instantiate), echoing `clap.log` messages to stderr.
    pub fn instantiate_verbose(&self, plugin_id: &str) -> Result<ClapPlugin> {
        ClapPlugin::new(self, plugin_id, true)
    }
}

// ---------------------------------------------------------------------------------------------
// Plugin instance
// ---------------------------------------------------------------------------------------------

/// The current activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    /// Sample rate.
    pub sample_rate: f64,
    /// Min block size promised.
    pub min_frames: u32,
    /// Max block size promised.
    pub max_frames: u32,
}

struct PortLayout {
    /// Channel count per input port.
    inputs: Vec<u32>,
    /// Channel count per output port.
    outputs: Vec<u32>,
    /// Index of the main input port (if any).
    main_input: Option<usize>,
    /// Index of the main output port (if any).
    main_output: Option<usize>,
}

/// One plugin instance plus everything the host needs to drive it.
pub struct ClapPlugin {
    // Drop order matters: the processor must be deactivated before the instance goes away;
    // `Drop` below handles that explicitly.
    processor: Option<PluginAudioProcessor<PrismTestHost>>,
    instance: PluginInstance<PrismTestHost>,
    id: String,
    activation: Option<Activation>,
    layout: Option<PortLayout>,
    steady_time: u64,
    /// Blocks longer than the activation's `max_frames` are sent instead of refused
    /// ([`ClapPlugin::allow_oversized_blocks`]).
    oversized_blocks: bool,
    in_events: EventBuffer,
    out_events: EventBuffer,
    /// Zeroed / scratch buffers for non-main ports: `[port][channel][frame]`.
    aux_in: Vec<Vec<Vec<f32>>>,
    aux_out: Vec<Vec<Vec<f32>>>,
}

impl ClapPlugin {
    fn new(bundle: &ClapBundle, plugin_id: &str, echo_log: bool) -> Result<Self> {
        let c_id = CString::new(plugin_id).context("plugin id contains NUL")?;
        let instance = PluginInstance::<PrismTestHost>::new(
            |_| HostShared {
                echo_log,
                ..HostShared::default()
            },
            |_| HostMainThread::default(),
            bundle.entry(),
            &c_id,
            &host_info(),
        )
        .map_err(|e| anyhow!("creating plugin {plugin_id:?}: {e}"))?;
        Ok(Self {
            processor: None,
            instance,
            id: plugin_id.to_owned(),
            activation: None,
            layout: None,
            steady_time: 0,
            oversized_blocks: false,
            // Large enough that nothing grows inside the real-time section (see `process`).
            in_events: EventBuffer::with_capacity(4096),
            out_events: EventBuffer::with_capacity(16_384),
            aux_in: Vec::new(),
            aux_out: Vec::new(),
        })
    }

    /// The plugin id this instance was created from.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw clack instance, for anything this wrapper does not cover.
    pub fn instance(&mut self) -> &mut PluginInstance<PrismTestHost> {
        &mut self.instance
    }

    /// Reads the shared host state (callback counters, log).
    pub fn with_shared<R>(&self, f: impl FnOnce(&HostShared) -> R) -> R {
        self.instance.access_shared_handler(f)
    }

    /// Reads the main-thread host state (callback counters).
    pub fn with_main_thread<R>(&self, f: impl FnOnce(&HostMainThread) -> R) -> R {
        self.instance.access_handler(f)
    }

    /// Messages the plugin logged through `clap.log`.
    pub fn log_messages(&self) -> Vec<(String, String)> {
        self.with_shared(|s| s.log.lock().map(|v| v.clone()).unwrap_or_default())
    }

    /// Runs `on_main_thread` if the plugin asked for it. Called automatically after each
    /// process call and after main-thread operations.
    pub fn pump_main_thread(&mut self) {
        let requested = self.with_shared(|s| s.callback_requested.swap(false, Ordering::SeqCst));
        if requested {
            self.instance.call_on_main_thread_callback();
        }
    }

    fn ext<
        E: clack_host::extensions::Extension<
            ExtensionSide = clack_host::extensions::PluginExtensionSide,
        >,
    >(
        &mut self,
    ) -> Option<E> {
        self.instance.plugin_handle().get_extension::<E>()
    }
}

impl Drop for ClapPlugin {
    fn drop(&mut self) {
        // Deactivate before the instance is destroyed, so the plugin sees a clean lifecycle.
        if let Some(mut p) = self.processor.take() {
            let _ = p.stop_processing();
            let stopped = p.into_stopped();
            self.instance.deactivate(stopped);
        }
    }
}
