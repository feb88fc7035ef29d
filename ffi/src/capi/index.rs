//! C handles for an index and for search results.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::embedder::CEmbedder;
use super::{guard, guard_void, out_arg, str_arg, EmberResult};
use crate::{EmberError, EmberIndex, IndexConfig, Mode, Passage, SearchOptions, SearchReport, VectorStorage};

/// An open index (opaque). Close it with `ember_index_close`. Searches may run on several threads
/// at once on one handle.
pub struct CIndex {
    inner: Arc<EmberIndex>,
    model_id: CString,
}

/// Search results (opaque), best first. Free them with `ember_search_results_free`.
pub struct CSearchResults {
    report: SearchReport,
    ids: Vec<CString>,
}

/// One passage to index: the app's id (unique, at most 1 KiB) and its text, both NUL-terminated
/// UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct EmberPassage {
    /// The app's identifier, returned in hits.
    pub id: *const c_char,
    /// The text that is embedded, stored and searched.
    pub text: *const c_char,
}

/// How a search gets exact scores (values of `EmberSearchOptions::mode`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberMode {
    /// Stored vectors if present, else recompute if the index has an embedder, else codes.
    Auto = 0,
    /// Re-embed the candidates' text.
    Recompute = 1,
    /// Read the candidates' vectors from the sidecar.
    StoredRerank = 2,
    /// Rank by the compact codes alone.
    CodesOnly = 3,
}

impl From<Mode> for EmberMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Auto => EmberMode::Auto,
            Mode::Recompute => EmberMode::Recompute,
            Mode::StoredRerank => EmberMode::StoredRerank,
            Mode::CodesOnly => EmberMode::CodesOnly,
        }
    }
}

fn mode_from_u32(m: u32) -> Result<Mode, EmberError> {
    [Mode::Auto, Mode::Recompute, Mode::StoredRerank, Mode::CodesOnly]
        .into_iter()
        .find(|&mode| EmberMode::from(mode) as u32 == m)
        .ok_or_else(|| EmberError::invalid(format!("unknown mode {m}")))
}

/// Whether full-precision vectors are kept beside the index (values of
/// `EmberIndexOptions::vectors`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberVectorStorage {
    /// No sidecar (smallest; exact scores by recomputing).
    None = 0,
    /// 2 bytes per dimension.
    F16 = 1,
    /// 4 bytes per dimension.
    F32 = 2,
}

/// Search knobs. Start from `ember_search_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmberSearchOptions {
    /// Hits returned (at least 1).
    pub k: u32,
    /// An `EmberMode` value.
    pub mode: u32,
    /// Beam width of the graph search (at least 1).
    pub beam: u32,
    /// Candidates given an exact score (raised to `k` if smaller).
    pub rerank: u32,
}

impl EmberSearchOptions {
    fn to_options(self) -> Result<SearchOptions, EmberError> {
        Ok(SearchOptions { mode: mode_from_u32(self.mode)?, k: self.k, beam: self.beam, rerank: self.rerank })
    }
}

/// How an index is built. Start from `ember_index_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmberIndexOptions {
    /// An `EmberVectorStorage` value.
    pub vectors: u32,
    /// Passages embedded per embedder call (progress is reported between calls).
    pub embed_chunk: u32,
    /// The embedder's token limit, recorded for searches; 0 for the model's default.
    pub max_tokens: u32,
}

impl EmberIndexOptions {
    fn to_config(self) -> Result<IndexConfig, EmberError> {
        Ok(IndexConfig {
            vectors: [
                (EmberVectorStorage::None, VectorStorage::None),
                (EmberVectorStorage::F16, VectorStorage::F16),
                (EmberVectorStorage::F32, VectorStorage::F32),
            ]
            .into_iter()
            .find(|&(c, _)| c as u32 == self.vectors)
            .map(|(_, v)| v)
            .ok_or_else(|| EmberError::invalid(format!("unknown vector storage {}", self.vectors)))?,
            embed_chunk: self.embed_chunk,
            max_tokens: (self.max_tokens != 0).then_some(self.max_tokens),
        })
    }
}

/// What a search did, besides its hits.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmberSearchInfo {
    /// The mode that ran (never `EMBER_MODE_AUTO`).
    pub mode: EmberMode,
    /// Passages whose embeddings were recomputed.
    pub reembedded: u64,
    /// Candidates whose embeddings came from the cache.
    pub cache_hits: u64,
    /// Bytes of codes, vectors and text read.
    pub bytes_read: u64,
    /// Graph nodes scored.
    pub scored: u64,
    /// Time embedding the query, milliseconds.
    pub embed_ms: f64,
    /// Time searching, milliseconds.
    pub search_ms: f64,
}

/// Sizes and counts of an index.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmberIndexStats {
    /// Number of passages.
    pub passages: u64,
    /// Embedding dimension.
    pub dim: u64,
    /// Raw UTF-8 bytes of all passage texts.
    pub text_bytes: u64,
    /// Graph, codes, ids and metadata.
    pub index_bytes: u64,
    /// The vector sidecar's size (0 without one).
    pub sidecar_bytes: u64,
    /// The compressed text store's size.
    pub text_store_bytes: u64,
}

/// Called between embedding chunks while an index is built: `done` of `total` passages.
pub type EmberProgressFn = Option<unsafe extern "C" fn(user_data: *mut c_void, done: usize, total: usize)>;

fn index_handle(inner: Arc<EmberIndex>) -> Result<*mut CIndex, EmberError> {
    let model_id = CString::new(inner.model_id()?).map_err(|_| EmberError::internal("model id has a NUL"))?;
    Ok(Box::into_raw(Box::new(CIndex { inner, model_id })))
}

fn results_handle(report: SearchReport) -> Result<*mut CSearchResults, EmberError> {
    let ids = report
        .hits
        .iter()
        .map(|h| CString::new(h.id.as_str()).map_err(|_| EmberError::internal("passage id has a NUL")))
        .collect::<Result<_, _>>()?;
    Ok(Box::into_raw(Box::new(CSearchResults { report, ids })))
}

/// Fill `out_options` with core's defaults (k 10, auto mode, beam 512, rerank 50).
///
/// # Safety
/// `out_options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_search_options_default(out_options: *mut EmberSearchOptions) -> EmberResult {
    guard(|| {
        let d = SearchOptions::default();
        let value = EmberSearchOptions {
            k: d.k,
            mode: EmberMode::from(d.mode) as u32,
            beam: d.beam,
            rerank: d.rerank,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_options, "out_options", value) }?;
        Ok(())
    })
}

/// Fill `out_options` with the defaults (no sidecar, chunks of 256, the model's token limit).
///
/// # Safety
/// `out_options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_options_default(out_options: *mut EmberIndexOptions) -> EmberResult {
    guard(|| {
        let d = IndexConfig::default();
        let value = EmberIndexOptions {
            vectors: EmberVectorStorage::None as u32,
            embed_chunk: d.embed_chunk,
            max_tokens: d.max_tokens.unwrap_or(0),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_options, "out_options", value) }?;
        Ok(())
    })
}

/// Build an index of `passages` in `dir` (created if needed; an index already there is replaced
/// atomically) and open it. `options` may be NULL for the defaults; `progress` may be NULL.
///
/// # Safety
/// `dir` is a NUL-terminated string; `embedder` is a live handle; `passages` points to
/// `passages_len` passages of NUL-terminated strings (or is NULL with length 0); `options` is NULL
/// or valid for reads; `progress` is called on this thread with `progress_data`; `out_index` is
/// valid for writes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ember_index_create(
    dir: *const c_char,
    embedder: *const CEmbedder,
    passages: *const EmberPassage,
    passages_len: usize,
    options: *const EmberIndexOptions,
    progress: EmberProgressFn,
    progress_data: *mut c_void,
    out_index: *mut *mut CIndex,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_index, "out_index", std::ptr::null_mut()) }?;
        // SAFETY: forwarded from this function's contract.
        let dir = unsafe { str_arg(dir, "dir") }?;
        // SAFETY: NULL or a live handle, per the contract.
        let embedder = unsafe { embedder.as_ref() }.ok_or_else(|| EmberError::invalid("embedder is NULL"))?;
        let raw: &[EmberPassage] = match (passages.is_null(), passages_len) {
            (_, 0) => &[],
            (true, _) => return Err(EmberError::invalid("passages is NULL")),
            // SAFETY: non-NULL and valid for `passages_len` reads, per the contract.
            (false, n) => unsafe { std::slice::from_raw_parts(passages, n) },
        };
        let passages = raw
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // SAFETY: each field is a NUL-terminated string, per the contract.
                let id = unsafe { str_arg(p.id, &format!("passages[{i}].id")) }?;
                // SAFETY: as above.
                let text = unsafe { str_arg(p.text, &format!("passages[{i}].text")) }?;
                Ok(Passage { id: id.to_owned(), text: text.to_owned() })
            })
            .collect::<Result<Vec<_>, EmberError>>()?;
        // SAFETY: NULL or valid for reads, per the contract.
        let config = match unsafe { options.as_ref() } {
            Some(o) => o.to_config()?,
            None => IndexConfig::default(),
        };
        let mut report = |done: usize, total: usize| {
            if let Some(f) = progress {
                // SAFETY: the caller's callback and data, called as documented.
                unsafe { f(progress_data, done, total) };
            }
        };
        let index =
            EmberIndex::create_with(dir, embedder.inner.clone(), passages, config, &mut report, None)?;
        *out = index_handle(index)?;
        Ok(())
    })
}

/// Open the index in `dir`. `embedder` (NULL allowed) must be the model the index was built with;
/// it is needed for text searches and recompute mode.
///
/// # Safety
/// `dir` is a NUL-terminated string; `embedder` is NULL or a live handle; `out_index` is valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_open(
    dir: *const c_char,
    embedder: *const CEmbedder,
    out_index: *mut *mut CIndex,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_index, "out_index", std::ptr::null_mut()) }?;
        // SAFETY: forwarded from this function's contract.
        let dir = unsafe { str_arg(dir, "dir") }?;
        // SAFETY: NULL or a live handle, per the contract.
        let embedder = unsafe { embedder.as_ref() }.map(|e| e.inner.clone());
        *out = index_handle(EmberIndex::open(dir.to_owned(), embedder)?)?;
        Ok(())
    })
}

/// Close an index and free its handle. NULL is ignored.
///
/// # Safety
/// `index` is NULL or a handle from `ember_index_create`/`ember_index_open` not closed before, and
/// no other thread is using it.
#[no_mangle]
pub unsafe extern "C" fn ember_index_close(index: *mut CIndex) {
    guard_void(|| {
        if !index.is_null() {
            // SAFETY: a handle from `Box::into_raw`, closed once, per the contract.
            let handle = unsafe { Box::from_raw(index) };
            handle.inner.close();
        }
    })
}

/// The model id the index was built with; valid until the index is closed.
///
/// # Safety
/// `index` is NULL or a live handle; `out_model_id` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_model_id(
    index: *const CIndex,
    out_model_id: *mut *const c_char,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_model_id, "out_model_id", std::ptr::null()) }?;
        // SAFETY: NULL or a live handle, per the contract.
        let index = unsafe { index.as_ref() }.ok_or_else(|| EmberError::invalid("index is NULL"))?;
        *out = index.model_id.as_ptr();
        Ok(())
    })
}

/// Sizes and counts of the index.
///
/// # Safety
/// `index` is NULL or a live handle; `out_stats` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_stats(
    index: *const CIndex,
    out_stats: *mut EmberIndexStats,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_stats, "out_stats", EmberIndexStats::default()) }?;
        // SAFETY: NULL or a live handle, per the contract.
        let index = unsafe { index.as_ref() }.ok_or_else(|| EmberError::invalid("index is NULL"))?;
        let s = index.inner.stats()?;
        *out = EmberIndexStats {
            passages: s.passages,
            dim: s.dim,
            text_bytes: s.text_bytes,
            index_bytes: s.index_bytes,
            sidecar_bytes: s.sidecar_bytes,
            text_store_bytes: s.text_store_bytes,
        };
        Ok(())
    })
}

/// Search by text (the index must have been opened with an embedder). `options` may be NULL for
/// the defaults.
///
/// # Safety
/// `index` is NULL or a live handle; `query` is a NUL-terminated string; `options` is NULL or
/// valid for reads; `out_results` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_search(
    index: *const CIndex,
    query: *const c_char,
    options: *const EmberSearchOptions,
    out_results: *mut *mut CSearchResults,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_results, "out_results", std::ptr::null_mut()) }?;
        // SAFETY: NULL or a live handle, per the contract.
        let index = unsafe { index.as_ref() }.ok_or_else(|| EmberError::invalid("index is NULL"))?;
        // SAFETY: forwarded from this function's contract.
        let query = unsafe { str_arg(query, "query") }?;
        // SAFETY: NULL or valid for reads, per the contract.
        let options = unsafe { options.as_ref() }.map_or(Ok(SearchOptions::default()), |o| o.to_options())?;
        *out = results_handle(index.inner.search_with(query, options)?)?;
        Ok(())
    })
}

/// Search with a query vector of `vector_len` floats (the index's dimension).
///
/// # Safety
/// `index` is NULL or a live handle; `vector` is valid for `vector_len` reads; `options` is NULL
/// or valid for reads; `out_results` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_search_vector(
    index: *const CIndex,
    vector: *const f32,
    vector_len: usize,
    options: *const EmberSearchOptions,
    out_results: *mut *mut CSearchResults,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_results, "out_results", std::ptr::null_mut()) }?;
        // SAFETY: NULL or a live handle, per the contract.
        let index = unsafe { index.as_ref() }.ok_or_else(|| EmberError::invalid("index is NULL"))?;
        if vector.is_null() {
            return Err(EmberError::invalid("vector is NULL"));
        }
        // SAFETY: non-NULL and valid for `vector_len` reads, per the contract.
        let vector = unsafe { std::slice::from_raw_parts(vector, vector_len) };
        // SAFETY: NULL or valid for reads, per the contract.
        let options = unsafe { options.as_ref() }.map_or(Ok(SearchOptions::default()), |o| o.to_options())?;
        *out = results_handle(index.inner.search_vector_with(vector, options)?)?;
        Ok(())
    })
}

/// Number of hits (0 for NULL).
///
/// # Safety
/// `results` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ember_search_results_len(results: *const CSearchResults) -> usize {
    // SAFETY: NULL or a live handle, per the contract.
    unsafe { results.as_ref() }.map_or(0, |r| r.ids.len())
}

/// Hit `i` (best first): its id, valid until the results are freed, and its score.
///
/// # Safety
/// `results` is NULL or a live handle; `out_id` and `out_score` are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_search_results_hit(
    results: *const CSearchResults,
    i: usize,
    out_id: *mut *const c_char,
    out_score: *mut f32,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { out_arg(out_id, "out_id", std::ptr::null()) }?;
        // SAFETY: forwarded from this function's contract.
        let score = unsafe { out_arg(out_score, "out_score", 0.0) }?;
        // SAFETY: NULL or a live handle, per the contract.
        let r = unsafe { results.as_ref() }.ok_or_else(|| EmberError::invalid("results is NULL"))?;
        let (c, hit) = r
            .ids
            .get(i)
            .zip(r.report.hits.get(i))
            .ok_or_else(|| EmberError::invalid(format!("hit {i} of {}", r.ids.len())))?;
        *id = c.as_ptr();
        *score = hit.score;
        Ok(())
    })
}

/// What the search did: mode, work and time.
///
/// # Safety
/// `results` is NULL or a live handle; `out_info` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_search_results_info(
    results: *const CSearchResults,
    out_info: *mut EmberSearchInfo,
) -> EmberResult {
    guard(|| {
        // SAFETY: NULL or a live handle, per the contract.
        let r = unsafe { results.as_ref() }.ok_or_else(|| EmberError::invalid("results is NULL"))?;
        let rep = &r.report;
        let value = EmberSearchInfo {
            mode: rep.mode.into(),
            reembedded: rep.reembedded,
            cache_hits: rep.cache_hits,
            bytes_read: rep.bytes_read,
            scored: rep.scored,
            embed_ms: rep.embed_ms,
            search_ms: rep.search_ms,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_info, "out_info", value) }?;
        Ok(())
    })
}

/// Free search results. NULL is ignored.
///
/// # Safety
/// `results` is NULL or a handle from a search not freed before.
#[no_mangle]
pub unsafe extern "C" fn ember_search_results_free(results: *mut CSearchResults) {
    guard_void(|| {
        if !results.is_null() {
            // SAFETY: a handle from `Box::into_raw`, freed once, per the contract.
            drop(unsafe { Box::from_raw(results) });
        }
    })
}
