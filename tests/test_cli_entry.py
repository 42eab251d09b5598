"""The console script's entry: a Ctrl-C at any moment, even while click and the package
are still being imported, is one line and status 130, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO_ROOT, VENDORED_ZOO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ALEXNET = VENDORED_ZOO / "deploy" / "bvlc_alexnet_deploy.prototxt"

# A Ctrl-C is simulated by a meta path finder that raises KeyboardInterrupt when the
# named module is first imported: the same exception at the same moment, without timing.
INTERRUPT_IMPORT = """
import sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlC())
"""

# What pip (or uv) writes as the console script: the import is outside any guard.
CONSOLE_SCRIPT = """
from {module} import {function}
sys.exit({function}())
"""


def console_script_entry() -> tuple[str, str]:
    with open(REPO_ROOT / "pyproject.toml", "rb") as file:
        scripts = tomllib.load(file)["project"]["scripts"]
    module, function = scripts["scnn-surgery"].split(":")
    return module, function


def run_interrupted_at(module: str, launcher: list[str]) -> subprocess.CompletedProcess[str]:
    code = INTERRUPT_IMPORT.format(module=module)
    return subprocess.run(
        [sys.executable, "-c", code + launcher[0], *launcher[1:], "inspect", str(ALEXNET)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


@pytest.mark.parametrize(
    "module",
    [
        "click",  # the first thing the command line needs
        "scnn_surgery.cli.main",  # the command group
        "networkx",  # inside the command: the group's own guard answers
    ],
)
def test_ctrl_c_while_the_console_script_starts_is_one_line_and_130(module: str) -> None:
    entry_module, function = console_script_entry()
    launcher = CONSOLE_SCRIPT.format(module=entry_module, function=function)
    proc = run_interrupted_at(module, [launcher])
    assert "Traceback" not in proc.stderr
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "scnn-surgery: interrupted\n")


def test_ctrl_c_while_python_m_starts_is_one_line_and_130() -> None:
    launcher = "import runpy\nrunpy.run_module('scnn_surgery', run_name='__main__')\n"
    proc = run_interrupted_at("click", [launcher])
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "scnn-surgery: interrupted\n")


def test_the_entry_imports_nothing_before_its_guard() -> None:
    # Everything but sys (and the package's own light __init__) is imported inside main().
    entry_module, _ = console_script_entry()
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"import {entry_module}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    loaded = json.loads(proc.stdout)
    assert all(name.startswith("scnn_surgery") for name in loaded), loaded


class Unwritable:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def write(self, _: str) -> int:
        raise self.error

    def flush(self) -> None:
        raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), BrokenPipeError(32, "Broken pipe")])
def test_a_second_ctrl_c_or_a_gone_stderr_still_exits_130(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scnn_surgery.cli.entry import interrupted

    monkeypatch.setattr(sys, "stderr", Unwritable(error))
    with pytest.raises(SystemExit) as stop:
        interrupted()
    assert stop.value.code == 130
