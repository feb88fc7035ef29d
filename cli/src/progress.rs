//! Progress bars on a terminal only (indicatif hides them when stderr is not a TTY).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar on stderr for `total` steps, hidden when stderr is not a terminal.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
