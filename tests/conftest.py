"""Shared test helpers.

Tests read real published nets from ``../shared`` (next to the repository),
never from copies inside it, because their licences vary.  Without that
folder the tests that need it are skipped with a reason; CI sets
``SCNN_SURGERY_REQUIRE_SHARED=1`` to turn those skips into failures.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

import pytest
from click.testing import CliRunner

from scnn_surgery.cli.main import DEBUG_ENV, cli
from scnn_surgery.options import InsertOptions
from scnn_surgery.surgery import InsertResult

from .strategies import BUDGETS, EXAMPLES_RUN, register_profiles

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"
# Loaded before any test module is imported, so every @settings builds on it.
HYPOTHESIS_PROFILE = register_profiles()


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


@pytest.fixture(scope="module")
def cv2() -> ModuleType:
    """OpenCV 4.x, whose Caffe importer runs the nets (5.x removed it)."""
    module: ModuleType = pytest.importorskip(
        "cv2", reason="OpenCV (opencv-python-headless 4.x) is needed"
    )
    if int(module.__version__.split(".")[0]) != 4:
        pytest.skip(f"OpenCV {module.__version__}: only 4.x has the Caffe importer")
    return module


def zoo_ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@contextmanager
def shallow_stack(frames: int = 80) -> Iterator[None]:
    """The recursion limit ``frames`` above the current depth: plenty for a command's own
    calls (once its imports and caches are warm), far too little for recursion once per
    level of a tree nested 100 deep."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


@pytest.fixture
def golden() -> Path:
    return shared_path("golden")


class RunCli(Protocol):
    def __call__(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> tuple[int, str, str]: ...


@pytest.fixture
def run_cli() -> RunCli:
    """Run ``scnn-surgery ARGS`` in this process: (exit status, stdout, stderr).

    An exception other than the exit the command line chose is re-raised, so a bug shows
    its traceback instead of passing for an exit status. (click >= 8.2 keeps stdout and
    stderr apart on its own; there is no ``mix_stderr`` any more.) The command group's
    one-line report of an unexpected error is turned off for the same reason
    (``SCNN_SURGERY_DEBUG``); a test of that report passes ``env={DEBUG_ENV: None}``.
    """
    runner = CliRunner()

    def run(
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> tuple[int, str, str]:
        settings = {DEBUG_ENV: "1", **(env or {})}
        result = runner.invoke(cli, list(args), input=input, env=settings)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        # As written: click's .stdout would turn CRLF into LF.
        out = result.stdout_bytes.decode("utf-8", "replace")
        return result.exit_code, out, result.stderr_bytes.decode("utf-8", "replace")

    return run


@dataclass(frozen=True)
class ZooInsert:
    """What ``insert`` with the sweep's options made of one zoo net: the result, or the
    refusal's one-line message."""

    path: Path
    options: InsertOptions
    result: InsertResult | None
    refusal: str | None


def zoo_options(stem: str) -> InsertOptions:
    """The sweep's options for a zoo net: none, except the points NAMED_POINTS gives."""
    from .zoo_expectations import NAMED_POINTS

    return InsertOptions(**NAMED_POINTS.get(stem, {}))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def zoo_inserts() -> dict[str, ZooInsert]:
    """Every zoo net inserted into once per test session, by stem; the sweep, check, the
    batch and the README table read these instead of converting the zoo again each."""
    from scnn_surgery import insert, load
    from scnn_surgery.errors import SurgeryError

    done: dict[str, ZooInsert] = {}
    for path in zoo_files():
        options = zoo_options(path.stem)
        try:
            done[path.stem] = ZooInsert(path, options, insert(load(path), options), None)
        except SurgeryError as exc:
            done[path.stem] = ZooInsert(path, options, None, str(exc))
    return done


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many Hypothesis examples each property and mutation test ran (issue 13 asks for
    at least 1,000 a run), under which profile."""
    if not EXAMPLES_RUN:
        return
    terminalreporter.section(f"Hypothesis examples (profile {HYPOTHESIS_PROFILE})")
    for name, count in sorted(EXAMPLES_RUN.items()):
        terminalreporter.write_line(f"{count:6d}  {name}  (asked {BUDGETS.get(name, '?')})")
    terminalreporter.write_line(f"{sum(EXAMPLES_RUN.values()):6d}  in all")
