//! The built-in encoder: a BERT-family transformer (post-norm layers, exact GELU) run on
//! `matrixmultiply`, no tract. Its weights come from a Hugging Face ONNX export, found by the bias
//! each matrix product feeds, so the model file and the model id stay the same as with tract; or
//! from a `model.safetensors` checkpoint (bert_safetensors.rs).

use std::collections::{HashMap, HashSet};

use prost::Message;

use super::onnx_pb::{self, Tensor};

#[path = "bert_safetensors.rs"]
mod safetensors_weights;
pub(super) use safetensors_weights::Config;

/// LayerNorm epsilon of BERT-family models (the exports inline it as a constant).
const NORM_EPS: f32 = 1e-12;

struct Linear {
    /// `inputs × outputs`, row-major: `y = x · w + b`.
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Norm {
    gain: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

/// Weights of one BERT-family encoder.
pub(super) struct Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    dim: usize,
    heads: usize,
    /// LayerNorm epsilon (config.json's `layer_norm_eps` for safetensors checkpoints).
    eps: f32,
}

impl std::fmt::Debug for Bert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bert")
            .field("dim", &self.dim)
            .field("heads", &self.heads)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

/// Why a model cannot run here: the file is unreadable, or it is not an f32 BERT-family export.
#[derive(Debug)]
pub(super) enum LoadError {
    Unreadable(String),
    Unsupported(String),
}

impl Bert {
    /// Read the weights from ONNX bytes and check every shape against the hidden width.
    pub(super) fn from_onnx(bytes: &[u8]) -> Result<Self, LoadError> {
        let model = onnx_pb::Model::decode(bytes)
            .map_err(|e| LoadError::Unreadable(format!("not a readable ONNX model ({e})")))?;
        let graph = model.graph.ok_or_else(|| LoadError::Unreadable("the model has no graph".into()))?;

        // Which initializer each matrix product multiplies by, keyed by the bias added next.
        let mut consumers: HashMap<&str, Vec<&onnx_pb::Node>> = HashMap::new();
        for n in &graph.node {
            for i in &n.input {
                consumers.entry(i.as_str()).or_default().push(n);
            }
        }
        let names: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let head_dim =
            head_dim(&graph, &names).ok_or_else(|| unsupported("no attention scale found".into()))?;
        let mut weight_of_bias: HashMap<String, String> = HashMap::new();
        for n in graph.node.iter().filter(|n| n.op_type == "MatMul" && n.input.len() == 2) {
            let (Some(w), Some(out)) = (n.input.get(1), n.output.first()) else { continue };
            if !names.contains(w.as_str()) {
                continue;
            }
            for add in consumers.get(out.as_str()).into_iter().flatten().filter(|c| c.op_type == "Add") {
                if let Some(bias) =
                    add.input.iter().find(|i| i.ends_with(".bias") && names.contains(i.as_str()))
                {
                    weight_of_bias.insert(bias.clone(), w.clone());
                }
            }
        }
        let mut tensors: HashMap<String, Tensor> =
            graph.initializer.into_iter().map(|t| (t.name.clone(), t)).collect();
        let prefix = tensors
            .keys()
            .find_map(|k| k.strip_suffix("embeddings.word_embeddings.weight"))
            .map(str::to_owned)
            .ok_or_else(|| unsupported("no embeddings.word_embeddings.weight".into()))?;

        let t = &mut tensors;
        let (word_shape, word) = take(t, &format!("{prefix}embeddings.word_embeddings.weight"))?;
        let [_, dim] = word_shape[..] else { return Err(unsupported("word embeddings are not 2-D".into())) };
        if dim == 0 || head_dim == 0 || dim % head_dim != 0 {
            return Err(unsupported(format!("width {dim} is not a multiple of the head width {head_dim}")));
        }
        let (pos_shape, position) = take(t, &format!("{prefix}embeddings.position_embeddings.weight"))?;
        let (type_shape, token_type) = take(t, &format!("{prefix}embeddings.token_type_embeddings.weight"))?;
        if pos_shape.get(1) != Some(&dim) || type_shape.get(1) != Some(&dim) || type_shape[0] == 0 {
            return Err(unsupported("position or token-type embeddings do not match the width".into()));
        }
        let embed_norm = norm(t, &format!("{prefix}embeddings.LayerNorm"), dim)?;
        let mut layers = Vec::new();
        loop {
            let e = format!("{prefix}encoder.layer.{}", layers.len());
            if !weight_of_bias.contains_key(&format!("{e}.attention.self.query.bias")) {
                break;
            }
            let hidden = weight_of_bias
                .get(&format!("{e}.intermediate.dense.bias"))
                .and_then(|w| t.get(w))
                .and_then(|w| w.dims.get(1))
                .and_then(|&h| usize::try_from(h).ok())
                .ok_or_else(|| unsupported(format!("no {e}.intermediate.dense")))?;
            let mut linear = |name: &str, inputs: usize, outputs: usize| {
                linear_named(t, &weight_of_bias, &format!("{e}.{name}"), inputs, outputs)
            };
            let query = linear("attention.self.query", dim, dim)?;
            let key = linear("attention.self.key", dim, dim)?;
            let value = linear("attention.self.value", dim, dim)?;
            let attn_out = linear("attention.output.dense", dim, dim)?;
            let up = linear("intermediate.dense", dim, hidden)?;
            let down = linear("output.dense", hidden, dim)?;
            let attn_norm = norm(t, &format!("{e}.attention.output.LayerNorm"), dim)?;
            let out_norm = norm(t, &format!("{e}.output.LayerNorm"), dim)?;
            layers.push(Layer { query, key, value, attn_out, attn_norm, up, down, out_norm });
        }
        if layers.is_empty() {
            return Err(unsupported("no encoder layers".into()));
        }
        Ok(Bert { word, position, token_type, embed_norm, layers, dim, heads: dim / head_dim, eps: NORM_EPS })
    }

    /// Hidden width.
    pub(super) fn dim(&self) -> usize {
        self.dim
    }

    /// Longest sequence the position table covers.
    pub(super) fn max_positions(&self) -> usize {
        self.position.len() / self.dim
    }

    /// Token embeddings `[ids.len(), dim]` of one unpadded sequence; `None` for an id outside the
    /// vocabulary or a sequence longer than the position table.
    pub(super) fn token_embeddings(&self, ids: &[u32], type_ids: &[u32]) -> Option<Vec<f32>> {
        let (s, d) = (ids.len(), self.dim);
        if s > self.max_positions() {
            return None;
        }
        let types = self.token_type.len() / d;
        let mut x = vec![0f32; s * d];
        for (t, row) in x.chunks_exact_mut(d).enumerate() {
            let id = usize::try_from(ids[t]).ok()?;
            let ty = type_ids.get(t).map_or(0, |&v| v as usize).min(types - 1);
            let w = self.word.get(id * d..(id + 1) * d)?;
            let p = &self.position[t * d..(t + 1) * d];
            let y = &self.token_type[ty * d..(ty + 1) * d];
            for (i, v) in row.iter_mut().enumerate() {
                *v = w[i] + p[i] + y[i];
            }
        }
        layer_norm(&mut x, &self.embed_norm, self.eps);
        for layer in &self.layers {
            self.layer(&mut x, s, layer);
        }
        Some(x)
    }

    fn layer(&self, x: &mut [f32], s: usize, l: &Layer) {
        let (d, h) = (self.dim, self.heads);
        let hd = d / h;
        let (q, k, v) = (linear(x, s, &l.query), linear(x, s, &l.key), linear(x, s, &l.value));
        let scale = 1.0 / (hd as f32).sqrt();
        let mut ctx = vec![0f32; s * d];
        let mut scores = vec![0f32; s * s];
        let (mut qh, mut kh, mut vh, mut ch) =
            (vec![0f32; s * hd], vec![0f32; s * hd], vec![0f32; s * hd], vec![0f32; s * hd]);
        for head in 0..h {
            let cols = head * hd..(head + 1) * hd;
            for t in 0..s {
                let src = t * d + cols.start..t * d + cols.end;
                qh[t * hd..(t + 1) * hd].copy_from_slice(&q[src.clone()]);
                kh[t * hd..(t + 1) * hd].copy_from_slice(&k[src.clone()]);
                vh[t * hd..(t + 1) * hd].copy_from_slice(&v[src]);
            }
            matmul(s, hd, s, &qh, &kh, true, &mut scores);
            for row in scores.chunks_exact_mut(s) {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x * scale));
                let mut sum = 0f32;
                for x in row.iter_mut() {
                    *x = (*x * scale - max).exp();
                    sum += *x;
                }
                row.iter_mut().for_each(|x| *x /= sum);
            }
            matmul(s, s, hd, &scores, &vh, false, &mut ch);
            for t in 0..s {
                ctx[t * d + cols.start..t * d + cols.end].copy_from_slice(&ch[t * hd..(t + 1) * hd]);
            }
        }
        let attn = linear(&ctx, s, &l.attn_out);
        x.iter_mut().zip(&attn).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.attn_norm, self.eps);
        let mut up = linear(x, s, &l.up);
        up.iter_mut().for_each(|v| *v = gelu(*v));
        let down = linear(&up, s, &l.down);
        x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.out_norm, self.eps);
    }
}

fn unsupported(m: String) -> LoadError {
    LoadError::Unsupported(format!("built-in encoder: {m}"))
}

/// Remove tensor `name` and return its shape and values.
fn take(tensors: &mut HashMap<String, Tensor>, name: &str) -> Result<(Vec<usize>, Vec<f32>), LoadError> {
    let t = tensors.remove(name).ok_or_else(|| unsupported(format!("no tensor {name}")))?;
    floats(t).map_err(|m| unsupported(format!("{name}: {m}")))
}

fn norm(tensors: &mut HashMap<String, Tensor>, name: &str, dim: usize) -> Result<Norm, LoadError> {
    let (_, gain) = take(tensors, &format!("{name}.weight"))?;
    let (_, bias) = take(tensors, &format!("{name}.bias"))?;
    if gain.len() != dim || bias.len() != dim {
        return Err(unsupported(format!("{name} is not {dim} wide")));
    }
    Ok(Norm { gain, bias })
}

/// The matrix product + bias `name`: the weight is whichever initializer feeds `name.bias`'s Add.
fn linear_named(
    tensors: &mut HashMap<String, Tensor>,
    weight_of_bias: &HashMap<String, String>,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Linear, LoadError> {
    let bias_name = format!("{name}.bias");
    let w_name = weight_of_bias
        .get(&bias_name)
        .ok_or_else(|| unsupported(format!("no matrix product feeds {bias_name}")))?;
    let (w_shape, w) = take(tensors, w_name)?;
    let (_, b) = take(tensors, &bias_name)?;
    if w_shape != [inputs, outputs] || b.len() != outputs {
        return Err(unsupported(format!("{name} is {w_shape:?}, expected [{inputs}, {outputs}]")));
    }
    Ok(Linear { w, b, inputs, outputs })
}

/// The attention scale's head width: the constant that divides (or multiplies) the product of
/// queries and keys, a matrix product with no weight input.
fn head_dim(graph: &onnx_pb::Graph, weights: &HashSet<&str>) -> Option<usize> {
    let scalar = |name: &str| -> Option<f32> {
        let t = graph
            .node
            .iter()
            .find(|n| n.op_type == "Constant" && n.output.iter().any(|o| o == name))
            .and_then(|n| n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.clone()));
        let t = t.or_else(|| graph.initializer.iter().find(|t| t.name == name).cloned())?;
        let v = floats(t).ok()?.1;
        (v.len() == 1).then(|| v[0])
    };
    let scores: HashSet<&str> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "MatMul" && n.input.iter().all(|i| !weights.contains(i.as_str())))
        .filter_map(|n| n.output.first().map(String::as_str))
        .collect();
    graph.node.iter().filter(|n| n.input.len() == 2 && scores.contains(n.input[0].as_str())).find_map(|n| {
        let c = scalar(&n.input[1])?;
        let hd = match n.op_type.as_str() {
            "Div" => c * c,
            "Mul" if c > 0.0 => 1.0 / (c * c),
            _ => return None,
        };
        (hd >= 1.0 && (hd - hd.round()).abs() < 1e-3).then(|| hd.round() as usize)
    })
}

/// A float tensor's shape and values.
fn floats(t: Tensor) -> Result<(Vec<usize>, Vec<f32>), String> {
    if t.data_type != onnx_pb::FLOAT {
        return Err(format!("element type {} is not f32 (quantized models need tract)", t.data_type));
    }
    if t.data_location == onnx_pb::EXTERNAL {
        return Err("weights in an external file are not supported".into());
    }
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| "negative dimension".to_string()))
        .collect::<Result<_, _>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    let values: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data
    } else {
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    if values.len() != count {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    Ok((shape, values))
}

fn linear(x: &[f32], rows: usize, l: &Linear) -> Vec<f32> {
    let mut y = vec![0f32; rows * l.outputs];
    matmul(rows, l.inputs, l.outputs, x, &l.w, false, &mut y);
    y.chunks_exact_mut(l.outputs).for_each(|r| r.iter_mut().zip(&l.b).for_each(|(v, b)| *v += b));
    y
}

/// `c = a · b` (`a`: m × k; `b`: k × n, or n × k when `b_transposed`), all row-major.
fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], b_transposed: bool, c: &mut [f32]) {
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

/// Exact GELU, `x Φ(x) = x (1 + erf(x/√2)) / 2`.
fn gelu(x: f32) -> f32 {
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
    fn garbage_is_unreadable_not_a_panic() {
        for bytes in [&b""[..], b"\x08\x01", b"\xff\xff\xff\xff", b"this is not a protobuf"] {
            assert!(Bert::from_onnx(bytes).is_err());
        }
    }
}
