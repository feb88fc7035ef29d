# Fetching pinned Debian packages, shared by the corpus scripts (sourced, not run).
#
# The caller defines die(), and sets LOCK (its lock file: "package version sha256-of-.deb" lines),
# UPDATE_LOCK, PACKAGES, CACHE (where .debs are kept) and REFRESH (how to refresh its lock, for
# error messages). read_lock fills USE_LOCK and LOCK_VER / LOCK_SHA; fetch_deb PKG then sets DEB
# (the verified .deb), VER and SHA.

# apt runs its downloads as the _apt user, which cannot write into the work
# tree; as root, download directly (what apt falls back to anyway, minus the warning).
APT_OPTS=(-q)
[[ $EUID -eq 0 ]] && APT_OPTS+=(-o APT::Sandbox::User=root)

# Pinned versions and sha256 sums from $LOCK (USE_LOCK=1), unless it is missing or being updated.
declare -A LOCK_VER=() LOCK_SHA=()
USE_LOCK=0
read_lock() {
  local pkg ver sha rest
  if [[ -f "$LOCK" && $UPDATE_LOCK -eq 0 ]]; then
    USE_LOCK=1
    while read -r pkg ver sha rest; do
      [[ -z "$pkg" || "$pkg" == \#* ]] && continue
      [[ -n "$sha" && -z "$rest" ]] || die "malformed line in $LOCK: '$pkg $ver $sha $rest'"
      [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "bad sha256 for $pkg in $LOCK: '$sha'"
      LOCK_VER[$pkg]=$ver
      LOCK_SHA[$pkg]=$sha
    done < "$LOCK"
    for pkg in "${PACKAGES[@]}"; do
      [[ -n "${LOCK_VER[$pkg]:-}" ]] || die "$pkg is not in $LOCK; refresh it: $REFRESH"
    done
  elif [[ ! -f "$LOCK" ]]; then
    echo "no lock file yet: pinning the archive's current versions in $LOCK"
  fi
}

APT_UPDATED=0
candidate() {  # candidate version of a package in the local apt lists, or empty
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '^(none)$' || true
}
ensure_apt_lists() {  # run `apt-get update` once, only when the lists lack our packages
  [[ $APT_UPDATED -eq 1 ]] && return 0
  if [[ -z "$(candidate "$1")" ]]; then
    echo "apt lists do not know $1: running apt-get update"
    if [[ $EUID -eq 0 ]]; then apt-get update -qq; else sudo apt-get update -qq; fi
  fi
  APT_UPDATED=1
}

# The .deb of PKG at its locked version (or the archive's current one without a lock), from the
# cache or downloaded, checked against the lock's sha256 and its own control fields.
fetch_deb() {
  local pkg=$1 enc now got
  if [[ $USE_LOCK -eq 1 ]]; then
    VER=${LOCK_VER[$pkg]}
  else
    ensure_apt_lists "$pkg"
    VER=$(candidate "$pkg")
    [[ -n "$VER" ]] || die "apt has no candidate version of $pkg"
  fi
  enc=${VER//:/%3a}   # apt-get download writes an epoch's ':' as %3a
  DEB=$(compgen -G "$CACHE/${pkg}_${enc}_*.deb" | head -n 1 || true)
  if [[ -z "$DEB" ]]; then
    ensure_apt_lists "$pkg"
    echo "downloading $pkg=$VER"
    if ! (cd "$CACHE" && apt-get download "${APT_OPTS[@]}" "$pkg=$VER"); then
      if [[ $USE_LOCK -eq 1 ]]; then
        now=$(candidate "$pkg")
        die "cannot download locked $pkg=$VER (the archive now offers ${now:-no version})." \
            "Refresh the lock: $REFRESH"
      fi
      die "apt-get download $pkg=$VER failed"
    fi
    DEB=$(compgen -G "$CACHE/${pkg}_${enc}_*.deb" | head -n 1 || true)
    [[ -n "$DEB" ]] || die "apt-get download $pkg=$VER left no ${pkg}_${enc}_*.deb in $CACHE"
  fi
  SHA=$(sha256sum "$DEB" | awk '{print $1}')
  if [[ $USE_LOCK -eq 1 && "$SHA" != "${LOCK_SHA[$pkg]}" ]]; then
    die "sha256 mismatch for $(basename "$DEB"):" \
        "lock says ${LOCK_SHA[$pkg]}, file has $SHA." \
        "Delete the file to fetch it again; if the archive really changed it, refresh the lock with --update-lock"
  fi
  got=$(dpkg-deb -f "$DEB" Package Version | awk '{print $2}' | paste -sd' ')
  [[ "$got" == "$pkg $VER" ]] || die "$(basename "$DEB") is '$got', expected '$pkg $VER'"
}

# Unpack DEB (of PKG, with sha256 SHA) into $CACHE/extract/PKG unless already there, dropping cached
# .debs of PKG's other versions.
extract_cached() {
  local pkg=$1 deb=$2 sha=$3 old dir
  for old in "$CACHE/${pkg}"_*.deb; do
    [[ "$old" == "$deb" ]] || rm -f -- "$old"
  done
  dir="$CACHE/extract/$pkg"
  if [[ "$(cat "$dir/.sha256" 2>/dev/null || true)" != "$sha" ]]; then
    echo "extracting $(basename "$deb")"
    rm -rf -- "$dir"
    mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    echo "$sha" > "$dir/.sha256"
  fi
}
