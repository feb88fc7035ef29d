//! Portable scalar reference kernels: the ground truth the SIMD kernels are tested against.

use half::f16;

/// Inner product of `a` and `b` over their common prefix (the shorter length).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Squared Euclidean distance between `a` and `b` over their common prefix (the shorter length).
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = x - y;
            d * d
        })
        .sum()
}

/// Inner product of an f32 query `a` with an f16 vector `b` over their common prefix.
pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
}
