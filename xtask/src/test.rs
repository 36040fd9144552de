//! `cargo xtask test`: the one command that checks everything, locally and in CI.
//!
//! Steps: system packages → Python venv → rustfmt → clippy → debug build of every
//! target → debug bundles in `target/test-bundled` → `cargo test`. Debug bundles keep
//! nice-plug's `assert_process_allocs` armed in the host tests. Lint failures do not stop
//! the run (you still see the test results); a failed setup or build step does.

use crate::bundle;
use crate::deps;
use crate::process;
use crate::venv;
use crate::workspace::Workspace;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// Absolute path of the folder with the debug `.clap` and `.vst3` bundles of every plugin
/// in `bundle/bundler.toml`, named `<bundle name>.clap` / `.vst3`.
pub const BUNDLE_DIR_ENV: &str = "PRISM_BUNDLE_DIR";
/// Absolute path of the Python venv made from `tests/requirements.txt`.
pub const VENV_ENV: &str = "PRISM_VENV";
/// Absolute path of cargo's debug output folder (standalone executables, the CLI).
pub const BIN_DIR_ENV: &str = "PRISM_BIN_DIR";

/// Requirements of the host tests' venv, relative to the workspace root.
pub const REQUIREMENTS: &str = "tests/requirements.txt";
/// The host tests' venv, relative to the workspace root.
pub const VENV_DIR: &str = ".venv";

#[derive(Debug, Clone, Copy, Default)]
pub struct TestOptions {
    /// Skip rustfmt and clippy.
    pub skip_lint: bool,
    /// Skip the venv and the bundles; the host tests then find neither variable set.
    pub no_host: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

struct StepRecord {
    name: &'static str,
    outcome: Outcome,
    duration: Duration,
}

/// Runs steps in order and remembers how each went.
struct Runner {
    records: Vec<StepRecord>,
    /// Set when a step failed that later steps depend on.
    blocked: bool,
}

impl Runner {
    /// Runs `step` unless an earlier essential step failed. `essential` failures block
    /// the remaining steps; other failures are only counted.
    fn step(&mut self, name: &'static str, essential: bool, step: impl FnOnce() -> Result<()>) {
        if self.blocked {
            self.records.push(StepRecord {
                name,
                outcome: Outcome::Skipped,
                duration: Duration::ZERO,
            });
            return;
        }
        eprintln!("\n==> {name}");
        let start = Instant::now();
        let outcome = match step() {
            Ok(()) => Outcome::Passed,
            Err(error) => {
                eprintln!("\nerror in step '{name}': {error:#}");
                if essential {
                    self.blocked = true;
                }
                Outcome::Failed
            }
        };
        self.records.push(StepRecord {
            name,
            outcome,
            duration: start.elapsed(),
        });
    }

    fn skip(&mut self, name: &'static str) {
        self.records.push(StepRecord {
            name,
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
        });
    }

    /// Prints the summary; fails if any step failed.
    fn finish(self, total: Duration) -> Result<()> {
        eprintln!("\n==> Summary of cargo xtask test");
        for record in &self.records {
            let outcome = match record.outcome {
                Outcome::Passed => "ok     ",
                Outcome::Failed => "FAILED ",
                Outcome::Skipped => "skipped",
            };
            eprintln!(
                "  {outcome}  {:<28} {:>7.1} s",
                record.name,
                record.duration.as_secs_f64()
            );
        }
        let failed: Vec<&str> = self
            .records
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .map(|r| r.name)
            .collect();
        eprintln!("  total {:.1} min", total.as_secs_f64() / 60.0);
        if !failed.is_empty() {
            bail!("cargo xtask test: step(s) failed: {}", failed.join(", "));
        }
        eprintln!("cargo xtask test: every step succeeded");
        Ok(())
    }
}

pub fn run(workspace: &Workspace, options: TestOptions) -> Result<()> {
    let start = Instant::now();
    let mut runner = Runner {
        records: Vec::new(),
        blocked: false,
    };
    let host = !options.no_host;
    let venv_dir = workspace.root.join(VENV_DIR);
    let bundle_dir = workspace.test_bundled_dir();

    runner.step("system packages", true, || {
        deps::ensure(deps::BUILD, deps::Mode::InstallIfRoot)?;
        if host {
            deps::ensure(deps::TEST, deps::Mode::InstallIfRoot)?;
        }
        Ok(())
    });
    if host {
        runner.step("python venv (.venv)", true, || {
            venv::ensure(
                &venv_dir,
                &workspace.root.join(REQUIREMENTS),
                workspace.host.os,
            )
            .map(drop)
        });
    } else {
        runner.skip("python venv (.venv)");
    }

    if options.skip_lint {
        runner.skip("rustfmt");
        runner.skip("clippy (workspace)");
        runner.skip("clippy (xtask)");
    } else {
        runner.step("rustfmt", false, || {
            process::run(
                workspace.cargo().args(["fmt", "--all", "--check"]),
                "rustfmt",
            )
        });
        // xtask is linted on its own: in one command with the plugins, cargo would unify
        // the features of their shared dependencies and check those twice.
        runner.step("clippy (workspace)", false, || {
            process::run(
                workspace.cargo().args([
                    "clippy",
                    "--workspace",
                    "--exclude",
                    "xtask",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
                "clippy",
            )
        });
        runner.step("clippy (xtask)", false, || {
            process::run(
                workspace.cargo().args([
                    "clippy",
                    "-p",
                    "xtask",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
                "clippy",
            )
        });
    }

    // Every target of every package but xtask in one build: the plugin libraries, the
    // standalones (`prism-chroma --bins`), the CLI and the test binaries, with the same
    // features `cargo test` uses below, so that step compiles nothing again.
    runner.step("build (debug, all targets)", true, || {
        process::run(
            workspace.cargo().args([
                "build",
                "--workspace",
                "--exclude",
                "xtask",
                "--all-targets",
            ]),
            "building the workspace",
        )
    });
    if host {
        runner.step("bundle (debug)", true, || {
            let plugins = workspace.bundler_config()?.select(&[], true)?;
            let bundles = bundle::bundle_debug_into(workspace, &plugins, &bundle_dir)?;
            for bundle in bundles {
                eprintln!("  {}", workspace.display(&bundle));
            }
            Ok(())
        });
    } else {
        runner.skip("bundle (debug)");
    }

    runner.step("cargo test (workspace)", false, || {
        let mut command = workspace.cargo();
        command
            .args(["test", "--workspace", "--exclude", "xtask"])
            .env(BIN_DIR_ENV, workspace.target_dir.join("debug"));
        if host {
            command
                .env(BUNDLE_DIR_ENV, &bundle_dir)
                .env(VENV_ENV, &venv_dir);
        } else {
            command.env_remove(BUNDLE_DIR_ENV).env_remove(VENV_ENV);
        }
        process::run(&mut command, "workspace tests")
    });
    runner.step("cargo test (xtask)", false, || {
        process::run(
            workspace.cargo().args(["test", "-p", "xtask"]),
            "xtask tests",
        )
    });

    runner.finish(start.elapsed())
}
