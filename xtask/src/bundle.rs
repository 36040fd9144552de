//! `cargo xtask bundle`: build plugin packages and bundle them with nice-plug-xtask.
//!
//! nice-plug-xtask takes bundle names from `bundler.toml` in its *working directory*
//! (`load_bundler_config` reads the relative path `bundler.toml`); everything else it
//! does uses the absolute target directory we pass, and `cargo build` finds the
//! workspace from any subfolder. So we call it with `bundle/` as working directory and
//! `bundle/bundler.toml` is the one and only config: no symlink (which Windows checkouts
//! without symlink support turn into a text file) and no copy at the root that could go
//! stale or be left behind by an interrupted run.

use crate::bundler_config::PluginPackage;
use crate::platform::{self, Format, Target};
use crate::workspace::Workspace;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// How to build the plugin libraries before bundling.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub release: bool,
    /// A cargo profile by name (`ship`: what a release ships); overrides `release`.
    pub profile: Option<String>,
    /// A target triple to cross-compile for; the host if `None`.
    pub target: Option<String>,
    /// Also build the standalone executables (`--bins`); otherwise only the libraries the
    /// bundles are made of (`--lib`), and no standalone lands in `target/bundled`.
    pub standalone: bool,
}

impl BuildOptions {
    /// The `cargo build` arguments, which nice-plug-xtask also parses to find the output.
    fn cargo_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(profile) = &self.profile {
            args.push("--profile".to_owned());
            args.push(profile.clone());
        } else if self.release {
            args.push("--release".to_owned());
        }
        if let Some(target) = &self.target {
            args.push("--target".to_owned());
            args.push(target.clone());
        }
        args
    }

    /// The folder under the target directory that cargo builds into (`dev` builds into
    /// `debug`).
    pub fn profile_dir(&self) -> &str {
        match self.profile.as_deref() {
            Some("dev") | Some("test") => "debug",
            Some(profile) => profile,
            None if self.release => "release",
            None => "debug",
        }
    }
}

/// Builds `plugins` and bundles them into `target/bundled`. Returns the bundle paths.
pub fn build_and_bundle(
    workspace: &Workspace,
    plugins: &[PluginPackage],
    options: &BuildOptions,
) -> Result<Vec<PathBuf>> {
    // Parse the triple before a long build, so an unsupported one fails at once.
    let target = Target::from_optional_triple(options.target.as_deref())?;
    recover_interrupted_test_bundling(workspace)?;
    let packages: Vec<String> = plugins.iter().map(|p| p.package.clone()).collect();
    let args = options.cargo_args();
    // Only what is bundled is built: the libraries, and the standalones if asked for.
    let mut build_args = args.clone();
    build_args.extend(["--lib".to_owned()]);
    if options.standalone {
        build_args.push("--bins".to_owned());
    }
    {
        let _cwd = CurrentDir::enter(&workspace.bundler_config_dir())?;
        // One `cargo build` for all packages so cargo builds them in parallel.
        let package_args = packages.iter().flat_map(|package| ["-p", package.as_str()]);
        let words: Vec<&str> = package_args
            .chain(build_args.iter().map(String::as_str))
            .collect();
        eprintln!("$ cargo build {}", words.join(" "));
        nice_plug_xtask::build(&packages, &build_args)?;
        for package in &packages {
            nice_plug_xtask::bundle(&workspace.target_dir, package, &args, false)
                .with_context(|| format!("could not bundle '{package}'"))?;
            // nice-plug-xtask looks for a standalone named with underscores and finds none
            // (ours are `prism-chroma` …): the standalone is placed here, or a stale one that
            // an earlier `--standalone` left is removed.
            let exe = platform::executable_name(package, target.os);
            let shipped = workspace.bundled_dir().join(&exe);
            remove_if_exists(&shipped)?;
            if options.standalone {
                let mut built = workspace.target_dir.clone();
                if let Some(triple) = &options.target {
                    built.push(triple);
                }
                built.push(options.profile_dir());
                fs::copy(built.join(&exe), &shipped)
                    .with_context(|| format!("could not copy the standalone '{exe}'"))?;
            }
        }
    }
    verify_bundles(&workspace.bundled_dir(), plugins, target)
}

/// Bundles the *already built* debug libraries of `plugins` into `dest`, replacing it,
/// without touching the bundles a user keeps in `target/bundled`.
///
/// nice-plug-xtask always writes to `target/bundled`, so that folder is moved aside while
/// it bundles, the fresh bundles are moved to `dest`, and the user's folder is moved
/// back. All three are renames within `target/`, so this is quick and copies nothing. If
/// the process dies in between, the next `bundle`, `install` or `test` puts the user's
/// folder back (see [`recover_interrupted_test_bundling`]).
pub fn bundle_debug_into(
    workspace: &Workspace,
    plugins: &[PluginPackage],
    dest: &Path,
) -> Result<Vec<PathBuf>> {
    recover_interrupted_test_bundling(workspace)?;
    let live = workspace.bundled_dir();
    let backup = backup_dir(workspace);
    if live.exists() {
        rename(&live, &backup)?;
    }
    let bundled = (|| {
        let _cwd = CurrentDir::enter(&workspace.bundler_config_dir())?;
        for plugin in plugins {
            nice_plug_xtask::bundle(&workspace.target_dir, &plugin.package, &[], false)
                .with_context(|| {
                    format!("could not bundle the debug build of '{}'", plugin.package)
                })?;
        }
        remove_if_exists(dest)?;
        rename(&live, dest)
    })();
    if bundled.is_err() {
        // Half-made test output must not pass for the user's bundles.
        let _ = remove_if_exists(&live);
    }
    // Restore the user's bundles whether or not bundling worked.
    let restored = recover_interrupted_test_bundling(workspace);
    bundled?;
    restored?;
    verify_bundles(dest, plugins, workspace.host)
}

/// Puts the user's `target/bundled` back if a test run was interrupted while it was
/// moved aside. Whatever is in `target/bundled` then is half-made test output.
pub fn recover_interrupted_test_bundling(workspace: &Workspace) -> Result<()> {
    let live = workspace.bundled_dir();
    let backup = backup_dir(workspace);
    if !backup.exists() {
        return Ok(());
    }
    remove_if_exists(&live)?;
    rename(&backup, &live)
}

fn backup_dir(workspace: &Workspace) -> PathBuf {
    workspace.target_dir.join("bundled.xtask-backup")
}

/// Checks that every bundle of `plugins` is complete in `dir`; returns the bundle roots.
fn verify_bundles(dir: &Path, plugins: &[PluginPackage], target: Target) -> Result<Vec<PathBuf>> {
    let mut roots = Vec::new();
    for plugin in plugins {
        for format in Format::ALL {
            for file in platform::bundle_required_files(&plugin.bundle_name, format, target) {
                let path = dir.join(&file);
                if !path.is_file() {
                    bail!(
                        "the {} bundle of '{}' is incomplete: '{}' is missing (does the plugin \
                         call nice_export_clap! and nice_export_vst3!?)",
                        format.label(),
                        plugin.package,
                        path.display()
                    );
                }
            }
            roots.push(dir.join(platform::bundle_root(&plugin.bundle_name, format)));
        }
    }
    Ok(roots)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("could not move '{}' to '{}'", from.display(), to.display()))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => Err(error),
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result.with_context(|| format!("could not remove '{}'", path.display()))
}

/// Changes the process's working directory until dropped. xtask is single-threaded, so
/// nothing else observes the change.
struct CurrentDir {
    previous: PathBuf,
}

impl CurrentDir {
    fn enter(dir: &Path) -> Result<Self> {
        let previous = std::env::current_dir().context("could not read the current directory")?;
        std::env::set_current_dir(dir)
            .with_context(|| format!("could not change into '{}'", dir.display()))?;
        Ok(Self { previous })
    }
}

impl Drop for CurrentDir {
    fn drop(&mut self) {
        // NOTE: nothing sensible is left to do if the old directory vanished meanwhile;
        //       every path xtask uses afterwards is absolute.
        let _ = std::env::set_current_dir(&self.previous);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_options_become_the_cargo_arguments_nice_plug_parses() {
        assert!(BuildOptions::default().cargo_args().is_empty());
        let options = BuildOptions {
            release: true,
            target: Some("aarch64-apple-darwin".into()),
            ..BuildOptions::default()
        };
        assert_eq!(
            options.cargo_args(),
            ["--release", "--target", "aarch64-apple-darwin"]
        );
        assert_eq!(options.profile_dir(), "release");
        let ship = BuildOptions {
            profile: Some("ship".into()),
            ..BuildOptions::default()
        };
        assert_eq!(ship.cargo_args(), ["--profile", "ship"]);
        assert_eq!(ship.profile_dir(), "ship");
        let dev = BuildOptions {
            profile: Some("dev".into()),
            ..BuildOptions::default()
        };
        assert_eq!(dev.profile_dir(), "debug");
    }
}
