//! `cargo xtask install`: copy built bundles into the folders hosts scan.

use crate::bundler_config::PluginPackage;
use crate::platform::{self, Format, Scope, Target};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

/// One bundle to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallItem {
    pub package: String,
    pub format: Format,
    /// The bundle in the build output, e.g. `target/bundled/Prism Chroma.vst3`.
    pub source: PathBuf,
    /// Files `source` must contain to be a complete bundle (`source` itself for a file).
    pub required_files: Vec<PathBuf>,
    /// Where it goes, e.g. `~/.vst3/Prism Chroma.vst3`.
    pub dest: PathBuf,
    pub is_dir: bool,
}

/// What to copy where; touches no file. `env` looks up environment variables.
pub fn plan(
    plugins: &[PluginPackage],
    formats: &[Format],
    target: Target,
    scope: Scope,
    bundled_dir: &Path,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<InstallItem>> {
    let mut items = Vec::new();
    for format in formats.iter().copied() {
        let dest_dir = platform::install_dir(format, target.os, scope, &env)?;
        for plugin in plugins {
            let root = platform::bundle_root(&plugin.bundle_name, format);
            items.push(InstallItem {
                package: plugin.package.clone(),
                format,
                source: bundled_dir.join(&root),
                required_files: platform::bundle_required_files(
                    &plugin.bundle_name,
                    format,
                    target,
                )
                .into_iter()
                .map(|file| bundled_dir.join(file))
                .collect(),
                dest: dest_dir.join(&root),
                is_dir: platform::bundle_is_dir(format, target.os),
            });
        }
    }
    Ok(items)
}

/// Checks every bundle before copying any, so a missing one leaves nothing half-installed.
pub fn check_sources(items: &[InstallItem]) -> Result<()> {
    let missing: Vec<&InstallItem> = items
        .iter()
        .filter(|item| !item.required_files.iter().all(|file| file.is_file()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = Vec::new();
    for item in &missing {
        if !packages.contains(&item.package.as_str()) {
            packages.push(&item.package);
        }
    }
    let list: Vec<String> = missing
        .iter()
        .map(|item| format!("  {}", item.source.display()))
        .collect();
    bail!(
        "these bundles are missing or incomplete:\n{}\nbuild them first: cargo xtask bundle {} --release",
        list.join("\n"),
        packages.join(" ")
    );
}

/// Copies `item.source` to `item.dest`, replacing an older install. The copy is made next
/// to the destination under a temporary name and renamed into place, so a failed copy
/// leaves the previous install intact.
pub fn install_item(item: &InstallItem) -> Result<()> {
    let dest_dir = item
        .dest
        .parent()
        .context("install destination has no parent folder")?;
    fs::create_dir_all(dest_dir)
        .with_context(|| format!("could not create '{}'", dest_dir.display()))?;
    let file_name = item
        .dest
        .file_name()
        .context("install destination has no file name")?;
    let mut partial_name = OsString::from(".");
    partial_name.push(file_name);
    partial_name.push(".xtask-partial");
    let partial = dest_dir.join(partial_name);
    remove_path(&partial)?;
    copy_recursively(&item.source, &partial).with_context(|| {
        format!(
            "could not copy '{}' to '{}'",
            item.source.display(),
            dest_dir.display()
        )
    })?;
    remove_path(&item.dest)?;
    fs::rename(&partial, &item.dest).with_context(|| {
        format!(
            "could not move the new bundle into '{}'",
            item.dest.display()
        )
    })
}

fn copy_recursively(source: &Path, dest: &Path) -> Result<()> {
    if source.is_dir() {
        fs::create_dir_all(dest)
            .with_context(|| format!("could not create '{}'", dest.display()))?;
        for entry in fs::read_dir(source)
            .with_context(|| format!("could not list '{}'", source.display()))?
        {
            let entry = entry.with_context(|| format!("could not list '{}'", source.display()))?;
            copy_recursively(&entry.path(), &dest.join(entry.file_name()))?;
        }
    } else {
        fs::copy(source, dest).with_context(|| {
            format!(
                "could not copy '{}' to '{}'",
                source.display(),
                dest.display()
            )
        })?;
    }
    Ok(())
}

fn remove_path(path: &Path) -> Result<()> {
    let result = match fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => Err(error),
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    result.with_context(|| format!("could not remove '{}'", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{Arch, Os};

    fn chroma() -> Vec<PluginPackage> {
        vec![PluginPackage {
            package: "prism-chroma".into(),
            bundle_name: "Prism Chroma".into(),
        }]
    }

    fn target(os: Os) -> Target {
        Target {
            os,
            arch: Arch::X86_64,
        }
    }

    fn env_home(key: &str) -> Option<OsString> {
        match key {
            "HOME" => Some("/home/ana".into()),
            "LOCALAPPDATA" => Some(r"C:\Users\ana\AppData\Local".into()),
            _ => None,
        }
    }

    /// A fresh empty folder under the system temp dir, unique to this test.
    fn scratch_dir(test_name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("prism-xtask-{test_name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn linux_installs_a_clap_file_and_a_vst3_folder_into_the_home_dot_folders() {
        let items = plan(
            &chroma(),
            &Format::ALL,
            target(Os::Linux),
            Scope::User,
            Path::new("/w/target/bundled"),
            env_home,
        )
        .unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0].source,
            Path::new("/w/target/bundled/Prism Chroma.clap")
        );
        assert_eq!(
            items[0].dest,
            Path::new("/home/ana/.clap/Prism Chroma.clap")
        );
        assert!(!items[0].is_dir);
        assert_eq!(
            items[1].dest,
            Path::new("/home/ana/.vst3/Prism Chroma.vst3")
        );
        assert_eq!(
            items[1].required_files,
            [Path::new(
                "/w/target/bundled/Prism Chroma.vst3/Contents/x86_64-linux/Prism Chroma.so"
            )]
        );
        assert!(items[1].is_dir);
    }

    #[test]
    fn macos_installs_both_bundles_into_the_users_plug_ins_library() {
        let items = plan(
            &chroma(),
            &Format::ALL,
            target(Os::Mac),
            Scope::User,
            Path::new("/w/target/bundled"),
            env_home,
        )
        .unwrap();
        assert_eq!(
            items[0].dest,
            Path::new("/home/ana/Library/Audio/Plug-Ins/CLAP/Prism Chroma.clap")
        );
        assert!(items[0].is_dir);
        assert_eq!(
            items[1].dest,
            Path::new("/home/ana/Library/Audio/Plug-Ins/VST3/Prism Chroma.vst3")
        );
        assert!(items[1].required_files.contains(&PathBuf::from(
            "/w/target/bundled/Prism Chroma.vst3/Contents/Info.plist"
        )));
    }

    #[test]
    fn windows_installs_into_the_per_user_common_programs_folders() {
        let items = plan(
            &chroma(),
            &[Format::Vst3],
            target(Os::Windows),
            Scope::User,
            Path::new("bundled"),
            env_home,
        )
        .unwrap();
        let expected: PathBuf = [
            r"C:\Users\ana\AppData\Local",
            "Programs",
            "Common",
            "VST3",
            "Prism Chroma.vst3",
        ]
        .iter()
        .collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].dest, expected);
        assert_eq!(
            items[0].required_files,
            [[
                "bundled",
                "Prism Chroma.vst3",
                "Contents",
                "x86_64-win",
                "Prism Chroma.vst3"
            ]
            .iter()
            .collect::<PathBuf>()]
        );
    }

    #[test]
    fn a_missing_bundle_is_reported_with_the_command_that_builds_it() {
        let dir = scratch_dir("missing");
        let items = plan(
            &chroma(),
            &Format::ALL,
            target(Os::Linux),
            Scope::User,
            &dir,
            env_home,
        )
        .unwrap();
        let error = check_sources(&items).unwrap_err().to_string();
        assert!(
            error.contains("cargo xtask bundle prism-chroma --release"),
            "{error}"
        );
        assert!(error.contains("Prism Chroma.clap"), "{error}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn installing_copies_a_bundle_folder_and_replaces_the_previous_install() {
        let dir = scratch_dir("install");
        let bundled = dir.join("bundled");
        let library = bundled.join("Prism Chroma.vst3/Contents/x86_64-linux/Prism Chroma.so");
        fs::create_dir_all(library.parent().unwrap()).unwrap();
        fs::write(&library, b"new").unwrap();
        let home = dir.join("home");
        let stale = home.join(".vst3/Prism Chroma.vst3/Contents/stale-file");
        fs::create_dir_all(stale.parent().unwrap()).unwrap();
        fs::write(&stale, b"old").unwrap();

        let env = |key: &str| (key == "HOME").then(|| home.clone().into_os_string());
        let items = plan(
            &chroma(),
            &[Format::Vst3],
            target(Os::Linux),
            Scope::User,
            &bundled,
            env,
        )
        .unwrap();
        check_sources(&items).unwrap();
        install_item(&items[0]).unwrap();

        let installed = home.join(".vst3/Prism Chroma.vst3/Contents/x86_64-linux/Prism Chroma.so");
        assert_eq!(fs::read(installed).unwrap(), b"new");
        assert!(
            !stale.exists(),
            "files of the previous install must be gone"
        );
        assert_eq!(
            fs::read_dir(home.join(".vst3")).unwrap().count(),
            1,
            "no partial copy left behind"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
