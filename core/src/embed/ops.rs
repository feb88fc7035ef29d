//! The f32 operations both built-in encoders share (bert.rs, e5/encoder.rs): layer norm, exact
//! GELU, and multi-head attention over one unpadded sequence.

/// A LayerNorm's gain and bias.
#[derive(Debug)]
pub(super) struct Norm {
    pub gain: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Normalize each row of `x` (rows of `n.gain.len()` values) in place.
pub(super) fn layer_norm(x: &mut [f32], n: &Norm, eps: f32) {
    let d = n.gain.len();
    for row in x.chunks_exact_mut(d) {
        let mean = sum(row) / d as f32;
        let var = sum_by(row, |v| (v - mean) * (v - mean)) / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&n.gain).zip(&n.bias) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

fn sum(row: &[f32]) -> f32 {
    sum_by(row, |v| v)
}

/// `Σ f(v)` over `row` in eight partial sums, so it vectorizes (the compiler may not reorder a
/// single f32 accumulator).
fn sum_by(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(l, &v)| *l += f(v));
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f32>()
}

/// Exact GELU, `x Φ(x) = x (1 + erf(x/√2)) / 2`.
pub(super) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf as a rational function of x (Eigen's single-precision approximation, a few ulp): no `exp`
/// and no `mul_add` (a libm call without FMA enabled), so the loop over activations vectorizes.
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    for c in [-2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.9546e-3, -1.609_603_3e-2] {
        p = x2 * p + c;
    }
    let mut q = x2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    for c in [-1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        q = x2 * q + c;
    }
    x * p / q
}

/// `e^x` for `x <= 0` (softmax arguments), within 2 ulp of `f32::exp`, in plain arithmetic so a
/// loop of it vectorizes (libm's `expf` is a call per value: 9% of an e5 forward pass).
fn exp_nonpositive(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding and subtracting rounds to an integer
    let x = if x > -87.0 { x } else { -87.0 };
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    // n as an integer straight from the bits of t (|n| < 2^22): no saturating float cast.
    let exponent = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    // Cody–Waite: ln 2 split so n · LN2_HI is exact.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    // Cephes' expf polynomial on [-ln2/2, ln2/2].
    let mut p = 1.987_569_1e-4f32;
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_66, 0.5] {
        p = p * r + c;
    }
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((exponent + 127) as u32) << 23)
}

/// Softmax of each row of `scores` (rows of `s` values) after scaling by `scale`, in place.
fn softmax_rows(scores: &mut [f32], s: usize, scale: f32) {
    for row in scores.chunks_exact_mut(s) {
        let max = max_scaled(row, scale);
        row.iter_mut().for_each(|x| *x = exp_nonpositive(*x * scale - max));
        let inv = 1.0 / sum(row);
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

/// `max(scale · v)` over `row` in eight lanes (vectorizes, unlike a single running maximum).
fn max_scaled(row: &[f32], scale: f32) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        lanes.iter_mut().zip(c).for_each(|(l, &v)| *l = if v * scale > *l { v * scale } else { *l });
    }
    let m = lanes.iter().fold(f32::NEG_INFINITY, |m, &l| if l > m { l } else { m });
    chunks.remainder().iter().fold(m, |m, &v| if v * scale > m { v * scale } else { m })
}

/// Scaled dot-product attention of every head over one unpadded sequence of `s` tokens: `q`, `k`,
/// `v` and `ctx` are `s × d` row-major, heads `d / heads` wide. Heads are read in place through
/// strides (no per-head copies).
pub(super) fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: usize,
    d: usize,
    heads: usize,
    ctx: &mut Vec<f32>,
) {
    assert!(q.len() >= s * d && k.len() >= s * d && v.len() >= s * d && heads > 0, "attention operands");
    ctx.resize(s * d, 0.0);
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut scores = vec![0f32; s * s];
    for h in 0..heads {
        let off = h * hd;
        // scores = Q_h · K_hᵀ: Q_h is s × hd with row stride d; K_hᵀ is hd × s with column stride d.
        // SAFETY: every index reached is t·d + off + i with t < s, i < hd, off + hd <= d: inside
        // the asserted s × d operands; `scores` holds s × s.
        unsafe {
            matrixmultiply::sgemm(
                s,
                hd,
                s,
                1.0,
                q.as_ptr().add(off),
                d as isize,
                1,
                k.as_ptr().add(off),
                1,
                d as isize,
                0.0,
                scores.as_mut_ptr(),
                s as isize,
                1,
            );
        }
        softmax_rows(&mut scores, s, scale);
        // ctx_h = P · V_h, written into columns off..off+hd of ctx.
        // SAFETY: as above; ctx holds s × d.
        unsafe {
            matrixmultiply::sgemm(
                s,
                s,
                hd,
                1.0,
                scores.as_ptr(),
                s as isize,
                1,
                v.as_ptr().add(off),
                d as isize,
                1,
                0.0,
                ctx.as_mut_ptr().add(off),
                d as isize,
                1,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf against a series in f64 (converges fast for |x| ≤ 4 with enough terms).
    fn erf_reference(x: f64) -> f64 {
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_is_accurate_to_a_few_ulp() {
        let mut worst = 0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let want = if x.abs() > 4.0 { 1f64.copysign(f64::from(x)) } else { erf_reference(f64::from(x)) };
            worst = worst.max((f64::from(erf(x)) - want).abs());
        }
        assert!(worst < 5e-7, "worst error {worst:e}");
    }

    #[test]
    fn exp_is_within_two_ulp() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -(i as f32) * 87.0 / 200_000.0;
            let want = f64::from(x).exp();
            let rel = (f64::from(exp_nonpositive(x)) - want).abs() / want;
            worst = worst.max(rel);
        }
        assert!(worst < 2.5e-7, "worst relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1000.0) >= 0.0 && exp_nonpositive(-1000.0) < 1e-37);
    }

    /// Strided attention against a plain per-head reference.
    #[test]
    fn attention_matches_a_plain_reference() {
        let (s, d, heads) = (5, 8, 2);
        let hd = d / heads;
        let val = |i: usize, m: f32| ((i * 7919 % 97) as f32 / 97.0 - 0.5) * m;
        let q: Vec<f32> = (0..s * d).map(|i| val(i, 3.0)).collect();
        let k: Vec<f32> = (0..s * d).map(|i| val(i + 13, 2.0)).collect();
        let v: Vec<f32> = (0..s * d).map(|i| val(i + 29, 1.0)).collect();
        let mut ctx = Vec::new();
        attention(&q, &k, &v, s, d, heads, &mut ctx);
        for h in 0..heads {
            for t in 0..s {
                let logits: Vec<f64> = (0..s)
                    .map(|u| {
                        (0..hd).map(|i| f64::from(q[t * d + h * hd + i] * k[u * d + h * hd + i])).sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                let z: f64 = w.iter().sum();
                for i in 0..hd {
                    let want: f64 = (0..s).map(|u| w[u] / z * f64::from(v[u * d + h * hd + i])).sum();
                    let got = f64::from(ctx[t * d + h * hd + i]);
                    assert!((got - want).abs() < 1e-5, "head {h} token {t} dim {i}: {got} vs {want}");
                }
            }
        }
    }
}
