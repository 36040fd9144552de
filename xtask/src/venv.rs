//! Python virtual environments made from a requirements file, reinstalled only when the
//! file or the interpreter changes.
//!
//! A stamp file inside the venv records the interpreter and a hash of the requirements
//! it was made from. A different interpreter rebuilds the venv (a venv is tied to the
//! Python it was made with); different requirements only rerun `pip install`.

use crate::platform::Os;
use crate::process;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming the Python used to create venvs; `python3` (`python` on
/// Windows) if unset.
pub const PYTHON_ENV_VAR: &str = "PRISM_PYTHON";

const STAMP_FILE: &str = "prism-xtask.stamp";

/// The venv's interpreter.
pub fn python_in(venv: &Path, os: Os) -> PathBuf {
    match os {
        Os::Windows => venv.join("Scripts").join("python.exe"),
        Os::Linux | Os::Mac => venv.join("bin").join("python"),
    }
}

/// What the stamp of a venv made by `interpreter` from `requirements` contains.
/// `interpreter` identifies the base Python (its path and version).
pub fn stamp(interpreter: &str, requirements: &[u8]) -> String {
    format!(
        "interpreter: {}\nrequirements-fnv1a64: {:016x}\n",
        interpreter.trim(),
        fnv1a64(requirements)
    )
}

/// FNV-1a, 64 bit: stable across Rust releases, unlike `DefaultHasher`, and plenty to
/// notice an edited requirements file.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What [`ensure`] has to do, given the stamp found in the venv (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    UpToDate,
    Install,
    Recreate,
}

pub fn action(found_stamp: Option<&str>, python_exists: bool, wanted_stamp: &str) -> Action {
    let interpreter_line = |stamp: &str| stamp.lines().next().map(str::to_owned);
    match found_stamp {
        _ if !python_exists => Action::Recreate,
        Some(found) if found == wanted_stamp => Action::UpToDate,
        Some(found) if interpreter_line(found) == interpreter_line(wanted_stamp) => Action::Install,
        // No stamp: a venv we did not finish (or did not make); start over.
        _ => Action::Recreate,
    }
}

/// Makes `venv` hold exactly what `requirements` asks for; returns its interpreter.
pub fn ensure(venv: &Path, requirements: &Path, os: Os) -> Result<PathBuf> {
    let requirement_bytes = fs::read(requirements)
        .with_context(|| format!("could not read '{}'", requirements.display()))?;
    let base_python = std::env::var_os(PYTHON_ENV_VAR).unwrap_or_else(|| match os {
        Os::Windows => "python".into(),
        Os::Linux | Os::Mac => "python3".into(),
    });
    let interpreter = process::output(
        Command::new(&base_python).args([
            "-c",
            "import sys; print(sys.executable, sys.version.split()[0])",
        ]),
        "finding Python (set PRISM_PYTHON to choose one)",
    )?;
    let wanted = stamp(&interpreter, &requirement_bytes);
    let stamp_path = venv.join(STAMP_FILE);
    let python = python_in(venv, os);
    let found = fs::read_to_string(&stamp_path).ok();

    match action(found.as_deref(), python.is_file(), &wanted) {
        Action::UpToDate => {
            eprintln!("Python venv '{}' is up to date.", venv.display());
            return Ok(python);
        }
        Action::Recreate => {
            if venv.exists() {
                fs::remove_dir_all(venv)
                    .with_context(|| format!("could not remove '{}'", venv.display()))?;
            }
            process::run(
                Command::new(&base_python).arg("-m").arg("venv").arg(venv),
                "creating a Python venv (on Debian/Ubuntu this needs python3-venv)",
            )?;
        }
        Action::Install => {}
    }
    // The stamp goes only after a successful install, so an interrupted one is redone.
    let _ = fs::remove_file(&stamp_path);
    process::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(requirements),
        "installing Python packages",
    )?;
    fs::write(&stamp_path, wanted)
        .with_context(|| format!("could not write '{}'", stamp_path.display()))?;
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: &str = "/usr/bin/python3 3.11.7";

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn an_unchanged_venv_is_left_alone() {
        let wanted = stamp(PY, b"numpy==2.4.6\n");
        assert_eq!(action(Some(&wanted), true, &wanted), Action::UpToDate);
    }

    #[test]
    fn edited_requirements_reinstall_into_the_same_venv() {
        let found = stamp(PY, b"numpy==2.4.6\n");
        let wanted = stamp(PY, b"numpy==2.4.6\npedalboard==0.9.26\n");
        assert_ne!(found, wanted);
        assert_eq!(action(Some(&found), true, &wanted), Action::Install);
    }

    #[test]
    fn another_interpreter_a_missing_stamp_or_a_missing_python_recreates_the_venv() {
        let wanted = stamp(PY, b"numpy\n");
        let other_python = stamp("/usr/bin/python3 3.12.1", b"numpy\n");
        assert_eq!(action(Some(&other_python), true, &wanted), Action::Recreate);
        assert_eq!(action(None, true, &wanted), Action::Recreate);
        assert_eq!(action(Some(&wanted), false, &wanted), Action::Recreate);
    }

    #[test]
    fn the_venv_python_is_under_bin_or_scripts() {
        assert_eq!(
            python_in(Path::new("v"), Os::Linux),
            Path::new("v/bin/python")
        );
        assert_eq!(
            python_in(Path::new("v"), Os::Mac),
            Path::new("v/bin/python")
        );
        assert_eq!(
            python_in(Path::new("v"), Os::Windows),
            Path::new("v").join("Scripts").join("python.exe")
        );
    }
}
