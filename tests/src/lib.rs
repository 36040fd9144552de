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
//! * [`harness`]: run a check over every plugin of every bundle and report all failures.
//! * [`xvfb`]: a throw-away X server for editor tests, plus screenshot helpers.
//!
//! The integration tests themselves live in `tests/tests/*.rs`.

pub mod bundles;
pub mod clap;
pub mod dl;
pub mod harness;
pub mod signal;
pub mod xvfb;

pub use bundles::{bundle_dir, require_bundles, workspace_root, BundleKind};
