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
    binary("prism")
}

/// A workspace binary (the CLI, a standalone): `$PRISM_BIN_DIR/<name>`, else
/// `<target dir>/debug/<name>`.
pub fn binary(name: &str) -> std::path::PathBuf {
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
    bin_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Four seconds of the synthetic band (drums, bass, chords) and `prism split`'s drums stem
/// of it: (input.wav, drums.wav).
pub fn split_render_files(
    dir: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    use anyhow::Context;
    let left = prism_shared::split::parity_signal(4 * 44_100);
    let right: Vec<f32> = left.iter().map(|x| 0.8 * x).collect();
    let input = dir.join("band.wav");
    signal::write_wav_f32(&input, 44_100, &[left, right])?;
    let cli = cli_binary();
    anyhow::ensure!(
        cli.is_file(),
        "no prism CLI at {} (cargo build -p prism-cli; cargo xtask test builds it)",
        cli.display()
    );
    let out = std::process::Command::new(&cli)
        .arg("split")
        .arg(&input)
        .arg("-o")
        .arg(dir.join("stems"))
        .args(["--stems", "drums"])
        .output()
        .with_context(|| format!("running {}", cli.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "prism split failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((input, dir.join("stems").join("drums.wav")))
}
