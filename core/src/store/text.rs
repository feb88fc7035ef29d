//! Passage text, compressed in blocks that each decompress on their own, so fetching one candidate
//! decompresses one block.
//!
//! Format 2 (written): zstd blocks with a dictionary trained on the passages themselves.
//!
//! ```text
//! codec: u8 (1 = zstd) | 3 zero bytes | n: u32 | blocks: u32 | dict: u32 (its length, 0 = none)
//! (blocks + 1) × u64 offsets of the blocks, from the end of the dictionary
//! the dictionary (a zstd dictionary, at most MAX_DICT bytes)
//! the blocks: one zstd frame each (content size recorded, no checksum, no dictionary id) holding
//!             count: u32 | count × u32 lengths | the texts
//! ```
//!
//! Format 1 (read only): `n: u32`, `blocks: u32`, `(blocks + 1) × u64` offsets, then lz4 blocks
//! (size-prepended) of up to 16 passages, each `count × u32` lengths followed by the texts.
//!
//! Blocks hold up to [`BLOCK_PASSAGES`] passages or [`BLOCK_BYTES`] of text (a longer passage
//! alone). The measurements behind the codec, the dictionary and the block size are in
//! `examples/text_codecs.rs` and docs/BENCHMARKS.md ("Text store codecs").

use std::sync::{Arc, Mutex};

use zstd::zstd_safe::{DCtx, DDict};

use super::le::{u32_at, u32s};
use crate::{Error, Result};

/// Passages per block. A candidate's fetch decompresses one block: at 64 (~55 KB of man pages)
/// that is 35-60 µs p50 here, nothing beside its ~30 ms re-embedding, and the text is 0.7-1.3
/// points smaller than at 32 and 1.5-2.8 points smaller than at 16 (man pages, pydocs, zh-docs).
const BLOCK_PASSAGES: usize = 64;
/// Text bytes per block, unless one passage is longer.
const BLOCK_BYTES: usize = 256 * 1024;
/// zstd level: a commit re-encodes every text, so the encoder's speed is paid at each one. Level 9
/// encodes 24-39 MB/s here, 19 only 3-6 MB/s (about 20 s for a commit at 100k passages of ~900 B,
/// several times that on a phone's little cores) for 1-3 points of the text smaller
/// (docs/BENCHMARKS.md, "Text store codecs"); decoding is as fast at every level.
const LEVEL: i32 = 9;
/// Dictionary capacity, stored once per section: 32 KiB did as well as 64 KiB (within 0.3 points,
/// either way) and 0.5 points better than 16 KiB.
const DICT_BYTES: usize = 32 * 1024;
/// A larger claimed dictionary is corruption (the writer never makes one over [`DICT_BYTES`]).
const MAX_DICT: usize = 128 * 1024;
/// Below this much text a dictionary may cost more than it saves (first passages of pydocs and
/// zh-docs: 2 points worse at 0.4-0.5 MB, 1.4 points better at 0.75 MB of zh-docs, 0.4 at 1.0 MB of
/// pydocs): blocks are then compressed without one.
const MIN_TEXT_FOR_DICT: usize = 1024 * 1024;
/// The training sample: every k-th passage, at most this many bytes, so training time is bounded
/// (and, being a fixed function of the passages, deterministic).
const SAMPLE_BYTES: usize = 2 * 1024 * 1024;
/// The codec byte of a format-2 section.
const CODEC_ZSTD: u8 = 1;
/// Readers take blocks of up to this many passages, so a writer may change its block size
/// without a new format.
const MAX_BLOCK_PASSAGES: usize = 4096;
/// Format 1 blocks hold at most this many passages.
const LZ4_BLOCK_PASSAGES: usize = 16;
/// lz4 cannot expand more than ~255:1; a size claim above this bound is corruption.
const LZ4_MAX_RATIO: usize = 256;
/// zstd cannot expand more than 32768:1 (a 4-byte RLE block holds at most 128 KiB); a larger
/// claimed size is corruption, refused before anything is allocated for it.
const ZSTD_MAX_RATIO: usize = 32 * 1024;

/// Compress passages (in internal order) into a text section (format 2).
pub fn encode_texts(texts: &[&str]) -> Result<Vec<u8>> {
    encode(texts, MIN_TEXT_FOR_DICT)
}

/// [`encode_texts`], training a dictionary from `min_dict_text` bytes of text on.
fn encode(texts: &[&str], min_dict_text: usize) -> Result<Vec<u8>> {
    let raws = pack(texts);
    let dict = train(texts, min_dict_text);
    let compress_err = |e: std::io::Error| Error::InvalidArgument(format!("text: zstd: {e}"));
    let mut z = if dict.is_empty() {
        zstd::bulk::Compressor::new(LEVEL)
    } else {
        zstd::bulk::Compressor::with_dictionary(LEVEL, &dict)
    }
    .map_err(compress_err)?;
    // The section's checksum covers every block and the section names its dictionary: the frame's
    // own checksum and dictionary id would only cost bytes.
    for p in
        [zstd::zstd_safe::CParameter::ChecksumFlag(false), zstd::zstd_safe::CParameter::DictIdFlag(false)]
    {
        z.set_parameter(p).map_err(compress_err)?;
    }
    let blocks: Vec<Vec<u8>> =
        raws.iter().map(|raw| z.compress(raw)).collect::<std::io::Result<_>>().map_err(compress_err)?;
    let mut out = Vec::new();
    out.extend_from_slice(&[CODEC_ZSTD, 0, 0, 0]);
    out.extend_from_slice(&(texts.len() as u32).to_le_bytes());
    out.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    let mut offset = 0u64;
    for b in &blocks {
        out.extend_from_slice(&offset.to_le_bytes());
        offset += b.len() as u64;
    }
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&dict);
    blocks.iter().for_each(|b| out.extend_from_slice(b));
    Ok(out)
}

/// Raw format-2 blocks: `count: u32`, `count × u32` lengths, the texts.
fn pack(texts: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < texts.len() {
        let mut j = i;
        let mut bytes = 0;
        while j < texts.len() && j - i < BLOCK_PASSAGES && (j == i || bytes + texts[j].len() <= BLOCK_BYTES) {
            bytes += texts[j].len();
            j += 1;
        }
        let mut raw = Vec::with_capacity(4 + bytes + 4 * (j - i));
        raw.extend_from_slice(&((j - i) as u32).to_le_bytes());
        texts[i..j].iter().for_each(|t| raw.extend_from_slice(&(t.len() as u32).to_le_bytes()));
        texts[i..j].iter().for_each(|t| raw.extend_from_slice(t.as_bytes()));
        out.push(raw);
        i = j;
    }
    out
}

/// A zstd dictionary trained on every k-th passage (at most [`SAMPLE_BYTES`]), or none when the
/// text is too small to repay one or training fails (too few or too uniform samples): the blocks
/// are then compressed without a dictionary, which every reader handles the same way.
fn train(texts: &[&str], min_dict_text: usize) -> Vec<u8> {
    let total: usize = texts.iter().map(|t| t.len()).sum();
    if total < min_dict_text || total == 0 {
        return Vec::new();
    }
    let stride = total.div_ceil(SAMPLE_BYTES).max(1);
    let mut samples: Vec<&[u8]> = Vec::new();
    let mut budget = SAMPLE_BYTES;
    for t in texts.iter().step_by(stride).filter(|t| !t.is_empty()) {
        // One huge passage must not blow the sample's bound.
        let s = &t.as_bytes()[..t.len().min(budget)];
        budget -= s.len();
        samples.push(s);
        if budget == 0 {
            break;
        }
    }
    zstd::dict::from_samples(&samples, DICT_BYTES).unwrap_or_default()
}

/// How a section's blocks are compressed.
#[derive(Clone)]
enum Codec {
    /// Format 1: size-prepended lz4 blocks of `count × u32` lengths and texts.
    Lz4,
    /// Format 2: zstd frames of `count`, lengths and texts, with the section's dictionary if any.
    Zstd { dict: Option<Arc<DDict<'static>>>, contexts: Arc<Mutex<Vec<DCtx<'static>>>> },
}

/// Idle decompression contexts kept per section. A context is ~100-160 KB, which the allocator
/// maps afresh each time: creating one per fetch took 19 µs of a 32 µs fetch (man pages).
const IDLE_CONTEXTS: usize = 2;

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Codec::Lz4 => f.write_str("Lz4"),
            Codec::Zstd { dict, .. } => write!(f, "Zstd(dictionary: {})", dict.is_some()),
        }
    }
}

/// The validated layout of a text section (owned, so it outlives any one borrow of the bytes).
#[derive(Debug, Clone)]
pub struct TextView {
    n: usize,
    codec: Codec,
    offsets: Vec<u64>,
    /// First passage of each block.
    firsts: Vec<usize>,
    /// Where the blocks start in the section.
    data_start: usize,
}

fn corrupt(m: &str) -> Error {
    Error::Corrupt(format!("text: {m}"))
}

impl TextView {
    /// Check a text section of the current format: its block table, its dictionary and every
    /// block (counts, lengths, UTF-8).
    pub fn new(bytes: &[u8], expected: usize) -> Result<Self> {
        Self::for_format(crate::store::FORMAT_MAJOR, bytes, expected)
    }

    /// Check a text section written with segment format `major` (1: lz4; 2: codec byte first).
    pub fn for_format(major: u16, bytes: &[u8], expected: usize) -> Result<Self> {
        let (codec, n_at) = match major {
            1 => (Codec::Lz4, 0),
            _ => {
                if bytes.get(..4) != Some(&[CODEC_ZSTD, 0, 0, 0][..]) {
                    return Err(corrupt("unknown codec"));
                }
                (Codec::Zstd { dict: None, contexts: Arc::default() }, 4)
            }
        };
        let n = u32_at(bytes, n_at).ok_or_else(|| corrupt("truncated"))? as usize;
        let blocks = u32_at(bytes, n_at + 4).ok_or_else(|| corrupt("truncated"))? as usize;
        if n != expected || blocks > n {
            return Err(corrupt("count disagrees with the index"));
        }
        let (dict_len, table_start) = match codec {
            Codec::Lz4 => (0, 8),
            Codec::Zstd { .. } => (u32_at(bytes, 12).ok_or_else(|| corrupt("truncated"))? as usize, 16),
        };
        if dict_len > MAX_DICT {
            return Err(corrupt("dictionary too large"));
        }
        let table_end = (blocks + 1)
            .checked_mul(8)
            .and_then(|t| t.checked_add(table_start))
            .ok_or_else(|| corrupt("block table out of bounds"))?;
        let table = bytes.get(table_start..table_end).ok_or_else(|| corrupt("truncated block table"))?;
        let offsets: Vec<u64> =
            table.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0xff; 8]))).collect();
        let data_start = table_end + dict_len;
        let data = bytes.get(data_start..).ok_or_else(|| corrupt("truncated dictionary"))?;
        if offsets.first() != Some(&0)
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last() != Some(&(data.len() as u64))
        {
            return Err(corrupt("block offsets out of order or bounds"));
        }
        let codec = match codec {
            Codec::Zstd { contexts, .. } if dict_len > 0 => {
                let dict = &bytes[table_end..data_start];
                let ddict = DDict::try_create(dict).ok_or_else(|| corrupt("bad dictionary"))?;
                Codec::Zstd { dict: Some(Arc::new(ddict)), contexts }
            }
            c => c,
        };
        let mut view = TextView { n, codec, offsets, firsts: Vec::with_capacity(blocks), data_start };
        let mut first = 0;
        let mut firsts = Vec::with_capacity(blocks);
        view.with_context(|dctx| {
            for b in 0..blocks {
                firsts.push(first);
                let raw = view.block(bytes, b, dctx)?;
                let lens = view.lengths(&raw).ok_or_else(|| corrupt("undecodable block"))?;
                // Every text must read back as a string later: check now, while the block is at
                // hand, rather than fail a search or a commit of an index that opened.
                if !(0..lens.len()).all(|k| view.passage(&raw, k).is_some()) {
                    return Err(corrupt("a passage is not UTF-8"));
                }
                first += lens.len();
            }
            Ok(())
        })?;
        if first != n {
            return Err(corrupt("blocks hold a different number of passages"));
        }
        view.firsts = firsts;
        Ok(view)
    }

    /// Run `f` with an idle decompression context of this section's (made on first use).
    fn with_context<T>(&self, f: impl FnOnce(&mut Option<DCtx<'static>>) -> Result<T>) -> Result<T> {
        let Codec::Zstd { contexts, .. } = &self.codec else { return f(&mut None) };
        let mut ctx = contexts.lock().ok().and_then(|mut idle| idle.pop());
        let result = f(&mut ctx);
        if let (Some(c), Ok(mut idle)) = (ctx, contexts.lock()) {
            if idle.len() < IDLE_CONTEXTS {
                idle.push(c);
            }
        }
        result
    }

    /// Decompress block `b`, checking the size it claims before allocating for it. `dctx` is a
    /// zstd context reused across the blocks of one call.
    fn block(&self, bytes: &[u8], b: usize, dctx: &mut Option<DCtx<'static>>) -> Result<Vec<u8>> {
        let bad = || Error::Corrupt(format!("text: block {b} does not decompress"));
        let (start, end) = match (self.offsets.get(b), self.offsets.get(b + 1)) {
            (Some(&s), Some(&e)) => (s as usize, e as usize),
            _ => return Err(bad()),
        };
        let data = bytes.get(self.data_start..).ok_or_else(bad)?;
        let comp = data.get(start..end).ok_or_else(bad)?;
        match &self.codec {
            Codec::Lz4 => {
                let claimed = u32_at(comp, 0).ok_or_else(bad)? as usize;
                if claimed > comp.len().saturating_mul(LZ4_MAX_RATIO) + 64 {
                    return Err(bad());
                }
                lz4_flex::decompress_size_prepended(comp).map_err(|_| bad())
            }
            Codec::Zstd { dict, .. } => {
                // One whole frame, recording its size: anything else is not what the writer made.
                if zstd::zstd_safe::find_frame_compressed_size(comp).ok() != Some(comp.len()) {
                    return Err(bad());
                }
                let claimed = match zstd::zstd_safe::get_frame_content_size(comp) {
                    Ok(Some(c)) => usize::try_from(c).map_err(|_| bad())?,
                    _ => return Err(bad()),
                };
                if claimed > comp.len().saturating_mul(ZSTD_MAX_RATIO) {
                    return Err(bad());
                }
                let ctx = match dctx {
                    Some(c) => c,
                    None => dctx.insert(DCtx::try_create().ok_or_else(|| {
                        Error::io("allocating a zstd context", "", std::io::ErrorKind::OutOfMemory.into())
                    })?),
                };
                let mut out = Vec::with_capacity(claimed);
                let got = match dict {
                    Some(d) => ctx.decompress_using_ddict(&mut out, comp, d),
                    None => ctx.decompress(&mut out, comp),
                };
                match got {
                    Ok(len) if len == claimed && out.len() == claimed => Ok(out),
                    _ => Err(bad()),
                }
            }
        }
    }

    /// The passage lengths of a decompressed block, once they are checked to add up exactly.
    fn lengths(&self, raw: &[u8]) -> Option<Vec<usize>> {
        match self.codec {
            Codec::Lz4 => {
                // Format 1 blocks do not record their count: the one whose lengths fill the block.
                for count in 1..=LZ4_BLOCK_PASSAGES {
                    let lens: Vec<usize> = u32s(raw.get(..count * 4)?).collect();
                    if count * 4 + lens.iter().sum::<usize>() == raw.len() {
                        return Some(lens);
                    }
                }
                None
            }
            Codec::Zstd { .. } => {
                let count = u32_at(raw, 0)? as usize;
                if count == 0 || count > MAX_BLOCK_PASSAGES {
                    return None;
                }
                let lens: Vec<usize> = u32s(raw.get(4..4 + count * 4)?).collect();
                let total = lens.iter().try_fold(4 + count * 4, |a, &l| a.checked_add(l))?;
                (total == raw.len()).then_some(lens)
            }
        }
    }

    /// Passage `k` of a decompressed block.
    fn passage(&self, raw: &[u8], k: usize) -> Option<String> {
        let lens = self.lengths(raw)?;
        let header = match self.codec {
            Codec::Lz4 => 0,
            Codec::Zstd { .. } => 4,
        };
        let start = header + lens.len() * 4 + lens.get(..k)?.iter().sum::<usize>();
        let bytes = raw.get(start..start + lens.get(k)?)?;
        String::from_utf8(bytes.to_vec()).ok()
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no passages.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The texts of the given internal passages of section `bytes`, in the order asked (each block
    /// decompressed once).
    pub fn get_many(&self, bytes: &[u8], ids: &[u32]) -> Result<Vec<String>> {
        let mut out = vec![String::new(); ids.len()];
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&k| ids[k]);
        let mut cached: Option<(usize, Vec<u8>)> = None;
        self.with_context(|dctx| {
            for k in order {
                let i = ids[k] as usize;
                if i >= self.n {
                    return Err(Error::InvalidArgument(format!("passage {i} out of range")));
                }
                let b = self.firsts.partition_point(|&f| f <= i) - 1;
                if cached.as_ref().map(|c| c.0) != Some(b) {
                    cached = Some((b, self.block(bytes, b, dctx)?));
                }
                let raw = cached.as_ref().map(|c| c.1.as_slice()).unwrap_or(&[]);
                out[k] = self
                    .passage(raw, i - self.firsts[b])
                    .ok_or_else(|| Error::Corrupt(format!("text: passage {i} undecodable")))?;
            }
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format-1 section as builds before format 2 wrote it (lz4, blocks of up to 16 passages or
    /// 64 KiB), to keep reading them tested.
    fn encode_lz4(texts: &[&str]) -> Vec<u8> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        while i < texts.len() {
            let mut j = i;
            let mut bytes = 0;
            while j < texts.len() && j - i < 16 && (j == i || bytes + texts[j].len() <= 64 * 1024) {
                bytes += texts[j].len();
                j += 1;
            }
            let mut raw = Vec::new();
            texts[i..j].iter().for_each(|t| raw.extend_from_slice(&(t.len() as u32).to_le_bytes()));
            texts[i..j].iter().for_each(|t| raw.extend_from_slice(t.as_bytes()));
            blocks.push(lz4_flex::compress_prepend_size(&raw));
            i = j;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(texts.len() as u32).to_le_bytes());
        out.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
        let mut offset = 0u64;
        for b in &blocks {
            out.extend_from_slice(&offset.to_le_bytes());
            offset += b.len() as u64;
        }
        out.extend_from_slice(&offset.to_le_bytes());
        blocks.iter().for_each(|b| out.extend_from_slice(b));
        out
    }

    fn sample_texts() -> Vec<String> {
        let big = "x".repeat(200_000);
        (0..60)
            .map(|i| format!("passage {i} about flash storage and batteries"))
            .chain(["".to_string(), big, "日本語 🙂".to_string()])
            .collect()
    }

    /// Enough varied text for a dictionary to be trained (tests lower the size threshold).
    fn dict_texts() -> Vec<String> {
        let words =
            ["flash", "storage", "battery", "kernel", "process", "signal", "memory", "device", "file"];
        (0..900)
            .map(|i: usize| {
                let mut s =
                    format!("NAME\n  tool{i} - manage the {} of a {}\n", words[i % 9], words[(i / 9) % 9]);
                for k in 0..12 {
                    s += &format!(
                        "The {} option sets the {} to {} for each {}. ",
                        words[(i + k) % 9],
                        words[(i * k) % 9],
                        i * k,
                        words[k % 9]
                    );
                }
                s
            })
            .collect()
    }

    fn check_round_trip(texts: &[String], bytes: &[u8], view: &TextView) {
        let ids: Vec<u32> = (0..texts.len() as u32).rev().collect();
        let got = view.get_many(bytes, &ids).unwrap();
        for (k, &i) in ids.iter().enumerate() {
            assert_eq!(got[k], texts[i as usize]);
        }
        assert!(view.get_many(bytes, &[texts.len() as u32]).is_err());
    }

    #[test]
    fn round_trip() {
        let texts = sample_texts();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let bytes = encode_texts(&refs).unwrap();
        let view = TextView::new(&bytes, texts.len()).unwrap();
        check_round_trip(&texts, &bytes, &view);
        assert!(TextView::new(&bytes, texts.len() + 1).is_err());
        for cut in (0..bytes.len()).step_by(97) {
            assert!(TextView::new(&bytes[..cut], texts.len()).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn format_1_lz4_sections_still_read() {
        let texts = sample_texts();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let bytes = encode_lz4(&refs);
        let view = TextView::for_format(1, &bytes, texts.len()).unwrap();
        check_round_trip(&texts, &bytes, &view);
        assert!(TextView::for_format(1, &bytes, texts.len() + 1).is_err());
        for cut in (0..bytes.len()).step_by(97) {
            assert!(TextView::for_format(1, &bytes[..cut], texts.len()).is_err(), "cut {cut}");
        }
        // Neither layout passes for the other.
        assert!(TextView::new(&bytes, texts.len()).is_err());
        let v2 = encode_texts(&refs).unwrap();
        assert!(TextView::for_format(1, &v2, texts.len()).is_err());
    }

    /// Both kinds of section the writer makes: without a dictionary, and with one (the size
    /// threshold lowered so the test text trains one).
    fn sections() -> Vec<(Vec<String>, Vec<u8>)> {
        let plain = sample_texts();
        let refs: Vec<&str> = plain.iter().map(String::as_str).collect();
        let plain_bytes = encode_texts(&refs).unwrap();
        let dict = dict_texts();
        let refs: Vec<&str> = dict.iter().map(String::as_str).collect();
        let dict_bytes = encode(&refs, 0).unwrap();
        vec![(plain, plain_bytes), (dict, dict_bytes)]
    }

    #[test]
    fn dictionary_round_trip_is_deterministic() {
        let texts = dict_texts();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let bytes = encode(&refs, 0).unwrap();
        let dict = u32_at(&bytes, 12).unwrap() as usize;
        assert!(dict > 0 && dict <= DICT_BYTES, "dictionary of {dict} bytes");
        assert_eq!(encode(&refs, 0).unwrap(), bytes, "the same passages encode to the same bytes");
        let view = TextView::new(&bytes, texts.len()).unwrap();
        check_round_trip(&texts, &bytes, &view);
        assert!(matches!(view.codec, Codec::Zstd { dict: Some(_), .. }));
        // Below the threshold: no dictionary.
        let small = encode_texts(&refs[..10]).unwrap();
        assert_eq!(u32_at(&small, 12), Some(0));
        // A dictionary whose entropy tables are damaged is refused (by zstd when it is loaded,
        // or by the blocks that no longer decode with it).
        let mut bad = bytes.clone();
        let table_end = 16 + 8 * (u32_at(&bytes, 8).unwrap() as usize + 1);
        bad[table_end + 8..table_end + 40].fill(0xff);
        assert!(matches!(TextView::new(&bad, texts.len()), Err(Error::Corrupt(_))));
    }

    #[test]
    fn truncation_at_every_cut_is_refused() {
        for (texts, bytes) in sections() {
            // Every cut in the header, table and dictionary, then every 7th byte of the blocks.
            let dict_end =
                16 + 8 * (u32_at(&bytes, 8).unwrap() as usize + 1) + u32_at(&bytes, 12).unwrap() as usize;
            for cut in (0..dict_end).chain((dict_end..bytes.len()).step_by(7)) {
                assert!(
                    matches!(TextView::new(&bytes[..cut], texts.len()), Err(Error::Corrupt(_))),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn damaged_bytes_give_errors_not_panics() {
        for (texts, bytes) in sections() {
            let ids: Vec<u32> = (0..texts.len() as u32).collect();
            let mut refused = 0;
            // Flip, zero and max out bytes all over the section (every byte of the header and
            // table; ~500 spread over the rest): each must open and read back, or fail as `Corrupt`.
            let table_end = 16 + 8 * (u32_at(&bytes, 8).unwrap() as usize + 1);
            let stride = (bytes.len() / 500).max(1);
            let positions: Vec<usize> =
                (0..bytes.len()).filter(|&i| i < table_end || i % stride == 0).collect();
            for &at in &positions {
                for value in [bytes[at] ^ 0x55, 0, 0xff] {
                    let mut bad = bytes.clone();
                    bad[at] = value;
                    match TextView::new(&bad, texts.len()) {
                        Ok(view) => {
                            // Damage that decodes (say, inside a passage) still gives strings.
                            let _ = view.get_many(&bad, &ids);
                        }
                        Err(Error::Corrupt(_)) => refused += 1,
                        Err(e) => panic!("byte {at}: {e}"),
                    }
                }
            }
            // Most damage is caught at open: frames carry no checksum, but a changed byte mostly
            // breaks the frame or the lengths (the segment's checksum catches the rest first).
            assert!(
                2 * refused > 3 * positions.len(),
                "{refused} of {} damaged sections refused",
                3 * positions.len()
            );
        }
    }

    #[test]
    fn oversized_claims_are_refused_before_allocating() {
        let texts = sample_texts();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut bytes = encode_texts(&refs).unwrap();
        bytes[12..16].copy_from_slice(&(MAX_DICT as u32 + 1).to_le_bytes());
        assert!(matches!(TextView::new(&bytes, texts.len()), Err(Error::Corrupt(_))));
        // A frame that claims 2^40 bytes of content.
        let mut frame = zstd::bulk::compress(b"tiny", 3).unwrap();
        let mut section = Vec::new();
        section.extend_from_slice(&[CODEC_ZSTD, 0, 0, 0]);
        section.extend_from_slice(&1u32.to_le_bytes());
        section.extend_from_slice(&1u32.to_le_bytes());
        section.extend_from_slice(&0u32.to_le_bytes());
        // Frame header descriptor: an 8-byte content size field.
        frame[4] = (frame[4] & 0x3f) | 0xc0;
        let fcs_at = 5 + usize::from(frame[4] & 0x20 == 0);
        frame.splice(fcs_at..fcs_at + 1, (1u64 << 40).to_le_bytes());
        section.extend_from_slice(&0u64.to_le_bytes());
        section.extend_from_slice(&(frame.len() as u64).to_le_bytes());
        section.extend_from_slice(&frame);
        assert!(matches!(TextView::new(&section, 1), Err(Error::Corrupt(_))));
    }

    #[test]
    fn invalid_utf8_is_refused_at_open() {
        // Lengths that add up, but a passage that is not UTF-8 (what damage behind a repaired
        // checksum left, found by the index_write fuzz target).
        for major in [1, 2] {
            let mut raw = Vec::new();
            if major == 2 {
                raw.extend_from_slice(&2u32.to_le_bytes());
            }
            raw.extend_from_slice(&2u32.to_le_bytes());
            raw.extend_from_slice(&2u32.to_le_bytes());
            raw.extend_from_slice(b"ok\xc3\x28");
            let section = |raw: &[u8]| {
                let block = if major == 1 {
                    lz4_flex::compress_prepend_size(raw)
                } else {
                    zstd::bulk::compress(raw, 3).unwrap()
                };
                let mut bytes = Vec::new();
                if major == 2 {
                    bytes.extend_from_slice(&[CODEC_ZSTD, 0, 0, 0]);
                }
                bytes.extend_from_slice(&2u32.to_le_bytes());
                bytes.extend_from_slice(&1u32.to_le_bytes());
                if major == 2 {
                    bytes.extend_from_slice(&0u32.to_le_bytes());
                }
                bytes.extend_from_slice(&0u64.to_le_bytes());
                bytes.extend_from_slice(&(block.len() as u64).to_le_bytes());
                bytes.extend_from_slice(&block);
                bytes
            };
            let bytes = section(&raw);
            assert!(matches!(TextView::for_format(major, &bytes, 2), Err(Error::Corrupt(_))));
            let n = raw.len();
            raw[n - 2] = b'!';
            raw[n - 1] = b'?';
            let bytes = section(&raw);
            let view = TextView::for_format(major, &bytes, 2).unwrap();
            assert_eq!(view.get_many(&bytes, &[0, 1]).unwrap(), ["ok", "!?"]);
        }
    }

    #[test]
    fn empty() {
        let bytes = encode_texts(&[]).unwrap();
        let view = TextView::new(&bytes, 0).unwrap();
        assert!(view.is_empty());
        let view = TextView::for_format(1, &encode_lz4(&[]), 0).unwrap();
        assert!(view.is_empty());
    }
}
