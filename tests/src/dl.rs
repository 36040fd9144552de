//! Loading a plugin binary the way validators scan it: `dlopen(RTLD_NOW | RTLD_LOCAL)`, so
//! every undefined symbol must resolve at load time (a lazy load, as most hosts do, would only
//! fail later, in the middle of a session), and the entry symbols must be exported.

use anyhow::{anyhow, Result};
use std::path::Path;

/// `dlopen(path, RTLD_NOW | RTLD_LOCAL)` and look up each of `symbols`.
pub fn check_dlopen_now(path: &Path, symbols: &[&str]) -> Result<()> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: loading runs the library's initialisers; these are the project's own plugins.
        let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
            .map_err(|e| anyhow!("dlopen(RTLD_NOW) of {} failed: {e}", path.display()))?;
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
