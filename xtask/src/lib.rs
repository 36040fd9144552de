//! Prism's `cargo xtask`: bundle, install, check system packages, test and evaluate.
//!
//! `.cargo/config.toml` aliases `cargo xtask` to `cargo run --package xtask --release --`.
//! Bundling is delegated to nice-plug-xtask with bundle names from `bundle/bundler.toml`.

mod bundle;
mod bundler_config;
mod chordino;
mod deps;
mod eval;
mod install;
mod platform;
mod process;
mod split_model;
mod test;
mod venv;
mod workspace;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use workspace::Workspace;

pub use test::{BIN_DIR_ENV, BUNDLE_DIR_ENV, SKIP_HOST_TESTS_ENV, VENV_ENV};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Prism's build, bundle, install, test and evaluation tasks",
    after_help = "Bundles land in target/bundled/<Bundle Name>.clap and .vst3; bundle names \
                  come from bundle/bundler.toml."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build plugins and bundle them as CLAP and VST3 into target/bundled/
    Bundle(BundleArgs),
    /// Copy bundles from target/bundled/ into the folders plugin hosts scan
    Install(InstallArgs),
    /// Check the system packages (Debian/Ubuntu) for building and testing; installs them as root
    Deps(DepsArgs),
    /// Run every check: system packages, Python venv, rustfmt, clippy, build, debug bundles, tests
    Test(TestArgs),
    /// Run an evaluation suite against the release CLI
    Eval(EvalArgs),
    /// Prism Split's model recipe: render the data, train, export to ONNX, check it in tract
    SplitModel(SplitModelArgs),
    /// List the plugin packages of bundle/bundler.toml and their bundle names
    Plugins,
}

#[derive(Debug, Args)]
struct BundleArgs {
    /// Plugin packages to bundle (sections of bundle/bundler.toml)
    #[arg(value_name = "PACKAGE")]
    packages: Vec<String>,
    /// A plugin package to bundle, the cargo way; may be repeated
    #[arg(short = 'p', long = "package", value_name = "PACKAGE")]
    package_flags: Vec<String>,
    /// Bundle every plugin package in bundle/bundler.toml
    #[arg(long, conflicts_with_all = ["packages", "package_flags"])]
    all: bool,
    /// Build optimised (the release profile: what you install and use)
    #[arg(long)]
    release: bool,
    /// Build with this cargo profile instead, e.g. `ship` (fat LTO: what a release ships)
    #[arg(long, value_name = "NAME", conflicts_with = "release")]
    profile: Option<String>,
    /// Cross-compile for this target triple
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// Do not check system packages first
    #[arg(long)]
    skip_deps: bool,
    /// Also build the standalone (JACK / ALSA) executables and put them beside the bundles;
    /// without it only the plugin libraries are built
    #[arg(long)]
    standalone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Clap,
    Vst3,
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// Plugin packages to install; every plugin in bundle/bundler.toml if none is named
    #[arg(value_name = "PACKAGE")]
    packages: Vec<String>,
    /// Install every plugin package in bundle/bundler.toml (the default)
    #[arg(long, conflicts_with = "packages")]
    all: bool,
    /// Install for all users (/usr/lib/{clap,vst3}, /Library/Audio/Plug-Ins,
    /// %COMMONPROGRAMFILES%) instead of the current user
    #[arg(long)]
    system: bool,
    /// Install only this format
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Folder holding the bundles [default: target/bundled]
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DepsArgs {
    /// Only the packages needed to build, not those the tests need
    #[arg(long)]
    build_only: bool,
    /// Only check; never run apt-get
    #[arg(long)]
    check: bool,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Skip rustfmt and clippy
    #[arg(long)]
    skip_lint: bool,
    /// Skip the Python venv, the plugin bundles and the host tests (sets PRISM_SKIP_HOST_TESTS=1)
    #[arg(long)]
    no_host: bool,
    /// Write the per-plugin test summary into README.md
    #[arg(long)]
    update_readme: bool,
}

#[derive(Debug, Args)]
struct SplitModelArgs {
    /// The smoke test: six short songs and the tiny model in target/split-smoke/ (minutes)
    #[arg(long)]
    smoke: bool,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Which evaluation to run
    #[arg(value_enum)]
    suite: eval::Suite,
    /// A short run on a subset of the material
    #[arg(long)]
    quick: bool,
    /// Further arguments for the evaluation script (after `--`)
    #[arg(last = true, value_name = "SCRIPT_ARGS")]
    script_args: Vec<OsString>,
}

/// Entry point of the `xtask` binary: runs the task and prints a failure with its causes
/// (no backtrace: the message says what went wrong and what to do).
pub fn main() -> ExitCode {
    match run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<test::AlreadyReported>() => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs xtask with `args`, the first being the program name.
pub fn run<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    let workspace = Workspace::locate()?;
    match cli.task {
        Task::Bundle(args) => run_bundle(&workspace, args),
        Task::Install(args) => run_install(&workspace, args),
        Task::Deps(args) => {
            let mode = if args.check {
                deps::Mode::CheckOnly
            } else {
                deps::Mode::InstallIfRoot
            };
            let mut requirements = deps::BUILD.to_vec();
            if !args.build_only {
                requirements.extend(deps::TEST);
            }
            deps::ensure(&requirements, mode)
        }
        Task::Test(args) => test::run(
            &workspace,
            test::TestOptions {
                skip_lint: args.skip_lint,
                no_host: args.no_host,
                update_readme: args.update_readme,
            },
        ),
        Task::Eval(args) => eval::run(&workspace, args.suite, args.quick, &args.script_args),
        Task::SplitModel(args) => split_model::run(&workspace, args.smoke),
        Task::Plugins => {
            for plugin in workspace.bundler_config()?.plugins() {
                println!("{}\t{}", plugin.package, plugin.bundle_name);
            }
            Ok(())
        }
    }
}

fn run_bundle(workspace: &Workspace, args: BundleArgs) -> Result<()> {
    let mut requested = args.packages;
    requested.extend(args.package_flags);
    let plugins = workspace.bundler_config()?.select(&requested, args.all)?;
    if !args.skip_deps {
        deps::ensure(deps::BUILD, deps::Mode::InstallIfRoot)?;
    }
    let options = bundle::BuildOptions {
        release: args.release,
        profile: args.profile,
        target: args.target,
        standalone: args.standalone,
    };
    let bundles = bundle::build_and_bundle(workspace, &plugins, &options)?;
    eprintln!("\nBundles ({}):", options.profile_dir());
    for bundle in bundles {
        eprintln!("  {}", workspace.display(&bundle));
    }
    Ok(())
}

fn run_install(workspace: &Workspace, args: InstallArgs) -> Result<()> {
    bundle::recover_interrupted_test_bundling(workspace)?;
    let all = args.all || args.packages.is_empty();
    let plugins = workspace.bundler_config()?.select(&args.packages, all)?;
    let formats = match args.format {
        None => platform::Format::ALL.to_vec(),
        Some(FormatArg::Clap) => vec![platform::Format::Clap],
        Some(FormatArg::Vst3) => vec![platform::Format::Vst3],
    };
    let scope = if args.system {
        platform::Scope::System
    } else {
        platform::Scope::User
    };
    let from = args.from.unwrap_or_else(|| workspace.bundled_dir());
    let items = install::plan(&plugins, &formats, workspace.host, scope, &from, |key| {
        std::env::var_os(key)
    })?;
    install::check_sources(&items)?;
    for item in &items {
        install::install_item(item).with_context(|| {
            format!(
                "could not install the {} bundle of '{}'",
                item.format.label(),
                item.package
            )
        })?;
        eprintln!("Installed {}", item.dest.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(line: &str) -> Cli {
        Cli::try_parse_from(std::iter::once("xtask").chain(line.split_whitespace())).unwrap()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bundle_takes_packages_positionally_or_with_p() {
        let Task::Bundle(args) = parse("bundle prism-chroma -p prism-pitch --release").task else {
            panic!("not a bundle task");
        };
        assert_eq!(args.packages, ["prism-chroma"]);
        assert_eq!(args.package_flags, ["prism-pitch"]);
        assert!(args.release && !args.all);
    }

    #[test]
    fn bundle_all_conflicts_with_named_packages() {
        let result = Cli::try_parse_from(["xtask", "bundle", "--all", "prism-chroma"]);
        assert!(result.is_err());
        let Task::Bundle(args) = parse("bundle --all --target x86_64-pc-windows-gnu").task else {
            panic!("not a bundle task");
        };
        assert!(args.all);
        assert_eq!(args.target.as_deref(), Some("x86_64-pc-windows-gnu"));
    }

    #[test]
    fn eval_passes_arguments_after_the_double_dash_to_the_script() {
        let Task::Eval(args) = parse("eval chroma --quick -- --limit 3").task else {
            panic!("not an eval task");
        };
        assert_eq!(args.suite, eval::Suite::Chroma);
        assert!(args.quick);
        assert_eq!(args.script_args, ["--limit", "3"]);
    }
}
