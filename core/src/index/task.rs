//! Progress reporting and cancellation for long operations (build, add, compact, materialize).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

/// Hooks a long operation calls between steps. A cancelled operation returns
/// [`Error::Cancelled`] and leaves the index as it was before the call.
#[derive(Default, Clone, Copy)]
pub struct Task<'a> {
    /// Called with (done, total) units of work.
    pub progress: Option<&'a dyn Fn(u64, u64)>,
    /// Set to true (from any thread) to cancel.
    pub cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for Task<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl<'a> Task<'a> {
    /// No progress, no cancellation.
    pub fn none() -> Task<'static> {
        Task::default()
    }

    /// Report progress.
    pub fn progress(&self, done: u64, total: u64) {
        if let Some(p) = self.progress {
            p(done, total);
        }
    }

    /// `Err(Cancelled)` once cancellation was asked for.
    pub fn check(&self) -> Result<()> {
        match self.cancel {
            Some(c) if c.load(Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}
