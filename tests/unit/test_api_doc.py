"""docs/api.md documents every route of the API application, and only those.

The route index (docs/api.md §7) must list exactly the (method, path) pairs of
the app's OpenAPI schema, each pointing to a section that exists, and every
route must also be named where its section describes it. A route added
without documentation, or removed while still documented, fails here.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from tufsync.api.app import create_app
from tufsync.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
INDEX_ROW = re.compile(r"^\| `([A-Z]+) (/\S*)` \| (§[0-9.]+) \|$", re.MULTILINE)
HEADING = re.compile(r"^#{2,3} ([0-9]+(?:\.[0-9]+)?)\.? ", re.MULTILINE)


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in the app's OpenAPI schema."""
    app = create_app(Settings(data_dir=tmp_path))
    with warnings.catch_warnings():
        # GET and HEAD /public/{key} share one function, hence one operation id.
        warnings.simplefilter("ignore", UserWarning)
        schema = app.openapi()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in METHODS
    }


def index_rows(text: str) -> dict[tuple[str, str], str]:
    """The route index of docs/api.md: (METHOD, path) -> section."""
    start = text.index("## 7. Route index")
    rows: dict[tuple[str, str], str] = {}
    for method, path, section in INDEX_ROW.findall(text[start:]):
        assert (method, path) not in rows, f"{method} {path} is listed twice in the index"
        rows[(method, path)] = section
    return rows


def section_text(text: str, number: str) -> str:
    """The text of section ``number`` (e.g. "5.1"), up to the next numbered section."""
    headings = [(m.group(1), m.start()) for m in HEADING.finditer(text)]
    for i, (found, start) in enumerate(headings):
        if found == number:
            end = headings[i + 1][1] if i + 1 < len(headings) else len(text)
            return text[start:end]
    raise AssertionError(f"docs/api.md has no section {number}")


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_route_index_lists_exactly_the_apps_routes(doc: str, tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    listed = set(index_rows(doc))
    missing = sorted(routes - listed)
    stale = sorted(listed - routes)
    assert not missing, "add to docs/api.md (§7 and its section):\n" + "\n".join(
        f"| `{m} {p}` | §? |" for m, p in missing
    )
    assert not stale, f"docs/api.md §7 lists routes the app does not have: {stale}"


def test_each_route_is_described_in_the_section_the_index_names(doc: str) -> None:
    for (method, path), section in index_rows(doc).items():
        body = section_text(doc, section.removeprefix("§"))
        # Sections name a route with its method (`GET /whoami`) or, in tables and
        # lists of one kind of route, by its path alone (`/channel/list`).
        assert path in body, f"{method} {path}: docs/api.md {section} does not mention {path}"
