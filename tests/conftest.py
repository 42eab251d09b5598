"""Shared test helpers.

Tests read real published nets from ``../shared`` (next to the repository),
never from copies inside it, because their licences vary.  Without that
folder the tests that need it are skipped with a reason; CI sets
``SCNN_SURGERY_REQUIRE_SHARED=1`` to turn those skips into failures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


def require_shared() -> bool:
    return os.environ.get("SCNN_SURGERY_REQUIRE_SHARED", "") not in ("", "0")


def shared_path(*parts: str) -> Path:
    """A path under ../shared; skips the test (or fails, in CI) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is absent (../shared is not next to this clone)"
        if require_shared():
            pytest.fail(message + " but SCNN_SURGERY_REQUIRE_SHARED=1")
        pytest.skip(message)
    return path


def zoo_files() -> list[Path]:
    """Every zoo prototxt, for parametrised sweeps (empty when ../shared is absent)."""
    root = SHARED / "zoo"
    if not root.exists():
        if require_shared():
            raise RuntimeError(f"{root} is absent but SCNN_SURGERY_REQUIRE_SHARED=1")
        return []
    return sorted(root.rglob("*.prototxt"))


def zoo_ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.fixture
def golden() -> Path:
    return shared_path("golden")
