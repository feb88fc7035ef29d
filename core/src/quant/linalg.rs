//! The little dense linear algebra quantizer training needs (f64, row-major), kept dependency-free.

use crate::rng::SplitMix64;

/// Rows orthonormalized together by [`orthonormalize_rows`]: their projections on the rows
/// finished before them are independent, so they run side by side in SIMD lanes.
const BLOCK_ROWS: usize = 16;

/// Orthonormalize the rows of `m` (rows × cols) in place by modified Gram–Schmidt.
/// A row that collapses (linearly dependent) is replaced by a fresh random direction.
///
/// Bit-for-bit the same result as the plain row-by-row algorithm (kept as the reference in the
/// tests): the rotation of every stored index is rebuilt from its seed with this, so each row must
/// see exactly the same operations in the same order. Rows are taken in blocks; a block is first
/// projected off every finished row with its rows transposed into SIMD lanes (each lane still sums
/// in index order, and Rust never fuses or reorders float operations), then finished row by row.
/// About 3× faster than the reference at 1,024 dimensions (0.14 s instead of 0.4 s here).
pub(crate) fn orthonormalize_rows(m: &mut [f64], rows: usize, cols: usize, rng: &mut SplitMix64) {
    // The block transposed: lane r of `t[k]` is column k of the block's row r.
    let mut t = vec![[0f64; BLOCK_ROWS]; cols];
    let mut i0 = 0;
    while i0 < rows {
        let i1 = (i0 + BLOCK_ROWS).min(rows);
        if i0 > 0 {
            let (done, rest) = m.split_at_mut(i0 * cols);
            let block = &mut rest[..(i1 - i0) * cols];
            t.iter_mut().for_each(|lanes| *lanes = [0.0; BLOCK_ROWS]);
            for (r, row) in block.chunks_exact(cols).enumerate() {
                row.iter().zip(t.iter_mut()).for_each(|(&x, lanes)| lanes[r] = x);
            }
            // First attempt of every row of the block against the finished rows, j ascending.
            for prev in done.chunks_exact(cols) {
                // `Iterator::sum` starts from -0.0; so do these sums.
                let mut dots = [-0.0f64; BLOCK_ROWS];
                for (lanes, &b) in t.iter().zip(prev) {
                    dots.iter_mut().zip(lanes).for_each(|(d, &a)| *d += a * b);
                }
                for (lanes, &b) in t.iter_mut().zip(prev) {
                    lanes.iter_mut().zip(&dots).for_each(|(a, &p)| *a -= p * b);
                }
            }
            for (r, row) in block.chunks_exact_mut(cols).enumerate() {
                row.iter_mut().zip(t.iter()).for_each(|(x, lanes)| *x = lanes[r]);
            }
        }
        // Then each row of the block in turn, against the block's rows before it.
        for i in i0..i1 {
            let (before, row) = m.split_at_mut(i * cols);
            let row = &mut row[..cols];
            for prev in before[i0 * cols..].chunks_exact(cols) {
                project_out(row, prev);
            }
            if normalize(row) {
                continue;
            }
            // Collapsed (practically never for Gaussian rows): retry as the reference does.
            for attempt in 1..4 {
                row.iter_mut().for_each(|a| *a = rng.normal());
                for prev in before.chunks_exact(cols) {
                    project_out(row, prev);
                }
                if normalize(row) || attempt == 3 {
                    break;
                }
            }
        }
        i0 = i1;
    }
}

/// `row -= ⟨row, prev⟩ prev`.
fn project_out(row: &mut [f64], prev: &[f64]) {
    let p: f64 = row.iter().zip(prev).map(|(a, b)| a * b).sum();
    row.iter_mut().zip(prev).for_each(|(a, b)| *a -= p * b);
}

/// Scale `row` to unit length; false (row untouched) if it has collapsed.
fn normalize(row: &mut [f64]) -> bool {
    let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt();
    if norm > 1e-9 {
        row.iter_mut().for_each(|a| *a /= norm);
        return true;
    }
    false
}

/// A random orthogonal `n × n` matrix (Gaussian rows, then Gram–Schmidt), reproducible from `seed`.
pub(crate) fn random_rotation(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    let mut m: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
    orthonormalize_rows(&mut m, n, n, &mut rng);
    m
}

/// Covariance (dim × dim) of the rows of `data` around `mean`.
pub(crate) fn covariance(data: &[f32], dim: usize, mean: &[f64]) -> Vec<f64> {
    let n = data.len() / dim.max(1);
    let mut cov = vec![0f64; dim * dim];
    let mut centered = vec![0f64; dim];
    for row in data.chunks_exact(dim) {
        centered.iter_mut().zip(row).zip(mean).for_each(|((c, &x), m)| *c = f64::from(x) - m);
        for i in 0..dim {
            let ci = centered[i];
            let out = &mut cov[i * dim..(i + 1) * dim];
            // Upper triangle only; mirrored below.
            out[i..].iter_mut().zip(&centered[i..]).for_each(|(o, &cj)| *o += ci * cj);
        }
    }
    let scale = 1.0 / n.max(1) as f64;
    for i in 0..dim {
        for j in i..dim {
            let v = cov[i * dim + j] * scale;
            cov[i * dim + j] = v;
            cov[j * dim + i] = v;
        }
    }
    cov
}

/// The top-`k` eigenvectors (as rows, k × dim) of a symmetric matrix, by orthogonal iteration.
pub(crate) fn top_eigenvectors(sym: &[f64], dim: usize, k: usize, iterations: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed ^ 0x5CA1_AB1E);
    let mut q: Vec<f64> = (0..k * dim).map(|_| rng.normal()).collect();
    orthonormalize_rows(&mut q, k, dim, &mut rng);
    let mut next = vec![0f64; k * dim];
    for _ in 0..iterations {
        // next_r = sym · q_r (sym is symmetric, so rows work as columns).
        for (r, out) in next.chunks_exact_mut(dim).enumerate() {
            let qr = &q[r * dim..(r + 1) * dim];
            for (i, o) in out.iter_mut().enumerate() {
                *o = sym[i * dim..(i + 1) * dim].iter().zip(qr).map(|(a, b)| a * b).sum();
            }
        }
        std::mem::swap(&mut q, &mut next);
        orthonormalize_rows(&mut q, k, dim, &mut rng);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The original row-by-row modified Gram–Schmidt, which wrote every stored index's rotation.
    fn reference(m: &mut [f64], rows: usize, cols: usize, rng: &mut SplitMix64) {
        for i in 0..rows {
            for attempt in 0..4 {
                for j in 0..i {
                    let (done, rest) = m.split_at_mut(i * cols);
                    let prev = &done[j * cols..(j + 1) * cols];
                    let row = &mut rest[..cols];
                    let p: f64 = row.iter().zip(prev).map(|(a, b)| a * b).sum();
                    row.iter_mut().zip(prev).for_each(|(a, b)| *a -= p * b);
                }
                let row = &mut m[i * cols..(i + 1) * cols];
                let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt();
                if norm > 1e-9 {
                    row.iter_mut().for_each(|a| *a /= norm);
                    break;
                }
                if attempt < 3 {
                    row.iter_mut().for_each(|a| *a = rng.normal());
                }
            }
        }
    }

    #[test]
    fn blocked_gram_schmidt_matches_the_reference_bit_for_bit() {
        for (rows, cols, seed) in
            [(1, 1, 1), (7, 7, 2), (8, 8, 3), (9, 9, 4), (64, 64, 5), (17, 40, 6), (130, 130, 7)]
        {
            let mut rng = SplitMix64::new(seed);
            let start: Vec<f64> = (0..rows * cols).map(|_| rng.normal()).collect();
            let (mut a, mut b) = (start.clone(), start);
            let (mut ra, mut rb) = (SplitMix64::new(seed), SplitMix64::new(seed));
            orthonormalize_rows(&mut a, rows, cols, &mut ra);
            reference(&mut b, rows, cols, &mut rb);
            let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{rows}x{cols}: results differ");
            assert_eq!(ra.next_u64(), rb.next_u64(), "{rows}x{cols}: random streams differ");
        }
        // Dependent rows (collapse and retry from the random stream), and zero rows.
        for (rows, cols) in [(12, 4), (20, 3), (10, 10)] {
            let mut start: Vec<f64> = (0..rows * cols).map(|i| ((i % cols) as f64 + 1.0) * 0.5).collect();
            start[..cols].iter_mut().for_each(|x| *x = 0.0);
            let (mut a, mut b) = (start.clone(), start);
            let (mut ra, mut rb) = (SplitMix64::new(9), SplitMix64::new(9));
            orthonormalize_rows(&mut a, rows, cols, &mut ra);
            reference(&mut b, rows, cols, &mut rb);
            let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{rows}x{cols} dependent: results differ");
            assert_eq!(ra.next_u64(), rb.next_u64());
        }
    }

    #[test]
    fn rotation_is_orthogonal() {
        let n = 24;
        let r = random_rotation(n, 7);
        for i in 0..n {
            for j in 0..n {
                let d: f64 = (0..n).map(|t| r[i * n + t] * r[j * n + t]).sum();
                assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
        }
        assert_eq!(r, random_rotation(n, 7), "reproducible from the seed");
    }

    #[test]
    fn finds_dominant_axes() {
        // Variance 9 on axis 2, 4 on axis 0, 1 elsewhere.
        let dim = 5;
        let mut cov = vec![0f64; dim * dim];
        for i in 0..dim {
            cov[i * dim + i] = 1.0;
        }
        cov[2 * dim + 2] = 9.0;
        cov[0] = 4.0;
        let top = top_eigenvectors(&cov, dim, 2, 50, 1);
        assert!(top[2].abs() > 0.999, "{top:?}");
        assert!(top[dim].abs() > 0.999, "{top:?}");
    }
}
