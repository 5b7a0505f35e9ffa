"""Features -> a Node Feature Discovery ``local`` source features file.

Format and limits (node-feature-discovery ``source/local/local.go``,
``pkg/apis/nfd/validate``; binding-host-fleet.md D.5): one ``name=value`` per
line; ``# +expiry-time=<RFC3339>`` applies to every following line (so a file
left behind by a dead timer expires); ``# +no-label`` applies to the next line
only; names are qualified (``prefix/name``, name at most 63 characters of
``[A-Za-z0-9._-]`` with alphanumeric ends, prefix a DNS subdomain of at most
253); values at most 63 characters of the label-value charset; the file at
most 65536 bytes.
"""

from __future__ import annotations

import re
import time

MAX_FILE_SIZE = 65536
NAME_PART = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)\Z")
PREFIX_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\Z")
VALUE_RE = re.compile(r"(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


def check_feature(name: str, value: str) -> str | None:
    """None when NFD accepts ``name=value`` as a label, else why not."""
    prefix, sep, part = name.rpartition("/")
    if not sep:
        return f"{name!r} is not qualified (prefix/name)"
    if len(prefix) > 253 or not PREFIX_RE.match(prefix):
        return f"prefix {prefix!r} is not a DNS subdomain of at most 253 characters"
    if prefix == "kubernetes.io" or prefix.endswith(".kubernetes.io"):
        if not (prefix.endswith("feature.node.kubernetes.io")
                or prefix.endswith("profile.node.kubernetes.io")):
            return f"prefix {prefix!r} is in the denied kubernetes.io namespace"
    if len(part) > 63 or not NAME_PART.match(part):
        return f"name {part!r} is not 1-63 characters of [A-Za-z0-9._-] with alphanumeric ends"
    if len(value) > 63 or not VALUE_RE.match(value):
        return f"value {value!r} is not a label value of at most 63 characters"
    return None


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def render(features, *, expires: float) -> str:
    """Features (``vfioctl.ops.export.Feature``) -> the file's text."""
    lines = ["# written by vfioctl export --nfd; stale after the expiry below",
             f"# +expiry-time={rfc3339(expires)}"]
    for f in features:
        bad = check_feature(f.name, f.value)
        if bad:
            raise ValueError(bad)
        if not f.label:
            lines.append("# +no-label")
        lines.append(f"{f.name}={f.value}")
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > MAX_FILE_SIZE:
        raise ValueError(f"features file of {len(text.encode())} bytes exceeds {MAX_FILE_SIZE}")
    return text
