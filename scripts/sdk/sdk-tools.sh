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
  with_clang "$target" "$clang_target" \
    cargo rustc --quiet -p ember-ffi --lib --crate-type staticlib --target "$target" "$@"
}

# Run "$@" (from $3 on) with the env for building C parts of crates (zstd, and tract-linalg's
# kernels with EMBER_TRACT=1) for a target with clang. $1: Rust target, $2: clang --target triple.
with_clang() {
  local t="${1//-/_}" cflags="--target=$2" headers
  headers="$(stand_in_headers "$1")"
  if [ -n "$headers" ]; then cflags+=" -isystem $headers"; fi
  env "CC_$t=clang" "CFLAGS_$t=$cflags" "AR_$t=llvm-ar" "${@:3}"
}

# zstd's C includes the C library's headers (stdlib.h, string.h). These builds have neither the
# Android NDK's sysroot nor an Apple SDK, so Debian's C library headers stand in: zstd takes only
# standard C declarations (malloc, memcpy, qsort) from them, so the C compiled, and the size
# measured, are what the NDK's or the SDK's headers give. Android gets glibc's for the same
# architecture (armv7 Android passes floats in integer registers, as armel does, not armhf); iOS
# gets musl's, since glibc's do not parse for a Darwin target. Prints the directory for Rust
# target $1 (its package is in c_header_packages).
stand_in_headers() {
  case "$1" in
    *-apple-*) echo "/usr/include/$(uname -m)-linux-musl" ;;
    aarch64-*) echo /usr/aarch64-linux-gnu/include ;;
    armv7-*) echo /usr/arm-linux-gnueabi/include ;;
    x86_64-*) echo /usr/include/x86_64-linux-gnu ;;
  esac
}
c_header_packages=(libc6-dev-arm64-cross libc6-dev-armel-cross libc6-dev musl-dev)

# Android 15+ devices may run with 16 KB memory pages, where a shared library loads only if every
# LOAD segment is 16 KB aligned (Play requires it for apps targeting Android 15). lld aligns to
# 4 KB for these targets unless told otherwise: every Android link passes these flags.
ANDROID_PAGE_LDFLAGS=(-Wl,-z,max-page-size=16384 -Wl,-z,common-page-size=16384)
ANDROID_PAGE_RUSTFLAGS="-C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,common-page-size=16384"

# Fail unless every LOAD segment of the ELF shared object $1 is aligned for 16 KB pages: an Align
# that is a power of two of at least 0x4000, and offset and virtual address congruent modulo it.
check_16k_pages() { # so
  local so="$1" type off vaddr rest align loads=0 bad=()
  local readelf
  readelf="$(command -v readelf || command -v llvm-readelf)" || die "no readelf (binutils or llvm)"
  while read -r type off vaddr rest; do
    [ "$type" = LOAD ] || continue
    loads=$((loads + 1))
    align="${rest##* }"
    if ((align < 0x4000 || (align & (align - 1)) != 0 || (off % align) != (vaddr % align))); then
      bad+=("[offset $off, vaddr $vaddr, align $align]")
    fi
  done < <("$readelf" -lW "$so")
  [ "$loads" -gt 0 ] || die "$so: no LOAD segments in readelf -lW (not an ELF shared object?)"
  [ ${#bad[@]} -eq 0 ] || die "$so is not 16 KB page aligned (Android 15+ devices with 16 KB pages" \
    "cannot load it; link with ${ANDROID_PAGE_LDFLAGS[*]}): LOAD segment(s) ${bad[*]}"
  say "$(basename "$(dirname "$so")")/$(basename "$so"): all $loads LOAD segments 16 KB aligned"
}

# Where cargo writes (CARGO_TARGET_DIR when set, as for the libraries staticlib builds).
cargo_target="${CARGO_TARGET_DIR:-$sdk_root/target}"

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
