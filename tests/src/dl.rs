//! Dynamic-loader helpers.
//!
//! * [`check_dlopen_now`]: load a plugin binary the way validators scan it,
//!   `dlopen(RTLD_NOW | RTLD_LOCAL)`, so every undefined symbol must resolve at load time (a lazy
//!   load, as most hosts do, would only fail later, in the middle of a session), and check the
//!   entry symbols are exported.
//! * [`pin`]: keep a library mapped for the rest of the process (`RTLD_NODELETE`).
//!
//! Why pin: a Rust `cdylib` registers, through its own copy of `std`, a pthread-key destructor
//! (`std::sys::thread_local::guard::key::enable::run`) on every thread that touches one of its
//! thread-locals. If the host `dlclose`s the library and such a thread exits later, glibc calls
//! into unmapped code (SIGSEGV). The host tests pin every bundle they load so that their own
//! library load/unload churn cannot crash unrelated tests at random; unload safety itself is
//! checked deliberately, in a child process, by `clap_host::plugin_unload_then_thread_exit`.

use anyhow::{anyhow, Result};
use std::path::Path;

/// glibc's `RTLD_NODELETE` (not exported by libloading).
#[cfg(target_os = "linux")]
const RTLD_NODELETE: std::os::raw::c_int = 0x1000;

/// `dlopen(path, RTLD_NOW | RTLD_LOCAL)` (plus `RTLD_NODELETE` on Linux, so that a later
/// close never unmaps a plugin whose thread-exit destructors may still run).
#[cfg(unix)]
fn open_now(path: &Path) -> Result<libloading::os::unix::Library> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    #[cfg(target_os = "linux")]
    let flags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
    #[cfg(not(target_os = "linux"))]
    let flags = RTLD_NOW | RTLD_LOCAL;
    // SAFETY: loading runs the library's initialisers; these are the project's own plugins.
    unsafe { Library::open(Some(path), flags) }
        .map_err(|e| anyhow!("dlopen(RTLD_NOW) of {} failed: {e}", path.display()))
}

/// `dlopen(path, RTLD_NOW | RTLD_LOCAL)` and look up each of `symbols`.
pub fn check_dlopen_now(path: &Path, symbols: &[&str]) -> Result<()> {
    #[cfg(unix)]
    {
        let lib = open_now(path)?;
        for sym in symbols {
            // SAFETY: only the address is looked up; nothing is called.
            unsafe { lib.get::<*const std::ffi::c_void>(sym.as_bytes()) }
                .map_err(|e| anyhow!("{} does not export {sym}: {e}", path.display()))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = (path, symbols);
        Ok(())
    }
}

/// Keeps the library at `path` mapped until the process exits (Linux: `RTLD_NODELETE`;
/// elsewhere: a leaked handle). Idempotent.
pub fn pin(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        std::mem::forget(open_now(path)?);
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
