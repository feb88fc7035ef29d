#!/usr/bin/env bash
# Assemble a >= 1,000,000-passage corpus of short real-text passages (BEIR
# layout) for index scale tests:
#
#   data/debian-1m/corpus.jsonl    {"_id","title","text"}, ~1.06M passages of ~105 B
#
# Usage: bash scripts/fetch/make-debian-1m.sh [--min-passages 1000000] [--update-lock]
#
# Passages: the sentences of data/debian-docs/corpus.jsonl (built first with
# scripts/fetch/make-debian-corpus.sh when missing), then one passage per
# definition of the dictionary packages below (WordNet glosses, GCIDE, FOLDOC,
# Jargon File, V.E.R.A.), each text kept once.  The dictionaries come only from
# Debian's archive through `apt-get download`, cached in data/.debs/ (gitignored)
# and unpacked there with `dpkg-deb -x`.  Exact versions and sha256 sums are
# pinned in scripts/fetch/debian-1m.lock, with the sha256 of the resulting
# corpus.jsonl; every .deb and the corpus are checked against it.  When the
# archive has moved on to a newer version, re-run with --update-lock to pin the
# current versions (and the new corpus sha256) and commit the lock.
#
# Idempotent: cached .debs and extractions are reused when their sha256 still
# matches; the same .debs always give a byte-identical corpus.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LOCK="$ROOT/scripts/fetch/debian-1m.lock"
CACHE="$ROOT/data/.debs"
DOCS="$ROOT/data/debian-docs/corpus.jsonl"
OUT="$ROOT/data/debian-1m"
HELPER="$ROOT/scripts/py/debian_1m.py"

# Output order after the debian-docs sentences; scripts/py/debian_1m.py knows
# how to read each package.
PACKAGES=(
  wordnet-base
  dict-gcide
  dict-foldoc
  dict-jargon
  dict-vera
)

MIN_PASSAGES=1000000
UPDATE_LOCK=0

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "make-debian-1m: error: $*" >&2; exit 1; }

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

# --- the sentence source: data/debian-docs -------------------------------------------
if [[ ! -s "$DOCS" ]]; then
  echo "$DOCS is missing: building it with scripts/fetch/make-debian-corpus.sh"
  bash "$ROOT/scripts/fetch/make-debian-corpus.sh" || die "make-debian-corpus.sh failed"
  [[ -s "$DOCS" ]] || die "make-debian-corpus.sh did not produce $DOCS"
fi

mkdir -p "$CACHE/extract" "$OUT"

REFRESH="bash scripts/fetch/make-debian-1m.sh --update-lock, then commit scripts/fetch/debian-1m.lock"
# shellcheck source=scripts/fetch/debs.sh
source "$ROOT/scripts/fetch/debs.sh"

# --- the lock ------------------------------------------------------------------
# Package lines: "package version sha256-of-.deb".  One comment line records the
# corpus: "# corpus.jsonl sha256 <hex> (<n> passages)".
read_lock
LOCK_CORPUS_SHA=""
if [[ $USE_LOCK -eq 1 ]]; then
  LOCK_CORPUS_SHA=$(sed -n 's/^# corpus\.jsonl sha256 \([0-9a-f]\{64\}\) .*/\1/p' "$LOCK" | head -n 1)
  [[ -n "$LOCK_CORPUS_SHA" ]] ||
    die "$LOCK has no '# corpus.jsonl sha256 <hex> (<n> passages)' line; refresh it: $REFRESH"
fi

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

# --- passages ----------------------------------------------------------------------
echo "building passages from debian-docs sentences and ${#PACKAGES[@]} dictionaries..."
status=0
python3 "$HELPER" --docs "$DOCS" --extract "$CACHE/extract" --out "$OUT" \
  --min-passages "$MIN_PASSAGES" --packages "${SPECS[@]}" || status=$?
[[ $status -eq 0 ]] || die "corpus build failed (exit $status)"

CORPUS="$OUT/corpus.jsonl"
n=$(wc -l < "$CORPUS")
corpus_sha=$(sha256sum "$CORPUS" | awk '{print $1}')
echo "corpus.jsonl:     $CORPUS"
echo "sha256:           $corpus_sha"
echo "wall time:        $(( $(date +%s) - START )) s"

if [[ $USE_LOCK -eq 0 ]]; then
  {
    echo "# Dictionary packages behind data/debian-1m (scripts/fetch/make-debian-1m.sh); the sentences come from data/debian-docs (scripts/fetch/debian-corpus.lock)."
    echo "# package version sha256-of-.deb; refresh with: bash scripts/fetch/make-debian-1m.sh --update-lock"
    echo "# corpus.jsonl sha256 $corpus_sha ($n passages)"
    printf '%s\n' "${LOCK_LINES[@]}"
  } > "$LOCK.tmp"
  mv -- "$LOCK.tmp" "$LOCK"
  echo "wrote $LOCK"
elif [[ "$corpus_sha" != "$LOCK_CORPUS_SHA" ]]; then
  die "corpus.jsonl sha256 mismatch: lock says $LOCK_CORPUS_SHA, the build gave $corpus_sha ($n passages)." \
      "The .debs matched the lock, so data/debian-docs/corpus.jsonl (scripts/fetch/debian-corpus.lock) or" \
      "scripts/py/debian_1m.py changed.  If that is intended, re-run with --update-lock and commit scripts/fetch/debian-1m.lock"
else
  echo "corpus sha256 matches $LOCK"
fi
