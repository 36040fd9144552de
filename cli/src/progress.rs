//! Progress bars for long files (stderr, only on a terminal).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Files shorter than this get no progress bar.
const MIN_DURATION_S: f64 = 20.0;

/// An optional progress bar over samples.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar over `total` samples if `wanted`, the file is long and both stdout and stderr
    /// are terminals.
    pub fn new(total: u64, duration_s: f64, wanted: bool, label: &str) -> Self {
        let terminal = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
        if !wanted || !terminal || duration_s < MIN_DURATION_S {
            return Self(None);
        }
        let bar = ProgressBar::new(total);
        let template =
            format!("{label} {{bar:40.cyan/blue}} {{percent:>3}}% {{elapsed}} < {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Self(Some(bar))
    }

    /// A bar that never shows.
    pub fn hidden() -> Self {
        Self(None)
    }

    /// Sets the position.
    pub fn set(&self, pos: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(pos);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
