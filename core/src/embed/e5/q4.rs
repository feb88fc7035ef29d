//! 4-bit weight × activation matrix products that read the stored blocks directly.
//!
//! A block is an f16 scale `d` and 16 bytes: byte `j` holds weight `j` in its low nibble and
//! weight `j + 16` in its high nibble, each worth `(q - 8) · d`. Matrices are `[out, in]`, one row
//! of `in / 32` blocks per output. The fast kernels quantize each activation row per 32 values to
//! int8 (scale `amax / 127`, the reference engine's scheme) so a block's dot product is integer
//! arithmetic; [`matmul_f32`] (dequantized weights, f32 activations) is the plain reference.

use super::format::{BLOCK, BLOCK_BYTES};

fn scale(block: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32()
}

/// Weights `0..32` of one block as stored nibbles (0..=15, not yet offset by -8).
fn nibbles(block: &[u8], out: &mut [u8]) {
    for j in 0..16 {
        let b = block[2 + j];
        out[j] = b & 0x0f;
        out[j + 16] = b >> 4;
    }
}

/// Dequantize one row of `cols` weights (a word embedding, or a test's reference).
pub(crate) fn dequantize_row(row: &[u8], cols: usize, out: &mut [f32]) {
    let mut q = [0u8; BLOCK];
    for (b, o) in row.chunks_exact(BLOCK_BYTES).zip(out[..cols].chunks_exact_mut(BLOCK)) {
        let d = scale(b);
        nibbles(b, &mut q);
        for (v, &n) in o.iter_mut().zip(&q) {
            *v = (f32::from(n) - 8.0) * d;
        }
    }
}

/// Activations `[rows, cols]` quantized per 32-value block.
#[derive(Debug, Default)]
pub(crate) struct Q8 {
    q: Vec<i8>,
    /// Scale of each block.
    d: Vec<f32>,
    /// `d · Σ q` of each block, for the `-8` weight offset.
    ds: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Q8 {
    /// Quantize `x` (`rows × cols`, `cols` a multiple of 32) into this buffer, reusing its memory.
    pub(crate) fn quantize(&mut self, x: &[f32], rows: usize, cols: usize) {
        let nb = cols / BLOCK;
        self.q.resize(rows * cols, 0);
        self.d.resize(rows * nb, 0.0);
        self.ds.resize(rows * nb, 0.0);
        self.rows = rows;
        self.cols = cols;
        for (i, xb) in x[..rows * cols].chunks_exact(BLOCK).enumerate() {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in self.q[i * BLOCK..(i + 1) * BLOCK].iter_mut().zip(xb) {
                let r = (v * inv).round_ties_even().clamp(-128.0, 127.0) as i8;
                *q = r;
                sum += i32::from(r);
            }
            self.d[i] = d;
            self.ds[i] = d * sum as f32;
        }
    }
}

/// A 4-bit matrix `[rows, cols]` as stored (`rows · cols / 32` blocks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q4<'a> {
    pub data: &'a [u8],
    pub rows: usize,
    pub cols: usize,
}

impl Q4<'_> {
    fn row(&self, r: usize) -> &[u8] {
        let n = self.cols / BLOCK * BLOCK_BYTES;
        &self.data[r * n..(r + 1) * n]
    }
}

#[cfg(test)]
/// Reference: `y[t, o] = bias[o] + Σ_i x[t, i] · w[o, i]` with dequantized weights, all f32.
pub(crate) fn matmul_f32(w: Q4<'_>, bias: &[f32], x: &[f32], tokens: usize, y: &mut [f32]) {
    let mut row = vec![0f32; w.cols];
    for o in 0..w.rows {
        dequantize_row(w.row(o), w.cols, &mut row);
        for t in 0..tokens {
            let xt = &x[t * w.cols..(t + 1) * w.cols];
            let dot: f32 = xt.iter().zip(&row).map(|(a, b)| a * b).sum();
            y[t * w.rows + o] = bias[o] + dot;
        }
    }
}

/// Scalar integer kernel: the definition the SIMD kernels must reproduce.
pub(crate) fn matmul_q8_scalar(w: Q4<'_>, bias: &[f32], a: &Q8, y: &mut [f32]) {
    let nb = w.cols / BLOCK;
    let mut q = [0u8; BLOCK];
    for o in 0..w.rows {
        let row = w.row(o);
        for t in 0..a.rows {
            let mut acc = 0f32;
            for b in 0..nb {
                let blk = &row[b * BLOCK_BYTES..(b + 1) * BLOCK_BYTES];
                nibbles(blk, &mut q);
                let av = &a.q[(t * nb + b) * BLOCK..(t * nb + b + 1) * BLOCK];
                let dot: i32 = q.iter().zip(av).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum();
                let dw = scale(blk);
                acc += dw * (a.d[t * nb + b] * dot as f32 - 8.0 * a.ds[t * nb + b]);
            }
            y[t * w.rows + o] = bias[o] + acc;
        }
    }
}

/// `y = a · wᵀ + bias` on the fastest kernel this CPU has.
pub(crate) fn matmul(w: Q4<'_>, bias: &[f32], a: &Q8, y: &mut [f32]) {
    debug_assert!(a.cols == w.cols && bias.len() == w.rows && y.len() >= a.rows * w.rows);
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { avx2::matmul(w, bias, a, y) };
        return;
    }
    // No NEON kernel yet: this machine cannot build for aarch64 to check one, so phones run the
    // scalar kernel.
    matmul_q8_scalar(w, bias, a, y)
}

#[cfg(target_arch = "x86_64")]
/// Output rows computed together: each activation block is loaded once for all of them.
const TILE: usize = 4;

#[cfg(target_arch = "x86_64")]
/// Unpack `TILE` weight rows to one nibble per byte (`wexp`) and their block scales (`dw`), once
/// per tile, so the loop over tokens reads plain bytes.
fn unpack_tile(w: Q4<'_>, o: usize, n: usize, wexp: &mut [u8], dw: &mut [f32]) {
    let nb = w.cols / BLOCK;
    for r in 0..n {
        let row = w.row(o + r);
        for b in 0..nb {
            let blk = &row[b * BLOCK_BYTES..(b + 1) * BLOCK_BYTES];
            dw[r * nb + b] = scale(blk);
            nibbles(blk, &mut wexp[r * w.cols + b * BLOCK..r * w.cols + (b + 1) * BLOCK]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{unpack_tile, BLOCK, Q4, Q8, TILE};

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; shapes as [`super::matmul`] checks.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn matmul(w: Q4<'_>, bias: &[f32], a: &Q8, y: &mut [f32]) {
        let (cols, nb) = (w.cols, w.cols / BLOCK);
        let mut wexp = vec![0u8; TILE * cols];
        let mut dw = vec![0f32; TILE * nb];
        let mut scales = vec![0f32; TILE * nb];
        let mut o = 0;
        while o < w.rows {
            let n = TILE.min(w.rows - o);
            unpack_tile(w, o, n, &mut wexp, &mut dw);
            for t in 0..a.rows {
                // A full tile keeps its accumulators in registers (N is a constant).
                let out = if n == TILE {
                    tile::<TILE>(&wexp, &dw, &mut scales, a, t, cols)
                } else {
                    let mut out = [0f32; TILE];
                    for r in 0..n {
                        out[r] = tile::<1>(&wexp[r * cols..], &dw[r * nb..], &mut scales, a, t, cols)[0];
                    }
                    out
                };
                for r in 0..n {
                    y[t * w.rows + o + r] = bias[o + r] + out[r];
                }
            }
            o += n;
        }
    }

    /// Dot products of token `t` with `N` unpacked weight rows.
    #[target_feature(enable = "avx2,fma")]
    fn tile<const N: usize>(
        wexp: &[u8],
        dw: &[f32],
        scales: &mut [f32],
        a: &Q8,
        t: usize,
        cols: usize,
    ) -> [f32; TILE] {
        let nb = cols / BLOCK;
        let aq = &a.q[t * cols..(t + 1) * cols];
        let ad = &a.d[t * nb..(t + 1) * nb];
        let ads = &a.ds[t * nb..(t + 1) * nb];
        let mut corr = [0f32; N];
        for r in 0..N {
            for b in 0..nb {
                scales[r * nb + b] = dw[r * nb + b] * ad[b];
                corr[r] += dw[r * nb + b] * ads[b];
            }
        }
        assert!(wexp.len() >= N * cols && scales.len() >= N * nb, "tile operands too short");
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); N];
        for b in 0..nb {
            // SAFETY: `aq` holds `cols` bytes and `wexp` N rows of `cols` (asserted); b*32+32 <= cols.
            let av = unsafe { _mm256_loadu_si256(aq.as_ptr().add(b * BLOCK).cast()) };
            for r in 0..N {
                let wv = unsafe { _mm256_loadu_si256(wexp.as_ptr().add(r * cols + b * BLOCK).cast()) };
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av), ones);
                let s = _mm256_set1_ps(scales[r * nb + b]);
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), s, acc[r]);
            }
        }
        let mut out = [0f32; TILE];
        for r in 0..N {
            out[r] = hsum(acc[r]) - 8.0 * corr[r];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn blocks(seed: &[u8], rows: usize, cols: usize) -> Vec<u8> {
        let n = rows * cols / BLOCK;
        let mut out = Vec::with_capacity(n * BLOCK_BYTES);
        for i in 0..n {
            let d = half::f16::from_f32(0.001 + f32::from(seed[i % seed.len()]) / 4000.0);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
            for j in 0..16 {
                out.push(seed[(i * 16 + j * 7 + 3) % seed.len()].wrapping_mul(37).wrapping_add(j as u8));
            }
        }
        out
    }

    fn inputs(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..rows * cols)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 6.0
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The dispatched kernel (AVX2 where the CPU has it) gives the scalar integer kernel's
        /// result up to f32 summation order.
        #[test]
        fn simd_matches_scalar(
            rows in 1usize..13, nb in 1usize..6, tokens in 1usize..9,
            seed in proptest::collection::vec(any::<u8>(), 64), xs in any::<u64>(),
        ) {
            let cols = nb * BLOCK;
            let data = blocks(&seed, rows, cols);
            let w = Q4 { data: &data, rows, cols };
            let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.25 - 1.0).collect();
            let x = inputs(tokens, cols, xs);
            let mut a = Q8::default();
            a.quantize(&x, tokens, cols);
            let (mut fast, mut slow) = (vec![0f32; tokens * rows], vec![0f32; tokens * rows]);
            matmul(w, &bias, &a, &mut fast);
            matmul_q8_scalar(w, &bias, &a, &mut slow);
            for (f, s) in fast.iter().zip(&slow) {
                prop_assert!((f - s).abs() <= 1e-4 * (1.0 + s.abs()), "{f} vs {s}");
            }
        }

        /// int8 activations stay within their rounding bound of the all-f32 reference.
        #[test]
        fn int8_activations_match_the_f32_reference(
            rows in 1usize..9, nb in 1usize..5, tokens in 1usize..5,
            seed in proptest::collection::vec(any::<u8>(), 64), xs in any::<u64>(),
        ) {
            let cols = nb * BLOCK;
            let data = blocks(&seed, rows, cols);
            let w = Q4 { data: &data, rows, cols };
            let bias = vec![0.5f32; rows];
            let x = inputs(tokens, cols, xs);
            let mut a = Q8::default();
            a.quantize(&x, tokens, cols);
            let (mut q, mut f) = (vec![0f32; tokens * rows], vec![0f32; tokens * rows]);
            matmul(w, &bias, &a, &mut q);
            matmul_f32(w, &bias, &x, tokens, &mut f);
            let mut wrow = vec![0f32; cols];
            for o in 0..rows {
                dequantize_row(w.row(o), cols, &mut wrow);
                for t in 0..tokens {
                    // Each activation is off by at most half its block's step.
                    let bound: f32 = (0..cols)
                        .map(|i| wrow[i].abs() * a.d[t * nb + i / BLOCK] * 0.5)
                        .sum::<f32>() * 1.01 + 1e-4;
                    let (qv, fv) = (q[t * rows + o], f[t * rows + o]);
                    prop_assert!((qv - fv).abs() <= bound, "{qv} vs {fv}, bound {bound}");
                }
            }
        }
    }

    #[test]
    fn nibble_layout_low_then_high() {
        // Scale 1.0; byte j = (j + 16 weight) << 4 | (j weight).
        let mut blk = half::f16::from_f32(1.0).to_bits().to_le_bytes().to_vec();
        blk.extend((0..16u8).map(|j| (15 - j) << 4 | j));
        let mut out = [0f32; 32];
        dequantize_row(&blk, 32, &mut out);
        for j in 0..16 {
            assert_eq!(out[j], j as f32 - 8.0);
            assert_eq!(out[j + 16], (15 - j) as f32 - 8.0);
        }
    }
}
