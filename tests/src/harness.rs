//! Running one check over every plugin in every bundle, and reporting all failures together.

use crate::bundles::{self, BundleKind, CHROMA_CLAP_ID, CHROMA_NAME};
use crate::clap::{ClapBundle, Descriptor};
use anyhow::{anyhow, Result};
use std::path::Path;

/// Runs `check` for every plugin of every `*.clap` bundle in the bundle directory.
///
/// Skips (with a notice) under `PRISM_SKIP_HOST_TESTS=1`; panics when no bundle exists, when a
/// bundle cannot be loaded or lists no plugin, or when any check fails (all failures are
/// reported, not just the first).
pub fn for_each_clap_plugin(
    test_name: &str,
    mut check: impl FnMut(&ClapBundle, &Descriptor) -> Result<()>,
) {
    let Some(paths) = bundles::require_bundles(BundleKind::Clap, test_name) else {
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for path in &paths {
        let bundle = match load_with_plugins(path) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{}: {e:#}", path.display()));
                continue;
            }
        };
        let descriptors = match bundle.descriptors() {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: {e:#}", path.display()));
                continue;
            }
        };
        for desc in &descriptors {
            checked += 1;
            if let Err(e) = check(&bundle, desc) {
                failures.push(format!("{} [{}]: {e:#}", path.display(), desc.id));
                crate::summary::record(test_name, &desc.name, false);
            } else {
                eprintln!("{test_name}: ok: {} [{}]", path.display(), desc.id);
                crate::summary::record(test_name, &desc.name, true);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{test_name}: {} of {checked} plugin check(s) failed:\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}

/// Loads a bundle and insists that its factory lists at least one plugin.
pub fn load_with_plugins(path: &Path) -> Result<ClapBundle> {
    let bundle = ClapBundle::load(path)?;
    if bundle.plugin_count() == 0 {
        return Err(anyhow!("plugin factory lists no plugins"));
    }
    Ok(bundle)
}

/// The `Prism Chroma.clap` bundle (required; panics with build instructions if absent), or
/// `None` when host tests are skipped.
pub fn chroma_bundle(test_name: &str) -> Option<ClapBundle> {
    let path = bundles::require_named_bundle(BundleKind::Clap, CHROMA_NAME, test_name)?;
    let bundle = load_with_plugins(&path)
        .unwrap_or_else(|e| panic!("{test_name}: loading {}: {e:#}", path.display()));
    let ids: Vec<String> = bundle
        .descriptors()
        .unwrap_or_else(|e| panic!("{test_name}: {e:#}"))
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert!(
        ids.iter().any(|id| id == CHROMA_CLAP_ID),
        "{test_name}: {} does not list {CHROMA_CLAP_ID:?} (lists {ids:?})",
        path.display()
    );
    Some(bundle)
}
