//! Per-plugin test records for the README's generated summary.
//!
//! When `PRISM_TEST_SUMMARY` names a file (`cargo xtask test` sets it), every host check
//! appends one line `test<TAB>plugin<TAB>ok|FAIL` to it: per plugin from
//! [`for_each_clap_plugin`](crate::harness::for_each_clap_plugin) and the VST3 runs, and per
//! test (plugin named by the test's prefix, else `all`) from
//! [`isolate::in_parent`](crate::isolate::in_parent). Appends of one short line are atomic,
//! so parallel tests and child processes can share the file.

use std::io::Write;

/// The file the records go to.
pub const SUMMARY_ENV: &str = "PRISM_TEST_SUMMARY";

/// Records that `test` passed or failed for `plugin` (a display name, or `all`).
pub fn record(test: &str, plugin: &str, passed: bool) {
    let Some(path) = std::env::var_os(SUMMARY_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let line = format!("{test}\t{plugin}\t{}\n", if passed { "ok" } else { "FAIL" });
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The plugin a test is about, from its name (`chroma_…`, `split_…`, `pitch_…`), or `all`.
pub fn plugin_of_test(test: &str) -> &'static str {
    for (prefix, name) in [
        ("chroma", crate::bundles::CHROMA_NAME),
        ("split", crate::bundles::SPLIT_NAME),
        ("pitch", crate::bundles::PITCH_NAME),
    ] {
        if test.starts_with(prefix) {
            return name;
        }
    }
    "all"
}
