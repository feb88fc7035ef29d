//! The handle an app holds: [`Index`], its state (the published snapshot, the writer's mutex, the
//! device state) and every public method that reads. Reads go to `read/` on one snapshot and never
//! touch the writer's mutex; the write methods live in `write/`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::cache::EmbeddingCache;
use super::effort::SearchDefaults;
use super::log::append::Tail;
use super::options::{OpenOptions, Policy, Precision, Retrieval, SearchOptions};
use super::passage::Passage;
use super::policy::{DeviceState, ModeCosts};
use super::read::lookup::{self, IndexStats};
use super::read::search::{self, Auto, SearchReport};
use super::read::walk::Scratch;
use super::snapshot::Snapshot;
use super::source::Slot;
use crate::cpu::{Cost, Meter};
use crate::error::lock_poisoned;
use crate::{Embedder, Error, Prefixes, Result, TextKind};

/// The writer's private state, behind one mutex: one writer at a time. Readers never take it:
/// everything they read, the id map included, is in the published snapshot.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// The open end of the current generation's log.
    pub log: Tail,
    pub scratch: Scratch,
}

/// An opened index. `Send + Sync`: share it (e.g. in an `Arc`) between threads; searches run
/// concurrently with each other and with one writer, and never wait for the writer.
#[derive(Debug)]
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) opts: OpenOptions,
    state: RwLock<Arc<Snapshot>>,
    pub(crate) writer: Mutex<Writer>,
    device: Mutex<Option<DeviceState>>,
    /// Running mean cost of each mode's searches on this index, for `Mode::Auto`'s budget.
    costs: Mutex<ModeCosts>,
    /// What the last `add`, `update`, `compact` or `materialize_vectors` cost.
    write_cost: Mutex<Option<Cost>>,
    scratch: Mutex<Vec<Scratch>>,
    _lock: Option<std::fs::File>,
}

impl Index {
    /// An index serving `snap`, with the writer's state (and lock, unless read-only) as opened.
    pub(crate) fn from_parts(
        dir: &Path,
        opts: OpenOptions,
        snap: Snapshot,
        writer: Writer,
        lock: Option<std::fs::File>,
    ) -> Index {
        Index {
            dir: dir.to_path_buf(),
            opts,
            state: RwLock::new(Arc::new(snap)),
            writer: Mutex::new(writer),
            device: Mutex::new(None),
            costs: Mutex::new(ModeCosts::default()),
            write_cost: Mutex::new(None),
            scratch: Mutex::new(Vec::new()),
            _lock: lock,
        }
    }

    /// The current snapshot (a pointer copy under a lock held for nanoseconds).
    pub(crate) fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.state.read().map(|s| Arc::clone(&s)).map_err(|_| lock_poisoned())
    }

    pub(crate) fn publish_snapshot(&self, snap: Snapshot) -> Result<()> {
        *self.state.write().map_err(|_| lock_poisoned())? = Arc::new(snap);
        Ok(())
    }

    /// Refuse an embedder whose model differs from the one the index was built with
    /// ([`Error::ModelMismatch`]), or whose prefixes differ from the recorded ones
    /// ([`Error::PrefixMismatch`]).
    pub fn check_embedder(&self, embedder: &dyn Embedder) -> Result<()> {
        self.snapshot()?.check_embedder(embedder)
    }

    /// The prefixes the index was built with (empty for symmetric models, and for indexes
    /// written before prefixes were recorded).
    pub fn prefixes(&self) -> Prefixes {
        self.snapshot()
            .map(|s| Prefixes {
                query: s.base.meta.query_prefix.clone(),
                passage: s.base.meta.passage_prefix.clone(),
            })
            .unwrap_or_default()
    }

    /// Where an index that keeps no text (`IndexConfig::text` = [`crate::TextStorage::None`]) gets
    /// the texts it needs: recompute searches (one call per search for the candidates it
    /// re-embeds), `get`, `materialize_vectors`, `build_keywords`, and a commit or compaction of
    /// an index with keywords. Set it after opening; `None` removes it. Waits for a writer in
    /// progress. An index that keeps its text never asks.
    pub fn set_text_source(&self, source: Option<Arc<dyn crate::TextSource>>) -> Result<()> {
        // The writer's lock (not `writer()`, which refuses read-only handles: they search too), so
        // no write in progress publishes a snapshot made before the source was set.
        let _w = self.writer.lock().map_err(|_| lock_poisoned())?;
        let snap = self.snapshot()?;
        self.publish_snapshot(Snapshot { source: Slot(source), ..(*snap).clone() })
    }

    /// Whether the index keeps the passages' text or the app does.
    pub fn text_storage(&self) -> crate::TextStorage {
        self.snapshot().map(|s| s.base.meta.text).unwrap_or_default()
    }

    /// Number of live passages.
    pub fn len(&self) -> usize {
        self.snapshot().map_or(0, |s| s.live)
    }

    /// Whether the index holds no live passage.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The embedding model id recorded at build.
    pub fn model(&self) -> String {
        self.snapshot().map(|s| s.base.meta.model.clone()).unwrap_or_default()
    }

    /// The token limit the passages were embedded with, if recorded.
    pub fn max_tokens(&self) -> Option<usize> {
        self.snapshot().ok().and_then(|s| s.base.meta.max_tokens)
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.snapshot().map_or(0, |s| s.base.meta.dim)
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a valid vector sidecar is present (and why not, if not).
    pub fn sidecar_status(&self) -> std::result::Result<(), String> {
        let snap = self.snapshot().map_err(|e| e.to_string())?;
        snap.sidecar.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// Set the byte budget of the recomputed-embedding cache (0 disables it).
    pub fn set_cache_bytes(&self, bytes: usize) -> Result<()> {
        let snap = self.snapshot()?;
        *snap.base.cache.lock().map_err(|_| lock_poisoned())? = EmbeddingCache::new(bytes);
        Ok(())
    }

    /// Tell the policy about the device; `Mode::Auto` searches use it from now on.
    pub fn set_device_state(&self, state: DeviceState) -> Result<()> {
        *self.device.lock().map_err(|_| lock_poisoned())? = Some(state);
        Ok(())
    }

    /// The last device state set.
    pub fn device_state(&self) -> Option<DeviceState> {
        self.device.lock().ok().and_then(|d| *d)
    }

    /// The device policy in use.
    pub fn policy(&self) -> Policy {
        self.opts.policy
    }

    /// The beam and rerank a search uses when its options leave them unset, per mode: measured on
    /// this index at build (recall@3 against exact search on sample queries), the beam widened as
    /// the index grew since.
    pub fn search_defaults(&self) -> Result<SearchDefaults> {
        Ok(self.snapshot()?.search_defaults())
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Result<IndexStats> {
        Ok(lookup::stats(&*self.snapshot()?, &self.dir))
    }

    /// Live ids, in internal order.
    pub fn ids(&self) -> Result<Vec<String>> {
        Ok(lookup::ids(&*self.snapshot()?))
    }

    /// Texts of live passages by internal number (0..), for evaluation and export.
    pub fn texts(&self, nodes: &[u32]) -> Result<Vec<String>> {
        lookup::texts(&*self.snapshot()?, nodes)
    }

    /// Every live passage's (id, text), in internal order.
    pub fn live_texts(&self) -> Result<Vec<(String, String)>> {
        lookup::live_texts(&*self.snapshot()?)
    }

    /// Whether a live passage has this id. Reads no text (so it never asks a `TextSource`).
    pub fn contains(&self, id: &str) -> Result<bool> {
        Ok(lookup::live_node(&*self.snapshot()?, id).is_some())
    }

    /// The text and metadata of a live passage by id, if present.
    pub fn get(&self, id: &str) -> Result<Option<Passage>> {
        lookup::get(&*self.snapshot()?, id)
    }

    /// Bytes the sidecar takes (or would take) at `precision` for the current segment.
    pub fn sidecar_bytes(&self, precision: Precision) -> u64 {
        self.snapshot()
            .map_or(0, |s| 64 + (s.base.len() as u64) * (s.base.meta.dim as u64) * precision.width() as u64)
    }

    /// Search with an already embedded query (unit length, the index's dimension): the vector
    /// search alone (`Retrieval::Keywords` and `Hybrid` need the text: [`Index::search_text`]).
    ///
    /// `embedder` is needed for [`Mode::Recompute`](super::Mode::Recompute) (and lets `Auto`
    /// choose it); it must be the model the index was built with. The search runs on the snapshot
    /// current when it starts.
    pub fn search(
        &self,
        query: &[f32],
        embedder: Option<&dyn Embedder>,
        opts: &SearchOptions,
    ) -> Result<SearchReport> {
        self.search_query(None, Some(query), embedder, opts)
    }

    /// Search for `text` as `opts.retrieval` asks: embedded with `embedder` for the dense side,
    /// analyzed for the keyword side (a keywords-only search runs no model). Returns the report
    /// and the query-embedding time (0 when the query was not embedded).
    pub fn search_text(
        &self,
        text: &str,
        embedder: &dyn Embedder,
        opts: &SearchOptions,
    ) -> Result<(SearchReport, f64)> {
        self.check_embedder(embedder)?;
        let meter = Meter::start();
        let snap = self.snapshot()?;
        let (retrieval, _) = search::resolve_retrieval(&snap, opts.retrieval, true, true)?;
        if retrieval == Retrieval::Keywords {
            let report = self.search_on(&snap, Some(text), None, Some(embedder), opts)?;
            return Ok((self.costed(report, &meter), 0.0));
        }
        let start = Instant::now();
        let q = embedder
            .embed(&[text], TextKind::Query)?
            .pop()
            .ok_or_else(|| Error::Inference("no query vector".into()))?;
        let embed_ms = start.elapsed().as_secs_f64() * 1e3;
        let report = self.search_on(&snap, Some(text), Some(&q), Some(embedder), opts)?;
        Ok((self.costed(report, &meter), embed_ms))
    }

    /// The general search: a query text (for the keyword side), an embedded query (for the dense
    /// side), or both; `opts.retrieval` says which sides run. For apps that embed queries
    /// themselves, keyword search without a model, and evaluation.
    pub fn search_query(
        &self,
        text: Option<&str>,
        query: Option<&[f32]>,
        embedder: Option<&dyn Embedder>,
        opts: &SearchOptions,
    ) -> Result<SearchReport> {
        let meter = Meter::start();
        let report = self.search_on(&*self.snapshot()?, text, query, embedder, opts)?;
        Ok(self.costed(report, &meter))
    }

    fn search_on(
        &self,
        snap: &Snapshot,
        text: Option<&str>,
        query: Option<&[f32]>,
        embedder: Option<&dyn Embedder>,
        opts: &SearchOptions,
    ) -> Result<SearchReport> {
        let auto = Auto { policy: &self.opts.policy, device: self.device_state(), costs: self.mode_costs() };
        let mut scratch = self.take_scratch();
        let report = search::search(snap, text, query, embedder, opts, auto, &mut scratch);
        self.return_scratch(scratch);
        report
    }

    /// `report` with the cost `meter` read, which is also added to the running cost of its mode
    /// (keyword-only searches say nothing about the modes and are left out).
    fn costed(&self, mut report: SearchReport, meter: &Meter) -> SearchReport {
        let cost = Cost::of(meter, &self.opts.policy.energy);
        report.cpu_ms = cost.cpu_ms;
        report.energy_mj = cost.energy_mj;
        if let (Some(ms), Some(mj), false) =
            (cost.cpu_ms, cost.energy_mj, report.retrieval == Retrieval::Keywords)
        {
            if let Ok(mut c) = self.costs.lock() {
                c.record(report.mode, ms, mj);
            }
        }
        report
    }

    /// The measured mean cost of each mode's searches on this index since it was opened (what
    /// `Mode::Auto` weighs against `Policy::battery_query_budget_mj`).
    pub fn mode_costs(&self) -> ModeCosts {
        self.costs.lock().map(|c| *c).unwrap_or_default()
    }

    /// Replace the running costs, e.g. with figures saved from an earlier session, so `Mode::Auto`
    /// need not measure each mode again.
    pub fn set_mode_costs(&self, costs: ModeCosts) -> Result<()> {
        for (name, c) in [("recompute", costs.recompute), ("stored", costs.stored), ("codes", costs.codes)] {
            if !(c.cpu_ms.is_finite() && c.cpu_ms >= 0.0 && c.energy_mj.is_finite() && c.energy_mj >= 0.0) {
                return Err(Error::InvalidArgument(format!("{name} cost {c:?}: not finite and ≥ 0")));
            }
        }
        *self.costs.lock().map_err(|_| lock_poisoned())? = costs;
        Ok(())
    }

    /// What the last `add`, `update`, `compact` or `materialize_vectors` on this handle cost,
    /// whether it succeeded or not (`None` before the first).
    pub fn last_write_cost(&self) -> Option<Cost> {
        self.write_cost.lock().ok().and_then(|c| *c)
    }

    /// Run a write and keep its cost for [`Index::last_write_cost`].
    pub(crate) fn metered<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let meter = Meter::start();
        let out = f();
        if let Ok(mut c) = self.write_cost.lock() {
            *c = Some(self.cost(&meter));
        }
        out
    }

    /// The cost of `meter`'s call priced by this index's energy profile: for apps that meter
    /// `add`, `compact` or `materialize_vectors` themselves.
    pub fn cost(&self, meter: &Meter) -> Cost {
        Cost::of(meter, &self.opts.policy.energy)
    }

    /// Whether a valid keyword index is present (and why not, if not).
    pub fn keyword_status(&self) -> std::result::Result<(), String> {
        let snap = self.snapshot().map_err(|e| e.to_string())?;
        match &snap.keywords {
            Some(Ok(_)) => Ok(()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("no keyword index".into()),
        }
    }

    pub(crate) fn take_scratch(&self) -> Scratch {
        self.scratch.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default()
    }

    pub(crate) fn return_scratch(&self, s: Scratch) {
        if let Ok(mut p) = self.scratch.lock() {
            if p.len() < 8 {
                p.push(s);
            }
        }
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Index>();
    is::<Arc<Index>>();
}
