//! System packages (Debian/Ubuntu names) needed to build the plugins and run the tests.
//!
//! Checked with `dpkg-query`. Missing packages are installed with apt-get when running as
//! root (CI, containers); otherwise the exact `sudo apt-get install` line is printed and
//! the command fails. Without dpkg-query (macOS, Windows, other Linux distributions)
//! this only warns: the names below then tell what to look for.

use crate::process;
use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::process::Command;

/// A package the build or the tests need. Any one of `alternatives` satisfies it (names
/// differ between Debian and Ubuntu releases); the first is installed when none is.
#[derive(Debug, Clone, Copy)]
pub struct Requirement {
    pub alternatives: &'static [&'static str],
    pub why: &'static str,
}

const fn one(name: &'static [&'static str], why: &'static str) -> Requirement {
    Requirement {
        alternatives: name,
        why,
    }
}

/// Needed by `cargo build` of the plugins, the standalones and the CLI.
pub const BUILD: &[Requirement] = &[
    one(
        &["pkg-config"],
        "finds the C libraries below for -sys crates",
    ),
    one(
        &["libasound2-dev"],
        "ALSA backend of the standalone (alsa-sys)",
    ),
    one(
        &["libjack-jackd2-dev", "libjack-dev"],
        "JACK backend of the standalone (jack-sys)",
    ),
    one(&["libx11-dev"], "editor windows (baseview)"),
    one(&["libx11-xcb-dev"], "editor windows (baseview)"),
    one(&["libxcb1-dev"], "editor windows (baseview)"),
    one(&["libxcb-icccm4-dev"], "editor windows (baseview)"),
    one(
        &["libxcb-dri2-0-dev"],
        "OpenGL context of the editor (baseview)",
    ),
    one(&["libxcursor-dev"], "editor mouse cursors (baseview)"),
    one(&["libxrandr-dev"], "editor DPI detection (baseview)"),
    one(&["libgl-dev"], "OpenGL headers for the egui editor"),
];

/// Needed by `cargo xtask test` and `cargo xtask eval` on top of [`BUILD`].
pub const TEST: &[Requirement] = &[
    one(&["xvfb"], "virtual X server for editor tests"),
    one(&["xauth"], "xvfb-run"),
    one(&["imagemagick"], "screenshots of the editor (import)"),
    one(&["xdotool"], "driving the editor under Xvfb"),
    one(
        &["libgl1-mesa-dri"],
        "software OpenGL (llvmpipe) under Xvfb",
    ),
    one(
        &["jackd2"],
        "a real JACK server (jackd -d dummy) for the standalones' JACK test",
    ),
    one(
        &["ardour"],
        "a real DAW (ardour7-lua, ardour7-export) for the Split export test",
    ),
    one(&["fluidsynth"], "rendering MIDI test material"),
    one(
        &["fluid-soundfont-gm"],
        "General MIDI sounds for fluidsynth",
    ),
    one(&["mma"], "generating chord accompaniments as test material"),
    one(
        &[
            "libclang-rt-22-dev",
            "libclang-rt-21-dev",
            "libclang-rt-20-dev",
        ],
        "LLVM RealtimeSanitizer runtime (the RTSan test step)",
    ),
    one(
        &["python3-venv"],
        "the Python virtual environments of the host tests and evals",
    ),
];

/// Needed by `cargo xtask eval` on top of [`BUILD`] and [`TEST`]: the Split recipe's
/// soundfonts and drum kits (its held-out test timbres), ffmpeg (museval imports
/// stempeg, which refuses to load without it) and the Pitch evaluation's aubio anchor.
pub const EVAL: &[Requirement] = &[
    one(
        &["musescore-general-soundfont"],
        "Split training/validation timbres (render.py), Pitch GM renders",
    ),
    one(&["timgm6mb-soundfont"], "Split held-out test timbres"),
    one(
        &["avldrums.lv2-soundfont"],
        "Split drum kits (train and held-out)",
    ),
    one(
        &["openttd-openmsx"],
        "General-MIDI songs for the Split training data (render.py)",
    ),
    one(
        &["planetblupi-music-midi"],
        "General-MIDI songs for the Split training data (render.py)",
    ),
    one(
        &["ffmpeg"],
        "museval (via stempeg) for the Split evaluation",
    ),
    one(
        &["aubio-tools"],
        "the aubio yinfft anchor of the Pitch evaluation (`aubio pitch`)",
    ),
    one(
        &["vamp-plugin-sdk"],
        "building the Chordino anchor of the chroma evaluation",
    ),
    one(
        &["libboost-dev"],
        "building the Chordino anchor of the chroma evaluation",
    ),
    one(
        &["g++"],
        "building the Chordino anchor of the chroma evaluation",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Install what is missing if running as root; fail with the install line otherwise.
    InstallIfRoot,
    /// Never install; fail with the install line if anything is missing.
    CheckOnly,
}

/// Package names that `dpkg-query -W -f='${Package} ${Status}\n'` reports as installed.
/// A status ends in `installed` only when the package is fully installed
/// (`install ok installed`, `hold ok installed`; not `deinstall ok config-files`).
pub fn parse_installed(dpkg_output: &str) -> BTreeSet<String> {
    dpkg_output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let package = words.next()?;
            (words.last()? == "installed").then(|| package.to_owned())
        })
        .collect()
}

/// For each unsatisfied requirement, the package to install (its first alternative).
pub fn missing(requirements: &[Requirement], installed: &BTreeSet<String>) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for requirement in requirements {
        let satisfied = requirement
            .alternatives
            .iter()
            .any(|name| installed.contains(*name));
        let name = requirement.alternatives[0];
        if !satisfied && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The line a non-root user should run.
pub fn install_line(packages: &[&str]) -> String {
    format!("sudo apt-get install -y {}", packages.join(" "))
}

/// Makes sure `requirements` are installed (see [`Mode`]).
pub fn ensure(requirements: &[Requirement], mode: Mode) -> Result<()> {
    let Some(installed) = query_installed(requirements)? else {
        eprintln!(
            "warning: dpkg-query not found, so system packages are not checked. This is not a \
             Debian/Ubuntu system; make sure the equivalents of these are installed: {}",
            requirements
                .iter()
                .map(|r| r.alternatives[0])
                .collect::<Vec<_>>()
                .join(" ")
        );
        return Ok(());
    };
    let missing = missing(requirements, &installed);
    if missing.is_empty() {
        eprintln!("System packages: all {} present.", requirements.len());
        return Ok(());
    }
    for requirement in requirements {
        if missing.contains(&requirement.alternatives[0]) {
            eprintln!(
                "missing: {:<22} {}",
                requirement.alternatives[0], requirement.why
            );
        }
    }
    if mode == Mode::CheckOnly || !is_root() {
        bail!(
            "{} system package(s) missing; install them with:\n\n    {}\n",
            missing.len(),
            install_line(&missing)
        );
    }
    apt_get(&["update"])?;
    let mut install_args = vec!["install", "-y", "--no-install-recommends"];
    install_args.extend(&missing);
    apt_get(&install_args)?;

    let installed = query_installed(requirements)?.unwrap_or_default();
    let still_missing = self::missing(requirements, &installed);
    if !still_missing.is_empty() {
        bail!(
            "apt-get finished but these are still not installed: {}",
            still_missing.join(" ")
        );
    }
    Ok(())
}

/// `None` if dpkg-query does not exist.
fn query_installed(requirements: &[Requirement]) -> Result<Option<BTreeSet<String>>> {
    let names = requirements
        .iter()
        .flat_map(|r| r.alternatives.iter().copied());
    let output = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${Status}\\n")
        .args(names)
        .output();
    match output {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(anyhow::Error::new(error).context("could not run dpkg-query")),
        // NOTE: dpkg-query exits with 1 when it has never heard of some package (typically
        //       the alternative name of another release); the others are still listed.
        Ok(output) => Ok(Some(parse_installed(&String::from_utf8_lossy(
            &output.stdout,
        )))),
    }
}

fn is_root() -> bool {
    process::output(Command::new("id").arg("-u"), "checking the user id")
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false)
}

fn apt_get(args: &[&str]) -> Result<()> {
    process::run(
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "installing system packages",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fully_installed_packages_count_as_installed() {
        let output = "pkg-config install ok installed\n\
                      libjack-dev unknown ok not-installed\n\
                      xvfb deinstall ok config-files\n\
                      mma hold ok installed\n\
                      fluidsynth install ok half-installed\n";
        let installed = parse_installed(output);
        assert_eq!(
            installed.into_iter().collect::<Vec<_>>(),
            ["mma", "pkg-config"]
        );
    }

    #[test]
    fn any_alternative_satisfies_a_requirement_and_the_first_is_suggested() {
        let installed: BTreeSet<String> =
            ["libjack-dev".to_string(), "pkg-config".to_string()].into();
        let requirements = [
            one(&["pkg-config"], ""),
            one(&["libjack-jackd2-dev", "libjack-dev"], ""),
            one(&["libfontconfig-dev", "libfontconfig1-dev"], ""),
            one(&["xvfb"], ""),
        ];
        assert_eq!(
            missing(&requirements, &installed),
            ["libfontconfig-dev", "xvfb"]
        );
    }

    #[test]
    fn the_install_line_can_be_pasted_into_a_shell() {
        assert_eq!(
            install_line(&["xvfb", "mma"]),
            "sudo apt-get install -y xvfb mma"
        );
    }

    #[test]
    fn every_requested_package_is_in_the_lists_exactly_once() {
        let all: Vec<&str> = BUILD
            .iter()
            .chain(TEST)
            .flat_map(|r| r.alternatives.iter().copied())
            .collect();
        for name in [
            "pkg-config",
            "libasound2-dev",
            "libjack-jackd2-dev",
            "libx11-dev",
            "libx11-xcb-dev",
            "libxcb1-dev",
            "libxcb-icccm4-dev",
            "libxcb-dri2-0-dev",
            "libxcursor-dev",
            "libxrandr-dev",
            "libgl-dev",
            "xvfb",
            "xauth",
            "imagemagick",
            "xdotool",
            "libgl1-mesa-dri",
            "fluidsynth",
            "fluid-soundfont-gm",
            "mma",
            "python3-venv",
        ] {
            assert_eq!(all.iter().filter(|n| **n == name).count(), 1, "{name}");
        }
    }
}
