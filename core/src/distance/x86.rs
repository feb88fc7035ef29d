//! x86_64 SIMD kernels: AVX2+FMA(+F16C) with 4 × 8-lane accumulators, AVX-512F with 4 × 16-lane accumulators.
//!
//! Every kernel works on the common prefix of its two slices (`n = min(a.len(), b.len())`): full unrolled
//! blocks, then single-vector steps, then a scalar tail, so nothing past `n` is ever read. All loads are
//! unaligned (`loadu`), so slices of any alignment are accepted.

use std::arch::x86_64::*;

use half::f16;

use super::scalar;

/// Sums the eight lanes of `v`.
#[inline]
#[target_feature(enable = "avx")]
fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// The loop every AVX2 inner product shares: 4 × 8-lane FMA accumulators over the first `n` values
/// of `a` against `b`'s lanes as `load(i)` gives them in f32 (lanes i..i+8), then single 8-lane
/// steps. Returns that sum and the first lane left for the caller's scalar tail.
///
/// # Safety
/// The CPU must support `avx2` and `fma`; `n <= a.len()`, and `load(i)` must be sound for every
/// `i + 8 <= n` (the only lanes it is asked for).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_lanes_avx2(a: &[f32], n: usize, load: impl Fn(usize) -> __m256) -> (f32, usize) {
    let pa = a.as_ptr();
    let (mut acc0, mut acc1, mut acc2, mut acc3) =
        (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n <= a.len(), so lanes i..i+32 of `a` are in bounds.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), load(i), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), load(i + 8), acc1);
            acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 16)), load(i + 16), acc2);
            acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 24)), load(i + 24), acc3);
        }
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, so lanes i..i+8 of `a` are in bounds.
        unsafe {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), load(i), acc0);
        }
        i += 8;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    (hsum256(acc), i)
}

/// AVX2+FMA inner product of `a` and `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx2` and `fma` (check with `is_x86_feature_detected!`).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    // SAFETY: the loop asks for lanes i..i+8 with i + 8 <= n <= b.len() only.
    let (sum, i) = unsafe { dot_lanes_avx2(a, n, |i| _mm256_loadu_ps(pb.add(i))) };
    // i <= n <= both lengths, so these slices are valid; zip stops at n.
    sum + scalar::dot(&a[i..], &b[i..])
}

/// AVX2+FMA squared Euclidean distance between `a` and `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx2` and `fma`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn l2_sq_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1, mut acc2, mut acc3) =
        (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n <= a.len(), b.len(), so lanes i..i+32 of both slices are in bounds.
        let (d0, d1, d2, d3) = unsafe {
            (
                _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))),
                _mm256_sub_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8))),
                _mm256_sub_ps(_mm256_loadu_ps(pa.add(i + 16)), _mm256_loadu_ps(pb.add(i + 16))),
                _mm256_sub_ps(_mm256_loadu_ps(pa.add(i + 24)), _mm256_loadu_ps(pb.add(i + 24))),
            )
        };
        acc0 = _mm256_fmadd_ps(d0, d0, acc0);
        acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        acc2 = _mm256_fmadd_ps(d2, d2, acc2);
        acc3 = _mm256_fmadd_ps(d3, d3, acc3);
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, so lanes i..i+8 of both slices are in bounds.
        let d = unsafe { _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        acc0 = _mm256_fmadd_ps(d, d, acc0);
        i += 8;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    hsum256(acc) + scalar::l2_sq(&a[i..], &b[i..])
}

/// AVX2+FMA+F16C inner product of an f32 query `a` with an f16 vector `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx2`, `fma` and `f16c`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f16_avx2(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    // `f16` is `repr(transparent)` over the u16 bit pattern that `vcvtph2ps` expects.
    let pb = b.as_ptr();
    // SAFETY: the loop asks for lanes i..i+8 (16 bytes) with i + 8 <= n <= b.len() only.
    let (sum, i) = unsafe { dot_lanes_avx2(a, n, |i| _mm256_cvtph_ps(_mm_loadu_si128(pb.add(i).cast()))) };
    sum + scalar::dot_f16(&a[i..], &b[i..])
}

/// AVX2+FMA inner product of an f32 query `a` with an i8 vector `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx2` and `fma`.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn dot_i8_avx2(a: &[f32], b: &[i8]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    // SAFETY: the loop asks for lanes i..i+8 (8 bytes) with i + 8 <= n <= b.len() only.
    let (sum, i) = unsafe {
        dot_lanes_avx2(a, n, |i| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(pb.add(i).cast()))))
    };
    sum + scalar::dot_i8(&a[i..], &b[i..])
}

/// The loop every AVX-512 inner product shares: 4 × 16-lane FMA accumulators over the first `n`
/// values of `a` against `b`'s lanes as `load(i)` gives them in f32 (lanes i..i+16), then single
/// 16-lane steps. Returns that sum and the first lane left for the caller's scalar tail.
///
/// # Safety
/// The CPU must support `avx512f`; `n <= a.len()`, and `load(i)` must be sound for every
/// `i + 16 <= n` (the only lanes it is asked for).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn dot_lanes_avx512(a: &[f32], n: usize, load: impl Fn(usize) -> __m512) -> (f32, usize) {
    let pa = a.as_ptr();
    let (mut acc0, mut acc1, mut acc2, mut acc3) =
        (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n <= a.len(), so lanes i..i+64 of `a` are in bounds.
        unsafe {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), load(i), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 16)), load(i + 16), acc1);
            acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 32)), load(i + 32), acc2);
            acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i + 48)), load(i + 48), acc3);
        }
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so lanes i..i+16 of `a` are in bounds.
        unsafe {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), load(i), acc0);
        }
        i += 16;
    }
    let acc = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    (_mm512_reduce_add_ps(acc), i)
}

/// AVX-512F inner product of `a` and `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx512f`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    // SAFETY: the loop asks for lanes i..i+16 with i + 16 <= n <= b.len() only.
    let (sum, i) = unsafe { dot_lanes_avx512(a, n, |i| _mm512_loadu_ps(pb.add(i))) };
    sum + scalar::dot(&a[i..], &b[i..])
}

/// AVX-512F squared Euclidean distance between `a` and `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx512f`.
#[target_feature(enable = "avx512f")]
pub unsafe fn l2_sq_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut acc0, mut acc1, mut acc2, mut acc3) =
        (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n <= a.len(), b.len(), so lanes i..i+64 of both slices are in bounds.
        let (d0, d1, d2, d3) = unsafe {
            (
                _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))),
                _mm512_sub_ps(_mm512_loadu_ps(pa.add(i + 16)), _mm512_loadu_ps(pb.add(i + 16))),
                _mm512_sub_ps(_mm512_loadu_ps(pa.add(i + 32)), _mm512_loadu_ps(pb.add(i + 32))),
                _mm512_sub_ps(_mm512_loadu_ps(pa.add(i + 48)), _mm512_loadu_ps(pb.add(i + 48))),
            )
        };
        acc0 = _mm512_fmadd_ps(d0, d0, acc0);
        acc1 = _mm512_fmadd_ps(d1, d1, acc1);
        acc2 = _mm512_fmadd_ps(d2, d2, acc2);
        acc3 = _mm512_fmadd_ps(d3, d3, acc3);
        i += 64;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, so lanes i..i+16 of both slices are in bounds.
        let d = unsafe { _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        acc0 = _mm512_fmadd_ps(d, d, acc0);
        i += 16;
    }
    let acc = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    _mm512_reduce_add_ps(acc) + scalar::l2_sq(&a[i..], &b[i..])
}

/// AVX-512F inner product of an f32 query `a` with an f16 vector `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx512f` (which includes the 16-lane `vcvtph2ps`).
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_f16_avx512(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    // SAFETY: the loop asks for lanes i..i+16 (32 bytes) with i + 16 <= n <= b.len() only.
    let (sum, i) =
        unsafe { dot_lanes_avx512(a, n, |i| _mm512_cvtph_ps(_mm256_loadu_si256(pb.add(i).cast()))) };
    sum + scalar::dot_f16(&a[i..], &b[i..])
}

/// [`scalar::bit_dot`] compiled with the POPCNT instruction.
///
/// # Safety
/// The CPU must support `popcnt`.
#[target_feature(enable = "popcnt")]
pub unsafe fn bit_dot_popcnt(plane: &[u8], q: &[u64]) -> (u32, u32) {
    scalar::bit_dot(plane, q)
}

/// [`scalar::bit_dot`] for codes of up to 512 bits in one AVX-512 register: a masked load of the
/// code, then AND + `vpopcntq` per query plane. Other shapes take the scalar path.
///
/// # Safety
/// The CPU must support `avx512f`, `avx512vpopcntdq` and `popcnt`.
#[target_feature(enable = "avx512f,avx512vpopcntdq,popcnt")]
pub unsafe fn bit_dot_vpopcnt(plane: &[u8], q: &[u64]) -> (u32, u32) {
    let words = plane.len() / 8;
    if words == 0 || words > 8 || !plane.len().is_multiple_of(8) || !q.len().is_multiple_of(words) {
        return scalar::bit_dot(plane, q);
    }
    let mask = ((1u16 << words) - 1) as __mmask8;
    // SAFETY: the mask enables only the first `words` lanes, which lie inside `plane` and inside
    // each `words`-long chunk of `q`; masked-off lanes are not read.
    unsafe {
        let u = _mm512_maskz_loadu_epi64(mask, plane.as_ptr().cast());
        let ones = _mm512_reduce_add_epi64(_mm512_popcnt_epi64(u)) as u32;
        let mut acc = _mm512_setzero_si512();
        for (j, qj) in q.chunks_exact(words).enumerate() {
            let v = _mm512_maskz_loadu_epi64(mask, qj.as_ptr().cast());
            let c = _mm512_popcnt_epi64(_mm512_and_si512(u, v));
            acc = _mm512_add_epi64(acc, _mm512_sllv_epi64(c, _mm512_set1_epi64(j as i64)));
        }
        (_mm512_reduce_add_epi64(acc) as u32, ones)
    }
}

/// AVX-512F inner product of an f32 query `a` with an i8 vector `b` over their common prefix.
///
/// # Safety
/// The CPU must support `avx512f`.
#[target_feature(enable = "avx512f")]
pub unsafe fn dot_i8_avx512(a: &[f32], b: &[i8]) -> f32 {
    let n = a.len().min(b.len());
    let pb = b.as_ptr();
    // SAFETY: the loop asks for lanes i..i+16 (16 bytes) with i + 16 <= n <= b.len() only.
    let (sum, i) = unsafe {
        dot_lanes_avx512(a, n, |i| {
            _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(pb.add(i).cast())))
        })
    };
    sum + scalar::dot_i8(&a[i..], &b[i..])
}
