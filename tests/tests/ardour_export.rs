//! Prism Split in a real DAW: Ardour 7.3 (Debian's `ardour`), headless.
//!
//! `tests/ardour/make_session.lua` (run by `ardour7-lua`, Ardour's headless Lua session tool,
//! on its "None (Dummy)" backend at 44.1 kHz with 256-sample periods) makes a session with
//! one stereo track playing a piece of the synthetic band, puts the Split VST3 on it with
//! Drums and Bass muted, and saves it. `ardour7-export` then opens that session in two fresh
//! processes and exports it (Ardour exports in VST3 offline mode, with 1024-sample blocks,
//! after silent blocks and its latency pre-roll). Both exports must be the same samples, and equal `prism split`'s
//! *other* stem of the same file: the restored mutes apply from the first sample, the
//! latency is compensated exactly, and the bounce does not depend on timing (before the
//! "real hosts" fixes, two exports differed by -42 dB).
//!
//! Ardour reads VST3 plugins only from its scanner's cache: the test gives Ardour a private
//! home with `~/.vst3/Prism Split.vst3` linked to the bundle and runs
//! `ardour-vst3-scanner` on it.

use anyhow::{bail, ensure, Context, Result};
use prism_tests::bundles::{self, BundleKind, SPLIT_NAME};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const TEST: &str = "ardour_split_exports_equal_prism_split_on_two_fresh_opens";
const SCANNER: &str = "/usr/lib/ardour7/ardour-vst3-scanner";

fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn read_wav(path: &Path) -> Result<Vec<Vec<f32>>> {
    let mut r =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = r.spec();
    ensure!(
        spec.sample_format == hound::SampleFormat::Float && spec.bits_per_sample == 32,
        "{}: not 32-bit float ({spec:?})",
        path.display()
    );
    let nc = spec.channels as usize;
    let samples: Vec<f32> = r.samples::<f32>().collect::<Result<_, _>>()?;
    Ok((0..nc)
        .map(|c| samples.iter().skip(c).step_by(nc).copied().collect())
        .collect())
}

/// A private Ardour home whose VST3 cache knows `bundle`.
fn ardour_home(dir: &Path, bundle: &Path) -> Result<PathBuf> {
    let home = dir.join("home");
    let vst3 = home.join(".vst3");
    std::fs::create_dir_all(&vst3)?;
    let link = vst3.join(format!("{SPLIT_NAME}.vst3"));
    std::os::unix::fs::symlink(bundle.canonicalize()?, &link)?;
    // The cache counts as stale unless it is written in a later second than the module.
    let so = bundles::vst3_shared_object(bundle);
    if let Ok(age) = std::fs::metadata(&so)?.modified()?.elapsed() {
        if age < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    run(
        Command::new(SCANNER)
            .args(["-f", "-q"])
            .arg(&link)
            .env("HOME", &home)
            .env("LD_LIBRARY_PATH", "/usr/lib/ardour7"),
        "ardour-vst3-scanner",
    )?;
    Ok(home)
}

#[test]
fn ardour_split_exports_equal_prism_split_on_two_fresh_opens() {
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    let Some(bundle) = bundles::require_named_bundle(BundleKind::Vst3, SPLIT_NAME, TEST) else {
        return;
    };
    let result = (|| -> Result<()> {
        for tool in ["ardour7-lua", "ardour7-export"] {
            prism_tests::xvfb::require_tool(tool, "apt-get install ardour")?;
        }
        let dir = std::env::temp_dir().join(format!("prism-ardour-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let home = ardour_home(&dir, &bundle)?;
        // The input and `prism split`'s drums stem of it; the other stem is what a remix
        // with Drums and Bass muted is.
        let (input, _) = prism_tests::split_render_files(&dir)?;
        let cli = prism_tests::cli_binary();
        run(
            Command::new(&cli)
                .arg("split")
                .arg(&input)
                .arg("-o")
                .arg(dir.join("cli"))
                .args(["--stems", "other"]),
            "prism split",
        )?;
        let reference = read_wav(&dir.join("cli").join("other.wav"))?;

        let script = bundles::workspace_root().join("tests/ardour/make_session.lua");
        let session = dir.join("split");
        let made = run(
            Command::new("ardour7-lua")
                .arg(&script)
                .arg(format!("dir={}", session.display()))
                .arg(format!("wav={}", input.display()))
                .args([
                    "rate=44100",
                    "period=256",
                    "plugin=Prism Split",
                    "ptype=VST3",
                ])
                .args(["strict_io=1", "param:Drums Mute=1", "param:Bass Mute=1"])
                .env("HOME", &home),
            "ardour7-lua make_session.lua",
        )?;
        let log = String::from_utf8_lossy(&made.stdout).into_owned();
        ensure!(
            log.contains("\nOK"),
            "make_session.lua did not finish:\n{log}"
        );
        let mut exports = Vec::new();
        let mut crashes = Vec::new();
        for k in 1..=2 {
            let out = dir.join(format!("export-{k}.wav"));
            // KNOWN OPEN BUG (README, "A real DAW"): about one Ardour export in ten dies of
            // glibc heap corruption with a Prism bundle loaded (the editor test's rare crash
            // looks the same). An export killed by a signal is retried, at most twice, and
            // every crash is reported; a wrong export is never retried.
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = Command::new("ardour7-export")
                    .args(["-b", "float", "-o"])
                    .arg(&out)
                    .arg(&session)
                    .arg("split")
                    .env("HOME", &home)
                    .output()
                    .context("running ardour7-export")?;
                if result.status.success() {
                    break;
                }
                let killed = std::os::unix::process::ExitStatusExt::signal(&result.status);
                let tail: String = String::from_utf8_lossy(&result.stderr)
                    .lines()
                    .filter(|l| !l.contains("lilv") && !l.contains(".ttl"))
                    .collect::<Vec<_>>()
                    .join("\n");
                if killed.is_none() || attempt == 3 {
                    bail!(
                        "ardour7-export failed ({}), attempt {attempt}:\n{tail}",
                        result.status
                    );
                }
                crashes.push(format!(
                    "export {k}, attempt {attempt}: {} {tail}",
                    result.status
                ));
            }
            exports.push(read_wav(&out)?);
        }
        if !crashes.is_empty() {
            // Straight to stderr: libtest captures the output of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\nWARNING: {TEST}: ardour7-export crashed and was retried (known open bug):\n{}",
                crashes.join("\n")
            );
        }
        for (k, e) in exports.iter().enumerate() {
            ensure!(
                e.len() == reference.len() && e[0].len() == reference[0].len(),
                "export {}: {} channels of {} samples, prism split {} of {}",
                k + 1,
                e.len(),
                e[0].len(),
                reference.len(),
                reference[0].len()
            );
        }
        let max_diff = |a: &[Vec<f32>], b: &[Vec<f32>]| -> (f32, usize) {
            let mut worst = (0.0f32, 0usize);
            for (x, y) in a.iter().zip(b) {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    if (p - q).abs() > worst.0 {
                        worst = ((p - q).abs(), i);
                    }
                }
            }
            worst
        };
        let (between, at) = max_diff(&exports[0], &exports[1]);
        let (to_cli, at_cli) = max_diff(&exports[0], &reference);
        let rms =
            (reference[0].iter().map(|x| x * x).sum::<f32>() / reference[0].len() as f32).sqrt();
        eprintln!(
            "Ardour exports: max |export 1 - export 2| {between:e} (sample {at}), max |export - \
             prism split other| {to_cli:e} (sample {at_cli}), other stem RMS {rms}"
        );
        ensure!(rms > 1e-3, "the other stem is silent");
        ensure!(
            between == 0.0,
            "two exports of one session differ by {between} at sample {at}"
        );
        ensure!(
            to_cli == 0.0,
            "the export differs from prism split's other stem by {to_cli} at sample {at_cli}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })();
    prism_tests::summary::record(TEST, SPLIT_NAME, result.is_ok());
    if let Err(e) = result {
        panic!("{TEST}: {e:#}");
    }
}
