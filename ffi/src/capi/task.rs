//! Progress callbacks and cancellation tokens for the long C calls (create, add, update, compact,
//! materialize).

use std::ffi::c_void;
use std::sync::Arc;

use super::handles::Registry;
use super::{guard, guard_void, out_arg, EmberResult};
use crate::{CancellationToken, EmberError};

/// A cancellation token (opaque). Cancel it from any thread while a call that was given it runs;
/// the call returns `EMBER_RESULT_CANCELLED` and leaves the index as it was. Free it with
/// `ember_cancellation_token_free` once no call uses it.
#[derive(Debug)]
pub struct CCancellationToken {
    _opaque: [u8; 0],
}

pub(crate) static TOKENS: Registry<CancellationToken, CCancellationToken> = Registry::new(5);

/// Called between steps of a long operation with `done` of `total` units (passages embedded;
/// phases for compaction), on the thread that made the call.
pub type EmberProgressFn = Option<unsafe extern "C" fn(user_data: *mut c_void, done: usize, total: usize)>;

/// Progress and cancellation for a long call. Every field may be NULL; so may the pointer to it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EmberTask {
    /// Progress callback.
    pub progress: EmberProgressFn,
    /// Passed back to `progress`.
    pub progress_data: *mut c_void,
    /// A token from `ember_cancellation_token_new`.
    pub cancel: *const CCancellationToken,
}

/// A task's parts, resolved: the callback and data, and the live token.
pub(crate) struct Resolved {
    progress: EmberProgressFn,
    data: *mut c_void,
    pub(crate) cancel: Option<Arc<CancellationToken>>,
}

impl Resolved {
    /// Resolve `task` (NULL: nothing).
    ///
    /// # Safety
    /// `task` is NULL or valid for reads.
    pub(crate) unsafe fn new(task: *const EmberTask) -> Result<Resolved, EmberError> {
        // SAFETY: NULL or valid for reads, per the contract.
        let Some(t) = (unsafe { task.as_ref() }).copied() else {
            return Ok(Resolved { progress: None, data: std::ptr::null_mut(), cancel: None });
        };
        let cancel = if t.cancel.is_null() {
            None
        } else {
            Some(TOKENS.get(t.cancel, "task.cancel", || EmberError::invalid("task.cancel was freed"))?)
        };
        Ok(Resolved { progress: t.progress, data: t.progress_data, cancel })
    }

    /// Report progress to the caller's callback, if any.
    pub(crate) fn report(&self, done: u64, total: u64) {
        if let Some(f) = self.progress {
            let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            // SAFETY: the caller's callback and data, called on the caller's thread as documented.
            unsafe { f(self.data, clamp(done), clamp(total)) };
        }
    }
}

/// A new token, not cancelled.
///
/// # Safety
/// `out_token` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_cancellation_token_new(
    out_token: *mut *mut CCancellationToken,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_token, "out_token", std::ptr::null_mut()) }?;
        *out = TOKENS.insert(Arc::new(CancellationToken::new()));
        Ok(())
    })
}

/// Cancel the calls using this token (from any thread). Idempotent. Any value may be passed: only
/// a live token is acted on.
#[no_mangle]
pub extern "C" fn ember_cancellation_token_cancel(token: *const CCancellationToken) -> EmberResult {
    guard(|| {
        TOKENS.get(token, "token", || EmberError::invalid("token was freed"))?.cancel();
        Ok(())
    })
}

/// Free a token. NULL, and a token freed before, are ignored; calls still using it keep it alive.
#[no_mangle]
pub extern "C" fn ember_cancellation_token_free(token: *mut CCancellationToken) {
    guard_void(|| drop(TOKENS.remove(token)))
}
