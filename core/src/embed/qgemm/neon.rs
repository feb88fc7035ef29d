//! aarch64 int8 kernel: NEON with the dot-product extension, 2 tokens × 1 panel of 16 outputs per
//! tile (four `sdot` lanes of 4 outputs each), for 8-bit and 4-bit weights (`FOUR`: nibbles
//! unpacked to 0..=15, which `sdot` reads as non-negative signed bytes).
//!
//! `sdot` is written as inline assembly: its intrinsic (`vdotq_s32`) is not stable in Rust yet.

// Tiles index accumulator arrays by token and lane group together; iterators would hide that.
#![allow(clippy::needless_range_loop)]

use std::arch::aarch64::*;
use std::arch::asm;

use super::{Activations, Weights, PANEL, STEP};

/// Tokens per tile.
const MR: usize = 2;

/// `acc += Σ_4 a·b` per 32-bit lane (signed bytes).
#[inline(always)]
fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction; callers run only where `dotprod` was detected.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// # Safety
/// The CPU must have NEON dotprod; `super::matmul` checked the shapes.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn matmul_dot<const FOUR: bool>(w: &Weights, a: &Activations, bias: &[f32], y: &mut [f32]) {
    for p in 0..w.panels() {
        let mut t = 0;
        while t < a.rows {
            let m = (a.rows - t).min(MR);
            // SAFETY: tokens t..t+m and panel p exist; CPU features as above.
            unsafe {
                if m == 2 {
                    tile::<2, FOUR>(w, a, bias, y, t, p)
                } else {
                    tile::<1, FOUR>(w, a, bias, y, t, p)
                }
            }
            t += m;
        }
    }
}

/// # Safety
/// As [`matmul_dot`], with `t0 + M <= a.rows` and `p < w.panels()`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn tile<const M: usize, const FOUR: bool>(
    w: &Weights,
    a: &Activations,
    bias: &[f32],
    y: &mut [f32],
    t0: usize,
    p: usize,
) {
    let (cols, block) = (w.cols, w.block);
    let nb = cols / block;
    let base = p * w.panel_bytes();
    let mut facc = [[vdupq_n_f32(0.0); 4]; M];
    // Activation lanes: 4 bytes of token t0 + r at inner index k, repeated.
    let lane = |r: usize, k: usize| -> int8x16_t {
        // SAFETY: callers keep t0 + r < a.rows and k + 4 <= cols.
        let v = unsafe { std::ptr::read_unaligned(a.q.as_ptr().add((t0 + r) * cols + k).cast::<i32>()) };
        vreinterpretq_s8_s32(vdupq_n_s32(v))
    };
    for b in 0..nb {
        let mut iacc = [[vdupq_n_s32(0); 4]; M];
        if FOUR {
            for (r, row) in iacc.iter_mut().enumerate() {
                *row = [vdupq_n_s32(a.corr[(t0 + r) * nb + b]); 4];
            }
        }
        let mut k = b * block;
        while k < (b + 1) * block {
            if FOUR {
                // SAFETY: pair k / 8 of panel p spans 64 bytes inside the packed weights.
                let v: [uint8x16_t; 4] = unsafe {
                    let ptr = w.w.as_ptr().add(base + k / (2 * STEP) * 64);
                    [vld1q_u8(ptr), vld1q_u8(ptr.add(16)), vld1q_u8(ptr.add(32)), vld1q_u8(ptr.add(48))]
                };
                let lo = v.map(|x| vreinterpretq_s8_u8(vandq_u8(x, vdupq_n_u8(0x0f))));
                let hi = v.map(|x| vreinterpretq_s8_u8(vshrq_n_u8::<4>(x)));
                for (r, row) in iacc.iter_mut().enumerate() {
                    let (a0, a1) = (lane(r, k), lane(r, k + STEP));
                    for q in 0..4 {
                        row[q] = sdot(sdot(row[q], lo[q], a0), hi[q], a1);
                    }
                }
                k += 2 * STEP;
            } else {
                // SAFETY: step k / 4 of panel p spans 64 bytes inside the packed weights.
                let wv: [int8x16_t; 4] = unsafe {
                    let ptr = w.w.as_ptr().add(base + k / STEP * PANEL * STEP).cast::<i8>();
                    [vld1q_s8(ptr), vld1q_s8(ptr.add(16)), vld1q_s8(ptr.add(32)), vld1q_s8(ptr.add(48))]
                };
                for (r, row) in iacc.iter_mut().enumerate() {
                    let av = lane(r, k);
                    for q in 0..4 {
                        row[q] = sdot(row[q], wv[q], av);
                    }
                }
                k += STEP;
            }
        }
        for q in 0..4 {
            // SAFETY: (p, b) quarter q is inside the [panel][block][16] scale table.
            let sw = unsafe { vld1q_f32(w.scale.as_ptr().add((p * nb + b) * PANEL + 4 * q)) };
            for r in 0..M {
                let s = vmulq_n_f32(sw, a.scale[(t0 + r) * nb + b]);
                facc[r][q] = vfmaq_f32(facc[r][q], vcvtq_f32_s32(iacc[r][q]), s);
            }
        }
    }
    let o0 = p * PANEL;
    let live = (w.rows - o0).min(PANEL);
    for (r, acc) in facc.iter().enumerate() {
        let mut out = [0f32; PANEL];
        for (q, v) in acc.iter().enumerate() {
            // SAFETY: `out` holds 16 floats.
            unsafe { vst1q_f32(out.as_mut_ptr().add(4 * q), *v) };
        }
        let row = &mut y[(t0 + r) * w.rows + o0..(t0 + r) * w.rows + o0 + live];
        for ((dst, v), b) in row.iter_mut().zip(&out).zip(&bias[o0..o0 + live]) {
            *dst = v + b;
        }
    }
}
