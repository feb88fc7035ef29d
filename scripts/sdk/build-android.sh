#!/usr/bin/env bash
#! Android: build libember_ffi.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk (profile
#! release-small) into android/ember/src/main/jniLibs and assemble the AAR with Gradle. Needs an NDK
#! (ANDROID_NDK_HOME) and Gradle.
#!
#! `--check` needs neither: it builds the arm64 static library in release-small and links it into a
#! stand-in for the AAR's `libember_ffi.so` with lld, to measure it, and type-checks the other two
#! ABIs (`cargo check --target`). The test suite runs it.
#!
#! The stand-in link is the NDK's, minus the NDK: the same archive, section GC, only the C and UniFFI
#! symbols exported (a version script, as rustc gives a cdylib), Android's packed relocations (which
#! the full build asks for: minSdk 24), 16 KB page alignment (Android 15+; both builds, and both fail
#! unless every LOAD segment of the library is 16 KB aligned), stripped; bionic, liblog and libunwind stay undefined (shared
#! libraries on the device, or about 100 KB of libunwind in the real link).
#!
#! The library leaves tract out and runs Ember's built-in encoder (MOBILE_FEATURES in sdk-tools.sh;
#! EMBER_TRACT=1 keeps tract for quantized or other ONNX models). Size: the target is 8 MiB for arm64.
#! Measured 3.65 MiB with the built-in encoder (3.34 before the zstd text store), 12.46 MiB with
#! tract (2026-11, release-small: opt-level "z", fat LTO). The check fails when the default build is
#! over the target.
set -euo pipefail
SDK_SCRIPT=build-android
# shellcheck source=scripts/sdk/sdk-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/sdk-tools.sh"
cd "$sdk_root"

API=24                      # minSdk: android/ember/build.gradle.kts says the same
CARGO_NDK_VERSION=4.1.2
TARGET_ARM64_BYTES=$((8 * 1024 * 1024))
# ABI  Rust target  clang target
ABIS=(
  "arm64-v8a aarch64-linux-android aarch64-linux-android$API"
  "armeabi-v7a armv7-linux-androideabi armv7a-linux-androideabi$API"
  "x86_64 x86_64-linux-android x86_64-linux-android$API"
)

check() {
  apt_need clang lld llvm "${c_header_packages[@]}"
  rust_targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
  local out="target/sdk/android"
  mkdir -p "$out"
  # arm64 is built as it ships and measured below; the other ABIs are type-checked for their
  # targets (32-bit usize and target cfgs are what differ), which takes a fraction of a fat-LTO build.
  local abi target clang_target
  for row in "${ABIS[@]}"; do
    read -r abi target clang_target <<<"$row"
    if [ "$abi" = arm64-v8a ]; then
      timed "android $abi staticlib (release-small)" staticlib "$target" "$clang_target" --profile release-small \
        "${MOBILE_FEATURES[@]}"
    else
      timed "android $abi cargo check" with_clang "$target" "$clang_target" \
        cargo check --quiet -p ember-ffi --lib --target "$target" --profile release-small "${MOBILE_FEATURES[@]}"
    fi
  done
  # The size target is for arm64: link it as the NDK would and measure it.
  measure aarch64-linux-android$API "$cargo_target/aarch64-linux-android/release-small/libember_ffi.a" "$out/arm64-v8a"
}

# Link the static library into the stand-in shared object, check its exports, and measure it.
measure() { # clang-target staticlib out-dir
  local clang_target="$1" lib="$2" dir="$3"
  local so="$dir/libember_ffi.so" map="$dir/exports.map"
  mkdir -p "$dir"
  printf '{\n  global: ember_*; uniffi_ember_ffi_*; ffi_ember_ffi_*;\n  local: *;\n};\n' >"$map"
  clang --target="$clang_target" -fuse-ld=lld -shared -nostdlib -o "$so" \
    -Wl,--whole-archive "$lib" -Wl,--no-whole-archive -Wl,--version-script="$map" \
    -Wl,--gc-sections -Wl,--as-needed -Wl,--pack-dyn-relocs=android -Wl,--strip-all -Wl,-soname,libember_ffi.so \
    "${ANDROID_PAGE_LDFLAGS[@]}"
  check_16k_pages "$so"
  local exported bytes mib
  exported=$(llvm-nm -D --defined-only "$so" | grep -c -E ' T (ember_|uniffi_ember_ffi_)' || true)
  [ "$exported" -gt 60 ] || die "$so exports only $exported ember/uniffi functions"
  bytes=$(stat -c %s "$so")
  mib=$(awk "BEGIN{printf \"%.2f\", $bytes/1048576}")
  say "arm64-v8a: staticlib $(stat -c %s "$lib") bytes; linked and stripped $so: $bytes bytes" \
    "($mib MiB), $exported exported functions"
  if [ "$bytes" -gt "$TARGET_ARM64_BYTES" ]; then
    # With tract kept (EMBER_TRACT=1) the library is known to be over; the default build must not be.
    [ "${EMBER_TRACT:-0}" = 1 ] || die "arm64-v8a library is $mib MiB, over the 8 MiB target"
    say "arm64-v8a: $mib MiB with tract, over the 8 MiB target of the default build"
  fi
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
  local args=() flags=() abi target clang_target
  for row in "${ABIS[@]}"; do
    read -r abi target clang_target <<<"$row"
    args+=(-t "$abi")
    # Android's packed relocations (bionic reads them from API 23; minSdk is 24): 1 MB less for arm64.
    # And 16 KB page alignment for Android 15+ (sdk-tools.sh), checked below.
    local t="${target^^}"
    flags+=("CARGO_TARGET_${t//-/_}_RUSTFLAGS=-C link-arg=-Wl,--pack-dyn-relocs=android $ANDROID_PAGE_RUSTFLAGS")
  done
  timed "cargo ndk (release-small, ${#ABIS[@]} ABIs)" env PATH="$ndk_tools/bin:$PATH" "${flags[@]}" \
    cargo ndk "${args[@]}" --platform "$API" -o android/ember/src/main/jniLibs \
    build -p ember-ffi --profile release-small "${MOBILE_FEATURES[@]}"
  ls -l android/ember/src/main/jniLibs/*/libember_ffi.so >&2
  local so
  for so in android/ember/src/main/jniLibs/*/libember_ffi.so; do check_16k_pages "$so"; done
  timed "gradle assembleRelease" gradle -p android :ember:assembleRelease
  ls -l android/ember/build/outputs/aar/ >&2
}

case "${1:-}" in
  --check) check ;;
  "") full ;;
  *) die "usage: $0 [--check]" ;;
esac
print_times
