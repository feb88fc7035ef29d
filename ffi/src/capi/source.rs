//! The app's text source through a C callback, for an index built with
//! `EMBER_TEXT_STORAGE_NONE` (the app keeps the texts; the index keeps fingerprints).

use std::ffi::{c_char, c_void, CString};
use std::sync::{Arc, Mutex, PoisonError};

use super::index::index_entry;
use super::{guard, slice_arg, CIndex, EmberResult};
use crate::{EmberError, TextSource};

/// Where a text source callback puts the texts it hands back (opaque; valid only during the
/// callback). Fill it with `ember_texts_set`.
#[derive(Debug)]
pub struct CTexts {
    slots: Mutex<Vec<Option<String>>>,
}

/// Hand Ember the text of `ids[i]` with `ember_texts_set(out_texts, i, text, text_len)` for every
/// `i < ids_len`, then return 0; any other return value fails the Ember call with
/// `EMBER_RESULT_TEXT_UNAVAILABLE`, and so does an id left without a text. Ember copies each text
/// and checks it against the fingerprint recorded when the passage was indexed
/// (`EMBER_RESULT_TEXT_CHANGED` if it differs). May be called from several threads at once, until
/// the source is replaced or the index closed.
pub type EmberTextSourceFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        ids: *const *const c_char,
        ids_len: usize,
        out_texts: *mut CTexts,
    ) -> i32,
>;

type SourceFn = unsafe extern "C" fn(*mut c_void, *const *const c_char, usize, *mut CTexts) -> i32;

/// An app text source reached through a C function pointer.
struct CallbackSource {
    texts: SourceFn,
    user_data: *mut c_void,
}

// SAFETY: `ember_index_set_text_source` documents that the callback and `user_data` must be usable
// from any thread, concurrently; Ember only passes the pointer back to the callback.
unsafe impl Send for CallbackSource {}
// SAFETY: as above.
unsafe impl Sync for CallbackSource {}

impl TextSource for CallbackSource {
    fn texts(&self, ids: Vec<String>) -> Result<Vec<String>, EmberError> {
        let owned: Vec<CString> = ids
            .into_iter()
            .map(|t| CString::new(t).map_err(|_| EmberError::invalid("id contains a NUL byte")))
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let mut out = CTexts { slots: Mutex::new(vec![None; ptrs.len()]) };
        // SAFETY: `ptrs` holds `ptrs.len()` valid C strings kept alive by `owned`, and `out` lives
        // through the call; the callback's contract is documented on `EmberTextSourceFn`.
        let status = unsafe { (self.texts)(self.user_data, ptrs.as_ptr(), ptrs.len(), &mut out) };
        if status != 0 {
            return Err(EmberError::TextUnavailable {
                detail: format!("text source callback returned {status}"),
            });
        }
        let slots = out.slots.into_inner().unwrap_or_else(PoisonError::into_inner);
        let missing = slots.iter().filter(|s| s.is_none()).count();
        if missing > 0 {
            return Err(EmberError::TextUnavailable {
                detail: format!("the text source callback set no text for {missing} of {} ids", slots.len()),
            });
        }
        Ok(slots.into_iter().flatten().collect())
    }
}

/// Give the index the app's texts (an index built with `EMBER_TEXT_STORAGE_NONE`): Ember calls
/// `texts` once per recompute search for the candidates it re-embeds, and in batches from
/// `ember_index_get`, `ember_index_materialize_vectors`, `ember_index_build_keywords` and commits
/// of an index with keywords. NULL `texts` removes the source. An index that keeps its text never
/// calls it.
///
/// # Safety
/// `texts` and `user_data` must be usable from any thread, concurrently, until the source is
/// replaced or the index closed (see `EmberTextSourceFn`).
#[no_mangle]
pub unsafe extern "C" fn ember_index_set_text_source(
    index: *const CIndex,
    texts: EmberTextSourceFn,
    user_data: *mut c_void,
) -> EmberResult {
    guard(|| {
        let entry = index_entry(index)?;
        let source = texts.map(|f| Arc::new(CallbackSource { texts: f, user_data }) as Arc<dyn TextSource>);
        entry.inner.set_text_source(source)
    })
}

/// Set the text of `ids[i]` (`text_len` bytes of UTF-8 at `text`, no NUL needed) inside a text
/// source callback; Ember copies it. Setting an index twice keeps the last text.
///
/// # Safety
/// `out_texts` is the pointer Ember passed to the callback, used during the callback; `text` is
/// valid for `text_len` reads (NULL only with `text_len` 0).
#[no_mangle]
pub unsafe extern "C" fn ember_texts_set(
    out_texts: *mut CTexts,
    i: usize,
    text: *const c_char,
    text_len: usize,
) -> EmberResult {
    guard(|| {
        // SAFETY: NULL or the live `CTexts` Ember passed to the callback, per the contract.
        let out = unsafe { out_texts.as_ref() }.ok_or_else(|| EmberError::invalid("out_texts is NULL"))?;
        // SAFETY: forwarded from this function's contract.
        let bytes = unsafe { slice_arg(text.cast::<u8>(), text_len, "text") }?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| EmberError::invalid(format!("text is not UTF-8 (byte {})", e.valid_up_to())))?;
        let mut slots = out.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let len = slots.len();
        let slot =
            slots.get_mut(i).ok_or_else(|| EmberError::invalid(format!("index {i} out of {len} ids")))?;
        *slot = Some(text.to_owned());
        Ok(())
    })
}
