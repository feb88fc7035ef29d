//! Building an index: embed passages, train codes, build and prune the graph, publish a segment.

use std::collections::HashSet;
use std::path::Path;

use super::calibrate::{calibrate, Sample};
use super::open::take_lock;
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
            for v in embedder.embed(&texts, TextKind::Passage)? {
                if v.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: v.len() });
                }
                vectors.extend(v);
            }
            task.progress((vectors.len() / dim.max(1)) as u64, total);
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
    /// index gets the fixed defaults scaled by its size.
    pub fn build_with_vectors(
        dir: &Path,
        model_id: &str,
        prefixes: &Prefixes,
        passages: &[Passage],
        vectors: &[Vec<f32>],
        config: &IndexConfig,
        calibrate_with: Option<&dyn Embedder>,
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
        let built = Built { model: model_id, prefixes, dim, calibrate_with };
        build_from_vectors(&RealStorage, dir, &built, passages, flat, config)
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
        build_from_vectors(&RealStorage, dir, &built, &[], Vec::new(), config)
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

/// Reorder the rows of `rows` (row-major, `dim` wide) so that row `k` becomes the old row
/// `order[k]`, in place: one row of scratch and a bit per row, following each cycle once.
fn permute_rows(rows: &mut [f32], dim: usize, order: &[u32]) -> Result<()> {
    let n = order.len();
    if dim == 0 || rows.len() != n * dim {
        return Err(Error::InvalidArgument(format!("{} values for {n} rows of {dim}", rows.len())));
    }
    let mut placed = vec![false; n];
    let mut scratch = vec![0f32; dim];
    for start in 0..n {
        if placed[start] {
            continue;
        }
        scratch.copy_from_slice(&rows[start * dim..(start + 1) * dim]);
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                rows[at * dim..(at + 1) * dim].copy_from_slice(&scratch);
                break;
            }
            if from >= n || placed[from] {
                return Err(Error::InvalidArgument("row order is not a permutation".into()));
            }
            rows.copy_within(from * dim..(from + 1) * dim, at * dim);
            at = from;
        }
    }
    Ok(())
}

/// What made the vectors of a build: the model, its prefixes and dimension, and (to measure the
/// search defaults with) the model itself when the caller has it.
pub(crate) struct Built<'a> {
    pub model: &'a str,
    pub prefixes: &'a Prefixes,
    pub dim: usize,
    pub calibrate_with: Option<&'a dyn Embedder>,
}

/// Build from already computed unit vectors (row-major, in `passages` order; taken, to be
/// renumbered in place: at a million passages a second copy would be 1.5 GB).
pub(crate) fn build_from_vectors(
    storage: &dyn Storage,
    dir: &Path,
    built: &Built,
    passages: &[Passage],
    mut vecs: Vec<f32>,
    config: &IndexConfig,
) -> Result<Index> {
    let (model, prefixes, dim) = (built.model, built.prefixes, built.dim);
    let n = passages.len();
    let graph = graph::build(&vecs, dim, &config.graph)?;
    // Renumber for locality: neighbour ids become close, so their deltas encode in fewer bytes.
    let order = graph::locality_order(&graph);
    let graph = graph::permute(&graph, &order);
    let old = || order.iter().map(|&i| i as usize);
    permute_rows(&mut vecs, dim, &order)?;

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

    let search = match built.calibrate_with {
        Some(embedder) => {
            let texts: Vec<&str> = old().map(|i| passages[i].text.as_str()).collect();
            let sample = Sample {
                graph: &graph,
                quantizer: &quantizer,
                codes: &codes,
                vectors: &vecs,
                dim,
                texts: &texts,
            };
            calibrate(&sample, embedder, config.seed)?
        }
        None => None,
    };

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
        sidecar::write(storage, &dir.join(files::vectors(generation)), &vecs, dim, precision, fingerprint)?;
    }
    if let Some(analysis) = config.keywords {
        let docs: Vec<(u32, &str)> =
            old().enumerate().map(|(k, i)| (k as u32, passages[i].text.as_str())).collect();
        keyword::write(storage, dir, generation, &docs, analysis)?;
    }
    publish(storage, dir, &segment_name)?;
    Index::open_locked(dir, OpenOptions::default(), Some(lock))
}

#[cfg(test)]
mod tests {
    use super::permute_rows;

    #[test]
    fn rows_are_permuted_in_place_as_a_copy_would() {
        let dim = 3;
        let mut rng = crate::rng::SplitMix64::new(7);
        for n in [0usize, 1, 2, 5, 64] {
            let rows: Vec<f32> = (0..n * dim).map(|x| x as f32).collect();
            let mut order: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let copied: Vec<f32> =
                order.iter().flat_map(|&i| rows[i as usize * dim..(i as usize + 1) * dim].to_vec()).collect();
            let mut moved = rows.clone();
            permute_rows(&mut moved, dim, &order).unwrap();
            assert_eq!(moved, copied, "n {n}");
        }
        // Not a permutation: refused, not scrambled silently.
        let mut rows = vec![0f32; 6];
        assert!(permute_rows(&mut rows, 3, &[0, 0]).is_err());
        assert!(permute_rows(&mut rows, 3, &[1, 5]).is_err());
        assert!(permute_rows(&mut rows, 3, &[0]).is_err());
    }
}
