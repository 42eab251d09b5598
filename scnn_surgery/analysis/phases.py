"""Which phase a verb works in: one rule for every verb (insert, splice, strip, inspect,
check).

The phase asked for (``--phase``); else, when the net is broken in some phase but works
in exactly one other (a training file whose data layer is ``include { phase: TRAIN }``
leaves TEST without input), that one, with a warning naming what breaks the other; else
the verb's own default (every phase the rules tell apart for check, TEST for inspect).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.graph import LayerGraph
from ..core.net import Net


def sole_working_phase(graphs: Sequence[LayerGraph]) -> str | None:
    """The one phase the net works in, when it is broken in another; else None."""
    working = [g.state.phase for g in graphs if not g.problems]
    broken = [g for g in graphs if g.problems]
    return working[0] if broken and len(working) == 1 else None


def broken_phase_warnings(
    net: Net, graphs: Sequence[LayerGraph], chosen: str, doing: str, asked: bool
) -> list[str]:
    """One warning per other phase that is broken in the input, saying what ``doing`` in
    phase ``chosen`` means for it."""
    return [
        f"warning: phase {g.state.phase} is broken in the input already"
        f" ({net.describe(g.problems[0].layer)}: {g.problems[0].message}); {doing} in phase"
        f" {chosen}{'' if asked else ' (choose with --phase)'}"
        for g in graphs
        if g.problems and g.state.phase != chosen
    ]


def default_phase(net: Net, asked: str | None, doing: str) -> tuple[str | None, list[str]]:
    """The phase a reading verb (inspect, check) works in when none is asked for, and
    the warnings that choice brings; None when the verb's own default holds."""
    if asked is not None:
        return asked, []
    from ..core.graph import build_graphs

    graphs = build_graphs(net)
    chosen = sole_working_phase(graphs)
    if chosen is None:
        return None, []
    return chosen, broken_phase_warnings(net, graphs, chosen, doing, asked=False)
