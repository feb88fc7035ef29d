//! C calls that search, and the search-results handle.

use std::ffi::{c_char, CString};
use std::sync::Arc;

use super::device::EmberVectorAction;
use super::handles::Registry;
use super::index::{index_entry, CIndex};
use super::{guard, guard_value, guard_void, out_arg, slice_arg, str_arg, EmberResult};
use crate::{EmberError, Mode, Retrieval, SearchOptions, SearchReport};

/// Search results (opaque), best first. Free them with `ember_search_results_free`.
#[derive(Debug)]
pub struct CSearchResults {
    _opaque: [u8; 0],
}

/// What a results handle holds: the report and C copies of its strings.
pub(crate) struct Results {
    report: SearchReport,
    ids: Vec<CString>,
    reason: CString,
}

pub(crate) static RESULTS: Registry<Results, CSearchResults> = Registry::new(3);

fn results_arg(results: *const CSearchResults) -> Result<Arc<Results>, EmberError> {
    RESULTS.get(results, "results", || EmberError::invalid("results were freed"))
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

/// Which retrieval a search runs (values of `EmberSearchOptions::retrieval`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberRetrieval {
    /// Hybrid when the index has a keyword index, else dense.
    Auto = 0,
    /// The vector search alone.
    Dense = 1,
    /// BM25 over the keyword index alone (no model run).
    Keywords = 2,
    /// Both, fused.
    Hybrid = 3,
}

impl From<Retrieval> for EmberRetrieval {
    fn from(r: Retrieval) -> Self {
        match r {
            Retrieval::Auto => EmberRetrieval::Auto,
            Retrieval::Dense => EmberRetrieval::Dense,
            Retrieval::Keywords => EmberRetrieval::Keywords,
            Retrieval::Hybrid => EmberRetrieval::Hybrid,
        }
    }
}

fn retrieval_from_u32(r: u32) -> Result<Retrieval, EmberError> {
    [Retrieval::Auto, Retrieval::Dense, Retrieval::Keywords, Retrieval::Hybrid]
        .into_iter()
        .find(|&x| EmberRetrieval::from(x) as u32 == r)
        .ok_or_else(|| EmberError::invalid(format!("unknown retrieval {r}")))
}

/// Search knobs. Start from `ember_search_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmberSearchOptions {
    /// Hits returned (at least 1).
    pub k: u32,
    /// An `EmberMode` value.
    pub mode: u32,
    /// Beam width of the graph search; 0 for the index's default for the mode that runs
    /// (`ember_index_search_defaults`).
    pub beam: u32,
    /// Candidates given an exact score (raised to `k` if smaller); 0 for the index's default for
    /// the mode that runs.
    pub rerank: u32,
    /// NULL, or a metadata filter (NUL-terminated UTF-8): `key = v`, `!=`, `<`, `<=`, `>`, `>=`,
    /// `key in (v1, v2)`, `and`, `or`, `not`, parentheses; `"strings"`, numbers, `true`/`false`.
    pub filter: *const c_char,
    /// An `EmberRetrieval` value.
    pub retrieval: u32,
    /// NULL for the default (`adaptive:40`), or how a hybrid search fuses its lists
    /// (NUL-terminated): `adaptive[:RANK]`, `rrf[:K]` or `blend[:ALPHA]`.
    pub fusion: *const c_char,
}

impl EmberSearchOptions {
    /// # Safety
    /// `filter` and `fusion` are NULL or NUL-terminated.
    unsafe fn to_options(self) -> Result<SearchOptions, EmberError> {
        let filter = if self.filter.is_null() {
            None
        } else {
            // SAFETY: forwarded from this function's contract.
            Some(unsafe { str_arg(self.filter, "options.filter") }?.to_owned())
        };
        let fusion = if self.fusion.is_null() {
            None
        } else {
            // SAFETY: forwarded from this function's contract.
            Some(unsafe { str_arg(self.fusion, "options.fusion") }?.to_owned())
        };
        Ok(SearchOptions {
            mode: mode_from_u32(self.mode)?,
            k: self.k,
            beam: (self.beam != 0).then_some(self.beam),
            rerank: (self.rerank != 0).then_some(self.rerank),
            filter,
            retrieval: Some(retrieval_from_u32(self.retrieval)?),
            fusion,
        })
    }
}

/// # Safety
/// `options` is NULL or valid for reads, with a valid `filter`.
unsafe fn options_arg(options: *const EmberSearchOptions) -> Result<SearchOptions, EmberError> {
    // SAFETY: NULL or valid for reads, per the contract.
    match unsafe { options.as_ref() } {
        // SAFETY: forwarded from this function's contract.
        Some(o) => unsafe { o.to_options() },
        None => Ok(SearchOptions::default()),
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
    /// Whether a selective filter made the search scan every code.
    pub scanned: bool,
    /// The device policy's advice on stored vectors (an `EmberVectorAction` value;
    /// `EMBER_VECTOR_ACTION_NONE` until a device state is set).
    pub vectors_advice: EmberVectorAction,
    /// The retrieval that ran (never `EMBER_RETRIEVAL_AUTO`).
    pub retrieval: EmberRetrieval,
    /// Passages the keyword side returned, before fusion.
    pub keyword_hits: u64,
    /// Time of the dense side, milliseconds (0 when it did not run).
    pub dense_ms: f64,
    /// Time of the keyword side, milliseconds (0 when it did not run).
    pub keyword_ms: f64,
    /// CPU time of every thread that worked for the search (query embedding, graph walk,
    /// re-embedding, reads), milliseconds; NaN where the platform has no per-thread CPU clock.
    pub cpu_ms: f64,
    /// Estimated energy of the search, millijoules (`cpu_ms` priced by the energy profile of
    /// `EmberOpenOptions`); an estimate, NaN when `cpu_ms` is.
    pub energy_mj: f64,
    /// Beam width the graph walk used (0 when only keywords ran).
    pub beam: u64,
    /// Candidates given an exact score (0 in codes-only mode and when only keywords ran).
    pub rerank: u64,
}

fn results_handle(report: SearchReport) -> Result<*mut CSearchResults, EmberError> {
    let ids = report
        .hits
        .iter()
        .map(|h| CString::new(h.id.as_str()).map_err(|_| EmberError::internal("passage id has a NUL")))
        .collect::<Result<_, _>>()?;
    let reason =
        CString::new(report.reason.as_str()).map_err(|_| EmberError::internal("reason has a NUL"))?;
    Ok(RESULTS.insert(Arc::new(Results { report, ids, reason })))
}

/// Fill `out_options` with core's defaults (k 10, auto mode, beam and rerank 0: the index's
/// measured defaults, no filter, auto retrieval, the default fusion).
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
            beam: d.beam.unwrap_or(0),
            rerank: d.rerank.unwrap_or(0),
            filter: std::ptr::null(),
            retrieval: EmberRetrieval::from(d.retrieval.unwrap_or_default()) as u32,
            fusion: std::ptr::null(),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_options, "out_options", value) }?;
        Ok(())
    })
}

/// Search by text (the index must have been opened with an embedder). `options` may be NULL for
/// the defaults.
///
/// # Safety
/// `query` is a NUL-terminated string; `options` is NULL or valid for reads; `out_results` is
/// valid for writes.
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
        let index = index_entry(index)?;
        // SAFETY: forwarded from this function's contract.
        let query = unsafe { str_arg(query, "query") }?;
        // SAFETY: forwarded from this function's contract.
        let options = unsafe { options_arg(options) }?;
        *out = results_handle(index.inner.search_with(query, &options)?)?;
        Ok(())
    })
}

/// Search with a query vector of `vector_len` floats (the index's dimension, else
/// `EMBER_RESULT_DIMENSION_MISMATCH`).
///
/// # Safety
/// `vector` is valid for `vector_len` reads; `options` is NULL or valid for reads; `out_results`
/// is valid for writes.
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
        let index = index_entry(index)?;
        if vector.is_null() {
            return Err(EmberError::invalid("vector is NULL"));
        }
        // SAFETY: non-NULL and valid for `vector_len` reads, per the contract.
        let vector = unsafe { slice_arg(vector, vector_len, "vector") }?;
        // SAFETY: forwarded from this function's contract.
        let options = unsafe { options_arg(options) }?;
        *out = results_handle(index.inner.search_vector_with(vector, &options)?)?;
        Ok(())
    })
}

/// Number of hits (0 for NULL or a freed handle).
#[no_mangle]
pub extern "C" fn ember_search_results_len(results: *const CSearchResults) -> usize {
    guard_value(0, || results_arg(results).map_or(0, |r| r.ids.len()))
}

/// Hit `i` (best first): its id, valid until the results are freed, and its score.
///
/// # Safety
/// `out_id` and `out_score` are valid for writes.
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
        let r = results_arg(results)?;
        let (c, hit) = r
            .ids
            .get(i)
            .zip(r.report.hits.get(i))
            .ok_or_else(|| EmberError::invalid(format!("hit {i} of {}", r.ids.len())))?;
        // Valid after `r` is dropped: the registry holds the results until they are freed.
        *id = c.as_ptr();
        *score = hit.score;
        Ok(())
    })
}

/// What the search did: mode, work, time, and the device policy's advice.
///
/// # Safety
/// `out_info` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_search_results_info(
    results: *const CSearchResults,
    out_info: *mut EmberSearchInfo,
) -> EmberResult {
    guard(|| {
        let empty = EmberSearchInfo {
            mode: EmberMode::Auto,
            reembedded: 0,
            cache_hits: 0,
            bytes_read: 0,
            scored: 0,
            embed_ms: 0.0,
            search_ms: 0.0,
            scanned: false,
            vectors_advice: EmberVectorAction::None,
            retrieval: EmberRetrieval::Auto,
            keyword_hits: 0,
            dense_ms: 0.0,
            keyword_ms: 0.0,
            cpu_ms: f64::NAN,
            energy_mj: f64::NAN,
            beam: 0,
            rerank: 0,
        };
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_info, "out_info", empty) }?;
        let r = results_arg(results)?;
        let rep = &r.report;
        *out = EmberSearchInfo {
            mode: rep.mode.into(),
            reembedded: rep.reembedded,
            cache_hits: rep.cache_hits,
            bytes_read: rep.bytes_read,
            scored: rep.scored,
            embed_ms: rep.embed_ms,
            search_ms: rep.search_ms,
            scanned: rep.scanned,
            vectors_advice: rep.vectors_advice.into(),
            retrieval: rep.retrieval.into(),
            keyword_hits: rep.keyword_hits,
            dense_ms: rep.dense_ms,
            keyword_ms: rep.keyword_ms,
            cpu_ms: rep.cpu_ms.unwrap_or(f64::NAN),
            energy_mj: rep.energy_mj.unwrap_or(f64::NAN),
            beam: rep.beam,
            rerank: rep.rerank,
        };
        Ok(())
    })
}

/// Why the search ran in the mode it did (for `EMBER_MODE_AUTO`); valid until the results are
/// freed.
///
/// # Safety
/// `out_reason` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_search_results_reason(
    results: *const CSearchResults,
    out_reason: *mut *const c_char,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_reason, "out_reason", std::ptr::null()) }?;
        *out = results_arg(results)?.reason.as_ptr();
        Ok(())
    })
}

/// The beam and rerank of one kind of search (a field of `EmberSearchDefaults`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmberEffort {
    /// Beam width of the graph walk.
    pub beam: u32,
    /// Candidates given an exact score.
    pub rerank: u32,
}

/// The beam and rerank a search uses where `EmberSearchOptions` leaves them 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmberSearchDefaults {
    /// Stored and codes-only searches.
    pub stored: EmberEffort,
    /// Recompute searches.
    pub recompute: EmberEffort,
    /// Live passages when the effort was measured (at build); 0 when it never was (fixed defaults
    /// scaled by size).
    pub calibrated_at: u64,
}

/// The beam and rerank a search uses where its options leave them 0, per mode: measured on this
/// index at build (recall@3 against exact search on sample queries), the beam widened as the
/// index grew since.
///
/// # Safety
/// `out_defaults` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_search_defaults(
    index: *const CIndex,
    out_defaults: *mut EmberSearchDefaults,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_defaults, "out_defaults", EmberSearchDefaults::default()) }?;
        let d = index_entry(index)?.inner.search_defaults()?;
        let effort = |e: crate::Effort| EmberEffort { beam: e.beam, rerank: e.rerank };
        *out = EmberSearchDefaults {
            stored: effort(d.stored),
            recompute: effort(d.recompute),
            calibrated_at: d.calibrated_at.unwrap_or(0),
        };
        Ok(())
    })
}

/// Free search results. NULL, and results freed before, are ignored.
#[no_mangle]
pub extern "C" fn ember_search_results_free(results: *mut CSearchResults) {
    guard_void(|| drop(RESULTS.remove(results)))
}
