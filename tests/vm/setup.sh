#!/usr/bin/env bash
# Prepare everything the real-kernel VM tests need (idempotent):
#   1. host packages (qemu-system-x86, busybox-static, cpio, kernel build deps);
#   2. linux-source-6.12 from bookworm-backports, fetched through a *private*
#      APT_CONFIG (the host's apt sources are never touched);
#   3. a bzImage built from `tinyconfig` + tests/vm/kernel.fragment, cached at
#        ${VFIOCTL_VM_CACHE:-/var/cache/vfioctl-vm}/bzImage-<source version>-<sha256(fragment)[:12]>
# Reruns skip the download and the build when the cached bzImage exists.
#
# The last line on stdout is always `BZIMAGE=<absolute path>` (the harness parses it).
#
# Environment:
#   VFIOCTL_VM_CACHE   cache dir (default /var/cache/vfioctl-vm)
#   VFIOCTL_VM_JOBS    make -j (default: nproc + 1)
#   VFIOCTL_VM_MIRROR  Debian mirror (default: the one the host's apt uses, scripts/debian-mirror.sh)
#   VFIOCTL_VM_SUITE   suite holding linux-source-6.12 (default bookworm-backports)
#   VFIOCTL_VM_SRCPKG  source package (default linux-source-6.12; the newer kernel:
#                      linux-source-7.3 from trixie-backports, see tests/vm/README.md)
#   VFIOCTL_VM_NO_APT=1  never call apt-get install (fail if packages are missing)
set -euo pipefail

# The whole body is a function so that editing this file while it runs is harmless.
main() {
T0=$(date +%s.%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRAGMENT=$HERE/kernel.fragment
CACHE=${VFIOCTL_VM_CACHE:-/var/cache/vfioctl-vm}
JOBS=${VFIOCTL_VM_JOBS:-$(( $(nproc) + 1 ))}
MIRROR=${VFIOCTL_VM_MIRROR:-$(bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/debian-mirror.sh")}
SUITE=${VFIOCTL_VM_SUITE:-bookworm-backports}
SRCPKG=${VFIOCTL_VM_SRCPKG:-linux-source-6.12}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { printf '[vm-setup %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc 2>/dev/null || echo 0)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { echo "$(date +%s.%N) - $1" | bc; }

SUDO=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
fi

# ---------------------------------------------------------------- 1. host packages
HOST_PKGS="qemu-system-x86 busybox-static cpio gcc libc6-dev bc bison flex libelf-dev make xz-utils kmod"
missing=()
for p in $HOST_PKGS; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "${VFIOCTL_VM_NO_APT:-0}" = 1 ] && die "missing host packages: ${missing[*]} (VFIOCTL_VM_NO_APT=1)"
    t=$(date +%s.%N)
    log "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q >&2
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    log "host packages installed in $(elapsed "$t") s"
else
    log "host packages already installed"
fi

# ---------------------------------------------------------------- 2. cache key
FRAG_HASH=$(sha256sum "$FRAGMENT" | cut -c1-12)
mkdir -p "$CACHE" 2>/dev/null || { $SUDO mkdir -p "$CACHE" && $SUDO chown "$(id -u):$(id -g)" "$CACHE"; }
[ -w "$CACHE" ] || die "cache dir $CACHE is not writable (set VFIOCTL_VM_CACHE)"

# one setup at a time per cache dir (parallel pytest sessions, CI matrix jobs)
# (another source package builds under its own lock and apt state: no waiting on each other)
LOCKSUF= ; [ "$SRCPKG" = linux-source-6.12 ] || LOCKSUF=-$SRCPKG
exec 9>"$CACHE/.lock$LOCKSUF"
if ! flock -n 9; then
    log "waiting for another setup.sh holding $CACHE/.lock ..."
    flock 9
fi

APTDIR=$CACHE/apt$LOCKSUF
. "$HERE/private-apt.sh"
private_apt "$APTDIR" "$MIRROR" "$SUITE" "$KEYRING"

VERSION=
t=$(date +%s.%N)
if timeout 120 apt-get update -q -o Debug::NoLocking=1 >&2; then
    VERSION=$(apt-cache show "$SRCPKG" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1 || true)
    log "private apt-get update ($SUITE) took $(elapsed "$t") s; $SRCPKG candidate: ${VERSION:-none}"
else
    log "WARNING: private apt-get update failed; falling back to any cached bzImage for this fragment"
fi

if [ -z "$VERSION" ]; then
    # a newer source package's key also covers kernel-newer.fragment (see below): never
    # fall back to the 6.12 kernel when the newer one was asked for
    if [ "$SRCPKG" != linux-source-6.12 ]; then
        FRAG_HASH=$(cat "$FRAGMENT" "$HERE/kernel-newer.fragment" | sha256sum | cut -c1-12)
    fi
    cached=$(ls -1t "$CACHE"/bzImage-*-"$FRAG_HASH" 2>/dev/null | head -n1 || true)
    [ -n "$cached" ] || die "cannot determine $SRCPKG version and no cached bzImage-*-$FRAG_HASH in $CACHE"
    log "using cached $cached"
    echo "BZIMAGE=$cached"
    exit 0
fi

# kernels >= 6.17 also get kernel-newer.fragment (renamed options); their key covers both
case "$VERSION" in
    6.1[7-9]*|6.[2-9][0-9]*|[7-9].*)
        cat "$FRAGMENT" "$HERE/kernel-newer.fragment" > "$CACHE/.fragment-$SRCPKG"
        FRAGMENT=$CACHE/.fragment-$SRCPKG
        FRAG_HASH=$(sha256sum "$FRAGMENT" | cut -c1-12) ;;
esac
BZ=$CACHE/bzImage-$VERSION-$FRAG_HASH
if [ -s "$BZ" ]; then
    log "cached kernel present: $BZ (no download, no build)"
    echo "BZIMAGE=$BZ"
    exit 0
fi

# ---------------------------------------------------------------- 3. download + unpack
t=$(date +%s.%N)
( cd "$APTDIR/debs" && rm -f ./*.deb && apt-get download -q -o Debug::NoLocking=1 "$SRCPKG=$VERSION" >&2 )
DEB=$(ls -1 "$APTDIR"/debs/*.deb | head -n1)
log "downloaded $(basename "$DEB") ($(du -h "$DEB" | cut -f1)) in $(elapsed "$t") s"

WORK=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

t=$(date +%s.%N)
dpkg -x "$DEB" "$WORK/pkg"
TARBALL=$(ls -1 "$WORK"/pkg/usr/src/linux-source-*.tar.* | head -n1)
[ -n "$TARBALL" ] || die "no source tarball in $DEB"
mkdir -p "$WORK/src"
tar -xf "$TARBALL" -C "$WORK/src" --strip-components=1
rm -rf "$WORK/pkg" "$DEB"
log "unpacked source in $(elapsed "$t") s"

# ---------------------------------------------------------------- 4. configure + build
t=$(date +%s.%N)
cd "$WORK/src"
export ARCH=x86_64
if ! { make -s ARCH=x86_64 tinyconfig && scripts/kconfig/merge_config.sh -m -O . .config "$FRAGMENT" \
        && make -s ARCH=x86_64 olddefconfig; } > "$WORK/config.log" 2>&1; then
    tail -n 40 "$WORK/config.log" >&2
    die "kernel configuration failed"
fi
# every option in the fragment must have survived olddefconfig
bad=0
while IFS= read -r line; do
    case "$line" in
        CONFIG_*=*)
            if ! grep -qxF "$line" .config && opt=${line%%=*} \
                    && ! grep -rqsx --include='Kconfig*' "config ${opt#CONFIG_}" . ; then
                log "config option $opt does not exist in $SRCPKG $VERSION (renamed or gone): skipped"
            elif ! grep -qxF "$line" .config; then
                log "config option not applied: $line (have: $(grep -E "^(# )?${line%%=*}[= ]" .config || echo absent))"
                bad=1
            fi ;;
        "# CONFIG_"*" is not set")
            opt=${line#\# }; opt=${opt%% *}
            if grep -q "^$opt=" .config; then log "config option not unset: $opt"; bad=1; fi ;;
    esac
done < "$FRAGMENT"
[ "$bad" = 0 ] || die "kernel.fragment does not apply cleanly to $SRCPKG $VERSION"
log "configured in $(elapsed "$t") s"

t=$(date +%s.%N)
log "building bzImage with -j$JOBS (takes ~4.5 min on 2 cores) ..."
if ! make ARCH=x86_64 -j"$JOBS" bzImage > "$WORK/build.log" 2>&1; then
    tail -n 60 "$WORK/build.log" >&2
    die "kernel build failed"
fi
cp arch/x86/boot/bzImage "$BZ.tmp"
cp .config "$BZ.config"
mv -f "$BZ.tmp" "$BZ"
log "kernel built in $(elapsed "$t") s: $BZ ($(du -h "$BZ" | cut -f1))"

cd /
rm -rf "$WORK"
trap - EXIT
log "total $(elapsed "$T0") s"
echo "BZIMAGE=$BZ"
}

main "$@"
exit $?
