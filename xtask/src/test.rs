//! `cargo xtask test`: the one command that checks everything, locally and in CI.
//!
//! Steps: system packages → Python venv → rustfmt → clippy → debug build of every
//! target → debug bundles in `target/test-bundled` → `cargo test` → the RealtimeSanitizer
//! run of `shared/tests/rtsan.rs` (its own target folder, `target/rtsan`). Debug bundles keep
//! nice-plug's `assert_process_allocs` armed in the host tests. Lint failures do not stop
//! the run (you still see the test results); a failed setup or build step does.

use crate::bundle;
use crate::deps;
use crate::process;
use crate::venv;
use crate::workspace::Workspace;
use anyhow::Result;
use std::cell::RefCell;
use std::process::Command;
use std::time::{Duration, Instant};

/// Absolute path of the folder with the debug `.clap` and `.vst3` bundles of every plugin
/// in `bundle/bundler.toml`, named `<bundle name>.clap` / `.vst3`.
pub const BUNDLE_DIR_ENV: &str = "PRISM_BUNDLE_DIR";
/// Absolute path of the Python venv made from `tests/requirements.txt`.
pub const VENV_ENV: &str = "PRISM_VENV";
/// Set to `1` by `--no-host`: the host tests then skip with a notice instead of failing
/// for want of bundles (the policy of `tests/src/bundles.rs`).
pub const SKIP_HOST_TESTS_ENV: &str = "PRISM_SKIP_HOST_TESTS";
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
    /// Skip the venv and the bundles, and tell the host tests to skip.
    pub no_host: bool,
}

/// Test counts summed over the `test result:` lines of libtest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl TestCounts {
    /// Parses `test result: ok. 36 passed; 0 failed; 2 ignored; 0 measured; ...`.
    pub fn parse_result_line(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("test result: ")?;
        let (_verdict, counts) = rest.split_once(". ")?;
        let mut result = Self::default();
        for part in counts.split(';') {
            let (number, word) = part.trim().split_once(' ')?;
            let slot = match word {
                "passed" => &mut result.passed,
                "failed" => &mut result.failed,
                "ignored" => &mut result.ignored,
                _ => continue,
            };
            *slot = number.parse().ok()?;
        }
        Some(result)
    }

    fn add(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    /// The closing line CI reads: `tests: N passed, N failed, N skipped`.
    pub fn closing_line(&self) -> String {
        format!(
            "tests: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.ignored
        )
    }
}

/// A `cargo test` step: its output is echoed and its counts added to `counts`. A failed
/// run that reported no failing test (a test binary that crashed or did not build)
/// counts as one failure, so the closing line never reads "0 failed" for a failed run.
fn cargo_test(command: &mut Command, what: &str, counts: &RefCell<TestCounts>) -> Result<()> {
    let mut step_counts = TestCounts::default();
    let result = process::run_with_stdout_lines(command, what, |line| {
        if let Some(found) = TestCounts::parse_result_line(line) {
            step_counts.add(found);
        }
    });
    if result.is_err() && step_counts.failed == 0 {
        step_counts.failed = 1;
    }
    counts.borrow_mut().add(step_counts);
    result
}

/// The error of a run whose failure was already printed.
#[derive(Debug)]
pub struct AlreadyReported;

impl std::fmt::Display for AlreadyReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure already reported")
    }
}

impl std::error::Error for AlreadyReported {}

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

    /// Prints the summary, ending with the test counts; fails if any step failed.
    fn finish(self, total: Duration, counts: TestCounts) -> Result<()> {
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
        if failed.is_empty() {
            eprintln!("cargo xtask test: every step succeeded");
        } else {
            eprintln!(
                "error: cargo xtask test: step(s) failed: {}",
                failed.join(", ")
            );
        }
        // The counts go last and alone on stdout: CI reads the closing line.
        println!("{}", counts.closing_line());
        if failed.is_empty() {
            Ok(())
        } else {
            Err(AlreadyReported.into())
        }
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
        let mut requirements = deps::BUILD.to_vec();
        if host {
            requirements.extend(deps::TEST);
        }
        deps::ensure(&requirements, deps::Mode::InstallIfRoot)
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
        let clippy_runs: [(&str, &[&str]); 2] = [
            ("clippy (workspace)", &["--workspace", "--exclude", "xtask"]),
            ("clippy (xtask)", &["-p", "xtask"]),
        ];
        for (name, packages) in clippy_runs {
            runner.step(name, false, || {
                process::run(
                    workspace.cargo().arg("clippy").args(packages).args([
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ]),
                    "clippy",
                )
            });
        }
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
            eprintln!("Debug bundles for the host tests (target/bundled is left as it was):");
            for bundle in bundles {
                eprintln!("  {}", workspace.display(&bundle));
            }
            Ok(())
        });
    } else {
        runner.skip("bundle (debug)");
    }

    let counts = RefCell::new(TestCounts::default());
    runner.step("cargo test (workspace)", false, || {
        let mut command = workspace.cargo();
        command
            .args([
                "test",
                "--no-fail-fast",
                "--workspace",
                "--exclude",
                "xtask",
            ])
            .env(BIN_DIR_ENV, workspace.target_dir.join("debug"));
        if host {
            command
                .env(BUNDLE_DIR_ENV, &bundle_dir)
                .env(VENV_ENV, &venv_dir);
        } else {
            command
                .env_remove(BUNDLE_DIR_ENV)
                .env_remove(VENV_ENV)
                .env(SKIP_HOST_TESTS_ENV, "1");
        }
        cargo_test(&mut command, "workspace tests", &counts)
    });
    if host {
        runner.step("RealtimeSanitizer (shared)", false, || {
            let lib = find_rtsan_runtime().ok_or_else(|| {
                anyhow::anyhow!(
                    "no LLVM RealtimeSanitizer runtime (libclang_rt.rtsan-x86_64.a) under \
                     /usr/lib/llvm-*/lib/clang/*/lib/linux: install libclang-rt-22-dev"
                )
            })?;
            eprintln!("RTSan runtime: {}", lib.display());
            let mut command = workspace.cargo();
            // Its own target folder: RTSAN_ENABLE changes the sanitizer crates' cfg, and
            // toggling it in the main folder would rebuild every test binary twice a run.
            command
                .args([
                    "test",
                    "--no-fail-fast",
                    "-p",
                    "prism-shared",
                    "--test",
                    "rtsan",
                ])
                .env("CARGO_TARGET_DIR", workspace.target_dir.join("rtsan"))
                .env("RTSAN_ENABLE", "1")
                .env("RTSAN_LIB_PATH", &lib);
            if let Some(symbolizer) = ["/usr/bin/llvm-symbolizer", "/usr/bin/llvm-symbolizer-22"]
                .iter()
                .find(|p| std::path::Path::new(p).exists())
            {
                command.env(
                    "RTSAN_OPTIONS",
                    format!("external_symbolizer_path={symbolizer}"),
                );
            }
            cargo_test(&mut command, "RealtimeSanitizer tests", &counts)
        });
    } else {
        runner.skip("RealtimeSanitizer (shared)");
    }
    runner.step("cargo test (xtask)", false, || {
        cargo_test(
            workspace
                .cargo()
                .args(["test", "--no-fail-fast", "-p", "xtask"]),
            "xtask tests",
            &counts,
        )
    });

    runner.finish(start.elapsed(), counts.into_inner())
}

/// LLVM's RealtimeSanitizer runtime for x86_64 Linux (Debian: `libclang-rt-<N>-dev`), the
/// newest LLVM first.
fn find_rtsan_runtime() -> Option<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib")
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
        .flat_map(|llvm| {
            std::fs::read_dir(llvm.path().join("lib/clang"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|clang| clang.path().join("lib/linux/libclang_rt.rtsan-x86_64.a"))
        })
        .filter(|p| p.is_file())
        .collect();
    found.sort_by_key(|p| {
        p.components()
            .filter_map(|c| {
                c.as_os_str()
                    .to_str()?
                    .strip_prefix("llvm-")?
                    .parse::<u32>()
                    .ok()
            })
            .next()
            .unwrap_or(0)
    });
    found.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_result_lines_are_counted() {
        let line = "test result: ok. 36 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            TestCounts::parse_result_line(line),
            Some(TestCounts {
                passed: 36,
                failed: 0,
                ignored: 2
            })
        );
        let line = "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s";
        assert_eq!(
            TestCounts::parse_result_line(line).map(|c| (c.passed, c.failed)),
            Some((3, 1))
        );
    }

    #[test]
    fn other_lines_are_not_counted() {
        for line in [
            "test foo ... ok",
            "running 3 tests",
            "",
            "test result: garbage",
        ] {
            assert_eq!(TestCounts::parse_result_line(line), None, "{line}");
        }
    }

    #[test]
    fn the_closing_line_has_the_plain_form_ci_reads() {
        let counts = TestCounts {
            passed: 52,
            failed: 1,
            ignored: 3,
        };
        assert_eq!(
            counts.closing_line(),
            "tests: 52 passed, 1 failed, 3 skipped"
        );
    }
}
