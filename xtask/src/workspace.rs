//! The workspace xtask runs in: its root, its target directory and its cargo.

use crate::bundler_config::{BundlerConfig, BUNDLER_CONFIG_DIR, BUNDLER_CONFIG_FILE};
use crate::platform::Target;
use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Workspace {
    /// Absolute path of the folder with the workspace `Cargo.toml`.
    pub root: PathBuf,
    /// Absolute path of cargo's target directory (honours `CARGO_TARGET_DIR` and config).
    pub target_dir: PathBuf,
    /// The platform xtask runs on; `install`, `test` and `eval` work for this one.
    pub host: Target,
    cargo: OsString,
}

impl Workspace {
    pub fn locate() -> Result<Self> {
        // `cargo run` sets CARGO_MANIFEST_DIR for the process; the compile-time value covers
        // running `target/release/xtask` directly.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.join("Cargo.toml").is_file())
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        // `cargo run` also sets CARGO to the cargo that started us; use the same one.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let metadata = cargo_metadata::MetadataCommand::new()
            .cargo_path(&cargo)
            .manifest_path(manifest_dir.join("Cargo.toml"))
            .no_deps()
            .exec()
            .context("could not read the workspace layout with `cargo metadata`")?;
        Ok(Self {
            root: metadata.workspace_root.into_std_path_buf(),
            target_dir: metadata.target_directory.into_std_path_buf(),
            host: Target::host()?,
            cargo,
        })
    }

    /// A `cargo` command run from the workspace root.
    pub fn cargo(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command.current_dir(&self.root);
        command
    }

    /// The folder holding `bundler.toml`; nice-plug-xtask runs with it as working directory.
    pub fn bundler_config_dir(&self) -> PathBuf {
        self.root.join(BUNDLER_CONFIG_DIR)
    }

    pub fn bundler_config(&self) -> Result<BundlerConfig> {
        BundlerConfig::load(&self.bundler_config_dir().join(BUNDLER_CONFIG_FILE))
    }

    /// Where nice-plug-xtask writes bundles: `target/bundled`.
    pub fn bundled_dir(&self) -> PathBuf {
        self.target_dir.join("bundled")
    }

    /// Where `cargo xtask test` keeps its debug bundles: `target/test-bundled`.
    pub fn test_bundled_dir(&self) -> PathBuf {
        self.target_dir.join("test-bundled")
    }

    /// `path` relative to the workspace root if it is inside it, for shorter messages.
    pub fn display<'a>(&self, path: &'a Path) -> std::path::Display<'a> {
        path.strip_prefix(&self.root).unwrap_or(path).display()
    }
}
