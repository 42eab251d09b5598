"""The command group: subcommands loaded on demand, fast start-up, one-line usage errors."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest

from scnn_surgery import __version__
from scnn_surgery.cli.main import SUBCOMMANDS, cli

from .conftest import REPO_ROOT, RunCli

HEAVY = ("networkx", "numpy", "google.protobuf", "graphviz")


def imported_modules(*args: str) -> tuple[int, set[str]]:
    """Exit status and every module a fresh ``python -m scnn_surgery ARGS`` imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scnn_surgery", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return proc.returncode, names


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--help"], 0),
        (["generate", "--height", "4", "--width", "5", "--channel", "8"], 0),
        (["insert", "net.prototxt", "--kernel-width", "4"], 2),  # a usage error
        (["remove", "net.prototxt", "x", "-o", "o.prototxt", "--in-place"], 2),
        (["upgrade", "-", "--in-place"], 2),
        (["remove", "--help"], 0),
        (["inspect"], 2),
        (["nope"], 2),
    ],
)
def test_start_up_loads_nothing_heavy(args: list[str], status: int) -> None:
    code, modules = imported_modules(*args)
    assert code == status
    assert "scnn_surgery.cli.main" in modules  # the listing is real
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert not heavy, f"{args} imported {heavy}"


def test_help_lists_every_command_without_loading_it(run_cli: RunCli) -> None:
    code, modules = imported_modules("--help")
    assert code == 0
    assert not {f"scnn_surgery.cli.{entry.module}" for entry in SUBCOMMANDS.values()} & modules
    code, out, _ = run_cli("--help")
    assert code == 0
    listed = re.findall(r"^  (\w+)\s+(.+)$", out.split("Commands:")[1], re.MULTILINE)
    assert [name for name, _ in listed] == list(SUBCOMMANDS)
    for name, summary in listed:
        assert SUBCOMMANDS[name].summary.startswith(summary.strip())


def test_each_command_has_its_summary_as_short_help() -> None:
    with click.Context(cli) as ctx:
        for name, entry in SUBCOMMANDS.items():
            command = cli.get_command(ctx, name)
            assert command is not None and command.name == name
            assert command.get_short_help_str(limit=200) == entry.summary


def test_the_readme_command_table_is_the_registry() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Command reference", 1)[1].split("\n\n", 2)[1]
    assert re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE) == list(SUBCOMMANDS)


def test_version(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0 and __version__ in out


def test_no_arguments_shows_the_help(run_cli: RunCli) -> None:
    _, out, err = run_cli()
    assert "Commands:" in out + err
    assert "error" not in err
