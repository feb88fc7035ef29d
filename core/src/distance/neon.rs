//! aarch64 NEON kernels: 4 × 4-lane FMA accumulators; f16 vectors are widened in 64-element stack chunks.
//!
//! The NEON f16→f32 conversion intrinsics (`vcvt_f32_f16`) need the unstable `f16` type, so `dot_f16_neon`
//! widens through `half`'s slice conversion (which uses `fcvtl` when the CPU has FEAT_FP16) into a stack
//! buffer and runs the f32 NEON dot on each chunk. Every kernel works on the common prefix of its slices.

use std::arch::aarch64::*;

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::scalar;

/// Elements of an f16 or i8 vector widened per chunk in [`dot_f16_neon`] and [`dot_i8_neon`] (256
/// bytes of stack).
const WIDEN_CHUNK: usize = 64;

/// NEON inner product of `a` and `b` over their common prefix.
///
/// # Safety
/// The CPU must support `neon` (baseline on every aarch64 target with an FPU).
#[target_feature(enable = "neon")]
pub unsafe fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1, mut acc2, mut acc3) =
        (vdupq_n_f32(0.0), vdupq_n_f32(0.0), vdupq_n_f32(0.0), vdupq_n_f32(0.0));
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n <= a.len(), b.len(), so lanes i..i+16 of both slices are in bounds.
        unsafe {
            acc0 = vfmaq_f32(acc0, vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            acc1 = vfmaq_f32(acc1, vld1q_f32(pa.add(i + 4)), vld1q_f32(pb.add(i + 4)));
            acc2 = vfmaq_f32(acc2, vld1q_f32(pa.add(i + 8)), vld1q_f32(pb.add(i + 8)));
            acc3 = vfmaq_f32(acc3, vld1q_f32(pa.add(i + 12)), vld1q_f32(pb.add(i + 12)));
        }
        i += 16;
    }
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, so lanes i..i+4 of both slices are in bounds.
        unsafe {
            acc0 = vfmaq_f32(acc0, vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
        }
        i += 4;
    }
    let acc = vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3));
    // i <= n <= both lengths, so these slices are valid; zip stops at n.
    vaddvq_f32(acc) + scalar::dot(&a[i..], &b[i..])
}

/// NEON squared Euclidean distance between `a` and `b` over their common prefix.
///
/// # Safety
/// The CPU must support `neon`.
#[target_feature(enable = "neon")]
pub unsafe fn l2_sq_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1, mut acc2, mut acc3) =
        (vdupq_n_f32(0.0), vdupq_n_f32(0.0), vdupq_n_f32(0.0), vdupq_n_f32(0.0));
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n <= a.len(), b.len(), so lanes i..i+16 of both slices are in bounds.
        let (d0, d1, d2, d3) = unsafe {
            (
                vsubq_f32(vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))),
                vsubq_f32(vld1q_f32(pa.add(i + 4)), vld1q_f32(pb.add(i + 4))),
                vsubq_f32(vld1q_f32(pa.add(i + 8)), vld1q_f32(pb.add(i + 8))),
                vsubq_f32(vld1q_f32(pa.add(i + 12)), vld1q_f32(pb.add(i + 12))),
            )
        };
        acc0 = vfmaq_f32(acc0, d0, d0);
        acc1 = vfmaq_f32(acc1, d1, d1);
        acc2 = vfmaq_f32(acc2, d2, d2);
        acc3 = vfmaq_f32(acc3, d3, d3);
        i += 16;
    }
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, so lanes i..i+4 of both slices are in bounds.
        let d = unsafe { vsubq_f32(vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
        acc0 = vfmaq_f32(acc0, d, d);
        i += 4;
    }
    let acc = vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3));
    vaddvq_f32(acc) + scalar::l2_sq(&a[i..], &b[i..])
}

/// NEON inner product of an f32 query `a` with an f16 vector `b` over their common prefix.
///
/// # Safety
/// The CPU must support `neon`.
#[target_feature(enable = "neon")]
pub unsafe fn dot_f16_neon(a: &[f32], b: &[f16]) -> f32 {
    // SAFETY: this function's own contract guarantees NEON support.
    unsafe { dot_widened_neon(a, b, |src, dst| src.convert_to_f32_slice(dst)) }
}

/// NEON inner product of an f32 query `a` with an i8 vector `b` over their common prefix.
///
/// # Safety
/// The CPU must support `neon`.
#[target_feature(enable = "neon")]
pub unsafe fn dot_i8_neon(a: &[f32], b: &[i8]) -> f32 {
    let widen = |src: &[i8], dst: &mut [f32]| dst.iter_mut().zip(src).for_each(|(w, &x)| *w = f32::from(x));
    // SAFETY: this function's own contract guarantees NEON support.
    unsafe { dot_widened_neon(a, b, widen) }
}

/// [`dot_neon`] of `a` with `b` widened to f32 by `widen`, [`WIDEN_CHUNK`] values at a time into a
/// stack buffer.
///
/// # Safety
/// The CPU must support `neon`.
#[target_feature(enable = "neon")]
unsafe fn dot_widened_neon<T>(a: &[f32], b: &[T], widen: impl Fn(&[T], &mut [f32])) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut buf = [0.0f32; WIDEN_CHUNK];
    let mut sum = 0.0;
    for (ca, cb) in a.chunks(WIDEN_CHUNK).zip(b.chunks(WIDEN_CHUNK)) {
        // Both chunks have the same length (<= WIDEN_CHUNK) because a and b were cut to n.
        let wide = &mut buf[..cb.len()];
        widen(cb, wide);
        // SAFETY: this function's own contract guarantees NEON support.
        sum += unsafe { dot_neon(ca, wide) };
    }
    sum
}
