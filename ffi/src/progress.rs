//! Progress reports and cancellation for long operations (building an index).

use std::sync::atomic::{AtomicBool, Ordering};

/// Receives progress while an index is built. Called on the building thread; keep it short and
/// do not throw (an exception here cannot stop the build).
#[uniffi::export(foreign)]
pub trait ProgressListener: Send + Sync {
    /// `done` of `total` passages embedded so far.
    fn on_progress(&self, done: u64, total: u64);
}

/// Asks a long operation to stop. Share one token between the caller and the operation, then call
/// [`CancellationToken::cancel`] from any thread.
///
/// Today a token is honoured when the operation starts: a build whose token is already cancelled
/// returns `Cancelled` without touching the directory. Stopping a build midway arrives when
/// `ember-core` can abort between embedding chunks; the API will not change.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancellationToken {
    cancelled: AtomicBool,
}

#[uniffi::export]
impl CancellationToken {
    /// A token that is not cancelled.
    #[uniffi::constructor]
    pub fn new() -> Self {
        CancellationToken::default()
    }

    /// Request cancellation. Idempotent; never blocks.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}
