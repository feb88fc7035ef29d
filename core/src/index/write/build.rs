//! Building an index: embed passages, train codes, build and prune the graph, publish a segment.

use std::collections::HashSet;
use std::path::Path;

use super::calibrate::{calibrate, Sample};
use super::open::take_lock;
use super::staged::Staged;
use crate::graph;
use crate::index::files;
use crate::index::handle::Index;
use crate::index::keyword;
use crate::index::options::{IndexConfig, OpenOptions, TextStorage};
use crate::index::passage::{validate_passage, Passage};
use crate::index::segment::meta::Meta;
use crate::index::segment::publish::publish;
use crate::index::segment::write::{write_segment, SegmentParts, SegmentText};
use crate::index::sidecar;
use crate::index::source::fingerprint;
use crate::index::task::Task;
use crate::quant::{QuantParams, Quantizer, MAX_CODE_DIMS, MAX_DIM};
use crate::store::{RealStorage, Storage};
use crate::{Embedder, Error, Prefixes, Result, TextKind};

impl Index {
    /// Build an index of `passages` in `dir` (created if needed; a previous index there is replaced
    /// atomically, its log and vectors included). `task` reports embedding progress and can cancel
    /// (nothing of the index is written until the end; with an f16 sidecar, rows past the first
    /// MiB wait in an unlinked scratch file in `dir`, which is created for it).
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
        let mut vectors = Staged::for_sidecar(config.vectors, passages.len(), dim, dir);
        let mut done = 0;
        for chunk in passages.chunks(config.embed_chunk.max(1)) {
            task.check()?;
            let texts: Vec<&str> = chunk.iter().map(|p| p.text.as_str()).collect();
            for v in embedder.embed(&texts, TextKind::Passage)? {
                if v.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
                }
                vectors.push(&v)?;
                done += 1;
            }
            task.progress(done, total);
        }
        task.check()?;
        let prefixes = Prefixes::of(embedder);
        let built =
            Built { model: embedder.model_id(), prefixes: &prefixes, dim, calibrate_with: Some(embedder) };
        build_from_vectors(&RealStorage, dir, &built, passages, vectors, config)
    }

    /// Build from vectors the caller already computed (one unit vector per passage, in order, from
    /// the model named `model_id`, embedded as passages with `prefixes`, which the index records:
    /// `Prefixes::default()` for symmetric models): for apps that embed on an accelerator, and for
    /// benchmarks. With `calibrate_with` (the same model), the search defaults are measured on
    /// this index as [`Index::build`] does (a few hundred short queries embedded); without, the
    /// index gets the fixed defaults scaled by its size. `vectors` may be borrowed (`&rows`) or
    /// given (`rows`): given rows are freed one by one as they are staged.
    pub fn build_with_vectors<V: AsRef<[f32]>>(
        dir: &Path,
        model_id: &str,
        prefixes: &Prefixes,
        passages: &[Passage],
        vectors: impl IntoIterator<Item = V>,
        config: &IndexConfig,
        calibrate_with: Option<&dyn Embedder>,
    ) -> Result<Index> {
        let mut vectors = vectors.into_iter().peekable();
        let dim = vectors.peek().map_or(0, |v| v.as_ref().len());
        if dim > 0 {
            check_dim(dim)?; // before allocating n × dim
        }
        let mut staged = Staged::for_sidecar(config.vectors, passages.len(), dim, dir);
        let mut count = 0;
        for v in vectors {
            let v = v.as_ref();
            if v.len() != dim {
                return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
            }
            count += 1;
            if count > passages.len() {
                break;
            }
            staged.push(v)?;
        }
        if count != passages.len() {
            let more = if count > passages.len() { "more" } else { "fewer" };
            return Err(Error::InvalidArgument(format!(
                "{more} vectors than the {} passages",
                passages.len()
            )));
        }
        validate_passages(passages, dim, config)?;
        let built = Built { model: model_id, prefixes, dim, calibrate_with };
        build_from_vectors(&RealStorage, dir, &built, passages, staged, config)
    }

    /// An empty index for `model_id` vectors of `dim` made with `prefixes`, to fill with `add`.
    pub fn create(
        dir: &Path,
        model_id: &str,
        prefixes: &Prefixes,
        dim: usize,
        config: &IndexConfig,
    ) -> Result<Index> {
        validate_passages(&[], dim, config)?;
        let built = Built { model: model_id, prefixes, dim, calibrate_with: None };
        let none = Staged::for_sidecar(config.vectors, 0, dim, dir);
        build_from_vectors(&RealStorage, dir, &built, &[], none, config)
    }
}

pub(crate) fn validate_passages(passages: &[Passage], dim: usize, config: &IndexConfig) -> Result<()> {
    config.graph.validate()?;
    check_dim(dim)?;
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

fn check_dim(dim: usize) -> Result<()> {
    if dim == 0 || dim > MAX_DIM {
        return Err(Error::InvalidArgument(format!("dimension must be 1 to {MAX_DIM}, got {dim}")));
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

/// What made the vectors of a build: the model, its prefixes and dimension, and (to measure the
/// search defaults with) the model itself when the caller has it.
pub(crate) struct Built<'a> {
    pub model: &'a str,
    pub prefixes: &'a Prefixes,
    pub dim: usize,
    pub calibrate_with: Option<&'a dyn Embedder>,
}

/// Build from already computed unit vectors (in `passages` order; taken, to be renumbered in
/// place: at a million passages a second copy would be 0.39 GB even in i8).
pub(crate) fn build_from_vectors(
    storage: &dyn Storage,
    dir: &Path,
    built: &Built,
    passages: &[Passage],
    mut vecs: Staged,
    config: &IndexConfig,
) -> Result<Index> {
    let (model, prefixes, dim) = (built.model, built.prefixes, built.dim);
    let n = passages.len();
    let graph = graph::build_rows(vecs.rows(), dim, &config.graph)?;
    // Renumber for locality: neighbour ids become close, so their deltas encode in fewer bytes.
    let order = graph::locality_order(&graph);
    let graph = graph::permute_owned(graph, &order);
    let old = || order.iter().map(|&i| i as usize);
    vecs.permute(dim, &order)?;
    let rows = vecs.rows();
    let mut buf = Vec::with_capacity(dim);

    let dims = code_dims(config, dim);
    let params = QuantParams { dims, bits: config.code_bits, seed: config.seed };
    let sample_stride = (n / 20_000).max(1);
    let sample: Vec<f32> =
        (0..n as u32).step_by(sample_stride).flat_map(|i| rows.row(dim, i, &mut buf).to_vec()).collect();
    let quantizer = if n == 0 {
        Quantizer::train(&vec![0.0; dim], dim, params)?
    } else {
        Quantizer::train(&sample, dim, params)?
    };
    let cb = quantizer.code_bytes();
    let mut codes = vec![0u8; n * cb];
    for (i, out) in codes.chunks_exact_mut(cb).enumerate() {
        quantizer.encode(rows.row(dim, i as u32, &mut buf), out)?;
    }

    let search = match built.calibrate_with {
        Some(embedder) => {
            let texts: Vec<&str> = old().map(|i| passages[i].text.as_str()).collect();
            let sample = Sample {
                graph: &graph,
                quantizer: &quantizer,
                codes: &codes,
                vectors: rows,
                dim,
                texts: &texts,
            };
            calibrate(&sample, embedder, config.seed)?
        }
        None => None,
    };
    vecs.release_rows();

    storage.create_dir_all(dir)?;
    // Refuse to replace an index another handle is writing to.
    let lock = take_lock(dir)?;
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
        query_prefix: prefixes.query.clone(),
        passage_prefix: prefixes.passage.clone(),
        text: config.text,
        search,
        created_by: format!("ember {}", env!("CARGO_PKG_VERSION")),
    };
    let text = match config.text {
        TextStorage::Store => SegmentText::Stored(old().map(|i| passages[i].text.as_str()).collect()),
        TextStorage::None => SegmentText::Held(old().map(|i| fingerprint(&passages[i].text)).collect()),
    };
    let parts = SegmentParts {
        meta,
        quantizer: &quantizer,
        codes,
        graph: &graph,
        ids: old().map(|i| passages[i].id.as_str()).collect(),
        text,
        metadata: old().map(|i| &passages[i].metadata).collect(),
        flags: None,
    };
    let (segment_name, fingerprint) = write_segment(storage, dir, parts)?;
    if let Some(precision) = config.vectors.precision() {
        let path = dir.join(files::vectors(generation));
        let piece = |range| vecs.sidecar_piece(dim, precision, range);
        sidecar::write_pieces(storage, &path, n, dim, precision, fingerprint, &piece)?;
    }
    if let Some(analysis) = config.keywords {
        let docs: Vec<(u32, &str)> =
            old().enumerate().map(|(k, i)| (k as u32, passages[i].text.as_str())).collect();
        keyword::write(storage, dir, generation, &docs, analysis)?;
    }
    publish(storage, dir, &segment_name)?;
    Index::open_locked(dir, OpenOptions::default(), Some(lock))
}
