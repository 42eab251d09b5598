"""Shared test helpers.

The repository ships its test data: the permissively licensed nets of the test zoo are
copied into ``tests/data/zoo`` (``tests/data/zoo/SOURCES.md`` gives each one's source,
licence and sha256), and ``shared_path``/``zoo_files`` read those copies. What may not be
shipped (the golden example, which has no licence; CC BY-NC and unlicensed zoo nets) is
read from ``../shared`` next to the clone. A test that needs it is marked
``@pytest.mark.needs_shared`` (or uses the ``golden`` fixture): it runs when ``../shared``
is there and is not collected otherwise, so a fresh clone runs with nothing skipped for
want of data. ``SCNN_SURGERY_NO_SHARED=1`` (set by ``.ci/run``) hides ``../shared`` even
where it exists, to test exactly what a fresh clone tests; an unmarked test that reaches
for ``../shared`` then fails, naming the mark it lacks.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
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


NO_SHARED_ENV = "SCNN_SURGERY_NO_SHARED"
VENDORED_ZOO = DATA / "zoo"
NEEDS_SHARED = "needs_shared"
needs_shared = pytest.mark.needs_shared


def shared_available() -> bool:
    """Whether ../shared is beside the clone and not hidden by SCNN_SURGERY_NO_SHARED."""
    return os.environ.get(NO_SHARED_ENV, "") in ("", "0") and SHARED.is_dir()


def shared_path(*parts: str) -> Path:
    """A test-data path named as under ../shared: the shipped copy in tests/data/zoo when
    there is one, else the file in ../shared. Reaching for ../shared where it is absent
    fails: such a test must be marked ``needs_shared`` so that it is not collected there."""
    if parts and parts[0] == "zoo":
        vendored = VENDORED_ZOO.joinpath(*parts[1:])
        if vendored.exists():
            return vendored
    path = SHARED.joinpath(*parts)
    if shared_available() and path.exists():
        return path
    why = f"{NO_SHARED_ENV} is set" if SHARED.is_dir() else "../shared is not next to this clone"
    pytest.fail(f"{path} is not shipped in tests/data and {why}: mark the test "
                f"@pytest.mark.{NEEDS_SHARED} (or give a shipped net)")


def zoo_files() -> list[Path]:
    """Every zoo prototxt, by its path under the zoo (category/name), for parametrised
    sweeps: the shipped ones, and the rest from ../shared/zoo where it is available."""
    nets = {p.relative_to(VENDORED_ZOO): p for p in VENDORED_ZOO.rglob("*.prototxt")}
    if shared_available():
        root = SHARED / "zoo"
        for path in root.rglob("*.prototxt"):
            nets.setdefault(path.relative_to(root), path)
    return [nets[rel] for rel in sorted(nets)]


def zoo_relpath(path: Path) -> str:
    """``category/name.prototxt``: a zoo net's path under the zoo, whichever copy it is."""
    return f"{path.parent.name}/{path.name}"


def zoo_tree(dest: Path) -> Path:
    """Every net of ``zoo_files()`` copied into DEST in the zoo's layout, for batch runs."""
    for path in zoo_files():
        target = dest / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{NEEDS_SHARED}: reads ../shared (data the repository may not ship); "
        "not collected where ../shared is absent or hidden")


def _not_shipped() -> frozenset[str]:
    """The file names of the data only ../shared has: the golden example, and the zoo
    nets SOURCES.md leaves out (its second table)."""
    left_out = (VENDORED_ZOO / "SOURCES.md").read_text().split("## Left out", 1)[1]
    zoo = re.findall(r"^\| [\w-]+/([\w.-]+\.prototxt) \|", left_out, re.MULTILINE)
    return frozenset([*zoo, "resnet101.prototxt", "SCNN.prototxt", "resnet101_SCNN.prototxt"])


NOT_SHIPPED = _not_shipped()


def _names_shared_data(value: object) -> bool:
    """Whether a parameter names data only ../shared has (a file name, or ``golden``)."""
    if isinstance(value, (tuple, list)):
        return any(_names_shared_data(v) for v in value)
    if isinstance(value, (str, Path)):
        text = str(value)
        return text == "golden" or any(text.endswith(name) for name in NOT_SHIPPED)
    return False


def _needs_shared(item: pytest.Item) -> bool:
    """Marked, or using the golden fixture, or parametrised with a net only ../shared has."""
    if item.get_closest_marker(NEEDS_SHARED) is not None:
        return True
    if "golden" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(map(_names_shared_data, callspec.params.values()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Where ../shared is absent or hidden, the tests that need it are not collected; where
    it is there, each carries the mark, so that ``-m needs_shared`` runs just them."""
    if shared_available():
        for item in items:
            if _needs_shared(item) and item.get_closest_marker(NEEDS_SHARED) is None:
                item.add_marker(needs_shared)
        return
    left_out = [item for item in items if _needs_shared(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not _needs_shared(item)]
        config.stash[_LEFT_OUT] = len(left_out)


_LEFT_OUT = pytest.StashKey[int]()


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
    at least 1,000 a run), under which profile; and how many tests were left out for want
    of ../shared."""
    left_out = terminalreporter.config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} tests read data the repository does not ship (../shared) and were "
            "not collected: ../shared is " + ("hidden" if SHARED.is_dir() else "absent"))
    if not EXAMPLES_RUN:
        return
    terminalreporter.section(f"Hypothesis examples (profile {HYPOTHESIS_PROFILE})")
    for name, count in sorted(EXAMPLES_RUN.items()):
        terminalreporter.write_line(f"{count:6d}  {name}  (asked {BUDGETS.get(name, '?')})")
    terminalreporter.write_line(f"{sum(EXAMPLES_RUN.values()):6d}  in all")
