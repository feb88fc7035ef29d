#!/usr/bin/env bash
#! iOS: build EmberFFI.xcframework (device arm64 + simulator arm64/x86_64 static libraries in
#! release-small, with `log` routed to os_log) and the Swift bindings for ios/Package.swift. Needs
#! macOS with Xcode.
#!
#! `--check` runs anywhere, and the test suite runs it: it type-checks the library for
#! aarch64-apple-ios in release-small (`cargo check`), without the Apple-only `oslog` feature.
#! `--staticlib` also runs anywhere: it builds that static library in full (fat LTO, ~2 minutes on
#! 2 cores) and prints its size. A static library needs no Apple linker; only the XCFramework (and
#! the simulator and dynamic libraries) needs Xcode.
set -euo pipefail
SDK_SCRIPT=build-xcframework
# shellcheck source=scripts/sdk/sdk-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/sdk-tools.sh"
cd "$sdk_root"

# The env for building for aarch64-apple-ios on any host: cc-rs asks xcrun for an SDK unless SDKROOT
# is set, so an empty one, with stand-in C headers for zstd (sdk-tools.sh, stand_in_headers);
# tract's assembly kernels (EMBER_TRACT=1) need none.
ios_env() {
  apt_need clang llvm "${c_header_packages[@]}"
  rust_targets aarch64-apple-ios
  local sdk="$sdk_root/target/sdk/ios/empty-sdk"
  mkdir -p "$sdk"
  SDKROOT="$sdk" "$@"
}

# The CI check: every iOS-only cfg type-checks (the same aarch64 code is built in full, with the same
# profile, for Android arm64 by build-android.sh --check).
check() {
  ios_env timed "ios aarch64-apple-ios cargo check (release-small)" \
    with_clang aarch64-apple-ios arm64-apple-ios15.0 \
    cargo check --quiet -p ember-ffi --lib --target aarch64-apple-ios --profile release-small "${MOBILE_FEATURES[@]}"
}

staticlib_ios() {
  ios_env timed "ios aarch64-apple-ios staticlib (release-small)" \
    staticlib aarch64-apple-ios arm64-apple-ios15.0 --profile release-small "${MOBILE_FEATURES[@]}"
  local lib=target/aarch64-apple-ios/release-small/libember_ffi.a
  [ -s "$lib" ] || die "no static library at $lib"
  say "aarch64-apple-ios: $lib, $(stat -c %s "$lib") bytes"
}

full() {
  [ "$(uname -s)" = Darwin ] || die "the XCFramework needs macOS and Xcode (use --check elsewhere)"
  local targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
  rustup target add "${targets[@]}" >&2
  local t
  for t in "${targets[@]}"; do
    timed "$t staticlib (release-small)" \
      cargo build -p ember-ffi --lib --profile release-small "${MOBILE_FEATURES[@]}" --features oslog --target "$t"
  done
  # Bindings come from an unstripped host library (library mode reads its metadata).
  timed "host library + generator" cargo build --release -p ember-ffi -p ember-bindgen
  local out=target/sdk/ios
  rm -rf "$out/gen" "$out/headers" "$out/sim" ios/EmberFFI.xcframework
  mkdir -p "$out/gen" "$out/headers" "$out/sim"
  target/release/ember-bindgen generate --no-format --library target/release/libember_ffi.dylib \
    --language swift --out-dir "$out/gen"
  cp "$out/gen/Ember.swift" ios/Sources/Ember/Ember.swift
  cp "$out/gen/EmberFFI.h" "$out/headers/"
  cp "$out/gen/EmberFFI.modulemap" "$out/headers/module.modulemap"
  lipo -create target/aarch64-apple-ios-sim/release-small/libember_ffi.a \
    target/x86_64-apple-ios/release-small/libember_ffi.a -output "$out/sim/libember_ffi.a"
  timed "xcodebuild -create-xcframework" xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release-small/libember_ffi.a -headers "$out/headers" \
    -library "$out/sim/libember_ffi.a" -headers "$out/headers" \
    -output ios/EmberFFI.xcframework
  (cd ios && zip -qry "../$out/EmberFFI.xcframework.zip" EmberFFI.xcframework)
  say "checksum for a remote binaryTarget: $(swift package compute-checksum "$out/EmberFFI.xcframework.zip")"
}

case "${1:-}" in
  --check) check ;;
  --staticlib) staticlib_ios ;;
  "") full ;;
  *) die "usage: $0 [--check|--staticlib]" ;;
esac
print_times
