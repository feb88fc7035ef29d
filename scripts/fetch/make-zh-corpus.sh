#!/usr/bin/env bash
# Assemble a Chinese retrieval evaluation set (BEIR layout) from Debian's
# Chinese documentation packages:
#
#   data/zh-docs/corpus.jsonl    {"_id","title","text"}, 1k-10k passages of 200-900 bytes
#   data/zh-docs/queries.jsonl   {"_id","text"}, up to 2,000 section headings
#   data/zh-docs/qrels/test.tsv  query-id, corpus-id, score (every passage of the heading's section)
#
# Usage: bash scripts/fetch/make-zh-corpus.sh [--update-lock]
#
# Debian's Chinese man pages (manpages-zh) are held out for acceptance testing:
# this script refuses to fetch or read that package, here and in its helper.
#
# Packages come only from Debian's archive through `apt-get download`, cached
# in data/.debs/ (gitignored), checked against the versions and sha256 sums
# pinned in scripts/fetch/zh-corpus.lock, and unpacked with `dpkg-deb -x` into
# a temporary folder that is removed afterwards.  When the archive has moved on
# (a point release), the pinned version can no longer be fetched: re-run with
# --update-lock to pin the current versions, and commit the lock.
#
# The same .debs always give byte-identical output files.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCK="$ROOT/scripts/fetch/zh-corpus.lock"
CACHE="$ROOT/data/.debs"
OUT="$ROOT/data/zh-docs"
HELPER="$ROOT/scripts/py/zh_corpus.py"

# One script per book: the zh-cn and zh-tw builds of debian-reference and
# maint-guide are parallel translations, so each book comes in one of them.
# scripts/py/zh_corpus.py knows where each package keeps its pages.
PACKAGES=(
  debian-reference-zh-tw
  maint-guide-zh-cn
  debian-faq-zh-cn
  debian-edu-doc-zh-cn
  debian-handbook
  installation-guide-amd64
  kicad-doc-zh
  libreoffice-help-zh-cn
)

UPDATE_LOCK=0

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "make-zh-corpus: error: $*" >&2; exit 1; }
held_out() { [[ "$1" =~ ^manpages-zh($|[-_.]) ]]; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --update-lock) UPDATE_LOCK=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

for pkg in "${PACKAGES[@]}"; do
  held_out "$pkg" && die "$pkg is held out for acceptance testing and must not be in any corpus"
done
for tool in apt-get apt-cache dpkg-deb sha256sum python3; do
  command -v "$tool" >/dev/null || die "$tool not found (this script needs a Debian system)"
done

START=$(date +%s)
mkdir -p "$CACHE" "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/zh-corpus.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

REFRESH="bash scripts/fetch/make-zh-corpus.sh --update-lock, then commit scripts/fetch/zh-corpus.lock"
# shellcheck source=scripts/fetch/debs.sh
source "$ROOT/scripts/fetch/debs.sh"

# --- the lock ------------------------------------------------------------------
read_lock
for pkg in "${!LOCK_VER[@]}"; do
  held_out "$pkg" && die "$LOCK pins $pkg, which is held out for acceptance testing; remove that line"
done

# --- download, verify, extract ---------------------------------------------------
LOCK_LINES=()
SPECS=()
for pkg in "${PACKAGES[@]}"; do
  fetch_deb "$pkg"
  deb=$DEB ver=$VER sha=$SHA
  echo "extracting $(basename "$deb")"
  mkdir -p "$WORK/$pkg"
  dpkg-deb -x "$deb" "$WORK/$pkg"
  LOCK_LINES+=("$pkg $ver $sha")
  SPECS+=("$pkg=$ver")
done

if [[ $USE_LOCK -eq 0 ]]; then
  {
    echo "# Debian Chinese documentation packages behind data/zh-docs (scripts/fetch/make-zh-corpus.sh)."
    echo "# package version sha256-of-.deb; refresh with: bash scripts/fetch/make-zh-corpus.sh --update-lock"
    printf '%s\n' "${LOCK_LINES[@]}"
  } > "$LOCK.tmp"
  mv -- "$LOCK.tmp" "$LOCK"
  echo "wrote $LOCK"
fi

# --- passages, queries -------------------------------------------------------------
echo "building passages from ${#PACKAGES[@]} packages..."
status=0
python3 "$HELPER" --extract "$WORK" --out "$OUT" --packages "${SPECS[@]}" || status=$?

echo "wall time:        $(( $(date +%s) - START )) s"
[[ $status -eq 0 ]] || die "corpus build failed (exit $status)"
echo "corpus:  $OUT/corpus.jsonl"
echo "queries: $OUT/queries.jsonl"
echo "qrels:   $OUT/qrels/test.tsv"
