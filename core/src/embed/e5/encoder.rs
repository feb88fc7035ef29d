//! The multilingual-e5-small encoder on 4-bit weights: post-LayerNorm BERT (exact GELU, positions
//! from 0, token type 0), the weights left quantized in the file's bytes.
//!
//! Layer norm, GELU and attention repeat bert.rs's (private there, and that file is being changed
//! for the safetensors loader): the difference is that every matrix product here reads 4-bit
//! blocks through `q4::matmul` on int8-quantized activations.

use std::collections::HashMap;

use super::format::{Dtype, Entry, Header, BLOCK, BLOCK_BYTES};
use super::q4::{self, Q4, Q8};

/// A 4-bit matrix: where its blocks lie in the model bytes.
#[derive(Debug, Clone, Copy)]
struct QMat {
    offset: usize,
    len: usize,
    rows: usize,
    cols: usize,
}

#[derive(Debug)]
struct Norm {
    gain: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    q: (QMat, Vec<f32>),
    k: (QMat, Vec<f32>),
    v: (QMat, Vec<f32>),
    out: (QMat, Vec<f32>),
    attn_norm: Norm,
    up: (QMat, Vec<f32>),
    down: (QMat, Vec<f32>),
    out_norm: Norm,
}

/// The encoder: the whole file's bytes (the 4-bit matrices are read in place) and the small f32
/// tensors copied out of it.
pub(crate) struct Encoder {
    bytes: Vec<u8>,
    h: Header,
    word: QMat,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").field("header", &self.h).finish_non_exhaustive()
    }
}

/// Scratch buffers of one forward pass.
#[derive(Default)]
struct Scratch {
    a: Q8,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    mid: Vec<f32>,
}

impl Encoder {
    /// Build from a parsed file (`parse` checked every entry's bounds, type and size).
    pub(crate) fn new(bytes: Vec<u8>, h: Header, tensors: &HashMap<String, Entry>) -> Self {
        let entry = |name: &str| tensors.get(name).copied().unwrap_or(EMPTY);
        let floats = |name: &str| {
            let e = entry(name);
            bytes[e.offset..e.offset + e.len]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<f32>>()
        };
        let qmat = |name: &str, rows: usize, cols: usize| {
            let e = entry(name);
            QMat { offset: e.offset, len: e.len, rows, cols }
        };
        let norm =
            |name: &str| Norm { gain: floats(&format!("{name}.w")), bias: floats(&format!("{name}.b")) };
        let (d, f) = (h.hidden, h.ffn);
        let layers = (0..h.layers)
            .map(|l| {
                let lin = |n: &str, rows, cols| {
                    (qmat(&format!("l{l}.{n}.w"), rows, cols), floats(&format!("l{l}.{n}.b")))
                };
                Layer {
                    q: lin("q", d, d),
                    k: lin("k", d, d),
                    v: lin("v", d, d),
                    out: lin("ao", d, d),
                    attn_norm: norm(&format!("l{l}.aln")),
                    up: lin("fi", f, d),
                    down: lin("fo", d, f),
                    out_norm: norm(&format!("l{l}.oln")),
                }
            })
            .collect();
        Encoder {
            word: qmat("emb.word", h.vocab, d),
            position: floats("emb.pos"),
            token_type: floats("emb.type"),
            embed_norm: norm("emb.ln"),
            layers,
            h,
            bytes,
        }
    }

    pub(crate) fn dim(&self) -> usize {
        self.h.hidden
    }

    fn mat(&self, m: &QMat) -> Q4<'_> {
        Q4 { data: &self.bytes[m.offset..m.offset + m.len], rows: m.rows, cols: m.cols }
    }

    /// Mean of the last layer's token states over all of `ids` (specials included), not yet
    /// normalized; `None` for an id outside the vocabulary or more ids than positions.
    pub(crate) fn mean_state(&self, ids: &[u32]) -> Option<Vec<f32>> {
        let (s, d) = (ids.len(), self.h.hidden);
        if s == 0 || s > self.h.positions {
            return None;
        }
        let row_bytes = d / BLOCK * BLOCK_BYTES;
        let word = self.mat(&self.word);
        let mut x = vec![0f32; s * d];
        for (t, row) in x.chunks_exact_mut(d).enumerate() {
            let id = ids[t] as usize;
            if id >= self.h.vocab {
                return None;
            }
            q4::dequantize_row(&word.data[id * row_bytes..(id + 1) * row_bytes], d, row);
            let p = &self.position[t * d..(t + 1) * d];
            for ((v, p), y) in row.iter_mut().zip(p).zip(&self.token_type[..d]) {
                *v += p + y;
            }
        }
        layer_norm(&mut x, &self.embed_norm, self.h.eps);
        let mut sc = Scratch::default();
        for l in &self.layers {
            self.layer(&mut x, s, l, &mut sc);
        }
        let mut mean = vec![0f32; d];
        for row in x.chunks_exact(d) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= s as f32);
        Some(mean)
    }

    fn linear(&self, (m, b): &(QMat, Vec<f32>), a: &Q8, out: &mut Vec<f32>, s: usize) {
        out.resize(s * m.rows, 0.0);
        q4::matmul(self.mat(m), b, a, out);
    }

    fn layer(&self, x: &mut [f32], s: usize, l: &Layer, sc: &mut Scratch) {
        let (d, heads) = (self.h.hidden, self.h.heads);
        let hd = d / heads;
        sc.a.quantize(x, s, d);
        let (a, q, k, v) = (&sc.a, &mut sc.q, &mut sc.k, &mut sc.v);
        self.linear(&l.q, a, q, s);
        self.linear(&l.k, a, k, s);
        self.linear(&l.v, a, v, s);
        attention(&sc.q, &sc.k, &sc.v, s, d, hd, &mut sc.ctx);
        sc.a.quantize(&sc.ctx, s, d);
        self.linear(&l.out, &sc.a, &mut sc.tmp, s);
        x.iter_mut().zip(&sc.tmp).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.attn_norm, self.h.eps);
        sc.a.quantize(x, s, d);
        self.linear(&l.up, &sc.a, &mut sc.mid, s);
        sc.mid.iter_mut().for_each(|v| *v = gelu(*v));
        sc.a.quantize(&sc.mid, s, self.h.ffn);
        self.linear(&l.down, &sc.a, &mut sc.tmp, s);
        x.iter_mut().zip(&sc.tmp).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.out_norm, self.h.eps);
    }

    /// Bytes held: the file image plus the f32 copies (for the memory budget's test).
    pub(crate) fn resident_bytes(&self) -> usize {
        let norms = |n: &Norm| (n.gain.len() + n.bias.len()) * 4;
        let mut b = self.bytes.capacity()
            + (self.position.len() + self.token_type.len()) * 4
            + norms(&self.embed_norm);
        for l in &self.layers {
            b += [&l.q, &l.k, &l.v, &l.out, &l.up, &l.down].iter().map(|(_, v)| v.len() * 4).sum::<usize>();
            b += norms(&l.attn_norm) + norms(&l.out_norm);
        }
        b
    }
}

const EMPTY: Entry = Entry { dtype: Dtype::F32, count: 0, offset: 0, len: 0 };

/// Scaled dot-product attention of every head, no mask (one unpadded text).
fn attention(q: &[f32], k: &[f32], v: &[f32], s: usize, d: usize, hd: usize, ctx: &mut Vec<f32>) {
    ctx.resize(s * d, 0.0);
    let scale = 1.0 / (hd as f32).sqrt();
    let mut scores = vec![0f32; s * s];
    let (mut qh, mut kh, mut vh, mut ch) =
        (vec![0f32; s * hd], vec![0f32; s * hd], vec![0f32; s * hd], vec![0f32; s * hd]);
    for head in 0..d / hd {
        let cols = head * hd..(head + 1) * hd;
        for t in 0..s {
            let src = t * d + cols.start..t * d + cols.end;
            qh[t * hd..(t + 1) * hd].copy_from_slice(&q[src.clone()]);
            kh[t * hd..(t + 1) * hd].copy_from_slice(&k[src.clone()]);
            vh[t * hd..(t + 1) * hd].copy_from_slice(&v[src]);
        }
        sgemm(s, hd, s, &qh, &kh, true, &mut scores);
        for row in scores.chunks_exact_mut(s) {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x * scale));
            let mut sum = 0f32;
            for x in row.iter_mut() {
                *x = (*x * scale - max).exp();
                sum += *x;
            }
            row.iter_mut().for_each(|x| *x /= sum);
        }
        sgemm(s, s, hd, &scores, &vh, false, &mut ch);
        for t in 0..s {
            ctx[t * d + cols.start..t * d + cols.end].copy_from_slice(&ch[t * hd..(t + 1) * hd]);
        }
    }
}

/// `c = a · b` (`a`: m × k; `b`: k × n, or n × k when `b_transposed`), all row-major.
fn sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], b_transposed: bool, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul operands too short");
    let (rsb, csb) = if b_transposed { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the assert above keeps every element the strides reach inside the three slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            rsb,
            csb,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

fn layer_norm(x: &mut [f32], n: &Norm, eps: f32) {
    let d = n.gain.len();
    for row in x.chunks_exact_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&n.gain).zip(&n.bias) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// Exact GELU, `x Φ(x)`, with erf as bert.rs computes it (Eigen's rational approximation).
fn gelu(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).clamp(-4.0, 4.0);
    let z2 = z * z;
    let mut p = z2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    for c in [-2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.9546e-3, -1.609_603_3e-2] {
        p = z2 * p + c;
    }
    let mut q = z2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    for c in [-1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        q = z2 * q + c;
    }
    0.5 * x * (1.0 + z * p / q)
}

#[cfg(test)]
mod tests {
    use super::super::format::{parse, tests::Spec};
    use super::*;

    #[test]
    fn runs_a_synthetic_model_and_refuses_bad_ids() {
        let bytes = Spec::default().build(9);
        let file = parse(&bytes).unwrap();
        let enc = Encoder::new(bytes.clone(), file.header, &file.tensors);
        let v = enc.mean_state(&[0, 5, 6, 2]).unwrap();
        assert_eq!(v.len(), 32);
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(enc.mean_state(&[0, 12, 2]).is_none(), "id past the vocabulary");
        assert!(enc.mean_state(&[0; 9]).is_none(), "more ids than positions");
        assert!(enc.mean_state(&[]).is_none());
    }
}
