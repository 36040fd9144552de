//! Shared helpers for Prism's host-level integration tests.
//!
//! * [`bundles`]: where the bundles live (`PRISM_BUNDLE_DIR`, else `<workspace>/target/bundled`),
//!   enumerating every `*.clap` / `*.vst3` there, and the "fail loudly when nothing was built"
//!   policy (opt-out: `PRISM_SKIP_HOST_TESTS=1`).
//! * [`signal`]: deterministic test signals (xorshift white noise, sines, harmonic tones, chords).
//! * [`clap`]: a small CLAP host on top of `clack-host` that offers the host-side `clap.gui`,
//!   `clap.params`, `clap.state`, `clap.latency`, `clap.audio-ports`, `clap.note-ports` and
//!   `clap.log` extensions, and drives a plugin through its whole lifecycle.
//! * [`dl`]: `dlopen(RTLD_NOW)` of a bundle's shared object, as validators scan it.
//! * [`isolate`]: every host test in its own child process, so a crash fails one test.
//! * [`harness`]: run a check over every plugin of every bundle and report all failures.
//! * [`py`]: the Python host scripts (pedalboard, minihost) in a child process with a timeout.
//! * [`summary`]: per-plugin records for the README's generated test summary.
//! * [`xvfb`]: a throw-away X server for editor tests, plus screenshot helpers.
//!
//! The integration tests themselves live in `tests/tests/*.rs`.

pub mod bundles;
pub mod clap;
pub mod dl;
pub mod harness;
pub mod isolate;
pub mod py;
pub mod signal;
pub mod summary;
pub mod xvfb;

pub use bundles::{bundle_dir, require_bundles, workspace_root, BundleKind};

/// The `prism` CLI: `$PRISM_BIN_DIR/prism`, else `<target dir>/debug/prism`.
pub fn cli_binary() -> std::path::PathBuf {
    let bin_dir = std::env::var_os("PRISM_BIN_DIR")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"))
                .join("debug")
        });
    bin_dir.join(format!("prism{}", std::env::consts::EXE_SUFFIX))
}
