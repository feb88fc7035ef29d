//! The built-in encoder: a BERT-family transformer (post-norm layers, exact GELU) run on
//! `matrixmultiply` (f32 weights) or `qgemm` (int8 weights), no tract. Its weights come from a
//! Hugging Face ONNX export, found by the bias each matrix product feeds, so the model file and
//! the model id stay the same as with tract; or from a `model.safetensors` checkpoint
//! (bert_safetensors.rs).
//!
//! An int8 export stores each weight as an int8 initializer `q` and an f32 `scale` that the graph
//! multiplies back (`Mul(Cast(q), scale)`). Those stay int8 here: matrix products run on `qgemm`
//! with activations quantized per [`INT8_BLOCK`] values, and the word table keeps int8 rows
//! (dequantized per token), so the resident model stays near the file's size.

use std::collections::{HashMap, HashSet};

use prost::Message;

use super::onnx_pb::{self, Tensor};
use super::ops::{attention, gelu, layer_norm, Norm};
use super::qgemm::{self, Activations, Bits, Kernel, Weights};

#[path = "bert_safetensors.rs"]
mod safetensors_weights;
pub(super) use safetensors_weights::Config;

/// LayerNorm epsilon of BERT-family models (the exports inline it as a constant).
const NORM_EPS: f32 = 1e-12;

/// Activation values per int8 quantization block in an int8 model's matrix products.
const INT8_BLOCK: usize = 16;

/// A matrix product's weights.
enum Matrix {
    /// `inputs × outputs`, row-major: `y = x · w + b`.
    F32(Vec<f32>),
    /// Packed int8 weights with a scale per output.
    Int8(Weights),
}

struct Linear {
    w: Matrix,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

/// The word-embedding table: f32 rows, or int8 rows with a scale per row.
enum Table {
    F32(Vec<f32>),
    Int8 { q: Vec<i8>, scale: Vec<f32> },
}

impl Table {
    /// Row `id` (of width `d`) into `out`; `None` past the end of the table.
    fn row(&self, id: usize, d: usize, out: &mut [f32]) -> Option<()> {
        match self {
            Table::F32(w) => out.copy_from_slice(w.get(id * d..(id + 1) * d)?),
            Table::Int8 { q, scale } => {
                let (row, s) = (q.get(id * d..(id + 1) * d)?, scale.get(id)?);
                out.iter_mut().zip(row).for_each(|(o, &v)| *o = f32::from(v) * s);
            }
        }
        Some(())
    }
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
    word: Table,
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
        let dequantized = dequantized_weights(&graph);
        let names: HashSet<&str> = graph
            .initializer
            .iter()
            .map(|t| t.name.as_str())
            .chain(dequantized.keys().map(String::as_str))
            .collect();
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
        let mut tensors = Tensors {
            all: graph.initializer.into_iter().map(|t| (t.name.clone(), t)).collect(),
            dequantized,
        };
        let prefix = tensors
            .all
            .keys()
            .chain(tensors.dequantized.keys())
            .find_map(|k| k.strip_suffix("embeddings.word_embeddings.weight"))
            .map(str::to_owned)
            .ok_or_else(|| unsupported("no embeddings.word_embeddings.weight".into()))?;

        let t = &mut tensors;
        let (word_shape, word) = t.table(&format!("{prefix}embeddings.word_embeddings.weight"))?;
        let [_, dim] = word_shape[..] else { return Err(unsupported("word embeddings are not 2-D".into())) };
        if dim == 0 || head_dim == 0 || dim % head_dim != 0 {
            return Err(unsupported(format!("width {dim} is not a multiple of the head width {head_dim}")));
        }
        let (pos_shape, position) = t.take(&format!("{prefix}embeddings.position_embeddings.weight"))?;
        let (type_shape, token_type) = t.take(&format!("{prefix}embeddings.token_type_embeddings.weight"))?;
        if pos_shape.get(1) != Some(&dim) || type_shape.get(1) != Some(&dim) || type_shape[0] == 0 {
            return Err(unsupported("position or token-type embeddings do not match the width".into()));
        }
        let embed_norm = t.norm(&format!("{prefix}embeddings.LayerNorm"), dim)?;
        let mut layers = Vec::new();
        loop {
            let e = format!("{prefix}encoder.layer.{}", layers.len());
            if !weight_of_bias.contains_key(&format!("{e}.attention.self.query.bias")) {
                break;
            }
            let hidden = weight_of_bias
                .get(&format!("{e}.intermediate.dense.bias"))
                .and_then(|w| t.dims(w))
                .and_then(|d| d.get(1).copied())
                .ok_or_else(|| unsupported(format!("no {e}.intermediate.dense")))?;
            let mut linear = |name: &str, inputs: usize, outputs: usize| {
                t.linear(&weight_of_bias, &format!("{e}.{name}"), inputs, outputs)
            };
            let query = linear("attention.self.query", dim, dim)?;
            let key = linear("attention.self.key", dim, dim)?;
            let value = linear("attention.self.value", dim, dim)?;
            let attn_out = linear("attention.output.dense", dim, dim)?;
            let up = linear("intermediate.dense", dim, hidden)?;
            let down = linear("output.dense", hidden, dim)?;
            let attn_norm = t.norm(&format!("{e}.attention.output.LayerNorm"), dim)?;
            let out_norm = t.norm(&format!("{e}.output.LayerNorm"), dim)?;
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
            self.word.row(id, d, row)?;
            let p = &self.position[t * d..(t + 1) * d];
            let y = &self.token_type[ty * d..(ty + 1) * d];
            for (i, v) in row.iter_mut().enumerate() {
                *v += p[i] + y[i];
            }
        }
        layer_norm(&mut x, &self.embed_norm, self.eps);
        for layer in &self.layers {
            self.layer(&mut x, s, layer);
        }
        Some(x)
    }

    fn layer(&self, x: &mut [f32], s: usize, l: &Layer) {
        // Queries, keys and values read the same input: quantized once for all three.
        let mut xq = None;
        let (q, k, v) =
            (linear(x, s, &l.query, &mut xq), linear(x, s, &l.key, &mut xq), linear(x, s, &l.value, &mut xq));
        let mut ctx = Vec::new();
        attention(&q, &k, &v, s, self.dim, self.heads, &mut ctx);
        let attn = linear(&ctx, s, &l.attn_out, &mut None);
        x.iter_mut().zip(&attn).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.attn_norm, self.eps);
        let mut up = linear(x, s, &l.up, &mut None);
        up.iter_mut().for_each(|v| *v = gelu(*v));
        let down = linear(&up, s, &l.down, &mut None);
        x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        layer_norm(x, &l.out_norm, self.eps);
    }
}

fn unsupported(m: String) -> LoadError {
    LoadError::Unsupported(format!("built-in encoder: {m}"))
}

/// An int8 tensor's shape and values, and its scales' shape and values.
type Int8Tensor = (Vec<usize>, Vec<i8>, Vec<usize>, Vec<f32>);

/// An export's initializers, and the int8 weights its graph dequantizes (by the name the graph
/// gives the dequantized value: `(q, scale)` initializer names).
struct Tensors {
    all: HashMap<String, Tensor>,
    dequantized: HashMap<String, (String, String)>,
}

impl Tensors {
    fn remove(&mut self, name: &str) -> Result<Tensor, LoadError> {
        self.all.remove(name).ok_or_else(|| unsupported(format!("no tensor {name}")))
    }

    /// The shape of `name` (an initializer or a dequantized weight).
    fn dims(&self, name: &str) -> Option<Vec<usize>> {
        let q = self.dequantized.get(name).map_or(name, |(q, _)| q.as_str());
        self.all.get(q)?.dims.iter().map(|&d| usize::try_from(d).ok()).collect()
    }

    /// Int8 values and their scales of dequantized weight `name`.
    fn int8(&mut self, name: &str) -> Result<Option<Int8Tensor>, LoadError> {
        let Some((q, scale)) = self.dequantized.get(name).cloned() else { return Ok(None) };
        let (shape, values) = int8s(self.remove(&q)?).map_err(|m| unsupported(format!("{q}: {m}")))?;
        let (scale_shape, scales) =
            floats(self.remove(&scale)?).map_err(|m| unsupported(format!("{scale}: {m}")))?;
        Ok(Some((shape, values, scale_shape, scales)))
    }

    /// Remove tensor `name` and return its shape and f32 values (int8 ones dequantized).
    fn take(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), LoadError> {
        if let Some((shape, q, scale_shape, scale)) = self.int8(name)? {
            let per_row = per_row_scales(name, &shape, &scale_shape, &scale)?;
            let cols = shape.get(1).copied().unwrap_or(1);
            let values =
                q.iter().enumerate().map(|(i, &v)| f32::from(v) * per_row[i / cols.max(1)]).collect();
            return Ok((shape, values));
        }
        let t = self.remove(name)?;
        floats(t).map_err(|m| unsupported(format!("{name}: {m}")))
    }

    /// The word table `name`, kept int8 when the export stores it so.
    fn table(&mut self, name: &str) -> Result<(Vec<usize>, Table), LoadError> {
        if let Some((shape, q, scale_shape, scale)) = self.int8(name)? {
            let scale = per_row_scales(name, &shape, &scale_shape, &scale)?;
            return Ok((shape, Table::Int8 { q, scale }));
        }
        let (shape, w) = self.take(name)?;
        Ok((shape, Table::F32(w)))
    }

    fn norm(&mut self, name: &str, dim: usize) -> Result<Norm, LoadError> {
        let (_, gain) = self.take(&format!("{name}.weight"))?;
        let (_, bias) = self.take(&format!("{name}.bias"))?;
        if gain.len() != dim || bias.len() != dim {
            return Err(unsupported(format!("{name} is not {dim} wide")));
        }
        Ok(Norm { gain, bias })
    }

    /// The matrix product + bias `name`: the weight is whichever initializer (or dequantized int8
    /// weight) feeds `name.bias`'s Add.
    fn linear(
        &mut self,
        weight_of_bias: &HashMap<String, String>,
        name: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<Linear, LoadError> {
        let bias_name = format!("{name}.bias");
        let w_name = weight_of_bias
            .get(&bias_name)
            .ok_or_else(|| unsupported(format!("no matrix product feeds {bias_name}")))?;
        let (_, b) = self.take(&bias_name)?;
        let wrong =
            |shape: &[usize]| unsupported(format!("{name} is {shape:?}, expected [{inputs}, {outputs}]"));
        if b.len() != outputs {
            return Err(wrong(&[inputs, b.len()]));
        }
        if let Some((shape, q, _, scale)) = self.int8(w_name)? {
            if shape != [inputs, outputs] {
                return Err(wrong(&shape));
            }
            // One scale per output (the column of `x · w`), or one for the whole matrix.
            let per_output: Vec<f32> = match scale.len() {
                1 => vec![scale[0]; outputs],
                n if n == outputs => scale,
                n => return Err(unsupported(format!("{name}: {n} scales for {outputs} outputs"))),
            };
            let nb = inputs / INT8_BLOCK;
            if !inputs.is_multiple_of(INT8_BLOCK) {
                return Err(unsupported(format!(
                    "{name}: {inputs} inputs are not a multiple of {INT8_BLOCK}"
                )));
            }
            let scales: Vec<f32> = per_output.iter().flat_map(|&s| std::iter::repeat_n(s, nb)).collect();
            let w =
                Weights::pack(Bits::Eight, outputs, inputs, INT8_BLOCK, |o, k| q[k * outputs + o], &scales)
                    .map_err(|e| unsupported(format!("{name}: {}", e.0)))?;
            return Ok(Linear { w: Matrix::Int8(w), b, inputs, outputs });
        }
        let (w_shape, w) = self.take(w_name)?;
        if w_shape != [inputs, outputs] {
            return Err(wrong(&w_shape));
        }
        Ok(Linear { w: Matrix::F32(w), b, inputs, outputs })
    }
}

/// A scale per row of a 2-D int8 table (`[rows, 1]` scales, or one for the whole table).
fn per_row_scales(
    name: &str,
    shape: &[usize],
    scale_shape: &[usize],
    scale: &[f32],
) -> Result<Vec<f32>, LoadError> {
    let rows = shape.first().copied().unwrap_or(0);
    match (shape.len(), scale.len()) {
        (2, 1) => Ok(vec![scale[0]; rows]),
        (2, n) if n == rows && scale_shape.last() == Some(&1) => Ok(scale.to_vec()),
        _ => Err(unsupported(format!("{name}: scales {scale_shape:?} for an int8 table {shape:?}"))),
    }
}

/// The int8 weights an export dequantizes in its graph: each `Mul` of a `Cast` of an int8
/// initializer by an f32 initializer, keyed by the `Mul`'s output.
fn dequantized_weights(graph: &onnx_pb::Graph) -> HashMap<String, (String, String)> {
    let kind: HashMap<&str, i32> = graph.initializer.iter().map(|t| (t.name.as_str(), t.data_type)).collect();
    let cast_of: HashMap<&str, &str> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Cast" && n.input.len() == 1)
        .filter(|n| kind.get(n.input[0].as_str()) == Some(&onnx_pb::INT8))
        .filter_map(|n| Some((n.output.first()?.as_str(), n.input[0].as_str())))
        .collect();
    let mut out = HashMap::new();
    for n in graph.node.iter().filter(|n| n.op_type == "Mul" && n.input.len() == 2) {
        let Some(y) = n.output.first() else { continue };
        for (a, b) in [(0, 1), (1, 0)] {
            if let (Some(q), Some(&onnx_pb::FLOAT)) =
                (cast_of.get(n.input[a].as_str()), kind.get(n.input[b].as_str()))
            {
                out.insert(y.clone(), ((*q).to_owned(), n.input[b].clone()));
            }
        }
    }
    out
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
    let products: Vec<&onnx_pb::Node> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "MatMul" && n.input.iter().all(|i| !weights.contains(i.as_str())))
        .collect();
    let whole = |hd: f32| (hd >= 1.0 && (hd - hd.round()).abs() < 1e-3).then(|| hd.round() as usize);
    // The product scaled afterwards: `(q · kᵀ) / √hd` or `· (1 / √hd)`.
    let scores: HashSet<&str> =
        products.iter().filter_map(|n| n.output.first().map(String::as_str)).collect();
    let after =
        graph.node.iter().filter(|n| n.input.len() == 2 && scores.contains(n.input[0].as_str())).find_map(
            |n| {
                let c = scalar(&n.input[1])?;
                match n.op_type.as_str() {
                    "Div" => whole(c * c),
                    "Mul" if c > 0.0 => whole(1.0 / (c * c)),
                    _ => None,
                }
            },
        );
    // Or both operands scaled before, by `hd^(-1/4)` each (PyTorch's fused-attention export).
    let scaled_by = |name: &str| -> Option<f32> {
        let n = graph.node.iter().find(|n| n.op_type == "Mul" && n.output.iter().any(|o| o == name))?;
        n.input.iter().find_map(|i| scalar(i))
    };
    after.or_else(|| {
        products.iter().find_map(|n| {
            let (a, b) = (scaled_by(n.input.first()?)?, scaled_by(n.input.get(1)?)?);
            (a > 0.0 && b > 0.0).then(|| whole(1.0 / (a * b * a * b))).flatten()
        })
    })
}

/// A float tensor's shape and values.
fn floats(t: Tensor) -> Result<(Vec<usize>, Vec<f32>), String> {
    if t.data_type != onnx_pb::FLOAT {
        return Err(format!("element type {} is not f32", t.data_type));
    }
    if t.data_location == onnx_pb::EXTERNAL {
        return Err("weights in an external file are not supported".into());
    }
    let shape = shape_of(&t)?;
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

/// An int8 tensor's shape and values.
fn int8s(t: Tensor) -> Result<(Vec<usize>, Vec<i8>), String> {
    if t.data_type != onnx_pb::INT8 {
        return Err(format!("element type {} is not int8", t.data_type));
    }
    if t.data_location == onnx_pb::EXTERNAL {
        return Err("weights in an external file are not supported".into());
    }
    let shape = shape_of(&t)?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    let values: Vec<i8> = if t.raw_data.is_empty() {
        t.int32_data
            .iter()
            .map(|&v| i8::try_from(v).map_err(|_| format!("{v} is not an int8")))
            .collect::<Result<_, _>>()?
    } else {
        t.raw_data.iter().map(|&b| b as i8).collect()
    };
    if values.len() != count {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    Ok((shape, values))
}

fn shape_of(t: &Tensor) -> Result<Vec<usize>, String> {
    t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| "negative dimension".to_string())).collect()
}

/// `x · w + b`. An int8 product quantizes `x` into `xq` on first use and reuses it after, so the
/// products that share an input (every int8 matrix here has the same block size) quantize it once.
fn linear(x: &[f32], rows: usize, l: &Linear, xq: &mut Option<Activations>) -> Vec<f32> {
    let mut y = vec![0f32; rows * l.outputs];
    match &l.w {
        Matrix::F32(w) => {
            matmul(rows, l.inputs, l.outputs, x, w, false, &mut y);
            y.chunks_exact_mut(l.outputs).for_each(|r| r.iter_mut().zip(&l.b).for_each(|(v, b)| *v += b));
        }
        Matrix::Int8(w) => {
            let kernel = Kernel::best();
            let a = xq.get_or_insert_with(|| {
                let mut a = Activations::default();
                a.quantize(x, rows, w, kernel);
                a
            });
            qgemm::matmul(kernel, w, a, &l.b, &mut y);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        for bytes in [&b""[..], b"\x08\x01", b"\xff\xff\xff\xff", b"this is not a protobuf"] {
            assert!(Bert::from_onnx(bytes).is_err());
        }
    }
}
