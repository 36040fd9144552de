//! All-or-nothing output: every file is written to a hidden temporary sibling and renamed
//! into place only once every output of the command succeeded.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A set of pending output files.
#[derive(Default)]
pub struct Outputs {
    pending: Vec<(PathBuf, PathBuf)>,
}

impl Outputs {
    /// Reserves a temporary path for `target`; write to the returned path.
    pub fn stage(&mut self, target: &Path) -> Result<PathBuf> {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
        }
        let name = target
            .file_name()
            .with_context(|| format!("{} is not a file path", target.display()))?;
        // Keep the extension last: encoders pick the format from it.
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        if let Some(ext) = target.extension() {
            tmp_name.push(".");
            tmp_name.push(ext);
        }
        let tmp = target.with_file_name(tmp_name);
        self.pending.push((tmp.clone(), target.to_path_buf()));
        Ok(tmp)
    }

    /// Moves every staged file into place.
    pub fn commit(mut self) -> Result<()> {
        for (tmp, target) in std::mem::take(&mut self.pending) {
            std::fs::rename(&tmp, &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }
}

impl Drop for Outputs {
    /// Anything not committed is removed, so a failed run leaves no partial files.
    fn drop(&mut self) {
        for (tmp, _) in &self.pending {
            let _ = std::fs::remove_file(tmp);
        }
    }
}
