#!/usr/bin/env bash
#! Android: build libember_ffi.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk (profile
#! release-small) into android/ember/src/main/jniLibs and assemble the AAR with Gradle. Needs an NDK
#! (ANDROID_NDK_HOME) and Gradle.
#!
#! `--check` needs neither: it compiles the three static libraries with clang (the test suite runs
#! it) and links the arm64 one into a stripped stand-in shared object with lld to measure it. Only
#! arm64 is built in release-small; the other two are compile checks in a cheap unoptimized profile.
#!
#! Size: the target is 8 MiB for arm64, tract included. Measured 18.1 MiB (2026-11, tract 0.23.9,
#! release-small): tract's ops, kernels and their dependencies make most of it, so reaching 8 MiB
#! is core work (fewer tract features or ops). Until then the check guards against regressions at
#! 20 MiB and prints the figure against the 8 MiB target.
set -euo pipefail
SDK_SCRIPT=build-android
# shellcheck source=scripts/sdk-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/sdk-tools.sh"
cd "$sdk_root"

API=24                      # minSdk: android/ember/build.gradle.kts says the same
CARGO_NDK_VERSION=4.1.2
TARGET_ARM64_BYTES=$((8 * 1024 * 1024))
MAX_ARM64_BYTES=$((20 * 1024 * 1024))   # regression guard, see the header
# ABI  Rust target  clang target
ABIS=(
  "arm64-v8a aarch64-linux-android aarch64-linux-android$API"
  "armeabi-v7a armv7-linux-androideabi armv7a-linux-androideabi$API"
  "x86_64 x86_64-linux-android x86_64-linux-android$API"
)

staticlib() { # rust-target clang-target profile-args...
  local target="$1" clang_target="$2"
  shift 2
  # shellcheck disable=SC2046
  env $(clang_env "$target" "$clang_target") \
    cargo rustc --quiet -p ember-ffi --lib --crate-type staticlib --target "$target" "$@"
}

check() {
  apt_need clang lld llvm
  rust_targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
  local out="target/sdk/android"
  mkdir -p "$out"
  local abi target clang_target
  for row in "${ABIS[@]}"; do
    read -r abi target clang_target <<<"$row"
    if [ "$abi" = arm64-v8a ]; then
      timed "android $abi staticlib (release-small)" staticlib "$target" "$clang_target" --profile release-small
      local lib="target/$target/release-small/libember_ffi.a" so="$out/$abi/libember_ffi.so"
      mkdir -p "$out/$abi"
      # A stand-in for the NDK link: the same archive and section GC, but bionic and libunwind are
      # left undefined (they are shared libraries on the device and add nothing to this file).
      clang --target="$clang_target" -fuse-ld=lld -shared -nostdlib -o "$so" \
        -Wl,--whole-archive "$lib" -Wl,--no-whole-archive \
        -Wl,--gc-sections -Wl,--strip-all -Wl,-soname,libember_ffi.so
      local exported bytes
      exported=$(llvm-nm -D --defined-only "$so" | grep -c -E ' T (ember_|uniffi_ember_ffi_)' || true)
      [ "$exported" -gt 20 ] || die "$so exports only $exported ember/uniffi functions"
      bytes=$(stat -c %s "$so")
      local mib
      mib=$(awk "BEGIN{printf \"%.2f\", $bytes/1048576}")
      say "arm64-v8a: staticlib $(stat -c %s "$lib") bytes; linked and stripped $so: $bytes bytes" \
        "($mib MiB), $exported exported functions"
      if [ "$bytes" -gt "$TARGET_ARM64_BYTES" ]; then
        say "arm64-v8a: $mib MiB is over the 8 MiB target (known, see this script's header)"
      fi
      [ "$bytes" -le "$MAX_ARM64_BYTES" ] || die "arm64-v8a library is $mib MiB, over the 20 MiB regression guard"
    else
      timed "android $abi staticlib (compile check)" staticlib "$target" "$clang_target" "${CHECK_PROFILE_ARGS[@]}"
    fi
  done
}

full() {
  local ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
  [ -n "$ndk" ] && [ -d "$ndk" ] \
    || die "no Android NDK: set ANDROID_NDK_HOME (or run with --check to compile the static libraries without one)"
  command -v gradle >/dev/null || die "gradle not found: install Gradle 8.9+ to assemble the AAR"
  rust_targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
  local ndk_tools="$sdk_root/.tools/cargo-ndk-$CARGO_NDK_VERSION"
  if [ ! -x "$ndk_tools/bin/cargo-ndk" ]; then
    cargo install --quiet --locked cargo-ndk --version "=$CARGO_NDK_VERSION" --root "$ndk_tools"
  fi
  local args=() abi target clang_target
  for row in "${ABIS[@]}"; do
    read -r abi target clang_target <<<"$row"
    args+=(-t "$abi")
  done
  timed "cargo ndk (release-small, ${#ABIS[@]} ABIs)" env PATH="$ndk_tools/bin:$PATH" \
    cargo ndk "${args[@]}" --platform "$API" -o android/ember/src/main/jniLibs \
    build -p ember-ffi --profile release-small
  ls -l android/ember/src/main/jniLibs/*/libember_ffi.so >&2
  timed "gradle assembleRelease" gradle -p android :ember:assembleRelease
  ls -l android/ember/build/outputs/aar/ >&2
}

case "${1:-}" in
  --check) check ;;
  "") full ;;
  *) die "usage: $0 [--check]" ;;
esac
print_times
