//! The app's passage ids (strings) in internal order, front-coded in blocks of [`BLOCK`].
//!
//! Section: `n: u32`, `blocks: u32`, `blocks × u32` offsets into the data, then the data. In a block
//! the first id is `len, bytes`; each next one is `shared prefix len, suffix len, suffix`.

use super::le::u32_at;
use super::varint;
use crate::{Error, Result};

const BLOCK: usize = 16;
/// Ids longer than this are refused at build time and treated as corruption when read.
pub const MAX_ID_BYTES: usize = 1024;

/// Encode ids (in internal order).
pub fn encode_ids(ids: &[&str]) -> Vec<u8> {
    let blocks = ids.len().div_ceil(BLOCK);
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(blocks);
    for chunk in ids.chunks(BLOCK) {
        offsets.push(data.len() as u32);
        let mut prev: &[u8] = &[];
        for (i, id) in chunk.iter().enumerate() {
            let id = id.as_bytes();
            let shared = if i == 0 { 0 } else { prev.iter().zip(id).take_while(|(a, b)| a == b).count() };
            if i > 0 {
                varint::put(&mut data, shared as u64);
            }
            varint::put(&mut data, (id.len() - shared) as u64);
            data.extend_from_slice(&id[shared..]);
            prev = id;
        }
    }
    let mut out = Vec::with_capacity(8 + offsets.len() * 4 + data.len());
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    out.extend_from_slice(&(blocks as u32).to_le_bytes());
    offsets.iter().for_each(|o| out.extend_from_slice(&o.to_le_bytes()));
    out.extend_from_slice(&data);
    out
}

/// A validated view of an ids section.
#[derive(Debug, Clone, Copy)]
pub struct IdsView<'a> {
    n: usize,
    offsets: &'a [u8],
    data: &'a [u8],
}

impl<'a> IdsView<'a> {
    /// Validate the whole section (every id decodes to UTF-8 within bounds) and wrap it.
    pub fn new(bytes: &'a [u8], expected: usize) -> Result<Self> {
        let corrupt = |m: &str| Error::Corrupt(format!("ids: {m}"));
        let n = u32_at(bytes, 0).ok_or_else(|| corrupt("truncated"))? as usize;
        let blocks = u32_at(bytes, 4).ok_or_else(|| corrupt("truncated"))? as usize;
        if n != expected || blocks != n.div_ceil(BLOCK) {
            return Err(corrupt("count disagrees with the index"));
        }
        let data_start = 8 + blocks * 4;
        let offsets = bytes.get(8..data_start).ok_or_else(|| corrupt("truncated offsets"))?;
        let view = IdsView { n, offsets, data: &bytes[data_start..] };
        let mut buf = Vec::new();
        for b in 0..blocks {
            let end = view.block_end(b);
            let mut pos = view.block_start(b);
            if pos > end || end > view.data.len() {
                return Err(corrupt("block offsets out of order"));
            }
            for k in 0..BLOCK.min(n - b * BLOCK) {
                view.next_id(&mut pos, end, k == 0, &mut buf).ok_or_else(|| corrupt("undecodable id"))?;
            }
            if pos != end {
                return Err(corrupt("block has trailing bytes"));
            }
        }
        Ok(view)
    }

    /// Wrap a section that [`IdsView::new`] already validated: reads only the header. Reads stay
    /// bounds-checked, so a wrong section gives missing ids, never a fault.
    pub fn prevalidated(bytes: &'a [u8]) -> Self {
        let n = u32_at(bytes, 0).unwrap_or(0) as usize;
        let data_start = (8 + n.div_ceil(BLOCK) * 4).min(bytes.len());
        IdsView { n, offsets: &bytes[8.min(bytes.len())..data_start], data: &bytes[data_start..] }
    }

    fn block_start(&self, b: usize) -> usize {
        b.checked_mul(4).and_then(|at| u32_at(self.offsets, at)).map_or(usize::MAX, |o| o as usize)
    }

    fn block_end(&self, b: usize) -> usize {
        if b + 1 < self.n.div_ceil(BLOCK) {
            self.block_start(b + 1)
        } else {
            self.data.len()
        }
    }

    /// Decode the next id into `buf`, which holds the previous id of the block (unless `first`).
    fn next_id(&self, pos: &mut usize, end: usize, first: bool, buf: &mut Vec<u8>) -> Option<()> {
        let data = self.data.get(..end)?;
        let shared = if first { 0 } else { varint::get(data, pos)? as usize };
        let len = varint::get(data, pos)? as usize;
        if shared > buf.len() || shared + len > MAX_ID_BYTES {
            return None;
        }
        buf.truncate(shared);
        buf.extend_from_slice(data.get(*pos..pos.checked_add(len)?)?);
        *pos += len;
        std::str::from_utf8(buf).ok().map(|_| ())
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The id of internal passage `i`.
    pub fn get(&self, i: usize) -> Option<String> {
        if i >= self.n {
            return None;
        }
        let b = i / BLOCK;
        let mut pos = self.block_start(b);
        let end = self.block_end(b);
        let mut buf = Vec::new();
        for k in 0..=i % BLOCK {
            self.next_id(&mut pos, end, k == 0, &mut buf)?;
        }
        String::from_utf8(buf).ok()
    }

    /// All ids in internal order.
    pub fn all(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.n);
        for b in 0..self.n.div_ceil(BLOCK) {
            let (mut pos, end) = (self.block_start(b), self.block_end(b));
            let mut buf = Vec::new();
            for k in 0..BLOCK.min(self.n - b * BLOCK) {
                if self.next_id(&mut pos, end, k == 0, &mut buf).is_none() {
                    return out;
                }
                out.push(String::from_utf8_lossy(&buf).into_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ids: Vec<String> = (0..100)
            .map(|i| format!("man:page{}.{}", i / 3, i % 7))
            .chain(["".into(), "é🙂".into()])
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let bytes = encode_ids(&refs);
        let view = IdsView::new(&bytes, ids.len()).unwrap();
        assert_eq!(view.all(), ids);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(view.get(i).as_ref(), Some(id));
        }
        assert_eq!(view.get(ids.len()), None);
        for cut in 0..bytes.len() {
            assert!(IdsView::new(&bytes[..cut], ids.len()).is_err(), "cut {cut}");
        }
        assert!(IdsView::new(&bytes, ids.len() + 1).is_err());
    }
}
