#!/usr/bin/env bash
#! Install Swift 6.0.3 (Debian trixie's swiftlang package, XCTest included) into a debootstrap chroot
#! under .tools/swift-trixie: bookworm's glibc is too old for it. About 2 minutes and 2.6 GB on disk, once.
# Idempotent: a finished chroot carries a marker file and is left alone. Needs root (chroot).
set -euo pipefail
SDK_SCRIPT=setup-swift
# shellcheck source=scripts/sdk/sdk-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/sdk-tools.sh"
root="$sdk_root"
SUITE=trixie
SWIFT_VERSION=6.0.3
dir="$root/.tools/swift-$SUITE"
marker="$dir/.ember-swift-$SWIFT_VERSION"

if [ -f "$marker" ]; then
  echo "SWIFT_CHROOT=$dir"
  exit 0
fi
[ "$(id -u)" = 0 ] || { say "needs root (debootstrap and chroot)"; exit 1; }

apt_need debootstrap
# The chroot takes about 2.6 GB and dpkg needs room to unpack beside it: say so up front rather
# than fail halfway through apt-get with ENOSPC.
need_mb=3500
mkdir -p "$root/.tools"
free_mb="$(df -Pm "$root/.tools" | awk 'NR==2 {print $4}')"
[ "$free_mb" -ge "$need_mb" ] || die "the Swift chroot needs about $need_mb MB free under .tools/, the disk has $free_mb MB"
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || { say "this debootstrap does not know $SUITE"; exit 1; }

tmp="$dir.partial"
# A chroot left by an interrupted run may still have /proc mounted: unmount before deleting.
umount "$tmp/proc" 2>/dev/null || true
rm -rf --one-file-system "$tmp"
say "debootstrap $SUITE (minbase) into ${tmp#"$root"/}"
# No mirror argument: debootstrap's default Debian mirror, the same registry apt-get uses.
debootstrap --variant=minbase "$SUITE" "$tmp" >"$root/.tools/swift-debootstrap.log" 2>&1 || {
  tail -n 30 "$root/.tools/swift-debootstrap.log" >&2
  say "debootstrap failed (full log: .tools/swift-debootstrap.log)"
  exit 1
}
say "apt-get install swiftlang inside the chroot"
in_chroot() { chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# swift finds its libraries through $ORIGIN, which the loader resolves through /proc/self/exe.
mount -t proc proc "$tmp/proc"
trap 'umount "$tmp/proc" 2>/dev/null || true' EXIT
log="$root/.tools/swift-apt.log"
in_chroot apt-get update -qq >"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update in the chroot failed"; }
in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  swiftlang libc6-dev >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get install swiftlang failed"; }
in_chroot apt-get clean
found="$(in_chroot swift --version 2>&1 | head -n1 || true)"
case "$found" in
  *"Swift version $SWIFT_VERSION"*) say "$found" ;;
  *) say "expected Swift $SWIFT_VERSION from $SUITE's swiftlang, got: $found"; exit 1 ;;
esac
umount "$tmp/proc"
trap - EXIT
umount "$dir/proc" 2>/dev/null || true
rm -rf --one-file-system "$dir"
mv "$tmp" "$dir"
touch "$marker"
echo "SWIFT_CHROOT=$dir"
