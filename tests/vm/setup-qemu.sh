#!/usr/bin/env bash
# A newer QEMU (Debian 13 "trixie", QEMU 10) for the SR-IOV boots, without
# touching the host's apt sources or libraries (idempotent, cached):
#
#   1. host package debootstrap (if missing);
#   2. `debootstrap --variant=minbase trixie` into a private root, then
#      `apt-get install qemu-system-x86` inside it (chroot), `apt-get clean`;
#   3. the root is cached at
#        ${VFIOCTL_VM_CACHE:-/var/cache/vfioctl-vm}/trixie-qemu-<sha12(this recipe)>
#      and is complete once it holds .vfioctl-ready (the QEMU version).
#
# The harness runs the QEMU from that root WITHOUT chroot (so 9p can share host
# paths), through the root's own dynamic loader, inside `unshare -m` with the
# root's module directory bind-mounted over the host's (otherwise QEMU 10 would
# dlopen() the host's QEMU 7.2 modules; see sriov-real-kernel.md §1):
#   unshare -m sh -c 'mount --bind R/usr/lib/x86_64-linux-gnu/qemu /usr/lib/x86_64-linux-gnu/qemu; exec "$@"' \
#     sh R/lib64/ld-linux-x86-64.so.2 --library-path R/usr/lib/x86_64-linux-gnu R/usr/bin/qemu-system-x86_64 \
#     -L R/usr/share/qemu -L R/usr/share/seabios ...
#
# The last line on stdout is `QEMU_ROOT=<absolute path>`.
#
# Environment:
#   VFIOCTL_VM_CACHE       cache dir (default /var/cache/vfioctl-vm)
#   VFIOCTL_VM_MIRROR      Debian mirror (default: the host's, scripts/debian-mirror.sh)
#   VFIOCTL_VM_QEMU_SUITE  suite of the QEMU root (default trixie)
#   VFIOCTL_VM_NO_APT=1    never call apt-get install on the host
set -euo pipefail

main() {
T0=$(date +%s.%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VFIOCTL_VM_CACHE:-/var/cache/vfioctl-vm}
MIRROR=${VFIOCTL_VM_MIRROR:-$(bash "$HERE/../../scripts/debian-mirror.sh")}
SUITE=${VFIOCTL_VM_QEMU_SUITE:-trixie}
PKGS="qemu-system-x86"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf '[vm-qemu %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc 2>/dev/null || echo 0)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# the cache key: what the root is made of (suite + packages + this recipe's version)
RECIPE="v1 $SUITE $PKGS minbase"
KEY=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-12)
ROOT=$CACHE/$SUITE-qemu-$KEY
mkdir -p "$CACHE"
if [ -s "$ROOT/.vfioctl-ready" ]; then
    log "cached QEMU root: $ROOT ($(cat "$ROOT/.vfioctl-ready"))"
    echo "QEMU_ROOT=$ROOT"
    exit 0
fi

# host package: debootstrap
if ! dpkg-query -W -f='${Status}\n' debootstrap 2>/dev/null | grep -q '^install ok installed$'; then
    [ "${VFIOCTL_VM_NO_APT:-0}" = 1 ] && die "debootstrap is not installed (VFIOCTL_VM_NO_APT=1)"
    log "installing debootstrap on the host"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap >&2 \
        || { apt-get update -q >&2 && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap >&2; }
fi
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

exec 9>"$CACHE/.qemu-lock"
if ! flock -n 9; then
    log "waiting for another setup-qemu.sh holding $CACHE/.qemu-lock ..."
    flock 9
fi
if [ -s "$ROOT/.vfioctl-ready" ]; then
    echo "QEMU_ROOT=$ROOT"; exit 0
fi

WORK=$ROOT.tmp
rm -rf "$WORK"
cleanup() {
    for m in proc dev; do umount -l "$WORK/$m" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
t=$(date +%s.%N)
log "debootstrap --variant=minbase $SUITE from $MIRROR (about 25 s)"
if ! debootstrap --variant=minbase --keyring="$KEYRING" "$SUITE" "$WORK" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed (log $CACHE/debootstrap.log)"
fi
log "debootstrap done in $(echo "$(date +%s.%N) - $t" | bc) s"

t=$(date +%s.%N)
mount -t proc proc "$WORK/proc"
mount --bind /dev "$WORK/dev"
chroot "$WORK" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive HOME=/root \
    sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $PKGS && apt-get clean" >&2 \
    || die "apt-get install $PKGS in the $SUITE root failed"
umount "$WORK/proc" "$WORK/dev"
VER=$(chroot "$WORK" dpkg-query -W -f='${Version}' qemu-system-x86)
log "installed qemu-system-x86 $VER in $(echo "$(date +%s.%N) - $t" | bc) s"
rm -rf "$WORK"/var/lib/apt/lists/* "$WORK"/usr/share/doc "$WORK"/usr/share/man "$WORK"/usr/share/locale

# smoke test: the QEMU runs from the root without chroot and knows the igb device
R=$WORK
if ! unshare -m sh -c '[ -d /usr/lib/x86_64-linux-gnu/qemu ] && mount --bind "$0/usr/lib/x86_64-linux-gnu/qemu" /usr/lib/x86_64-linux-gnu/qemu; shift; exec "$@"' \
        "$R" x "$R/lib64/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu" "$R/usr/bin/qemu-system-x86_64" \
        -L "$R/usr/share/qemu" -L "$R/usr/share/seabios" -device help 2>&1 | grep -q '"igb"'; then
    die "the $SUITE QEMU does not run from $R or has no igb device"
fi
echo "qemu-system-x86 $VER" > "$WORK/.vfioctl-ready"
rm -rf "$ROOT"
mv "$WORK" "$ROOT"
trap - EXIT
# older roots of other recipes are garbage now
for old in "$CACHE"/*-qemu-*; do
    [ "$old" = "$ROOT" ] || case "$old" in *.tmp) ;; *) [ -d "$old" ] && rm -rf "$old" ;; esac
done
log "QEMU root ready: $ROOT ($(du -sh "$ROOT" | cut -f1)), total $(echo "$(date +%s.%N) - $T0" | bc) s"
echo "QEMU_ROOT=$ROOT"
}

main "$@"
exit $?
