//! A build's vectors between embedding and the segment. The graph, the codes and the calibration read
//! them as i8 rows with a scale each (a million 384-dimensional vectors: 0.39 GB, against 0.77 GB in
//! f16 and 1.5 GB in f32); an f16 sidecar's rows wait in a spool file in the index directory, read
//! back once the graph has fixed the segment's order; an f32 sidecar keeps the rows as given.

use std::fs::File;
use std::path::{Path, PathBuf};

use half::f16;

use crate::graph::{quantize_i8, Rows};
use crate::index::options::{Precision, VectorStorage};
use crate::{Error, Result};

/// Row-major unit vectors in build order, then (after [`Staged::permute`]) in segment order.
pub(crate) enum Staged {
    /// The sidecar keeps f32: the rows as given.
    F32(Vec<f32>),
    /// No sidecar, or an f16 one (its rows in `spool`).
    I8 { values: Vec<i8>, scales: Vec<f32>, spool: Option<Spool> },
}

impl Staged {
    /// Empty, with room for `rows` rows of `dim`; an f16 sidecar's spool goes in `dir` (created
    /// if needed, and only once the rows outgrow memory's share, [`SPOOL_PENDING`]).
    pub(crate) fn for_sidecar(vectors: VectorStorage, rows: usize, dim: usize, dir: &Path) -> Staged {
        match vectors {
            VectorStorage::F32 => Staged::F32(Vec::with_capacity(rows * dim)),
            VectorStorage::None | VectorStorage::F16 => Staged::I8 {
                values: Vec::with_capacity(rows * dim),
                scales: Vec::with_capacity(rows),
                spool: matches!(vectors, VectorStorage::F16).then(|| Spool::new(dir, dim)),
            },
        }
    }

    pub(crate) fn push(&mut self, row: &[f32]) -> Result<()> {
        match self {
            Staged::F32(v) => v.extend_from_slice(row),
            Staged::I8 { values, scales, spool } => {
                scales.push(quantize_i8(row, values));
                if let Some(spool) = spool {
                    spool.push(row)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn rows(&self) -> Rows<'_> {
        match self {
            Staged::F32(v) => Rows::F32(v),
            Staged::I8 { values, scales, .. } => Rows::I8(values, scales),
        }
    }

    /// Reorder so that row `k` becomes the old row `order[k]`: in place in memory; the spool
    /// keeps its order and reads through `order`.
    pub(crate) fn permute(&mut self, dim: usize, order: &[u32]) -> Result<()> {
        match self {
            Staged::F32(v) => permute_rows(v, dim, order),
            Staged::I8 { values, scales, spool } => {
                permute_rows(values, dim, order)?;
                permute_rows(scales, 1, order)?;
                if let Some(spool) = spool {
                    spool.order = Some(order.to_vec());
                }
                Ok(())
            }
        }
    }

    /// Frees the i8 rows once the graph, the codes and the calibration are done with them (0.39 GB
    /// at a million rows, while the segment is assembled); an f16 sidecar still reads the spool,
    /// an f32 one the rows kept in memory.
    pub(crate) fn release_rows(&mut self) {
        if let Staged::I8 { values, scales, .. } = self {
            *values = Vec::new();
            *scales = Vec::new();
        }
    }

    /// Rows `range` (segment order) as little-endian `precision` bytes, for the sidecar: from the
    /// spool when there is one, else from the rows in memory.
    pub(crate) fn sidecar_piece(
        &self,
        dim: usize,
        precision: Precision,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<u8>> {
        match (self, precision) {
            (Staged::I8 { spool: Some(spool), .. }, Precision::F16) => spool.read(range),
            (Staged::F32(v), _) => Ok(crate::index::sidecar::encode(v, dim, precision, range)),
            _ => Err(Error::InvalidArgument(format!("no {precision:?} rows were staged for the sidecar"))),
        }
    }
}

/// Bytes of f16 rows a spool keeps in memory before it starts its file (1,365 rows of 384
/// dimensions): a small build never touches the disk for them.
const SPOOL_PENDING: usize = 1 << 20;

/// f16 rows in build order: the first `filed` in an unlinked scratch file, the rest in `pending`.
pub(crate) struct Spool {
    dir: PathBuf,
    dim: usize,
    file: Option<(File, PathBuf)>,
    filed: usize,
    pending: Vec<u8>,
    /// Segment order → build order, once the graph has fixed it.
    order: Option<Vec<u32>>,
}

impl Spool {
    fn new(dir: &Path, dim: usize) -> Spool {
        Spool { dir: dir.to_owned(), dim, file: None, filed: 0, pending: Vec::new(), order: None }
    }

    fn row_bytes(&self) -> usize {
        self.dim * 2
    }

    fn push(&mut self, row: &[f32]) -> Result<()> {
        self.pending.extend(row.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()));
        if self.pending.len() >= SPOOL_PENDING {
            use std::io::Write;
            let (file, path) = match &mut self.file {
                Some(f) => f,
                None => self.file.insert(scratch_file(&self.dir)?),
            };
            file.write_all(&self.pending).map_err(|e| Error::io("writing", path.as_path(), e))?;
            self.filed += self.pending.len() / self.row_bytes();
            self.pending.clear();
        }
        Ok(())
    }

    /// Rows `range` of the segment order, as stored (little-endian f16).
    fn read(&self, range: std::ops::Range<usize>) -> Result<Vec<u8>> {
        let width = self.row_bytes();
        let mut out = vec![0u8; range.len() * width];
        for (k, dst) in range.zip(out.chunks_exact_mut(width)) {
            let old = match &self.order {
                Some(order) => {
                    *order.get(k).ok_or_else(|| Error::InvalidArgument("spool row out of order".into()))?
                        as usize
                }
                None => k,
            };
            if old >= self.filed {
                let at = (old - self.filed) * width;
                let src = self
                    .pending
                    .get(at..at + width)
                    .ok_or_else(|| Error::InvalidArgument("spool row past its end".into()))?;
                dst.copy_from_slice(src);
            } else if let Some((file, path)) = &self.file {
                read_at(file, dst, (old * width) as u64)
                    .map_err(|e| Error::io("reading", path.as_path(), e))?;
            }
        }
        Ok(out)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some((_, path)) = &self.file {
            let _ = std::fs::remove_file(path); // already gone on Unix (unlinked at creation)
        }
    }
}

/// A new scratch file in `dir`, unlinked at once where the system allows it, so that a crash leaves
/// nothing behind; elsewhere its `.tmp` name is what an index's next writer sweeps up.
fn scratch_file(dir: &Path) -> Result<(File, PathBuf)> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".build-vectors-{}-{n}.tmp", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io("creating", path.as_path(), e))?;
    #[cfg(unix)]
    let _ = std::fs::remove_file(&path);
    Ok((file, path))
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Reorder the rows of `rows` (row-major, `dim` wide) so that row `k` becomes the old row
/// `order[k]`, in place: one row of scratch and a bit per row, following each cycle once.
fn permute_rows<T: Copy + Default>(rows: &mut [T], dim: usize, order: &[u32]) -> Result<()> {
    let n = order.len();
    if dim == 0 || rows.len() != n * dim {
        return Err(Error::InvalidArgument(format!("{} values for {n} rows of {dim}", rows.len())));
    }
    let mut placed = vec![false; n];
    let mut scratch = vec![T::default(); dim];
    for start in 0..n {
        if placed[start] {
            continue;
        }
        scratch.copy_from_slice(&rows[start * dim..(start + 1) * dim]);
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                rows[at * dim..(at + 1) * dim].copy_from_slice(&scratch);
                break;
            }
            if from >= n || placed[from] {
                return Err(Error::InvalidArgument("row order is not a permutation".into()));
            }
            rows.copy_within(from * dim..(from + 1) * dim, at * dim);
            at = from;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_permuted_in_place_as_a_copy_would() {
        let dim = 3;
        let mut rng = crate::rng::SplitMix64::new(7);
        for n in [0usize, 1, 2, 5, 64] {
            let rows: Vec<f32> = (0..n * dim).map(|x| x as f32).collect();
            let mut order: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let copied: Vec<f32> =
                order.iter().flat_map(|&i| rows[i as usize * dim..(i as usize + 1) * dim].to_vec()).collect();
            let mut moved = rows.clone();
            permute_rows(&mut moved, dim, &order).unwrap();
            assert_eq!(moved, copied, "n {n}");
        }
        // Not a permutation: refused, not scrambled silently.
        let mut rows = vec![0f32; 6];
        assert!(permute_rows(&mut rows, 3, &[0, 0]).is_err());
        assert!(permute_rows(&mut rows, 3, &[1, 5]).is_err());
        assert!(permute_rows(&mut rows, 3, &[0]).is_err());
    }

    #[test]
    fn an_f16_sidecar_is_read_back_from_the_spool_in_segment_order() {
        // Past SPOOL_PENDING (the file) and short of it (memory only), each permuted.
        let dim = 64;
        for n in [10usize, SPOOL_PENDING / (dim * 2) * 3 + 7] {
            let dir = tempfile::tempdir().unwrap();
            let mut rng = crate::rng::SplitMix64::new(n as u64);
            let rows: Vec<f32> = (0..n * dim).map(|_| rng.below(2001) as f32 / 1000.0 - 1.0).collect();
            let mut staged = Staged::for_sidecar(VectorStorage::F16, n, dim, dir.path());
            for row in rows.chunks(dim) {
                staged.push(row).unwrap();
            }
            let mut order: Vec<u32> = (0..n as u32).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.below(i + 1));
            }
            staged.permute(dim, &order).unwrap();
            let want: Vec<u8> = order
                .iter()
                .flat_map(|&i| rows[i as usize * dim..(i as usize + 1) * dim].to_vec())
                .flat_map(|x| f16::from_f32(x).to_le_bytes())
                .collect();
            let width = dim * 2;
            let (a, b) = (n / 3, n - 1);
            assert_eq!(staged.sidecar_piece(dim, Precision::F16, 0..n).unwrap(), want, "n {n}");
            assert_eq!(staged.sidecar_piece(dim, Precision::F16, a..b).unwrap(), want[a * width..b * width]);
            assert!(staged.sidecar_piece(dim, Precision::F16, 0..n + 1).is_err(), "past the last row");
            assert!(staged.sidecar_piece(dim, Precision::F32, 0..1).is_err(), "only f16 was spooled");
            // The graph's rows follow the same order.
            let mut buf = Vec::new();
            let got = staged.rows().row(dim, 1, &mut buf).to_vec();
            let old = &rows[order[1] as usize * dim..(order[1] as usize + 1) * dim];
            assert!(got.iter().zip(old).all(|(x, y)| (x - y).abs() < 0.005));
            // The rows go once the graph and the codes are done; the spool stays.
            staged.release_rows();
            assert_eq!(staged.rows().values(), 0);
            assert_eq!(staged.sidecar_piece(dim, Precision::F16, 0..n).unwrap(), want);
            #[cfg(unix)]
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the spool is unlinked at once");
        }
        // No sidecar: no spool, and nothing to give.
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::for_sidecar(VectorStorage::None, 1, 4, dir.path());
        staged.push(&[0.5; 4]).unwrap();
        assert!(staged.sidecar_piece(4, Precision::F16, 0..1).is_err());
    }
}
