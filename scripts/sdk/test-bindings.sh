#!/usr/bin/env bash
#! The SDK surfaces' tests (scripts/test.sh runs this after the Rust tests):
#!  1. build libember_ffi (release) and the binding generator;
#!  2. regenerate ffi/include/ember.h (pinned cbindgen) and the Kotlin and Swift bindings, and fail
#!     on any difference from the committed files (`--update` writes them instead);
#!  3. C test + example program: x86_64 (shared and static library) and aarch64 under qemu-user;
#!  4. Kotlin test on the JVM (JNA), Swift test with XCTest (in the trixie chroot), both against the
#!     host library of step 1 (its ONNX embedder runs the built-in encoder, as the phones' does; the
#!     build without tract that the phones ship is compiled and run by the aarch64 C step);
#!  5. Android static libraries and the iOS type check (scripts/sdk/build-android.sh --check, build-xcframework.sh --check).
#! The README's Android, iOS and C snippets are cut out of README.md and compiled into the tests.
#! A missing tool is installed (under .tools/ where possible) or the run fails; nothing is skipped.
set -euo pipefail
SDK_SCRIPT=test-bindings
# shellcheck source=scripts/sdk/sdk-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/sdk-tools.sh"
cd "$sdk_root"

update=false tools_only=false
[ "${1:-}" = --update ] && update=true
# --tools: install the tools only (scripts/test.sh runs this in the background during the Rust
# build: apt, debootstrap and downloads wait on the network and the disk, not on the CPU).
[ "${1:-}" = --tools ] && tools_only=true

out="$sdk_root/target/sdk"
model="$sdk_root/models/paraphrase-MiniLM-L3-v2"
[ -f "$model/model.onnx" ] || die "model missing at $model: run bash scripts/fetch/fetch-models.sh"
version="$(cargo metadata --no-deps --format-version 1 | python3 -c \
  'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="ember-ffi"))')"
mkdir -p "$out"

# Cut the fenced block that follows `<!-- snippet: NAME -->` out of README.md.
snippet() { # name -> stdout
  awk -v name="$1" '
    $0 ~ "<!-- snippet: " name " -->" { want = 1; next }
    want && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }
  ' README.md | grep . || die "README.md has no snippet $1"
}

# Compare a generated file with its committed copy (or copy it over with --update).
same_or_update() { # generated committed
  if $update; then
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
  elif ! diff -u "$2" "$1" >"$out/diff.txt"; then
    head -n 40 "$out/diff.txt" >&2
    die "$2 is stale: run bash scripts/sdk/test-bindings.sh --update and commit the result"
  fi
}

tools() {
  apt_need clang lld llvm gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
  rust_targets aarch64-unknown-linux-gnu
  CBINDGEN="$(cbindgen_bin)"
  # `eval "$(...)"` alone would hide a failed setup (eval of nothing succeeds): check each first.
  local env
  env="$(bash scripts/sdk/setup-kotlin.sh)" || die "Kotlin setup failed (scripts/sdk/setup-kotlin.sh, above)"
  eval "$env"
  env="$(bash scripts/sdk/setup-swift.sh)" || die "Swift setup failed (scripts/sdk/setup-swift.sh, above)"
  eval "$env"
  : "${KOTLIN_HOME:?setup-kotlin.sh printed no KOTLIN_HOME}" "${SWIFT_CHROOT:?setup-swift.sh printed no SWIFT_CHROOT}"
}

build_host() {
  # With --tests and test.sh's features, dev-dependencies are part of the build exactly as in
  # test.sh's `cargo test --release --workspace --features ...`, so the crates both share (tract
  # above all, and the ember binary) are not built a second time with other features (proptest
  # turns on bit-vec's default features, which tract depends on).
  cargo build --quiet --release --workspace --lib --bins --tests --features ember-tests/models,ember-cli/models
}


generated() {
  "$CBINDGEN" --quiet --config ffi/cbindgen.toml --crate ember-ffi --output "$out/ember.h"
  same_or_update "$out/ember.h" ffi/include/ember.h
  rm -rf "$out/kotlin" "$out/swift"
  target/release/ember-bindgen generate --no-format --library target/release/libember_ffi.so \
    --language kotlin --out-dir "$out/kotlin" >/dev/null
  target/release/ember-bindgen generate --no-format --library target/release/libember_ffi.so \
    --language swift --out-dir "$out/swift" >/dev/null
  same_or_update "$out/kotlin/org/example/ember/ember.kt" android/ember/src/main/kotlin/org/example/ember/ember.kt
  same_or_update "$out/swift/Ember.swift" ios/Sources/Ember/Ember.swift
}

c_sources() { # dir
  mkdir -p "$1"
  { printf '#include <stdio.h>\n#include "ember.h"\n'; snippet c; } >"$1/readme_snippet.c"
}

c_x86_64() {
  local dir="$out/c-x86_64"
  c_sources "$dir"
  local flags=(-std=c11 -O1 -Wall -Wextra -Werror -Wno-missing-field-initializers -pthread -Iffi/include)
  cc "${flags[@]}" bindings/c/test_ember.c "$dir/readme_snippet.c" -Ltarget/release -lember_ffi \
    -Wl,-rpath,"$sdk_root/target/release" -o "$dir/test_ember"
  rm -rf "$dir/scratch" && mkdir -p "$dir/scratch"
  "$dir/test_ember" "$model" "$dir/scratch" "$version"
  # The example program, linked statically against libember_ffi.a (as on a small Linux box).
  cc "${flags[@]}" ffi/examples/ember_search.c target/release/libember_ffi.a -lpthread -ldl -lm -Wl,-z,noexecstack \
    -o "$dir/ember_search"
  example "$dir" "$dir/ember_search"
}

example() { # dir binary [runner...]
  local dir="$1"
  shift
  printf 'battery\tBuy batteries for the torch before the camping trip\ndisk\tFree disk space by deleting old build folders\npasta\tBoil the pasta for nine minutes in salted water\n' >"$dir/notes.tsv"
  rm -rf "$dir/example-index"
  "$@" "$model" "$dir/example-index" build "$dir/notes.tsv" >"$dir/example.out"
  "$@" "$model" "$dir/example-index" search "how long to cook spaghetti" 2 >>"$dir/example.out"
  grep -q "^1	pasta	" "$dir/example.out" || { cat "$dir/example.out" >&2; die "example program: pasta is not the top hit"; }
}

c_aarch64() {
  # Built with the mobile features (the built-in encoder, no tract): this step checks the C ABI and
  # our NEON kernels on arm64, and the x86_64 step above already runs the C test through tract. A
  # cross build of tract alone took about 6 of CI's 30 minutes.
  local t=aarch64-unknown-linux-gnu dir="$out/c-aarch64"
  timed "aarch64 libember_ffi (release, cross, no tract)" env \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    cargo build --quiet --release -p ember-ffi --target "$t" "${MOBILE_FEATURES[@]}" --config profile.release.debug=false
  c_sources "$dir"
  local flags=(-std=c11 -O1 -Wall -Wextra -Werror -Wno-missing-field-initializers -pthread -Iffi/include)
  aarch64-linux-gnu-gcc "${flags[@]}" bindings/c/test_ember.c "$dir/readme_snippet.c" \
    -L"target/$t/release" -lember_ffi -o "$dir/test_ember"
  aarch64-linux-gnu-gcc "${flags[@]}" ffi/examples/ember_search.c "target/$t/release/libember_ffi.a" -Wl,-z,noexecstack \
    -lpthread -ldl -lm -o "$dir/ember_search"
  local qemu
  qemu="$(command -v qemu-aarch64 || command -v qemu-aarch64-static)" || die "qemu-aarch64 not found"
  # The encoders' int8/4-bit matrix kernels and the distance kernels (f32, f16, i8 rows) against
  # their scalar definitions on arm64: with the dot-product extension (-cpu max: NEON sdot) and
  # without it (cortex-a53: the scalar qgemm fallback; NEON distance kernels either way).
  local cpu
  for cpu in max cortex-a53; do
    timed "qgemm and distance kernels, aarch64 -cpu $cpu under qemu-user" env \
      CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
      CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$qemu -cpu $cpu -L /usr/aarch64-linux-gnu" \
      cargo test --quiet --release -p ember-core --target "$t" "${MOBILE_FEATURES[@]}" \
      --config profile.release.debug=false --lib -- qgemm distance
  done
  rm -rf "$dir/scratch" && mkdir -p "$dir/scratch"
  timed "C test, aarch64 under qemu-user" env LD_LIBRARY_PATH="$sdk_root/target/$t/release" \
    "$qemu" -L /usr/aarch64-linux-gnu "$dir/test_ember" "$model" "$dir/scratch" "$version"
  example "$dir" "$qemu" -L /usr/aarch64-linux-gnu "$dir/ember_search"
}

kotlin() {
  local dir="$out/kotlin-test"
  rm -rf "$dir" && mkdir -p "$dir"
  {
    echo 'import org.example.ember.*'
    snippet kotlin
  } >"$dir/ReadmeSnippet.kt"
  local cp="$KOTLIN_CP"
  timed "kotlinc (bindings, coroutine layer, test)" "$KOTLIN_HOME/bin/kotlinc" -nowarn \
    -cp "$cp" -d "$dir/classes" \
    android/ember/src/main/kotlin/org/example/ember/ember.kt \
    android/ember/src/main/kotlin/org/example/ember/EmberCoroutines.kt \
    "$dir/ReadmeSnippet.kt" bindings/kotlin/EmberTest.kt
  timed "Kotlin test (JVM)" java -Djna.library.path="$sdk_root/target/release" \
    -Dember.model="$model" -Dember.version="$version" \
    -cp "$dir/classes:$cp:$KOTLIN_HOME/lib/kotlin-stdlib.jar" EmberTestKt
}

swift() {
  local chroot="$SWIFT_CHROOT" stage="$SWIFT_CHROOT/ember"
  # Stage sources, generated C module, library and model inside the chroot (copies, no mounts into
  # the repository); the build folder is kept between runs.
  rm -rf "$stage/pkg" "$stage/gen" "$stage/lib"
  mkdir -p "$stage/pkg/Sources/Ember" "$stage/gen" "$stage/lib" "$stage/model"
  cp -r bindings/swift/Package.swift bindings/swift/Tests "$stage/pkg/"
  cp ios/Sources/Ember/*.swift "$stage/pkg/Sources/Ember/"
  {
    echo 'import Ember'
    snippet swift
  } >"$stage/pkg/Tests/EmberTests/ReadmeSnippet.swift"
  cp "$out/swift/EmberFFI.h" "$out/swift/EmberFFI.modulemap" "$stage/gen/"
  cp target/release/libember_ffi.so "$stage/lib/"
  cp "$model"/* "$stage/model/"
  mount -t proc proc "$chroot/proc"
  trap 'umount "$SWIFT_CHROOT/proc" 2>/dev/null || true' EXIT
  local rc=0
  chroot "$chroot" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    EMBER_MODEL_DIR=/ember/model EMBER_VERSION="$version" LD_LIBRARY_PATH=/ember/lib \
    swift test --package-path /ember/pkg --scratch-path /ember/build \
    -Xcc -fmodule-map-file=/ember/gen/EmberFFI.modulemap -Xcc -I/ember/gen \
    -Xlinker -L/ember/lib -Xlinker -lember_ffi || rc=$?
  umount "$chroot/proc"
  trap - EXIT
  [ "$rc" = 0 ] || die "swift test failed ($rc)"
}

timed "tools (apt, rustup targets, cbindgen, Kotlin, Swift)" tools
if $tools_only; then
  print_times
  exit 0
fi
timed "libember_ffi + ember-bindgen (release)" build_host
timed "generated header and bindings up to date" generated
timed "C test + example, x86_64" c_x86_64
c_aarch64
kotlin
timed "Swift test (XCTest, swift test)" swift
timed "Android static libraries (build-android.sh --check)" bash scripts/sdk/build-android.sh --check
timed "iOS type check (build-xcframework.sh --check)" bash scripts/sdk/build-xcframework.sh --check
print_times
# Every step above exits the script on failure, so reaching here means all of them passed.
echo "bindings: ${#SDK_TIMES[@]} passed, 0 failed"
