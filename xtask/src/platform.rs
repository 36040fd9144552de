//! Where plugin bundles live: their layout inside `target/bundled` and the folders hosts scan.
//!
//! Everything here is a pure function of a [`Target`] (and, for install folders, of an
//! environment lookup), so the layouts of all three operating systems are unit-tested on
//! any one of them. The layouts mirror what nice-plug-xtask 0.1.1 writes; `bundle` checks
//! its output against them, so a drift shows up as an error right after bundling.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Mac,
    Windows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86,
    X86_64,
    AArch64,
    Riscv64,
}

/// The platform a bundle is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub os: Os,
    pub arch: Arch,
}

impl Target {
    /// Parses a Rust target triple such as `x86_64-unknown-linux-gnu`.
    pub fn from_triple(triple: &str) -> Result<Self> {
        let arch_name = triple.split('-').next().unwrap_or_default();
        let arch = match arch_name {
            "x86_64" => Arch::X86_64,
            "i386" | "i586" | "i686" => Arch::X86,
            "aarch64" | "arm64" => Arch::AArch64,
            "riscv64gc" | "riscv64" => Arch::Riscv64,
            _ => bail!("unsupported architecture '{arch_name}' in target triple '{triple}'"),
        };
        let os = if triple.contains("-linux") {
            Os::Linux
        } else if triple.contains("-apple-darwin") {
            Os::Mac
        } else if triple.contains("-windows") {
            Os::Windows
        } else {
            bail!("unsupported operating system in target triple '{triple}' (expected Linux, macOS or Windows)")
        };
        if os == Os::Windows && arch == Arch::Riscv64 {
            bail!("VST3 defines no bundle layout for RISC-V Windows ('{triple}')");
        }
        Ok(Self { os, arch })
    }

    /// The platform this xtask binary runs on.
    pub fn host() -> Result<Self> {
        let os = match std::env::consts::OS {
            "macos" => Os::Mac,
            "windows" => Os::Windows,
            "linux" => Os::Linux,
            other => bail!("unsupported host operating system '{other}'"),
        };
        let arch = match std::env::consts::ARCH {
            "x86" => Arch::X86,
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::AArch64,
            "riscv64" => Arch::Riscv64,
            other => bail!("unsupported host architecture '{other}'"),
        };
        Ok(Self { os, arch })
    }

    /// `--target` if given, the host otherwise.
    pub fn from_optional_triple(triple: Option<&str>) -> Result<Self> {
        triple.map_or_else(Self::host, Self::from_triple)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Clap,
    Vst3,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Clap, Format::Vst3];

    pub fn label(self) -> &'static str {
        match self {
            Format::Clap => "CLAP",
            Format::Vst3 => "VST3",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Clap => "clap",
            Format::Vst3 => "vst3",
        }
    }
}

/// The file or folder a host loads, relative to the bundle directory: `<name>.clap` or
/// `<name>.vst3`. This is what `install` copies.
pub fn bundle_root(name: &str, format: Format) -> PathBuf {
    PathBuf::from(format!("{name}.{}", format.extension()))
}

/// Whether [`bundle_root`] is a directory (a bundle) rather than a single library file.
/// VST3 is a bundle everywhere; CLAP only on macOS.
pub fn bundle_is_dir(format: Format, os: Os) -> bool {
    match format {
        Format::Vst3 => true,
        Format::Clap => os == Os::Mac,
    }
}

/// VST3's name for the architecture folder under `Contents/` on Linux and Windows.
///
/// NOTE: nice-plug-xtask names AArch64 Windows `arm_64-win`; we follow the bundler so the
/// check after bundling agrees with what it wrote.
fn vst3_arch_dir(target: Target) -> &'static str {
    match (target.os, target.arch) {
        (Os::Linux, Arch::X86) => "i386-linux",
        (Os::Linux, Arch::X86_64) => "x86_64-linux",
        (Os::Linux, Arch::AArch64) => "aarch64-linux",
        (Os::Linux, Arch::Riscv64) => "riscv64-linux",
        (Os::Windows, Arch::X86) => "x86-win",
        (Os::Windows, Arch::X86_64) => "x86_64-win",
        (Os::Windows, Arch::AArch64) => "arm_64-win",
        // Rejected by `Target::from_triple`; `Target::host` cannot produce it either
        // because Rust has no RISC-V Windows host.
        (Os::Windows, Arch::Riscv64) => "riscv64-win",
        (Os::Mac, _) => "MacOS",
    }
}

/// Every file a complete bundle must contain, relative to the bundle directory: the
/// plugin library, plus `Info.plist` for macOS bundles.
pub fn bundle_required_files(name: &str, format: Format, target: Target) -> Vec<PathBuf> {
    let root = bundle_root(name, format);
    match (format, target.os) {
        (Format::Clap, Os::Linux | Os::Windows) => vec![root],
        (_, Os::Mac) => vec![
            root.join("Contents").join("MacOS").join(name),
            root.join("Contents").join("Info.plist"),
        ],
        (Format::Vst3, Os::Linux) => vec![root
            .join("Contents")
            .join(vst3_arch_dir(target))
            .join(format!("{name}.so"))],
        (Format::Vst3, Os::Windows) => vec![root
            .join("Contents")
            .join(vst3_arch_dir(target))
            .join(format!("{name}.vst3"))],
    }
}

/// Who an installed plugin is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The current user's folder; needs no administrator rights.
    User,
    /// The folder every user's hosts scan; usually needs root or administrator rights.
    System,
}

/// The folder hosts scan for `format` on `os`, from the CLAP spec (`clap/entry.h`) and
/// Steinberg's "VST 3 Plug-in Locations". `env` looks up an environment variable (`HOME`,
/// `LOCALAPPDATA`, `COMMONPROGRAMFILES`).
pub fn install_dir(
    format: Format,
    os: Os,
    scope: Scope,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf> {
    let folder = format.label();
    let required_var = |key: &str| -> Result<PathBuf> {
        env(key)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .with_context(|| {
                format!("environment variable {key} is not set, so the {folder} folder is unknown")
            })
    };
    let dir = match (os, scope) {
        (Os::Linux, Scope::User) => required_var("HOME")?.join(format!(".{}", format.extension())),
        (Os::Linux, Scope::System) => PathBuf::from("/usr/lib").join(format.extension()),
        (Os::Mac, Scope::User) => required_var("HOME")?
            .join("Library")
            .join("Audio")
            .join("Plug-Ins")
            .join(folder),
        (Os::Mac, Scope::System) => PathBuf::from("/Library/Audio/Plug-Ins").join(folder),
        (Os::Windows, Scope::User) => required_var("LOCALAPPDATA")?
            .join("Programs")
            .join("Common")
            .join(folder),
        (Os::Windows, Scope::System) => required_var("COMMONPROGRAMFILES")?.join(folder),
    };
    Ok(dir)
}

/// The standalone executable's file name (`prism-chroma`, `prism-chroma.exe`).
pub fn executable_name(stem: &str, os: Os) -> String {
    match os {
        Os::Windows => format!("{stem}.exe"),
        Os::Linux | Os::Mac => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const LINUX: Target = Target {
        os: Os::Linux,
        arch: Arch::X86_64,
    };
    const MACOS: Target = Target {
        os: Os::Mac,
        arch: Arch::AArch64,
    };
    const WINDOWS: Target = Target {
        os: Os::Windows,
        arch: Arch::X86_64,
    };

    /// A relative path from `/`-separated components, so expectations read like the docs.
    fn p(path: &str) -> PathBuf {
        let root = if path.starts_with('/') { "/" } else { "" };
        let mut buf = PathBuf::from(root);
        buf.extend(path.split('/').filter(|part| !part.is_empty()));
        buf
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(key, value)| (key.to_string(), OsString::from(value)))
            .collect();
        move |key| vars.get(key).cloned()
    }

    #[test]
    fn triples_of_the_three_desktop_systems_parse_to_os_and_arch() {
        let cases = [
            ("x86_64-unknown-linux-gnu", LINUX),
            ("aarch64-apple-darwin", MACOS),
            ("x86_64-pc-windows-msvc", WINDOWS),
            (
                "x86_64-pc-windows-gnu",
                Target {
                    os: Os::Windows,
                    arch: Arch::X86_64,
                },
            ),
            (
                "i686-unknown-linux-gnu",
                Target {
                    os: Os::Linux,
                    arch: Arch::X86,
                },
            ),
            (
                "riscv64gc-unknown-linux-gnu",
                Target {
                    os: Os::Linux,
                    arch: Arch::Riscv64,
                },
            ),
        ];
        for (triple, expected) in cases {
            assert_eq!(Target::from_triple(triple).unwrap(), expected, "{triple}");
        }
    }

    #[test]
    fn triples_without_a_plugin_layout_are_rejected_with_the_triple_named() {
        for triple in [
            "wasm32-unknown-unknown",
            "x86_64-unknown-freebsd",
            "riscv64gc-pc-windows-msvc",
        ] {
            let error = Target::from_triple(triple).unwrap_err().to_string();
            assert!(error.contains(triple), "{error}");
        }
    }

    #[test]
    fn clap_is_a_single_file_on_linux_and_windows_and_a_bundle_on_macos() {
        assert_eq!(
            bundle_required_files("Prism Chroma", Format::Clap, LINUX),
            [p("Prism Chroma.clap")]
        );
        assert_eq!(
            bundle_required_files("Prism Chroma", Format::Clap, WINDOWS),
            [p("Prism Chroma.clap")]
        );
        assert_eq!(
            bundle_required_files("Prism Chroma", Format::Clap, MACOS),
            [
                p("Prism Chroma.clap/Contents/MacOS/Prism Chroma"),
                p("Prism Chroma.clap/Contents/Info.plist"),
            ]
        );
        assert!(!bundle_is_dir(Format::Clap, Os::Linux));
        assert!(!bundle_is_dir(Format::Clap, Os::Windows));
        assert!(bundle_is_dir(Format::Clap, Os::Mac));
    }

    #[test]
    fn vst3_is_a_bundle_with_the_library_in_an_architecture_folder() {
        assert_eq!(
            bundle_required_files("Prism Chroma", Format::Vst3, LINUX),
            [p("Prism Chroma.vst3/Contents/x86_64-linux/Prism Chroma.so")]
        );
        assert_eq!(
            bundle_required_files("Prism Chroma", Format::Vst3, WINDOWS),
            [p("Prism Chroma.vst3/Contents/x86_64-win/Prism Chroma.vst3")]
        );
        assert_eq!(
            bundle_required_files("Prism Chroma", Format::Vst3, MACOS),
            [
                p("Prism Chroma.vst3/Contents/MacOS/Prism Chroma"),
                p("Prism Chroma.vst3/Contents/Info.plist"),
            ]
        );
        let aarch64_linux = Target {
            os: Os::Linux,
            arch: Arch::AArch64,
        };
        assert_eq!(
            bundle_required_files("X", Format::Vst3, aarch64_linux),
            [p("X.vst3/Contents/aarch64-linux/X.so")]
        );
        for os in [Os::Linux, Os::Mac, Os::Windows] {
            assert!(bundle_is_dir(Format::Vst3, os));
        }
    }

    #[test]
    fn bundle_root_is_the_first_component_of_every_required_file() {
        for target in [LINUX, MACOS, WINDOWS] {
            for format in Format::ALL {
                let root = bundle_root("Prism Pitch", format);
                for file in bundle_required_files("Prism Pitch", format, target) {
                    assert!(
                        file.starts_with(&root),
                        "{} in {}",
                        file.display(),
                        root.display()
                    );
                }
            }
        }
    }

    #[test]
    fn user_install_dirs_follow_the_clap_and_vst3_specs() {
        let linux_env = env_of(&[("HOME", "/home/ana")]);
        assert_eq!(
            install_dir(Format::Clap, Os::Linux, Scope::User, &linux_env).unwrap(),
            p("/home/ana/.clap")
        );
        assert_eq!(
            install_dir(Format::Vst3, Os::Linux, Scope::User, &linux_env).unwrap(),
            p("/home/ana/.vst3")
        );

        let mac_env = env_of(&[("HOME", "/Users/ana")]);
        assert_eq!(
            install_dir(Format::Clap, Os::Mac, Scope::User, &mac_env).unwrap(),
            p("/Users/ana/Library/Audio/Plug-Ins/CLAP")
        );
        assert_eq!(
            install_dir(Format::Vst3, Os::Mac, Scope::User, &mac_env).unwrap(),
            p("/Users/ana/Library/Audio/Plug-Ins/VST3")
        );

        let local_app_data = r"C:\Users\ana\AppData\Local";
        let windows_env = env_of(&[("LOCALAPPDATA", local_app_data), ("HOME", "/ignored")]);
        let expected: PathBuf = [local_app_data, "Programs", "Common", "CLAP"]
            .iter()
            .collect();
        assert_eq!(
            install_dir(Format::Clap, Os::Windows, Scope::User, &windows_env).unwrap(),
            expected
        );
        let expected: PathBuf = [local_app_data, "Programs", "Common", "VST3"]
            .iter()
            .collect();
        assert_eq!(
            install_dir(Format::Vst3, Os::Windows, Scope::User, &windows_env).unwrap(),
            expected
        );
    }

    #[test]
    fn system_install_dirs_follow_the_clap_and_vst3_specs() {
        let no_env = env_of(&[]);
        assert_eq!(
            install_dir(Format::Clap, Os::Linux, Scope::System, &no_env).unwrap(),
            p("/usr/lib/clap")
        );
        assert_eq!(
            install_dir(Format::Vst3, Os::Linux, Scope::System, &no_env).unwrap(),
            p("/usr/lib/vst3")
        );
        assert_eq!(
            install_dir(Format::Vst3, Os::Mac, Scope::System, &no_env).unwrap(),
            p("/Library/Audio/Plug-Ins/VST3")
        );
        let common = r"C:\Program Files\Common Files";
        let windows_env = env_of(&[("COMMONPROGRAMFILES", common)]);
        let expected: PathBuf = [common, "CLAP"].iter().collect();
        assert_eq!(
            install_dir(Format::Clap, Os::Windows, Scope::System, &windows_env).unwrap(),
            expected
        );
    }

    #[test]
    fn a_missing_or_empty_variable_is_an_error_naming_it() {
        let error = install_dir(Format::Clap, Os::Linux, Scope::User, env_of(&[])).unwrap_err();
        assert!(error.to_string().contains("HOME"), "{error}");
        let error = install_dir(
            Format::Vst3,
            Os::Windows,
            Scope::User,
            env_of(&[("LOCALAPPDATA", "")]),
        )
        .unwrap_err();
        assert!(error.to_string().contains("LOCALAPPDATA"), "{error}");
    }

    #[test]
    fn executables_get_an_exe_suffix_only_on_windows() {
        assert_eq!(executable_name("prism", Os::Linux), "prism");
        assert_eq!(executable_name("prism", Os::Mac), "prism");
        assert_eq!(executable_name("prism", Os::Windows), "prism.exe");
    }
}
