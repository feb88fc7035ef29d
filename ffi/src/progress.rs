//! Progress reports and cancellation for long operations (create, add, update, compact,
//! materializeVectors), and the bridge of both to core's `Task`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Receives progress during a long operation. Called on the calling thread between steps; keep it
/// short and do not throw (an exception here cannot stop the operation: cancel it instead).
#[uniffi::export(foreign)]
pub trait ProgressListener: Send + Sync {
    /// `done` of `total` units: passages embedded for create, add, update and materialize;
    /// phases for compact.
    fn on_progress(&self, done: u64, total: u64);
}

/// Asks a long operation to stop. Share one token between the caller and the operation, then call
/// [`CancellationToken::cancel`] from any thread.
///
/// The operation checks the token between steps (embedding chunks, graph phases) and returns
/// `Cancelled`, leaving the index as it was before the call; a cancelled `materializeVectors`
/// keeps the rows it finished for the next call. A token stays cancelled: use a new one per call.
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

impl CancellationToken {
    /// The flag core's `Task` polls.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.cancelled
    }
}

/// A progress callback for core: (done, total) as core reports them.
pub(crate) type ProgressFn<'a> = &'a dyn Fn(u64, u64);

/// Run `body` with a core `Task` built from an optional progress callback and cancel token.
pub(crate) fn with_task<T>(
    progress: Option<ProgressFn<'_>>,
    cancel: Option<&CancellationToken>,
    body: impl FnOnce(&ember_core::Task<'_>) -> T,
) -> T {
    let task = ember_core::Task { progress, cancel: cancel.map(CancellationToken::flag) };
    body(&task)
}

/// The UniFFI listener as a core progress callback.
pub(crate) fn listener_fn(listener: &Option<Arc<dyn ProgressListener>>) -> impl Fn(u64, u64) + '_ {
    move |done, total| {
        if let Some(l) = listener {
            l.on_progress(done, total);
        }
    }
}
