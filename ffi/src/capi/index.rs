//! C handles for an index: create, open, close, and what it holds.

use std::ffi::{c_char, CString};
use std::sync::Arc;

use super::embedder::{embedder_arg, CEmbedder};
use super::handles::Registry;
use super::passage::{passages_arg, CStoredPassage, EmberPassage, StoredPassage, PASSAGES};
use super::task::{EmberTask, Resolved};
use super::{flag, guard, guard_void, out_arg, str_arg, EmberResult};
use crate::{
    Durability, EmberError, EmberIndex, EnergyProfile, IndexConfig, OpenOptions, TextStorage, VectorStorage,
};

/// An open index (opaque). Searches and one writer may use a handle on several threads at once.
/// Close it with `ember_index_close`; calls on a closed handle return `EMBER_RESULT_CLOSED`.
#[derive(Debug)]
pub struct CIndex {
    _opaque: [u8; 0],
}

/// What an index handle holds.
pub(crate) struct IndexEntry {
    pub(crate) inner: Arc<EmberIndex>,
    model_id: CString,
}

pub(crate) static INDEXES: Registry<IndexEntry, CIndex> = Registry::new(1);

/// The live index `index` names (`Closed` once it was closed).
pub(crate) fn index_entry(index: *const CIndex) -> Result<Arc<IndexEntry>, EmberError> {
    INDEXES.get(index, "index", || EmberError::Closed)
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

/// When writes are acknowledged (values of `EmberOpenOptions::durability`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberDurability {
    /// Logged and fsynced before the call returns: survives a power loss.
    Sync = 0,
    /// Logged, not fsynced: survives a process kill, not a power loss.
    Buffered = 1,
}

/// Whether an index gets a keyword index (values of `EmberIndexOptions::keywords`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberKeywords {
    /// No keyword index (one can be built later: `ember_index_build_keywords`).
    None = 0,
    /// English words reduced to their stem.
    Stemmed = 1,
    /// Words as written.
    Unstemmed = 2,
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
    /// An `EmberKeywords` value.
    pub keywords: u32,
    /// An `EmberTextStorage` value.
    pub text: u32,
}

/// Whether an index keeps the passages' text (values of `EmberIndexOptions::text`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberTextStorage {
    /// In the index, compressed.
    Store = 0,
    /// Only a fingerprint per passage: the app keeps the texts and hands them over through
    /// `ember_index_set_text_source`.
    None = 1,
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
            keywords: self.keywords != EmberKeywords::None as u32,
            keyword_stem: match self.keywords {
                k if k == EmberKeywords::Unstemmed as u32 => false,
                k if k <= EmberKeywords::Unstemmed as u32 => true,
                k => return Err(EmberError::invalid(format!("unknown keywords option {k}"))),
            },
            text: Some(match self.text {
                t if t == EmberTextStorage::Store as u32 => TextStorage::Store,
                t if t == EmberTextStorage::None as u32 => TextStorage::None,
                t => return Err(EmberError::invalid(format!("unknown text storage {t}"))),
            }),
        })
    }
}

/// How an index is opened. Start from `ember_open_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmberOpenOptions {
    /// Nonzero: search only, without the writer lock (beside another process's writer).
    pub read_only: u8,
    /// An `EmberDurability` value.
    pub durability: u32,
    /// Byte budget of the cache of recomputed embeddings (0 disables it).
    pub cache_bytes: u64,
    /// Fold the log into a new segment past this many bytes (0: only on `ember_index_commit`).
    pub auto_commit_bytes: u64,
    /// Energy profile behind `energy_mj` estimates: joules per CPU-second on a big core, on a
    /// little core, and the share of CPU time priced as big (the default is the platform's,
    /// docs/architecture.md, "Energy").
    pub energy_big_j_per_cpu_s: f64,
    /// See `energy_big_j_per_cpu_s`.
    pub energy_little_j_per_cpu_s: f64,
    /// See `energy_big_j_per_cpu_s`; 0 to 1.
    pub energy_big_share: f64,
    /// On battery, `EMBER_MODE_AUTO` picks no mode whose measured mean energy per query exceeds
    /// this many millijoules (`INFINITY`: no budget; the default is core's, docs/architecture.md).
    pub battery_query_budget_mj: f64,
    /// Embedding threads the policy advises on battery (`ember_index_embed_threads`).
    pub threads_on_battery: u32,
    /// Embedding threads the policy advises while charging (0: every core).
    pub threads_charging: u32,
}

impl EmberOpenOptions {
    fn to_options(self) -> Result<OpenOptions, EmberError> {
        let durability = match self.durability {
            d if d == EmberDurability::Sync as u32 => Durability::Sync,
            d if d == EmberDurability::Buffered as u32 => Durability::Buffered,
            d => return Err(EmberError::invalid(format!("unknown durability {d}"))),
        };
        Ok(OpenOptions {
            read_only: flag(self.read_only),
            durability: Some(durability),
            cache_bytes: self.cache_bytes,
            auto_commit_bytes: self.auto_commit_bytes,
            energy: Some(EnergyProfile {
                big_j_per_cpu_s: self.energy_big_j_per_cpu_s,
                little_j_per_cpu_s: self.energy_little_j_per_cpu_s,
                big_share: self.energy_big_share,
            }),
            battery_query_budget_mj: Some(self.battery_query_budget_mj),
            threads_on_battery: self.threads_on_battery,
            threads_charging: self.threads_charging,
        })
    }
}

/// Sizes and counts of an index.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmberIndexStats {
    /// Number of live passages.
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
    /// Deleted passages whose space `ember_index_compact` would reclaim.
    pub deleted: u64,
    /// Changes logged but not yet folded into a segment by `ember_index_commit`.
    pub pending_ops: u64,
    /// The current segment's generation (grows with every commit and compaction).
    pub generation: u64,
    /// The keyword index's size (0 without one).
    pub keyword_bytes: u64,
    /// Every file of the index directory.
    pub dir_bytes: u64,
    /// An `EmberTextStorage` value: whether the index keeps the text.
    pub text: u32,
}

fn index_handle(inner: Arc<EmberIndex>) -> Result<*mut CIndex, EmberError> {
    let model_id = CString::new(inner.model_id()?).map_err(|_| EmberError::internal("model id has a NUL"))?;
    Ok(INDEXES.insert(Arc::new(IndexEntry { inner, model_id })))
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
            keywords: match (d.keywords, d.keyword_stem) {
                (false, _) => EmberKeywords::None,
                (true, true) => EmberKeywords::Stemmed,
                (true, false) => EmberKeywords::Unstemmed,
            } as u32,
            text: EmberTextStorage::Store as u32,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_options, "out_options", value) }?;
        Ok(())
    })
}

/// Fill `out_options` with the defaults (read-write, `EMBER_DURABILITY_SYNC`, a 4 MiB cache,
/// automatic commit past 16 MiB of log, the platform's energy profile, the default query budget on
/// battery, 1 embedding thread on battery and every core while charging).
///
/// # Safety
/// `out_options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_open_options_default(out_options: *mut EmberOpenOptions) -> EmberResult {
    guard(|| {
        let d = OpenOptions::default();
        let policy = ember_core::Policy::default();
        let value = EmberOpenOptions {
            read_only: u8::from(d.read_only),
            durability: EmberDurability::Sync as u32,
            cache_bytes: d.cache_bytes,
            auto_commit_bytes: d.auto_commit_bytes,
            energy_big_j_per_cpu_s: policy.energy.big_j_per_cpu_s,
            energy_little_j_per_cpu_s: policy.energy.little_j_per_cpu_s,
            energy_big_share: policy.energy.big_share,
            battery_query_budget_mj: policy.battery_query_budget_mj.unwrap_or(f64::INFINITY),
            threads_on_battery: d.threads_on_battery,
            threads_charging: d.threads_charging,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_options, "out_options", value) }?;
        Ok(())
    })
}

/// Build an index of `passages` in `dir` (created if needed; an index already there is replaced
/// atomically) and open it for writing. `options` and `task` may be NULL.
///
/// # Safety
/// `dir` is a NUL-terminated string; `passages` points to `passages_len` passages (or is NULL with
/// length 0); `options` and `task` are NULL or valid for reads; `out_index` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_create(
    dir: *const c_char,
    embedder: *const CEmbedder,
    passages: *const EmberPassage,
    passages_len: usize,
    options: *const EmberIndexOptions,
    task: *const EmberTask,
    out_index: *mut *mut CIndex,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_index, "out_index", std::ptr::null_mut()) }?;
        // SAFETY: forwarded from this function's contract.
        let dir = unsafe { str_arg(dir, "dir") }?;
        let embedder = embedder_arg(embedder)?;
        // SAFETY: forwarded from this function's contract.
        let passages = unsafe { passages_arg(passages, passages_len) }?;
        // SAFETY: NULL or valid for reads, per the contract.
        let config = match unsafe { options.as_ref() } {
            Some(o) => o.to_config()?,
            None => IndexConfig::default(),
        };
        // SAFETY: forwarded from this function's contract.
        let task = unsafe { Resolved::new(task) }?;
        let report = |done, total| task.report(done, total);
        let index =
            EmberIndex::create_with(dir, embedder, passages, config, Some(&report), task.cancel.as_deref())?;
        *out = index_handle(index)?;
        Ok(())
    })
}

/// Open the index in `dir`. `embedder` (NULL allowed) must be the model the index was built with;
/// it is needed for text searches, writes and recompute mode. `options` may be NULL for the
/// defaults. A second read-write open of one index fails with `EMBER_RESULT_LOCKED`.
///
/// # Safety
/// `dir` is a NUL-terminated string; `options` is NULL or valid for reads; `out_index` is valid
/// for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_open(
    dir: *const c_char,
    embedder: *const CEmbedder,
    options: *const EmberOpenOptions,
    out_index: *mut *mut CIndex,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_index, "out_index", std::ptr::null_mut()) }?;
        // SAFETY: forwarded from this function's contract.
        let dir = unsafe { str_arg(dir, "dir") }?;
        let embedder = if embedder.is_null() { None } else { Some(embedder_arg(embedder)?) };
        // SAFETY: NULL or valid for reads, per the contract.
        let options = match unsafe { options.as_ref() } {
            Some(o) => o.to_options()?,
            None => OpenOptions::default(),
        };
        *out = index_handle(EmberIndex::open_with(dir, embedder, options)?)?;
        Ok(())
    })
}

/// Close an index and free its handle, without waiting: calls already running on other threads
/// finish on what they hold (the files and the writer lock go when the last returns), and later
/// calls with the handle return `EMBER_RESULT_CLOSED`. NULL and a second close are ignored.
#[no_mangle]
pub extern "C" fn ember_index_close(index: *mut CIndex) {
    guard_void(|| {
        if let Some(entry) = INDEXES.remove(index) {
            entry.inner.close();
        }
    })
}

/// The model id the index was built with; valid until the index is closed.
///
/// # Safety
/// `out_model_id` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_model_id(
    index: *const CIndex,
    out_model_id: *mut *const c_char,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_model_id, "out_model_id", std::ptr::null()) }?;
        // The pointer stays valid after this reference is dropped: the registry holds the entry
        // until the index is closed.
        *out = index_entry(index)?.model_id.as_ptr();
        Ok(())
    })
}

/// Sizes and counts of the index.
///
/// # Safety
/// `out_stats` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_stats(
    index: *const CIndex,
    out_stats: *mut EmberIndexStats,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_stats, "out_stats", EmberIndexStats::default()) }?;
        let s = index_entry(index)?.inner.stats()?;
        *out = EmberIndexStats {
            passages: s.passages,
            dim: s.dim,
            text_bytes: s.text_bytes,
            index_bytes: s.index_bytes,
            sidecar_bytes: s.sidecar_bytes,
            text_store_bytes: s.text_store_bytes,
            deleted: s.deleted,
            pending_ops: s.pending_ops,
            generation: s.generation,
            keyword_bytes: s.keyword_bytes,
            dir_bytes: s.dir_bytes,
            text: match s.text {
                TextStorage::Store => EmberTextStorage::Store,
                TextStorage::None => EmberTextStorage::None,
            } as u32,
        };
        Ok(())
    })
}

/// The live passage `id`: `*out_passage` is a new handle, or NULL when the index holds no such
/// passage (still `EMBER_RESULT_OK`).
///
/// # Safety
/// `id` is a NUL-terminated string; `out_passage` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_get(
    index: *const CIndex,
    id: *const c_char,
    out_passage: *mut *mut CStoredPassage,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_passage, "out_passage", std::ptr::null_mut()) }?;
        let index = index_entry(index)?;
        // SAFETY: forwarded from this function's contract.
        let id = unsafe { str_arg(id, "id") }?;
        if let Some(p) = index.inner.get(id.to_owned())? {
            *out = PASSAGES.insert(Arc::new(StoredPassage::new(p)?));
        }
        Ok(())
    })
}
