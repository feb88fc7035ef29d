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

/// Bits per coordinate of a prepared query. 4 (RaBitQ's choice) cost 0.5–1.5 points of recall
/// after churn on the man pages; 6 match the float tables within noise.
const QUERY_BITS: usize = 6;

/// Bytes of the two f16 factors stored after each code's bit-planes.
const FACTOR_BYTES: usize = 4;

/// Bytes of the serialized header: dim, dims, bits, PCA flag (u32 each), seed (u64).
const HEADER_BYTES: usize = 24;

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

/// A node's position in code space (see [`Quantizer::decode`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    y: Vec<f32>,
    c: f32,
}

/// A query prepared for fast estimates against many codes: its code-space coordinates quantized to
/// [`QUERY_BITS`] bits, stored as bit-planes so that `⟨u, q⟩` is a few AND + POPCNT per 64
/// coordinates instead of a table lookup per byte.
#[derive(Debug, Clone)]
pub struct QueryLut {
    /// Bit-planes of the quantized query, `dims / 64` (rounded up) u64 each.
    planes: Vec<u64>,
    /// Quantization step and floor: `q_y ≈ lo + delta · level`.
    delta: f32,
    lo: f32,
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
        code_bytes(self.params)
    }

    fn project(&self, v: &[f32], centre: bool) -> Vec<f32> {
        // One SIMD dot per row: this matrix-vector product is most of a query's fixed cost.
        let centred: Vec<f32> =
            if centre { v.iter().zip(&self.mean).map(|(x, m)| x - m).collect() } else { v.to_vec() };
        self.basis.chunks_exact(self.dim).map(|row| crate::distance::dot(row, &centred)).collect()
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
        let words = self.params.dims.div_ceil(64);
        let lo = qy.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = qy.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let top = ((1u32 << QUERY_BITS) - 1) as f32;
        let delta = if hi > lo { (hi - lo) / top } else { 1.0 };
        let mut planes = vec![0u64; QUERY_BITS * words];
        for (i, &x) in qy.iter().enumerate() {
            let level = ((x - lo) / delta).round().clamp(0.0, top) as u32;
            for j in 0..QUERY_BITS {
                if level >> j & 1 == 1 {
                    planes[j * words + i / 64] |= 1 << (i % 64);
                }
            }
        }
        let levels = ((1u32 << self.params.bits) - 1) as f32;
        let offset = levels / 2.0 * qy.iter().sum::<f32>();
        let constant = q.iter().zip(&self.mean).map(|(x, m)| x * m).sum::<f32>() - self.mean_sq;
        Ok(QueryLut { planes, delta, lo, offset, constant })
    }

    /// Estimated inner product of the prepared query with one code (length [`Quantizer::code_bytes`]).
    #[inline]
    pub fn estimate(&self, lut: &QueryLut, code: &[u8]) -> f32 {
        let plane_bytes = self.params.dims / 8;
        let bits = usize::from(self.params.bits);
        let mut dot = 0f32;
        for (p, plane) in code.chunks_exact(plane_bytes).take(bits).enumerate() {
            let (weighted, ones) = crate::distance::bit_dot(plane, &lut.planes);
            dot += (lut.delta * weighted as f32 + lut.lo * ones as f32) * (1u32 << p) as f32;
        }
        let f = &code[plane_bytes * bits..];
        let a = f16::from_le_bytes([f[0], f[1]]).to_f32();
        let c = f16::from_le_bytes([f[2], f[3]]).to_f32();
        a * (dot - lut.offset) + c + lut.constant
    }

    /// A node's position in code space, reconstructed from its code: `y ≈ B(x − μ)` scaled by the
    /// unbiasing factor, and `c = ⟨x, μ⟩`. Used to compare two stored nodes (graph updates), where
    /// neither has a full vector.
    pub fn decode(&self, code: &[u8]) -> Decoded {
        let plane_bytes = self.params.dims / 8;
        let bits = usize::from(self.params.bits);
        let half = ((1u32 << bits) - 1) as f32 / 2.0;
        let f = code.get(plane_bytes * bits..plane_bytes * bits + FACTOR_BYTES).unwrap_or(&[0; 4]);
        let a = f16::from_le_bytes([f[0], f[1]]).to_f32();
        let c = f16::from_le_bytes([f[2], f[3]]).to_f32();
        let y = (0..self.params.dims)
            .map(|i| {
                let u: u32 = (0..bits)
                    .map(|p| {
                        let byte = code.get(p * plane_bytes + i / 8).copied().unwrap_or(0);
                        u32::from(byte >> (i % 8) & 1) << p
                    })
                    .sum();
                a * (u as f32 - half)
            })
            .collect();
        Decoded { y, c }
    }

    /// The exact position of vector `v` in code space (a new passage whose vector is at hand).
    pub fn position(&self, v: &[f32]) -> Result<Decoded> {
        if v.len() != self.dim {
            return Err(Error::DimensionMismatch { expected: self.dim, found: v.len() });
        }
        let c = v.iter().zip(&self.mean).map(|(x, m)| x * m).sum();
        Ok(Decoded { y: self.project(v, true), c })
    }

    /// Estimated inner product of two positions: `⟨x_a, x_b⟩ = ⟨y_a, y_b⟩ + c_a + c_b − ‖μ‖²`.
    pub fn similarity(&self, a: &Decoded, b: &Decoded) -> f32 {
        crate::distance::dot(&a.y, &b.y) + a.c + b.c - self.mean_sq
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
    ///
    /// Rebuilding the rotation costs O(dims³): callers that can check the shape against something
    /// else first (an index checks its meta and codes) should call [`Quantizer::shape`] before this.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let shape = Quantizer::shape(bytes)?;
        let (dim, dims) = (shape.dim, shape.params.dims);
        let body = &bytes[HEADER_BYTES..];
        let (mean_bytes, pca_bytes) = body.split_at(dim * 4);
        let mean: Vec<f32> =
            mean_bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let pca: Vec<f32> =
            pca_bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect();
        debug_assert_eq!(pca.len(), if dims < dim { dims * dim } else { 0 });
        // Training never writes NaN or infinity (it refuses non-finite vectors); a file that holds them
        // would turn every estimate into NaN.
        let mean_sq: f32 = mean.iter().map(|m| m * m).sum();
        if !mean_sq.is_finite() || pca.iter().any(|p| !p.is_finite()) {
            return Err(Error::Corrupt("quantizer: non-finite centre or basis".into()));
        }
        Ok(Self::assemble(dim, shape.params, mean, pca))
    }

    /// Read and check only the header of [`Quantizer::to_bytes`] output: the dimensions, code shape
    /// and total size, without building anything (microseconds, no allocation). Every size a later
    /// [`Quantizer::from_bytes`] relies on is checked here.
    pub fn shape(bytes: &[u8]) -> Result<QuantShape> {
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
        // Both factors are bounded by check_params, so this cannot overflow.
        let pca_len = if has_pca == 1 { dims * dim } else { 0 };
        if bytes.len() - HEADER_BYTES != dim * 4 + pca_len * 2 {
            return Err(corrupt("size does not match dimensions"));
        }
        Ok(QuantShape { dim, params })
    }
}

/// What [`Quantizer::shape`] reads from a serialized quantizer's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantShape {
    /// The input (embedding) dimension.
    pub dim: usize,
    /// The code shape.
    pub params: QuantParams,
}

impl QuantShape {
    /// Bytes per encoded vector, as [`Quantizer::code_bytes`] of the quantizer it describes.
    pub fn code_bytes(&self) -> usize {
        code_bytes(self.params)
    }
}

fn code_bytes(p: QuantParams) -> usize {
    p.dims / 8 * usize::from(p.bits) + FACTOR_BYTES
}

/// Largest embedding dimension an index accepts (the centre costs 4 bytes per dimension).
pub const MAX_DIM: usize = 4096;

/// Largest number of code dimensions. The rotation is rebuilt from its seed at every open in
/// O(dims³) time and 8·dims² bytes: 0.17 s and 8 MiB at 1,024 on one core of our x86 dev VM,
/// but about 8 times that at 2,048 and 64 times at 4,096, which a crafted file could otherwise
/// demand. Wider models need a PCA to at most this many dimensions (`IndexConfig::code_dims`).
pub const MAX_CODE_DIMS: usize = 1024;

fn check_params(dim: usize, p: QuantParams) -> Result<()> {
    if !(1..=4).contains(&p.bits) {
        return Err(Error::InvalidArgument(format!("code bits must be 1 to 4, got {}", p.bits)));
    }
    if dim == 0 || dim > MAX_DIM {
        return Err(Error::InvalidArgument(format!("dimension must be 1 to {MAX_DIM}, got {dim}")));
    }
    if p.dims == 0 || !p.dims.is_multiple_of(8) || p.dims > dim.min(MAX_CODE_DIMS) {
        return Err(Error::InvalidArgument(format!(
            "code dimensions must be a positive multiple of 8 and at most {}, got {}",
            dim.min(MAX_CODE_DIMS),
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
