//! The C ABI: `ember_` functions over opaque handles, for C, C++ and embedded Linux.
//!
//! Conventions (rustls-ffi's): every function returns an [`EmberResult`] unless it cannot fail;
//! out-parameters come last and are set to NULL/zero first; a buffer is followed by its length;
//! `const*` arguments are not mutated. Every body runs inside [`guard`], so a panic becomes
//! `EMBER_RESULT_INTERNAL` instead of unwinding into C, and every pointer is checked for NULL.
//! Handles are checked tokens ([`handles`]), so stale, doubly freed or foreign handles give typed
//! errors. The message of the last failure on the calling thread is read with
//! `ember_last_error_message`.
//!
//! Public so that Rust tests and the `capi_sequence` fuzz target can drive the ABI exactly as C
//! does. All of the crate's `unsafe` lives in this module, each block with a `SAFETY:` line.

mod device;
mod embedder;
mod handles;
mod index;
mod passage;
mod search;
mod source;
mod task;
mod write;

pub use device::{
    ember_index_build_keywords, ember_index_drop_keywords, ember_index_embed_threads,
    ember_index_evict_vectors, ember_index_last_write_cost, ember_index_materialize_vectors,
    ember_index_mode_costs, ember_index_set_device_state, ember_index_set_mode_costs, EmberDeviceState,
    EmberModeCost, EmberModeCosts, EmberPrecision, EmberVectorAction,
};
pub use embedder::{
    ember_embedder_dim, ember_embedder_embed, ember_embedder_free, ember_embedder_new_callback,
    ember_embedder_new_onnx, ember_embedder_options_default, CEmbedder, EmberEmbedFn, EmberEmbedderOptions,
    EmberTextKind,
};
pub use index::{
    ember_index_close, ember_index_create, ember_index_get, ember_index_model_id, ember_index_open,
    ember_index_options_default, ember_index_stats, ember_open_options_default, CIndex, EmberDurability,
    EmberIndexOptions, EmberIndexStats, EmberKeywords, EmberOpenOptions, EmberTextStorage,
    EmberVectorStorage,
};
pub use passage::{
    ember_stored_passage_free, ember_stored_passage_view, CStoredPassage, EmberMetadataEntry, EmberPassage,
    EmberValue, EmberValueKind,
};
pub use search::{
    ember_index_search, ember_index_search_vector, ember_search_options_default, ember_search_results_free,
    ember_search_results_hit, ember_search_results_info, ember_search_results_len,
    ember_search_results_reason, CSearchResults, EmberMode, EmberRetrieval, EmberSearchInfo,
    EmberSearchOptions,
};
pub use source::{ember_index_set_text_source, ember_texts_set, CTexts, EmberTextSourceFn};
pub use task::{
    ember_cancellation_token_cancel, ember_cancellation_token_free, ember_cancellation_token_new,
    CCancellationToken, EmberProgressFn, EmberTask,
};
pub use write::{
    ember_index_add, ember_index_commit, ember_index_compact, ember_index_delete, ember_index_update,
};

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::EmberError;

/// The outcome of a C call. The numbers are stable: new codes are only ever appended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberResult {
    /// Success.
    Ok = 0,
    /// An argument is NULL, out of range or not UTF-8.
    InvalidArgument = 1,
    /// A vector's length differs from the index's or the embedder's dimension.
    DimensionMismatch = 2,
    /// A file or directory that must exist does not.
    NotFound = 3,
    /// Reading or writing a file failed.
    Io = 4,
    /// Stored index data failed validation.
    Corrupt = 5,
    /// The index was written by an incompatible format version.
    IncompatibleVersion = 6,
    /// The model directory does not hold a usable model.
    InvalidModel = 7,
    /// The index was built with a different embedding model.
    ModelMismatch = 8,
    /// The disk is full; nothing was changed.
    OutOfSpace = 9,
    /// The operation was cancelled.
    Cancelled = 10,
    /// The index was closed.
    Closed = 11,
    /// A bug or an unexpected failure (including a panic inside Ember).
    Internal = 12,
    /// `ember_index_update` named a passage the index does not hold.
    UnknownId = 13,
    /// `ember_index_add` was given an id the index already holds.
    DuplicateId = 14,
    /// Another handle holds the index open for writing (open it read-only to search beside it).
    Locked = 15,
    /// The index cannot be changed: opened read-only, or its files or file system are read-only.
    ReadOnly = 16,
    /// The index keeps no text and the app's text source could not give it.
    TextUnavailable = 17,
    /// The app's text source returned a text that changed since it was indexed.
    TextChanged = 18,
}

impl From<&EmberError> for EmberResult {
    fn from(e: &EmberError) -> Self {
        match e {
            EmberError::InvalidArgument { .. } => EmberResult::InvalidArgument,
            EmberError::DimensionMismatch { .. } => EmberResult::DimensionMismatch,
            EmberError::NotFound { .. } => EmberResult::NotFound,
            EmberError::Io { .. } => EmberResult::Io,
            EmberError::Corrupt { .. } => EmberResult::Corrupt,
            EmberError::IncompatibleVersion { .. } => EmberResult::IncompatibleVersion,
            EmberError::InvalidModel { .. } => EmberResult::InvalidModel,
            EmberError::ModelMismatch { .. } => EmberResult::ModelMismatch,
            EmberError::OutOfSpace { .. } => EmberResult::OutOfSpace,
            EmberError::Cancelled => EmberResult::Cancelled,
            EmberError::Closed => EmberResult::Closed,
            EmberError::Internal { .. } => EmberResult::Internal,
            EmberError::UnknownId { .. } => EmberResult::UnknownId,
            EmberError::DuplicateId { .. } => EmberResult::DuplicateId,
            EmberError::Locked { .. } => EmberResult::Locked,
            EmberError::ReadOnly { .. } => EmberResult::ReadOnly,
            EmberError::TextUnavailable { .. } => EmberResult::TextUnavailable,
            EmberError::TextChanged { .. } => EmberResult::TextChanged,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: String) {
    // Interior NULs cannot be represented in a C string: cut the message there.
    let bytes: Vec<u8> = message.into_bytes().into_iter().take_while(|&b| b != 0).collect();
    let c = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c);
}

/// Run `body` behind the panic boundary and turn its outcome into a result code.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), EmberError>) -> EmberResult {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => EmberResult::Ok,
        Ok(Err(e)) => {
            let code = EmberResult::from(&e);
            set_last_error(e.to_string());
            code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            set_last_error(format!("internal error: panic: {what}"));
            EmberResult::Internal
        }
    }
}

/// Run a function that cannot report failure (a `_free`) behind the panic boundary.
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = guard(|| {
        body();
        Ok(())
    });
}

/// Run a function that returns a plain value behind the panic boundary (`fallback` on a panic).
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A C flag: any nonzero byte is true (a `uint8_t`, so no byte the caller writes is invalid).
pub(crate) fn flag(b: u8) -> bool {
    b != 0
}

/// A caller's array of `len` items: NULL is allowed only with length 0.
///
/// # Safety
/// `ptr` is NULL or valid for `len` reads for `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize, name: &str) -> Result<&'a [T], EmberError> {
    match (ptr.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(EmberError::invalid(format!("{name} is NULL but its length is {len}"))),
        (false, _) if !ptr.is_aligned() => Err(EmberError::invalid(format!("{name} is misaligned"))),
        (false, n) => {
            if n.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
                return Err(EmberError::invalid(format!("{name}: length {n} is too large")));
            }
            // SAFETY: non-NULL and valid for `n` reads, per the contract; the size fits `isize`.
            Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
        }
    }
}

/// A required NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, EmberError> {
    if ptr.is_null() {
        return Err(EmberError::invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated, per this function's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| EmberError::invalid(format!("{name} is not UTF-8 (byte {})", e.valid_up_to())))
}

/// A required out-parameter, set to `empty` before anything else happens.
///
/// # Safety
/// `ptr` is NULL or valid for writes of one `T` for `'a`.
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut T, name: &str, empty: T) -> Result<&'a mut T, EmberError> {
    if !ptr.is_aligned() {
        return Err(EmberError::invalid(format!("{name} is misaligned")));
    }
    // SAFETY: NULL is handled by `as_mut`; otherwise aligned and valid for writes, per the contract.
    let out = unsafe { ptr.as_mut() }.ok_or_else(|| EmberError::invalid(format!("{name} is NULL")))?;
    *out = empty;
    Ok(out)
}

/// The Ember version, a static NUL-terminated string (never NULL, never freed).
#[no_mangle]
pub extern "C" fn ember_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The message of the last call that failed on this thread ("" if none). The pointer stays valid
/// until the next failing call on the same thread; copy the text to keep it.
#[no_mangle]
pub extern "C" fn ember_last_error_message() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: the pointer is a live thread-local C string.
        unsafe { CStr::from_ptr(ember_last_error_message()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let code = guard(|| panic!("kaboom"));
        assert_eq!(code, EmberResult::Internal);
        assert_eq!(last_error(), "internal error: panic: kaboom");
    }

    #[test]
    fn errors_map_to_their_codes_and_messages() {
        let code = guard(|| Err(EmberError::DimensionMismatch { expected: 384, found: 3 }));
        assert_eq!(code, EmberResult::DimensionMismatch);
        assert_eq!(last_error(), "dimension mismatch: expected 384, found 3");
        assert_eq!(guard(|| Ok(())), EmberResult::Ok);
        // A NUL inside a message cuts it rather than losing it.
        let _ = guard(|| Err(EmberError::invalid("before\0after")));
        assert_eq!(last_error(), "invalid argument: before");
    }

    #[test]
    fn version_is_the_crate_version() {
        // SAFETY: a static C string.
        let v = unsafe { CStr::from_ptr(ember_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
