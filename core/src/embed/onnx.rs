//! [`OnnxEmbedder`]: a BERT-family ONNX encoder with mean pooling, run by tract (feature `tract`)
//! or by the built-in encoder (`bert.rs`), which mobile builds use to leave tract out; or, for a
//! directory of 4-bit multilingual-e5 weights, the [`E5Embedder`] behind the same type, so every
//! surface that loads a model directory loads that one too.

#[cfg(feature = "tract")]
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
#[cfg(feature = "tract")]
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationParams};
#[cfg(feature = "tract")]
use tract_linalg::multithread::{multithread_tract_scope, Executor};
#[cfg(feature = "tract")]
use tract_onnx::prelude::*;
#[cfg(feature = "tract")]
use tract_onnx::tract_core::internal::TDim;

#[cfg(feature = "tract")]
use super::batch::{self, Batch};
use super::bert::{Bert, Config, LoadError};
use super::e5::E5Embedder;
use super::manifest::{Manifest, Weights};
use super::pool::mean_pool;
use super::EmbedderConfig;
use super::{Embedder, TextKind};
use crate::cpu::MeteredPool;
use crate::{Error, Result};

/// Largest token limit accepted: BERT-family position tables stop at 512.
pub const MAX_TOKENS_LIMIT: usize = 512;

/// Which tokenizer field feeds a model input.
#[cfg(feature = "tract")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    Ids,
    Mask,
    TypeIds,
}

#[cfg(feature = "tract")]
type Plan = Arc<TypedRunnableModel>;

/// Which engine `load_with` may use for an ONNX file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// The built-in encoder if it runs the graph, else tract.
    Auto,
    Native,
    Tract,
}

/// What runs the model.
enum Engine {
    /// tract: any ONNX graph it can type, batched.
    #[cfg(feature = "tract")]
    Tract(TractModel),
    /// The built-in encoder: f32 and int8 BERT-family exports, one text at a time.
    Native(Bert),
    /// multilingual-e5 on 4-bit weights, with its own tokenizer and prefixes.
    E5(Box<E5Embedder>),
}

#[cfg(feature = "tract")]
struct TractModel {
    /// Decluttered model with symbolic batch `b` and sequence `s`; plans are made from it per shape.
    model: TypedModel,
    b: Symbol,
    s: Symbol,
    feeds: Vec<Feed>,
    plans: Mutex<HashMap<(usize, usize), Plan>>,
}

/// A BERT-family sentence encoder: tokenizer.json + model.onnx (+ ember-model.json) from one dir.
pub struct OnnxEmbedder {
    id: String,
    dim: usize,
    max_tokens: usize,
    #[cfg_attr(not(feature = "tract"), allow(dead_code))] // the built-in encoder runs one text per call
    batch_size: usize,
    normalize: bool,
    /// The manifest's query and passage prefixes (empty when it has none).
    prefixes: (String, String),
    /// `tokenizer.json`; `None` for e5, which brings its own.
    tokenizer: Option<Tokenizer>,
    engine: Engine,
    /// Worker threads when `threads > 1`: batches run in parallel on it, or one batch's matmuls do.
    pool: Option<MeteredPool>,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl OnnxEmbedder {
    /// Load `dir/model.onnx`, `dir/tokenizer.json` and the optional `dir/ember-model.json`; run it
    /// with the built-in encoder when it can (f32 and int8 BERT-family exports: faster, and what
    /// mobile builds run), else with tract where the build has it (any other graph). A directory
    /// with `model.safetensors` instead (or a manifest saying `"weights": "safetensors"`) always
    /// runs the built-in encoder, with heads and epsilon from its `config.json` if present. A
    /// manifest saying `"weights": "e5-q4"` loads `model.q4.bin` with [`E5Embedder`] (no
    /// `tokenizer.json`; its prefixes come from the manifest).
    pub fn load(dir: impl AsRef<Path>, config: &EmbedderConfig) -> Result<Self> {
        Self::load_with(dir.as_ref(), config, Choice::Auto)
    }

    /// Load as [`OnnxEmbedder::load`] does, but always run the built-in encoder (f32 and int8
    /// BERT-family exports). Its vectors match tract's within 1e-6 on f32 models (int8 models:
    /// cosine ≥ 0.999, activations quantized) and the model id is the same, so one index serves
    /// both.
    pub fn load_native(dir: impl AsRef<Path>, config: &EmbedderConfig) -> Result<Self> {
        Self::load_with(dir.as_ref(), config, Choice::Native)
    }

    /// Load as [`OnnxEmbedder::load`] does, but run an ONNX file with tract (builds with the
    /// `tract` feature; an `UnsupportedModel` error without it): the reference for parity tests.
    pub fn load_tract(dir: impl AsRef<Path>, config: &EmbedderConfig) -> Result<Self> {
        Self::load_with(dir.as_ref(), config, Choice::Tract)
    }

    fn load_with(dir: &Path, config: &EmbedderConfig, choice: Choice) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Missing { what: "model directory", path: dir.to_path_buf() });
        }
        let manifest = Manifest::load(dir)?;
        let max_tokens = config.max_tokens.or(manifest.as_ref().map(|m| m.max_tokens)).unwrap_or(128);
        if !(3..=MAX_TOKENS_LIMIT).contains(&max_tokens) {
            return Err(Error::InvalidArgument(format!(
                "max tokens must be between 3 and {MAX_TOKENS_LIMIT}, got {max_tokens}"
            )));
        }
        if config.threads == 0 || config.batch_size == 0 {
            return Err(Error::InvalidArgument("threads and batch size must be at least 1".into()));
        }
        let weights = manifest.as_ref().map_or(Weights::Onnx, |m| m.weights);
        if weights == Weights::E5Q4 {
            return Self::load_e5(dir, manifest.as_ref(), config);
        }
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"), max_tokens)?;
        let safetensors = weights == Weights::Safetensors
            || (!dir.join("model.onnx").exists() && dir.join("model.safetensors").is_file());
        let model_path = dir.join(if safetensors { "model.safetensors" } else { "model.onnx" });
        let bytes = read_required(&model_path, "model file")?;
        let fingerprint = xxhash_rust::xxh3::xxh3_64(&bytes);
        let (engine, dim) = if safetensors {
            let config = read_config(&dir.join("config.json"))?;
            load_native(&model_path, max_tokens, || Bert::from_safetensors(&bytes, &config))?
        } else {
            match choice {
                Choice::Tract => load_tract(&model_path, &bytes, manifest.as_ref())?,
                Choice::Native => load_native(&model_path, max_tokens, || Bert::from_onnx(&bytes))?,
                Choice::Auto => match load_native(&model_path, max_tokens, || Bert::from_onnx(&bytes)) {
                    Err(Error::UnsupportedModel(_)) if cfg!(feature = "tract") => {
                        load_tract(&model_path, &bytes, manifest.as_ref())?
                    }
                    other => other?,
                },
            }
        };
        drop(bytes);
        let name = manifest
            .as_ref()
            .map(|m| m.id.clone())
            .unwrap_or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        if let Some(m) = &manifest {
            if m.dim != dim {
                return Err(Error::DimensionMismatch { expected: m.dim, found: dim });
            }
        }
        Ok(OnnxEmbedder {
            id: format!("{name}@{fingerprint:016x}"),
            dim,
            max_tokens,
            batch_size: config.batch_size,
            normalize: manifest.as_ref().is_none_or(|m| m.normalize),
            prefixes: manifest.map(|m| (m.query_prefix, m.passage_prefix)).unwrap_or_default(),
            tokenizer: Some(tokenizer),
            engine,
            pool: thread_pool(config.threads)?,
        })
    }

    /// A `"weights": "e5-q4"` directory: [`E5Embedder`] reads the same manifest (id, token limit,
    /// prefixes) and runs on any build, tract or not; its own threads replace the pool here.
    fn load_e5(dir: &Path, manifest: Option<&Manifest>, config: &EmbedderConfig) -> Result<Self> {
        let e5 = E5Embedder::load(dir, config)?;
        let dim = e5.dim();
        if let Some(m) = manifest {
            if m.dim != dim {
                return Err(Error::DimensionMismatch { expected: m.dim, found: dim });
            }
        }
        Ok(OnnxEmbedder {
            id: e5.model_id().to_owned(),
            dim,
            max_tokens: e5.max_tokens(),
            batch_size: config.batch_size,
            normalize: true,
            prefixes: (e5.prefix(TextKind::Query).to_owned(), e5.prefix(TextKind::Passage).to_owned()),
            tokenizer: None,
            engine: Engine::E5(Box::new(e5)),
            pool: None,
        })
    }

    /// The text to put before each query and before each passage, from the manifest.
    pub fn prefixes(&self) -> (&str, &str) {
        (&self.prefixes.0, &self.prefixes.1)
    }

    /// Which engine runs the model: `"tract"`, `"built-in"` (f32 or int8 BERT) or `"e5"`.
    pub fn engine(&self) -> &'static str {
        match &self.engine {
            #[cfg(feature = "tract")]
            Engine::Tract(_) => "tract",
            Engine::Native(_) => "built-in",
            Engine::E5(_) => "e5",
        }
    }

    /// The token limit in force (special tokens included).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token count of each text as given (no prefix) after truncation, special tokens included.
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>> {
        if let Engine::E5(e5) = &self.engine {
            return Ok(texts.iter().map(|t| e5.token_ids(t).len()).collect());
        }
        Ok(self.tokenize(texts)?.iter().map(|e| e.len()).collect())
    }

    fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<tokenizers::Encoding>> {
        let tokenizer = self
            .tokenizer
            .as_ref()
            .ok_or_else(|| Error::Inference("this engine has no tokenizer.json".into()))?;
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        tokenizer.encode_batch(texts, true).map_err(|e| Error::Inference(format!("tokenizing: {e}")))
    }

    #[cfg(feature = "tract")]
    fn plan(&self, t: &TractModel, rows: usize, seq: usize) -> Result<Plan> {
        if let Some(p) = t.plans.lock().map_err(poisoned)?.get(&(rows, seq)) {
            return Ok(p.clone());
        }
        // Compiled outside the lock: a concurrent caller may compile the same shape once more.
        let subs: HashMap<Symbol, TDim> =
            [(t.b.clone(), TDim::Val(rows as i64)), (t.s.clone(), TDim::Val(seq as i64))].into();
        let plan =
            guard(|| -> TractResult<Plan> { t.model.set_symbols(&subs)?.into_optimized()?.into_runnable() })
                .map_err(Error::Inference)?
                .map_err(|e| Error::Inference(format!("compiling for {rows}x{seq}: {e:#}")))?;
        t.plans.lock().map_err(poisoned)?.insert((rows, seq), plan.clone());
        Ok(plan)
    }

    #[cfg(feature = "tract")]
    fn run_batch(
        &self,
        t: &TractModel,
        enc: &[tokenizers::Encoding],
        batch: &Batch,
        exec: &Executor,
    ) -> Result<Vec<Vec<f32>>> {
        let rows = batch.rows.len();
        let seq = batch.seq;
        let mut ids = vec![0i64; rows * seq];
        let mut mask = vec![0i64; rows * seq];
        let mut types = vec![0i64; rows * seq];
        for (r, &i) in batch.rows.iter().enumerate() {
            let e = &enc[i];
            for (t, ((&id, &m), &ty)) in
                e.get_ids().iter().zip(e.get_attention_mask()).zip(e.get_type_ids()).take(seq).enumerate()
            {
                ids[r * seq + t] = i64::from(id);
                mask[r * seq + t] = i64::from(m);
                types[r * seq + t] = i64::from(ty);
            }
        }
        let tensor = |v: &[i64]| Tensor::from_shape(&[rows, seq], v);
        let inputs: TVec<TValue> = t
            .feeds
            .iter()
            .map(|f| match f {
                Feed::Ids => tensor(&ids),
                Feed::Mask => tensor(&mask),
                Feed::TypeIds => tensor(&types),
            })
            .map(|t| t.map(|t| t.into_tvalue()))
            .collect::<TractResult<_>>()
            .map_err(|e| Error::Inference(format!("{e:#}")))?;
        let plan = self.plan(t, rows, seq)?;
        let outputs = guard(|| multithread_tract_scope(exec.clone(), || plan.run(inputs)))
            .map_err(Error::Inference)?
            .map_err(|e| Error::Inference(format!("{e:#}")))?;
        let hidden = outputs.first().ok_or_else(|| Error::Inference("model returned no output".into()))?;
        let view = hidden.to_plain_array_view::<f32>().map_err(|e| Error::Inference(format!("{e:#}")))?;
        if view.shape() != [rows, seq, self.dim] {
            return Err(Error::Inference(format!(
                "token embeddings have shape {:?}, expected [{rows}, {seq}, {}]",
                view.shape(),
                self.dim
            )));
        }
        let flat =
            view.as_slice().ok_or_else(|| Error::Inference("token embeddings are not contiguous".into()))?;
        Ok(batch
            .rows
            .iter()
            .enumerate()
            .map(|(r, &i)| mean_pool(flat, seq, self.dim, enc[i].len().min(seq), r, self.normalize))
            .collect())
    }
}

impl Embedder for OnnxEmbedder {
    fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if let Engine::E5(e5) = &self.engine {
            // It applies its own prefixes (the same ones `prefix` reports).
            return e5.embed(texts, kind);
        }
        let prefix = self.prefix(kind);
        let enc = if prefix.is_empty() {
            self.tokenize(texts)?
        } else {
            let prefixed: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
            self.tokenize(prefixed.as_slice())?
        };
        match &self.engine {
            #[cfg(feature = "tract")]
            Engine::Tract(t) => self.embed_tract(t, &enc, texts.len()),
            Engine::Native(bert) => self.embed_native(bert, &enc),
            Engine::E5(_) => Err(Error::Inference("e5 texts go to its own engine".into())),
        }
    }

    fn prefix(&self, kind: TextKind) -> &str {
        match kind {
            TextKind::Query => &self.prefixes.0,
            TextKind::Passage => &self.prefixes.1,
        }
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> &str {
        &self.id
    }
}

impl OnnxEmbedder {
    /// One text per call (the built-in encoder does not pad), texts spread over the pool's threads.
    fn embed_native(&self, bert: &Bert, enc: &[tokenizers::Encoding]) -> Result<Vec<Vec<f32>>> {
        let one = |e: &tokenizers::Encoding| -> Result<Vec<f32>> {
            let seq = e.len();
            let hidden = guard(|| bert.token_embeddings(e.get_ids(), e.get_type_ids()))
                .map_err(Error::Inference)?
                .ok_or_else(|| Error::Inference("a token id is outside the model's vocabulary".into()))?;
            Ok(mean_pool(&hidden, seq, self.dim, seq, 0, self.normalize))
        };
        match &self.pool {
            Some(pool) if enc.len() > 1 => pool.run(|p| p.install(|| enc.par_iter().map(one).collect())),
            _ => enc.iter().map(one).collect(),
        }
    }

    #[cfg(feature = "tract")]
    fn embed_tract(&self, t: &TractModel, enc: &[tokenizers::Encoding], n: usize) -> Result<Vec<Vec<f32>>> {
        let lengths: Vec<usize> = enc.iter().map(|e| e.len()).collect();
        let batches = batch::plan(&lengths, self.batch_size, self.max_tokens);
        let results: Vec<Result<Vec<Vec<f32>>>> = match &self.pool {
            // Several batches: one per worker, each single-threaded (scales better than split matmuls).
            Some(pool) if batches.len() > 1 => pool.run(|p| {
                p.install(|| {
                    batches.par_iter().map(|b| self.run_batch(t, enc, b, &Executor::SingleThread)).collect()
                })
            }),
            Some(pool) => pool.run(|p| {
                let exec = Executor::MultiThread(p.clone());
                batches.iter().map(|b| self.run_batch(t, enc, b, &exec)).collect()
            }),
            None => batches.iter().map(|b| self.run_batch(t, enc, b, &Executor::SingleThread)).collect(),
        };
        let mut out = vec![Vec::new(); n];
        for (b, vectors) in batches.iter().zip(results) {
            for (&i, v) in b.rows.iter().zip(vectors?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

#[cfg(feature = "tract")]
fn load_tract(path: &Path, bytes: &[u8], manifest: Option<&Manifest>) -> Result<(Engine, usize)> {
    let (model, dim) = guard(|| prepare_model(path, bytes, manifest))
        .map_err(|detail| Error::InvalidModel { path: path.to_path_buf(), detail })??;
    Ok((Engine::Tract(model), dim))
}

#[cfg(not(feature = "tract"))]
fn load_tract(_: &Path, _: &[u8], _: Option<&Manifest>) -> Result<(Engine, usize)> {
    Err(Error::UnsupportedModel("this build has no tract".into()))
}

/// The built-in encoder, checked against the token limit in force.
fn load_native(
    path: &Path,
    max_tokens: usize,
    read: impl FnOnce() -> std::result::Result<Bert, LoadError>,
) -> Result<(Engine, usize)> {
    let bert = guard(read)
        .map_err(|detail| Error::InvalidModel { path: path.to_path_buf(), detail })?
        .map_err(|e| match e {
            LoadError::Unreadable(detail) => Error::InvalidModel { path: path.to_path_buf(), detail },
            LoadError::Unsupported(detail) => Error::UnsupportedModel(detail),
        })?;
    if max_tokens > bert.max_positions() {
        return Err(Error::InvalidArgument(format!(
            "max tokens {max_tokens} exceed the model's {} positions",
            bert.max_positions()
        )));
    }
    let dim = bert.dim();
    Ok((Engine::Native(bert), dim))
}

/// Parse, bind inputs to `[b, s]` i64, keep only the token-embedding output, declutter.
#[cfg(feature = "tract")]
fn prepare_model(path: &Path, bytes: &[u8], manifest: Option<&Manifest>) -> Result<(TractModel, usize)> {
    let invalid = |detail: String| Error::InvalidModel { path: path.to_path_buf(), detail };
    if bytes.is_empty() {
        return Err(invalid("the file is empty".into()));
    }
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| invalid(format!("not a readable ONNX model ({e:#})")))?;
    let b = model.sym("batch");
    let s = model.sym("sequence");
    let mut feeds = Vec::new();
    let inputs = model.input_outlets().map_err(|e| invalid(format!("{e:#}")))?.to_vec();
    for (ix, outlet) in inputs.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let feed = match name.as_str() {
            "input_ids" => Feed::Ids,
            "attention_mask" => Feed::Mask,
            "token_type_ids" => Feed::TypeIds,
            other => {
                return Err(Error::UnsupportedModel(format!(
                    "input {other:?} is not one of input_ids, attention_mask, token_type_ids"
                )))
            }
        };
        feeds.push(feed);
        let shape: TVec<TDim> = tvec!(b.clone().into(), s.clone().into());
        let fact = InferenceFact::dt_shape(i64::datum_type(), shape);
        model = model.with_input_fact(ix, fact).map_err(|e| invalid(format!("{e:#}")))?;
    }
    for needed in [Feed::Ids, Feed::Mask] {
        if !feeds.contains(&needed) {
            return Err(Error::UnsupportedModel(format!(
                "the model has no {} input",
                if needed == Feed::Ids { "input_ids" } else { "attention_mask" }
            )));
        }
    }
    let mut typed =
        model.into_typed().map_err(|e| Error::UnsupportedModel(format!("cannot type the graph: {e:#}")))?;
    let outlet = choose_output(&typed, manifest.and_then(|m| m.token_embeddings_output.as_deref()))?;
    let dim = typed
        .outlet_fact(outlet)
        .ok()
        .and_then(|f| f.shape.last().and_then(|d| d.to_i64().ok()))
        .and_then(|d| usize::try_from(d).ok())
        .ok_or_else(|| Error::UnsupportedModel("the token-embedding output has no fixed width".into()))?;
    typed.select_output_outlets(&[outlet]).map_err(|e| invalid(format!("{e:#}")))?;
    let model = typed
        .into_decluttered()
        .map_err(|e| Error::UnsupportedModel(format!("cannot simplify the graph: {e:#}")))?;
    Ok((TractModel { model, b, s, feeds, plans: Mutex::new(HashMap::new()) }, dim))
}

/// The output holding `[batch, seq, hidden]` token embeddings: by manifest name, else the single
/// rank-3 output with a fixed last dimension.
#[cfg(feature = "tract")]
fn choose_output(model: &TypedModel, wanted: Option<&str>) -> Result<OutletId> {
    let outputs = model.output_outlets().map_err(|e| Error::UnsupportedModel(format!("{e:#}")))?;
    let label = |o: &OutletId| {
        model.outlet_label(*o).map(str::to_owned).unwrap_or_else(|| model.node(o.node).name.clone())
    };
    if let Some(name) = wanted {
        return outputs.iter().find(|o| label(o) == name).copied().ok_or_else(|| {
            let names: Vec<String> = outputs.iter().map(label).collect();
            Error::UnsupportedModel(format!("no output named {name:?} (outputs: {names:?})"))
        });
    }
    let rank3: Vec<OutletId> = outputs
        .iter()
        .filter(|o| {
            model
                .outlet_fact(**o)
                .is_ok_and(|f| f.rank() == 3 && f.shape.last().is_some_and(|d| d.to_i64().is_ok()))
        })
        .copied()
        .collect();
    match rank3.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::UnsupportedModel("no [batch, seq, hidden] output".into())),
        many => Err(Error::UnsupportedModel(format!(
            "several [batch, seq, hidden] outputs ({:?}); name one in ember-model.json",
            many.iter().map(label).collect::<Vec<_>>()
        ))),
    }
}

fn load_tokenizer(path: &Path, max_tokens: usize) -> Result<Tokenizer> {
    let err = |detail: String| Error::Tokenizer { path: path.to_path_buf(), detail };
    let bytes = read_required(path, "tokenizer file")?;
    let mut tok = Tokenizer::from_bytes(&bytes).map_err(|e| err(e.to_string()))?;
    // tokenizer.json hard-codes truncation and fixed padding at 128: ours wins, and we pad per batch.
    let trunc = TruncationParams { max_length: max_tokens, ..TruncationParams::default() };
    tok.with_truncation(Some(trunc)).map_err(|e| err(e.to_string()))?;
    tok.with_padding(None);
    Ok(tok)
}

/// A checkpoint's optional `config.json` (default settings when absent), bounded before reading.
fn read_config(path: &Path) -> Result<Config> {
    const MAX_CONFIG: u64 = 1 << 20;
    let invalid = |detail: String| Error::InvalidModel { path: path.to_path_buf(), detail };
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(Error::io("reading", path, e)),
        Ok(m) if m.len() > MAX_CONFIG => {
            return Err(invalid(format!("{} bytes (limit {MAX_CONFIG})", m.len())))
        }
        Ok(_) => {}
    }
    let bytes = read_required(path, "config file")?;
    Config::parse(&bytes).map_err(|e| match e {
        LoadError::Unreadable(d) | LoadError::Unsupported(d) => invalid(d),
    })
}

fn read_required(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Missing { what, path: PathBuf::from(path) },
        _ => Error::io("reading", path, e),
    })
}

fn thread_pool(threads: usize) -> Result<Option<MeteredPool>> {
    if threads <= 1 {
        return Ok(None);
    }
    // 384-wide matmuls have few panels: thread them anyway (tract's default gate is 64 panels).
    #[cfg(feature = "tract")]
    tract_linalg::multithread::set_threading_panel_threshold(4);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ember-embed-{i}"))
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
    Ok(Some(MeteredPool::new(pool)))
}

/// Run `f`, turning a panic inside tract or the tokenizer into an error message.
fn guard<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("internal failure: {msg}")
    })
}

#[cfg(feature = "tract")]
fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::Inference("plan cache lock poisoned".into())
}
