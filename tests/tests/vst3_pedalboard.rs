//! VST3 tests through Spotify's pedalboard (a JUCE-based host): every `*.vst3` in the bundle
//! directory is loaded by `tests/py/vst3_check.py`, which lists parameters, checks
//! `reported_latency_samples == 0` (pedalboard compensates reported latency, so a wrong value
//! would also shift the audio), and checks that stereo and mono audio pass through unchanged.
//! For Prism Chroma it also sets "Reference Pitch" to 442 Hz by display name.
//!
//! Python: `$PRISM_VENV/bin/python`, else `<workspace>/.venv/bin/python`, with the packages
//! of `tests/requirements.txt` (`cargo xtask test` installs them).

use prism_tests::bundles::{self, BundleKind, CHROMA_NAME, PITCH_NAME, SPLIT_NAME};
use prism_tests::workspace_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TEST: &str = "vst3_pedalboard";

fn python() -> PathBuf {
    let (venv, source) = match std::env::var_os("PRISM_VENV") {
        Some(v) if !v.is_empty() => (PathBuf::from(v), "PRISM_VENV"),
        _ => (
            workspace_root().join(".venv"),
            "the default <workspace>/.venv",
        ),
    };
    let py = venv.join("bin").join("python");
    assert!(
        py.exists(),
        "{TEST}: no Python interpreter at {} ({source}).\n\
         Create the venv with the host-test packages:\n    \
         cargo xtask test      (installs tests/requirements.txt into .venv)\n\
         or\n    \
         python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt\n\
         or set PRISM_VENV to a venv that has pedalboard and numpy. \
         PRISM_SKIP_HOST_TESTS=1 skips host tests.",
        py.display()
    );
    py
}

/// Runs the script with a timeout, returning (exit code, stdout, stderr).
fn run_script(py: &Path, args: &[String], timeout: Duration) -> (Option<i32>, String, String) {
    let script = workspace_root()
        .join("tests")
        .join("py")
        .join("vst3_check.py");
    let out_path = std::env::temp_dir().join(format!(
        "prism-vst3-{}-{}.out",
        std::process::id(),
        args.len()
    ));
    let err_path = out_path.with_extension("err");
    let mut child = Command::new(py)
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{TEST}: cannot run {}: {e}", py.display()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break Some(s),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    match status {
        Some(s) => {
            #[cfg(unix)]
            if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&s) {
                return (
                    Some(-sig),
                    stdout,
                    format!("{stderr}\n(killed by signal {sig})"),
                );
            }
            (s.code(), stdout, stderr)
        }
        None => (
            None,
            stdout,
            format!("{stderr}\n(timed out after {timeout:?})"),
        ),
    }
}

#[test]
fn vst3_bundles_have_the_linux_layout() {
    let Some(vst3s) =
        bundles::require_bundles(BundleKind::Vst3, "vst3_bundles_have_the_linux_layout")
    else {
        return;
    };
    for b in &vst3s {
        assert!(b.is_dir(), "{} is not a directory bundle", b.display());
        let so = bundles::vst3_shared_object(b);
        assert!(so.is_file(), "{} lacks {}", b.display(), so.display());
        prism_tests::dl::check_dlopen_now(&so, &["GetPluginFactory", "ModuleEntry", "ModuleExit"])
            .unwrap();
    }
    assert!(
        vst3s.iter().any(|b| bundles::bundle_stem(b) == CHROMA_NAME),
        "no {CHROMA_NAME}.vst3 in {}: {vst3s:?}",
        bundles::bundle_dir().display()
    );
}

/// Prism Split: it loads, reports a latency (pedalboard compensates it), and has its
/// parameters by display name.
///
/// Known limitation (not yet solved): pedalboard (JUCE) hands no buffers to Split's three
/// auxiliary stem buses, and nice-plug 0.4.2's VST3 wrapper then skips `process()`
/// altogether (its debug log: "output_slices.len() != 0", "buffer_is_valid"), so the host
/// hears its own input. Until the plugin offers a layout without stem buses that such hosts
/// pick, the audio checks are off here (`--no-audio`); the audio path is tested through CLAP
/// (`tests/tests/split_host.rs`). `vst3_check.py --render-input/--render-compare` is ready
/// for the solo-drums-vs-`prism split` comparison once audio flows.
fn split_args() -> Vec<String> {
    let mut args: Vec<String> = ["--delaying", "--no-audio"].map(String::from).to_vec();
    for name in [
        "Separator",
        "Drums Gain",
        "Drums Solo",
        "Bass Mute",
        "Other Gain",
        "Bypass",
    ] {
        args.push("--expect-param".into());
        args.push(name.into());
    }
    args
}

#[test]
fn vst3_pedalboard_passthrough_latency_and_params() {
    let Some(vst3s) = bundles::require_bundles(BundleKind::Vst3, TEST) else {
        return;
    };
    let py = python();
    let mut failures = Vec::new();
    for bundle in &vst3s {
        let mut args = vec![bundle.to_string_lossy().into_owned()];
        if bundles::bundle_stem(bundle) == CHROMA_NAME {
            for name in bundles::CHROMA_PARAM_NAMES {
                args.push("--expect-param".into());
                args.push(name.into());
            }
            args.push("--set".into());
            args.push("Reference Pitch=442".into());
        }
        if bundles::bundle_stem(bundle) == PITCH_NAME {
            for name in bundles::PITCH_PARAM_NAMES {
                args.push("--expect-param".into());
                args.push(name.into());
            }
            args.push("--set".into());
            args.push("Reference Pitch=442".into());
        }
        if bundles::bundle_stem(bundle) == SPLIT_NAME {
            args.extend(split_args());
        }
        let (code, stdout, stderr) = run_script(&py, &args, Duration::from_secs(300));
        eprintln!(
            "==== {} (exit {code:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            bundle.display()
        );
        match code {
            Some(0) => {}
            Some(3) => panic!(
                "{TEST}: pedalboard/numpy missing in {} — install tests/requirements.txt \
                 (cargo xtask test does), or set PRISM_VENV.\n{stderr}",
                py.display()
            ),
            other => {
                let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
                let mut stderr_tail: Vec<&str> = stderr.lines().rev().take(15).collect();
                stderr_tail.reverse();
                failures.push(format!(
                    "{}: exit {other:?}\n  {}\n  stderr tail:\n{}",
                    bundle.display(),
                    failed.join("\n  "),
                    stderr_tail.join("\n")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{TEST}: failures:\n{}",
        failures.join("\n\n")
    );
}
