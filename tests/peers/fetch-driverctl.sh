#!/usr/bin/env bash
# Unpack Debian's driverctl package (not installed: nothing lands in /etc, /lib/udev
# or systemd) into tests/peers/.cache/driverctl, for tests/test_driverctl.py.
# Idempotent; prints the path of the driverctl script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/.cache/driverctl"
if [ ! -x "$dest/usr/sbin/driverctl" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    (cd "$tmp" && apt-get download -q driverctl >/dev/null 2>&1 || {
        apt-get update -qq && apt-get download -q driverctl >/dev/null 2>&1; })
    deb=$(ls "$tmp"/driverctl_*.deb)
    rm -rf "$dest"
    mkdir -p "$dest"
    dpkg-deb -x "$deb" "$dest"
    basename "$deb" > "$dest/VERSION"
fi
echo "$dest/usr/sbin/driverctl"
