//! The built-in encoder's weights from a Hugging Face `model.safetensors` BERT checkpoint and its
//! optional `config.json`: tensors found by name, every shape checked against the hidden width.

use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use super::super::ops::Norm;
use super::{unsupported, Bert, Layer, Linear, LoadError, Matrix, Table, NORM_EPS};

/// What checkpoints put before `embeddings.`: `BertModel`, the `BertFor*` heads, and
/// sentence-transformers' module 0.
const PREFIXES: [&str; 3] = ["", "bert.", "0.auto_model."];

/// Largest JSON header accepted (the crate's own cap is 100 MB; BERT-base's header is ~15 kB).
const MAX_HEADER: u64 = 16 << 20;

/// Head width assumed when no config.json gives the number of heads (every MiniLM and BERT size;
/// narrower models get one head).
const DEFAULT_HEAD_DIM: usize = 64;

/// The config.json fields that change the computation; the others are ignored.
#[derive(Debug, Default, Deserialize)]
pub(in crate::embed) struct Config {
    model_type: Option<String>,
    hidden_size: Option<usize>,
    num_attention_heads: Option<usize>,
    layer_norm_eps: Option<f64>,
    hidden_act: Option<String>,
    position_embedding_type: Option<String>,
}

impl Config {
    pub(in crate::embed) fn parse(bytes: &[u8]) -> Result<Self, LoadError> {
        serde_json::from_slice(bytes).map_err(|e| LoadError::Unreadable(format!("config.json: {e}")))
    }

    /// Refuse what the built-in encoder would compute wrongly (RoBERTa's shifted positions, other
    /// activations, relative position embeddings).
    fn check(&self) -> Result<(), LoadError> {
        let fields = [
            ("model_type", &self.model_type, "bert"),
            ("hidden_act", &self.hidden_act, "gelu"),
            ("position_embedding_type", &self.position_embedding_type, "absolute"),
        ];
        for (field, value, wanted) in fields {
            if let Some(v) = value.as_deref().filter(|v| *v != wanted) {
                return Err(unsupported(format!("config.json {field} {v:?} (only {wanted:?})")));
            }
        }
        Ok(())
    }
}

impl Bert {
    /// Read a BERT checkpoint's weights, check every shape, and take heads and LayerNorm epsilon
    /// from `config` (else `hidden / 64` heads and epsilon 1e-12).
    pub(in crate::embed) fn from_safetensors(bytes: &[u8], config: &Config) -> Result<Self, LoadError> {
        config.check()?;
        check_header(bytes)?;
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| LoadError::Unreadable(format!("not a readable safetensors file ({e})")))?;
        let prefix = PREFIXES
            .iter()
            .find(|p| st.tensor(&format!("{p}embeddings.word_embeddings.weight")).is_ok())
            .ok_or_else(|| unsupported("no embeddings.word_embeddings.weight".into()))?;
        let name = |n: &str| format!("{prefix}{n}");

        let (word_shape, word) = tensor(&st, &name("embeddings.word_embeddings.weight"))?;
        let [vocab, dim] = word_shape[..] else {
            return Err(unsupported("word embeddings are not 2-D".into()));
        };
        if vocab == 0 || dim == 0 || config.hidden_size.is_some_and(|h| h != dim) {
            return Err(unsupported(format!("word embeddings are {word_shape:?}, hidden size {dim}")));
        }
        let heads = config.num_attention_heads.unwrap_or((dim / DEFAULT_HEAD_DIM).max(1));
        if heads == 0 || dim % heads != 0 {
            return Err(unsupported(format!("width {dim} does not split into {heads} heads")));
        }
        let eps = config.layer_norm_eps.map_or(NORM_EPS, |e| e as f32);
        if !(eps.is_finite() && eps > 0.0) {
            return Err(unsupported(format!("LayerNorm epsilon {eps}")));
        }
        let position = matrix(&st, &name("embeddings.position_embeddings.weight"), None, dim)?;
        let token_type = matrix(&st, &name("embeddings.token_type_embeddings.weight"), None, dim)?;
        let embed_norm = norm(&st, &name("embeddings.LayerNorm"), dim)?;
        let mut layers = Vec::new();
        loop {
            let e = name(&format!("encoder.layer.{}", layers.len()));
            if st.tensor(&format!("{e}.attention.self.query.weight")).is_err() {
                break;
            }
            let hidden = st
                .tensor(&format!("{e}.intermediate.dense.weight"))
                .ok()
                .and_then(|t| t.shape().first().copied())
                .filter(|&h| h > 0)
                .ok_or_else(|| unsupported(format!("no {e}.intermediate.dense.weight")))?;
            let linear =
                |n: &str, inputs: usize, outputs: usize| linear(&st, &format!("{e}.{n}"), inputs, outputs);
            layers.push(Layer {
                query: linear("attention.self.query", dim, dim)?,
                key: linear("attention.self.key", dim, dim)?,
                value: linear("attention.self.value", dim, dim)?,
                attn_out: linear("attention.output.dense", dim, dim)?,
                attn_norm: norm(&st, &format!("{e}.attention.output.LayerNorm"), dim)?,
                up: linear("intermediate.dense", dim, hidden)?,
                down: linear("output.dense", hidden, dim)?,
                out_norm: norm(&st, &format!("{e}.output.LayerNorm"), dim)?,
            });
        }
        if layers.is_empty() {
            return Err(unsupported("no encoder layers".into()));
        }
        Ok(Bert { word: Table::F32(word), position, token_type, embed_norm, layers, dim, heads, eps })
    }
}

/// The header length (the first 8 bytes) must fit in the file and under [`MAX_HEADER`].
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    let len = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes);
    let Some(len) = len else {
        return Err(LoadError::Unreadable("shorter than a safetensors header".into()));
    };
    let room = bytes.len() as u64 - 8;
    if len > room || len > MAX_HEADER {
        return Err(LoadError::Unreadable(format!(
            "header of {len} bytes in a file of {} (limit {MAX_HEADER})",
            bytes.len()
        )));
    }
    Ok(())
}

/// A tensor's shape and values as f32 (f16 and bf16 widen exactly).
fn tensor(st: &SafeTensors<'_>, name: &str) -> Result<(Vec<usize>, Vec<f32>), LoadError> {
    let t = st.tensor(name).map_err(|_| unsupported(format!("no tensor {name}")))?;
    let data = t.data();
    let values: Vec<f32> = match t.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => {
            data.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
        }
        other => return Err(unsupported(format!("{name}: element type {other} (f32, f16 or bf16 only)"))),
    };
    let count = t.shape().iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(values.len()) {
        return Err(LoadError::Unreadable(format!(
            "{name}: {} values for shape {:?}",
            values.len(),
            t.shape()
        )));
    }
    Ok((t.shape().to_vec(), values))
}

/// A `[rows, cols]` tensor, `rows` any positive number when `None`.
fn matrix(st: &SafeTensors<'_>, name: &str, rows: Option<usize>, cols: usize) -> Result<Vec<f32>, LoadError> {
    let (shape, values) = tensor(st, name)?;
    match shape[..] {
        [r, c] if r > 0 && c == cols && rows.is_none_or(|want| want == r) => Ok(values),
        _ => Err(unsupported(format!(
            "{name} is {shape:?}, expected [{}, {cols}]",
            rows.map_or("n".into(), |r| r.to_string())
        ))),
    }
}

fn norm(st: &SafeTensors<'_>, name: &str, dim: usize) -> Result<Norm, LoadError> {
    let vector = |part: &str| {
        let n = format!("{name}.{part}");
        let (shape, v) = tensor(st, &n)?;
        if shape != [dim] {
            return Err(unsupported(format!("{n} is {shape:?}, expected [{dim}]")));
        }
        Ok(v)
    };
    Ok(Norm { gain: vector("weight")?, bias: vector("bias")? })
}

/// `name.weight` is PyTorch's `[outputs, inputs]`: transposed here to the `x · w` layout.
fn linear(st: &SafeTensors<'_>, name: &str, inputs: usize, outputs: usize) -> Result<Linear, LoadError> {
    let w = matrix(st, &format!("{name}.weight"), Some(outputs), inputs)?;
    let (b_shape, b) = tensor(st, &format!("{name}.bias"))?;
    if b_shape != [outputs] {
        return Err(unsupported(format!("{name}.bias is {b_shape:?}, expected [{outputs}]")));
    }
    let mut t = vec![0f32; w.len()];
    for (o, row) in w.chunks_exact(inputs).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            t[i * outputs + o] = v;
        }
    }
    Ok(Linear { w: Matrix::F32(t), b, inputs, outputs })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file from `(name, shape, values)`, f32.
    fn file(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut data = Vec::new();
        for (name, shape, values) in tensors {
            let start = data.len();
            values.iter().for_each(|v| data.extend_from_slice(&v.to_le_bytes()));
            header.insert(
                (*name).into(),
                serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
            );
        }
        let header = serde_json::to_vec(&header).unwrap();
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&header);
        out.extend_from_slice(&data);
        out
    }

    /// A one-layer BERT of width `d`, intermediate `h`, with `prefix` before every name.
    fn tiny(prefix: &str, d: usize, h: usize) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let mut t = Vec::new();
        let mut add = |n: &str, shape: Vec<usize>| {
            let len = shape.iter().product::<usize>();
            t.push((format!("{prefix}{n}"), shape, (0..len).map(|i| (i % 7) as f32 * 0.01).collect()));
        };
        add("embeddings.word_embeddings.weight", vec![10, d]);
        add("embeddings.position_embeddings.weight", vec![16, d]);
        add("embeddings.token_type_embeddings.weight", vec![2, d]);
        for p in [
            "embeddings.LayerNorm",
            "encoder.layer.0.attention.output.LayerNorm",
            "encoder.layer.0.output.LayerNorm",
        ] {
            add(&format!("{p}.weight"), vec![d]);
            add(&format!("{p}.bias"), vec![d]);
        }
        for (n, o, i) in [
            ("attention.self.query", d, d),
            ("attention.self.key", d, d),
            ("attention.self.value", d, d),
            ("attention.output.dense", d, d),
            ("intermediate.dense", h, d),
            ("output.dense", d, h),
        ] {
            add(&format!("encoder.layer.0.{n}.weight"), vec![o, i]);
            add(&format!("encoder.layer.0.{n}.bias"), vec![o]);
        }
        t
    }

    fn bytes(t: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let refs: Vec<(&str, Vec<usize>, Vec<f32>)> =
            t.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
        file(&refs)
    }

    #[test]
    fn loads_with_any_known_prefix_and_runs() {
        for prefix in PREFIXES {
            let bert = Bert::from_safetensors(&bytes(&tiny(prefix, 8, 12)), &Config::default()).unwrap();
            assert_eq!((bert.dim(), bert.max_positions(), bert.heads, bert.layers.len()), (8, 16, 1, 1));
            let x = bert.token_embeddings(&[1, 2, 3], &[0, 0, 0]).unwrap();
            assert!(x.len() == 24 && x.iter().all(|v| v.is_finite()));
            assert!(bert.token_embeddings(&[10], &[0]).is_none(), "id outside the vocabulary");
        }
    }

    #[test]
    fn config_sets_heads_and_epsilon() {
        let config =
            Config::parse(br#"{"num_attention_heads": 4, "layer_norm_eps": 1e-6, "vocab_size": 10}"#)
                .unwrap();
        let bert = Bert::from_safetensors(&bytes(&tiny("", 8, 12)), &config).unwrap();
        assert_eq!((bert.heads, bert.eps), (4, 1e-6));
        for bad in
            [r#"{"num_attention_heads": 3}"#, r#"{"hidden_act": "relu"}"#, r#"{"model_type": "roberta"}"#]
        {
            let config = Config::parse(bad.as_bytes()).unwrap();
            let err = Bert::from_safetensors(&bytes(&tiny("", 8, 12)), &config).unwrap_err();
            assert!(matches!(err, LoadError::Unsupported(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn wrong_shapes_and_names_are_unsupported() {
        let mut t = tiny("", 8, 12);
        let q = t.iter_mut().find(|(n, ..)| n == "encoder.layer.0.attention.self.key.weight").unwrap();
        *q = (q.0.clone(), vec![4, 16], q.2.clone());
        let err = Bert::from_safetensors(&bytes(&t), &Config::default()).unwrap_err();
        assert!(matches!(err, LoadError::Unsupported(_)), "{err:?}");
        let err = Bert::from_safetensors(&bytes(&tiny("roberta.", 8, 12)), &Config::default()).unwrap_err();
        assert!(matches!(err, LoadError::Unsupported(_)), "{err:?}");
        let mut t = tiny("", 8, 12);
        t.retain(|(n, ..)| n != "encoder.layer.0.output.dense.bias");
        assert!(matches!(
            Bert::from_safetensors(&bytes(&t), &Config::default()),
            Err(LoadError::Unsupported(_))
        ));
    }

    #[test]
    fn damaged_files_are_unreadable_not_a_panic() {
        let good = bytes(&tiny("", 8, 12));
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let mut past_end = good.clone();
        past_end[..8].copy_from_slice(&(good.len() as u64).to_le_bytes());
        for (what, b) in [
            ("empty", Vec::new()),
            ("short", vec![1, 2, 3]),
            ("huge header", huge),
            ("header past the end", past_end),
            ("truncated", good[..good.len() - 5].to_vec()),
            ("not json", [&8u64.to_le_bytes()[..], b"notjson!"].concat()),
        ] {
            let err = Bert::from_safetensors(&b, &Config::default()).unwrap_err();
            assert!(matches!(err, LoadError::Unreadable(_)), "{what}: {err:?}");
        }
    }
}
