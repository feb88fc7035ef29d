//! The vector sidecar: full-precision vectors (f16 or f32) in internal order, in their own file so
//! they can be added or dropped without touching the graph or the codes.
//!
//! Layout: a 64-byte header (magic, version, dtype, dim, n, the segment's fingerprint, a checksum of
//! the data), then `n × dim` little-endian values.

use std::path::Path;

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::options::Precision;
use crate::store::{Mapped, Storage};
use crate::{Error, Result};

const MAGIC: [u8; 8] = *b"EMBERVEC";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    dtype: u32,
    dim: u32,
    reserved: u32,
    n: u64,
    segment: u64,
    data_checksum: u64,
    header_checksum: u64,
    pad: [u64; 1],
}
const _: () = assert!(std::mem::size_of::<Header>() == 64);

/// Values encoded per piece while writing: the file is streamed, never held whole (a million
/// 384-dimensional rows are 0.77 GB in f16).
const PIECE_VALUES: usize = 1 << 18;

/// Write vectors (row-major, internal order) as the sidecar of the segment with `fingerprint`,
/// atomically; returns the file's size.
pub(crate) fn write(
    storage: &dyn Storage,
    path: &Path,
    rows: &[f32],
    dim: usize,
    precision: Precision,
    fingerprint: u64,
) -> Result<u64> {
    let n = rows.len() / dim.max(1);
    write_pieces(storage, path, n, dim, precision, fingerprint, &|range| {
        Ok(encode(rows, dim, precision, range))
    })
}

/// [`write`] of `n` rows that `piece` gives a range at a time (in internal order, as little-endian
/// `precision` bytes): the file is streamed, never held whole (a million 384-dimensional rows are
/// 0.77 GB in f16).
pub(crate) fn write_pieces(
    storage: &dyn Storage,
    path: &Path,
    n: usize,
    dim: usize,
    precision: Precision,
    fingerprint: u64,
    piece: &dyn Fn(std::ops::Range<usize>) -> Result<Vec<u8>>,
) -> Result<u64> {
    let step = (PIECE_VALUES / dim.max(1)).max(1);
    let want = dim * precision.width();
    let pieces = || {
        (0..n).step_by(step).map(move |at| {
            let range = at..(at + step).min(n);
            let bytes = range.len() * want;
            piece(range).and_then(|p| match p.len() == bytes {
                true => Ok(p),
                false => Err(Error::InvalidArgument(format!("{} sidecar bytes, not {bytes}", p.len()))),
            })
        })
    };
    // The header holds the data's checksum: one pass to hash, one to write.
    let mut hash = xxhash_rust::xxh3::Xxh3::new();
    for piece in pieces() {
        hash.update(&piece?);
    }
    let mut header = Header {
        magic: MAGIC,
        version: VERSION,
        dtype: match precision {
            Precision::F16 => 1,
            Precision::F32 => 2,
        },
        dim: dim as u32,
        reserved: 0,
        n: n as u64,
        segment: fingerprint,
        data_checksum: hash.digest(),
        header_checksum: 0,
        pad: [0],
    };
    header.header_checksum = crate::store::checksum(bytemuck::bytes_of(&header));
    storage.atomic_write_with(path, &mut |tmp| {
        storage.write_new(tmp, bytemuck::bytes_of(&header))?;
        pieces().try_for_each(|piece| storage.append(tmp, &piece?))
    })?;
    Ok((std::mem::size_of::<Header>() + n * want) as u64)
}

/// Rows `range` of `rows` (row-major, `dim` wide) as little-endian `precision` bytes.
pub(crate) fn encode(
    rows: &[f32],
    dim: usize,
    precision: Precision,
    range: std::ops::Range<usize>,
) -> Vec<u8> {
    let values = &rows[range.start * dim..range.end * dim];
    match precision {
        Precision::F16 => values.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect(),
        Precision::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// An opened, validated sidecar.
#[derive(Debug)]
pub(crate) struct Sidecar {
    file: Mapped,
    precision: Precision,
    dim: usize,
}

impl Sidecar {
    /// Open and check that it belongs to the segment (`fingerprint`, `n`, `dim`) and is intact.
    pub fn open(path: &Path, n: usize, dim: usize, fingerprint: u64) -> Result<Self> {
        let file = Mapped::open(path)?;
        let bytes = file.bytes();
        let corrupt = |m: &str| Error::Corrupt(format!("vector sidecar: {m}"));
        let head = bytes.get(..64).ok_or_else(|| corrupt("shorter than its header"))?;
        let h: Header = bytemuck::pod_read_unaligned(head);
        if h.magic != MAGIC {
            return Err(corrupt("bad magic"));
        }
        if h.version != VERSION {
            let found = u16::try_from(h.version).unwrap_or(u16::MAX);
            return Err(Error::IncompatibleVersion { found, supported: VERSION as u16 });
        }
        let mut zeroed = h;
        zeroed.header_checksum = 0;
        if crate::store::checksum(bytemuck::bytes_of(&zeroed)) != h.header_checksum {
            return Err(corrupt("header checksum mismatch"));
        }
        let precision = match h.dtype {
            1 => Precision::F16,
            2 => Precision::F32,
            _ => return Err(corrupt("unknown element type")),
        };
        if h.segment != fingerprint || h.n != n as u64 || h.dim as usize != dim {
            return Err(corrupt("belongs to another version of the index (stale)"));
        }
        let data = &bytes[64..];
        if data.len() as u64 != (n as u64) * (dim as u64) * precision.width() as u64 {
            return Err(corrupt("size does not match its header"));
        }
        // Hashed through the map in steps given back as it goes: a search reads a few rows.
        if file.checksum_released(64..bytes.len()) != h.data_checksum {
            return Err(corrupt("data checksum mismatch"));
        }
        Ok(Sidecar { file, precision, dim })
    }

    /// Exact inner product of `query` with stored vector `i` (validated in range by the caller).
    pub fn dot(&self, query: &[f32], i: u32) -> Option<f32> {
        let data = &self.file.bytes()[64..];
        let i = i as usize;
        match self.precision {
            Precision::F16 => {
                let row = data.get(i * self.dim * 2..(i + 1) * self.dim * 2)?;
                let row: &[f16] = bytemuck::try_cast_slice(row).ok()?;
                Some(crate::distance::dot_f16(query, row))
            }
            Precision::F32 => {
                let row = data.get(i * self.dim * 4..(i + 1) * self.dim * 4)?;
                let row: &[f32] = bytemuck::try_cast_slice(row).ok()?;
                Some(crate::distance::dot(query, row))
            }
        }
    }

    /// Stored vector `i` as f32.
    pub fn row(&self, i: u32) -> Option<Vec<f32>> {
        let data = &self.file.bytes()[64..];
        let w = self.precision.width();
        let row = data.get(i as usize * self.dim * w..(i as usize + 1) * self.dim * w)?;
        Some(match self.precision {
            Precision::F16 => {
                row.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            Precision::F32 => {
                row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
        })
    }

    /// The element type.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Bytes read to rerank one candidate.
    pub fn row_bytes(&self) -> usize {
        self.dim * self.precision.width()
    }

    /// The file size.
    pub fn file_bytes(&self) -> u64 {
        self.file.bytes().len() as u64
    }
}
