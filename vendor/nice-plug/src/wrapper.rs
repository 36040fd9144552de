//! Wrappers for different plugin types. Each wrapper has an entry point macro that you can pass the
//! name of a type that implements `Plugin` to. The macro will handle the rest.

pub mod clap;
pub(crate) mod state;
pub(crate) mod util;

#[cfg(feature = "standalone")]
pub mod standalone;
#[cfg(feature = "vst3")]
pub mod vst3;

// This is used by the wrappers.
pub use util::setup_logger;

use nice_plug_core::audio_setup::ProcessMode;
use std::cell::Cell;

thread_local! {
    static CALL_PROCESS_MODE: Cell<Option<ProcessMode>> = const { Cell::new(None) };
}

/// Prism patch: the host's process mode for the `process()` call running on this thread, or
/// `None` outside one. VST3 hosts state it in every `process()` call (`ProcessData::processMode`;
/// Ardour switches to `kOffline` for an export without a new `setupProcessing()`); for CLAP it
/// is the render mode the host set (`clap.render`). Real-time safe (a thread-local `Cell`).
pub fn call_process_mode() -> Option<ProcessMode> {
    CALL_PROCESS_MODE.with(Cell::get)
}

/// Runs `f` (a wrapper's call into `Plugin::process`) with [`call_process_mode`] set to `mode`.
#[allow(dead_code)]
pub(crate) fn with_call_process_mode<R>(mode: ProcessMode, f: impl FnOnce() -> R) -> R {
    let previous = CALL_PROCESS_MODE.with(|c| c.replace(Some(mode)));
    let result = f();
    CALL_PROCESS_MODE.with(|c| c.set(previous));
    result
}
