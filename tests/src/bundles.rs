//! Locating plugin bundles and deciding whether a host test runs, skips, or fails.
//!
//! Policy:
//! * Bundles are taken from `PRISM_BUNDLE_DIR` (absolute path; set by `cargo xtask test`, which
//!   builds debug bundles) or, when unset, from `<workspace>/target/bundled`.
//! * Every `*.clap` / `*.vst3` in that directory is tested, so a new plugin is covered by simply
//!   being bundled there.
//! * No bundle at all is a test **failure** with instructions, never a silent pass.
//! * `PRISM_SKIP_HOST_TESTS=1` is the explicit opt-out: the tests print a notice and return.

use std::path::{Path, PathBuf};

/// Environment variable pointing at the directory holding the `.clap` / `.vst3` bundles.
pub const BUNDLE_DIR_ENV: &str = "PRISM_BUNDLE_DIR";
/// Environment variable that, when set to `1`, makes every host-level test skip with a notice.
pub const SKIP_ENV: &str = "PRISM_SKIP_HOST_TESTS";

/// The CLAP id of Prism Chroma, for the Chroma-specific assertions.
pub const CHROMA_CLAP_ID: &str = "com.prism-audio.chroma";
/// The display name of Prism Chroma (also its bundle file stem and window title).
pub const CHROMA_NAME: &str = "Prism Chroma";
/// CLAP id of Prism Pitch.
pub const PITCH_CLAP_ID: &str = "com.prism-audio.pitch";
/// Bundle file stem of Prism Pitch.
pub const PITCH_NAME: &str = "Prism Pitch";
/// Display names of every Prism Pitch parameter.
pub const PITCH_PARAM_NAMES: [&str; 8] = [
    "Lowest Pitch",
    "Highest Pitch",
    "Reference Pitch",
    "Voicing Threshold",
    "MIDI Out",
    "Bend Range",
    "Minimum Note Length",
    "Transpose",
];
/// CLAP id of Prism Split.
pub const SPLIT_CLAP_ID: &str = "com.prism-audio.split";
/// Bundle file stem of Prism Split.
pub const SPLIT_NAME: &str = "Prism Split";
/// Display names of every Prism Chroma parameter (the host-visible names; IDs may not change).
pub const CHROMA_PARAM_NAMES: [&str; 8] = [
    "Reference Pitch",
    "Auto Tuning",
    "Smoothing",
    "Compression",
    "Chord Vocabulary",
    "Drum Suppression",
    "Freeze",
    "MIDI Chords",
];

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// The directory the tests look for bundles in.
pub fn bundle_dir() -> PathBuf {
    match std::env::var_os(BUNDLE_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("bundled"),
    }
}

/// Which kind of bundle to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// `*.clap` (on Linux a single shared object).
    Clap,
    /// `*.vst3` (a directory bundle).
    Vst3,
}

impl BundleKind {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            BundleKind::Clap => "clap",
            BundleKind::Vst3 => "vst3",
        }
    }
}

/// `true` (and a notice on stderr) when the user opted out with `PRISM_SKIP_HOST_TESTS=1`.
pub fn skip_requested(test_name: &str) -> bool {
    let skip = std::env::var(SKIP_ENV)
        .map(|v| {
            let v = v.trim();
            v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
        })
        .unwrap_or(false);
    if skip {
        // Straight to the process's stderr: libtest captures `eprintln!` of passing tests.
        use std::io::Write;
        let line = format!(
            "\nNOTICE: {test_name}: skipped because {SKIP_ENV}=1 (host-level tests opted out)\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
    skip
}

/// All bundles of the given kind in `dir`, sorted by path.
pub fn find_bundles_in(dir: &Path, kind: BundleKind) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case(kind.extension()))
        })
        .collect();
    found.sort();
    found
}

fn missing_bundle_message(dir: &Path, kind: BundleKind) -> String {
    format!(
        "no *.{ext} bundle found in {dir}.\n\
         The host-level tests need built plugin bundles. Build them with\n    \
         cargo xtask test            (builds debug bundles, sets {BUNDLE_DIR_ENV}, runs the tests)\n\
         or\n    \
         cargo xtask bundle prism-chroma\n\
         (or point {BUNDLE_DIR_ENV} at a directory holding the bundles).\n\
         To skip host-level tests deliberately, set {SKIP_ENV}=1.",
        ext = kind.extension(),
        dir = dir.display(),
    )
}

/// The bundles a host test should run against.
///
/// Returns `None` when the user opted out (`PRISM_SKIP_HOST_TESTS=1`); **panics** with build
/// instructions when there is no bundle of that kind, so an unbuilt tree cannot pass silently.
pub fn require_bundles(kind: BundleKind, test_name: &str) -> Option<Vec<PathBuf>> {
    if skip_requested(test_name) {
        return None;
    }
    let dir = bundle_dir();
    let found = find_bundles_in(&dir, kind);
    assert!(
        !found.is_empty(),
        "{test_name}: {}",
        missing_bundle_message(&dir, kind)
    );
    Some(found)
}

/// Like [`require_bundles`], but also requires the bundle named `stem` (e.g. `Prism Chroma`) to be
/// present and returns only that one.
pub fn require_named_bundle(kind: BundleKind, stem: &str, test_name: &str) -> Option<PathBuf> {
    let all = require_bundles(kind, test_name)?;
    let wanted = format!("{stem}.{}", kind.extension());
    let found = all
        .iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()) == Some(wanted.as_str()));
    match found {
        Some(p) => Some(p.clone()),
        None => panic!(
            "{test_name}: {wanted:?} not found in {} (found: {:?}).\n{}",
            bundle_dir().display(),
            all,
            missing_bundle_message(&bundle_dir(), kind)
        ),
    }
}

/// The bundle's display name: its file stem (`Prism Chroma.clap` → `Prism Chroma`).
pub fn bundle_stem(bundle: &Path) -> String {
    bundle
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The Cargo package / binary name conventionally matching a bundle name
/// (`Prism Chroma` → `prism-chroma`).
pub fn package_name_for(bundle_name: &str) -> String {
    bundle_name
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// The shared object inside a Linux VST3 bundle: `<X>.vst3/Contents/x86_64-linux/<X>.so`.
pub fn vst3_shared_object(bundle: &Path) -> PathBuf {
    bundle
        .join("Contents")
        .join(format!("{}-linux", std::env::consts::ARCH))
        .join(format!("{}.so", bundle_stem(bundle)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        assert_eq!(package_name_for("Prism Chroma"), "prism-chroma");
        assert_eq!(package_name_for("Prism  Key Finder"), "prism-key-finder");
    }

    #[test]
    fn vst3_layout() {
        let so = vst3_shared_object(Path::new("/x/Prism Chroma.vst3"));
        assert!(
            so.ends_with("Prism Chroma.vst3/Contents/x86_64-linux/Prism Chroma.so")
                || cfg!(not(target_arch = "x86_64"))
        );
    }
}
