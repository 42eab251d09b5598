"""What a net is, layer by layer: shapes, parameters, MACs, modules, and where SCNN would go."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..core.graph import LayerGraph, NetState, build_graphs, graph_of, phase_states
from ..core.net import Layer, Net
from ..errors import SurgeryError
from ..passes.upgrade import net_for_reading
from ..scnn import ScnnSpec
from .advice import Alternative, decoder_alternative, placeholder_warnings
from .autopoint import choose_blob
from .forkrules import sizing, sizing_summary
from .modules import ModuleSummary, find_modules, summarise_module
from .shapes import MaybeShape, ShapeOverrides, ShapeResult, infer_shapes


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    shapes: tuple[MaybeShape, ...]
    params: int | None
    macs: int | None
    line: int | None
    rule: str = "built-in"  # what sized its tops (scnn_surgery.analysis.forkrules.rule_source)


@dataclass
class InspectReport:
    net: Net
    phase: str
    rows: list[LayerRow]
    blobs: dict[str, MaybeShape]
    modules: list[ModuleSummary]
    total_params: int | None  # a blob shared by param name counts once, as Caffe stores it
    suggestion: str | None
    suggestion_reason: str
    stopped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # A second suggestion, when the first is a fine decoder map: the encoder's bottleneck.
    alternative: Alternative | None = None
    written_format: str = ""  # the file's own (V0 and V1 are read upgraded); "" for net's
    sized_by: str = ""  # what sized the layers, in one line (forkrules.sizing_summary)
    # The suggestion's inputs whose stated size is a placeholder for the run-time size.
    placeholders: list[str] = field(default_factory=list)

    @property
    def format(self) -> str:
        return self.written_format or self.net.format

    @property
    def total_macs(self) -> int | None:
        return _total(r.macs for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.net.source,
            "format": self.format,
            "phase": self.phase,
            "layers": [
                {
                    "name": r.name,
                    "type": r.type,
                    "bottom": list(r.bottoms),
                    "top": list(r.tops),
                    "shapes": [_shape_json(s) for s in r.shapes],
                    "params": r.params,
                    "macs": r.macs,
                    "line": r.line,
                    "rule": r.rule,
                }
                for r in self.rows
            ],
            "blobs": {name: _shape_json(s) for name, s in self.blobs.items()},
            "totals": {"params": self.total_params, "macs": self.total_macs},
            "modules": [m.to_dict() for m in self.modules],
            "suggested_insertion_point": self.suggestion,
            "suggestion_reason": self.suggestion_reason,
            "alternative_insertion_point": self.alternative.blob if self.alternative else None,
            "alternative_reason": self.alternative.reason if self.alternative else None,
            "stopped": self.stopped,
            "errors": self.errors,
            "sized_by": self.sized_by,
            "placeholders": self.placeholders,
        }


def _total(values: Any) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _shape_json(shape: MaybeShape) -> list[int | None] | None:
    return None if shape is None else list(shape)


def _rows(net: Net, result: ShapeResult) -> list[LayerRow]:
    rows = []
    for layer, rule in sizing(result):
        line = net.layer_line(layer)
        cost = result.cost(layer)
        rows.append(
            LayerRow(
                name=layer.name,
                type=layer.type,
                bottoms=tuple(layer.bottoms),
                tops=tuple(layer.tops),
                shapes=tuple(result.layer_outputs(layer)),
                params=cost.params,
                macs=cost.macs,
                line=line,
                rule=rule,
            )
        )
    return rows


def with_measured_sizes(
    module: ModuleSummary, result: ShapeResult, graph: LayerGraph, first: Layer
) -> ModuleSummary:
    """Fill what the module's layout leaves open (W of a D/U-only module) from its input."""
    version = graph.bottom(first, 0) if first in graph.graph else None
    shape = result.blob(version) if version is not None else None
    if shape is None or len(shape) != 4:
        return module
    return replace(
        module,
        channels=module.channels if module.channels is not None else shape[1],
        height=module.height if module.height is not None else shape[2],
        width=module.width if module.width is not None else shape[3],
    )


def inspect_net(
    net: Net, phase: str | None = None, overrides: ShapeOverrides | None = None
) -> InspectReport:
    """Shapes and costs of every layer in one phase (TEST unless asked), plus modules."""
    readable = net_for_reading(net)
    state = NetState(phase or "TEST")
    graph = graph_of(readable, state)
    result = infer_shapes(readable, graph, overrides or {})
    blobs = {name: result.shapes.get(version) for name, version in graph.latest.items()}
    found = find_modules(readable)
    # The inspected phase's graph first; the others only matter for a module it lacks.
    others = [s for s in phase_states(readable) if s.phase != state.phase] if found else []
    graphs = [graph, *build_graphs(readable, others)]
    modules = [
        with_measured_sizes(summarise_module(m, layers, graphs), result, graph, layers[0])
        for m, layers in found
    ]
    errors = [e.message for e in result.errors]
    errors += [f"{readable.describe(p.layer)}: {p.message}" for p in graph.problems]
    try:
        suggestion, reason = choose_blob(readable, graph, result)
    except SurgeryError as exc:
        suggestion, reason = None, str(exc)
    if errors:  # a point in a net Caffe refuses would only mislead
        suggestion, reason = None, "the net has errors (listed above); fix them first"
    elif modules and suggestion is not None:  # insert would refuse a second one as it is
        listed = ", ".join(f"'{m.output}'" for m in modules)
        reason = (
            f"{reason}; the net has an SCNN module already (output {listed}), so insert"
            " needs --prefix for another"
        )
    return InspectReport(
        net=readable,
        phase=state.phase,
        rows=_rows(readable, result),
        blobs=blobs,
        modules=modules,
        total_params=result.total_params(),
        suggestion=suggestion,
        suggestion_reason=reason,
        stopped=[s.message for s in result.stopped],
        errors=errors,
        alternative=_alternative(graph, result, suggestion),
        written_format=net.format,
        sized_by=sizing_summary(result),
        placeholders=[]
        if suggestion is None
        else placeholder_warnings(graph, result, suggestion, (overrides or {}).keys()),
    )


def _alternative(graph: LayerGraph, result: ShapeResult, blob: str | None) -> Alternative | None:
    """The encoder's bottleneck, when the suggested point is a fine decoder map."""
    shape = result.final(blob) if blob is not None else None
    if blob is None or shape is None or len(shape) != 4 or None in shape[1:]:
        return None
    _, channels, height, width = shape
    assert channels is not None and height is not None and width is not None
    try:
        return decoder_alternative(graph, result, blob, ScnnSpec(height, width, channels))
    except SurgeryError:  # a map too large to size a module for
        return None
