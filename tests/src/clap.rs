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

// ---------------------------------------------------------------------------------------------
// Host handlers
// ---------------------------------------------------------------------------------------------

/// The host type given to `clack-host`.
pub struct PrismTestHost;

/// Host state shared between threads. Every callback is recorded.
#[derive(Default)]
pub struct HostShared {
    /// `request_callback` was called and `on_main_thread` has not run since.
    pub callback_requested: AtomicBool,
    /// Number of `request_restart` calls.
    pub restart_requests: AtomicU32,
    /// Number of `request_process` calls.
    pub process_requests: AtomicU32,
    /// Number of `clap.params` `request_flush` calls.
    pub flush_requests: AtomicU32,
    /// Number of `clap.gui` `closed` calls.
    pub gui_closed: AtomicU32,
    /// Sizes passed to `clap.gui` `request_resize`.
    pub gui_resize_requests: Mutex<Vec<GuiSize>>,
    /// Messages passed to `clap.log`, as `(severity, message)`.
    pub log: Mutex<Vec<(String, String)>>,
    /// Echo `clap.log` messages to stderr.
    pub echo_log: bool,
}

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {
        self.restart_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn request_process(&self) {
        self.process_requests.fetch_add(1, Ordering::SeqCst);
    }

    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostGuiImpl for HostShared {
    fn resize_hints_changed(&self) {}

    fn request_resize(&self, new_size: GuiSize) -> Result<(), HostError> {
        if let Ok(mut v) = self.gui_resize_requests.lock() {
            v.push(new_size);
        }
        Ok(())
    }

    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }

    fn closed(&self, _was_destroyed: bool) {
        self.gui_closed.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostParamsImplShared for HostShared {
    fn request_flush(&self) {
        self.flush_requests.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostLogImpl for HostShared {
    fn log(&self, severity: LogSeverity, message: &str) {
        let sev = format!("{severity:?}");
        if self.echo_log {
            eprintln!("[plugin log {sev}] {message}");
        }
        if let Ok(mut v) = self.log.lock() {
            v.push((sev, message.to_owned()));
        }
    }
}

/// Main-thread host state: counters for main-thread-only callbacks.
#[derive(Default)]
pub struct HostMainThread {
    /// `clap.state` `mark_dirty` calls.
    pub state_dirty: Cell<u32>,
    /// `clap.latency` `changed` calls.
    pub latency_changed: Cell<u32>,
    /// `clap.params` `rescan` calls.
    pub params_rescans: Cell<u32>,
    /// `clap.params` `clear` calls.
    pub params_clears: Cell<u32>,
    /// `clap.audio-ports` `rescan` calls.
    pub audio_ports_rescans: Cell<u32>,
    /// `clap.note-ports` `rescan` calls.
    pub note_ports_rescans: Cell<u32>,
}

impl MainThreadHandler<'_> for HostMainThread {}

impl HostParamsImplMainThread for HostMainThread {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.params_rescans.set(self.params_rescans.get() + 1);
    }

    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {
        self.params_clears.set(self.params_clears.get() + 1);
    }
}

impl HostStateImpl for HostMainThread {
    fn mark_dirty(&self) {
        self.state_dirty.set(self.state_dirty.get() + 1);
    }
}

impl HostLatencyImpl for HostMainThread {
    fn changed(&self) {
        self.latency_changed.set(self.latency_changed.get() + 1);
    }
}

impl HostAudioPortsImpl for HostMainThread {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        true
    }

    fn rescan(&self, _flags: AudioPortRescanFlags) {
        self.audio_ports_rescans
            .set(self.audio_ports_rescans.get() + 1);
    }
}

impl HostNotePortsImpl for HostMainThread {
    fn supported_dialects(&self) -> NoteDialects {
        NoteDialects::CLAP | NoteDialects::MIDI
    }

    fn rescan(&self, _flags: NotePortRescanFlags) {
        self.note_ports_rescans
            .set(self.note_ports_rescans.get() + 1);
    }
}

/// Audio-thread handler (nothing to record).
pub struct HostAudioProcessor;

impl AudioProcessorHandler<'_> for HostAudioProcessor {}

impl HostHandlers for PrismTestHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMainThread;
    type AudioProcessor<'a> = HostAudioProcessor;

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostGui>()
            .register::<HostParams>()
            .register::<HostState>()
            .register::<HostLatency>()
            .register::<HostAudioPorts>()
            .register::<HostNotePorts>()
            .register::<HostLog>();
    }
}

/// The `clap_host` identity passed to plugins.
pub fn host_info() -> HostInfo {
    HostInfo::new(
        "Prism Test Host",
        "Prism developers",
        "https://example.invalid/prism",
        env!("CARGO_PKG_VERSION"),
    )
    .expect("valid host info")
}

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
// Plugin info types
// ---------------------------------------------------------------------------------------------

/// An audio port as reported by `clap.audio-ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPort {
    /// Port id.
    pub id: u32,
    /// Port name.
    pub name: String,
    /// Channel count.
    pub channel_count: u32,
    /// Whether the port is flagged as the main port.
    pub is_main: bool,
    /// Port type (`mono`, `stereo`, …) if given.
    pub port_type: Option<String>,
    /// Id of the in-place pair, if any.
    pub in_place_pair: Option<u32>,
}

/// A note port as reported by `clap.note-ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotePort {
    /// Port id.
    pub id: u32,
    /// Port name.
    pub name: String,
    /// Supports CLAP note events.
    pub supports_clap: bool,
    /// Supports MIDI 1.0 events.
    pub supports_midi: bool,
}

/// An audio-ports configuration from `clap.audio-ports-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Configuration id (for `select`).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Channels of the main input (0 if none).
    pub main_input_channels: u32,
    /// Channels of the main output (0 if none).
    pub main_output_channels: u32,
    /// Total number of input ports.
    pub input_port_count: u32,
    /// Total number of output ports.
    pub output_port_count: u32,
}

/// A parameter as reported by `clap.params`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// CLAP param id (nice-plug: a hash of the `#[id]` string).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Module path (may be empty).
    pub module: String,
    /// Minimum plain value.
    pub min: f64,
    /// Maximum plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// Stepped (integer, bool, enum).
    pub is_stepped: bool,
    /// Enum.
    pub is_enum: bool,
    /// Hidden.
    pub is_hidden: bool,
    /// Read-only.
    pub is_readonly: bool,
    /// Bypass parameter.
    pub is_bypass: bool,
    /// Automatable.
    pub is_automatable: bool,
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// An event sent to the plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InEvent {
    /// `CLAP_EVENT_PARAM_VALUE` with a plain value, at sample `time` of the block.
    ParamValue {
        /// Sample offset in the block.
        time: u32,
        /// Param id.
        id: u32,
        /// Plain value (`min..=max` as reported by the param info).
        value: f64,
    },
}

/// An event received from the plugin, copied out of the output event list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutEvent {
    /// CLAP note on.
    NoteOn {
        /// Sample offset in the block.
        time: u32,
        /// Note port index (-1 = any).
        port: i16,
        /// Channel (-1 = any).
        channel: i16,
        /// Key (-1 = any).
        key: i16,
        /// Velocity 0..1.
        velocity: f64,
    },
    /// CLAP note off.
    NoteOff {
        /// Sample offset in the block.
        time: u32,
        /// Note port index.
        port: i16,
        /// Channel.
        channel: i16,
        /// Key.
        key: i16,
        /// Release velocity.
        velocity: f64,
    },
    /// Raw MIDI 1.0 message.
    Midi {
        /// Sample offset in the block.
        time: u32,
        /// Note port index.
        port: u16,
        /// The three MIDI bytes.
        data: [u8; 3],
    },
    /// A parameter value reported by the plugin.
    ParamValue {
        /// Sample offset in the block.
        time: u32,
        /// Param id.
        id: u32,
        /// Plain value.
        value: f64,
    },
    /// Anything else (gesture begin/end, note end, expressions, …), by event type id.
    Other {
        /// Sample offset in the block.
        time: u32,
        /// CLAP event type.
        type_id: u16,
    },
}

impl OutEvent {
    /// Sample offset of the event within its block.
    pub fn time(&self) -> u32 {
        match *self {
            OutEvent::NoteOn { time, .. }
            | OutEvent::NoteOff { time, .. }
            | OutEvent::Midi { time, .. }
            | OutEvent::ParamValue { time, .. }
            | OutEvent::Other { time, .. } => time,
        }
    }

    /// The event as the three bytes of a MIDI 1.0 channel message, if it is a note or a MIDI
    /// event: CLAP notes as 0x9n / 0x8n (velocity × 127, rounded; release velocity 0).
    pub fn as_wire(&self) -> Option<[u8; 3]> {
        let note = |status: u8, channel: i16, key: i16, velocity: f64| {
            let channel = u8::try_from(channel).ok().filter(|c| *c < 16)?;
            let key = u8::try_from(key).ok().filter(|k| *k < 128)?;
            Some([
                status | channel,
                key,
                (velocity * 127.0).round().clamp(0.0, 127.0) as u8,
            ])
        };
        match *self {
            OutEvent::NoteOn {
                channel,
                key,
                velocity,
                ..
            } => note(0x90, channel, key, velocity),
            OutEvent::NoteOff { channel, key, .. } => note(0x80, channel, key, 0.0),
            OutEvent::Midi { data, .. } => Some(data),
            _ => None,
        }
    }

    /// `Some((key, velocity))` if this is a note-on, whether sent as a CLAP note event or as
    /// a MIDI 0x9n message with non-zero velocity.
    pub fn as_note_on(&self) -> Option<(u8, f64)> {
        match *self {
            OutEvent::NoteOn { key, velocity, .. } if (0..128).contains(&key) => {
                Some((key as u8, velocity))
            }
            OutEvent::Midi { data, .. } if data[0] & 0xF0 == 0x90 && data[2] > 0 => {
                Some((data[1] & 0x7F, f64::from(data[2]) / 127.0))
            }
            _ => None,
        }
    }

    /// `Some(key)` if this is a note-off (CLAP note off, MIDI 0x8n, or 0x9n with velocity 0).
    /// `Some(None)` means "all keys" (a CLAP note-off with key -1).
    pub fn as_note_off(&self) -> Option<Option<u8>> {
        match *self {
            OutEvent::NoteOff { key, .. } => Some(u8::try_from(key).ok().filter(|k| *k < 128)),
            OutEvent::Midi { data, .. }
                if data[0] & 0xF0 == 0x80 || (data[0] & 0xF0 == 0x90 && data[2] == 0) =>
            {
                Some(Some(data[1] & 0x7F))
            }
            _ => None,
        }
    }
}

fn convert_out_event(event: &UnknownEvent) -> OutEvent {
    let time = event.header().time();
    match event.as_core_event() {
        Some(CoreEventSpace::NoteOn(e)) => {
            let p = e.pckn();
            OutEvent::NoteOn {
                time,
                port: p.raw_port_index(),
                channel: p.raw_channel(),
                key: p.raw_key(),
                velocity: e.velocity(),
            }
        }
        Some(CoreEventSpace::NoteOff(e)) => {
            let p = e.pckn();
            OutEvent::NoteOff {
                time,
                port: p.raw_port_index(),
                channel: p.raw_channel(),
                key: p.raw_key(),
                velocity: e.velocity(),
            }
        }
        Some(CoreEventSpace::Midi(e)) => OutEvent::Midi {
            time,
            port: e.port_index(),
            data: e.data(),
        },
        Some(CoreEventSpace::ParamValue(e)) => OutEvent::ParamValue {
            time,
            id: e.param_id().map(|i| i.get()).unwrap_or(u32::MAX),
            value: e.value(),
        },
        _ => OutEvent::Other {
            time,
            type_id: event.header().type_id(),
        },
    }
}

fn fill_input_events(buffer: &mut EventBuffer, events: &[InEvent]) {
    buffer.clear();
    let mut sorted: Vec<InEvent> = events.to_vec();
    sorted.sort_by_key(|e| match e {
        InEvent::ParamValue { time, .. } => *time,
    });
    for e in sorted {
        match e {
            InEvent::ParamValue { time, id, value } => {
                buffer.push(&ParamValueEvent::new(
                    time,
                    ClapId::new(id),
                    Pckn::match_all(),
                    value,
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processing options and results
// ---------------------------------------------------------------------------------------------

/// How the host lays out the audio buffers for one `process` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Placement {
    /// Separate input and output buffers (output pre-filled with NaN, so untouched output shows).
    #[default]
    OutOfPlace,
    /// Output channel pointers equal the input channel pointers (main ports only).
    InPlace,
}

/// Options for [`ClapPlugin::process`].
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    /// Buffer placement.
    pub placement: Placement,
    /// Input events for this block.
    pub events: Vec<InEvent>,
}

/// Result of one `process` call.
#[derive(Debug, Clone)]
pub struct ProcessResult {
    /// Main output port audio, one `Vec` per channel.
    pub audio: Vec<Vec<f32>>,
    /// The other output ports' audio, in port order (`aux[port][channel]`).
    pub aux: Vec<Vec<Vec<f32>>>,
    /// Output events.
    pub events: Vec<OutEvent>,
    /// The status the plugin returned.
    pub status: ProcessStatus,
}

/// Result of [`ClapPlugin::process_signal`].
#[derive(Debug, Clone, Default)]
pub struct SignalResult {
    /// Main output port audio, one `Vec` per channel, all blocks concatenated.
    pub audio: Vec<Vec<f32>>,
    /// Output events with `time` rebased to the start of the whole signal (as absolute sample
    /// index, saturating at `u32::MAX`).
    pub events: Vec<OutEvent>,
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

    // ---------------- ports ----------------

    /// Audio ports (`is_input` selects inputs or outputs). Empty if `clap.audio-ports` is absent.
    pub fn audio_ports(&mut self, is_input: bool) -> Vec<AudioPort> {
        let Some(ext) = self.ext::<PluginAudioPorts>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortInfoBuffer::new();
        (0..ext.count(&handle, is_input))
            .filter_map(|i| {
                ext.get(&handle, i, is_input, &mut buf).map(|p| AudioPort {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    channel_count: p.channel_count,
                    is_main: p.flags.contains(AudioPortFlags::IS_MAIN),
                    port_type: p.port_type.map(|t| t.0.to_string_lossy().into_owned()),
                    in_place_pair: p.in_place_pair.map(|id| id.get()),
                })
            })
            .collect()
    }

    /// Note ports. Empty if `clap.note-ports` is absent.
    pub fn note_ports(&mut self, is_input: bool) -> Vec<NotePort> {
        let Some(ext) = self.ext::<PluginNotePorts>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = NotePortInfoBuffer::new();
        (0..ext.count(&handle, is_input))
            .filter_map(|i| {
                ext.get(&handle, i, is_input, &mut buf).map(|p| NotePort {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    supports_clap: p.supported_dialects.contains(NoteDialects::CLAP),
                    supports_midi: p.supported_dialects.contains(NoteDialects::MIDI),
                })
            })
            .collect()
    }

    /// Audio-port configurations. Empty if `clap.audio-ports-config` is absent.
    pub fn audio_port_configs(&mut self) -> Vec<PortConfig> {
        let Some(ext) = self.ext::<PluginAudioPortsConfig>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortsConfigBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                ext.get(&handle, i, &mut buf).map(|c| PortConfig {
                    id: c.id.get(),
                    name: String::from_utf8_lossy(c.name).into_owned(),
                    main_input_channels: c.main_input.as_ref().map_or(0, |m| m.channel_count),
                    main_output_channels: c.main_output.as_ref().map_or(0, |m| m.channel_count),
                    input_port_count: c.input_port_count,
                    output_port_count: c.output_port_count,
                })
            })
            .collect()
    }

    /// Selects an audio-port configuration (plugin must be inactive).
    pub fn select_audio_port_config(&mut self, config_id: u32) -> Result<()> {
        if self.activation.is_some() {
            bail!("select_audio_port_config while active");
        }
        let ext = self
            .ext::<PluginAudioPortsConfig>()
            .ok_or_else(|| anyhow!("no clap.audio-ports-config"))?;
        let handle = self.instance.plugin_handle();
        ext.select(&handle, ClapId::new(config_id))
            .map_err(|_| anyhow!("select({config_id}) refused"))?;
        self.pump_main_thread();
        Ok(())
    }

    // ---------------- params ----------------

    /// All parameters. Empty if `clap.params` is absent.
    pub fn params(&mut self) -> Vec<Param> {
        let Some(ext) = self.ext::<PluginParams>() else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = ParamInfoBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                ext.get_info(&handle, i, &mut buf).map(|p| Param {
                    id: p.id.get(),
                    name: String::from_utf8_lossy(p.name).into_owned(),
                    module: String::from_utf8_lossy(p.module).into_owned(),
                    min: p.min_value,
                    max: p.max_value,
                    default: p.default_value,
                    is_stepped: p.flags.contains(ParamInfoFlags::IS_STEPPED),
                    is_enum: p.flags.contains(ParamInfoFlags::IS_ENUM),
                    is_hidden: p.flags.contains(ParamInfoFlags::IS_HIDDEN),
                    is_readonly: p.flags.contains(ParamInfoFlags::IS_READONLY),
                    is_bypass: p.flags.contains(ParamInfoFlags::IS_BYPASS),
                    is_automatable: p.flags.contains(ParamInfoFlags::IS_AUTOMATABLE),
                })
            })
            .collect()
    }

    /// The parameter whose display name equals `name` (case-insensitive).
    pub fn param_by_name(&mut self, name: &str) -> Option<Param> {
        self.params()
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Current plain value of a parameter.
    pub fn param_value(&mut self, id: u32) -> Option<f64> {
        let ext = self.ext::<PluginParams>()?;
        let handle = self.instance.plugin_handle();
        ext.get_value(&handle, ClapId::new(id))
    }

    /// `value_to_text` for a plain value.
    pub fn param_value_to_text(&mut self, id: u32, value: f64) -> Option<String> {
        let ext = self.ext::<PluginParams>()?;
        let handle = self.instance.plugin_handle();
        let mut buf = [0u8; 256];
        ext.value_to_text(&handle, ClapId::new(id), value, &mut buf)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// `text_to_value`, returning a plain value.
    pub fn param_text_to_value(&mut self, id: u32, text: &str) -> Option<f64> {
        let ext = self.ext::<PluginParams>()?;
        let text = CString::new(text).ok()?;
        let handle = self.instance.plugin_handle();
        ext.text_to_value(&handle, ClapId::new(id), &text)
    }

    /// Sets parameters while the plugin is **inactive**, through `clap.params` `flush`.
    /// While active, pass the changes as [`InEvent::ParamValue`] to a process call instead
    /// (or use [`set_params`](Self::set_params), which handles both).
    pub fn flush_params(&mut self, changes: &[(u32, f64)]) -> Result<Vec<OutEvent>> {
        let ext = self
            .ext::<PluginParams>()
            .ok_or_else(|| anyhow!("no clap.params"))?;
        let events: Vec<InEvent> = changes
            .iter()
            .map(|&(id, value)| InEvent::ParamValue { time: 0, id, value })
            .collect();
        fill_input_events(&mut self.in_events, &events);
        self.out_events.clear();
        {
            let mut handle = self
                .instance
                .inactive_plugin_handle()
                .ok_or_else(|| anyhow!("flush_params: plugin is active"))?;
            let input = self.in_events.as_input();
            let mut output = self.out_events.as_output();
            ext.flush(&mut handle, &input, &mut output);
        }
        let out = self.out_events.iter().map(convert_out_event).collect();
        self.pump_main_thread();
        Ok(out)
    }

    /// Sets parameters (plain values) whether or not the plugin is active: inactive → `flush`,
    /// active → a silent one-sample process call carrying the events.
    pub fn set_params(&mut self, changes: &[(u32, f64)]) -> Result<()> {
        if self.activation.is_none() {
            self.flush_params(changes)?;
            return Ok(());
        }
        let channels = self.main_input_channels();
        let input = vec![vec![0.0f32; 1]; channels];
        let events = changes
            .iter()
            .map(|&(id, value)| InEvent::ParamValue { time: 0, id, value })
            .collect();
        self.process(
            &input,
            &ProcessOptions {
                placement: Placement::OutOfPlace,
                events,
            },
        )?;
        Ok(())
    }

    // ---------------- latency / state ----------------

    /// `clap.latency` `get`, or `None` if the extension is absent.
    pub fn latency(&mut self) -> Option<u32> {
        let ext = self.ext::<PluginLatency>()?;
        let handle = self.instance.plugin_handle();
        Some(ext.get(&handle))
    }

    /// Breaks the host contract on purpose, as some hosts do: from now on, blocks longer
    /// than the activation's `max_frames` are sent instead of refused.
    pub fn allow_oversized_blocks(&mut self) {
        self.oversized_blocks = true;
    }

    /// `clap.render`: switches between real-time and offline ("freewheeling") rendering.
    /// Returns false if the plugin lacks the extension or refuses the mode.
    pub fn set_render_offline(&mut self, offline: bool) -> bool {
        use clack_extensions::render::{PluginRender, RenderMode};
        let Some(ext) = self.ext::<PluginRender>() else {
            return false;
        };
        let handle = self.instance.plugin_handle();
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        ext.set(&handle, mode).is_ok()
    }

    /// `clap.state` `save` into a byte vector.
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.save_state_into(&mut out)?;
        Ok(out)
    }

    /// `clap.state` `save` into any writer (use [`ChunkedWriter`] to test short writes).
    pub fn save_state_into<W: Write>(&mut self, writer: &mut W) -> Result<()> {
        let ext = self
            .ext::<PluginState>()
            .ok_or_else(|| anyhow!("no clap.state"))?;
        let handle = self.instance.plugin_handle();
        ext.save(&handle, writer)
            .map_err(|e| anyhow!("state save failed: {e:?}"))?;
        self.pump_main_thread();
        Ok(())
    }

    /// `clap.state` `load` from a byte slice.
    pub fn load_state(&mut self, data: &[u8]) -> Result<()> {
        let mut reader = data;
        self.load_state_from(&mut reader)
    }

    /// `clap.state` `load` from any reader (use [`ChunkedReader`] to test short reads).
    pub fn load_state_from<R: Read>(&mut self, reader: &mut R) -> Result<()> {
        let ext = self
            .ext::<PluginState>()
            .ok_or_else(|| anyhow!("no clap.state"))?;
        let handle = self.instance.plugin_handle();
        let res = ext.load(&handle, reader);
        self.pump_main_thread();
        res.map_err(|e| anyhow!("state load failed: {e:?}"))
    }

    // ---------------- GUI ----------------

    /// `clap.gui`, if the plugin offers it.
    pub fn gui(&mut self) -> Option<PluginGui> {
        self.ext::<PluginGui>()
    }

    /// `is_api_supported(x11, floating)`.
    pub fn gui_x11_supported(&mut self, floating: bool) -> bool {
        let Some(gui) = self.gui() else { return false };
        let handle = self.instance.plugin_handle();
        gui.is_api_supported(
            &handle,
            GuiConfiguration {
                api_type: GuiApiType::X11,
                is_floating: floating,
            },
        )
    }

    /// Creates an embedded X11 editor, parents it to `parent_window` (an X11 window id), and
    /// shows it. Returns the editor's reported size.
    ///
    /// # Safety
    /// `parent_window` must be a live X11 window on the display the plugin will connect to
    /// (`DISPLAY`), and it must outlive the editor (call [`gui_close`](Self::gui_close) first).
    pub unsafe fn gui_open_embedded_x11(&mut self, parent_window: u64) -> Result<Option<GuiSize>> {
        let gui = self.gui().ok_or_else(|| anyhow!("no clap.gui"))?;
        let handle = self.instance.plugin_handle();
        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        if !gui.is_api_supported(&handle, config) {
            bail!("plugin does not support embedded X11 GUIs");
        }
        gui.create(&handle, config)
            .map_err(|e| anyhow!("gui create: {e}"))?;
        let _ = gui.set_scale(&handle, 1.0);
        let size = gui.get_size(&handle);
        // SAFETY: upheld by the caller.
        unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent_window as _)) }
            .map_err(|e| anyhow!("gui set_parent: {e}"))?;
        gui.show(&handle).map_err(|e| anyhow!("gui show: {e}"))?;
        self.pump_main_thread();
        Ok(size)
    }

    /// Hides and destroys the editor.
    pub fn gui_close(&mut self) -> Result<()> {
        let gui = self.gui().ok_or_else(|| anyhow!("no clap.gui"))?;
        let handle = self.instance.plugin_handle();
        let _ = gui.hide(&handle);
        gui.destroy(&handle);
        self.pump_main_thread();
        Ok(())
    }

    // ---------------- lifecycle ----------------

    /// The current activation, if active.
    pub fn activation(&self) -> Option<Activation> {
        self.activation
    }

    /// Activates at `sample_rate` with block sizes in `min_frames..=max_frames` and starts
    /// processing.
    pub fn activate(&mut self, sample_rate: f64, min_frames: u32, max_frames: u32) -> Result<()> {
        if self.activation.is_some() {
            bail!("already active");
        }
        let inputs: Vec<AudioPort> = self.audio_ports(true);
        let outputs: Vec<AudioPort> = self.audio_ports(false);
        let layout = PortLayout {
            main_input: inputs
                .iter()
                .position(|p| p.is_main)
                .or(if inputs.is_empty() { None } else { Some(0) }),
            main_output: outputs
                .iter()
                .position(|p| p.is_main)
                .or(if outputs.is_empty() { None } else { Some(0) }),
            inputs: inputs.iter().map(|p| p.channel_count).collect(),
            outputs: outputs.iter().map(|p| p.channel_count).collect(),
        };
        let max = max_frames as usize;
        self.aux_in = layout
            .inputs
            .iter()
            .map(|&c| vec![vec![0.0f32; max]; c as usize])
            .collect();
        self.aux_out = layout
            .outputs
            .iter()
            .map(|&c| vec![vec![0.0f32; max]; c as usize])
            .collect();

        let stopped = self
            .instance
            .activate(
                |_, _| HostAudioProcessor,
                PluginAudioConfiguration {
                    sample_rate,
                    min_frames_count: min_frames,
                    max_frames_count: max_frames,
                },
            )
            .map_err(|e| anyhow!("activate({sample_rate} Hz, {min_frames}..={max_frames}): {e}"))?;
        let started = match stopped.start_processing() {
            Ok(s) => s,
            Err(e) => {
                let stopped = e.into_stopped_processor();
                self.instance.deactivate(stopped);
                bail!("start_processing failed");
            }
        };
        self.processor = Some(started.into());
        self.activation = Some(Activation {
            sample_rate,
            min_frames,
            max_frames,
        });
        self.layout = Some(layout);
        self.steady_time = 0;
        self.pump_main_thread();
        Ok(())
    }

    /// Stops processing and deactivates (no-op if inactive).
    pub fn deactivate(&mut self) {
        if let Some(mut p) = self.processor.take() {
            let _ = p.stop_processing();
            let stopped = p.into_stopped();
            self.instance.deactivate(stopped);
        }
        self.activation = None;
        self.layout = None;
        self.pump_main_thread();
    }

    /// `stop_processing` (the plugin stays active).
    pub fn stop_processing(&mut self) -> Result<()> {
        let p = self
            .processor
            .as_mut()
            .ok_or_else(|| anyhow!("not active"))?;
        p.stop_processing()
            .map_err(|e| anyhow!("stop_processing: {e}"))?;
        Ok(())
    }

    /// `start_processing` after a [`stop_processing`](Self::stop_processing).
    pub fn start_processing(&mut self) -> Result<()> {
        let p = self
            .processor
            .as_mut()
            .ok_or_else(|| anyhow!("not active"))?;
        p.start_processing()
            .map_err(|e| anyhow!("start_processing: {e}"))?;
        Ok(())
    }

    /// `reset` while active.
    pub fn reset(&mut self) -> Result<()> {
        let p = self
            .processor
            .as_mut()
            .ok_or_else(|| anyhow!("not active"))?;
        p.reset();
        self.steady_time = 0;
        Ok(())
    }

    /// Channel count of the main input port for the current activation (or as currently
    /// reported, when inactive). 0 if there is none.
    pub fn main_input_channels(&mut self) -> usize {
        if let Some(l) = &self.layout {
            return l.main_input.map_or(0, |i| l.inputs[i] as usize);
        }
        let ports = self.audio_ports(true);
        ports
            .iter()
            .find(|p| p.is_main)
            .or(ports.first())
            .map_or(0, |p| p.channel_count as usize)
    }

    /// Channel count of the main output port (see [`main_input_channels`](Self::main_input_channels)).
    pub fn main_output_channels(&mut self) -> usize {
        if let Some(l) = &self.layout {
            return l.main_output.map_or(0, |i| l.outputs[i] as usize);
        }
        let ports = self.audio_ports(false);
        ports
            .iter()
            .find(|p| p.is_main)
            .or(ports.first())
            .map_or(0, |p| p.channel_count as usize)
    }

    /// Processes one block. `input` holds the main input port's channels (all the same length,
    /// at most the activation's `max_frames`); other input ports get silence. Returns the main
    /// output port's channels and the output events.
    ///
    /// With [`Placement::InPlace`] the main output port shares the input's channel buffers
    /// (the returned audio is then the processed copy of `input`).
    pub fn process(
        &mut self,
        input: &[Vec<f32>],
        options: &ProcessOptions,
    ) -> Result<ProcessResult> {
        let act = self
            .activation
            .ok_or_else(|| anyhow!("process: not active"))?;
        let layout = self.layout.as_ref().expect("layout set while active");
        let frames = input.first().map_or(0, Vec::len);
        if input.iter().any(|c| c.len() != frames) {
            bail!("process: channels of different lengths");
        }
        if frames > act.max_frames as usize {
            if !self.oversized_blocks {
                bail!("process: {frames} frames > max_frames {}", act.max_frames);
            }
            for ch in self
                .aux_in
                .iter_mut()
                .chain(self.aux_out.iter_mut())
                .flatten()
            {
                if ch.len() < frames {
                    ch.resize(frames, 0.0);
                }
            }
        }
        let main_in = layout.main_input;
        let main_out = layout.main_output;
        let main_in_ch = main_in.map_or(0, |i| layout.inputs[i] as usize);
        let main_out_ch = main_out.map_or(0, |i| layout.outputs[i] as usize);
        if input.len() != main_in_ch {
            bail!(
                "process: got {} input channels, main input port has {main_in_ch}",
                input.len()
            );
        }
        let in_place = options.placement == Placement::InPlace;
        if in_place && main_in_ch != main_out_ch {
            bail!("process: in-place needs equal main in/out channel counts ({main_in_ch} vs {main_out_ch})");
        }

        // Working copies: the main input (mutable so in-place can write to it) and the main
        // output, pre-filled with NaN so untouched output is caught.
        let mut main_in_buf: Vec<Vec<f32>> = input.to_vec();
        let mut main_out_buf: Vec<Vec<f32>> = if in_place {
            Vec::new()
        } else {
            vec![vec![f32::NAN; frames]; main_out_ch]
        };
        for port in self.aux_in.iter_mut() {
            for ch in port.iter_mut() {
                ch[..frames].fill(0.0);
            }
        }
        // Untouched auxiliary output shows as NaN.
        for port in self.aux_out.iter_mut() {
            for ch in port.iter_mut() {
                ch[..frames].fill(f32::NAN);
            }
        }

        // Channel pointer arrays, one per port.
        let in_ptrs: Vec<Vec<*mut f32>> = self
            .aux_in
            .iter_mut()
            .enumerate()
            .map(|(i, port)| {
                if Some(i) == main_in {
                    main_in_buf.iter_mut().map(|c| c.as_mut_ptr()).collect()
                } else {
                    port.iter_mut().map(|c| c.as_mut_ptr()).collect()
                }
            })
            .collect();
        let out_ptrs: Vec<Vec<*mut f32>> = self
            .aux_out
            .iter_mut()
            .enumerate()
            .map(|(i, port)| {
                if Some(i) == main_out {
                    if in_place {
                        in_ptrs[main_in.expect("main input")].clone()
                    } else {
                        main_out_buf.iter_mut().map(|c| c.as_mut_ptr()).collect()
                    }
                } else {
                    port.iter_mut().map(|c| c.as_mut_ptr()).collect()
                }
            })
            .collect();
        let mut in_ptrs = in_ptrs;
        let mut out_ptrs = out_ptrs;
        let in_bufs: Vec<clap_audio_buffer> = in_ptrs
            .iter_mut()
            .map(|p| clap_audio_buffer {
                data32: p.as_mut_ptr(),
                data64: std::ptr::null_mut(),
                channel_count: p.len() as u32,
                latency: 0,
                constant_mask: 0,
            })
            .collect();
        let mut out_bufs: Vec<clap_audio_buffer> = out_ptrs
            .iter_mut()
            .map(|p| clap_audio_buffer {
                data32: p.as_mut_ptr(),
                data64: std::ptr::null_mut(),
                channel_count: p.len() as u32,
                latency: 0,
                constant_mask: 0,
            })
            .collect();

        fill_input_events(&mut self.in_events, &options.events);
        self.out_events.clear();

        let frames_u32 = frames as u32;
        // SAFETY: every channel pointer points at a buffer of at least `frames` f32s that lives
        // until the end of this function; the pointer arrays outlive the call as well.
        let audio_in = unsafe { InputAudioBuffers::from_raw_buffers(&in_bufs, frames_u32) };
        // SAFETY: as above.
        let mut audio_out =
            unsafe { OutputAudioBuffers::from_raw_buffers(&mut out_bufs, frames_u32) };

        let processor = self
            .processor
            .as_mut()
            .expect("processor present while active");
        // The plugin's audio-thread calls run in RealtimeSanitizer's real-time context: in a
        // test binary built with RTSAN_ENABLE (`cargo xtask test`'s RTSan step) any
        // allocation, lock, sleep or blocking system call in the plugin aborts the test with
        // a stack trace; in other builds the guard does nothing. Nothing of the host's own
        // runs inside it (the event buffers are preallocated).
        let status = {
            // Zero-length calls stay outside: nice-plug 0.4.2's *debug* wrapper logs a debug
            // assertion for them (compiled out of release builds), which allocates.
            let _rt = (frames > 0).then(rtsan_standalone::ScopedSanitizeRealtime::default);
            let started = processor.ensure_processing_started();
            match started {
                Ok(started) => started.process(
                    &audio_in,
                    &mut audio_out,
                    &self.in_events.as_input(),
                    &mut self.out_events.as_output(),
                    Some(self.steady_time),
                    None,
                ),
                Err(e) => {
                    drop(_rt);
                    return Err(anyhow!("start_processing: {e}"));
                }
            }
        }
        .map_err(|e| anyhow!("process({frames} frames): {e}"))?;
        self.steady_time += u64::from(frames_u32);

        let events: Vec<OutEvent> = self.out_events.iter().map(convert_out_event).collect();
        // Every event the plugin sends lies inside the block it is sent in, in time order
        // (Ardour aborted once while recording a plugin's MIDI; CLAP requires both).
        let mut last = 0;
        for e in &events {
            let t = e.time();
            if frames > 0 && t as usize >= frames {
                bail!("output event {e:?} at sample {t}, outside the {frames}-sample block");
            }
            if t < last {
                bail!("output event {e:?} at sample {t} after one at {last}: out of order");
            }
            last = t;
        }
        drop(out_bufs);
        drop(in_bufs);
        drop(out_ptrs);
        drop(in_ptrs);
        let audio = if in_place { main_in_buf } else { main_out_buf };
        let aux = self
            .aux_out
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != main_out)
            .map(|(_, port)| port.iter().map(|c| c[..frames].to_vec()).collect())
            .collect();
        self.pump_main_thread();
        Ok(ProcessResult {
            audio,
            aux,
            events,
            status,
        })
    }

    /// Processes a whole multi-channel signal, cut into blocks of the given sizes (which must
    /// sum to the signal length). Event times are rebased to absolute sample positions.
    pub fn process_signal(
        &mut self,
        signal: &[Vec<f32>],
        block_sizes: &[usize],
        placement: Placement,
    ) -> Result<SignalResult> {
        let total = signal.first().map_or(0, Vec::len);
        if block_sizes.iter().sum::<usize>() != total {
            bail!("block sizes do not cover the signal");
        }
        let out_ch = self.main_output_channels();
        let mut result = SignalResult {
            audio: vec![Vec::with_capacity(total); out_ch],
            events: Vec::new(),
        };
        let mut pos = 0usize;
        let options = ProcessOptions {
            placement,
            events: Vec::new(),
        };
        for &n in block_sizes {
            let block: Vec<Vec<f32>> = signal.iter().map(|c| c[pos..pos + n].to_vec()).collect();
            let r = self
                .process(&block, &options)
                .with_context(|| format!("block at sample {pos} ({n} frames)"))?;
            for (dst, src) in result.audio.iter_mut().zip(r.audio) {
                dst.extend_from_slice(&src);
            }
            let offset = pos as u32;
            result.events.extend(r.events.into_iter().map(|mut e| {
                match &mut e {
                    OutEvent::NoteOn { time, .. }
                    | OutEvent::NoteOff { time, .. }
                    | OutEvent::Midi { time, .. }
                    | OutEvent::ParamValue { time, .. }
                    | OutEvent::Other { time, .. } => *time = time.saturating_add(offset),
                }
                e
            }));
            pos += n;
        }
        Ok(result)
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

// ---------------------------------------------------------------------------------------------
// Stream helpers
// ---------------------------------------------------------------------------------------------

/// A reader that returns at most `chunk` bytes per `read` call (hosts may do this; the CLAP
/// spec requires plugins to loop).
pub struct ChunkedReader<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl<'a> ChunkedReader<'a> {
    /// Reads `data` in pieces of at most `chunk` (≥ 1) bytes.
    pub fn new(data: &'a [u8], chunk: usize) -> Self {
        Self {
            data,
            chunk: chunk.max(1),
        }
    }
}

impl Read for ChunkedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// A writer that accepts at most `chunk` bytes per `write` call.
pub struct ChunkedWriter {
    /// Everything written so far.
    pub data: Vec<u8>,
    chunk: usize,
}

impl ChunkedWriter {
    /// Accepts pieces of at most `chunk` (≥ 1) bytes.
    pub fn new(chunk: usize) -> Self {
        Self {
            data: Vec::new(),
            chunk: chunk.max(1),
        }
    }
}

impl Write for ChunkedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

/// Index and values of the first sample where `a` and `b` differ bit-wise (`NaN`s compare by
/// bits too), or `None` if identical. Lengths must match.
pub fn first_bit_difference(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .find(|(_, (x, y))| x.to_bits() != y.to_bits())
        .map(|(i, (x, y))| (i, *x, *y))
}

/// Index and value of the first non-finite sample.
pub fn first_non_finite(a: &[f32]) -> Option<(usize, f32)> {
    a.iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite())
        .map(|(i, x)| (i, *x))
}

/// Index and value of the first subnormal sample.
pub fn first_subnormal(a: &[f32]) -> Option<(usize, f32)> {
    a.iter()
        .enumerate()
        .find(|(_, x)| x.is_subnormal())
        .map(|(i, x)| (i, *x))
}
