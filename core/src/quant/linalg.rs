//! The little dense linear algebra quantizer training needs (f64, row-major), kept dependency-free.

use crate::rng::SplitMix64;

/// Orthonormalize the rows of `m` (rows × cols) in place by modified Gram–Schmidt.
/// A row that collapses (linearly dependent) is replaced by a fresh random direction.
pub(crate) fn orthonormalize_rows(m: &mut [f64], rows: usize, cols: usize, rng: &mut SplitMix64) {
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
