//! Writing a segment file: every section of one generation, written atomically, not yet current.

use std::path::Path;

use super::meta::Meta;
use crate::graph::{self, Graph};
use crate::index::files;
use crate::index::metadata::{self, Metadata};
use crate::quant::Quantizer;
use crate::store::{encode_ids, encode_texts, SectionKind, SegmentWriter, Storage};
use crate::{Error, Result};

/// Everything a segment holds, in internal order.
pub(crate) struct SegmentParts<'a> {
    pub meta: Meta,
    pub quantizer: &'a Quantizer,
    pub codes: Vec<u8>,
    pub graph: &'a Graph,
    pub ids: Vec<&'a str>,
    pub text: SegmentText<'a>,
    pub metadata: Vec<&'a Metadata>,
    pub flags: Option<Vec<u8>>,
}

/// The passages' texts, or only their fingerprints when the app holds the texts.
pub(crate) enum SegmentText<'a> {
    Stored(Vec<&'a str>),
    Held(Vec<u32>),
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
    match parts.text {
        SegmentText::Stored(texts) => w.add(SectionKind::Text, encode_texts(&texts)?),
        SegmentText::Held(fps) => {
            w.add(SectionKind::Fingerprints, fps.iter().flat_map(|f| f.to_le_bytes()).collect())
        }
    }
    if let Some(flags) = parts.flags.filter(|f| f.iter().any(|&b| b != 0)) {
        w.add(SectionKind::Flags, flags);
    }
    if let Some(m) = metadata::encode_section(parts.metadata.iter().copied()) {
        w.add(SectionKind::Metadata, m);
    }
    let name = files::segment(parts.meta.generation);
    let fingerprint = w.write(storage, &dir.join(&name))?;
    Ok((name, fingerprint))
}
