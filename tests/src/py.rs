//! Running the Python host scripts of `tests/py/` (pedalboard, minihost) in a child process
//! with a timeout, so a crash or a hang in the host is a reported failure.
//!
//! Python: `$PRISM_VENV/bin/python`, else `<workspace>/.venv/bin/python`, with the packages
//! of `tests/requirements.txt` (`cargo xtask test` installs them).

use crate::workspace_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The test venv's interpreter; panics with instructions when it is missing.
pub fn python(test: &str) -> PathBuf {
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
        "{test}: no Python interpreter at {} ({source}).\n\
         Create the venv with the host-test packages:\n    \
         cargo xtask test      (installs tests/requirements.txt into .venv)\n\
         or\n    \
         python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt\n\
         or set PRISM_VENV to a venv that has them. \
         PRISM_SKIP_HOST_TESTS=1 skips host tests.",
        py.display()
    );
    py
}

/// The result of one script run.
pub struct ScriptRun {
    /// Exit code; negative: killed by that signal; `None`: timed out.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ScriptRun {
    /// The `FAIL` lines and the end of stderr, for a test failure message.
    pub fn failure_report(&self) -> String {
        let failed: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect();
        // minihost's JUCE scans LV2 folders and complains about unrelated bundles.
        let mut tail: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.contains("lilv") && !l.contains("manifest.ttl"))
            .rev()
            .take(15)
            .collect();
        tail.reverse();
        format!(
            "exit {:?}\n  {}\n  stderr tail:\n{}",
            self.code,
            failed.join("\n  "),
            tail.join("\n")
        )
    }
}

/// Runs `tests/py/<script>` with `args`, killing it after `timeout`.
pub fn run_script(py: &Path, script: &str, args: &[String], timeout: Duration) -> ScriptRun {
    let script = workspace_root().join("tests").join("py").join(script);
    let out_path = std::env::temp_dir().join(format!(
        "prism-py-{}-{}-{:?}.out",
        std::process::id(),
        args.len(),
        std::thread::current().id()
    ));
    let err_path = out_path.with_extension("err");
    let mut child = Command::new(py)
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    let status = crate::isolate::wait_or_kill(&mut child, timeout);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let code = match status {
        Some(s) => {
            #[cfg(unix)]
            if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&s) {
                stderr.push_str(&format!("\n(killed by signal {sig})"));
                return ScriptRun {
                    code: Some(-sig),
                    stdout,
                    stderr,
                };
            }
            s.code()
        }
        None => {
            stderr.push_str(&format!("\n(timed out after {timeout:?})"));
            None
        }
    };
    ScriptRun {
        code,
        stdout,
        stderr,
    }
}
