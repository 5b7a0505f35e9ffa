#!/usr/bin/env bash
# A stock Debian kernel for the VM tests (idempotent, cached): the distribution's
# own linux-image-<version>-amd64 from trixie, unpacked (never installed), with
# VFIO built as modules and no IOMMUFD (so no cdev, no /dev/iommu, no noiommu):
# the legacy group path and vfioctl's "no cdev" answers, judged by a real
# distribution kernel.
#
#   $CACHE/stock-<version>/vmlinuz
#   $CACHE/stock-<version>/modules/*.ko     (decompressed from .ko.xz)
#   $CACHE/stock-<version>/modules.list     (load order for the guest's /init)
#   $CACHE/stock-<version>/config           (the package's config, for the record)
#
# Fetched through a private APT_CONFIG ($CACHE/apt-stock), like setup.sh.  The
# last stdout line is `STOCK=<dir>`.
#
# Environment: VFIOCTL_VM_CACHE, VFIOCTL_VM_MIRROR, VFIOCTL_VM_STOCK_SUITE (default trixie)
set -euo pipefail

main() {
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VFIOCTL_VM_CACHE:-/var/cache/vfioctl-vm}
MIRROR=${VFIOCTL_VM_MIRROR:-$(bash "$HERE/../../scripts/debian-mirror.sh")}
SUITE=${VFIOCTL_VM_STOCK_SUITE:-trixie}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# load order (dependencies first); the names as in lib/modules/<v>/kernel/**
MODULES="irqbypass vfio vfio_iommu_type1 vfio-pci-core vfio-pci netfs 9pnet 9pnet_virtio 9p"

log() { echo "[vm-stock] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-stock"
flock 9

APTDIR=$CACHE/apt-stock
. "$HERE/private-apt.sh"
private_apt "$APTDIR" "$MIRROR" "$SUITE" "$KEYRING"

PKG=
if timeout 120 apt-get update -q -o Debug::NoLocking=1 >&2; then
    # the package the linux-image-amd64 meta package points at
    PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
fi
if [ -z "$PKG" ]; then
    cached=$(ls -1dt "$CACHE"/stock-*/ 2>/dev/null | head -n1 || true)
    [ -n "$cached" ] && [ -s "$cached/vmlinuz" ] || die "no stock kernel package found and none cached"
    echo "STOCK=${cached%/}"; exit 0
fi
VER=${PKG#linux-image-}
OUT=$CACHE/stock-$VER
if [ -s "$OUT/modules.list" ]; then
    log "cached: $OUT"; echo "STOCK=$OUT"; exit 0
fi
log "fetching $PKG ($SUITE)"
( cd "$APTDIR/debs" && rm -f ./*.deb && apt-get download -q -o Debug::NoLocking=1 "$PKG" >&2 )
DEB=$(ls -1 "$APTDIR"/debs/*.deb | head -n1)
WORK=$(mktemp -d "$CACHE/stock.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
dpkg -x "$DEB" "$WORK/x"
rm -f "$DEB"
mkdir -p "$WORK/out/modules"
cp "$WORK"/x/boot/vmlinuz-* "$WORK/out/vmlinuz"
cp "$WORK"/x/boot/config-* "$WORK/out/config" 2>/dev/null || true
: > "$WORK/out/modules.list"
for m in $MODULES; do
    f=$(find "$WORK/x" -name "$m.ko*" | head -n1)
    [ -n "$f" ] || die "module $m not in $PKG"
    case "$f" in
        *.xz) xz -dc "$f" > "$WORK/out/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" > "$WORK/out/modules/$m.ko" ;;
        *) cp "$f" "$WORK/out/modules/$m.ko" ;;
    esac
    echo "$m.ko" >> "$WORK/out/modules.list"
done
grep -E '^(# )?CONFIG_(IOMMUFD|VFIO_DEVICE_CDEV|VFIO_NOIOMMU|VFIO|VFIO_PCI)[= ]' "$WORK/out/config" >&2 || true
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
log "stock kernel ready: $OUT ($(du -sh "$OUT" | cut -f1))"
echo "STOCK=$OUT"
}

main "$@"
exit $?
