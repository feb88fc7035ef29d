//! Opening an index directory: validate the segment, then serve searches from the mapping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::build::Meta;
use super::cache::EmbeddingCache;
use super::files;
use super::search::Scratch;
use super::sidecar::Sidecar;
use crate::graph::GraphView;
use crate::quant::Quantizer;
use crate::store::{IdsView, SectionKind, Segment, TextView};
use crate::{Error, Result};

/// Default byte budget of the recomputed-embedding cache.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 20;

/// An opened index: immutable segment mapped read-only, optional vector sidecar, embedding cache.
#[derive(Debug)]
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) segment: Segment,
    pub(crate) meta: Meta,
    pub(crate) quantizer: Quantizer,
    pub(crate) text: TextView,
    pub(crate) graph_entry: u32,
    pub(crate) sidecar: std::result::Result<Sidecar, String>,
    pub(crate) cache: Mutex<EmbeddingCache>,
    pub(crate) scratch: Mutex<Vec<Scratch>>,
}

/// Sizes and counts of an index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Number of passages.
    pub passages: u64,
    /// Embedding dimension.
    pub dim: u64,
    /// Raw UTF-8 bytes of all passage texts.
    pub text_bytes: u64,
    /// Graph + codes + ids + metadata: everything but the text store and the sidecar.
    pub index_bytes: u64,
    /// The vector sidecar's file size (0 without one).
    pub sidecar_bytes: u64,
    /// The compressed text store's size.
    pub text_store_bytes: u64,
    /// Bytes per section, by name.
    pub sections: BTreeMap<String, u64>,
    /// The embedding model the index was built with.
    pub model: String,
}

impl Index {
    /// Open the index in `dir`, validating magic, version, checksums and every bound.
    pub fn open(dir: &Path) -> Result<Index> {
        let current_path = dir.join(files::CURRENT);
        let current = std::fs::read_to_string(&current_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::Missing { what: "index (no CURRENT file)", path: dir.into() }
            }
            _ => Error::io("reading", &current_path, e),
        })?;
        let name = current.trim();
        if !name.starts_with("segment-") || name.contains(['/', '\\']) {
            return Err(Error::Corrupt(format!("CURRENT names {name:?}, not a segment")));
        }
        let segment = Segment::open(&dir.join(name))?;
        let meta: Meta = serde_json::from_slice(segment.section(SectionKind::Meta)?)
            .map_err(|e| Error::Corrupt(format!("meta: {e}")))?;
        if meta.format != "ember-index" {
            return Err(Error::Corrupt("meta: not an ember index".into()));
        }
        let n = meta.passages;
        let quantizer = Quantizer::from_bytes(segment.section(SectionKind::Quantizer)?)?;
        if quantizer.dim() != meta.dim {
            return Err(Error::Corrupt("quantizer dimension differs from the index".into()));
        }
        let codes = segment.section(SectionKind::Codes)?;
        if Some(codes.len()) != n.checked_mul(quantizer.code_bytes()) {
            return Err(Error::Corrupt("codes section has the wrong size".into()));
        }
        let (entry, blocks, lengths, edges) = graph_sections(&segment)?;
        let view = GraphView::new(n_u32(n)?, entry, blocks, lengths, edges)?;
        debug_assert_eq!(view.len() as usize, n);
        IdsView::new(segment.section(SectionKind::Ids)?, n)?;
        let text = TextView::new(segment.section(SectionKind::Text)?, n)?;
        let sidecar_path = dir.join(files::VECTORS);
        let sidecar = if sidecar_path.exists() {
            Sidecar::open(&sidecar_path, n, meta.dim, segment.fingerprint()).map_err(|e| e.to_string())
        } else {
            Err("no vector sidecar".to_string())
        };
        Ok(Index {
            dir: dir.to_path_buf(),
            meta,
            quantizer,
            text,
            graph_entry: entry,
            sidecar,
            cache: Mutex::new(EmbeddingCache::new(DEFAULT_CACHE_BYTES)),
            scratch: Mutex::new(Vec::new()),
            segment,
        })
    }

    /// Refuse an embedder whose model differs from the one the index was built with.
    pub fn check_model(&self, model_id: &str) -> Result<()> {
        if model_id != self.meta.model {
            return Err(Error::ModelMismatch { index: self.meta.model.clone(), given: model_id.into() });
        }
        Ok(())
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.meta.passages
    }

    /// Whether the index holds no passages.
    pub fn is_empty(&self) -> bool {
        self.meta.passages == 0
    }

    /// The embedding model id recorded at build.
    pub fn model(&self) -> &str {
        &self.meta.model
    }

    /// The token limit the passages were embedded with, if recorded.
    pub fn max_tokens(&self) -> Option<usize> {
        self.meta.max_tokens
    }

    /// Texts of passages by internal number (0..len), for evaluation and export.
    pub fn texts(&self, ids: &[u32]) -> Result<Vec<String>> {
        self.texts_of(ids)
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a valid vector sidecar is present (and why not, if not).
    pub fn sidecar_status(&self) -> std::result::Result<(), String> {
        self.sidecar.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// Set the byte budget of the recomputed-embedding cache (0 disables it).
    pub fn set_cache_bytes(&self, bytes: usize) -> Result<()> {
        let mut cache = self.cache.lock().map_err(|_| Error::Inference("cache lock poisoned".into()))?;
        *cache = EmbeddingCache::new(bytes);
        Ok(())
    }

    /// Sizes and counts.
    pub fn stats(&self) -> IndexStats {
        let sections: BTreeMap<String, u64> =
            self.segment.section_sizes().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let text_store_bytes = sections.get(SectionKind::Text.name()).copied().unwrap_or(0);
        IndexStats {
            passages: self.meta.passages as u64,
            dim: self.meta.dim as u64,
            text_bytes: self.meta.text_bytes,
            index_bytes: self.segment.file_len() - text_store_bytes,
            sidecar_bytes: self.sidecar.as_ref().map_or(0, Sidecar::file_bytes),
            text_store_bytes,
            sections,
            model: self.meta.model.clone(),
        }
    }

    /// The app's id of internal passage `i`.
    pub(crate) fn id_of(&self, i: u32) -> Result<String> {
        let ids = IdsView::prevalidated(self.segment.section(SectionKind::Ids)?);
        ids.get(i as usize).ok_or_else(|| Error::Corrupt(format!("ids: passage {i} undecodable")))
    }

    /// All ids in internal order.
    pub fn ids(&self) -> Result<Vec<String>> {
        Ok(IdsView::prevalidated(self.segment.section(SectionKind::Ids)?).all())
    }

    /// Texts of internal passages.
    pub(crate) fn texts_of(&self, ids: &[u32]) -> Result<Vec<String>> {
        self.text.get_many(self.segment.section(SectionKind::Text)?, ids)
    }

    /// The graph, re-wrapped without re-validation (validated at open).
    pub(crate) fn graph(&self) -> Result<GraphView<'_>> {
        let (entry, blocks, lengths, edges) = graph_sections(&self.segment)?;
        Ok(GraphView::prevalidated(n_u32(self.meta.passages)?, entry, blocks, lengths, edges))
    }

    pub(crate) fn codes(&self) -> Result<&[u8]> {
        self.segment.section(SectionKind::Codes)
    }
}

fn n_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Corrupt("passage count out of range".into()))
}

/// The graph's entry node, block offsets, list lengths and edge bytes.
type GraphSections<'a> = (u32, &'a [u32], &'a [u8], &'a [u8]);

/// The graph's header (entry, n) and its three arrays, cast without copying.
fn graph_sections(segment: &Segment) -> Result<GraphSections<'_>> {
    let blocks = segment.section(SectionKind::GraphBlocks)?;
    let (head, rest) =
        blocks.split_at_checked(8).ok_or_else(|| Error::Corrupt("graph header truncated".into()))?;
    let entry = crate::store::le::u32_at(head, 0).unwrap_or(u32::MAX);
    // Offsets start 8 bytes into a 64-aligned section, so they are 4-aligned.
    let offsets: &[u32] =
        bytemuck::try_cast_slice(rest).map_err(|_| Error::Corrupt("graph offsets misaligned".into()))?;
    let lengths = segment.section(SectionKind::GraphLengths)?;
    let edges = segment.section(SectionKind::GraphEdges)?;
    Ok((entry, offsets, lengths, edges))
}
