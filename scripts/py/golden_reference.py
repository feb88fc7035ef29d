"""Golden reference embeddings for Ember, computed with onnxruntime.

Mirrors Ember's embedding semantics: HF `tokenizers` with truncation to
--max-tokens (special tokens included) and no tokenizer padding; each batch
padded by hand (id 0 / mask 0 / type 0) to its longest sequence;
token_type_ids all zero; mean-pool the token-embedding output over
attention_mask == 1; L2-normalize. The reference uses batch size 1 (no padding
at all); as a self-check it also embeds everything as one padded batch and
prints the max abs difference to stderr.

Usage:
  python scripts/py/golden_reference.py --model-dir models/paraphrase-MiniLM-L3-v2 \
      --sentences tests/golden/sentences.txt --max-tokens 128 \
      --out tests/golden/paraphrase-MiniLM-L3-v2.json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def die(msg):
    sys.exit(f"error: {msg}")


class Model:
    """A model dir (model.onnx, tokenizer.json, ember-model.json) ready to embed."""

    def __init__(self, model_dir, max_tokens, threads=0):
        d = Path(model_dir)
        for f in ("model.onnx", "tokenizer.json", "ember-model.json"):
            if not (d / f).is_file():
                die(f"missing {d / f} (run scripts/fetch/fetch-models.sh?)")
        self.manifest = json.loads((d / "ember-model.json").read_text())
        self.max_tokens = max_tokens
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.enable_truncation(max_length=max_tokens)
        self.tok.no_padding()
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.sess = ort.InferenceSession(str(d / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.sess.get_inputs()]
        unknown = set(self.inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            die(f"model has unsupported inputs {sorted(unknown)}")
        self.output = self.manifest.get("token_embeddings_output")
        if not self.output:
            rank3 = [o.name for o in self.sess.get_outputs() if len(o.shape) == 3]
            if len(rank3) != 1:
                die(f"no token_embeddings_output in manifest and {len(rank3)} rank-3 outputs")
            self.output = rank3[0]

    def tokenize(self, texts):
        return [self.tok.encode(t, add_special_tokens=True).ids for t in texts]

    def embed_ids(self, batch, pad_to=None):
        """Embed a batch of token-id lists; pads to the longest (or to pad_to)."""
        seq = pad_to or max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), seq), dtype=np.int64)
        mask = np.zeros((len(batch), seq), dtype=np.int64)
        for r, row in enumerate(batch):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (tokens,) = self.sess.run([self.output], {k: feed[k] for k in self.inputs})
        m = mask[:, :, None].astype(np.float64)
        pooled = (tokens.astype(np.float64) * m).sum(axis=1) / m.sum(axis=1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--sentences", required=True, help="UTF-8 text file, one sentence per line")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    if not Path(a.sentences).is_file():
        die(f"missing sentences file {a.sentences}")
    sentences = Path(a.sentences).read_text(encoding="utf-8").splitlines()
    if not sentences or any(not s for s in sentences):
        die(f"{a.sentences} is empty or has empty lines")

    model = Model(a.model_dir, a.max_tokens)
    ids = model.tokenize(sentences)
    vectors = np.vstack([model.embed_ids([row]) for row in ids])
    batched = model.embed_ids(ids)
    diff = float(np.abs(vectors - batched).max())
    print(f"{model.manifest['id']}: {len(sentences)} sentences, output {model.output!r}, "
          f"max tokens {max(map(len, ids))}, batch-1 vs padded-batch max abs diff {diff:.3g}", file=sys.stderr)

    out = {
        "model": model.manifest["id"],
        "runtime": f"onnxruntime {ort.__version__}",
        "max_tokens": a.max_tokens,
        "dim": int(vectors.shape[1]),
        "sentences": sentences,
        "vectors": [[float(x) for x in v] for v in vectors],
        "token_counts": [len(row) for row in ids],
    }
    Path(a.out).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
