//! VST3 tests through minihost (PyPI; a JUCE-based host that, unlike pedalboard, connects
//! every output bus as a DAW does): every `*.vst3` in the bundle directory is loaded by
//! `tests/py/vst3_minihost.py`, which sets every parameter (read back, value <-> text, reset
//! to default), processes at 44.1, 48 and 96 kHz with a block size that changes on every
//! call, checks that the output is the input delayed by the reported latency and that an
//! impulse's measured delay equals it, and round-trips the state (byte-identical, and into a
//! fresh instance).
//!
//! Prism Split also renders a piece of music with "Drums Solo" on, and its main output
//! (latency-compensated) must equal the drums stem that `prism split` writes for the same
//! file.

use prism_tests::bundles::{self, BundleKind, CHROMA_NAME, PITCH_NAME, SPLIT_NAME};
use prism_tests::py::{python, run_script};
use prism_tests::split_render_files;
use std::time::Duration;

const TEST: &str = "vst3_minihost";

#[test]
fn vst3_minihost_params_rates_latency_state_and_split_solo_matches_the_cli() {
    let Some(vst3s) = bundles::require_bundles(BundleKind::Vst3, TEST) else {
        return;
    };
    let py = python(TEST);
    let tmp = std::env::temp_dir().join(format!("prism-{TEST}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut failures = Vec::new();
    for bundle in &vst3s {
        let stem = bundles::bundle_stem(bundle);
        let mut args = vec![bundle.to_string_lossy().into_owned()];
        let names: &[&str] = match stem.as_str() {
            CHROMA_NAME => &bundles::CHROMA_PARAM_NAMES,
            PITCH_NAME => &bundles::PITCH_PARAM_NAMES,
            SPLIT_NAME => &[
                "Separator",
                "Drums Gain",
                "Drums Solo",
                "Bass Mute",
                "Bypass",
            ],
            _ => &[],
        };
        for name in names {
            args.push("--expect-param".into());
            args.push((*name).into());
        }
        if stem == SPLIT_NAME {
            // The remix of unity gains is the delayed input within float rounding of the
            // masks (they sum to one). minihost renders in VST3 offline mode: the bounce
            // waits for every frame and equals `prism split` from its first sample, and two
            // fresh opens render the same samples.
            let (input, drums) = split_render_files(&tmp).unwrap();
            for a in [
                "--offline",
                "--tolerance",
                "1e-4",
                "--render-set",
                "Drums Solo=1",
                "--render-skip",
                "0",
            ] {
                args.push(a.into());
            }
            args.push("--render-input".into());
            args.push(input.to_string_lossy().into_owned());
            args.push("--render-compare".into());
            args.push(drums.to_string_lossy().into_owned());
        }
        let run = run_script(&py, "vst3_minihost.py", &args, Duration::from_secs(600));
        eprintln!(
            "==== {} (exit {:?})\n--- stdout\n{}\n--- stderr (tail)\n{}",
            bundle.display(),
            run.code,
            run.stdout,
            run.stderr
                .lines()
                .filter(|l| !l.contains("lilv") && !l.contains(".ttl"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        prism_tests::summary::record(TEST, &bundles::bundle_stem(bundle), run.code == Some(0));
        match run.code {
            Some(0) => {}
            Some(3) => panic!(
                "{TEST}: minihost/numpy missing in {} — install tests/requirements.txt \
                 (cargo xtask test does), or set PRISM_VENV.\n{}",
                py.display(),
                run.stderr
            ),
            _ => failures.push(format!("{}: {}", bundle.display(), run.failure_report())),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        failures.is_empty(),
        "{TEST}: failures:\n{}",
        failures.join("\n\n")
    );
}
