//! x86_64 int8 kernels: AVX-512 VNNI (4 tokens × 2 panels of 16 outputs per tile) and AVX2
//! (2 tokens × 1 panel), each for 8-bit and 4-bit weights (`FOUR`). Both keep a block's int32
//! sums in registers and fold them into f32 accumulators once per block.

// Tiles index accumulator arrays by token and panel together; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::{Activations, Weights, PANEL, STEP};

/// Tokens per VNNI tile: 4 × 2 int32 + 4 × 2 f32 accumulators leave registers for the operands.
const MR_VNNI: usize = 4;
/// Tokens per AVX2 tile (16 ymm registers: 2 × 2 int32 + 2 × 2 f32 accumulators + operands).
const MR_AVX2: usize = 2;

/// Four activation bytes of token `t` at inner index `k` as one 32-bit lane.
///
/// # Safety
/// `k + 4 <= a.cols` and `t < a.rows`.
#[inline(always)]
unsafe fn lane(a: &Activations, t: usize, k: usize) -> i32 {
    // SAFETY: the caller keeps (t, k..k+4) inside the rows × cols buffer.
    unsafe { std::ptr::read_unaligned(a.q.as_ptr().add(t * a.cols + k).cast::<i32>()) }
}

/// Quantize one block (`x.len()` a multiple of 16, `q.len() == x.len()`) as
/// `super::Activations::quantize` defines it; returns the block's scale. `vcvtps2dq` rounds to
/// nearest even under the default rounding mode, as `round_ties_even` does. Returns the block's
/// scale and the sum of its int8 values.
///
/// # Safety
/// The CPU must have AVX-512 F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn quantize_block_avx512(x: &[f32], q: &mut [u8], flip: u8) -> (f32, i32) {
    debug_assert!(x.len().is_multiple_of(16) && q.len() == x.len());
    let mut m = _mm512_setzero_ps();
    for c in x.chunks_exact(16) {
        // SAFETY: `c` holds 16 floats.
        m = _mm512_max_ps(m, _mm512_abs_ps(unsafe { _mm512_loadu_ps(c.as_ptr()) }));
    }
    let d = _mm512_reduce_max_ps(m) / 127.0;
    let inv = _mm512_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
    let (lo, hi) = (_mm512_set1_epi32(-127), _mm512_set1_epi32(127));
    let flip = _mm_set1_epi8(flip as i8);
    let mut sum = _mm512_setzero_si512();
    for (c, o) in x.chunks_exact(16).zip(q.chunks_exact_mut(16)) {
        // SAFETY: `c` holds 16 floats and `o` 16 bytes.
        unsafe {
            let v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(c.as_ptr()), inv));
            let v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
            sum = _mm512_add_epi32(sum, v);
            let b = _mm_xor_si128(_mm512_cvtepi32_epi8(v), flip);
            _mm_storeu_si128(o.as_mut_ptr().cast(), b);
        }
    }
    (d, _mm512_reduce_add_epi32(sum))
}

/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `super::matmul` checked the shapes.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn matmul_vnni<const FOUR: bool>(
    w: &Weights,
    a: &Activations,
    bias: &[f32],
    y: &mut [f32],
) {
    let panels = w.panels();
    let mut p = 0;
    while p < panels {
        let np = (panels - p).min(2);
        let mut t = 0;
        while t < a.rows {
            let m = (a.rows - t).min(MR_VNNI);
            // SAFETY: tokens t..t+m and panels p..p+np exist (loop bounds); CPU features as above.
            unsafe {
                match (m, np) {
                    (4, 2) => tile_vnni::<4, 2, FOUR>(w, a, bias, y, t, p),
                    (3, 2) => tile_vnni::<3, 2, FOUR>(w, a, bias, y, t, p),
                    (2, 2) => tile_vnni::<2, 2, FOUR>(w, a, bias, y, t, p),
                    (1, 2) => tile_vnni::<1, 2, FOUR>(w, a, bias, y, t, p),
                    (4, _) => tile_vnni::<4, 1, FOUR>(w, a, bias, y, t, p),
                    (3, _) => tile_vnni::<3, 1, FOUR>(w, a, bias, y, t, p),
                    (2, _) => tile_vnni::<2, 1, FOUR>(w, a, bias, y, t, p),
                    _ => tile_vnni::<1, 1, FOUR>(w, a, bias, y, t, p),
                }
            }
            t += m;
        }
        p += np;
    }
}

/// Tokens `t0..t0+M` × panels `p0..p0+NP`.
///
/// # Safety
/// As [`matmul_vnni`], with `t0 + M <= a.rows` and `p0 + NP <= w.panels()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_vnni<const M: usize, const NP: usize, const FOUR: bool>(
    w: &Weights,
    a: &Activations,
    bias: &[f32],
    y: &mut [f32],
    t0: usize,
    p0: usize,
) {
    let (cols, block) = (w.cols, w.block);
    let nb = cols / block;
    let panel_bytes = w.panel_bytes();
    let nibble = _mm512_set1_epi8(0x0f);
    let mut facc = [[_mm512_setzero_ps(); NP]; M];
    for b in 0..nb {
        let mut iacc = [[_mm512_setzero_si512(); NP]; M];
        if FOUR {
            for (r, row) in iacc.iter_mut().enumerate() {
                *row = [_mm512_set1_epi32(a.corr[(t0 + r) * nb + b]); NP];
            }
        } else {
            for n in 0..NP {
                // SAFETY: (p0 + n, b) is inside the [panel][block][16] correction table.
                let c =
                    unsafe { _mm512_loadu_si512(w.corr.as_ptr().add(((p0 + n) * nb + b) * PANEL).cast()) };
                for row in iacc.iter_mut() {
                    row[n] = c;
                }
            }
        }
        let mut k = b * block;
        while k < (b + 1) * block {
            if FOUR {
                // Two groups of 4 inner indices per 64 bytes: low nibbles, then high.
                let mut lo = [_mm512_setzero_si512(); NP];
                let mut hi = [_mm512_setzero_si512(); NP];
                for n in 0..NP {
                    // SAFETY: panel p0 + n holds cols / 8 pairs of 64 bytes; k / 8 is one of them.
                    let v = unsafe {
                        _mm512_loadu_si512(
                            w.w.as_ptr().add((p0 + n) * panel_bytes + k / (2 * STEP) * 64).cast(),
                        )
                    };
                    lo[n] = _mm512_and_si512(v, nibble);
                    hi[n] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), nibble);
                }
                for (r, row) in iacc.iter_mut().enumerate() {
                    // SAFETY: t0 + r < a.rows and k + 8 <= cols.
                    let (a0, a1) = unsafe { (lane(a, t0 + r, k), lane(a, t0 + r, k + STEP)) };
                    let (a0, a1) = (_mm512_set1_epi32(a0), _mm512_set1_epi32(a1));
                    for n in 0..NP {
                        row[n] = _mm512_dpbusd_epi32(row[n], lo[n], a0);
                        row[n] = _mm512_dpbusd_epi32(row[n], hi[n], a1);
                    }
                }
                k += 2 * STEP;
            } else {
                let mut wv = [_mm512_setzero_si512(); NP];
                for (n, v) in wv.iter_mut().enumerate() {
                    // SAFETY: panel p0 + n holds cols / 4 steps of 64 bytes; k / 4 is one of them.
                    *v = unsafe {
                        _mm512_loadu_si512(
                            w.w.as_ptr().add((p0 + n) * panel_bytes + k / STEP * PANEL * STEP).cast(),
                        )
                    };
                }
                for (r, row) in iacc.iter_mut().enumerate() {
                    // SAFETY: t0 + r < a.rows and k + 4 <= cols.
                    let av = _mm512_set1_epi32(unsafe { lane(a, t0 + r, k) });
                    for n in 0..NP {
                        row[n] = _mm512_dpbusd_epi32(row[n], av, wv[n]);
                    }
                }
                k += STEP;
            }
        }
        for n in 0..NP {
            // SAFETY: as for the correction table.
            let sw = unsafe { _mm512_loadu_ps(w.scale.as_ptr().add(((p0 + n) * nb + b) * PANEL)) };
            for r in 0..M {
                let s = _mm512_mul_ps(sw, _mm512_set1_ps(a.scale[(t0 + r) * nb + b]));
                facc[r][n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[r][n]), s, facc[r][n]);
            }
        }
    }
    for n in 0..NP {
        let o0 = (p0 + n) * PANEL;
        let live = (w.rows - o0).min(PANEL);
        let mask: __mmask16 = if live == PANEL { 0xffff } else { (1u16 << live) - 1 };
        // SAFETY: the mask keeps lanes o0..o0+live, all < w.rows = bias.len().
        let bv = unsafe { _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(o0)) };
        for r in 0..M {
            let out = _mm512_add_ps(facc[r][n], bv);
            // SAFETY: row t0 + r < a.rows; lanes o0..o0+live < w.rows; y holds a.rows × w.rows.
            unsafe { _mm512_mask_storeu_ps(y.as_mut_ptr().add((t0 + r) * w.rows + o0), mask, out) };
        }
    }
}

/// # Safety
/// The CPU must have AVX2 and FMA; `super::matmul` checked the shapes.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn matmul_avx2<const FOUR: bool>(
    w: &Weights,
    a: &Activations,
    bias: &[f32],
    y: &mut [f32],
) {
    for p in 0..w.panels() {
        let mut t = 0;
        while t < a.rows {
            let m = (a.rows - t).min(MR_AVX2);
            // SAFETY: tokens t..t+m and panel p exist; CPU features as above.
            unsafe {
                if m == 2 {
                    tile_avx2::<2, FOUR>(w, a, bias, y, t, p)
                } else {
                    tile_avx2::<1, FOUR>(w, a, bias, y, t, p)
                }
            }
            t += m;
        }
    }
}

/// Tokens `t0..t0+M` × panel `p`, as two halves of 8 outputs.
///
/// # Safety
/// As [`matmul_avx2`], with `t0 + M <= a.rows` and `p < w.panels()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const M: usize, const FOUR: bool>(
    w: &Weights,
    a: &Activations,
    bias: &[f32],
    y: &mut [f32],
    t0: usize,
    p: usize,
) {
    let (cols, block) = (w.cols, w.block);
    let nb = cols / block;
    let ones = _mm256_set1_epi16(1);
    let nibble = _mm256_set1_epi8(0x0f);
    let mut facc = [[_mm256_setzero_ps(); 2]; M];
    let base = p * w.panel_bytes();
    for b in 0..nb {
        let mut iacc = [[_mm256_setzero_si256(); 2]; M];
        if FOUR {
            for (r, row) in iacc.iter_mut().enumerate() {
                *row = [_mm256_set1_epi32(a.corr[(t0 + r) * nb + b]); 2];
            }
        }
        let mut k = b * block;
        while k < (b + 1) * block {
            if FOUR {
                let at = base + k / (2 * STEP) * 64;
                // SAFETY: pair k / 8 of panel p spans 64 bytes inside the packed weights.
                let v = unsafe {
                    [
                        _mm256_loadu_si256(w.w.as_ptr().add(at).cast()),
                        _mm256_loadu_si256(w.w.as_ptr().add(at + 32).cast()),
                    ]
                };
                let lo = [_mm256_and_si256(v[0], nibble), _mm256_and_si256(v[1], nibble)];
                let hi = [
                    _mm256_and_si256(_mm256_srli_epi16::<4>(v[0]), nibble),
                    _mm256_and_si256(_mm256_srli_epi16::<4>(v[1]), nibble),
                ];
                for (r, row) in iacc.iter_mut().enumerate() {
                    // SAFETY: t0 + r < a.rows and k + 8 <= cols.
                    let (a0, a1) = unsafe { (lane(a, t0 + r, k), lane(a, t0 + r, k + STEP)) };
                    let (a0, a1) = (_mm256_set1_epi32(a0), _mm256_set1_epi32(a1));
                    // Unsigned nibbles (0..=15) times signed bytes: pairs stay far from i16 limits.
                    for h in 0..2 {
                        let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[h], a0), ones);
                        let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[h], a1), ones);
                        row[h] = _mm256_add_epi32(row[h], _mm256_add_epi32(p0, p1));
                    }
                }
                k += 2 * STEP;
            } else {
                let at = base + k / STEP * PANEL * STEP;
                // SAFETY: step k / 4 of panel p spans 64 bytes inside the packed weights.
                let wv = unsafe {
                    [
                        _mm256_loadu_si256(w.w.as_ptr().add(at).cast()),
                        _mm256_loadu_si256(w.w.as_ptr().add(at + 32).cast()),
                    ]
                };
                for (r, row) in iacc.iter_mut().enumerate() {
                    // SAFETY: t0 + r < a.rows and k + 4 <= cols.
                    let av = _mm256_set1_epi32(unsafe { lane(a, t0 + r, k) });
                    // |a| unsigned times the weight carrying a's sign: pairs of products (at most
                    // 2 · 128 · 127) do not saturate i16 since weights are never -128.
                    let abs = _mm256_abs_epi8(av);
                    for h in 0..2 {
                        let prod = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(wv[h], av));
                        row[h] = _mm256_add_epi32(row[h], _mm256_madd_epi16(prod, ones));
                    }
                }
                k += STEP;
            }
        }
        for h in 0..2 {
            // SAFETY: (p, b) half h is inside the [panel][block][16] scale table.
            let sw = unsafe { _mm256_loadu_ps(w.scale.as_ptr().add((p * nb + b) * PANEL + 8 * h)) };
            for r in 0..M {
                let s = _mm256_mul_ps(sw, _mm256_set1_ps(a.scale[(t0 + r) * nb + b]));
                facc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[r][h]), s, facc[r][h]);
            }
        }
    }
    let o0 = p * PANEL;
    for (r, acc) in facc.iter().enumerate() {
        let mut out = [0f32; PANEL];
        // SAFETY: `out` holds 16 floats.
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), acc[1]);
        }
        let live = (w.rows - o0).min(PANEL);
        let row = &mut y[(t0 + r) * w.rows + o0..(t0 + r) * w.rows + o0 + live];
        for ((dst, v), b) in row.iter_mut().zip(&out).zip(&bias[o0..o0 + live]) {
            *dst = v + b;
        }
    }
}
