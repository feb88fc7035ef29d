//! Loading a segment: map the file and validate every section before anything is used.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::meta::{Meta, DELETED};
use crate::graph::GraphView;
use crate::index::cache::EmbeddingCache;
use crate::index::metadata::{self, Metadata};
use crate::index::options::TextStorage;
use crate::quant::Quantizer;
use crate::store::{IdsView, SectionKind, Segment, TextView};
use crate::{Error, Result};

/// A validated, mapped segment and what was decoded from it.
#[derive(Debug)]
pub(crate) struct Base {
    pub segment: Segment,
    pub meta: Meta,
    pub quantizer: Quantizer,
    /// The compressed texts, or `None` when the app holds them (a fingerprint section instead).
    pub text: Option<TextView>,
    pub entry: u32,
    /// Per-passage metadata (empty when the segment has none).
    pub metadata: Vec<Metadata>,
    /// Flags from the segment (empty when none is set).
    pub flags: Vec<u8>,
    pub generation: u64,
    /// Embeddings recomputed for this numbering; shared by segments that keep it (commits).
    pub cache: Arc<Mutex<EmbeddingCache>>,
    /// Live ids → node, as the segment has them (validated unique at load).
    pub live_ids: Arc<HashMap<String, u32>>,
}

impl Base {
    /// Map and validate a segment: magic, version, checksums and every bound. The cheap checks of
    /// every section come first; the quantizer's rotation, whose cost grows with the cube of its
    /// dimension, is rebuilt only once everything else, its shape included, has proved consistent.
    pub fn load(path: &Path, generation: u64, cache: Arc<Mutex<EmbeddingCache>>) -> Result<Base> {
        let segment = Segment::open(path)?;
        let meta: Meta = serde_json::from_slice(segment.section(SectionKind::Meta)?)
            .map_err(|e| Error::Corrupt(format!("meta: {e}")))?;
        if meta.format != "ember-index" {
            return Err(Error::Corrupt("meta: not an ember index".into()));
        }
        let n = meta.passages;
        if n as u64 > segment.file_len() {
            return Err(Error::Corrupt("meta: more passages than bytes".into()));
        }
        let quantizer_bytes = segment.section(SectionKind::Quantizer)?;
        let shape = Quantizer::shape(quantizer_bytes)?;
        if shape.dim != meta.dim {
            return Err(Error::Corrupt("quantizer dimension differs from the index".into()));
        }
        if (shape.params.dims, shape.params.bits) != (meta.code_dims, meta.code_bits) {
            return Err(Error::Corrupt("quantizer code shape differs from the index".into()));
        }
        let codes = segment.section(SectionKind::Codes)?;
        if Some(codes.len()) != n.checked_mul(shape.code_bytes()) {
            return Err(Error::Corrupt("codes section has the wrong size".into()));
        }
        let (entry, blocks, lengths, edges) = graph_sections(&segment)?;
        // The graph records its own node count; the lists are validated against the index's.
        if graph_nodes(&segment)? as usize != n {
            return Err(Error::Corrupt("graph node count differs from the passage count".into()));
        }
        GraphView::new(n_u32(n)?, entry, blocks, lengths, edges)?;
        let ids = IdsView::new(segment.section(SectionKind::Ids)?, n)?;
        let text = match meta.text {
            TextStorage::Store => {
                Some(TextView::for_format(segment.major(), segment.section(SectionKind::Text)?, n)?)
            }
            TextStorage::None => {
                if Some(segment.section(SectionKind::Fingerprints)?.len()) != n.checked_mul(4) {
                    return Err(Error::Corrupt("fingerprints section has the wrong size".into()));
                }
                None
            }
        };
        let flags = match segment.optional_section(SectionKind::Flags)? {
            Some(f) if f.len() == n => f.to_vec(),
            Some(_) => return Err(Error::Corrupt("flags section has the wrong size".into())),
            None => Vec::new(),
        };
        let live_ids = Arc::new(unique_live_ids(&ids, &flags)?);
        let metadata = match segment.optional_section(SectionKind::Metadata)? {
            Some(m) => metadata::decode_section(m, n)?,
            None => Vec::new(),
        };
        let quantizer = Quantizer::from_bytes(quantizer_bytes)?;
        Ok(Base { segment, meta, quantizer, text, entry, metadata, flags, generation, cache, live_ids })
    }

    pub fn len(&self) -> usize {
        self.meta.passages
    }

    /// The graph, re-wrapped without re-validation (validated at load).
    pub fn graph(&self) -> GraphView<'_> {
        match graph_sections(&self.segment) {
            Ok((entry, blocks, lengths, edges)) => {
                GraphView::prevalidated(self.meta.passages as u32, entry, blocks, lengths, edges)
            }
            // Unreachable after a successful load; an empty view keeps searches safe regardless.
            Err(_) => GraphView::prevalidated(0, 0, &[], &[], &[]),
        }
    }

    pub fn codes(&self) -> &[u8] {
        self.segment.section(SectionKind::Codes).unwrap_or(&[])
    }

    pub fn ids(&self) -> IdsView<'_> {
        IdsView::prevalidated(self.segment.section(SectionKind::Ids).unwrap_or(&[]))
    }

    /// Texts of `ids` from the segment (only when it keeps them; see `Snapshot::texts`).
    pub fn texts(&self, ids: &[u32]) -> Result<Vec<String>> {
        match &self.text {
            Some(view) => view.get_many(self.segment.section(SectionKind::Text)?, ids),
            None => Err(Error::TextUnavailable("the index keeps no text".into())),
        }
    }

    /// The recorded fingerprint of passage `i`'s text (segments whose text the app holds).
    pub fn fingerprint(&self, i: u32) -> Result<u32> {
        let fps = self.segment.section(SectionKind::Fingerprints)?;
        crate::store::le::u32_at(fps, i as usize * 4)
            .ok_or_else(|| Error::Corrupt(format!("passage {i} has no fingerprint")))
    }
}

fn n_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Corrupt("passage count out of range".into()))
}

/// Two live passages with one id would make updates and deletes ambiguous (each id maps to one
/// node). Deleted passages may share an id with a live one: a committed update keeps the old
/// version as a tombstone until `compact`.
/// The map of live ids → node is built here, once per segment, and shared by every snapshot on it.
fn unique_live_ids(ids: &IdsView<'_>, flags: &[u8]) -> Result<HashMap<String, u32>> {
    let mut live = HashMap::with_capacity(ids.len());
    for (i, id) in ids.all().into_iter().enumerate() {
        let deleted = flags.get(i).is_some_and(|f| f & DELETED != 0);
        if !deleted && live.insert(id, i as u32).is_some() {
            return Err(Error::Corrupt(format!("ids: passage {i} repeats a live id")));
        }
    }
    Ok(live)
}

/// The node count in the graph header (bytes 4..8 of the blocks section).
fn graph_nodes(segment: &Segment) -> Result<u32> {
    let blocks = segment.section(SectionKind::GraphBlocks)?;
    crate::store::le::u32_at(blocks, 4).ok_or_else(|| Error::Corrupt("graph header truncated".into()))
}

/// The graph's entry node, block offsets, list lengths and edge bytes.
type GraphSections<'a> = (u32, &'a [u32], &'a [u8], &'a [u8]);

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
