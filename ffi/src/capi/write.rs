//! C calls that change an index: add, update, delete, commit, compact.

use std::ffi::c_char;

use super::index::{index_entry, CIndex};
use super::passage::{ids_arg, passages_arg, EmberPassage};
use super::task::{EmberTask, Resolved};
use super::{guard, out_arg, EmberResult};

/// Add (or with `replace`, update) passages: the body of both C calls.
///
/// # Safety
/// As `ember_index_add`.
unsafe fn upsert(
    index: *const CIndex,
    passages: *const EmberPassage,
    passages_len: usize,
    task: *const EmberTask,
    replace: bool,
) -> EmberResult {
    guard(|| {
        let index = index_entry(index)?;
        // SAFETY: forwarded from the caller's contract.
        let passages = unsafe { passages_arg(passages, passages_len) }?;
        // SAFETY: forwarded from the caller's contract.
        let task = unsafe { Resolved::new(task) }?;
        let report = |done, total| task.report(done, total);
        index.inner.upsert_with(passages, replace, Some(&report), task.cancel.as_deref())
    })
}

/// Embed and add new passages (the index must have been opened with an embedder). Ids must be
/// new (`EMBER_RESULT_DUPLICATE_ID`). Durable and searchable when it returns; all or nothing,
/// cancellation included. `task` may be NULL.
///
/// # Safety
/// `passages` points to `passages_len` passages (or is NULL with length 0); `task` is NULL or
/// valid for reads.
#[no_mangle]
pub unsafe extern "C" fn ember_index_add(
    index: *const CIndex,
    passages: *const EmberPassage,
    passages_len: usize,
    task: *const EmberTask,
) -> EmberResult {
    // SAFETY: forwarded from this function's contract.
    unsafe { upsert(index, passages, passages_len, task, false) }
}

/// Replace the text and metadata of existing passages, re-embedding them. Ids must exist
/// (`EMBER_RESULT_UNKNOWN_ID`). All or nothing. `task` may be NULL.
///
/// # Safety
/// As `ember_index_add`.
#[no_mangle]
pub unsafe extern "C" fn ember_index_update(
    index: *const CIndex,
    passages: *const EmberPassage,
    passages_len: usize,
    task: *const EmberTask,
) -> EmberResult {
    // SAFETY: forwarded from this function's contract.
    unsafe { upsert(index, passages, passages_len, task, true) }
}

/// Delete passages by id (unknown ids are ignored); `*out_deleted` is how many were deleted.
/// Their space is reclaimed by `ember_index_compact`.
///
/// # Safety
/// `ids` points to `ids_len` NUL-terminated strings (or is NULL with length 0); `out_deleted` is
/// valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_delete(
    index: *const CIndex,
    ids: *const *const c_char,
    ids_len: usize,
    out_deleted: *mut usize,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_deleted, "out_deleted", 0) }?;
        let index = index_entry(index)?;
        // SAFETY: forwarded from this function's contract.
        let ids = unsafe { ids_arg(ids, ids_len) }?;
        *out = usize::try_from(index.inner.delete(ids)?).unwrap_or(usize::MAX);
        Ok(())
    })
}

/// Fold the log of changes into a new segment (changes were durable before; opening gets faster).
#[no_mangle]
pub extern "C" fn ember_index_commit(index: *const CIndex) -> EmberResult {
    guard(|| index_entry(index)?.inner.commit())
}

/// Drop deleted passages for good and repair the graph around them, without re-embedding.
/// `task` may be NULL.
///
/// # Safety
/// `task` is NULL or valid for reads.
#[no_mangle]
pub unsafe extern "C" fn ember_index_compact(index: *const CIndex, task: *const EmberTask) -> EmberResult {
    guard(|| {
        let index = index_entry(index)?;
        // SAFETY: forwarded from this function's contract.
        let task = unsafe { Resolved::new(task) }?;
        let report = |done, total| task.report(done, total);
        index.inner.compact_with(Some(&report), task.cancel.as_deref())
    })
}
