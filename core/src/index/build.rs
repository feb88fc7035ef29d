//! Building an index: embed passages, train codes, build and prune the graph, publish a segment.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files;
use super::metadata::{self, Metadata};
use super::open::{Index, OpenOptions};
use super::sidecar::{self, Precision};
use super::task::Task;
use crate::graph::{self, Graph, GraphParams};
use crate::quant::{QuantParams, Quantizer, MAX_CODE_DIMS, MAX_DIM};
use crate::store::{encode_ids, encode_texts, RealStorage, SectionKind, SegmentWriter, Storage};
use crate::{Embedder, Error, Result};

/// One passage to index: the app's id, its text and optional metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Passage {
    /// The app's identifier, unique within the index (at most 1 KiB of UTF-8).
    pub id: String,
    /// The text that is embedded, stored and returned.
    pub text: String,
    /// Key → value pairs that filters test.
    pub metadata: Metadata,
}

impl Passage {
    /// A passage without metadata.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Passage {
        Passage { id: id.into(), text: text.into(), metadata: Metadata::new() }
    }
}

/// Whether and how full-precision vectors are kept beside the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum VectorStorage {
    /// No sidecar: exact distances come from recomputing embeddings.
    None,
    /// 2 bytes per dimension.
    F16,
    /// 4 bytes per dimension.
    F32,
}

impl VectorStorage {
    pub(crate) fn precision(self) -> Option<Precision> {
        match self {
            VectorStorage::None => None,
            VectorStorage::F16 => Some(Precision::F16),
            VectorStorage::F32 => Some(Precision::F32),
        }
    }
}

/// How an index is built.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Graph construction and pruning.
    pub graph: GraphParams,
    /// Code dimensions: 0 for the model's full dimension (rotation only; at most
    /// [`crate::quant::MAX_CODE_DIMS`]), or fewer (a multiple of 8) for a PCA projection whose
    /// basis is stored with the index (required for models wider than that).
    pub code_dims: usize,
    /// Bits per code dimension, 1 to 4.
    pub code_bits: u8,
    /// Seed of the code rotation.
    pub seed: u64,
    /// Vector sidecar written at build time.
    pub vectors: VectorStorage,
    /// Passages embedded per call (progress is reported between calls).
    pub embed_chunk: usize,
    /// The token limit passages were embedded with, recorded so searches can use the same.
    pub max_tokens: Option<usize>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        // Chosen on 10k Debian-doc passages and the man pages (docs/BENCHMARKS.md): 1-bit codes over
        // the full rotated dimension (no PCA basis to store, nothing truncated) with m=12, M=32 give
        // 7.6% of the text and recall@3 0.96 at beam 512, rerank 50. PCA-96 × 3 bits was smaller
        // but lost 5% of true top-1s on the man pages (their residual outside the PCA subspace).
        IndexConfig {
            graph: GraphParams {
                degree: 12,
                max_degree: 32,
                // `--build-beam 128` lifts stored recall@3 at search beam 256 from 0.927 to 0.954 on
                // debian-10k, but on 1,000 man pages it lowers recall at beam 64 and after compaction
                // (tests/churn.rs fails): 64 stays the default (docs/BENCHMARKS.md).
                ..GraphParams::default()
            },
            code_dims: 0,
            code_bits: 1,
            seed: 0x0045_4d42_4552, // "EMBER"
            vectors: VectorStorage::None,
            embed_chunk: 256,
            max_tokens: None,
        }
    }
}

/// What the segment's meta section records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub format: String,
    pub model: String,
    pub dim: usize,
    pub passages: usize,
    pub text_bytes: u64,
    pub generation: u64,
    pub code_dims: usize,
    pub code_bits: u8,
    pub graph_max_degree: usize,
    pub graph_degree: usize,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    pub created_by: String,
}

impl Index {
    /// Build an index of `passages` in `dir` (created if needed; a previous index there is replaced
    /// atomically, its log and vectors included). `task` reports embedding progress and can cancel
    /// (nothing is written until the end).
    pub fn build(
        dir: &Path,
        embedder: &dyn Embedder,
        passages: &[Passage],
        config: &IndexConfig,
        task: &Task,
    ) -> Result<Index> {
        validate_passages(passages, embedder.dim(), config)?;
        let dim = embedder.dim();
        let total = passages.len() as u64;
        let mut vectors = Vec::with_capacity(passages.len() * dim);
        for chunk in passages.chunks(config.embed_chunk.max(1)) {
            task.check()?;
            let texts: Vec<&str> = chunk.iter().map(|p| p.text.as_str()).collect();
            for v in embedder.embed(&texts)? {
                if v.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
                }
                vectors.extend(v);
            }
            task.progress((vectors.len() / dim.max(1)) as u64, total);
        }
        task.check()?;
        build_from_vectors(&RealStorage, dir, embedder.model_id(), dim, passages, &vectors, config)
    }

    /// Build from vectors the caller already computed (one unit vector per passage, in order, from
    /// the model named `model_id`): for apps that embed on an accelerator, and for benchmarks.
    pub fn build_with_vectors(
        dir: &Path,
        model_id: &str,
        passages: &[Passage],
        vectors: &[Vec<f32>],
        config: &IndexConfig,
    ) -> Result<Index> {
        let dim = vectors.first().map_or(0, Vec::len);
        if vectors.len() != passages.len() {
            return Err(Error::InvalidArgument(format!(
                "{} vectors for {} passages",
                vectors.len(),
                passages.len()
            )));
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != dim) {
            return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
        }
        validate_passages(passages, dim, config)?;
        let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
        build_from_vectors(&RealStorage, dir, model_id, dim, passages, &flat, config)
    }

    /// An empty index for `model_id` vectors of `dim`, to fill with `add`.
    pub fn create(dir: &Path, model_id: &str, dim: usize, config: &IndexConfig) -> Result<Index> {
        validate_passages(&[], dim, config)?;
        build_from_vectors(&RealStorage, dir, model_id, dim, &[], &[], config)
    }
}

pub(crate) fn validate_passages(passages: &[Passage], dim: usize, config: &IndexConfig) -> Result<()> {
    config.graph.validate()?;
    if dim == 0 || dim > MAX_DIM {
        return Err(Error::InvalidArgument(format!("dimension must be 1 to {MAX_DIM}, got {dim}")));
    }
    let dims = code_dims(config, dim);
    if dims > dim || !dims.is_multiple_of(8) {
        return Err(Error::InvalidArgument(format!(
            "code dimensions {dims} must be a multiple of 8 and at most the model's {dim}"
        )));
    }
    if dims > MAX_CODE_DIMS {
        // Not chosen silently: a PCA that wide costs minutes to train on a phone.
        return Err(Error::InvalidArgument(format!(
            "code dimensions {dims} exceed {MAX_CODE_DIMS} (the rotation rebuilt at every open grows \
             with their cube): set IndexConfig::code_dims to at most {MAX_CODE_DIMS} for this model"
        )));
    }
    let mut seen = HashSet::with_capacity(passages.len());
    for p in passages {
        validate_passage(p)?;
        if !seen.insert(p.id.as_str()) {
            return Err(Error::InvalidArgument(format!("duplicate passage id {:?}", p.id)));
        }
    }
    if passages.len() >= u32::MAX as usize / 2 {
        return Err(Error::InvalidArgument("too many passages for one index".into()));
    }
    Ok(())
}

/// The code dimensions a config asks for: `code_dims`, or by default the model's dimension.
fn code_dims(config: &IndexConfig, dim: usize) -> usize {
    match config.code_dims {
        0 => dim,
        d => d,
    }
}

/// One passage's id and metadata.
pub(crate) fn validate_passage(p: &Passage) -> Result<()> {
    if p.id.len() > crate::store::MAX_ID_BYTES {
        return Err(Error::InvalidArgument(format!("passage id longer than 1 KiB: {:.40}…", p.id)));
    }
    metadata::validate(&p.metadata)
}

/// Everything a segment holds, in internal order.
pub(crate) struct SegmentParts<'a> {
    pub meta: Meta,
    pub quantizer: &'a Quantizer,
    pub codes: Vec<u8>,
    pub graph: &'a Graph,
    pub ids: Vec<&'a str>,
    pub texts: Vec<&'a str>,
    pub metadata: Vec<&'a Metadata>,
    pub flags: Option<Vec<u8>>,
}

/// Write the segment of `parts.meta.generation` (not yet published); returns its file name and
/// fingerprint.
pub(crate) fn write_segment(storage: &dyn Storage, dir: &Path, parts: SegmentParts) -> Result<(String, u64)> {
    let encoded = graph::encode(parts.graph)?;
    let mut w = SegmentWriter::new();
    let meta_json = serde_json::to_vec(&parts.meta).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    w.add(SectionKind::Meta, meta_json);
    w.add(SectionKind::Quantizer, parts.quantizer.to_bytes());
    w.add(SectionKind::Codes, parts.codes);
    let mut header = Vec::with_capacity(8);
    header.extend_from_slice(&encoded.entry.to_le_bytes());
    header.extend_from_slice(&encoded.n.to_le_bytes());
    w.add(
        SectionKind::GraphBlocks,
        header.into_iter().chain(bytemuck::cast_slice(&encoded.block_offsets).iter().copied()).collect(),
    );
    w.add(SectionKind::GraphLengths, encoded.lengths.clone());
    w.add(SectionKind::GraphEdges, encoded.edges.clone());
    w.add(SectionKind::Ids, encode_ids(&parts.ids));
    w.add(SectionKind::Text, encode_texts(&parts.texts));
    if let Some(flags) = parts.flags.filter(|f| f.iter().any(|&b| b != 0)) {
        w.add(SectionKind::Flags, flags);
    }
    if let Some(m) = metadata::encode_section(parts.metadata.iter().copied()) {
        w.add(SectionKind::Metadata, m);
    }
    let image = w.to_bytes();
    let fingerprint = crate::store::fingerprint(&image).unwrap_or(0);
    let name = files::segment(parts.meta.generation);
    storage.atomic_write(&dir.join(&name), &image)?;
    Ok((name, fingerprint))
}

/// Make `segment_name` current (the commit point), then drop every other generation's files (a
/// failure there is harmless: the next open removes them).
pub(crate) fn publish(storage: &dyn Storage, dir: &Path, segment_name: &str) -> Result<()> {
    storage.atomic_write(&dir.join(files::CURRENT), segment_name.as_bytes())?;
    let _ = files::remove_stale(storage, dir, files::generation_of(segment_name).unwrap_or(0));
    Ok(())
}

/// Build from already computed unit vectors (row-major, in `passages` order).
pub(crate) fn build_from_vectors(
    storage: &dyn Storage,
    dir: &Path,
    model: &str,
    dim: usize,
    passages: &[Passage],
    vectors: &[f32],
    config: &IndexConfig,
) -> Result<Index> {
    let n = passages.len();
    let graph = graph::build(vectors, dim, &config.graph)?;
    // Renumber for locality: neighbour ids become close, so their deltas encode in fewer bytes.
    let order = graph::locality_order(&graph);
    let graph = graph::permute(&graph, &order);
    let old = || order.iter().map(|&i| i as usize);
    let vecs: Vec<f32> = old().flat_map(|i| vectors[i * dim..(i + 1) * dim].iter().copied()).collect();

    let dims = code_dims(config, dim);
    let params = QuantParams { dims, bits: config.code_bits, seed: config.seed };
    let sample_stride = (n / 20_000).max(1);
    let sample: Vec<f32> = vecs.chunks_exact(dim).step_by(sample_stride).flatten().copied().collect();
    let quantizer = if n == 0 {
        Quantizer::train(&vec![0.0; dim], dim, params)?
    } else {
        Quantizer::train(&sample, dim, params)?
    };
    let cb = quantizer.code_bytes();
    let mut codes = vec![0u8; n * cb];
    for (v, out) in vecs.chunks_exact(dim).zip(codes.chunks_exact_mut(cb)) {
        quantizer.encode(v, out)?;
    }

    storage.create_dir_all(dir)?;
    // Refuse to replace an index another handle is writing to.
    let lock = super::open::take_lock(dir)?;
    let generation = files::current_generation(dir).unwrap_or(0) + 1;
    let meta = Meta {
        format: "ember-index".into(),
        model: model.to_owned(),
        dim,
        passages: n,
        text_bytes: passages.iter().map(|p| p.text.len() as u64).sum(),
        generation,
        code_dims: dims,
        code_bits: config.code_bits,
        graph_max_degree: config.graph.max_degree,
        graph_degree: config.graph.degree,
        max_tokens: config.max_tokens,
        created_by: format!("ember {}", env!("CARGO_PKG_VERSION")),
    };
    let parts = SegmentParts {
        meta,
        quantizer: &quantizer,
        codes,
        graph: &graph,
        ids: old().map(|i| passages[i].id.as_str()).collect(),
        texts: old().map(|i| passages[i].text.as_str()).collect(),
        metadata: old().map(|i| &passages[i].metadata).collect(),
        flags: None,
    };
    let (segment_name, fingerprint) = write_segment(storage, dir, parts)?;
    if let Some(precision) = config.vectors.precision() {
        sidecar::write(storage, &dir.join(files::vectors(generation)), &vecs, dim, precision, fingerprint)?;
    }
    publish(storage, dir, &segment_name)?;
    Index::open_locked(dir, OpenOptions::default(), Some(lock))
}
