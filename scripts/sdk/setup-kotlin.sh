#!/usr/bin/env bash
#! Install what the Kotlin binding test needs: the Kotlin compiler (npm package kotlin-compiler,
#! pinned) under .tools/, and from Debian JNA and kotlinx-coroutines (+ atomicfu, which it needs).
# Idempotent; prints what it settled on as KOTLIN_HOME=... and KOTLIN_CP=... (the jars) lines.
set -euo pipefail
SDK_SCRIPT=setup-kotlin
# shellcheck source=scripts/sdk/sdk-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/sdk-tools.sh"
KOTLIN_VERSION=2.4.20
prefix="$sdk_root/.tools/kotlin-$KOTLIN_VERSION"

command -v java >/dev/null || die "java is required (a JDK 17+: apt-get install default-jdk-headless)"

# Debian package : jar. Coroutines 1.0.1 is old but has all the coroutine layer uses.
jars=(
  libjna-java:/usr/share/java/jna.jar
  libkotlinx-coroutines-java:/usr/share/java/kotlinx-coroutines-core.jar
  libkotlinx-atomicfu-java:/usr/share/java/atomicfu.jar
)
packages=()
cp=""
for entry in "${jars[@]}"; do
  packages+=("${entry%%:*}")
  cp="$cp${cp:+:}${entry#*:}"
done
apt_need "${packages[@]}"
for entry in "${jars[@]}"; do
  [ -f "${entry#*:}" ] || die "${entry%%:*} installed no ${entry#*:}"
done

home="$prefix/node_modules/kotlin-compiler"
if [ ! -x "$home/bin/kotlinc" ]; then
  command -v npm >/dev/null || die "npm is required to install kotlin-compiler"
  say "npm install kotlin-compiler@$KOTLIN_VERSION into ${prefix#"$sdk_root"/}"
  mkdir -p "$prefix"
  npm install --silent --no-audit --no-fund --prefix "$prefix" "kotlin-compiler@$KOTLIN_VERSION" >&2
  chmod +x "$home"/bin/* 2>/dev/null || true
fi
[ -x "$home/bin/kotlinc" ] || die "kotlin-compiler@$KOTLIN_VERSION has no bin/kotlinc under $home"
echo "KOTLIN_HOME=$home"
echo "KOTLIN_CP=$cp"
