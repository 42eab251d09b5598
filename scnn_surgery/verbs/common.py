"""What several verbs do the same way: choose the phase to work in, refuse what the
input already breaks, pick the automatic insertion point."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..analysis.autopoint import choose_blob
from ..analysis.geometry import PhaseShapes
from ..analysis.phases import broken_phase_warnings, sole_working_phase
from ..analysis.shapes import missing_rules
from ..core.graph import LayerGraph
from ..core.net import Net
from ..errors import SurgeryError, SurgeryErrors
from ..passes.anchor import closest_names


def automatic_point(
    shapes: PhaseShapes, phase: str | None, notes: list[str]
) -> tuple[str, str]:
    """The top hidden layer, judged in the chosen phase (TEST, as deployed, by default),
    and why."""
    graph = shapes.select(phase)[-1]
    blob, why = choose_blob(shapes.net, graph, shapes.of(graph))
    notes.append(f"chose insertion point '{blob}' automatically: {why}")
    return blob, why


@contextmanager
def rules_first(shapes: PhaseShapes, phase: str | None) -> Iterator[None]:
    """A refusal that layers without a shape rule may cause lists every such layer first,
    one line each, so that one run names them all."""
    try:
        yield
    except SurgeryError as exc:
        for graph in shapes.select(phase):
            *listing, advice = missing_rules(shapes.of(graph)) or [""]
            if listing:
                raise SurgeryErrors([*listing, f"{exc}; {advice}"]) from None
        raise


def working_phase(
    net: Net, graphs: Sequence[LayerGraph], phase: str | None, notes: list[str]
) -> str | None:
    """The phase to fit the module in: the one asked for, or, when the input is already
    broken in some phase (a TRAIN-only data layer leaves TEST without input), the one
    phase it works in. A phase broken in the input is then only reported."""
    broken = {g.state.phase: g.problems[0] for g in graphs if g.problems}
    if not broken:
        return phase
    chosen = phase if phase is not None else sole_working_phase(graphs)
    if chosen is None or chosen in broken:
        where = chosen if chosen in broken else next(iter(broken))
        problem = broken[where]
        raise SurgeryError(
            f"{net.describe(problem.layer)}: {problem.message} (phase {where});"
            " fix the input net first"
        )
    doing = "the module is fitted and checked"
    notes += broken_phase_warnings(net, graphs, chosen, doing, asked=phase is not None)
    return chosen


def refuse_shape_errors(shapes: PhaseShapes, phase: str | None) -> None:
    """What Caffe refuses in the input stays in the result; name it at the input's lines
    rather than report it later as an invalid result (or hide it behind an unknown size).
    A ``--shape`` for a blob no phase has is refused: it is most likely a misspelling."""
    graphs = shapes.select(phase)
    for graph in graphs:
        for problem in shapes.of(graph).errors:
            if problem.override:  # refused as a contradicting --height is
                raise SurgeryError(f"{problem.message} (phase {graph.state.phase})")
            if problem.layer is not None:  # None: a --shape for a blob this phase lacks
                raise SurgeryError(
                    f"{problem.message} (phase {graph.state.phase}); fix the input net first"
                )
    if not shapes.overrides:
        return  # no --shape to match against the net's blobs
    known = {name for g in graphs for name in g.latest}
    known.update(name for g in graphs for layer in g.layers for name in layer.bottoms)
    unknown = sorted(set(shapes.overrides) - known)
    if unknown:
        suggestions = closest_names(unknown[0], known)
        hint = f"; closest: {', '.join(suggestions)}" if suggestions else ""
        raise SurgeryError(f"--shape names blob '{unknown[0]}', which the net does not have{hint}")


def refuse_v0(net: Net, doing: str) -> None:
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; upgrade it first (scnn-surgery upgrade) to"
            f" {doing}"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")
