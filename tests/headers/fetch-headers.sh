#!/usr/bin/env bash
# Fetch the 6.12 kernel UAPI headers (linux-libc-dev from bookworm-backports)
# into a cache directory, without touching the host's apt configuration.
#
# Why: the distro linux-libc-dev on bookworm is 6.1, which predates the 6.6
# cdev/iommufd uAPI (VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_[AT|DE]TACH_IOMMUFD_PT,
# VFIO_PCI_HOT_RESET_FLAG_DEV_ID*, VFIO_PCI_DEVID_*).  tests/test_uapi.py
# compiles a probe against these headers and compares every request number,
# constant, sizeof and offsetof with vfioctl/kernel/uapi.py.
#
# How: a private APT_CONFIG (own apt.conf + sources.list + state/cache dirs in a
# scratch directory, stock keyring /usr/share/keyrings/debian-archive-keyring.gpg),
# `apt-get update` of bookworm-backports only, `apt-get download
# linux-libc-dev/bookworm-backports`, `dpkg -x` into
#   ${VFIOCTL_HEADERS_CACHE:-/var/cache/vfioctl-headers}/linux-libc-dev-<version>
# (falling back to ~/.cache/vfioctl-headers when /var/cache is not writable).
# The package is Architecture: all: usr/include/<triplet>/asm exists for every
# Debian architecture, so compile with -I<dir> -I<dir>/$(gcc -print-multiarch).
# The host's /etc/apt sources, lists and dpkg status are never written.
#
# The archive address is not hard-coded: it is taken from the host's own apt
# sources (the URI that serves the "bookworm" suite), or from
# $VFIOCTL_DEBIAN_MIRROR if set.
#
# Idempotent and fast when cached: if a complete unpacked tree exists it is
# reused without any network access (set VFIOCTL_HEADERS_REFRESH=1 to look for
# a newer version).  On success the LAST line of stdout is the include
# directory (…/usr/include); progress goes to stderr.  Exit 0 on success,
# non-zero with a message on failure.
set -euo pipefail

if [[ -n "${VFIOCTL_HEADERS_CACHE:-}" ]]; then
    CACHE="$VFIOCTL_HEADERS_CACHE"
elif [[ -d /var/cache/vfioctl-headers ]] || mkdir -p /var/cache/vfioctl-headers 2>/dev/null; then
    CACHE=/var/cache/vfioctl-headers
else  # not root: a per-user cache
    CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/vfioctl-headers"
fi
SUITE="${VFIOCTL_HEADERS_SUITE:-bookworm-backports}"
KEYRING="${VFIOCTL_HEADERS_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"

log() { printf 'fetch-headers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A tree is complete once the marker file written after a successful unpack exists.
complete_tree() {
    local d
    for d in "$CACHE"/linux-libc-dev-*/; do
        [[ -f "${d}.complete" && -f "${d}usr/include/linux/vfio.h" && -f "${d}usr/include/linux/iommufd.h" ]] || continue
        printf '%s\n' "${d%/}"
    done | sort -V | tail -n 1
}

if [[ "${VFIOCTL_HEADERS_REFRESH:-0}" != 1 ]]; then
    have="$(complete_tree || true)"
    if [[ -n "$have" ]]; then
        log "cached: $have"
        printf '%s\n' "$have/usr/include"
        exit 0
    fi
fi

command -v apt-get >/dev/null || die "apt-get not found (not a Debian-like host)"
command -v dpkg >/dev/null || die "dpkg not found"
[[ -r "$KEYRING" ]] || die "keyring $KEYRING not readable (package debian-archive-keyring)"

# --- archive address: from the environment, else from the host's sources ----
mirror="$(bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/debian-mirror.sh")" \
    || die "no Debian archive URI for 'bookworm' in the host's apt sources; set VFIOCTL_DEBIAN_MIRROR"

# --- private apt configuration in a scratch dir ------------------------------
scratch="$(mktemp -d "${TMPDIR:-/tmp}/vfioctl-apt.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/etc/sources.list.d" "$scratch/etc/preferences.d" \
         "$scratch/state/lists/partial" "$scratch/cache/archives/partial" "$scratch/dl"
: > "$scratch/state/status"
printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$mirror" "$SUITE" > "$scratch/etc/sources.list"
cat > "$scratch/apt.conf" <<EOF
Dir::Etc::SourceList "$scratch/etc/sources.list";
Dir::Etc::SourceParts "$scratch/etc/sources.list.d";
Dir::Etc::PreferencesParts "$scratch/etc/preferences.d";
Dir::State "$scratch/state";
Dir::State::Lists "$scratch/state/lists";
Dir::State::status "$scratch/state/status";
Dir::Cache "$scratch/cache";
Dir::Cache::Archives "$scratch/cache/archives";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
APT::Get::List-Cleanup "false";
Acquire::Languages "none";
Debug::NoLocking "true";
EOF
export APT_CONFIG="$scratch/apt.conf"

log "apt-get update ($SUITE, private APT_CONFIG)"
apt-get -q -o APT::Sandbox::User=root update >"$scratch/update.log" 2>&1 \
    || { cat "$scratch/update.log" >&2; die "apt-get update failed"; }

ver="$(apt-cache policy "linux-libc-dev" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
[[ -n "$ver" && "$ver" != "(none)" ]] || die "no linux-libc-dev candidate in $SUITE"
dest="$CACHE/linux-libc-dev-$ver"
if [[ -f "$dest/.complete" ]]; then
    log "cached: $dest"
    printf '%s\n' "$dest/usr/include"
    exit 0
fi

log "apt-get download linux-libc-dev=$ver"
( cd "$scratch/dl" && apt-get -q -o APT::Sandbox::User=root download "linux-libc-dev=$ver" ) >&2 \
    || die "apt-get download failed"
deb="$(ls "$scratch"/dl/linux-libc-dev_*.deb 2>/dev/null | head -n 1)"
[[ -n "$deb" ]] || die "download produced no .deb"

mkdir -p "$CACHE"
tmpdest="$(mktemp -d "$CACHE/.unpack.XXXXXX")"
dpkg -x "$deb" "$tmpdest"
[[ -f "$tmpdest/usr/include/linux/vfio.h" ]] || { rm -rf "$tmpdest"; die "unpacked tree has no linux/vfio.h"; }
printf '%s\n' "$ver" > "$tmpdest/.complete"
rm -rf "$dest"
mv "$tmpdest" "$dest"
chmod 755 "$dest"
log "unpacked: $dest"
printf '%s\n' "$dest/usr/include"
