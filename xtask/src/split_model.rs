//! `cargo xtask split-model`: Prism Split's model recipe (`bundle/models/split/`) run end to
//! end: render the multitrack data, train, export to ONNX with its checks, then check the
//! export in tract (the Rust parity test). Python comes from `.venv-split`, made from the
//! recipe's pinned requirements (PyTorch, CPU; a large download the first time).
//!
//! `--smoke` (a step of `cargo xtask test`): eight short songs (six `mma`, one music21, one
//! Debian MIDI file), 40 steps of the tiny model, a
//! 60 s export check, in `target/split-smoke/`; minutes on two cores. It proves the recipe
//! runs from a clean checkout and that what it exports loads and matches in tract. The full
//! run (`bundle/models/split/README.md`: the shipped model's training) takes hours.

use crate::deps;
use crate::process;
use crate::venv;
use crate::workspace::Workspace;
use anyhow::{ensure, Result};
use std::path::Path;
use std::process::Command;

/// The recipe's venv, relative to the workspace root.
pub const VENV_DIR: &str = ".venv-split";
/// The recipe's pinned requirements.
pub const REQUIREMENTS: &str = "bundle/models/split/requirements.txt";

fn python_step(
    python: &Path,
    workspace: &Workspace,
    script: &str,
    args: &[&str],
    what: &str,
) -> Result<()> {
    process::run(
        Command::new(python)
            .current_dir(&workspace.root)
            .arg(workspace.root.join("bundle/models/split").join(script))
            .args(args),
        what,
    )
}

pub fn run(workspace: &Workspace, smoke: bool) -> Result<()> {
    deps::ensure(
        &[deps::BUILD, deps::TEST, deps::EVAL].concat(),
        deps::Mode::InstallIfRoot,
    )?;
    let python = venv::ensure(
        &workspace.root.join(VENV_DIR),
        &workspace.root.join(REQUIREMENTS),
        workspace.host.os,
    )?;
    let base = workspace
        .target_dir
        .join(if smoke { "split-smoke" } else { "split-model" });
    let data = base.join("data");
    let run_dir = base.join("run");
    let onnx = base.join(if smoke {
        "prism-split-smoke.onnx"
    } else {
        "prism-split.onnx"
    });
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (data_s, run_s, onnx_s) = (s(&data), s(&run_dir), s(&onnx));
    if smoke {
        // Fresh every time: the smoke test is of the recipe, not of a cache.
        let _ = std::fs::remove_dir_all(&base);
        python_step(
            &python,
            workspace,
            "render.py",
            &[
                "--out", &data_s, "--train", "4", "--valid", "1", "--test", "1", "--m21", "1,0,0",
                "--midi", "1,0,0", "--min-s", "8", "--max-s", "10", "--batch", "6", "--jobs", "2",
            ],
            "rendering the smoke data",
        )?;
        python_step(
            &python,
            workspace,
            "train.py",
            &[
                "--config", "tiny", "--steps", "40", "--data", &data_s, "--run", &run_s,
            ],
            "training the tiny model",
        )?;
    } else {
        python_step(
            &python,
            workspace,
            "render.py",
            &["--out", &data_s, "--jobs", "2"],
            "rendering the training data",
        )?;
        // v1 (2400 steps), then v2: v1's best weights fine-tuned 1200 steps more.
        let v1_run = s(&base.join("run-v1"));
        python_step(
            &python,
            workspace,
            "train.py",
            &["--config", "v1", "--data", &data_s, "--run", &v1_run],
            "training v1 (resumable: rerun to continue)",
        )?;
        let v1_best = s(&base.join("run-v1").join("best.pt"));
        python_step(
            &python,
            workspace,
            "train.py",
            &[
                "--config", "v2", "--init", &v1_best, "--data", &data_s, "--run", &run_s,
            ],
            "training v2 from v1 (resumable: rerun to continue)",
        )?;
    }
    let ckpt = s(&run_dir.join("best.pt"));
    python_step(
        &python,
        workspace,
        "export.py",
        &["--ckpt", &ckpt, "--out", &onnx_s, "--data", &data_s],
        "exporting to ONNX (with the streaming and onnxruntime checks)",
    )?;
    ensure!(
        onnx.is_file(),
        "export wrote no {}",
        workspace.display(&onnx)
    );
    // tract against PyTorch over a minute of streaming, on the model just exported.
    process::run(
        workspace
            .cargo()
            // The workspace's feature set (not `-p prism-shared` alone), so that after
            // `cargo xtask test`'s workspace build nothing is compiled again.
            .args([
                "test",
                "--workspace",
                "--exclude",
                "xtask",
                "--test",
                "split",
                "tract_matches_pytorch",
            ])
            .env("PRISM_SPLIT_MODEL", &onnx),
        "the tract parity test on the exported model",
    )?;
    eprintln!("Split model: {}", workspace.display(&onnx));
    Ok(())
}
