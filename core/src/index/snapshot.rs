//! What a search sees: an immutable base segment plus an in-memory overlay of the changes logged
//! since (added passages, rewired neighbour lists, tombstones, the id map). Snapshots are cheap to
//! clone and never change once published, so readers need no lock while they search, and nothing
//! a reader asks for (`get`, `ids`, `stats`, a search) lives behind the writer's mutex.

use std::collections::HashMap;
use std::sync::Arc;

use super::cow::CowVec;
use super::effort::{self, SearchDefaults};
use super::keyword::{DocTerms, KeywordState};
use super::metadata::Metadata;
use super::segment::load::Base;
use super::segment::meta::DELETED;
use super::sidecar::Sidecar;
use super::source::{fingerprint, Slot};
use crate::graph::GraphView;
use crate::quant::Decoded;
use crate::{Embedder, Error, Result, TextKind};

/// Live ids → node: the base segment's live ids, built once per segment and shared by every
/// snapshot on it, plus the changes logged since (`None` hides a base id deleted since).
#[derive(Debug, Clone, Default)]
pub(crate) struct IdMap {
    base: Arc<HashMap<String, u32>>,
    changed: Arc<HashMap<String, Option<u32>>>,
}

impl IdMap {
    /// The live ids of a freshly loaded segment (mapped once, at load).
    fn of_base(base: &Base) -> IdMap {
        IdMap { base: Arc::clone(&base.live_ids), changed: Arc::default() }
    }

    /// The node of a live id.
    pub fn get(&self, id: &str) -> Option<u32> {
        match self.changed.get(id) {
            Some(node) => *node,
            None => self.base.get(id).copied(),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Point `id` at `node` (`None`: deleted). Copies the changes once per published snapshot,
    /// which only the writer's private copy pays.
    pub fn set(&mut self, id: &str, node: Option<u32>) {
        Arc::make_mut(&mut self.changed).insert(id.to_owned(), node);
    }
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
    /// Its keyword terms, when the index had a keyword index as it was logged.
    pub terms: Option<DocTerms>,
}

/// One consistent state of the index.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub base: Arc<Base>,
    pub sidecar: std::result::Result<Arc<Sidecar>, String>,
    /// The keyword index of the base segment's generation.
    pub keywords: KeywordState,
    /// Replaced neighbour lists (None: the base graph's list).
    pub adj: CowVec<Option<Arc<[u32]>>>,
    pub flags: CowVec<u8>,
    pub added: CowVec<Arc<Added>>,
    /// Where searches start; `None` while the index is empty.
    pub entry: Option<u32>,
    pub live: usize,
    /// Operations logged on top of the base.
    pub logged_ops: u64,
    /// Live ids → node.
    pub ids: IdMap,
    /// Where texts come from when the segment keeps none.
    pub source: Slot,
}

static NO_METADATA: std::sync::LazyLock<Metadata> = std::sync::LazyLock::new(Metadata::new);

impl Snapshot {
    pub fn new(
        base: Arc<Base>,
        sidecar: std::result::Result<Arc<Sidecar>, String>,
        keywords: KeywordState,
    ) -> Snapshot {
        let n = base.len();
        let mut flags = CowVec::default();
        for i in 0..n {
            flags.push(base.flags.get(i).copied().unwrap_or(0));
        }
        let live = flags.iter().filter(|f| *f & DELETED == 0).count();
        let entry = (n > 0).then_some(base.entry);
        let ids = IdMap::of_base(&base);
        Snapshot {
            base,
            sidecar,
            keywords,
            adj: CowVec::filled(n, None),
            flags,
            added: CowVec::default(),
            entry,
            live,
            logged_ops: 0,
            ids,
            source: Slot::default(),
        }
    }

    /// Refuse a model other than the one the index was built with, or the same model with other
    /// prefixes (its vectors would not compare with the stored ones).
    pub fn check_embedder(&self, embedder: &dyn Embedder) -> Result<()> {
        let meta = &self.base.meta;
        let model_id = embedder.model_id();
        if model_id != meta.model {
            return Err(Error::ModelMismatch { index: meta.model.clone(), given: model_id.into() });
        }
        for (kind, recorded) in
            [(TextKind::Query, &meta.query_prefix), (TextKind::Passage, &meta.passage_prefix)]
        {
            let given = embedder.prefix(kind);
            if given != recorded.as_str() {
                return Err(Error::PrefixMismatch {
                    kind: kind.as_str(),
                    index: recorded.clone(),
                    given: given.into(),
                });
            }
        }
        Ok(())
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

    /// Texts of nodes, in the order asked: from the segment, or (when it keeps none) from the app's
    /// source in one call, checked against the recorded fingerprints.
    pub fn texts(&self, ids: &[u32]) -> Result<Vec<String>> {
        let base_ids: Vec<u32> = ids.iter().copied().filter(|&i| (i as usize) < self.base.len()).collect();
        let base_texts = match &self.base.text {
            Some(_) => self.base.texts(&base_ids)?,
            None if base_ids.is_empty() => Vec::new(),
            None => {
                let app_ids = base_ids.iter().map(|&i| self.id(i)).collect::<Result<Vec<_>>>()?;
                let fps = base_ids.iter().map(|&i| self.base.fingerprint(i)).collect::<Result<Vec<_>>>()?;
                self.source.fetch(&app_ids, &fps)?
            }
        };
        let mut base_texts = base_texts.into_iter();
        ids.iter()
            .map(|&i| match self.added(i) {
                Some(a) => Ok(a.text.clone()),
                None => base_texts.next().ok_or_else(|| Error::Corrupt(format!("passage {i} has no text"))),
            })
            .collect()
    }

    /// Recorded fingerprints of nodes' texts (a segment whose text the app holds), in order.
    pub fn fingerprints(&self, ids: &[u32]) -> Result<Vec<u32>> {
        ids.iter()
            .map(|&i| match self.added(i) {
                Some(a) => Ok(fingerprint(&a.text)),
                None => self.base.fingerprint(i),
            })
            .collect()
    }

    /// UTF-8 bytes of nodes' texts without asking the app for them: the added ones' exactly, and
    /// the segment's share of its recorded total (exact at a commit, which keeps every node; an
    /// estimate from the mean length after a compaction drops some).
    pub fn text_bytes(&self, ids: &[u32]) -> u64 {
        let added: u64 = ids.iter().filter_map(|&i| self.added(i)).map(|a| a.text.len() as u64).sum();
        let n = self.base.len() as u64;
        let kept = ids.iter().filter(|&&i| (i as usize) < self.base.len()).count() as u64;
        let base = match kept == n {
            true => self.base.meta.text_bytes,
            false => (self.base.meta.text_bytes as u128 * kept as u128 / n.max(1) as u128) as u64,
        };
        base + added
    }

    /// The search effort for this snapshot's size: measured at build, widened as it grew.
    pub fn search_defaults(&self) -> SearchDefaults {
        effort::defaults(self.base.meta.search.as_ref(), self.live)
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
