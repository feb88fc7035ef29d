#!/usr/bin/env bash
# Assemble a real-text retrieval corpus (BEIR layout) from Debian documentation
# packages:
#
#   data/debian-docs/corpus.jsonl    {"_id","title","text"}, >= 100k passages of ~0.9 KB
#   data/debian-docs/queries.jsonl   {"_id","text"}, 500 section headings (not passages)
#   data/debian-docs/qrels/test.tsv  query-id, corpus-id, score (a heading's own section)
#
# Usage: bash scripts/fetch/make-debian-corpus.sh [--min-passages 100000] [--update-lock]
#
# Packages come only from Debian's archive through `apt-get download`, cached
# in data/.debs/ (gitignored) and unpacked there with `dpkg-deb -x`.  Exact
# versions and sha256 sums are pinned in scripts/fetch/debian-corpus.lock; every .deb
# is checked against it.  When the archive has moved on to a newer version (a
# point release or security update), the pinned one can no longer be fetched:
# re-run with --update-lock to pin the current versions and commit the lock.
#
# Idempotent: cached .debs and extractions are reused when their sha256 still
# matches; the same .debs always give a byte-identical corpus.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCK="$ROOT/scripts/fetch/debian-corpus.lock"
CACHE="$ROOT/data/.debs"
OUT="$ROOT/data/debian-docs"
HELPER="$ROOT/scripts/py/debian_corpus.py"

# Output order of the corpus; scripts/py/debian_corpus.py knows where each
# package keeps its documents.
PACKAGES=(
  python3.11-doc
  postgresql-doc-15
  python-django-doc
  python-sqlalchemy-doc
  sphinx-doc
  perl-doc
  manpages
  manpages-dev
  bash-doc
  zsh-doc
  git-doc
  debian-reference-en
  debian-policy
  debian-handbook
  linux-doc-6.1
  llvm-15-doc
  sqlite3-doc
  qtbase5-doc-html
  cmake-doc
  nodejs-doc
  apache2-doc
  erlang-doc
  octave-doc
  libreoffice-help-en-us
)

MIN_PASSAGES=100000
UPDATE_LOCK=0

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "make-debian-corpus: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --min-passages) [[ $# -ge 2 ]] || die "--min-passages needs a number"; MIN_PASSAGES=$2; shift 2 ;;
    --min-passages=*) MIN_PASSAGES=${1#*=}; shift ;;
    --update-lock) UPDATE_LOCK=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$MIN_PASSAGES" =~ ^[0-9]+$ ]] || die "--min-passages must be a number, got '$MIN_PASSAGES'"

for tool in apt-get apt-cache dpkg-deb sha256sum python3; do
  command -v "$tool" >/dev/null || die "$tool not found (this script needs a Debian system)"
done

START=$(date +%s)
mkdir -p "$CACHE/extract" "$OUT"

REFRESH="bash scripts/fetch/make-debian-corpus.sh --update-lock, then commit scripts/fetch/debian-corpus.lock"
# shellcheck source=scripts/fetch/debs.sh
source "$ROOT/scripts/fetch/debs.sh"

# --- the lock ------------------------------------------------------------------
read_lock

# --- download, verify, extract ---------------------------------------------------
LOCK_LINES=()
SPECS=()
for pkg in "${PACKAGES[@]}"; do
  fetch_deb "$pkg"
  deb=$DEB ver=$VER sha=$SHA
  extract_cached "$pkg" "$deb" "$sha"
  LOCK_LINES+=("$pkg $ver $sha")
  SPECS+=("$pkg=$ver")
done

if [[ $USE_LOCK -eq 0 ]]; then
  {
    echo "# Debian documentation packages behind data/debian-docs (scripts/fetch/make-debian-corpus.sh)."
    echo "# package version sha256-of-.deb; refresh with: bash scripts/fetch/make-debian-corpus.sh --update-lock"
    printf '%s\n' "${LOCK_LINES[@]}"
  } > "$LOCK.tmp"
  mv -- "$LOCK.tmp" "$LOCK"
  echo "wrote $LOCK"
fi

# --- text, passages, queries -------------------------------------------------------
echo "building passages from ${#PACKAGES[@]} packages..."
status=0
python3 "$HELPER" --extract "$CACHE/extract" --out "$OUT" \
  --min-passages "$MIN_PASSAGES" --packages "${SPECS[@]}" || status=$?

echo "wall time:        $(( $(date +%s) - START )) s"
[[ $status -eq 0 ]] || die "corpus build failed (exit $status)"
echo "corpus:  $OUT/corpus.jsonl"
echo "queries: $OUT/queries.jsonl"
echo "qrels:   $OUT/qrels/test.tsv"
