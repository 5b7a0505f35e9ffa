"""Generate ``vfioctl-1.schema.json`` from the vfioctl-json(5) tables.

Type notation of the tables (see :func:`vfioctl.buildtools.manpage.parse_type`):
``string``, ``integer``, ``boolean``, ``number``, ``null``, ``object`` (its
members follow as ``name.member`` rows), ``T[]``, ``map<T>`` (keys are PCI
addresses), ``{NAME}`` (an object of the OBJECTS table), alternatives with
``|``.  A field is *required* unless its meaning says it is not always there:
it starts with "Optional", "Only", "Not in", "<case> only:" or
"<access mode> mode:", or says
"present when/on/only ...".

    python -m vfioctl.schemas.generate --write   # rewrite the shipped file
    python -m vfioctl.schemas.generate           # print it
"""

from __future__ import annotations

import copy
import json
import re
import sys

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:vfioctl:json-schema:vfioctl-1"
OPTIONAL = re.compile(r"^(Optional\b|Only\b|Not in\b|[A-Za-z -]{1,30} only:|[A-Za-z-]+ mode:)|\b[Pp]resent (when|on|only)\b")
ADDRESS_PATTERN = r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$"


def _tables():
    from vfioctl.buildtools import manpage
    return manpage.COMMON, manpage.DOCUMENTS, manpage.OBJECTS, manpage.parse_type


def _type_schema(typ: str, parse_type) -> dict:
    alts = []
    for jt, inner in parse_type(typ):
        if jt == "array":
            alts.append({"type": "array", "items": _type_schema(inner, parse_type)})
        elif inner and inner.startswith("map:"):
            alts.append({"type": "object", "propertyNames": {"pattern": ADDRESS_PATTERN},
                         "additionalProperties": _type_schema(inner[4:], parse_type)})
        elif inner and inner.startswith("{"):
            alts.append({"$ref": f"#/$defs/{inner[1:-1]}"})
        else:
            alts.append({"type": jt})
    if len(alts) == 1:
        return alts[0]
    if all(set(a) == {"type"} for a in alts):
        return {"type": [a["type"] for a in alts]}
    return {"anyOf": alts}


def _object(fields, parse_type) -> dict:
    """Rows (path, type, meaning) -> an object schema, dotted paths nested."""
    root: dict = {"type": "object", "properties": {}, "required": []}
    for path, typ, text in fields:
        *parents, name = path.split(".")
        node = root
        for p in parents:
            node = node["properties"][p]
            node.setdefault("properties", {})
            node.setdefault("required", [])
        s = _type_schema(typ, parse_type)
        s = dict(s, description=text) if "$ref" not in s else {"allOf": [s],
                                                                 "description": text}
        node["properties"][name] = s
        if not OPTIONAL.search(text):
            node["required"].append(name)
    return root


def build() -> dict:
    from vfioctl import JSON_SCHEMA
    common, documents, objects, parse_type = _tables()
    defs: dict = {}
    for name, fields in objects.items():
        defs[name] = _object(fields, parse_type)
    for cmd, (summary, fields) in documents.items():
        d = _object(common + fields, parse_type)
        d["description"] = summary
        d["properties"]["schema"] = {"const": JSON_SCHEMA, "description": common[0][2]}
        defs[f"doc.{cmd}"] = d
    commands = [c for c in documents if c != "error"]
    # documents that carry an error beside their own fields (an acting command
    # that failed part-way: what was done, then the error)
    with_error = [c for c in commands if any(p == "error" for p, _, _ in documents[c][1])]
    by_command = [{"if": {"properties": {"command": {"const": c}}},
                   "then": {"$ref": f"#/$defs/doc.{c}"}} for c in commands]
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": f"vfioctl --json documents (schema {JSON_SCHEMA})",
        "description": "Generated from the vfioctl-json(5) tables by vfioctl.schemas.generate; "
                       "do not edit.  Within one schema version fields are only added: "
                       "consumers must ignore members they do not know.",
        "type": "object",
        "required": ["schema", "command"],
        "properties": {"schema": {"const": JSON_SCHEMA}, "command": {"type": "string"}},
        "if": {"required": ["error"]},
        "then": {"anyOf": [
            {"$ref": "#/$defs/doc.error"},
            {"properties": {"command": {"enum": with_error}}, "allOf": by_command},
        ]},
        "else": {
            "properties": {"command": {"enum": commands}},
            "allOf": by_command,
        },
        "$defs": defs,
    }


def strict(schema: dict) -> dict:
    """A copy refusing members the tables do not document (for the tests: the
    published schema stays open, as the versioning rule requires)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(s["$defs"])
    return s


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    text = render()
    if args == ["--write"]:
        from vfioctl.schemas import path
        with open(path(), "w", encoding="utf-8") as f:
            f.write(text)
        print(path())
        return 0
    if args:
        sys.stderr.write("usage: python -m vfioctl.schemas.generate [--write]\n")
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
