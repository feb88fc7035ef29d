//! The multilingual-e5-small encoder on 4-bit weights: post-LayerNorm BERT (exact GELU, positions
//! from 0, token type 0), the weights left quantized in the file's bytes.
//!
//! Layer norm, GELU and attention are bert.rs's (`ops`). Every matrix product runs on `qgemm`: a 4-bit block's weights are
//! unpacked once at load to int8 (`q - 8`, exact) with the block's scale kept per output and
//! block, and activations are quantized per 32 values as the reference engine does, so each
//! block's dot product is the reference's integer sum.

use std::collections::HashMap;

use super::super::ops::{attention, gelu, layer_norm, Norm};
use super::super::qgemm::{self, Activations, Bits, Kernel, ShapeError, Weights};
use super::format::{Dtype, Entry, Header, BLOCK, BLOCK_BYTES};
use super::q4;

/// A 4-bit matrix: where its blocks lie in the model bytes.
#[derive(Debug, Clone, Copy)]
struct QMat {
    offset: usize,
    len: usize,
    rows: usize,
    cols: usize,
}

/// A linear layer: packed int8 weights and the f32 bias.
#[derive(Debug)]
struct Linear {
    w: Weights,
    b: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

/// The encoder: the 4-bit word embeddings as stored (a row is dequantized per token), the layers'
/// matrices packed for `qgemm`, and the small f32 tensors.
pub(crate) struct Encoder {
    /// The word-embedding blocks, `vocab` rows of `hidden / 32` blocks.
    word: Vec<u8>,
    h: Header,
    kernel: Kernel,
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
    a: Activations,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    mid: Vec<f32>,
}

impl Encoder {
    /// Build from a parsed file (`parse` checked every entry's bounds, type and size); the file's
    /// bytes are consumed: the word embeddings stay, the rest is packed or copied out.
    pub(crate) fn new(
        mut bytes: Vec<u8>,
        h: Header,
        tensors: &HashMap<String, Entry>,
    ) -> Result<Self, ShapeError> {
        let kernel = Kernel::best();
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
        let pack = |m: QMat| -> Result<Weights, ShapeError> {
            let data = &bytes[m.offset..m.offset + m.len];
            let nb = m.cols / BLOCK;
            if data.len() != m.rows * nb * BLOCK_BYTES {
                return Err(ShapeError(format!("{} bytes for a {} x {} matrix", data.len(), m.rows, m.cols)));
            }
            let scales: Vec<f32> = data.chunks_exact(BLOCK_BYTES).map(q4::scale).collect();
            Weights::pack(Bits::Four, m.rows, m.cols, BLOCK, |o, k| q4::weight(data, nb, o, k), &scales)
        };
        let norm =
            |name: &str| Norm { gain: floats(&format!("{name}.w")), bias: floats(&format!("{name}.b")) };
        let (d, f) = (h.hidden, h.ffn);
        let mut layers = Vec::with_capacity(h.layers);
        for l in 0..h.layers {
            let lin = |n: &str, rows, cols| -> Result<Linear, ShapeError> {
                Ok(Linear {
                    w: pack(qmat(&format!("l{l}.{n}.w"), rows, cols))?,
                    b: floats(&format!("l{l}.{n}.b")),
                })
            };
            layers.push(Layer {
                q: lin("q", d, d)?,
                k: lin("k", d, d)?,
                v: lin("v", d, d)?,
                out: lin("ao", d, d)?,
                attn_norm: norm(&format!("l{l}.aln")),
                up: lin("fi", f, d)?,
                down: lin("fo", d, f)?,
                out_norm: norm(&format!("l{l}.oln")),
            });
        }
        let (position, token_type, embed_norm) = (floats("emb.pos"), floats("emb.type"), norm("emb.ln"));
        // Keep only the word embeddings' bytes (in place: no second copy of the file).
        let word = entry("emb.word");
        if word.len != h.vocab * (d / BLOCK) * BLOCK_BYTES {
            return Err(ShapeError(format!("{} bytes of word embeddings", word.len)));
        }
        bytes.truncate(word.offset + word.len);
        bytes.drain(..word.offset);
        bytes.shrink_to_fit();
        Ok(Encoder { word: bytes, h, kernel, position, token_type, embed_norm, layers })
    }

    pub(crate) fn dim(&self) -> usize {
        self.h.hidden
    }

    /// Mean of the last layer's token states over all of `ids` (specials included), not yet
    /// normalized; `None` for an id outside the vocabulary or more ids than positions.
    pub(crate) fn mean_state(&self, ids: &[u32]) -> Option<Vec<f32>> {
        let (s, d) = (ids.len(), self.h.hidden);
        if s == 0 || s > self.h.positions {
            return None;
        }
        let row_bytes = d / BLOCK * BLOCK_BYTES;
        let mut x = vec![0f32; s * d];
        for (t, row) in x.chunks_exact_mut(d).enumerate() {
            let id = ids[t] as usize;
            if id >= self.h.vocab {
                return None;
            }
            q4::dequantize_row(&self.word[id * row_bytes..(id + 1) * row_bytes], d, row);
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

    fn linear(&self, l: &Linear, a: &Activations, out: &mut Vec<f32>, s: usize) {
        out.resize(s * l.w.rows(), 0.0);
        qgemm::matmul(self.kernel, &l.w, a, &l.b, out);
    }

    fn layer(&self, x: &mut [f32], s: usize, l: &Layer, sc: &mut Scratch) {
        let (d, heads) = (self.h.hidden, self.h.heads);
        sc.a.quantize(x, s, &l.q.w, self.kernel);
        let (a, q, k, v) = (&sc.a, &mut sc.q, &mut sc.k, &mut sc.v);
        self.linear(&l.q, a, q, s);
        self.linear(&l.k, a, k, s);
        self.linear(&l.v, a, v, s);
        attention(&sc.q, &sc.k, &sc.v, s, d, heads, &mut sc.ctx);
        sc.a.quantize(&sc.ctx, s, &l.out.w, self.kernel);
        self.linear(&l.out, &sc.a, &mut sc.tmp, s);
        x.iter_mut().zip(&sc.tmp).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.attn_norm, self.h.eps);
        sc.a.quantize(x, s, &l.up.w, self.kernel);
        self.linear(&l.up, &sc.a, &mut sc.mid, s);
        sc.mid.iter_mut().for_each(|v| *v = gelu(*v));
        sc.a.quantize(&sc.mid, s, &l.down.w, self.kernel);
        self.linear(&l.down, &sc.a, &mut sc.tmp, s);
        x.iter_mut().zip(&sc.tmp).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.out_norm, self.h.eps);
    }

    /// Bytes held: the word embeddings, the packed matrices and the f32 tensors (for the memory
    /// budget's test).
    pub(crate) fn resident_bytes(&self) -> usize {
        let norms = |n: &Norm| (n.gain.len() + n.bias.len()) * 4;
        let mut b = self.word.capacity()
            + (self.position.len() + self.token_type.len()) * 4
            + norms(&self.embed_norm);
        for l in &self.layers {
            b += [&l.q, &l.k, &l.v, &l.out, &l.up, &l.down]
                .iter()
                .map(|l| l.w.heap_bytes() + l.b.len() * 4)
                .sum::<usize>();
            b += norms(&l.attn_norm) + norms(&l.out_norm);
        }
        b
    }
}

const EMPTY: Entry = Entry { dtype: Dtype::F32, count: 0, offset: 0, len: 0 };

#[cfg(test)]
mod tests {
    use super::super::format::{parse, tests::Spec};
    use super::*;

    #[test]
    fn runs_a_synthetic_model_and_refuses_bad_ids() {
        let bytes = Spec::default().build(9);
        let file = parse(&bytes).unwrap();
        let enc = Encoder::new(bytes.clone(), file.header, &file.tensors).unwrap();
        let v = enc.mean_state(&[0, 5, 6, 2]).unwrap();
        assert_eq!(v.len(), 32);
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(enc.mean_state(&[0, 12, 2]).is_none(), "id past the vocabulary");
        assert!(enc.mean_state(&[0; 9]).is_none(), "more ids than positions");
        assert!(enc.mean_state(&[]).is_none());
    }
}
