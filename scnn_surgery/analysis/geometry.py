"""The module's H, W and C at the insertion point, from shape inference and the user.

A value the user gives must agree with inference; one module fits one HxW,
so TRAIN and TEST must agree too unless ``--phase`` picks one.  Unknown
dimensions are only an error when nobody supplies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..core.graph import LayerGraph
from ..core.net import Net
from ..errors import SurgeryError
from ..passes.anchor import InsertionPoint
from .shapes import ShapeOverrides, ShapeResult, format_shape, infer_shapes

DIMENSIONS = (("channel", 1), ("height", 2), ("width", 3))


@dataclass
class PhaseShapes:
    """Shape inference per phase graph, computed once and on demand."""

    net: Net
    graphs: Sequence[LayerGraph]
    overrides: ShapeOverrides = field(default_factory=dict)
    _results: dict[int, ShapeResult] = field(default_factory=dict)

    def of(self, graph: LayerGraph) -> ShapeResult:
        key = id(graph)
        if key not in self._results:
            self._results[key] = infer_shapes(self.net, graph, self.overrides)
        return self._results[key]

    def select(self, phase: str | None) -> list[LayerGraph]:
        if phase is None:
            return list(self.graphs)
        chosen = [g for g in self.graphs if g.state.phase == phase]
        return chosen or list(self.graphs)


def _stop_reason(result: ShapeResult) -> str:
    if result.stopped:
        return f" ({result.stopped[0].message})"
    if result.errors:
        return f" ({result.errors[0].message})"
    return ""


def _how_to_change(name: str, wanted: int) -> str:
    """What to do instead of giving a size the net does not have: the sizes only confirm
    what inference finds."""
    if name == "channel":
        return (
            f"to map the blob to {wanted} channels first, use --reduce-channels {wanted}"
            f" (in a batch config, reduce_channels = {wanted}); otherwise omit --channel"
        )
    return f"omit --{name}, or change the net's input size in the file"


def resolve_sizes(
    shapes: PhaseShapes,
    point: InsertionPoint,
    given: Mapping[str, int | None],
    phase: str | None,
    notes: list[str],
) -> tuple[int, int, int]:
    """(height, width, channels) for the module, refusing contradictions."""
    per_phase: dict[str, tuple[int | None, ...]] = {}
    reasons: dict[str, str] = {}
    for graph in shapes.select(phase):
        if point.blob not in graph.latest:
            continue
        result = shapes.of(graph)
        shape = result.final(point.blob)
        dims: tuple[int | None, ...] = (None, None, None)
        if shape is not None and len(shape) == 4:
            dims = (shape[1], shape[2], shape[3])
        elif shape is not None:
            raise SurgeryError(
                f"{shapes.net.source}: blob '{point.blob}' has shape {format_shape(shape)};"
                " SCNN needs a 4-D NxCxHxW feature map"
            )
        per_phase[graph.state.phase] = dims
        reasons[graph.state.phase] = _stop_reason(result)
    chosen: dict[str, int] = {}
    for name, axis in DIMENSIONS:
        inferred = {p: v for p, d in per_phase.items() if (v := d[axis - 1]) is not None}
        distinct = set(inferred.values())
        user = given.get(name)
        if len(distinct) > 1:
            listed = ", ".join(f"{p} {v}" for p, v in inferred.items())
            raise SurgeryError(
                f"{shapes.net.source}: the phases disagree on the {name} of '{point.blob}'"
                f" ({listed}); one module fits one size, so choose a phase with --phase"
            )
        if distinct:
            value = distinct.pop()
            if user is not None and user != value:
                raise SurgeryError(
                    f"--{name} {user} contradicts the inferred {name} {value} of blob"
                    f" '{point.blob}'; {_how_to_change(name, user)}"
                )
            chosen[name] = value
        elif user is not None:
            chosen[name] = user
        else:
            reason = next((r for r in reasons.values() if r), "")
            raise SurgeryError(
                f"{shapes.net.source}: cannot infer the {name} of blob '{point.blob}'{reason};"
                f" give --{name} or --shape"
            )
    if not any(given.get(n) is not None for n, _ in DIMENSIONS):
        notes.append(
            f"inferred {chosen['height']}x{chosen['width']}x{chosen['channel']} (HxWxC)"
            f" for blob '{point.blob}'"
        )
    return chosen["height"], chosen["width"], chosen["channel"]
