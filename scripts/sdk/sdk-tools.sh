#!/usr/bin/env bash
#! Shared helpers of the SDK scripts (sourced, not run): install what is missing, time steps.
# Everything downloaded lands under .tools/ except Debian packages (apt-get) and Rust targets
# (rustup), which the machine keeps in their usual places.

sdk_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CBINDGEN_VERSION=0.29.2

# Android and iOS builds run Ember's built-in encoder and leave tract out (f32 BERT-family models,
# and a quarter of the library size). EMBER_TRACT=1 keeps tract, for quantized or other ONNX models.
MOBILE_FEATURES=(--no-default-features)
if [ "${EMBER_TRACT:-0}" = 1 ]; then MOBILE_FEATURES=(); fi

say() { printf '%s: %s\n' "${SDK_SCRIPT:-sdk}" "$*" >&2; }
die() { say "$*"; exit 1; }

# Install the Debian packages among "$@" that are not installed yet (one apt-get for all).
apt_need() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}): install them with apt-get as root"
  say "apt-get install ${missing[*]}"
  local log="$sdk_root/.tools/apt-get.log"
  mkdir -p "$sdk_root/.tools"
  if [ -z "${EMBER_APT_UPDATED:-}" ]; then
    apt-get update -qq >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update failed"; }
    export EMBER_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; die "apt-get install ${missing[*]} failed (log: .tools/apt-get.log)"; }
}

# Add the Rust targets among "$@" that the toolchain lacks.
rust_targets() {
  local installed missing=() t
  installed="$(rustup target list --installed)"
  for t in "$@"; do grep -qx "$t" <<<"$installed" || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "rustup target add ${missing[*]}"
  rustup target add "${missing[@]}" >&2 || die "rustup target add ${missing[*]} failed"
}

# The pinned cbindgen, installed once into .tools/cbindgen-VERSION; prints its path.
cbindgen_bin() {
  local dir="$sdk_root/.tools/cbindgen-$CBINDGEN_VERSION"
  if [ ! -x "$dir/bin/cbindgen" ]; then
    say "cargo install cbindgen $CBINDGEN_VERSION into ${dir#"$sdk_root"/}"
    cargo install --quiet --locked cbindgen --version "=$CBINDGEN_VERSION" --root "$dir" >&2 \
      || die "cargo install cbindgen failed"
  fi
  printf '%s\n' "$dir/bin/cbindgen"
}

# ember-ffi's static library for a target, C parts built with clang (no linker: a static library
# needs none, so Android and iOS build here without their SDKs). $1: Rust target, $2: clang
# --target triple, then cargo arguments (profile, features).
staticlib() {
  local target="$1" clang_target="$2"
  shift 2
  # shellcheck disable=SC2046
  env $(clang_env "$target" "$clang_target") \
    cargo rustc --quiet -p ember-ffi --lib --crate-type staticlib --target "$target" "$@"
}

# Env for building C parts of crates (tract-linalg's kernels) for a target with clang; prints
# `KEY=VALUE` lines for `env`. $1: Rust target, $2: clang --target triple.
clang_env() {
  local t="${1//-/_}"
  echo "CC_$t=clang"
  echo "CFLAGS_$t=--target=$2"
  echo "AR_$t=llvm-ar"
}

# Step timing: `timed NAME command...` runs the command and records "NAME SECONDS".
SDK_TIMES=()
timed() {
  local name="$1" start end
  shift
  printf '\n== %s\n' "$name" >&2
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  SDK_TIMES+=("$(printf '%-44s %4ss' "$name" "$((end - start))")")
}
print_times() {
  printf '\n== %s step times\n' "${SDK_SCRIPT:-sdk}" >&2
  printf '  %s\n' "${SDK_TIMES[@]}" >&2
}
