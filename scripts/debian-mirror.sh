#!/usr/bin/env bash
# Print the Debian archive URI this host's apt already uses for bookworm, so
# the test scripts fetch linux-source/linux-libc-dev from the same place
# without naming any host in the repository.  $VFIOCTL_DEBIAN_MIRROR overrides.
set -euo pipefail
if [[ -n "${VFIOCTL_DEBIAN_MIRROR:-}" ]]; then echo "$VFIOCTL_DEBIAN_MIRROR"; exit 0; fi
mirror=""
# deb822 *.sources: a stanza whose Suites include "bookworm"
for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    mirror="$(awk '
        BEGIN { RS=""; FS="\n" }
        {
            uri=""; suites=""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri=u[1] }
                if ($i ~ /^Suites:/) { suites=" " $i " " }
            }
            if (uri != "" && suites ~ /[ \t]bookworm[ \t]/ && uri !~ /security/) { print uri; exit }
        }' "$f")"
    [[ -n "$mirror" ]] && break
done
# one-line format: deb [opts] URI bookworm main
[[ -n "$mirror" ]] || for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    mirror="$(sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" && $2 !~ /security/ { print $2; exit }')"
    [[ -n "$mirror" ]] && break
done
if [[ -z "$mirror" ]]; then
    echo "no Debian archive URI for 'bookworm' in the host's apt sources; set VFIOCTL_DEBIAN_MIRROR" >&2
    exit 1
fi
echo "$mirror"
