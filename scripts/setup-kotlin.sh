#!/usr/bin/env bash
#! Install what the Kotlin binding test needs: the Kotlin compiler (npm package kotlin-compiler,
#! pinned) under .tools/, and from Debian JNA and kotlinx-coroutines (+ atomicfu, which it needs).
# Idempotent; prints what it settled on as KOTLIN_HOME=... and KOTLIN_CP=... (the jars) lines.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KOTLIN_VERSION=2.4.20
prefix="$root/.tools/kotlin-$KOTLIN_VERSION"
say() { printf 'setup-kotlin: %s\n' "$*" >&2; }

command -v java >/dev/null || { say "java is required (a JDK 17+), install it with apt-get install default-jdk-headless"; exit 1; }

apt_install() { # package...
  if [ -z "${EMBER_APT_UPDATED:-}" ]; then apt-get update -qq >&2; export EMBER_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Debian package : jar. Coroutines 1.0.1 is old but has what the coroutine layer uses.
jars=(
  libjna-java:/usr/share/java/jna.jar
  libkotlinx-coroutines-java:/usr/share/java/kotlinx-coroutines-core.jar
  libkotlinx-atomicfu-java:/usr/share/java/atomicfu.jar
)
missing=()
cp=""
for entry in "${jars[@]}"; do
  [ -f "${entry#*:}" ] || missing+=("${entry%%:*}")
  cp="$cp${cp:+:}${entry#*:}"
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  apt_install "${missing[@]}"
fi
for entry in "${jars[@]}"; do
  [ -f "${entry#*:}" ] || { say "${entry%%:*} installed no ${entry#*:}"; exit 1; }
done

home="$prefix/node_modules/kotlin-compiler"
if [ ! -x "$home/bin/kotlinc" ]; then
  command -v npm >/dev/null || { say "npm is required to install kotlin-compiler"; exit 1; }
  say "installing kotlin-compiler@$KOTLIN_VERSION into ${prefix#"$root"/} (npm)"
  mkdir -p "$prefix"
  npm install --silent --no-audit --no-fund --prefix "$prefix" "kotlin-compiler@$KOTLIN_VERSION" >&2
  chmod +x "$home"/bin/* 2>/dev/null || true
fi
[ -x "$home/bin/kotlinc" ] || { say "kotlin-compiler@$KOTLIN_VERSION has no bin/kotlinc under $home"; exit 1; }
echo "KOTLIN_HOME=$home"
echo "KOTLIN_CP=$cp"
