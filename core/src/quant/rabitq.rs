//! RaBitQ-style codes: project (PCA, optional) → random rotation → b bits per dimension, with a
//! per-vector correction so inner-product estimates are unbiased (Gao & Long, SIGMOD 2024).
//!
//! Code layout per vector: `bits` bit-planes of `dims` bits each (plane p holds bit p of every
//! coordinate's level), then two little-endian f16 factors `a` and `c`. With `y = B(x − μ)`,
//! levels `u ∈ [0, L]` (`L = 2^bits − 1`) on the symmetric grid `ŷ = s(2u/L − 1)`, the estimate is
//! `⟨x, q⟩ ≈ a (⟨u, q_y⟩ − L/2 Σ q_y) + c + ⟨q, μ⟩ − ‖μ‖²` where `a = k s 2/L`, `k = ‖y‖²/⟨ŷ, y⟩`
//! (the RaBitQ unbiasing factor) and `c = ⟨x, μ⟩`. `⟨u, q_y⟩` is summed from per-byte lookup tables.

use half::f16;

use super::linalg;
use crate::{Error, Result};

/// Bytes of the two f16 factors stored after each code's bit-planes.
const FACTOR_BYTES: usize = 4;

/// Shape of the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantParams {
    /// Coordinates kept: the full dimension means rotation only (nothing stored but the seed);
    /// fewer means a PCA projection, whose basis is stored (f16) with the index.
    pub dims: usize,
    /// Bits per coordinate, 1 to 4.
    pub bits: u8,
    /// Seed of the random rotation (and of PCA's start).
    pub seed: u64,
}

/// A trained quantizer: the centre, the projection, and the code shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantizer {
    dim: usize,
    params: QuantParams,
    mean: Vec<f32>,
    mean_sq: f32,
    /// PCA basis (dims × dim, f16-rounded) when `dims < dim`; empty when rotation only.
    pca: Vec<f32>,
    /// Rotation ∘ PCA as one `dims × dim` matrix (derived, not stored).
    basis: Vec<f32>,
}

/// A query prepared for fast estimates against many codes.
#[derive(Debug, Clone)]
pub struct QueryLut {
    /// `dims/8` tables of 256 partial sums: entry `[j][byte]` = Σ q_y over the set bits of `byte`.
    table: Vec<f32>,
    /// `L/2 · Σ q_y`.
    offset: f32,
    /// `⟨q, μ⟩ − ‖μ‖²`.
    constant: f32,
}

impl Quantizer {
    /// Learn the centre (and PCA basis, if reducing) from `sample`, row-major `n × dim`.
    pub fn train(sample: &[f32], dim: usize, params: QuantParams) -> Result<Self> {
        check_params(dim, params)?;
        if sample.is_empty() || !sample.len().is_multiple_of(dim) {
            return Err(Error::InvalidArgument("quantizer training needs at least one vector".into()));
        }
        let n = sample.len() / dim;
        let mut mean = vec![0f64; dim];
        for row in sample.chunks_exact(dim) {
            mean.iter_mut().zip(row).for_each(|(m, &x)| *m += f64::from(x));
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let pca = if params.dims < dim {
            let cov = linalg::covariance(sample, dim, &mean);
            let top = linalg::top_eigenvectors(&cov, dim, params.dims, 40, params.seed);
            // Stored as f16: round now so training and reopening use the same basis.
            top.iter().map(|&x| f16::from_f64(x).to_f32()).collect()
        } else {
            Vec::new()
        };
        let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        Ok(Self::assemble(dim, params, mean, pca))
    }

    fn assemble(dim: usize, params: QuantParams, mean: Vec<f32>, pca: Vec<f32>) -> Self {
        let d = params.dims;
        let rot = linalg::random_rotation(d, params.seed);
        let basis = if pca.is_empty() {
            rot.iter().map(|&x| x as f32).collect()
        } else {
            // basis = rot (d × d) · pca (d × dim)
            let mut b = vec![0f32; d * dim];
            for i in 0..d {
                for t in 0..d {
                    let r = rot[i * d + t] as f32;
                    let prow = &pca[t * dim..(t + 1) * dim];
                    b[i * dim..(i + 1) * dim].iter_mut().zip(prow).for_each(|(o, &p)| *o += r * p);
                }
            }
            b
        };
        let mean_sq = mean.iter().map(|m| m * m).sum();
        Quantizer { dim, params, mean, mean_sq, pca, basis }
    }

    /// The input dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The code shape.
    pub fn params(&self) -> QuantParams {
        self.params
    }

    /// Bytes per encoded vector, factors included.
    pub fn code_bytes(&self) -> usize {
        self.params.dims / 8 * usize::from(self.params.bits) + FACTOR_BYTES
    }

    fn project(&self, v: &[f32], centre: bool) -> Vec<f32> {
        let mut y = vec![0f32; self.params.dims];
        for (yi, row) in y.iter_mut().zip(self.basis.chunks_exact(self.dim)) {
            *yi = if centre {
                row.iter().zip(v).zip(&self.mean).map(|((b, x), m)| b * (x - m)).sum()
            } else {
                row.iter().zip(v).map(|(b, x)| b * x).sum()
            };
        }
        y
    }

    /// Encode `v` (length `dim`) into `out` (length [`Quantizer::code_bytes`]).
    pub fn encode(&self, v: &[f32], out: &mut [u8]) -> Result<()> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch { expected: self.dim, found: v.len() });
        }
        if out.len() != self.code_bytes() {
            return Err(Error::InvalidArgument("code buffer has the wrong length".into()));
        }
        let y = self.project(v, true);
        let levels = (1u32 << self.params.bits) - 1;
        let lf = levels as f32;
        let s = y.iter().fold(0f32, |m, x| m.max(x.abs()));
        let plane_bytes = self.params.dims / 8;
        out.fill(0);
        let (mut yy, mut yhy) = (0f32, 0f32);
        for (i, &yi) in y.iter().enumerate() {
            let u = if s > 0.0 {
                (((yi / s + 1.0) * 0.5 * lf).round()).clamp(0.0, lf) as u32
            } else {
                levels / 2
            };
            let yhat = s * (2.0 * u as f32 / lf - 1.0);
            yy += yi * yi;
            yhy += yhat * yi;
            for p in 0..usize::from(self.params.bits) {
                if u >> p & 1 == 1 {
                    out[p * plane_bytes + i / 8] |= 1 << (i % 8);
                }
            }
        }
        let k = if yhy > 1e-12 { yy / yhy } else { 1.0 };
        let a = k * s * 2.0 / lf;
        let c: f32 = v.iter().zip(&self.mean).map(|(x, m)| x * m).sum();
        let factors = &mut out[plane_bytes * usize::from(self.params.bits)..];
        factors[..2].copy_from_slice(&f16::from_f32(a).to_le_bytes());
        factors[2..4].copy_from_slice(&f16::from_f32(c).to_le_bytes());
        Ok(())
    }

    /// Prepare query `q` (length `dim`) for [`Quantizer::estimate`].
    pub fn prepare(&self, q: &[f32]) -> Result<QueryLut> {
        if q.len() != self.dim {
            return Err(Error::DimensionMismatch { expected: self.dim, found: q.len() });
        }
        let qy = self.project(q, true);
        let groups = self.params.dims / 8;
        let mut table = vec![0f32; groups * 256];
        for (j, t) in table.chunks_exact_mut(256).enumerate() {
            let q8 = &qy[j * 8..j * 8 + 8];
            // Each entry extends a smaller one by its lowest set bit: 256 adds per group.
            for byte in 1usize..256 {
                let low = byte.trailing_zeros() as usize;
                t[byte] = t[byte & (byte - 1)] + q8[low];
            }
        }
        let levels = ((1u32 << self.params.bits) - 1) as f32;
        let offset = levels / 2.0 * qy.iter().sum::<f32>();
        let constant = q.iter().zip(&self.mean).map(|(x, m)| x * m).sum::<f32>() - self.mean_sq;
        Ok(QueryLut { table, offset, constant })
    }

    /// Estimated inner product of the prepared query with one code (length [`Quantizer::code_bytes`]).
    #[inline]
    pub fn estimate(&self, lut: &QueryLut, code: &[u8]) -> f32 {
        let plane_bytes = self.params.dims / 8;
        let bits = usize::from(self.params.bits);
        let mut dot = 0f32;
        for p in 0..bits {
            let plane = &code[p * plane_bytes..(p + 1) * plane_bytes];
            let mut s = 0f32;
            for (t, &b) in lut.table.chunks_exact(256).zip(plane) {
                s += t[usize::from(b)];
            }
            dot += s * (1u32 << p) as f32;
        }
        let f = &code[plane_bytes * bits..];
        let a = f16::from_le_bytes([f[0], f[1]]).to_f32();
        let c = f16::from_le_bytes([f[2], f[3]]).to_f32();
        a * (dot - lut.offset) + c + lut.constant
    }

    /// Serialize: params, mean (f32), PCA basis (f16) if any. The rotation is rebuilt from the seed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.params.dims as u32).to_le_bytes());
        out.extend_from_slice(&u32::from(self.params.bits).to_le_bytes());
        out.extend_from_slice(&u32::from(!self.pca.is_empty()).to_le_bytes());
        out.extend_from_slice(&self.params.seed.to_le_bytes());
        self.mean.iter().for_each(|m| out.extend_from_slice(&m.to_le_bytes()));
        self.pca.iter().for_each(|p| out.extend_from_slice(&f16::from_f32(*p).to_le_bytes()));
        out
    }

    /// Parse [`Quantizer::to_bytes`] output, validating every size against the buffer.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = |m: &str| Error::Corrupt(format!("quantizer: {m}"));
        let word = |i: usize| -> Result<u32> {
            bytes
                .get(i * 4..i * 4 + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| corrupt("truncated header"))
        };
        let (dim, dims, bits, has_pca) = (word(0)? as usize, word(1)? as usize, word(2)?, word(3)?);
        let seed = u64::from(word(4)?) | u64::from(word(5)?) << 32;
        let bits = u8::try_from(bits).map_err(|_| corrupt("bits out of range"))?;
        let params = QuantParams { dims, bits, seed };
        check_params(dim, params).map_err(|e| corrupt(&e.to_string()))?;
        if (has_pca == 1) != (dims < dim) || has_pca > 1 {
            return Err(corrupt("PCA flag disagrees with dimensions"));
        }
        let body = &bytes[24..];
        let pca_len = if has_pca == 1 { dims * dim } else { 0 };
        if body.len() != dim * 4 + pca_len * 2 {
            return Err(corrupt("size does not match dimensions"));
        }
        let (mean_bytes, pca_bytes) = body.split_at(dim * 4);
        let mean: Vec<f32> =
            mean_bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let pca: Vec<f32> =
            pca_bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
        // Training never writes NaN or infinity (it refuses non-finite vectors); a file that holds them
        // would turn every estimate into NaN.
        let mean_sq: f32 = mean.iter().map(|m| m * m).sum();
        if !mean_sq.is_finite() || pca.iter().any(|p| !p.is_finite()) {
            return Err(corrupt("non-finite centre or basis"));
        }
        Ok(Self::assemble(dim, params, mean, pca))
    }
}

fn check_params(dim: usize, p: QuantParams) -> Result<()> {
    if !(1..=4).contains(&p.bits) {
        return Err(Error::InvalidArgument(format!("code bits must be 1 to 4, got {}", p.bits)));
    }
    if p.dims == 0 || !p.dims.is_multiple_of(8) || p.dims > dim || dim > 4096 {
        return Err(Error::InvalidArgument(format!(
            "code dimensions must be a positive multiple of 8 and at most {dim}, got {}",
            p.dims
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n * dim);
        for _ in 0..n {
            // A shared offset makes the data anisotropic, like sentence embeddings.
            let mut v: Vec<f32> =
                (0..dim).map(|i| rng.normal() as f32 + if i < 4 { 2.0 } else { 0.0 }).collect();
            crate::embed::l2_normalize(&mut v);
            out.extend(v);
        }
        out
    }

    fn mean_abs_error(params: QuantParams) -> f32 {
        let dim = 64;
        let data = unit_vectors(400, dim, 1);
        let q = Quantizer::train(&data, dim, params).unwrap();
        let mut code = vec![0u8; q.code_bytes()];
        let queries = unit_vectors(20, dim, 2);
        let mut err = 0f32;
        for qv in queries.chunks_exact(dim) {
            let lut = q.prepare(qv).unwrap();
            for v in data.chunks_exact(dim) {
                q.encode(v, &mut code).unwrap();
                let exact: f32 = v.iter().zip(qv).map(|(a, b)| a * b).sum();
                err += (q.estimate(&lut, &code) - exact).abs();
            }
        }
        err / (400.0 * 20.0)
    }

    #[test]
    fn more_bits_estimate_better() {
        let e1 = mean_abs_error(QuantParams { dims: 64, bits: 1, seed: 3 });
        let e2 = mean_abs_error(QuantParams { dims: 64, bits: 2, seed: 3 });
        let e4 = mean_abs_error(QuantParams { dims: 64, bits: 4, seed: 3 });
        assert!(e1 < 0.1 && e2 < e1 && e4 < e2, "{e1} {e2} {e4}");
    }

    #[test]
    fn pca_codes_work() {
        let e = mean_abs_error(QuantParams { dims: 32, bits: 4, seed: 3 });
        assert!(e < 0.1, "{e}");
    }

    #[test]
    fn bytes_round_trip() {
        let dim = 64;
        let data = unit_vectors(100, dim, 5);
        for params in [QuantParams { dims: 64, bits: 1, seed: 9 }, QuantParams { dims: 16, bits: 3, seed: 9 }]
        {
            let q = Quantizer::train(&data, dim, params).unwrap();
            let back = Quantizer::from_bytes(&q.to_bytes()).unwrap();
            assert_eq!(q, back);
            for cut in 0..q.to_bytes().len() {
                assert!(Quantizer::from_bytes(&q.to_bytes()[..cut]).is_err());
            }
        }
    }

    #[test]
    fn rejects_non_finite_values() {
        let data = unit_vectors(50, 64, 5);
        let q = Quantizer::train(&data, 64, QuantParams { dims: 16, bits: 2, seed: 9 }).unwrap();
        let good = q.to_bytes();
        let pca_start = 24 + 64 * 4;
        for (at, bytes) in [
            (24, f32::NAN.to_le_bytes().to_vec()),
            (28, f32::INFINITY.to_le_bytes().to_vec()),
            (24, 3e38f32.to_le_bytes().to_vec()), // finite, but its square is not
            (pca_start, f16::NAN.to_le_bytes().to_vec()),
            (good.len() - 2, f16::NEG_INFINITY.to_le_bytes().to_vec()),
        ] {
            let mut bad = good.clone();
            bad[at..at + bytes.len()].copy_from_slice(&bytes);
            assert!(matches!(Quantizer::from_bytes(&bad), Err(Error::Corrupt(_))), "value at {at}");
        }
    }

    #[test]
    fn rejects_bad_params() {
        let data = unit_vectors(10, 64, 5);
        for (dims, bits) in [(0, 1), (12, 1), (72, 1), (64, 0), (64, 5)] {
            assert!(Quantizer::train(&data, 64, QuantParams { dims, bits, seed: 1 }).is_err());
        }
    }
}
