//! VST3 tests through Spotify's pedalboard (a JUCE-based host): every `*.vst3` in the bundle
//! directory is loaded by `tests/py/vst3_check.py`, which lists parameters, checks
//! `reported_latency_samples == 0` (pedalboard compensates reported latency, so a wrong value
//! would also shift the audio), and checks that stereo and mono audio pass through unchanged.
//! For Prism Chroma it also sets "Reference Pitch" to 442 Hz by display name.
//!
//! Python: `$PRISM_VENV/bin/python`, else `<workspace>/.venv/bin/python`, with the packages
//! of `tests/requirements.txt` (`cargo xtask test` installs them).

use prism_tests::bundles::{self, BundleKind, CHROMA_NAME, PITCH_NAME, SPLIT_NAME};
use prism_tests::py::{python, run_script};
use std::time::Duration;

const TEST: &str = "vst3_pedalboard";

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

/// Prism Split: it loads, reports a latency that pedalboard compensates, and has its
/// parameters by display name; the remix of unity gains is the input delayed by exactly the
/// reported latency (pedalboard shifts it back, so it must line up sample for sample), and
/// with "Drums Solo" on the output is the drums stem `prism split` writes for the same file.
///
/// pedalboard (JUCE) deactivates every bus but the main one and hands Split's three stem
/// buses no buffers. nice-plug 0.4.2's VST3 wrapper then skipped `process()`, so this host
/// heard its own input, undelayed, while Split reported latency (vendor/nice-plug,
/// PRISM-PATCHES.md). pedalboard does not say it renders offline: the auto deadline policy
/// recognises the bounce within 50 ms and equals `prism split` after the 8-hop fade-in.
fn split_args(dir: &std::path::Path) -> Vec<String> {
    let (input, drums) = prism_tests::split_render_files(dir).unwrap();
    let mut args: Vec<String> = ["--delaying", "--tolerance", "1e-4"]
        .map(String::from)
        .to_vec();
    args.extend([
        "--render-input".into(),
        input.to_string_lossy().into_owned(),
        "--render-compare".into(),
        drums.to_string_lossy().into_owned(),
        "--render-set".into(),
        "Drums Solo=true".into(),
        "--render-skip".into(),
        "0.25".into(),
    ]);
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
    let py = python(TEST);
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
            let dir = std::env::temp_dir().join(format!("prism-pedalboard-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            args.extend(split_args(&dir));
        }
        let run = run_script(&py, "vst3_check.py", &args, Duration::from_secs(300));
        eprintln!(
            "==== {} (exit {:?})\n--- stdout\n{}\n--- stderr\n{}",
            bundle.display(),
            run.code,
            run.stdout,
            run.stderr
        );
        prism_tests::summary::record(TEST, &bundles::bundle_stem(bundle), run.code == Some(0));
        match run.code {
            Some(0) => {}
            Some(3) => panic!(
                "{TEST}: pedalboard/numpy missing in {} — install tests/requirements.txt \
                 (cargo xtask test does), or set PRISM_VENV.\n{}",
                py.display(),
                run.stderr
            ),
            _ => failures.push(format!("{}: {}", bundle.display(), run.failure_report())),
        }
    }
    assert!(
        failures.is_empty(),
        "{TEST}: failures:\n{}",
        failures.join("\n\n")
    );
}
