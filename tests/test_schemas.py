"""The published JSON Schema (vfioctl/schemas/vfioctl-1.schema.json, draft
2020-12) validates every document every command prints, over every fixture;
it is generated from the vfioctl-json(5) tables, so the two cannot drift."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from conftest import run
from test_man import json_documents  # noqa: F401  (the module-scoped runs of every command)
from vfioctl import schemas
from vfioctl.schemas import generate
from vfioctl.testing import scenarios


@pytest.fixture(scope="module")
def validators():
    published = schemas.load()
    return Draft202012Validator(published), Draft202012Validator(generate.strict(published))


def _errors(v, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in v.iter_errors(doc)]


def test_committed_schema_is_fresh():
    with open(schemas.path(), encoding="utf-8") as f:
        assert f.read() == generate.render(), \
            "run: python -m vfioctl.schemas.generate --write"


def test_schema_is_valid_draft_2020_12():
    s = schemas.load()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)
    Draft202012Validator.check_schema(generate.strict(s))


def test_every_json_command_has_a_schema():
    from test_completions import app_surface
    defs = schemas.load()["$defs"]
    for cmd, opts in app_surface().items():
        if cmd and "--json" in opts:
            assert f"doc.{cmd}" in defs, f"{cmd}: add it to manpage.DOCUMENTS and regenerate"


def test_every_document_validates(json_documents, validators):  # noqa: F811
    published, strict = validators
    kinds, bad = set(), {}
    for argv, d in json_documents:
        kind = "error" if "error" in d else d["command"]
        kinds.add(kind)
        for e in _errors(published, d) + _errors(strict, d):
            bad.setdefault(f"{kind}: {e}", argv)
    assert not bad, "\n".join(f"{e}   (e.g. {' '.join(a)})" for e, a in sorted(bad.items()))
    # every command with --json on main has had at least one real document checked
    from test_completions import app_surface
    json_cmds = {cmd for cmd, opts in app_surface().items() if cmd and "--json" in opts}
    assert json_cmds >= {"list", "groups", "show", "reset-info", "hot-reset", "reset", "check",
                         "snapshot", "watch", "export", "libvirt-hook", "doctor", "tree",
                         "bind", "unbind"}
    assert kinds >= json_cmds | {"error"}, sorted(json_cmds - kinds)


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_export_documents_validate(name, build, tmp_path, validators):
    root = build(name)
    r = run(["--root", root, "export", "--prometheus", str(tmp_path / "v.prom"),
             "--nfd", str(tmp_path / "vfioctl"), "--json"])
    assert r.code == 0, r.err
    for v in validators:
        assert not _errors(v, r.json())
    r = run(["--root", root, "export", "--prometheus", str(tmp_path / "v.prom"), "--json"])
    for v in validators:
        assert not _errors(v, r.json())


def test_the_schema_rejects_what_it_should(json_documents, validators):  # noqa: F811
    """Controls: the validation above can fail."""
    published, strict = validators
    listing = next(d for argv, d in json_documents if d.get("command") == "list")
    bad = copy.deepcopy(listing)
    bad["functions"][0]["iommu_group"] = "eleven"
    assert _errors(published, bad)
    bad = copy.deepcopy(listing)
    del bad["functions"][0]["address"]
    assert _errors(published, bad)
    bad = copy.deepcopy(listing)
    bad["schema"] = "vfioctl/2"
    assert _errors(published, bad)
    bad = copy.deepcopy(listing)
    bad["command"] = "no-such-command"
    assert _errors(published, bad)
    added = copy.deepcopy(listing)
    added["functions"][0]["a_future_field"] = 1
    assert not _errors(published, added)        # additions are allowed within vfioctl/1
    assert _errors(strict, added)               # ... but the tests insist they are documented
    error = next(d for argv, d in json_documents if "error" in d)
    bad = copy.deepcopy(error)
    bad["error"]["exit_code"] = "two"
    assert _errors(published, bad)


def test_man_page_names_the_schema():
    from vfioctl.buildtools import manpage
    page = manpage.generate("vfioctl-json.5")
    assert "vfioctl/schemas/vfioctl-1.schema.json" in page and "(draft 2020-12)" in page
    assert json.loads(json.dumps(schemas.load()))  # loadable as shipped
