"""JSON Schemas (draft 2020-12) of the documents printed with ``--json``.

``vfioctl-1.schema.json`` describes every document of schema ``vfioctl/1``:
one ``$defs`` entry per document (``doc.list``, ``doc.export``...) and per
object (``HOST``, ``FUNCTION``...), selected by the document's ``command`` (or
``error``).  It is *generated* from the tables that also write vfioctl-json(5)
(:mod:`vfioctl.schemas.generate`), so the page and the schema cannot drift;
``tests/test_schemas.py`` checks the committed file is fresh and validates
every command's output over every fixture against it.

Adding a command's document: add its entry (fields, types, meaning) to
``DOCUMENTS`` in the man-page source (``vfioctl.buildtools.manpage``), then run
``python -m vfioctl.schemas.generate --write`` and
``python -m vfioctl.buildtools man man``.
"""

from __future__ import annotations

import json
import os

SCHEMA_FILE = "vfioctl-1.schema.json"


def path(name: str = SCHEMA_FILE) -> str:
    """Absolute path of a shipped schema file."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def load(name: str = SCHEMA_FILE) -> dict:
    with open(path(name), encoding="utf-8") as f:
        return json.load(f)
