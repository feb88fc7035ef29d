//! What a search sees: an immutable base segment plus an in-memory overlay of the changes logged
//! since (added passages, rewired neighbour lists, tombstones). Snapshots are cheap to clone and
//! never change once published, so readers need no lock while they search.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::build::Meta;
use super::cache::EmbeddingCache;
use super::cow::CowVec;
use super::metadata::{self, Metadata};
use super::sidecar::Sidecar;
use crate::graph::GraphView;
use crate::quant::{Decoded, Quantizer};
use crate::store::{IdsView, SectionKind, Segment, TextView};
use crate::{Error, Result};

/// Flag bit of a deleted passage in the version map.
pub(crate) const DELETED: u8 = 1;

/// A validated, mapped segment and what was decoded from it.
#[derive(Debug)]
pub(crate) struct Base {
    pub segment: Segment,
    pub meta: Meta,
    pub quantizer: Quantizer,
    pub text: TextView,
    pub entry: u32,
    /// Per-passage metadata (empty when the segment has none).
    pub metadata: Vec<Metadata>,
    /// Flags from the segment (empty when none is set).
    pub flags: Vec<u8>,
    pub generation: u64,
    /// Embeddings recomputed for this numbering; shared by segments that keep it (commits).
    pub cache: Arc<Mutex<EmbeddingCache>>,
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
        let text = TextView::new(segment.section(SectionKind::Text)?, n)?;
        let flags = match segment.optional_section(SectionKind::Flags)? {
            Some(f) if f.len() == n => f.to_vec(),
            Some(_) => return Err(Error::Corrupt("flags section has the wrong size".into())),
            None => Vec::new(),
        };
        check_unique_live_ids(&ids, &flags)?;
        let metadata = match segment.optional_section(SectionKind::Metadata)? {
            Some(m) => metadata::decode_section(m, n)?,
            None => Vec::new(),
        };
        let quantizer = Quantizer::from_bytes(quantizer_bytes)?;
        Ok(Base { segment, meta, quantizer, text, entry, metadata, flags, generation, cache })
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

    pub fn texts(&self, ids: &[u32]) -> Result<Vec<String>> {
        self.text.get_many(self.segment.section(SectionKind::Text)?, ids)
    }
}

fn n_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Corrupt("passage count out of range".into()))
}

/// Two live passages with one id would make updates and deletes ambiguous (each id maps to one
/// node). Deleted passages may share an id with a live one: a committed update keeps the old
/// version as a tombstone until `compact`.
fn check_unique_live_ids(ids: &IdsView<'_>, flags: &[u8]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (i, id) in ids.all().into_iter().enumerate() {
        let deleted = flags.get(i).is_some_and(|f| f & DELETED != 0);
        if !deleted && !seen.insert(id) {
            return Err(Error::Corrupt(format!("ids: passage {i} repeats a live id")));
        }
    }
    Ok(())
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

/// A passage added since the base segment was written. Its vector stays in memory (and in the
/// write-ahead log) until the next commit, so it never needs recomputing.
#[derive(Debug)]
pub(crate) struct Added {
    pub id: String,
    pub text: String,
    pub metadata: Metadata,
    pub vector: Vec<f32>,
    pub code: Vec<u8>,
    pub position: Decoded,
}

/// One consistent state of the index.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub base: Arc<Base>,
    pub sidecar: std::result::Result<Arc<Sidecar>, String>,
    /// Replaced neighbour lists (None: the base graph's list).
    pub adj: CowVec<Option<Arc<[u32]>>>,
    pub flags: CowVec<u8>,
    pub added: CowVec<Arc<Added>>,
    /// Where searches start; `None` while the index is empty.
    pub entry: Option<u32>,
    pub live: usize,
    /// Operations logged on top of the base.
    pub logged_ops: u64,
}

static NO_METADATA: std::sync::LazyLock<Metadata> = std::sync::LazyLock::new(Metadata::new);

impl Snapshot {
    pub fn new(base: Arc<Base>, sidecar: std::result::Result<Arc<Sidecar>, String>) -> Snapshot {
        let n = base.len();
        let mut flags = CowVec::default();
        for i in 0..n {
            flags.push(base.flags.get(i).copied().unwrap_or(0));
        }
        let live = flags.iter().filter(|f| *f & DELETED == 0).count();
        let entry = (n > 0).then_some(base.entry);
        Snapshot {
            base,
            sidecar,
            adj: CowVec::filled(n, None),
            flags,
            added: CowVec::default(),
            entry,
            live,
            logged_ops: 0,
        }
    }

    /// Nodes, deleted ones included.
    pub fn len(&self) -> usize {
        self.base.len() + self.added.len()
    }

    pub fn added(&self, i: u32) -> Option<&Arc<Added>> {
        (i as usize).checked_sub(self.base.len()).and_then(|j| self.added.get(j))
    }

    pub fn is_deleted(&self, i: u32) -> bool {
        self.flags.get(i as usize).is_none_or(|f| f & DELETED != 0)
    }

    pub fn metadata(&self, i: u32) -> &Metadata {
        match self.added(i) {
            Some(a) => &a.metadata,
            None => self.base.metadata.get(i as usize).unwrap_or(&NO_METADATA),
        }
    }

    pub fn id(&self, i: u32) -> Result<String> {
        match self.added(i) {
            Some(a) => Ok(a.id.clone()),
            None => self
                .base
                .ids()
                .get(i as usize)
                .ok_or_else(|| Error::Corrupt(format!("passage {i} has no id"))),
        }
    }

    /// Texts of nodes, in the order asked.
    pub fn texts(&self, ids: &[u32]) -> Result<Vec<String>> {
        let base_ids: Vec<u32> = ids.iter().copied().filter(|&i| (i as usize) < self.base.len()).collect();
        let mut base_texts = self.base.texts(&base_ids)?.into_iter();
        ids.iter()
            .map(|&i| match self.added(i) {
                Some(a) => Ok(a.text.clone()),
                None => base_texts.next().ok_or_else(|| Error::Corrupt(format!("passage {i} has no text"))),
            })
            .collect()
    }

    /// A borrowed view for graph walks.
    pub fn view(&self) -> NodeView<'_> {
        NodeView {
            snap: self,
            graph: self.base.graph(),
            codes: self.base.codes(),
            cb: self.base.quantizer.code_bytes(),
            n_base: self.base.len(),
        }
    }
}

/// Neighbour lists and codes of every node, base or added.
#[derive(Debug)]
pub(crate) struct NodeView<'a> {
    pub snap: &'a Snapshot,
    graph: GraphView<'a>,
    codes: &'a [u8],
    cb: usize,
    n_base: usize,
}

impl NodeView<'_> {
    /// The out-neighbours of `i` into `out` (cleared first).
    pub fn neighbors(&self, i: u32, out: &mut Vec<u32>) {
        match self.snap.adj.get(i as usize) {
            Some(Some(list)) => {
                out.clear();
                out.extend_from_slice(list);
            }
            _ if (i as usize) < self.n_base => self.graph.neighbors(i, out),
            _ => out.clear(),
        }
    }

    /// Hint the CPU to fetch node `i`'s code: a walk scores a node's neighbours right after
    /// reading its list, and their codes are scattered (a cache miss each otherwise).
    #[inline]
    pub fn prefetch_code(&self, i: u32) {
        #[cfg(target_arch = "x86_64")]
        if let Some(c) = self.codes.get(i as usize * self.cb) {
            // SAFETY: a prefetch is only a hint; the address is inside `codes`.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((c as *const u8).cast())
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// The code of node `i` (empty if out of range).
    pub fn code(&self, i: u32) -> &[u8] {
        let i = i as usize;
        if i < self.n_base {
            self.codes.get(i * self.cb..(i + 1) * self.cb).unwrap_or(&[])
        } else {
            self.snap.added.get(i - self.n_base).map_or(&[], |a| a.code.as_slice())
        }
    }

    /// Node `i`'s position in code space: exact for added passages, decoded otherwise.
    pub fn position(&self, i: u32) -> Decoded {
        match self.snap.added(i) {
            Some(a) => a.position.clone(),
            None => self.snap.base.quantizer.decode(self.code(i)),
        }
    }
}
