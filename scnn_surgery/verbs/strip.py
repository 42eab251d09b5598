"""Strip the SCNN module from MODEL ('-' reads stdin): ours, the published
generator's or Apollo's, with the 1x1 reduction insert put before it; its consumers
read the blob the module read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..analysis.forkrules import ruled
from ..analysis.inspection import with_measured_sizes
from ..analysis.modules import (
    ModuleSummary,
    damaged_module_layers,
    find_modules,
    summarise_module,
)
from ..analysis.shapes import infer_shapes
from ..analysis.verify import Checks, check_fitted
from ..core.graph import BlobVersion, LayerGraph, NetState, build_graphs, graph_of
from ..core.net import Layer, Net
from ..core.ops import remove_layers, rewire
from ..errors import SurgeryError
from ..options import StripOptions
from ..passes.upgrade import net_for_reading
from ..runtime import paused_gc
from ..scnn import (
    DetectedModule,
)
from . import VerbSpec
from .common import refuse_v0, working_phase


@dataclass
class StripResult:
    """The net without the module; its consumers read what the module read."""

    net: Net
    module: ModuleSummary
    removed: list[Layer]
    reads: str  # the blob the module read, which its consumers read now
    notes: list[str]

    @property
    def done(self) -> str:
        return f"stripped {self.module.describe()}; its consumers read '{self.reads}' again"


def strip(net: Net, options: StripOptions | None = None) -> StripResult:
    """Take out an SCNN module that ``inspect`` recognises (ours, the published
    generator's, Apollo's), with the 1x1 reduction ``insert --reduce-channels`` put before
    it, and rewire its consumers to the blob it read. ``net`` is not changed."""
    with paused_gc():
        return _strip(net, options or StripOptions())


def _strip(net: Net, options: StripOptions) -> StripResult:
    net = ruled(net, options.shape_rules)
    refuse_v0(net, "strip it")
    work = net.copy()
    graphs = build_graphs(work)
    notes: list[str] = []
    phase = working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}
    module, members = _module_to_strip(work, options.prefix)
    damage = damaged_module_layers(work, module, members)
    if damage is not None:
        raise SurgeryError(
            f"{net.source}: {damage}; strip takes out only a whole module (remove the rest"
            " with 'scnn-surgery remove', or restore the net first)"
        )
    first = members[0]
    reads = first.bottoms[0]
    consumers = _module_consumers(work, graphs, members, module.output)
    read_versions = {
        graph.state: graph.bottom(first, 0) for graph in graphs if first in graph.graph
    }
    summary = _measured(net, phase, options, summarise_module(module, members, graphs), first)
    rewired = rewire(work, [(layer, i, reads) for layer, i in consumers])
    remove_layers(work, set(members))
    _refuse_changed_bindings(work, read_versions, [rewired[c] for c, _ in consumers], reads)
    notes += check_fitted(net, work, Checks(phase, options.shapes, options.proto, broken))
    return StripResult(work, summary, members, reads, notes)


def _measured(
    net: Net, phase: str | None, options: StripOptions, summary: ModuleSummary, first: Layer
) -> ModuleSummary:
    """The summary with what the module's layout leaves open (W of a D/U-only module)
    measured from its input, as inspect describes it."""
    if None not in (summary.height, summary.width, summary.channels):
        return summary
    readable = net_for_reading(net)
    graph = graph_of(readable, NetState(phase or "TEST"))
    reader = next((x for x in readable.layers if x.name == first.name and x in graph.graph), None)
    if reader is None:
        return summary
    given = {name: dims for name, dims in options.shapes.items() if name in graph.latest}
    try:
        result = infer_shapes(readable, graph, given)
    except SurgeryError:
        return summary  # the check of the result says what is wrong
    return with_measured_sizes(summary, result, graph, reader)


def _module_to_strip(net: Net, prefix: str | None) -> tuple[DetectedModule, list[Layer]]:
    modules = find_modules(net)
    if not modules:
        raise SurgeryError(f"{net.source}: the net has no SCNN module to strip")
    if prefix is not None:
        chosen = [(m, layers) for m, layers in modules if m.prefix == prefix]
        if not chosen:
            listed = ", ".join(f"'{m.prefix}'" for m, _ in modules)
            raise SurgeryError(
                f"{net.source}: no SCNN module has prefix '{prefix}' (the net's: {listed})"
            )
        return chosen[0]
    if len(modules) > 1:
        listed = ", ".join(f"'{m.prefix}' (output {m.output})" for m, _ in modules)
        raise SurgeryError(
            f"{net.source}: the net has {len(modules)} SCNN modules ({listed}); choose one"
            " with --prefix"
        )
    return modules[0]


def _module_consumers(
    net: Net, graphs: Sequence[LayerGraph], members: Sequence[Layer], output: str
) -> list[tuple[Layer, int]]:
    """Every bottom outside the module that reads what the module wrote, in any phase; a
    layer outside it that writes into the module's blobs in place cannot be undone."""
    inside = set(members)
    found: dict[tuple[Layer, int], None] = {}
    for graph in graphs:
        for version in (v for m in members if m in graph.graph for v in graph.tops(m)):
            for layer, index in graph.consumers(version):
                if layer in inside:
                    continue
                if layer.tops[index : index + 1] == (version.name,):
                    raise SurgeryError(
                        f"{net.describe(layer)} works in place on the module's '{version.name}';"
                        " strip cannot give it back the blob the module read"
                    )
                if version.name != output:
                    raise SurgeryError(
                        f"{net.describe(layer)} reads '{version.name}' from inside the module;"
                        " strip can only rewire what reads the module's output"
                    )
                found[(layer, index)] = None
    return sorted(found, key=lambda item: (net.index_of(item[0]), item[1]))


def _refuse_changed_bindings(
    net: Net,
    read_versions: Mapping[NetState, BlobVersion | None],
    rewired: Sequence[Layer],
    blob: str,
) -> None:
    """After the strip every rewired layer must read the version the module read."""
    for state, version in read_versions.items():
        graph = graph_of(net, state)
        for layer in rewired:
            if layer not in graph.graph:
                continue
            pairs = zip(layer.bottoms, graph.bottoms(layer), strict=True)
            bound = [v for b, v in pairs if b == blob]
            if any(v != version for v in bound):
                raise SurgeryError(
                    f"{net.describe(layer)} would read another version of '{blob}' than the"
                    f" module read (phase {state.phase}); strip cannot undo the module there"
                )


VERB = VerbSpec("strip", strip)
