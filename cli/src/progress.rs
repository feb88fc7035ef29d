//! Progress of long commands on stderr: a bar on a terminal; elsewhere (a log file, CI, a
//! background run) a line at every 5%, so a run of an hour is not silent.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// Percent steps between two lines when stderr is not a terminal.
const LINE_EVERY_PERCENT: u64 = 5;

/// Progress over `total` steps.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    total: u64,
    /// Steps done.
    done: AtomicU64,
    /// The last step of [`LINE_EVERY_PERCENT`] printed as a line (`u64::MAX`: on a terminal).
    printed: AtomicU64,
    started: std::time::Instant,
}

/// Progress for `total` steps of `what`.
pub fn bar(total: u64, what: &str) -> Progress {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    let printed = if std::io::stderr().is_terminal() { u64::MAX } else { 0 };
    Progress {
        bar,
        what: what.to_owned(),
        total,
        done: AtomicU64::new(0),
        printed: AtomicU64::new(printed),
        started: std::time::Instant::now(),
    }
}

impl Progress {
    pub fn set_position(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.bar.set_position(done);
        let printed = self.printed.load(Ordering::Relaxed);
        if printed == u64::MAX || self.total == 0 {
            return;
        }
        let step = done.min(self.total) * 100 / self.total / LINE_EVERY_PERCENT;
        if step > printed
            && self.printed.compare_exchange(printed, step, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            let secs = self.started.elapsed().as_secs_f64();
            eprintln!(
                "{}: {done}/{} ({}%) after {secs:.0} s",
                self.what,
                self.total,
                step * LINE_EVERY_PERCENT
            );
        }
    }

    pub fn inc(&self, steps: u64) {
        self.set_position(self.done.fetch_add(steps, Ordering::Relaxed) + steps);
    }

    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }
}
