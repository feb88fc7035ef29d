//! A build's vectors between embedding and the segment: f16 unless the sidecar keeps f32, so a
//! million-passage build holds 0.77 GB of rows, not 1.5 GB. The graph, the codes and the calibration
//! read them widened to f32 a row at a time; an f16 sidecar is the same bytes either way.

use half::f16;

use crate::graph::Rows;
use crate::index::options::VectorStorage;
use crate::{Error, Result};

/// Row-major unit vectors in build order.
pub(crate) enum Staged {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

impl Staged {
    /// Empty, in f32 only when the sidecar asks for f32 (nothing else needs more than f16).
    pub(crate) fn for_sidecar(vectors: VectorStorage, capacity: usize) -> Staged {
        match vectors {
            VectorStorage::F32 => Staged::F32(Vec::with_capacity(capacity)),
            VectorStorage::None | VectorStorage::F16 => Staged::F16(Vec::with_capacity(capacity)),
        }
    }

    pub(crate) fn push(&mut self, row: &[f32]) {
        match self {
            Staged::F32(v) => v.extend_from_slice(row),
            Staged::F16(v) => v.extend(row.iter().map(|&x| f16::from_f32(x))),
        }
    }

    pub(crate) fn rows(&self) -> Rows<'_> {
        match self {
            Staged::F32(v) => Rows::F32(v),
            Staged::F16(v) => Rows::F16(v),
        }
    }

    /// Reorder so that row `k` becomes the old row `order[k]`, in place.
    pub(crate) fn permute(&mut self, dim: usize, order: &[u32]) -> Result<()> {
        match self {
            Staged::F32(v) => permute_rows(v, dim, order),
            Staged::F16(v) => permute_rows(v, dim, order),
        }
    }
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
    use super::permute_rows;

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
}
