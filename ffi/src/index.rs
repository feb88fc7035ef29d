//! `EmberIndex`: an index directory opened (or built) with the embedder that searches it.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use crate::embedder::Model;
use crate::{
    CancellationToken, Embedder, EmberError, IndexConfig, IndexStats, Passage, ProgressListener,
    SearchOptions, SearchReport,
};

/// A semantic index on local storage. Thread-safe: searches may run on several threads at once.
///
/// `close()` releases the files; calls after it fail with `Closed`, while searches already running
/// finish on what they hold. Dropping the object closes it too.
#[derive(Debug, uniffi::Object)]
pub struct EmberIndex {
    state: RwLock<Option<Arc<Open>>>,
}

#[derive(Debug)]
struct Open {
    index: ember_core::Index,
    model: Option<Model>,
}

impl EmberIndex {
    fn wrap(index: ember_core::Index, model: Option<Model>) -> Arc<Self> {
        Arc::new(EmberIndex { state: RwLock::new(Some(Arc::new(Open { index, model }))) })
    }

    /// The open state, or `Closed`.
    fn open_state(&self) -> Result<Arc<Open>, EmberError> {
        self.state.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or(EmberError::Closed)
    }

    /// The Rust-side constructor behind [`EmberIndex::create`], with a plain progress closure (the C
    /// ABI's callback).
    pub(crate) fn create_with(
        dir: &str,
        embedder: Arc<dyn Embedder>,
        passages: Vec<Passage>,
        config: IndexConfig,
        progress: &mut dyn FnMut(usize, usize),
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
        let progress = std::cell::RefCell::new(progress);
        let report = |done: u64, total: u64| {
            if let Ok(mut p) = progress.try_borrow_mut() {
                p(done as usize, total as usize);
            }
        };
        let task = ember_core::Task { progress: Some(&report), cancel: None };
        let index =
            bridge.finish(ember_core::Index::build(Path::new(dir), &bridge, &passages, &config, &task))?;
        log::info!(
            "built {} passages in {dir} in {:.0} ms",
            passages.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
        Ok(Self::wrap(index, Some(model)))
    }

    /// Search with a text query and core's options (the C ABI's entry point).
    pub(crate) fn search_with(
        &self,
        query: &str,
        options: SearchOptions,
    ) -> Result<SearchReport, EmberError> {
        let open = self.open_state()?;
        let model = open
            .model
            .as_ref()
            .ok_or_else(|| EmberError::invalid("a text search needs an index opened with an embedder"))?;
        let bridge = model.bridge();
        let (report, embed_ms) = bridge.finish(open.index.search_text(query, &bridge, &options.into()))?;
        Ok(SearchReport::from_core(report, embed_ms))
    }

    /// Search with a query vector (the C ABI's entry point).
    pub(crate) fn search_vector_with(
        &self,
        vector: &[f32],
        options: SearchOptions,
    ) -> Result<SearchReport, EmberError> {
        let open = self.open_state()?;
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(EmberError::invalid("query vector has NaN or infinity"));
        }
        let mut query = vector.to_vec();
        ember_core::embed::l2_normalize(&mut query);
        let bridge = open.model.as_ref().map(Model::bridge);
        let embedder = bridge.as_ref().map(|b| b as &dyn ember_core::Embedder);
        let result = open.index.search(&query, embedder, &options.into());
        let report = match &bridge {
            Some(b) => b.finish(result)?,
            None => result?,
        };
        Ok(SearchReport::from_core(report, 0.0))
    }
}

#[uniffi::export]
impl EmberIndex {
    /// Build an index of `passages` in `dir` (created if needed; an index already there is
    /// replaced atomically) and open it. `listener` hears progress between embedding chunks.
    /// `cancel`, if already cancelled, stops the build before it starts (see `CancellationToken`).
    #[uniffi::constructor(default(config = None, listener = None, cancel = None))]
    pub fn create(
        dir: String,
        embedder: Arc<dyn Embedder>,
        passages: Vec<Passage>,
        config: Option<IndexConfig>,
        listener: Option<Arc<dyn ProgressListener>>,
        cancel: Option<Arc<CancellationToken>>,
    ) -> Result<Arc<Self>, EmberError> {
        let mut progress = |done: usize, total: usize| {
            if let Some(l) = &listener {
                l.on_progress(done as u64, total as u64);
            }
        };
        Self::create_with(
            &dir,
            embedder,
            passages,
            config.unwrap_or_default(),
            &mut progress,
            cancel.as_deref(),
        )
    }

    /// Open the index in `dir`, validating it. Give the embedder it was built with to search by
    /// text (and for `Recompute` mode); without one, only vector searches in `StoredRerank` or
    /// `CodesOnly` mode work.
    #[uniffi::constructor(default(embedder = None))]
    pub fn open(dir: String, embedder: Option<Arc<dyn Embedder>>) -> Result<Arc<Self>, EmberError> {
        let index = ember_core::Index::open(Path::new(&dir))?;
        let model = embedder.map(Model::new).transpose()?;
        if let Some(m) = &model {
            index.check_model(&m.id)?;
            if m.dim != index.dim() {
                return Err(EmberError::DimensionMismatch {
                    expected: index.dim() as u64,
                    found: m.dim as u64,
                });
            }
        }
        log::debug!("opened {dir}: {} passages", index.len());
        Ok(Self::wrap(index, model))
    }

    /// The `options.k` passages closest in meaning to `query` (core's defaults when `None`).
    #[uniffi::method(default(options = None))]
    pub fn search(&self, query: String, options: Option<SearchOptions>) -> Result<SearchReport, EmberError> {
        self.search_with(&query, options.unwrap_or_default())
    }

    /// Search with a query vector of the index's dimension (normalized by Ember).
    #[uniffi::method(default(options = None))]
    pub fn search_vector(
        &self,
        vector: Vec<f32>,
        options: Option<SearchOptions>,
    ) -> Result<SearchReport, EmberError> {
        self.search_vector_with(&vector, options.unwrap_or_default())
    }

    /// Sizes and counts.
    pub fn stats(&self) -> Result<IndexStats, EmberError> {
        Ok(self.open_state()?.index.stats().map_err(EmberError::from)?.into())
    }

    /// Every passage id, in the index's internal order.
    pub fn ids(&self) -> Result<Vec<String>, EmberError> {
        Ok(self.open_state()?.index.ids()?)
    }

    /// Number of passages.
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

    /// Release the index's files. Idempotent.
    pub fn close(&self) {
        self.state.write().unwrap_or_else(PoisonError::into_inner).take();
    }

    /// Whether `close()` was called.
    pub fn is_closed(&self) -> bool {
        self.state.read().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}
