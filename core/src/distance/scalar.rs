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

/// Inner product of an f32 query `a` with an i8 vector `b` (unscaled) over their common prefix.
pub fn dot_i8(a: &[f32], b: &[i8]) -> f32 {
    a.iter().zip(b).map(|(x, &y)| x * f32::from(y)).sum()
}

/// Popcount inner product of a bit-plane (`plane`, little-endian bytes) with a multi-bit query stored
/// as bit-planes of `plane.len().div_ceil(8)` words each in `q` (plane j weighs 2^j): returns
/// `(Σ_j 2^j · popcount(plane & q_j), popcount(plane))`.
#[inline(always)]
pub fn bit_dot(plane: &[u8], q: &[u64]) -> (u32, u32) {
    // Codes of up to 512 bits (the models we ship: 384) take a fixed-width path the compiler
    // unrolls (and vectorizes where the CPU has a vector popcount).
    match plane.len().div_ceil(8) {
        6 => bit_dot_fixed::<6>(plane, q),
        8 => bit_dot_fixed::<8>(plane, q),
        4 => bit_dot_fixed::<4>(plane, q),
        _ => bit_dot_any(plane, q),
    }
}

/// The code plane as little-endian words, zero-padded.
#[inline(always)]
fn words<const W: usize>(plane: &[u8]) -> [u64; W] {
    let mut u = [0u64; W];
    for (w, chunk) in u.iter_mut().zip(plane.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    u
}

#[inline(always)]
fn bit_dot_fixed<const W: usize>(plane: &[u8], q: &[u64]) -> (u32, u32) {
    let u = words::<W>(plane);
    let ones = u.iter().map(|x| x.count_ones()).sum();
    let mut weighted = 0u32;
    for (j, qj) in q.chunks(W).enumerate() {
        let s: u32 = u.iter().zip(qj).map(|(a, b)| (a & b).count_ones()).sum();
        weighted += s << j;
    }
    (weighted, ones)
}

#[inline(always)]
fn bit_dot_any(plane: &[u8], q: &[u64]) -> (u32, u32) {
    let words = plane.len().div_ceil(8);
    let (mut weighted, mut ones) = (0u32, 0u32);
    for (k, chunk) in plane.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        let u = u64::from_le_bytes(b);
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
