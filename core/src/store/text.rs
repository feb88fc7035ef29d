//! Passage text, lz4-compressed in blocks of up to [`BLOCK_PASSAGES`] passages or [`BLOCK_BYTES`].
//!
//! Section: `n: u32`, `blocks: u32`, `(blocks + 1) × u64` offsets of the compressed blocks, then
//! the blocks. A decompressed block is `count × u32` lengths followed by the texts.

use super::le::{u32_at, u32s};
use crate::{Error, Result};

const BLOCK_PASSAGES: usize = 16;
const BLOCK_BYTES: usize = 64 * 1024;
/// lz4 cannot expand more than ~255:1; a size claim above this bound is corruption.
const MAX_RATIO: usize = 256;

/// Compress passages (in internal order) into a text section.
pub fn encode_texts(texts: &[&str]) -> Vec<u8> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < texts.len() {
        let mut j = i;
        let mut bytes = 0;
        while j < texts.len() && j - i < BLOCK_PASSAGES && (j == i || bytes + texts[j].len() <= BLOCK_BYTES) {
            bytes += texts[j].len();
            j += 1;
        }
        let mut raw = Vec::with_capacity(bytes + 4 * (j - i));
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

/// The validated layout of a text section (owned, so it outlives any one borrow of the bytes).
#[derive(Debug, Clone)]
pub struct TextView {
    n: usize,
    offsets: Vec<u64>,
    /// First passage of each block.
    firsts: Vec<usize>,
    data_start: usize,
}

impl TextView {
    /// Check the block table and each block's header (counts and lengths) of section `bytes`.
    pub fn new(bytes: &[u8], expected: usize) -> Result<Self> {
        let corrupt = |m: &str| Error::Corrupt(format!("text: {m}"));
        let n = u32_at(bytes, 0).ok_or_else(|| corrupt("truncated"))? as usize;
        let blocks = u32_at(bytes, 4).ok_or_else(|| corrupt("truncated"))? as usize;
        if n != expected || blocks > n {
            return Err(corrupt("count disagrees with the index"));
        }
        let table_end = 8 + (blocks + 1) * 8;
        let table = bytes.get(8..table_end).ok_or_else(|| corrupt("truncated block table"))?;
        let offsets: Vec<u64> =
            table.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0xff; 8]))).collect();
        let data = &bytes[table_end..];
        let data_start = table_end;
        if offsets.first() != Some(&0)
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last() != Some(&(data.len() as u64))
        {
            return Err(corrupt("block offsets out of order or bounds"));
        }
        let mut view = TextView { n, offsets, firsts: Vec::with_capacity(blocks), data_start };
        let mut first = 0;
        for b in 0..blocks {
            view.firsts.push(first);
            let raw = view.block(bytes, b)?;
            let count = block_count(&raw).ok_or_else(|| corrupt("undecodable block"))?;
            // Every text must read back as a string later: check now, while the block is at hand,
            // rather than fail a search or a commit of an index that opened.
            if !(0..count).all(|k| passage(&raw, k).is_some()) {
                return Err(corrupt("a passage is not UTF-8"));
            }
            first += count;
        }
        if first != n {
            return Err(corrupt("blocks hold a different number of passages"));
        }
        Ok(view)
    }

    fn block(&self, bytes: &[u8], b: usize) -> Result<Vec<u8>> {
        let corrupt = || Error::Corrupt(format!("text: block {b} does not decompress"));
        let (start, end) = match (self.offsets.get(b), self.offsets.get(b + 1)) {
            (Some(&s), Some(&e)) => (s as usize, e as usize),
            _ => return Err(corrupt()),
        };
        let data = bytes.get(self.data_start..).ok_or_else(corrupt)?;
        let comp = data.get(start..end).ok_or_else(corrupt)?;
        let claimed = u32_at(comp, 0).ok_or_else(corrupt)? as usize;
        if claimed > comp.len().saturating_mul(MAX_RATIO) + 64 {
            return Err(corrupt());
        }
        lz4_flex::decompress_size_prepended(comp).map_err(|_| corrupt())
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
        for k in order {
            let i = ids[k] as usize;
            if i >= self.n {
                return Err(Error::InvalidArgument(format!("passage {i} out of range")));
            }
            let b = self.firsts.partition_point(|&f| f <= i) - 1;
            if cached.as_ref().map(|c| c.0) != Some(b) {
                cached = Some((b, self.block(bytes, b)?));
            }
            let raw = cached.as_ref().map(|c| c.1.as_slice()).unwrap_or(&[]);
            out[k] = passage(raw, i - self.firsts[b])
                .ok_or_else(|| Error::Corrupt(format!("text: passage {i} undecodable")))?;
        }
        Ok(out)
    }
}

/// Number of passages in a decompressed block, after checking its lengths add up exactly.
fn block_count(raw: &[u8]) -> Option<usize> {
    for count in 1..=BLOCK_PASSAGES {
        let header = raw.get(..count * 4)?;
        let total: usize = u32s(header).sum();
        if count * 4 + total == raw.len() {
            return Some(count);
        }
    }
    None
}

fn passage(raw: &[u8], k: usize) -> Option<String> {
    let count = block_count(raw)?;
    let lens: Vec<usize> = u32s(raw.get(..count * 4)?).collect();
    let start = count * 4 + lens.get(..k)?.iter().sum::<usize>();
    let bytes = raw.get(start..start + lens.get(k)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let big = "x".repeat(200_000);
        let texts: Vec<String> = (0..60)
            .map(|i| format!("passage {i} about flash storage and batteries"))
            .chain(["".to_string(), big, "日本語 🙂".to_string()])
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let bytes = encode_texts(&refs);
        let view = TextView::new(&bytes, texts.len()).unwrap();
        let ids: Vec<u32> = (0..texts.len() as u32).rev().collect();
        let got = view.get_many(&bytes, &ids).unwrap();
        for (k, &i) in ids.iter().enumerate() {
            assert_eq!(got[k], texts[i as usize]);
        }
        assert!(view.get_many(&bytes, &[texts.len() as u32]).is_err());
        assert!(TextView::new(&bytes, texts.len() + 1).is_err());
        for cut in (0..bytes.len()).step_by(97) {
            assert!(TextView::new(&bytes[..cut], texts.len()).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn invalid_utf8_is_refused_at_open() {
        // Lengths that add up, but a passage that is not UTF-8 (what damage behind a repaired
        // checksum left, found by the index_write fuzz target).
        let mut raw = Vec::new();
        raw.extend_from_slice(&2u32.to_le_bytes());
        raw.extend_from_slice(&2u32.to_le_bytes());
        raw.extend_from_slice(b"ok\xc3\x28");
        let block = lz4_flex::compress_prepend_size(&raw);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&(block.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&block);
        assert!(matches!(TextView::new(&bytes, 2), Err(Error::Corrupt(_))));
        raw[10] = b'!';
        raw[11] = b'?';
        let block = lz4_flex::compress_prepend_size(&raw);
        bytes.truncate(24);
        bytes.extend_from_slice(&block);
        bytes[16..24].copy_from_slice(&(block.len() as u64).to_le_bytes());
        let view = TextView::new(&bytes, 2).unwrap();
        assert_eq!(view.get_many(&bytes, &[0, 1]).unwrap(), ["ok", "!?"]);
    }

    #[test]
    fn empty() {
        let bytes = encode_texts(&[]);
        let view = TextView::new(&bytes, 0).unwrap();
        assert!(view.is_empty());
    }
}
