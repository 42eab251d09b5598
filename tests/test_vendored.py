"""The shipped test zoo (tests/data/zoo) is what its SOURCES.md says it is, byte for byte."""

from __future__ import annotations

import hashlib
import re

import pytest

from .conftest import NOT_SHIPPED, SHARED, VENDORED_ZOO, needs_shared

SOURCES = VENDORED_ZOO / "SOURCES.md"
# A row of the shipped table: | file | repository | `commit` | `path` | licence | `sha256` | why |
ROW = re.compile(
    r"^\| (?P<file>[\w/.-]+\.prototxt) \| (?P<repo>[\w.-]+/[\w.-]+) \| `(?P<commit>[0-9a-f]{40})` "
    r"\| `(?P<path>[^`]+)` \| (?P<licence>[^|]+) \| `(?P<sha256>[0-9a-f]{64})` \| [^|]+ \|$"
)


def shipped_rows() -> dict[str, re.Match[str]]:
    rows = (ROW.match(line) for line in SOURCES.read_text().splitlines())
    return {row["file"]: row for row in rows if row}


ROWS = shipped_rows()


def test_every_shipped_file_has_a_row_and_every_row_a_file() -> None:
    files = sorted(p.relative_to(VENDORED_ZOO).as_posix() for p in VENDORED_ZOO.rglob("*.prototxt"))
    assert files == sorted(ROWS)
    assert len(files) == 25


@pytest.mark.parametrize("name", sorted(ROWS))
def test_a_shipped_file_has_the_sha256_its_row_gives(name: str) -> None:
    digest = hashlib.sha256((VENDORED_ZOO / name).read_bytes()).hexdigest()
    assert digest == ROWS[name]["sha256"]


def test_no_shipped_file_is_under_a_non_commercial_licence_or_none() -> None:
    for row in ROWS.values():
        licence = row["licence"]
        assert "NC" not in licence and "none found" not in licence, row["file"]


def test_git_keeps_the_folder_byte_exact() -> None:
    """No line-ending conversion on any checkout (core.autocrlf): the sha256 would break."""
    attributes = (VENDORED_ZOO.parent.parent.parent / ".gitattributes").read_text()
    assert "tests/data/zoo/** -text" in attributes.splitlines()


@needs_shared
def test_every_shared_zoo_net_is_shipped_byte_for_byte_or_left_out_with_a_reason() -> None:
    shared = SHARED / "zoo"
    for path in sorted(shared.rglob("*.prototxt")):
        name = path.relative_to(shared).as_posix()
        if name in ROWS:
            assert (VENDORED_ZOO / name).read_bytes() == path.read_bytes(), name
        else:
            assert path.name in NOT_SHIPPED, f"{name} is neither shipped nor left out"
