//! The vector sidecar: full-precision vectors (f16 or f32) in internal order, in their own file so
//! they can be added or dropped without touching the graph or the codes.
//!
//! Layout: a 64-byte header (magic, version, dtype, dim, n, the segment's fingerprint, a checksum of
//! the data), then `n × dim` little-endian values.

use std::path::Path;

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::store::{Mapped, Storage};
use crate::{Error, Result};

const MAGIC: [u8; 8] = *b"EMBERVEC";
const VERSION: u32 = 1;

/// Element type of stored vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// Half precision: 2 bytes per dimension.
    F16,
    /// Single precision: 4 bytes per dimension.
    F32,
}

impl Precision {
    /// Bytes per stored dimension.
    pub fn width(self) -> usize {
        match self {
            Precision::F16 => 2,
            Precision::F32 => 4,
        }
    }
}

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

/// Write vectors (row-major, internal order) as the sidecar of the segment with `fingerprint`.
pub(crate) fn write(
    storage: &dyn Storage,
    path: &Path,
    vectors: &[f32],
    dim: usize,
    precision: Precision,
    fingerprint: u64,
) -> Result<u64> {
    let data: Vec<u8> = match precision {
        Precision::F16 => vectors.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect(),
        Precision::F32 => vectors.iter().flat_map(|&x| x.to_le_bytes()).collect(),
    };
    let mut header = Header {
        magic: MAGIC,
        version: VERSION,
        dtype: match precision {
            Precision::F16 => 1,
            Precision::F32 => 2,
        },
        dim: dim as u32,
        reserved: 0,
        n: (vectors.len() / dim.max(1)) as u64,
        segment: fingerprint,
        data_checksum: crate::store::checksum(&data),
        header_checksum: 0,
        pad: [0],
    };
    header.header_checksum = crate::store::checksum(bytemuck::bytes_of(&header));
    let mut file = Vec::with_capacity(64 + data.len());
    file.extend_from_slice(bytemuck::bytes_of(&header));
    file.extend_from_slice(&data);
    storage.atomic_write(path, &file)?;
    Ok(file.len() as u64)
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
        if crate::store::checksum(data) != h.data_checksum {
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
