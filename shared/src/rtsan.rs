//! Telling a RealtimeSanitizer in the host process that a section is deliberately not real
//! time.
//!
//! The Split engine waits for its worker only in an offline render (a host that announced
//! it, or one running far ahead of the wall clock). A test host that runs the plugin's
//! `process()` inside RTSan's real-time context (the CLAP suite under `cargo xtask test`'s
//! RTSan step) would report that wait; [`OfflineSection`] suspends RTSan around it, through
//! the runtime's `__rtsan_disable` / `__rtsan_enable` when the process exports them, and is
//! a no-op everywhere else (every DAW). The symbols are looked up once, in
//! [`resolve`], off the audio thread.

use std::ffi::{c_char, c_void};
use std::sync::OnceLock;

type Hook = unsafe extern "C" fn();

struct Hooks {
    disable: Hook,
    enable: Hook,
}

static HOOKS: OnceLock<Option<Hooks>> = OnceLock::new();

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// Looks the RTSan runtime's hooks up in the process (`dlsym(RTLD_DEFAULT, …)`). Not for
/// the audio thread; call it where the engine is prepared.
pub fn resolve() {
    HOOKS.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT (null) and NUL-terminated names; a non-null
        // result is the address of the runtime's `void f(void)` functions.
        unsafe {
            let disable = dlsym(std::ptr::null_mut(), c"__rtsan_disable".as_ptr());
            let enable = dlsym(std::ptr::null_mut(), c"__rtsan_enable".as_ptr());
            (!disable.is_null() && !enable.is_null()).then(|| Hooks {
                disable: std::mem::transmute::<*mut c_void, Hook>(disable),
                enable: std::mem::transmute::<*mut c_void, Hook>(enable),
            })
        }
    });
}

/// While alive, RTSan (if the host process has it) does not report: for offline waits only.
pub struct OfflineSection(Option<&'static Hooks>);

impl OfflineSection {
    /// Real-time safe: reads a resolved `OnceLock`, never initialises it.
    pub fn enter() -> Self {
        let hooks = HOOKS.get().and_then(Option::as_ref);
        if let Some(h) = hooks {
            // SAFETY: the runtime's own function, resolved by `resolve`.
            unsafe { (h.disable)() };
        }
        Self(hooks)
    }
}

impl Drop for OfflineSection {
    fn drop(&mut self) {
        if let Some(h) = self.0 {
            // SAFETY: as in `enter`.
            unsafe { (h.enable)() };
        }
    }
}
