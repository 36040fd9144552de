//! `bundle/bundler.toml`: which packages are plugins, and the file name of their bundles.
//!
//! nice-plug-xtask reads the same file (as `bundler.toml` in its working directory, see
//! `bundle.rs`); this module reads it for `--all`, `install` and `test`, with the same
//! rule for a section without `name`: the bundle is named after the package.

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;

/// Folder of the bundler config, relative to the workspace root.
pub const BUNDLER_CONFIG_DIR: &str = "bundle";
/// File name nice-plug-xtask looks for in its working directory.
pub const BUNDLER_CONFIG_FILE: &str = "bundler.toml";

/// One plugin package and its bundle name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPackage {
    /// Cargo package name, e.g. `prism-chroma`.
    pub package: String,
    /// Bundle file name without extension, e.g. `Prism Chroma`.
    pub bundle_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlerConfig {
    /// Sorted by package name.
    plugins: Vec<PluginPackage>,
}

impl BundlerConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("could not read the bundler config '{}'", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid bundler config '{}'", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let table: toml::Table = text.parse().context("not valid TOML")?;
        let mut plugins = Vec::with_capacity(table.len());
        for (package, section) in table {
            let section = section.as_table().with_context(|| {
                format!("'{package}' must be a section: [{package}] name = \"Bundle Name\"")
            })?;
            let bundle_name = match section.get("name") {
                None => package.clone(),
                Some(toml::Value::String(name)) => name.clone(),
                Some(other) => bail!(
                    "[{package}] name must be a string, found {}",
                    other.type_str()
                ),
            };
            if bundle_name.is_empty() || bundle_name.contains(['/', '\\']) {
                bail!("[{package}] name {bundle_name:?} cannot be used as a file name");
            }
            plugins.push(PluginPackage {
                package,
                bundle_name,
            });
        }
        // `toml::Table` is sorted by key already; sort anyway so the order is ours to promise.
        plugins.sort_by(|a, b| a.package.cmp(&b.package));
        Ok(Self { plugins })
    }

    pub fn plugins(&self) -> &[PluginPackage] {
        &self.plugins
    }

    /// The plugins named in `requested`, or all of them if `all` is set. A package without a
    /// section is an error, so every bundle has a name that `install` and `test` can find.
    pub fn select(&self, requested: &[String], all: bool) -> Result<Vec<PluginPackage>> {
        if all {
            if self.plugins.is_empty() {
                bail!("{BUNDLER_CONFIG_DIR}/{BUNDLER_CONFIG_FILE} lists no plugin packages");
            }
            return Ok(self.plugins.clone());
        }
        if requested.is_empty() {
            bail!("name at least one plugin package, or pass --all");
        }
        let mut selected: Vec<PluginPackage> = Vec::with_capacity(requested.len());
        for package in requested {
            let plugin = self
                .plugins
                .iter()
                .find(|plugin| &plugin.package == package)
                .with_context(|| {
                    let known: Vec<&str> = self.plugins.iter().map(|p| p.package.as_str()).collect();
                    format!(
                        "'{package}' is not a plugin package in {BUNDLER_CONFIG_DIR}/{BUNDLER_CONFIG_FILE} \
                         (known: {}); add a section `[{package}] name = \"...\"` there",
                        known.join(", ")
                    )
                })?;
            if !selected.contains(plugin) {
                selected.push(plugin.clone());
            }
        }
        Ok(selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(package: &str, bundle_name: &str) -> PluginPackage {
        PluginPackage {
            package: package.into(),
            bundle_name: bundle_name.into(),
        }
    }

    #[test]
    fn the_committed_config_names_the_chroma_bundle() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(BUNDLER_CONFIG_DIR)
            .join(BUNDLER_CONFIG_FILE);
        let config = BundlerConfig::load(&path).unwrap();
        assert!(config
            .plugins()
            .contains(&plugin("prism-chroma", "Prism Chroma")));
    }

    #[test]
    fn adding_a_section_adds_a_plugin_in_package_order() {
        let config = BundlerConfig::parse(
            "[prism-split]\nname = \"Prism Split\"\n[prism-chroma]\nname = \"Prism Chroma\"\n\
             [prism-pitch]\nname = \"Prism Pitch\"\n",
        )
        .unwrap();
        assert_eq!(
            config.select(&[], true).unwrap(),
            [
                plugin("prism-chroma", "Prism Chroma"),
                plugin("prism-pitch", "Prism Pitch"),
                plugin("prism-split", "Prism Split"),
            ]
        );
    }

    #[test]
    fn a_section_without_name_is_named_after_its_package_like_nice_plug_does() {
        let config = BundlerConfig::parse("[prism-pitch]\n").unwrap();
        assert_eq!(config.plugins(), [plugin("prism-pitch", "prism-pitch")]);
    }

    #[test]
    fn selecting_keeps_the_requested_order_and_drops_duplicates() {
        let config = BundlerConfig::parse("[a]\nname = \"A\"\n[b]\nname = \"B\"\n").unwrap();
        let requested = ["b".to_string(), "a".to_string(), "b".to_string()];
        assert_eq!(
            config.select(&requested, false).unwrap(),
            [plugin("b", "B"), plugin("a", "A")]
        );
    }

    #[test]
    fn selecting_an_unknown_package_explains_how_to_add_it() {
        let config = BundlerConfig::parse("[prism-chroma]\nname = \"Prism Chroma\"\n").unwrap();
        let error = config
            .select(&["prism-pitch".into()], false)
            .unwrap_err()
            .to_string();
        assert!(error.contains("[prism-pitch] name"), "{error}");
        assert!(error.contains("known: prism-chroma"), "{error}");
    }

    #[test]
    fn selecting_nothing_without_all_is_an_error() {
        let config = BundlerConfig::parse("[a]\n").unwrap();
        assert!(config.select(&[], false).is_err());
    }

    #[test]
    fn malformed_sections_are_rejected() {
        for text in [
            "prism-chroma = \"Prism Chroma\"",
            "[a]\nname = 3",
            "[a]\nname = \"x/y\"",
            "[a",
        ] {
            assert!(BundlerConfig::parse(text).is_err(), "{text}");
        }
    }
}
