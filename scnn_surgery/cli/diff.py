"""``scnn-surgery diff``: what changed between two nets, layer by layer (exit status as diff's)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from ..files import STDOUT, check_output_paths, named
from .options import html_option, insert_option, json_option
from .output import emit, note
from .stdio import echo, json_text

if TYPE_CHECKING:
    from ..analysis.compare import NetDiff

SAME, DIFFERENT, TROUBLE = 0, 1, 2


def _diff_files(a: str, b: str, phase: str | None, html: str | None) -> NetDiff:
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..analysis.compare import diff_nets
    from ..core.net import load_net

    if a == "-" and b == "-":
        raise UsageError("only one of the two nets can come from standard input")
    check_output_paths([*named("A", a), *named("B", b)], [STDOUT, *named("--html", html)])
    nets = load_net(a), load_net(b)
    result = diff_nets(*nets, phase)
    if html is not None:
        from ..report.changeview import diff_view
        from ..report.htmlreport import diff_page

        view = diff_view((a, b), nets, result, phase)
        if view.pictures_note:
            note(f"warning: {view.pictures_note}")
        emit(diff_page(view).encode("utf-8"), html)
    return result


def _print_text(result: NetDiff, a: str, b: str) -> None:
    if result.is_empty:
        return
    echo(f"--- {a}\n+++ {b}")
    for line in result.lines():
        echo(line)
    echo(result.counts())


@click.command("diff")
@click.argument("a", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("b", type=click.Path(dir_okay=False, allow_dash=True))
@insert_option("phase")
@json_option("the differences as JSON")
@html_option()
def command(a: str, b: str, phase: str | None, as_json: bool, html: str | None) -> None:
    """Compare the layer graphs of nets A and B: layers added, removed and changed,
    rewired bottoms, changed blob shapes; an SCNN module is one entry.

    Without --phase every layer is compared, and the wiring in each phase.
    Exit status: 0 when the nets do not differ, 1 when they do, 2 on error.
    """
    # Every error exits 2 (TROUBLE), as the group's registry says for diff: its 1 would
    # read as "different".
    result = _diff_files(a, b, phase, html)
    if as_json:
        echo(json_text(result.to_json()))
    else:
        _print_text(result, a, b)
    sys.exit(SAME if result.is_empty else DIFFERENT)
