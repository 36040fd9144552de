//! The Chordino anchor of `cargo xtask eval chroma`: the NNLS-Chroma Vamp plugin (Mauch &
//! Dixon 2010), built from its public source at a pinned commit into `target/chordino` (none
//! of its code is committed here), and PyPI `vamp` (its Python host) in the eval venv.
//!
//! Best effort: without network, compiler or headers the evaluation runs without the anchor
//! and its report says why (`tests/eval/chordino.py`).

use crate::process;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The public repository and the commit the anchor is built from.
pub const REPOSITORY: &str = "https://github.com/c4dm/nnls-chroma";
pub const COMMIT: &str = "4c5f214a75cb354f8d8c933e161377c5b4d83713";
/// Fetch the source from this git repository (a local clone or mirror) instead of
/// [`REPOSITORY`], for machines without access to GitHub.
pub const SOURCE_ENV: &str = "PRISM_CHORDINO_SRC";
/// PyPI `vamp`, the Python Vamp host the eval script uses.
pub const PYPI_VAMP: &str = "vamp==1.1.0";
/// The plugin's C++ sources (its Makefile's list) and its C one.
const CXX_SOURCES: &[&str] = &[
    "chromamethods",
    "NNLSBase",
    "NNLSChroma",
    "Chordino",
    "Tuning",
    "plugins",
    "viterbi",
];
const C_SOURCES: &[&str] = &["nnls"];
/// The compiler flags of its Makefile (`Makefile.linux`).
const FLAGS: &[&str] = &["-O3", "-ftree-vectorize", "-ffast-math", "-fPIC"];

/// Builds the plugin into `<target>/chordino/vamp` unless it is there for [`COMMIT`], and
/// installs PyPI `vamp` into the venv of `python`. Returns the folder for `VAMP_PATH`.
pub fn ensure(target_dir: &Path, python: &Path) -> Result<PathBuf> {
    let root = target_dir.join("chordino");
    let vamp_dir = root.join("vamp");
    let library = vamp_dir.join("nnls-chroma.so");
    let stamp = vamp_dir.join("commit");
    let built = fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == COMMIT) && library.is_file();
    if !built {
        let src = root.join("src");
        fetch(&src)?;
        build(&src, &vamp_dir, &library)?;
        fs::write(&stamp, COMMIT)?;
    }
    let has_vamp = Command::new(python)
        .args(["-c", "import vamp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_vamp {
        // Its sdist needs numpy at build time: built against the venv's own.
        process::run(
            Command::new(python).args(["-m", "pip", "install", "setuptools", "wheel"]),
            "installing the build tools of PyPI vamp",
        )?;
        process::run(
            Command::new(python).args(["-m", "pip", "install", "--no-build-isolation", PYPI_VAMP]),
            "installing PyPI vamp (the Chordino host)",
        )?;
    }
    Ok(vamp_dir)
}

/// The source at [`COMMIT`] in `src` (a shallow fetch of that one commit).
fn fetch(src: &Path) -> Result<()> {
    let at_commit = Command::new("git")
        .arg("-C")
        .arg(src)
        .args(["rev-parse", "HEAD"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == COMMIT);
    if at_commit {
        return Ok(());
    }
    if src.exists() {
        fs::remove_dir_all(src).with_context(|| format!("removing {}", src.display()))?;
    }
    fs::create_dir_all(src)?;
    let git = |args: &[&str], what: &str| {
        process::run(Command::new("git").arg("-C").arg(src).args(args), what)
    };
    git(&["init", "-q"], "preparing the Chordino source folder")?;
    let origin = std::env::var(SOURCE_ENV).unwrap_or_else(|_| REPOSITORY.to_string());
    git(
        &["fetch", "-q", "--depth", "1", &origin, COMMIT],
        "fetching the Chordino source (NNLS-Chroma; set PRISM_CHORDINO_SRC to a local clone \
         without network)",
    )?;
    git(
        &["checkout", "-q", "FETCH_HEAD"],
        "checking out the Chordino source",
    )?;
    Ok(())
}

/// Compiles and links the plugin as its Makefile does.
fn build(src: &Path, vamp_dir: &Path, library: &Path) -> Result<()> {
    let objects = src.join("obj");
    fs::create_dir_all(&objects)?;
    fs::create_dir_all(vamp_dir)?;
    let mut linked = Vec::new();
    for (compiler, names, ext) in [("g++", CXX_SOURCES, "cpp"), ("gcc", C_SOURCES, "c")] {
        for name in names {
            let object = objects.join(format!("{name}.o"));
            process::run(
                Command::new(compiler)
                    .args(FLAGS)
                    .arg("-c")
                    .arg(src.join(format!("{name}.{ext}")))
                    .arg("-o")
                    .arg(&object),
                "compiling Chordino",
            )?;
            linked.push(object);
        }
    }
    process::run(
        Command::new("g++")
            .arg("-o")
            .arg(library)
            .args(&linked)
            .args(["-shared", "-Wl,-soname=nnls-chroma.so", "-lvamp-sdk"])
            .arg(format!(
                "-Wl,--version-script={}",
                src.join("vamp-plugin.map").display()
            )),
        "linking Chordino",
    )?;
    for meta in ["nnls-chroma.cat", "nnls-chroma.n3"] {
        fs::copy(src.join(meta), vamp_dir.join(meta)).with_context(|| format!("copying {meta}"))?;
    }
    if !library.is_file() {
        bail!("linking Chordino made no {}", library.display());
    }
    Ok(())
}
