#!/usr/bin/env bash
#! Create (if missing) the Python tooling venv at .tools/venv with pinned packages
#! for scripts/py/golden_reference.py (and _l6.py), scripts/py/bench_onnxruntime.py and scripts/py/bench_hnsw.py;
#! prints its python path.
# Idempotent: re-running only checks that the pinned versions are installed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.tools/venv"
pins=(onnxruntime==1.31.1 onnx==1.23.2 numpy==2.4.6 tokenizers==0.23.3 usearch==2.26.6 faiss-cpu==1.15.1)

if [ ! -x "$venv/bin/python" ]; then
  echo "python-tools: creating $venv" >&2
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
echo "$venv/bin/python"
