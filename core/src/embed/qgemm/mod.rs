//! int8 matrix products for the built-in encoders: weights packed once at load, activations
//! quantized per block of the inner dimension, integer dot products on the fastest kernel the CPU
//! has (AVX-512 VNNI, AVX2, NEON dotprod, or scalar), picked once at run time.
//!
//! The product is defined block by block. With `I[t, o, b] = Σ_{k ∈ block b} W[o, k] · A[t, k]` in
//! exact int32 arithmetic (weights and activations int8),
//!
//! `y[t, o] = bias[o] + Σ_b  I[t, o, b] · (sw[o, b] · sa[t, b])`
//!
//! where `sw` is a weight scale per output and block (a 4-bit e5 block's scale, or an int8 file's
//! per-output scale repeated) and `sa` the activation block's scale (`amax / 127`, the reference
//! engines' scheme). Every kernel computes the same integers; they differ from [`Kernel::Scalar`]
//! only in float rounding (fused multiply-add, never summation order across blocks).
//!
//! Layout: outputs in panels of 16; a panel stores, for each group of 4 inner indices, 16 × 4
//! weights (output-major), which is one AVX-512 `vpdpbusd` operand, two AVX2 registers or four NEON
//! registers. Two weight widths:
//! - [`Bits::Eight`]: signed bytes in -127..=127. VNNI multiplies unsigned by signed bytes, so for
//!   it activations are stored offset by +128 and each block's integer accumulator starts at
//!   `-128 · Σ_k W[o, k]` (kept per panel and block), which cancels the offset exactly.
//! - [`Bits::Four`]: weights in -8..=7 stored as `q = w + 8` nibbles, two groups of 4 inner
//!   indices per 64 bytes (low nibbles the first group, high the second): half the memory, as the
//!   4-bit file stores them. Every kernel multiplies the unsigned `q` by signed activations and
//!   starts each block's accumulator at `-8 · Σ_k A[t, k]`, kept with the activations.

use std::sync::OnceLock;

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86;

/// Adding and subtracting 1.5 · 2^23 rounds an f32 of magnitude below 2^22 to the nearest
/// integer, ties to even (the default rounding mode), as `round_ties_even` does.
const ROUND: f32 = 12_582_912.0;

/// Outputs per panel.
pub(crate) const PANEL: usize = 16;
/// Inner indices per packed step (one 32-bit lane of bytes).
const STEP: usize = 4;

/// A matrix-product kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Portable integer code; the definition the others reproduce.
    Scalar,
    /// x86_64 AVX2 (`vpmaddubsw` on |a| and sign-moved weights).
    Avx2,
    /// x86_64 AVX-512 VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// aarch64 NEON with the dot-product extension (`sdot`).
    NeonDot,
}

impl Kernel {
    /// Every kernel, in no particular order.
    #[cfg(test)]
    pub(crate) const ALL: [Kernel; 4] = [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512Vnni, Kernel::NeonDot];

    /// The fastest kernel this CPU runs (detected once).
    pub(crate) fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Kernel::Avx512Vnni, Kernel::NeonDot, Kernel::Avx2]
                .into_iter()
                .find(|k| k.is_supported())
                .unwrap_or(Kernel::Scalar)
        })
    }

    /// Whether the running CPU can execute this kernel.
    pub(crate) fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            Kernel::NeonDot => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[allow(unreachable_patterns)] // every arm above exists on some target only
            _ => false,
        }
    }

    /// Whether activations are stored offset by +128 (unsigned) for this kernel and weight width.
    fn offsets_activations(self, bits: Bits) -> bool {
        self == Kernel::Avx512Vnni && bits == Bits::Eight
    }
}

/// Why a matrix cannot be packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeError(pub String);

/// How packed weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bits {
    /// Signed bytes.
    Eight,
    /// `w + 8` nibbles.
    Four,
}

/// Weights `[rows (outputs), cols (inputs)]` with a scale per output and block, packed.
#[derive(Debug, Clone)]
pub(crate) struct Weights {
    rows: usize,
    cols: usize,
    block: usize,
    bits: Bits,
    /// Eight: `[panel][cols / 4][16][4]` signed bytes. Four: `[panel][cols / 8][16][4]` bytes, the
    /// low nibble from the first group of 4 inner indices, the high from the second. Rows past
    /// `rows` are zero (Eight) or `q = 8`, i.e. zero (Four).
    w: Vec<u8>,
    /// `[panel][block][16]`.
    scale: Vec<f32>,
    /// Eight only: `[panel][block][16]`, `-128 · Σ_{k ∈ block} W[o, k]`.
    corr: Vec<i32>,
}

impl Weights {
    /// Pack `weight(o, k)` (every value in `-127..=127`, or `-8..=7` for [`Bits::Four`]) with
    /// `scale[o * (cols / block) + b]`. `block` must be a positive multiple of 4 (8 for Four)
    /// dividing `cols`.
    pub(crate) fn pack(
        bits: Bits,
        rows: usize,
        cols: usize,
        block: usize,
        weight: impl Fn(usize, usize) -> i8,
        scale: &[f32],
    ) -> Result<Self, ShapeError> {
        let group = if bits == Bits::Four { 2 * STEP } else { STEP };
        if rows == 0 || cols == 0 || block == 0 || !block.is_multiple_of(group) || !cols.is_multiple_of(block)
        {
            return Err(ShapeError(format!("cannot pack {rows} x {cols} in blocks of {block}")));
        }
        let nb = cols / block;
        if scale.len() != rows * nb {
            return Err(ShapeError(format!("{} scales for {rows} x {nb} blocks", scale.len())));
        }
        let panels = rows.div_ceil(PANEL);
        let (range, fill) = match bits {
            Bits::Eight => (-127..=127, 0u8),
            Bits::Four => (-8..=7, 0x88),
        };
        let mut w = vec![fill; panels * PANEL * cols / (8 / bits.width())];
        let mut scales = vec![0f32; panels * nb * PANEL];
        let mut corr = vec![0i32; if bits == Bits::Eight { panels * nb * PANEL } else { 0 }];
        for o in 0..rows {
            let (p, j) = (o / PANEL, o % PANEL);
            for k in 0..cols {
                let v = weight(o, k);
                if !range.contains(&v) {
                    return Err(ShapeError(format!("weight ({o}, {k}) = {v} is outside {range:?}")));
                }
                let at = Self::index(bits, cols, p, j, k);
                match bits {
                    Bits::Eight => {
                        w[at] = v as u8;
                        corr[(p * nb + k / block) * PANEL + j] -= 128 * i32::from(v);
                    }
                    Bits::Four => {
                        let shift = if k % (2 * STEP) < STEP { 0 } else { 4 };
                        w[at] = (w[at] & !(0x0f << shift)) | (((v + 8) as u8) << shift);
                    }
                }
            }
            for b in 0..nb {
                scales[(p * nb + b) * PANEL + j] = scale[o * nb + b];
            }
        }
        Ok(Weights { rows, cols, block, bits, w, scale: scales, corr })
    }

    /// Byte of weight `(16p + j, k)`.
    fn index(bits: Bits, cols: usize, p: usize, j: usize, k: usize) -> usize {
        match bits {
            Bits::Eight => p * PANEL * cols + (k / STEP) * PANEL * STEP + j * STEP + k % STEP,
            Bits::Four => p * PANEL * cols / 2 + (k / (2 * STEP)) * PANEL * STEP + j * STEP + k % STEP,
        }
    }

    /// Outputs.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.len() + (self.scale.len() + self.corr.len()) * 4
    }

    // Only the SIMD kernels walk panels (32-bit ARM has none).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn panels(&self) -> usize {
        self.rows.div_ceil(PANEL)
    }

    /// Bytes of one panel.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn panel_bytes(&self) -> usize {
        PANEL * self.cols / (8 / self.bits.width())
    }

    /// Weight `(o, k)` (for the scalar kernel and tests).
    fn at(&self, o: usize, k: usize) -> i8 {
        let b = self.w[Self::index(self.bits, self.cols, o / PANEL, o % PANEL, k)];
        match self.bits {
            Bits::Eight => b as i8,
            Bits::Four => (if k % (2 * STEP) < STEP { b & 0x0f } else { b >> 4 }) as i8 - 8,
        }
    }
}

impl Bits {
    fn width(self) -> usize {
        match self {
            Bits::Eight => 8,
            Bits::Four => 4,
        }
    }
}

/// Activations `[rows, cols]` quantized to int8 per block, for one kernel and weight width.
#[derive(Debug, Default)]
pub(crate) struct Activations {
    rows: usize,
    cols: usize,
    block: usize,
    /// `[rows][cols]`: two's-complement int8, or int8 + 128 where VNNI meets 8-bit weights.
    q: Vec<u8>,
    /// `[rows][cols / block]`.
    scale: Vec<f32>,
    /// `[rows][cols / block]`: `-8 · Σ` of the block's int8 values (the 4-bit weights' offset).
    corr: Vec<i32>,
    offset: bool,
}

impl Activations {
    /// Quantize `x` (`rows × cols`, row-major) for products with `w` on `kernel`, reusing this
    /// buffer's memory. Each block gets `d = amax / 127` and values `round_half_even(x / d)` (as
    /// `x · (1 / d)`, the reference engines' formula).
    pub(crate) fn quantize(&mut self, x: &[f32], rows: usize, w: &Weights, kernel: Kernel) {
        let (cols, block) = (w.cols, w.block);
        assert!(x.len() >= rows * cols && kernel.is_supported(), "qgemm activations disagree");
        let nb = cols / block;
        self.q.resize(rows * cols, 0);
        self.scale.resize(rows * nb, 0.0);
        self.corr.resize(rows * nb, 0);
        self.offset = kernel.offsets_activations(w.bits);
        (self.rows, self.cols, self.block) = (rows, cols, block);
        let flip = if self.offset { 0x80 } else { 0 };
        let blocks = x[..rows * cols].chunks_exact(block).zip(self.q.chunks_exact_mut(block));
        for ((xb, qb), (d, corr)) in blocks.zip(self.scale.iter_mut().zip(&mut self.corr)) {
            #[cfg(target_arch = "x86_64")]
            if block.is_multiple_of(16) && kernel == Kernel::Avx512Vnni {
                // SAFETY: the kernel's CPU features include AVX-512 F and BW (asserted supported).
                let (scale, sum) = unsafe { x86::quantize_block_avx512(xb, qb, flip) };
                (*d, *corr) = (scale, -8 * sum);
                continue;
            }
            // Plain comparisons and the round-to-even constant (exact for |v| <= 2^22) instead of
            // `f32::max` and `round_ties_even`, which compile to libm calls and do not vectorize.
            let amax = xb.iter().fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
            *d = amax / 127.0;
            let inv = if *d > 0.0 { 1.0 / *d } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in qb.iter_mut().zip(xb) {
                let r = ((v * inv + ROUND) - ROUND).clamp(-127.0, 127.0) as i8;
                sum += i32::from(r);
                *q = (r as u8) ^ flip;
            }
            *corr = -8 * sum;
        }
    }

    /// Value `(t, k)` as a signed int8.
    fn at(&self, t: usize, k: usize) -> i8 {
        let b = self.q[t * self.cols + k];
        (if self.offset { b ^ 0x80 } else { b }) as i8
    }
}

/// `y[t, o] = bias[o] + Σ_b I[t, o, b] · sw[o, b] · sa[t, b]` for every token `t` of `a` and output
/// `o` of `w`, into `y` (`a.rows × w.rows`, row-major), on `kernel` (which must be supported and be
/// the one `a` was quantized for).
pub(crate) fn matmul(kernel: Kernel, w: &Weights, a: &Activations, bias: &[f32], y: &mut [f32]) {
    assert!(
        a.cols == w.cols
            && a.block == w.block
            && bias.len() == w.rows
            && y.len() >= a.rows * w.rows
            && a.offset == kernel.offsets_activations(w.bits)
            && kernel.is_supported(),
        "qgemm operands disagree"
    );
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512 F/BW/VNNI (is_supported, asserted above); shapes asserted.
        Kernel::Avx512Vnni => unsafe {
            match w.bits {
                Bits::Eight => x86::matmul_vnni::<false>(w, a, bias, y),
                Bits::Four => x86::matmul_vnni::<true>(w, a, bias, y),
            }
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (asserted above); shapes asserted.
        Kernel::Avx2 => unsafe {
            match w.bits {
                Bits::Eight => x86::matmul_avx2::<false>(w, a, bias, y),
                Bits::Four => x86::matmul_avx2::<true>(w, a, bias, y),
            }
        },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the CPU has NEON dotprod (asserted above); shapes asserted.
        Kernel::NeonDot => unsafe {
            match w.bits {
                Bits::Eight => neon::matmul_dot::<false>(w, a, bias, y),
                Bits::Four => neon::matmul_dot::<true>(w, a, bias, y),
            }
        },
        _ => matmul_scalar(w, a, bias, y),
    }
}

/// The definition, in plain integer and float arithmetic.
fn matmul_scalar(w: &Weights, a: &Activations, bias: &[f32], y: &mut [f32]) {
    let nb = w.cols / w.block;
    for t in 0..a.rows {
        for o in 0..w.rows {
            let (p, j) = (o / PANEL, o % PANEL);
            let mut acc = 0f32;
            for b in 0..nb {
                let dot: i32 = (b * w.block..(b + 1) * w.block)
                    .map(|k| i32::from(w.at(o, k)) * i32::from(a.at(t, k)))
                    .sum();
                let s = w.scale[(p * nb + b) * PANEL + j] * a.scale[t * nb + b];
                acc += dot as f32 * s;
            }
            y[t * w.rows + o] = bias[o] + acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn lcg(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    struct Case {
        w: Weights,
        wf: Vec<i8>,
        sw: Vec<f32>,
        x: Vec<f32>,
        bias: Vec<f32>,
        rows: usize,
        cols: usize,
        tokens: usize,
        block: usize,
    }

    fn case(bits: Bits, rows: usize, nb: usize, block: usize, tokens: usize, seed: u64) -> Case {
        let cols = nb * block;
        let mut r = lcg(seed);
        let (lo, span) = if bits == Bits::Four { (-8, 16) } else { (-127, 255) };
        let wf: Vec<i8> = (0..rows * cols).map(|_| ((r() >> 20) as i64 % span + lo) as i8).collect();
        let sw: Vec<f32> =
            (0..rows * nb).map(|_| 1e-3 + (r() >> 40) as f32 / (1u64 << 24) as f32 * 0.01).collect();
        let x: Vec<f32> =
            (0..tokens * cols).map(|_| ((r() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 6.0).collect();
        let bias: Vec<f32> = (0..rows).map(|i| i as f32 * 0.25 - 1.0).collect();
        let w = Weights::pack(bits, rows, cols, block, |o, k| wf[o * cols + k], &sw).unwrap();
        Case { w, wf, sw, x, bias, rows, cols, tokens, block }
    }

    fn run(c: &Case, kernel: Kernel) -> Vec<f32> {
        let mut a = Activations::default();
        a.quantize(&c.x, c.tokens, &c.w, kernel);
        let mut y = vec![f32::NAN; c.tokens * c.rows];
        matmul(kernel, &c.w, &a, &c.bias, &mut y);
        y
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every kernel this CPU runs gives the scalar definition's result up to float rounding,
        /// for any number of tokens and outputs (panel and token tails included).
        #[test]
        fn kernels_match_scalar(
            rows in 1usize..40, nb in 1usize..5, block_steps in 1usize..5, tokens in 1usize..11,
            four in any::<bool>(), seed in any::<u64>(),
        ) {
            let bits = if four { Bits::Four } else { Bits::Eight };
            let c = case(bits, rows, nb, block_steps * 2 * STEP, tokens, seed);
            let want = run(&c, Kernel::Scalar);
            for k in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
                let got = run(&c, k);
                for (g, s) in got.iter().zip(&want) {
                    prop_assert!((g - s).abs() <= 1e-5 * (1.0 + s.abs()), "{k:?}: {g} vs {s}");
                }
            }
        }

        /// The quantized product stays within the activations' rounding bound of the f32 product.
        #[test]
        fn close_to_the_f32_product(
            rows in 1usize..20, nb in 1usize..4, tokens in 1usize..5, seed in any::<u64>(),
        ) {
            let c = case(Bits::Eight, rows, nb, 32, tokens, seed);
            let got = run(&c, Kernel::best());
            let nbk = c.cols / c.block;
            let mut a = Activations::default();
            a.quantize(&c.x, c.tokens, &c.w, Kernel::Scalar);
            for t in 0..c.tokens {
                for o in 0..c.rows {
                    let wv = |k: usize| f32::from(c.wf[o * c.cols + k]) * c.sw[o * nbk + k / c.block];
                    let exact: f32 = c.bias[o] + (0..c.cols).map(|k| c.x[t * c.cols + k] * wv(k)).sum::<f32>();
                    let bound: f32 = (0..c.cols)
                        .map(|k| wv(k).abs() * a.scale[t * nbk + k / c.block] * 0.5)
                        .sum::<f32>() * 1.01 + 1e-4;
                    let g = got[t * c.rows + o];
                    prop_assert!((g - exact).abs() <= bound, "{g} vs {exact}, bound {bound}");
                }
            }
        }
    }

    #[test]
    fn packing_refuses_bad_shapes_and_values() {
        let s = vec![1f32; 4];
        let e = Bits::Eight;
        assert!(Weights::pack(e, 2, 8, 3, |_, _| 0, &s).is_err(), "block not a multiple of 4");
        assert!(Weights::pack(Bits::Four, 2, 8, 4, |_, _| 0, &s).is_err(), "4-bit blocks hold 8");
        assert!(Weights::pack(e, 2, 12, 8, |_, _| 0, &s).is_err(), "block does not divide cols");
        assert!(Weights::pack(e, 2, 8, 4, |_, _| 0, &s[..3]).is_err(), "scale count");
        assert!(Weights::pack(e, 2, 8, 4, |_, _| i8::MIN, &s).is_err());
        assert!(Weights::pack(Bits::Four, 2, 8, 8, |_, _| 8, &s[..2]).is_err());
        let w = Weights::pack(e, 2, 8, 4, |o, k| (o * 8 + k) as i8, &s).unwrap();
        assert_eq!((0..8).map(|k| w.at(1, k)).collect::<Vec<_>>(), (8..16).collect::<Vec<i8>>());
        let w = Weights::pack(Bits::Four, 2, 16, 8, |o, k| (o as i8 * 8 + k as i8) % 16 - 8, &s).unwrap();
        let want: Vec<i8> = (0..16).map(|k| (8 + k as i8) % 16 - 8).collect();
        assert_eq!((0..16).map(|k| w.at(1, k)).collect::<Vec<_>>(), want);
        assert_eq!(w.heap_bytes(), 16 * 16 / 2 + 4 * 16 * 2, "nibbles: half a byte a weight");
    }

    #[test]
    fn best_kernel_is_supported() {
        assert!(Kernel::best().is_supported());
        eprintln!("qgemm kernel: {:?}", Kernel::best());
    }
}
