//! The host side: the handlers `clack-host` calls and what they record for the tests.

use super::*;

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
