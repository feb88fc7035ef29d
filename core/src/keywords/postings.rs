//! The keyword index file: an in-memory build, its byte image, and a validated zero-copy view.
//!
//! ```text
//! [Header 64 B][section table: 4 × 32 B][norms][dict blocks][dict][postings]   (sections 64-aligned)
//! ```
//! - norms: one little-endian u16 per node id (the node's term count, saturating at 65535). Exact
//!   lengths, not Lucene's one-byte SmallFloat: 2 bytes a passage is ~1% of the postings, and
//!   exact lengths make our scores comparable with SQLite FTS5's to 1e-4 (a 4-bit mantissa would
//!   move them by up to ~6%).
//! - dict: terms in byte order, front-coded in blocks of [`BLOCK`] terms. A block starts with the
//!   absolute offset of its first term's postings, then per term: varint shared-prefix length,
//!   varint suffix length, suffix, varint document frequency, varint postings byte length. The
//!   first term of a block shares nothing, so a binary search over blocks reads it directly.
//! - dict blocks: a u32 offset into dict per block.
//! - postings: per term, per node in increasing order, `varint(gap << 1 | (tf == 1))`, then
//!   `varint(tf - 2)` when tf > 1; the gap is the node id for the first entry and
//!   `node - previous - 1` after it. A list of more than [`SKIP_BLOCK`] entries is cut into blocks
//!   of that many and starts with a skip table, per block: `varint(last node − previous block's
//!   last node)` (the first: its last node), `varint(body bytes)`, `varint(max tf − 1)`,
//!   `varint(min length)`. Search skips whole blocks by their last node and bounds a block's best
//!   score by its max tf and min length (block-max MaxScore, [`super::bm25`]); a shorter list is
//!   read once at open of the query to get the same bound, so the ~half of all terms found in one
//!   passage pay nothing for it.
//!
//! Opening checks the header, the table, every section's xxh3, every dictionary entry (order,
//! bounds, postings offsets adding up exactly). Postings are decoded lazily, per query term, with
//! every node id checked against the node count and for strict increase; a bad list is a
//! [`Error::Corrupt`], never a panic. [`KeywordView::validate_postings`] checks all of them at once.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use bytemuck::{Pod, Zeroable};

use super::analyze::{Analyzer, AnalyzerConfig, MAX_TERM_BYTES};
use crate::store::{checksum, varint, Mapped, Storage};
use crate::{Error, Result};

/// File magic of a keyword index.
pub const MAGIC: [u8; 8] = *b"EMBERKWD";
/// Incompatible layout changes bump the major version; readers refuse unknown majors.
pub const FORMAT_MAJOR: u16 = 2;
/// Compatible additions bump the minor version.
pub const FORMAT_MINOR: u16 = 0;
const ENDIAN_MARK: u32 = 0x0102_0304;
const ALIGN: usize = 64;
/// Terms per front-coded dictionary block.
pub const BLOCK: usize = 16;
/// Postings per skip block; longer lists start with a skip table (module docs).
pub const SKIP_BLOCK: u32 = 128;
const SECTIONS: usize = 4;
const TABLE_START: usize = 64;
const DATA_START: usize = TABLE_START + SECTIONS * std::mem::size_of::<SectionEntry>();

#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    major: u16,
    minor: u16,
    endian: u32,
    /// [`AnalyzerConfig::to_flags`].
    flags: u32,
    /// Node ids are below this; the norms hold one entry per id.
    node_count: u32,
    /// Passages indexed (BM25's N).
    doc_count: u32,
    term_count: u32,
    /// Sum of all passages' term counts (BM25's average length is this over N).
    total_len: u64,
    file_len: u64,
    table_checksum: u64,
    /// xxh3 of the header with this field zero.
    header_checksum: u64,
}

#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct SectionEntry {
    kind: u32,
    reserved: u32,
    offset: u64,
    len: u64,
    checksum: u64,
}

const _: () = assert!(std::mem::size_of::<Header>() == 64);
const _: () = assert!(std::mem::size_of::<SectionEntry>() == 32);
const _: () = assert!(DATA_START.is_multiple_of(ALIGN));

/// Section numbers, in file order; part of the format.
const NORMS: u32 = 1;
const DICT_BLOCKS: u32 = 2;
const DICT: u32 = 3;
const POSTINGS: u32 = 4;

fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

fn corrupt(m: &str) -> Error {
    Error::Corrupt(format!("keyword index: {m}"))
}

/// Where each part of a validated image lies, and its counts.
#[derive(Debug, Clone)]
struct Layout {
    config: AnalyzerConfig,
    node_count: u32,
    doc_count: u32,
    term_count: u32,
    total_len: u64,
    postings_count: u64,
    norms: Range<usize>,
    blocks: Range<usize>,
    dict: Range<usize>,
    postings: Range<usize>,
}

/// Sizes and counts of an index, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordStats {
    /// Node ids are below this.
    pub node_count: u32,
    /// Passages indexed.
    pub doc_count: u32,
    /// Distinct terms.
    pub term_count: u32,
    /// (term, passage) pairs.
    pub postings_count: u64,
    /// Sum of all passages' term counts.
    pub total_len: u64,
    /// Bytes of the whole file.
    pub file_bytes: u64,
    /// Bytes of the norms section.
    pub norms_bytes: u64,
    /// Bytes of the dictionary and its block offsets.
    pub dict_bytes: u64,
    /// Bytes of the postings section.
    pub postings_bytes: u64,
}

/// A keyword index held in memory as its file image.
#[derive(Debug, Clone)]
pub struct KeywordIndex {
    bytes: Vec<u8>,
    layout: Layout,
}

/// A validated keyword index over borrowed (e.g. mapped) bytes; searches read them in place.
#[derive(Debug, Clone)]
pub struct KeywordView<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

/// A keyword index file mapped read-only.
#[derive(Debug)]
pub struct KeywordFile {
    file: Mapped,
    layout: Layout,
}

impl KeywordIndex {
    /// Index `docs` (node id, text). Node ids must be distinct and below `u32::MAX`.
    pub fn build(docs: &[(u32, &str)], analyzer: &Analyzer) -> Result<KeywordIndex> {
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.sort_unstable_by_key(|&i| docs[i].0);
        if let Some(w) = order.windows(2).find(|w| docs[w[0]].0 == docs[w[1]].0) {
            return Err(Error::InvalidArgument(format!("node {} given twice", docs[w[0]].0)));
        }
        let node_count = match order.last() {
            Some(&i) => docs[i].0.checked_add(1).ok_or_else(|| {
                Error::InvalidArgument("keyword index node ids must be below u32::MAX".into())
            })?,
            None => 0,
        };
        let doc_count = u32::try_from(docs.len())
            .map_err(|_| Error::InvalidArgument("too many passages for one keyword index".into()))?;

        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut lists: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut norms = vec![0u16; node_count as usize];
        let mut total_len = 0u64;
        let mut doc_terms: Vec<u32> = Vec::new();
        for &i in &order {
            let (node, text) = docs[i];
            doc_terms.clear();
            analyzer.each_term(text, |t| {
                let id = match ids.get(t) {
                    Some(&id) => id,
                    None => {
                        let id = lists.len() as u32;
                        ids.insert(t.to_string(), id);
                        lists.push(Vec::new());
                        id
                    }
                };
                doc_terms.push(id);
            });
            total_len += doc_terms.len() as u64;
            norms[node as usize] = u16::try_from(doc_terms.len()).unwrap_or(u16::MAX);
            doc_terms.sort_unstable();
            let mut j = 0;
            while j < doc_terms.len() {
                let t = doc_terms[j];
                let run = doc_terms[j..].iter().take_while(|&&x| x == t).count();
                lists[t as usize].push((node, run as u32));
                j += run;
            }
        }
        let mut terms: Vec<(String, u32)> = ids.into_iter().collect();
        terms.sort_unstable();
        let term_count = u32::try_from(terms.len())
            .map_err(|_| Error::InvalidArgument("too many distinct terms for one keyword index".into()))?;

        let mut postings = Vec::new();
        let mut dict = Vec::new();
        let mut blocks: Vec<u8> = Vec::new();
        let mut prev: &[u8] = &[];
        for (k, (term, id)) in terms.iter().enumerate() {
            let start = postings.len();
            encode_list(&mut postings, &lists[*id as usize], &norms);
            let term = term.as_bytes();
            let shared = if k % BLOCK == 0 {
                let offset = u32::try_from(dict.len())
                    .map_err(|_| Error::InvalidArgument("keyword dictionary over 4 GiB".into()))?;
                blocks.extend_from_slice(&offset.to_le_bytes());
                varint::put(&mut dict, start as u64);
                0
            } else {
                prev.iter().zip(term).take_while(|(a, b)| a == b).count()
            };
            varint::put(&mut dict, shared as u64);
            varint::put(&mut dict, (term.len() - shared) as u64);
            dict.extend_from_slice(&term[shared..]);
            varint::put(&mut dict, lists[*id as usize].len() as u64);
            varint::put(&mut dict, (postings.len() - start) as u64);
            prev = term;
        }
        let norm_bytes: Vec<u8> = norms.iter().flat_map(|n| n.to_le_bytes()).collect();
        let bytes = assemble(
            analyzer.config(),
            [node_count, doc_count, term_count],
            total_len,
            [&norm_bytes, &blocks, &dict, &postings],
        );
        let layout = validate(&bytes)?;
        Ok(KeywordIndex { bytes, layout })
    }

    /// Validate `bytes` (see the module docs) and keep a copy.
    pub fn from_bytes(bytes: &[u8]) -> Result<KeywordIndex> {
        let layout = validate(bytes)?;
        Ok(KeywordIndex { bytes: bytes.to_vec(), layout })
    }

    /// The file image.
    pub fn to_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A view for searching.
    pub fn view(&self) -> KeywordView<'_> {
        KeywordView { bytes: &self.bytes, layout: self.layout.clone() }
    }

    /// Write the image to `path` atomically (temp file, fsync, rename, fsync of the directory).
    pub fn write(&self, storage: &dyn Storage, path: &Path) -> Result<()> {
        storage.atomic_write(path, &self.bytes)
    }
}

impl KeywordFile {
    /// Map and validate the keyword index at `path`.
    pub fn open(path: &Path) -> Result<KeywordFile> {
        let file = Mapped::open(path)?;
        let layout = validate(file.bytes())?;
        Ok(KeywordFile { file, layout })
    }

    /// A view for searching, over the mapped bytes.
    pub fn view(&self) -> KeywordView<'_> {
        KeywordView { bytes: self.file.bytes(), layout: self.layout.clone() }
    }
}

impl<'a> KeywordView<'a> {
    /// Validate `bytes` (see the module docs) and search them in place.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<KeywordView<'a>> {
        Ok(KeywordView { bytes, layout: validate(bytes)? })
    }

    /// The analyzer settings the index was built with (queries must use the same).
    pub fn analyzer_config(&self) -> AnalyzerConfig {
        self.layout.config
    }

    /// Node ids are below this.
    pub fn node_count(&self) -> u32 {
        self.layout.node_count
    }

    /// Passages indexed (BM25's N).
    pub fn doc_count(&self) -> u32 {
        self.layout.doc_count
    }

    /// Sum of all passages' term counts.
    pub fn total_len(&self) -> u64 {
        self.layout.total_len
    }

    /// Mean passage length in terms (0 for an empty index).
    pub fn avg_len(&self) -> f64 {
        match self.layout.doc_count {
            0 => 0.0,
            n => self.layout.total_len as f64 / f64::from(n),
        }
    }

    /// Sizes and counts.
    pub fn stats(&self) -> KeywordStats {
        let l = &self.layout;
        KeywordStats {
            node_count: l.node_count,
            doc_count: l.doc_count,
            term_count: l.term_count,
            postings_count: l.postings_count,
            total_len: l.total_len,
            file_bytes: self.bytes.len() as u64,
            norms_bytes: l.norms.len() as u64,
            dict_bytes: (l.dict.len() + l.blocks.len()) as u64,
            postings_bytes: l.postings.len() as u64,
        }
    }

    /// The stored length (term count, saturating at 65535) of `node`; 0 for an unknown node.
    pub fn doc_len(&self, node: u32) -> u32 {
        let at = self.layout.norms.start + node as usize * 2;
        match node < self.layout.node_count {
            true => u32::from(u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]])),
            false => 0,
        }
    }

    fn norms(&self) -> &'a [u8] {
        &self.bytes[self.layout.norms.clone()]
    }

    /// The postings of `term` (already analyzed), or `None` if no passage has it.
    pub fn postings(&self, term: &str) -> Result<Option<Postings<'a>>> {
        let term = term.as_bytes();
        let blocks = &self.bytes[self.layout.blocks.clone()];
        let dict = &self.bytes[self.layout.dict.clone()];
        let block_count = blocks.len() / 4;
        // The last block whose first term is <= `term`.
        let (mut lo, mut hi) = (0usize, block_count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let mut pos = block_offset(blocks, mid)?;
            let _ = varint::get(dict, &mut pos).ok_or_else(|| corrupt("dictionary block"))?;
            let entry = read_entry(dict, &mut pos, &[]).ok_or_else(|| corrupt("dictionary entry"))?;
            match entry.suffix <= term {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        let Some(block) = lo.checked_sub(1) else { return Ok(None) };
        let mut pos = block_offset(blocks, block)?;
        let end = match block + 1 < block_count {
            true => block_offset(blocks, block + 1)?,
            false => dict.len(),
        };
        let mut start = varint::get(dict, &mut pos).ok_or_else(|| corrupt("dictionary block"))? as usize;
        let mut current: Vec<u8> = Vec::with_capacity(MAX_TERM_BYTES);
        while pos < end {
            let e = read_entry(dict, &mut pos, &current).ok_or_else(|| corrupt("dictionary entry"))?;
            current.truncate(e.shared);
            current.extend_from_slice(e.suffix);
            match current.as_slice().cmp(term) {
                std::cmp::Ordering::Less => start += e.len,
                std::cmp::Ordering::Equal => {
                    let post = &self.bytes[self.layout.postings.clone()];
                    let bytes = start
                        .checked_add(e.len)
                        .and_then(|end| post.get(start..end))
                        .ok_or_else(|| corrupt("postings out of bounds"))?;
                    return Postings::new(bytes, e.df, self.layout.node_count, self.norms()).map(Some);
                }
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Decode every postings list: node ids below the node count and strictly increasing, term
    /// frequencies within the passage's length, each list exactly its bytes. Searching checks the
    /// same for the lists it reads; this is for a full check (tests, `ember check`).
    pub fn validate_postings(&self) -> Result<()> {
        let blocks = &self.bytes[self.layout.blocks.clone()];
        let dict = &self.bytes[self.layout.dict.clone()];
        let post = &self.bytes[self.layout.postings.clone()];
        let mut at = 0usize;
        for b in 0..blocks.len() / 4 {
            let mut pos = block_offset(blocks, b)?;
            let end = match (b + 1) * 4 < blocks.len() {
                true => block_offset(blocks, b + 1)?,
                false => dict.len(),
            };
            let _ = varint::get(dict, &mut pos);
            while pos < end {
                let e = read_entry(dict, &mut pos, &[]).ok_or_else(|| corrupt("dictionary entry"))?;
                let bytes = post.get(at..at + e.len).ok_or_else(|| corrupt("postings out of bounds"))?;
                let mut list = Postings::new(bytes, e.df, self.layout.node_count, self.norms())?;
                while list.next_posting()?.is_some() {}
                at += e.len;
            }
        }
        Ok(())
    }
}

fn block_offset(blocks: &[u8], b: usize) -> Result<usize> {
    crate::store::le::u32_at(blocks, b * 4).map(|v| v as usize).ok_or_else(|| corrupt("dictionary block"))
}

struct Entry<'a> {
    shared: usize,
    suffix: &'a [u8],
    df: u32,
    len: usize,
}

/// One dictionary entry at `*pos`; `prev` is the term before it (for the shared-prefix bound).
fn read_entry<'a>(dict: &'a [u8], pos: &mut usize, prev: &[u8]) -> Option<Entry<'a>> {
    let shared = usize::try_from(varint::get(dict, pos)?).ok()?;
    let suffix_len = usize::try_from(varint::get(dict, pos)?).ok()?;
    if suffix_len > MAX_TERM_BYTES {
        return None;
    }
    let suffix = dict.get(*pos..pos.checked_add(suffix_len)?)?;
    *pos += suffix_len;
    let df = u32::try_from(varint::get(dict, pos)?).ok()?;
    let len = usize::try_from(varint::get(dict, pos)?).ok()?;
    if !prev.is_empty() && shared > prev.len() {
        return None;
    }
    Some(Entry { shared, suffix, df, len })
}

/// One skip block of a postings list.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Its last node id.
    last: u32,
    /// Where its body ends in the list's bytes.
    end: usize,
    /// Bounds of its entries, for the block's best score.
    max_tf: u32,
    min_len: u32,
}

/// One term's postings, decoded as they are read, with whole blocks skipped on request.
#[derive(Debug, Clone)]
pub struct Postings<'a> {
    bytes: &'a [u8],
    blocks: Vec<Block>,
    /// The block being read, and its entries not read yet.
    block: usize,
    left: u32,
    pos: usize,
    /// Where the first block's entries begin (after the skip table).
    start: usize,
    df: u32,
    /// The smallest node id the next entry may have.
    next_min: u64,
    node_count: u32,
    norms: &'a [u8],
}

impl<'a> Postings<'a> {
    fn new(bytes: &'a [u8], df: u32, node_count: u32, norms: &'a [u8]) -> Result<Postings<'a>> {
        let mut list = Postings {
            bytes,
            blocks: Vec::new(),
            block: 0,
            left: 0,
            pos: 0,
            start: 0,
            df,
            next_min: 0,
            node_count,
            norms,
        };
        if df > SKIP_BLOCK {
            list.read_skip_table()?;
        } else {
            // One block: read it once for its bounds (and its checks), then rewind.
            let mut block = Block { last: 0, end: bytes.len(), max_tf: u32::MAX, min_len: 0 };
            list.blocks.push(block);
            list.left = df;
            let (mut max_tf, mut min_len) = (0, u32::MAX);
            while let Some((node, tf, len)) = list.next_posting()? {
                block.last = node;
                max_tf = max_tf.max(tf);
                min_len = min_len.min(len);
            }
            block.max_tf = max_tf;
            block.min_len = min_len;
            list.blocks[0] = block;
            list.rewind();
        }
        Ok(list)
    }

    fn read_skip_table(&mut self) -> Result<()> {
        let bad = || corrupt("postings skip table damaged");
        let count = self.df.div_ceil(SKIP_BLOCK) as usize;
        // Every skip entry takes at least 4 bytes: bound the count by the bytes before allocating.
        if count > self.bytes.len() / 4 {
            return Err(bad());
        }
        let mut raw = Vec::with_capacity(count);
        let (mut last, mut body) = (0u64, 0usize);
        for b in 0..count {
            let delta = varint::get(self.bytes, &mut self.pos).ok_or_else(bad)?;
            let len = varint::get(self.bytes, &mut self.pos)
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(bad)?;
            let max_tf =
                varint::get(self.bytes, &mut self.pos).and_then(|t| t.checked_add(1)).ok_or_else(bad)?;
            let min_len = varint::get(self.bytes, &mut self.pos).ok_or_else(bad)?;
            if (b > 0 && delta == 0) || len == 0 {
                return Err(bad());
            }
            last = last.checked_add(delta).filter(|&l| l < u64::from(self.node_count)).ok_or_else(bad)?;
            body = body.checked_add(len).ok_or_else(bad)?;
            let max_tf = u32::try_from(max_tf).map_err(|_| bad())?;
            let min_len = u32::try_from(min_len).map_err(|_| bad())?;
            raw.push(Block { last: last as u32, end: body, max_tf, min_len });
        }
        let start = self.pos;
        if start.checked_add(body) != Some(self.bytes.len()) {
            return Err(corrupt("postings skip table does not match the list"));
        }
        for b in &mut raw {
            b.end += start;
        }
        self.start = start;
        self.blocks = raw;
        self.rewind();
        Ok(())
    }

    /// Back to the first entry (after the skip table).
    fn rewind(&mut self) {
        self.block = 0;
        self.left = self.block_len(0);
        self.next_min = 0;
        self.pos = self.start;
    }

    fn block_len(&self, b: usize) -> u32 {
        match b + 1 < self.blocks.len() {
            true => SKIP_BLOCK,
            false => self.df - SKIP_BLOCK * (self.blocks.len() as u32 - 1),
        }
    }

    /// How many passages have the term.
    pub fn doc_freq(&self) -> u32 {
        self.df
    }

    /// The (max tf, min length) bounds of every block, in order.
    pub fn block_bounds(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.blocks.iter().map(|b| (b.max_tf, b.min_len))
    }

    /// The (max tf, min length) bounds of the block being read (of the last block at the end).
    pub fn current_bounds(&self) -> (u32, u32) {
        let b = &self.blocks[self.block.min(self.blocks.len() - 1)];
        (b.max_tf, b.min_len)
    }

    /// Move to the block that may hold `target` without decoding the blocks before it; the next
    /// entry read is then the first of that block (or the current one's next, if `target` is in
    /// it). Returns false when no block holds a node >= `target`.
    pub fn skip_to_block(&mut self, target: u32) -> bool {
        while self.block < self.blocks.len() && self.blocks[self.block].last < target {
            let done = self.blocks[self.block];
            self.block += 1;
            self.pos = done.end;
            self.next_min = u64::from(done.last) + 1;
            if self.block < self.blocks.len() {
                self.left = self.block_len(self.block);
            } else {
                self.left = 0;
            }
        }
        self.block < self.blocks.len()
    }

    /// The first entry whose node is >= `target`, skipping whole blocks below it.
    pub fn advance(&mut self, target: u32) -> Result<Option<(u32, u32, u32)>> {
        if !self.skip_to_block(target) {
            return Ok(None);
        }
        while let Some(p) = self.next_posting()? {
            if p.0 >= target {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// The next (node, term frequency, passage length), or `None` at the end of the list.
    pub fn next_posting(&mut self) -> Result<Option<(u32, u32, u32)>> {
        if self.left == 0 {
            if self.block >= self.blocks.len() {
                return Ok(None);
            }
            let done = self.blocks[self.block];
            if self.pos != done.end || (self.next_min != u64::from(done.last) + 1 && self.df > SKIP_BLOCK) {
                return Err(corrupt("postings block does not end where its skip entry says"));
            }
            self.block += 1;
            if self.block == self.blocks.len() {
                return Ok(None);
            }
            self.left = self.block_len(self.block);
        }
        let bad = || corrupt("postings list damaged");
        let block = self.blocks[self.block];
        let word = varint::get(self.bytes, &mut self.pos).ok_or_else(bad)?;
        let node = self.next_min.checked_add(word >> 1).ok_or_else(bad)?;
        if node >= u64::from(self.node_count) || (self.df > SKIP_BLOCK && node > u64::from(block.last)) {
            return Err(corrupt("posting names a node past the end"));
        }
        let tf = match word & 1 {
            1 => 1,
            _ => varint::get(self.bytes, &mut self.pos).and_then(|t| t.checked_add(2)).ok_or_else(bad)?,
        };
        if self.pos > block.end {
            return Err(bad());
        }
        let at = node as usize * 2;
        let len = u32::from(u16::from_le_bytes([self.norms[at], self.norms[at + 1]]));
        // A saturated length can be below the true frequency; anything else is damage.
        if tf > u64::from(len) && len != u32::from(u16::MAX) {
            return Err(corrupt("term frequency above the passage length"));
        }
        // The block's bounds are what search prunes by: an entry outside them is damage.
        if tf > u64::from(block.max_tf) || len < block.min_len {
            return Err(corrupt("posting outside its block's bounds"));
        }
        self.left -= 1;
        self.next_min = node + 1;
        Ok(Some((node as u32, u32::try_from(tf).map_err(|_| bad())?, len)))
    }
}

/// Encode one term's list (module docs); `norms` gives each node's stored length.
fn encode_list(out: &mut Vec<u8>, list: &[(u32, u32)], norms: &[u16]) {
    let body = |out: &mut Vec<u8>, entries: &[(u32, u32)], mut next_min: u64| {
        for &(node, tf) in entries {
            let gap = u64::from(node) - next_min;
            varint::put(out, gap << 1 | u64::from(tf == 1));
            if tf > 1 {
                varint::put(out, u64::from(tf) - 2);
            }
            next_min = u64::from(node) + 1;
        }
    };
    if list.len() <= SKIP_BLOCK as usize {
        body(out, list, 0);
        return;
    }
    let mut bodies = Vec::new();
    let mut prev_last: Option<u64> = None;
    for chunk in list.chunks(SKIP_BLOCK as usize) {
        let start = bodies.len();
        body(&mut bodies, chunk, prev_last.map_or(0, |l| l + 1));
        let last = u64::from(chunk[chunk.len() - 1].0);
        let max_tf = chunk.iter().map(|e| e.1).max().unwrap_or(1);
        let min_len = chunk.iter().map(|e| norms[e.0 as usize]).min().unwrap_or(0);
        varint::put(out, last - prev_last.unwrap_or(0));
        varint::put(out, (bodies.len() - start) as u64);
        varint::put(out, u64::from(max_tf) - 1);
        varint::put(out, u64::from(min_len));
        prev_last = Some(last);
    }
    out.extend_from_slice(&bodies);
}

fn assemble(
    config: AnalyzerConfig,
    counts: [u32; 3],
    total_len: u64,
    sections: [&[u8]; SECTIONS],
) -> Vec<u8> {
    let mut out = vec![0u8; DATA_START];
    let mut table = Vec::with_capacity(SECTIONS);
    for (i, bytes) in sections.iter().enumerate() {
        let offset = out.len() as u64;
        out.extend_from_slice(bytes);
        out.resize(align_up(out.len()), 0);
        table.push(SectionEntry {
            kind: i as u32 + 1,
            reserved: 0,
            offset,
            len: bytes.len() as u64,
            checksum: checksum(bytes),
        });
    }
    let table_bytes: &[u8] = bytemuck::cast_slice(&table);
    let mut header = Header {
        magic: MAGIC,
        major: FORMAT_MAJOR,
        minor: FORMAT_MINOR,
        endian: ENDIAN_MARK,
        flags: config.to_flags(),
        node_count: counts[0],
        doc_count: counts[1],
        term_count: counts[2],
        total_len,
        file_len: out.len() as u64,
        table_checksum: checksum(table_bytes),
        header_checksum: 0,
    };
    header.header_checksum = checksum(bytemuck::bytes_of(&header));
    out[..TABLE_START].copy_from_slice(bytemuck::bytes_of(&header));
    out[TABLE_START..DATA_START].copy_from_slice(table_bytes);
    out
}

fn validate(bytes: &[u8]) -> Result<Layout> {
    let head = bytes.get(..TABLE_START).ok_or_else(|| corrupt("shorter than its header"))?;
    let h: Header = bytemuck::pod_read_unaligned(head);
    if h.magic != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if h.endian != ENDIAN_MARK {
        return Err(corrupt("written with another byte order"));
    }
    if h.major != FORMAT_MAJOR {
        return Err(Error::IncompatibleVersion { found: h.major, supported: FORMAT_MAJOR });
    }
    let mut zeroed = h;
    zeroed.header_checksum = 0;
    if checksum(bytemuck::bytes_of(&zeroed)) != h.header_checksum {
        return Err(corrupt("header checksum mismatch"));
    }
    if h.file_len != bytes.len() as u64 {
        return Err(corrupt("file length differs from the header (truncated or extended)"));
    }
    let config = AnalyzerConfig::from_flags(h.flags).ok_or_else(|| corrupt("unknown analyzer flags"))?;
    let table_bytes = bytes.get(TABLE_START..DATA_START).ok_or_else(|| corrupt("shorter than its table"))?;
    if checksum(table_bytes) != h.table_checksum {
        return Err(corrupt("section table checksum mismatch"));
    }
    let mut ranges: Vec<Range<usize>> = Vec::with_capacity(SECTIONS);
    let mut next_free = DATA_START;
    for (i, raw) in table_bytes.chunks_exact(std::mem::size_of::<SectionEntry>()).enumerate() {
        let e: SectionEntry = bytemuck::pod_read_unaligned(raw);
        let offset = usize::try_from(e.offset).map_err(|_| corrupt("section offset"))?;
        let len = usize::try_from(e.len).map_err(|_| corrupt("section length"))?;
        let end = offset.checked_add(len).ok_or_else(|| corrupt("section length overflows"))?;
        if e.kind != i as u32 + 1 || e.reserved != 0 || offset != next_free || end > bytes.len() {
            return Err(corrupt("section out of place"));
        }
        if checksum(&bytes[offset..end]) != e.checksum {
            return Err(corrupt("section checksum mismatch"));
        }
        next_free = align_up(end);
        if next_free > bytes.len() || bytes[end..next_free].iter().any(|&b| b != 0) {
            return Err(corrupt("bad section padding"));
        }
        ranges.push(offset..end);
    }
    if next_free != bytes.len() {
        return Err(corrupt("bytes after the last section"));
    }
    let [norms, blocks, dict, postings]: [Range<usize>; SECTIONS] =
        ranges.try_into().map_err(|_| corrupt("section table"))?;
    debug_assert_eq!([NORMS, DICT_BLOCKS, DICT, POSTINGS], [1, 2, 3, 4]);
    if norms.len() as u64 != u64::from(h.node_count) * 2 {
        return Err(corrupt("norms do not match the node count"));
    }
    if h.doc_count > h.node_count {
        return Err(corrupt("more passages than node ids"));
    }
    let term_count = h.term_count as usize;
    // Every entry takes at least 5 bytes: bound the count by the bytes before trusting it.
    if term_count > dict.len() / 5 + 1 || blocks.len() != term_count.div_ceil(BLOCK) * 4 {
        return Err(corrupt("term count does not match the dictionary"));
    }
    let postings_count = check_dictionary(
        &bytes[blocks.clone()],
        &bytes[dict.clone()],
        term_count,
        h.doc_count,
        postings.len(),
    )?;
    if h.total_len < postings_count {
        return Err(corrupt("total length below the postings count"));
    }
    Ok(Layout {
        config,
        node_count: h.node_count,
        doc_count: h.doc_count,
        term_count: h.term_count,
        total_len: h.total_len,
        postings_count,
        norms,
        blocks,
        dict,
        postings,
    })
}

/// Walk the whole dictionary: strictly increasing terms, block offsets where the blocks are,
/// postings offsets contiguous and covering the postings section exactly. Returns the number of
/// postings.
fn check_dictionary(blocks: &[u8], dict: &[u8], terms: usize, docs: u32, post_len: usize) -> Result<u64> {
    let bad = |m: &str| corrupt(&format!("dictionary: {m}"));
    let mut pos = 0usize;
    let mut at = 0usize;
    let mut seen = 0usize;
    let mut prev: Vec<u8> = Vec::with_capacity(MAX_TERM_BYTES);
    let mut current: Vec<u8> = Vec::with_capacity(MAX_TERM_BYTES);
    let mut postings = 0u64;
    for b in 0..blocks.len() / 4 {
        if block_offset(blocks, b)? != pos {
            return Err(bad("block offset"));
        }
        if varint::get(dict, &mut pos).map(|s| s as usize) != Some(at) {
            return Err(bad("block postings offset"));
        }
        for k in 0..BLOCK.min(terms - seen) {
            let e = read_entry(dict, &mut pos, &prev).ok_or_else(|| bad("entry"))?;
            if (k == 0 && e.shared != 0) || e.shared > prev.len() {
                return Err(bad("shared prefix"));
            }
            current.clear();
            current.extend_from_slice(&prev[..e.shared]);
            current.extend_from_slice(e.suffix);
            if (seen > 0 && current <= prev) || current.is_empty() || current.len() > MAX_TERM_BYTES {
                return Err(bad("terms out of order"));
            }
            if e.df == 0 || e.df > docs || e.len < e.df as usize {
                return Err(bad("document frequency"));
            }
            at = at.checked_add(e.len).filter(|&a| a <= post_len).ok_or_else(|| bad("postings length"))?;
            postings += u64::from(e.df);
            std::mem::swap(&mut prev, &mut current);
            seen += 1;
        }
    }
    if seen != terms || pos != dict.len() || at != post_len {
        return Err(bad("does not cover its sections"));
    }
    Ok(postings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeywordIndex {
        let docs = [(0, "the quick brown fox"), (2, "the lazy dog, the end"), (5, "fox and dog")];
        KeywordIndex::build(&docs, &Analyzer::default()).unwrap()
    }

    fn list(view: &KeywordView<'_>, term: &str) -> Vec<(u32, u32)> {
        let Some(mut p) = view.postings(term).unwrap() else { return Vec::new() };
        let mut out = Vec::new();
        while let Some((n, tf, _)) = p.next_posting().unwrap() {
            out.push((n, tf));
        }
        out
    }

    #[test]
    fn postings_round_trip() {
        let idx = sample();
        let view = KeywordView::from_bytes(idx.to_bytes()).unwrap();
        assert_eq!(list(&view, "the"), [(0, 1), (2, 2)]);
        assert_eq!(list(&view, "fox"), [(0, 1), (5, 1)]);
        assert_eq!(list(&view, "dog"), [(2, 1), (5, 1)]);
        assert_eq!(list(&view, "cat"), []);
        assert_eq!(list(&view, "a"), []);
        assert_eq!(list(&view, "zzz"), []);
        assert_eq!(view.node_count(), 6);
        assert_eq!(view.doc_count(), 3);
        assert_eq!(view.doc_len(2), 5);
        assert_eq!(view.doc_len(1), 0);
        assert!((view.avg_len() - 12.0 / 3.0).abs() < 1e-12);
        view.validate_postings().unwrap();
    }

    #[test]
    fn many_terms_span_blocks() {
        let texts: Vec<String> = (0..500).map(|i| format!("w{i} common x{}", i % 7)).collect();
        let docs: Vec<(u32, &str)> =
            texts.iter().enumerate().map(|(i, t)| (i as u32 * 3, t.as_str())).collect();
        let idx = KeywordIndex::build(&docs, &Analyzer::default()).unwrap();
        let view = idx.view();
        assert_eq!(view.stats().term_count, 500 + 1 + 7);
        for i in [0usize, 1, 15, 16, 17, 255, 499] {
            assert_eq!(list(&view, &format!("w{i}")), [(i as u32 * 3, 1)]);
        }
        assert_eq!(list(&view, "common").len(), 500);
        assert_eq!(list(&view, "x3").len(), 71);
        view.validate_postings().unwrap();
    }

    #[test]
    fn empty_index_and_duplicate_nodes() {
        let idx = KeywordIndex::build(&[], &Analyzer::default()).unwrap();
        let view = KeywordIndex::from_bytes(idx.to_bytes()).unwrap();
        assert_eq!(list(&view.view(), "x"), []);
        let dup = KeywordIndex::build(&[(1, "a"), (1, "b")], &Analyzer::default());
        assert!(matches!(dup, Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn file_round_trip_through_storage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keywords");
        let idx = sample();
        idx.write(&crate::store::RealStorage, &path).unwrap();
        let file = KeywordFile::open(&path).unwrap();
        assert_eq!(list(&file.view(), "dog"), [(2, 1), (5, 1)]);
    }

    #[test]
    fn wrong_version_is_a_typed_error() {
        let mut bytes = sample().to_bytes().to_vec();
        bytes[8] = 9;
        assert!(matches!(KeywordView::from_bytes(&bytes), Err(Error::IncompatibleVersion { found: 9, .. })));
    }
}
