//! `EmberIndex`: an index directory opened (or built) with the embedder that searches it.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use crate::device::vectors_advice;
use crate::embedder::Model;
use crate::progress::{listener_fn, with_task, ProgressFn};
use crate::{
    CancellationToken, Cost, DeviceState, Embedder, EmberError, IndexConfig, IndexStats, ModeCosts,
    OpenOptions, Passage, Precision, ProgressListener, SearchDefaults, SearchOptions, SearchReport,
    TextSource,
};

/// A semantic index on local storage. Thread-safe: searches run on several threads at once and
/// beside one writer (`add`, `update`, `delete`, `commit`, `compact`), never waiting for it.
///
/// `close()` releases the index: later calls fail with `Closed`, while calls already running
/// finish on what they hold (the files and the writer lock go when the last of them returns).
/// Dropping the object closes it too.
#[derive(Debug, uniffi::Object)]
pub struct EmberIndex {
    state: RwLock<Option<Arc<Open>>>,
}

#[derive(Debug)]
struct Open {
    index: ember_core::Index,
    model: Option<Model>,
    /// Opened without the writer lock: every write is refused (even an empty one).
    read_only: bool,
}

impl Open {
    /// The embedder, or why an operation that embeds cannot run.
    fn model(&self, what: &str) -> Result<&Model, EmberError> {
        self.model
            .as_ref()
            .ok_or_else(|| EmberError::invalid(format!("{what} needs an index opened with an embedder")))
    }
}

impl EmberIndex {
    fn wrap(index: ember_core::Index, model: Option<Model>, read_only: bool) -> Arc<Self> {
        Arc::new(EmberIndex { state: RwLock::new(Some(Arc::new(Open { index, model, read_only }))) })
    }

    /// The open state, or `Closed`.
    fn open_state(&self) -> Result<Arc<Open>, EmberError> {
        self.state.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or(EmberError::Closed)
    }

    /// The constructor behind [`EmberIndex::create`], with a plain progress closure (the C ABI's
    /// callback) and the cancel token wired into core's `Task`.
    pub(crate) fn create_with(
        dir: &str,
        embedder: Arc<dyn Embedder>,
        passages: Vec<Passage>,
        config: IndexConfig,
        progress: Option<ProgressFn<'_>>,
        cancel: Option<&CancellationToken>,
    ) -> Result<Arc<Self>, EmberError> {
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            return Err(EmberError::Cancelled);
        }
        let config = config.to_core()?;
        let model = Model::new(embedder)?;
        let passages: Vec<ember_core::Passage> = passages.into_iter().map(Into::into).collect();
        let start = Instant::now();
        let bridge = model.bridge();
        let index = with_task(progress, cancel, |task| {
            bridge.finish(ember_core::Index::build(Path::new(dir), &bridge, &passages, &config, task))
        })?;
        log::info!(
            "built {} passages in {dir} in {:.0} ms",
            passages.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
        Ok(Self::wrap(index, Some(model), false))
    }

    /// The constructor behind [`EmberIndex::open`].
    pub(crate) fn open_with(
        dir: &str,
        embedder: Option<Arc<dyn Embedder>>,
        options: OpenOptions,
    ) -> Result<Arc<Self>, EmberError> {
        let model = embedder.map(Model::new).transpose()?;
        let read_only = options.read_only;
        let index = ember_core::Index::open_with(Path::new(dir), options.to_core()?)?;
        if let Some(m) = &model {
            index.check_embedder(&m.bridge())?;
            if m.dim != index.dim() {
                return Err(EmberError::DimensionMismatch {
                    expected: index.dim() as u64,
                    found: m.dim as u64,
                });
            }
        }
        log::debug!("opened {dir}: {} passages", index.len());
        Ok(Self::wrap(index, model, read_only))
    }

    /// `add` (or `update` when `replace`), with a plain progress closure.
    pub(crate) fn upsert_with(
        &self,
        passages: Vec<Passage>,
        replace: bool,
        progress: Option<ProgressFn<'_>>,
        cancel: Option<&CancellationToken>,
    ) -> Result<(), EmberError> {
        let open = self.open_state()?;
        let model = open.model(if replace { "update" } else { "add" })?;
        if passages.is_empty() {
            // Nothing to log (an empty record would only lengthen the log), but a read-only handle
            // refuses every write alike.
            if open.read_only {
                return Err(ember_core::Error::ReadOnly { path: open.index.dir().into() }.into());
            }
            return Ok(());
        }
        let passages: Vec<ember_core::Passage> = passages.into_iter().map(Into::into).collect();
        let bridge = model.bridge();
        with_task(progress, cancel, |task| {
            let result = if replace {
                open.index.update(&passages, &bridge, task)
            } else {
                open.index.add(&passages, &bridge, task)
            };
            bridge.finish(result)
        })
    }

    /// `compact`, with a plain progress closure.
    pub(crate) fn compact_with(
        &self,
        progress: Option<ProgressFn<'_>>,
        cancel: Option<&CancellationToken>,
    ) -> Result<(), EmberError> {
        let open = self.open_state()?;
        Ok(with_task(progress, cancel, |task| open.index.compact(task))?)
    }

    /// `materialize_vectors`, with a plain progress closure.
    pub(crate) fn materialize_with(
        &self,
        precision: Precision,
        progress: Option<ProgressFn<'_>>,
        cancel: Option<&CancellationToken>,
    ) -> Result<(), EmberError> {
        let open = self.open_state()?;
        let bridge = open.model("materializing vectors")?.bridge();
        with_task(progress, cancel, |task| {
            bridge.finish(open.index.materialize_vectors(&bridge, precision, task))
        })
    }

    /// Search with a text query (the C ABI's entry point).
    pub(crate) fn search_with(
        &self,
        query: &str,
        options: &SearchOptions,
    ) -> Result<SearchReport, EmberError> {
        let open = self.open_state()?;
        let options = options.to_core()?;
        // Without a model, a text search can still run on the keyword index alone.
        if open.model.is_none() && options.retrieval != ember_core::Retrieval::Dense {
            let report = open.index.search_query(Some(query), None, None, &options)?;
            return Ok(SearchReport::from_core(report, 0.0, vectors_advice(&open.index)));
        }
        let bridge = open.model("a text search")?.bridge();
        let (report, embed_ms) = bridge.finish(open.index.search_text(query, &bridge, &options))?;
        Ok(SearchReport::from_core(report, embed_ms, vectors_advice(&open.index)))
    }

    /// Search with a query vector (the C ABI's entry point).
    pub(crate) fn search_vector_with(
        &self,
        vector: &[f32],
        options: &SearchOptions,
    ) -> Result<SearchReport, EmberError> {
        let open = self.open_state()?;
        let options = options.to_core()?;
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(EmberError::invalid("query vector has NaN or infinity"));
        }
        let mut query = vector.to_vec();
        ember_core::embed::l2_normalize(&mut query);
        let bridge = open.model.as_ref().map(Model::bridge);
        let embedder = bridge.as_ref().map(|b| b as &dyn ember_core::Embedder);
        let result = open.index.search(&query, embedder, &options);
        let report = match &bridge {
            Some(b) => b.finish(result)?,
            None => result?,
        };
        Ok(SearchReport::from_core(report, 0.0, vectors_advice(&open.index)))
    }
}

#[uniffi::export]
impl EmberIndex {
    /// Build an index of `passages` in `dir` (created if needed; an index already there is
    /// replaced atomically) and open it for writing. `listener` hears progress between embedding
    /// chunks; cancelling `cancel` stops the build with `Cancelled` before anything is written.
    #[uniffi::constructor(default(config = None, listener = None, cancel = None))]
    pub fn create(
        dir: String,
        embedder: Arc<dyn Embedder>,
        passages: Vec<Passage>,
        config: Option<IndexConfig>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<Arc<Self>, EmberError> {
        let progress = listener_fn(&listener);
        Self::create_with(
            &dir,
            embedder,
            passages,
            config.unwrap_or_default(),
            Some(&progress),
            cancel.as_deref(),
        )
    }

    /// Open the index in `dir`, validating it and replaying its log. Give the embedder it was built
    /// with to search by text, write, and for `Recompute` mode; without one, only vector searches
    /// in `StoredRerank` or `CodesOnly` mode, deletes and compaction work. One handle at a time
    /// may open an index for writing (`Locked` otherwise); `OpenOptions(readOnly = true)` opens
    /// one to search beside it.
    #[uniffi::constructor(default(embedder = None, options = None))]
    pub fn open(
        dir: String,
        embedder: Option<Arc<dyn Embedder>>,
        options: Option<OpenOptions>,
    ) -> Result<Arc<Self>, EmberError> {
        Self::open_with(&dir, embedder, options.unwrap_or_default())
    }

    /// Embed and add new passages (ids must be new: `DuplicateId`). Durable and searchable when it
    /// returns; all or nothing, cancellation included.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub fn add(
        &self,
        passages: Vec<Passage>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<(), EmberError> {
        self.upsert_with(passages, false, Some(&listener_fn(&listener)), cancel.as_deref())
    }

    /// Replace the text and metadata of existing passages, re-embedding them (ids must exist:
    /// `UnknownId`). All or nothing.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub fn update(
        &self,
        passages: Vec<Passage>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<(), EmberError> {
        self.upsert_with(passages, true, Some(&listener_fn(&listener)), cancel.as_deref())
    }

    /// Delete passages by id (unknown ids are ignored); returns how many were deleted. Their space
    /// is reclaimed by `compact`.
    pub fn delete(&self, ids: Vec<String>) -> Result<u64, EmberError> {
        Ok(self.open_state()?.index.delete(&ids)? as u64)
    }

    /// Fold the log of changes into a new segment (opening gets faster; changes were durable
    /// before). A no-op when nothing changed.
    pub fn commit(&self) -> Result<(), EmberError> {
        Ok(self.open_state()?.index.commit()?)
    }

    /// Drop deleted passages for good and repair the graph around them, without re-embedding.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub fn compact(
        &self,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<(), EmberError> {
        self.compact_with(Some(&listener_fn(&listener)), cancel.as_deref())
    }

    /// The live passage with this id (text and metadata), or `None`.
    pub fn get(&self, id: String) -> Result<Option<Passage>, EmberError> {
        Ok(self.open_state()?.index.get(&id)?.map(Passage::from))
    }

    /// Tell the device policy about the battery, charging, low-power mode and free storage; `Auto`
    /// searches follow it, and search reports carry its advice on stored vectors.
    pub fn set_device_state(&self, state: DeviceState) -> Result<(), EmberError> {
        Ok(self.open_state()?.index.set_device_state(crate::device::checked(state)?)?)
    }

    /// What the last `add`, `update`, `compact` or `materialize_vectors` through this handle cost
    /// (CPU time of every thread that worked for it, and the energy estimate), whether it
    /// succeeded or not; `None` before the first.
    pub fn last_write_cost(&self) -> Result<Option<Cost>, EmberError> {
        Ok(self.open_state()?.index.last_write_cost())
    }

    /// The measured mean cost of each mode's searches on this index since it was opened (or since
    /// `setModeCosts`): what `Mode.AUTO` weighs against the battery budget.
    pub fn mode_costs(&self) -> Result<ModeCosts, EmberError> {
        Ok(self.open_state()?.index.mode_costs())
    }

    /// Restore costs saved from an earlier session (`modeCosts()`), so `Mode.AUTO` need not measure
    /// each mode again. Costs must be finite and not negative (`InvalidArgument`).
    pub fn set_mode_costs(&self, costs: ModeCosts) -> Result<(), EmberError> {
        Ok(self.open_state()?.index.set_mode_costs(costs)?)
    }

    /// Embedding threads the device policy advises for the last device state: fewer on battery,
    /// every core while charging (give it to `onnxEmbedder`'s `threads` when you load a model).
    pub fn embed_threads(&self) -> Result<u32, EmberError> {
        let index = &self.open_state()?.index;
        Ok(u32::try_from(index.policy().threads(index.device_state().as_ref())).unwrap_or(u32::MAX))
    }

    /// Build the stored-vector sidecar (for `StoredRerank`) by re-embedding every passage, without
    /// touching the graph. Resumable: a cancelled run keeps its finished rows for the next call.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub fn materialize_vectors(
        &self,
        precision: Precision,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<(), EmberError> {
        self.materialize_with(precision, Some(&listener_fn(&listener)), cancel.as_deref())
    }

    /// Delete the stored-vector sidecar to free storage; searches recompute or use codes.
    pub fn evict_vectors(&self) -> Result<(), EmberError> {
        Ok(self.open_state()?.index.evict_vectors()?)
    }

    /// Build the keyword (BM25) index from the stored texts, without re-embedding (the log is
    /// committed first). `stem`: reduce English words to their stem.
    #[uniffi::method(default(stem = true))]
    pub fn build_keywords(&self, stem: bool) -> Result<(), EmberError> {
        let analysis = ember_core::keywords::AnalyzerConfig { stem };
        Ok(self.open_state()?.index.build_keywords(analysis, &ember_core::Task::none())?)
    }

    /// Delete the keyword index; searches are dense from then on.
    pub fn drop_keywords(&self) -> Result<(), EmberError> {
        Ok(self.open_state()?.index.drop_keywords()?)
    }

    /// The `options.k` passages closest in meaning to `query` (core's defaults when `None`).
    #[uniffi::method(default(options = None))]
    pub fn search(&self, query: String, options: Option<SearchOptions>) -> Result<SearchReport, EmberError> {
        self.search_with(&query, &options.unwrap_or_default())
    }

    /// Search with a query vector of the index's dimension (normalized by Ember).
    #[uniffi::method(default(options = None))]
    pub fn search_vector(
        &self,
        vector: Vec<f32>,
        options: Option<SearchOptions>,
    ) -> Result<SearchReport, EmberError> {
        self.search_vector_with(&vector, &options.unwrap_or_default())
    }

    /// Where an index built with `TextStorage.NONE` gets its texts: recompute searches (one call
    /// per search), `get`, `materializeVectors`, `buildKeywords`, and commits of an index with
    /// keywords. Set it right after opening; `null`/`nil` removes it. An index that keeps its text
    /// never calls it.
    pub fn set_text_source(&self, source: Option<Arc<dyn TextSource>>) -> Result<(), EmberError> {
        let open = self.open_state()?;
        let source = source.map(|s| Arc::new(crate::source::Bridge(s)) as Arc<dyn ember_core::TextSource>);
        Ok(open.index.set_text_source(source)?)
    }

    /// The beam and rerank a search uses where its options leave them `None`, per mode: measured
    /// on this index at build, the beam widened as the index grew since.
    pub fn search_defaults(&self) -> Result<SearchDefaults, EmberError> {
        Ok(self.open_state()?.index.search_defaults()?.into())
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Result<IndexStats, EmberError> {
        Ok(self.open_state()?.index.stats()?)
    }

    /// Every live passage id, in the index's internal order.
    pub fn ids(&self) -> Result<Vec<String>, EmberError> {
        Ok(self.open_state()?.index.ids()?)
    }

    /// Number of live passages.
    pub fn passage_count(&self) -> Result<u64, EmberError> {
        Ok(self.open_state()?.index.len() as u64)
    }

    /// The embedding model id the index was built with.
    pub fn model_id(&self) -> Result<String, EmberError> {
        Ok(self.open_state()?.index.model().to_owned())
    }

    /// Byte budget of the cache of recomputed embeddings (0 disables it; default 4 MiB).
    pub fn set_cache_bytes(&self, bytes: u64) -> Result<(), EmberError> {
        let bytes = usize::try_from(bytes).map_err(|_| EmberError::invalid("cache size too large"))?;
        Ok(self.open_state()?.index.set_cache_bytes(bytes)?)
    }

    /// Release the index. Idempotent; calls after it fail with `Closed`.
    pub fn close(&self) {
        self.state.write().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Whether `close()` was called.
    pub fn is_closed(&self) -> bool {
        self.state.read().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}
