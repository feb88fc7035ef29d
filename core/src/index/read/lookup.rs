//! Reading passages and figures from one snapshot: `get`, `ids`, texts and `stats`. Nothing here
//! takes a lock: a snapshot never changes once published.

use std::collections::BTreeMap;
use std::path::Path;

use crate::index::options::TextStorage;
use crate::index::passage::Passage;
use crate::index::snapshot::Snapshot;
use crate::store::SectionKind;
use crate::{Error, Result};

/// Sizes and counts of an index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Live passages.
    pub passages: u64,
    /// Deleted passages whose space `compact` would reclaim.
    pub deleted: u64,
    /// Operations in the write-ahead log, not yet folded into a segment.
    pub pending_ops: u64,
    /// The current segment's generation.
    pub generation: u64,
    /// Embedding dimension.
    pub dim: u64,
    /// Raw UTF-8 bytes of the segment's passage texts.
    pub text_bytes: u64,
    /// Graph + codes + ids + metadata: everything but the text store and the sidecar.
    pub index_bytes: u64,
    /// The vector sidecar's file size (0 without one).
    pub sidecar_bytes: u64,
    /// The compressed text store's size (0 when the app holds the text).
    pub text_store_bytes: u64,
    /// The keyword index's file size (0 without one).
    pub keyword_bytes: u64,
    /// Bytes per section, by name.
    pub sections: BTreeMap<String, u64>,
    /// The embedding model the index was built with.
    pub model: String,
    /// Whether the index keeps the text or the app does.
    pub text: TextStorage,
    /// Every file of the index directory: segment, log, sidecar, keyword index and anything else
    /// there (what the app's storage actually pays).
    pub dir_bytes: u64,
}

/// Sizes and counts.
pub(crate) fn stats(snap: &Snapshot, dir: &Path) -> IndexStats {
    let segment = &snap.base.segment;
    let sections: BTreeMap<String, u64> =
        segment.section_sizes().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let text_store_bytes = sections.get(SectionKind::Text.name()).copied().unwrap_or(0);
    IndexStats {
        passages: snap.live as u64,
        deleted: (snap.len() - snap.live) as u64,
        pending_ops: snap.logged_ops,
        generation: snap.base.generation,
        dim: snap.base.meta.dim as u64,
        text_bytes: snap.base.meta.text_bytes,
        index_bytes: segment.file_len() - text_store_bytes,
        sidecar_bytes: snap.sidecar.as_ref().map_or(0, |s| s.file_bytes()),
        text_store_bytes,
        keyword_bytes: match &snap.keywords {
            Some(Ok(kw)) => kw.file_bytes(),
            _ => 0,
        },
        sections,
        model: snap.base.meta.model.clone(),
        text: snap.base.meta.text,
        dir_bytes: dir_bytes(dir),
    }
}

/// Bytes of every regular file in `dir` (not following links; subdirectories are not Ember's).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}

/// Live ids, in internal order.
pub(crate) fn ids(snap: &Snapshot) -> Vec<String> {
    let mut out = Vec::with_capacity(snap.live);
    for (i, id) in snap.base.ids().all().into_iter().enumerate() {
        if !snap.is_deleted(i as u32) {
            out.push(id);
        }
    }
    for (j, a) in snap.added.iter().enumerate() {
        if !snap.is_deleted((snap.base.len() + j) as u32) {
            out.push(a.id.clone());
        }
    }
    out
}

/// Texts by internal number (0..).
pub(crate) fn texts(snap: &Snapshot, nodes: &[u32]) -> Result<Vec<String>> {
    if let Some(&bad) = nodes.iter().find(|&&i| i as usize >= snap.len()) {
        return Err(Error::InvalidArgument(format!("passage {bad} out of range")));
    }
    snap.texts(nodes)
}

/// Every live passage's (id, text), in internal order.
pub(crate) fn live_texts(snap: &Snapshot) -> Result<Vec<(String, String)>> {
    let live: Vec<u32> = (0..snap.len() as u32).filter(|&i| !snap.is_deleted(i)).collect();
    let texts = snap.texts(&live)?;
    live.iter().zip(texts).map(|(&i, t)| Ok((snap.id(i)?, t))).collect()
}

/// The node of a live passage by id, if present.
pub(crate) fn live_node(snap: &Snapshot, id: &str) -> Option<u32> {
    snap.ids.get(id).filter(|&node| (node as usize) < snap.len() && !snap.is_deleted(node))
}

/// The text and metadata of a live passage by id, if present.
pub(crate) fn get(snap: &Snapshot, id: &str) -> Result<Option<Passage>> {
    let Some(node) = live_node(snap, id) else { return Ok(None) };
    let text = snap.texts(&[node])?.pop().unwrap_or_default();
    Ok(Some(Passage { id: id.to_owned(), text, metadata: snap.metadata(node).clone() }))
}
