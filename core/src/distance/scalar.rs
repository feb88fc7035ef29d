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

/// Popcount inner product of a bit-plane (`plane`, little-endian bytes) with a multi-bit query stored
/// as bit-planes of `plane.len().div_ceil(8)` words each in `q` (plane j weighs 2^j): returns
/// `(Σ_j 2^j · popcount(plane & q_j), popcount(plane))`.
#[inline(always)]
pub fn bit_dot(plane: &[u8], q: &[u64]) -> (u32, u32) {
    let words = plane.len().div_ceil(8);
    let (mut weighted, mut ones) = (0u32, 0u32);
    for (k, chunk) in plane.chunks(8).enumerate() {
        let u = match <[u8; 8]>::try_from(chunk) {
            Ok(b) => u64::from_le_bytes(b),
            Err(_) => {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(b)
            }
        };
        ones += u.count_ones();
        for (j, qj) in q.iter().skip(k).step_by(words.max(1)).enumerate() {
            weighted += (u & qj).count_ones() << j;
        }
    }
    (weighted, ones)
}

/// [`bit_dot`] as the kernel table stores it.
pub fn bit_dot_portable(plane: &[u8], q: &[u64]) -> (u32, u32) {
    bit_dot(plane, q)
}
