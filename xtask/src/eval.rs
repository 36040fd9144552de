//! `cargo xtask eval <suite>`: run an accuracy evaluation against the release CLI.
//!
//! Only plumbing: build `prism` in release, make the eval venv from
//! `tests/eval/requirements.txt` (for the chroma suite also the Chordino anchor,
//! [`crate::chordino`]), and run the suite's script with the CLI and an output folder. The
//! scripts and their requirements belong to the evaluation suite.

use crate::deps;
use crate::platform;
use crate::process;
use crate::venv;
use crate::workspace::Workspace;
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs;
use std::process::Command;

/// The eval venv, relative to the workspace root (kept apart from the test venv because
/// the eval needs heavier packages).
pub const VENV_DIR: &str = ".venv-eval";
pub const REQUIREMENTS: &str = "tests/eval/requirements.txt";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Chord/chroma accuracy of the chroma analyser (`tests/eval/chroma_eval.py`).
    Chroma,
    /// Separation quality of Prism Split, BSSEval v4 (`tests/eval/split_eval.py`).
    Split,
    /// f0, voicing, tuner, latency and notes of Prism Pitch beside pYIN, SwiftF0 and aubio
    /// (`tests/eval/pitch_eval.py`).
    Pitch,
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Suite::Chroma => "chroma",
            Suite::Split => "split",
            Suite::Pitch => "pitch",
        }
    }

    /// The script, relative to the workspace root.
    fn script(self) -> &'static str {
        match self {
            Suite::Chroma => "tests/eval/chroma_eval.py",
            Suite::Split => "tests/eval/split_eval.py",
            Suite::Pitch => "tests/eval/pitch_eval.py",
        }
    }
}

pub fn run(
    workspace: &Workspace,
    suite: Suite,
    quick: bool,
    extra_args: &[OsString],
) -> Result<()> {
    let script = workspace.root.join(suite.script());
    let requirements = workspace.root.join(REQUIREMENTS);
    for (path, what) in [
        (&script, "eval script"),
        (&requirements, "eval requirements"),
    ] {
        if !path.is_file() {
            bail!(
                "the {what} '{}' does not exist in this checkout",
                workspace.display(path)
            );
        }
    }
    deps::ensure(
        &[deps::BUILD, deps::TEST, deps::EVAL].concat(),
        deps::Mode::InstallIfRoot,
    )?;
    process::run(
        workspace
            .cargo()
            .args(["build", "-p", "prism-cli", "--release"]),
        "building the release CLI",
    )?;
    let prism = workspace
        .target_dir
        .join("release")
        .join(platform::executable_name("prism", workspace.host.os));
    let python = venv::ensure(
        &workspace.root.join(VENV_DIR),
        &requirements,
        workspace.host.os,
    )?;
    // The quick run has its own folder, so it never replaces a full report (or its cached
    // material) that the README quotes.
    let folder = if quick {
        format!("{}-quick", suite.name())
    } else {
        suite.name().to_string()
    };
    let out_dir = workspace.target_dir.join("eval").join(folder);
    fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create '{}'", out_dir.display()))?;

    let mut command = Command::new(&python);
    if suite == Suite::Chroma && !extra_args.iter().any(|a| a == "--no-chordino") {
        // The anchor is best effort: without it the report says what is missing.
        match crate::chordino::ensure(&workspace.target_dir, &python) {
            Ok(vamp_dir) => {
                command.env("VAMP_PATH", vamp_dir);
            }
            Err(e) => eprintln!("warning: no Chordino anchor this run: {e:#}"),
        }
    }
    command
        .current_dir(&workspace.root)
        .arg(&script)
        .arg("--prism")
        .arg(&prism)
        .arg("--out")
        .arg(&out_dir);
    if quick {
        command.arg("--quick");
    }
    command.args(extra_args);
    process::run(&mut command, "running the evaluation")?;
    eprintln!("Evaluation results: {}", workspace.display(&out_dir));
    Ok(())
}
