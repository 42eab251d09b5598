"""Take layers out of a net, bridging what read their outputs, by Caffe's binding rule.

A removed layer's readers must still read what they would have read through it:

* an in-place layer (each top is the bottom at its index) simply goes: Caffe binds its
  readers to the version it rewrote;
* a one-bottom, one-top layer is bridged: the readers of the version it wrote, in every
  phase, read its bottom instead (only their bottom tokens change in the text);
* a layer nothing reads (in any phase) goes whatever its shape.

Anything else is refused, naming the layers that would break. The plan is made on each
phase's graph before the edit, and the edited graph is checked against it afterwards: every
remaining bottom must bind to the layer output it was meant to (a bottom that would now
bind to a later in-place rewrite of the same blob is refused too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..core.graph import BlobVersion, LayerGraph, NetState, graph_of, phase_states
from ..core.net import Layer, Net
from ..core.ops import remove_layers, rewire
from ..errors import SurgeryError
from .anchor import closest_names


class Origin(NamedTuple):
    """What a bottom reads: top ``top`` of ``layer``, or the net input ``blob`` (``layer``
    None)."""

    layer: Layer | None
    top: int
    blob: str


@dataclass(frozen=True)
class Rewiring:
    """One bottom that now reads another blob: the layer as it was, the index, the names."""

    layer: Layer
    bottom_index: int
    before: str
    after: str


@dataclass(frozen=True)
class Removal:
    """What a removal did: the layers taken out (file order) and the bottoms rewired."""

    layers: tuple[Layer, ...]
    rewired: tuple[Rewiring, ...]


def select_layers(net: Net, names: Iterable[str]) -> list[Layer]:
    """The layers ``names`` name, in file order: every layer of a name (per-phase variants
    share one), or ``#N`` for the N-th layer of the file (an unnamed one, say)."""
    by_name: dict[str, list[Layer]] = {}
    for layer in net.layers:
        by_name.setdefault(layer.name, []).append(layer)
    chosen: set[Layer] = set()
    for name in names:
        if not name:
            raise SurgeryError(
                f"{net.source}: an empty name names no layer; give an unnamed layer as #N,"
                " its position in the file"
            )
        found = by_name.get(name) or _numbered(net, name)
        if not found:
            suggestions = closest_names(name, set(by_name) - {""})
            hint = f"; closest: {', '.join(suggestions)}" if suggestions else ""
            raise SurgeryError(f"{net.source}: no layer named '{name}'{hint}")
        chosen.update(found)
    return [layer for layer in net.layers if layer in chosen]


def _numbered(net: Net, name: str) -> list[Layer]:
    if not name.startswith("#") or not name[1:].isdigit():
        return []
    position = int(name[1:])
    if not 1 <= position <= len(net.layers):
        raise SurgeryError(f"{net.source}: no layer {name}; the net has {len(net.layers)} layers")
    return [net.layers[position - 1]]


def in_place(layer: Layer, index: int) -> bool:
    return index < len(layer.bottoms) and layer.bottoms[index] == layer.tops[index]


def passthrough(layer: Layer, index: int) -> int | None:
    """The bottom whose version a removed layer's output ``index`` stands for: the same
    index in place, the only bottom of a one-to-one layer; None when there is none."""
    if in_place(layer, index):
        return index
    if len(layer.bottoms) == 1 and len(layer.tops) == 1:
        return 0
    return None


def origin_of(graph: LayerGraph, version: BlobVersion) -> Origin:
    producer = graph.producer(version)
    if producer is None:
        return Origin(None, 0, version.name)
    return Origin(producer, graph.tops(producer).index(version), version.name)


@dataclass(frozen=True)
class _Break:
    """A reader left without its input: ``cause`` is the removed layer that cannot pass its
    output through (None: its own bottom was already unbound in the input)."""

    reader: Layer
    phase: str
    cause: Layer
    blob: str


def _resolve(graph: LayerGraph, origin: Origin, removed: set[Layer]) -> Origin | Layer:
    """The origin a reader gets once ``removed`` are gone, or the removed layer in the way.

    A loop, not recursion: a chain of removed layers may be as long as the net."""
    while origin.layer is not None and origin.layer in removed:
        index = passthrough(origin.layer, origin.top)
        version = None if index is None else graph.bottom(origin.layer, index)
        if version is None:
            return origin.layer
        origin = origin_of(graph, version)
    return origin


Expected = dict[tuple[Layer, int], dict[str, Origin]]


def _plan(graphs: Sequence[LayerGraph], removed: set[Layer]) -> tuple[Expected, list[_Break]]:
    """What each remaining bottom must read after the removal, per phase."""
    expected: Expected = {}
    breaks: list[_Break] = []
    for graph in graphs:
        phase = graph.state.phase
        for layer in graph.layers:
            if layer in removed:
                continue
            for index, version in enumerate(graph.bottoms(layer)):
                if version is None:
                    continue  # unbound in the input already; check reports it
                resolved = _resolve(graph, origin_of(graph, version), removed)
                if isinstance(resolved, Layer):
                    breaks.append(_Break(layer, phase, resolved, version.name))
                else:
                    expected.setdefault((layer, index), {})[phase] = resolved
    return expected, breaks


def _why_not(layer: Layer) -> str:
    if len(layer.tops) > 1:
        return f"it has {len(layer.tops)} tops"
    if not layer.bottoms:
        return "it has no bottom to read instead"
    if len(layer.bottoms) > 1:
        return f"it has {len(layer.bottoms)} bottoms, so there is no one blob to read instead"
    return "its bottom is not produced by any earlier layer"


def _refuse_breaks(net: Net, breaks: Sequence[_Break]) -> None:
    cause = breaks[0].cause
    mine = [b for b in breaks if b.cause is cause]
    readers = list(dict.fromkeys(b.reader for b in mine))
    phases = sorted({b.phase for b in mine})
    named = ", ".join(net.describe(x) for x in readers[:3])
    more = f" and {len(readers) - 3} more" if len(readers) > 3 else ""
    blobs = list(dict.fromkeys(b.blob for b in mine))
    quoted = ", ".join(f"'{b}'" for b in blobs)
    outputs = f"its output{'s' if len(blobs) > 1 else ''} {quoted}"
    verb, them = ("reads", "it") if len(readers) == 1 else ("read", "them")
    raise SurgeryError(
        f"cannot remove {net.describe(cause)}: {_why_not(cause)}, and {named}{more} {verb}"
        f" {outputs} (phase {', '.join(phases)}); remove {them} too, or rewire {them} first"
    )


def _rewirings(net: Net, expected: Expected) -> list[Rewiring]:
    """The bottoms whose blob name changes: the name of the origin they must read."""
    out = []
    for (layer, index), by_phase in expected.items():
        names = {origin.blob for origin in by_phase.values()}
        if len(names) > 1:
            spelled = ", ".join(
                f"'{origin.blob}' in {phase}" for phase, origin in sorted(by_phase.items())
            )
            raise SurgeryError(
                f"{net.describe(layer)}: bottom {index} would have to read {spelled};"
                " one bottom cannot name two blobs, so remove the layers one phase at a time"
            )
        (name,) = names
        if name != layer.bottoms[index]:
            out.append(Rewiring(layer, index, layer.bottoms[index], name))
    return sorted(out, key=lambda r: (net.index_of(r.layer), r.bottom_index))


def _verify(
    net: Net,
    states: Sequence[NetState],
    expected: Expected,
    renamed: Mapping[Layer, Layer],
    removed: str,
) -> None:
    """Every remaining bottom binds, in the edited net, to the origin it was meant to."""
    original = {new: old for old, new in renamed.items()}
    for state in states:
        graph = graph_of(net, state)
        for (layer, index), by_phase in expected.items():
            want = by_phase.get(graph.state.phase)
            current = renamed.get(layer, layer)
            if want is None or current not in graph.graph:
                continue
            version = graph.bottom(current, index)
            got = None if version is None else origin_of(graph, version)
            if got is not None and got.layer is not None:
                got = got._replace(layer=original.get(got.layer, got.layer))
            if got != want:
                raise SurgeryError(_rebound_message(net, current, index, want, got, removed))


def _rebound_message(
    net: Net,
    layer: Layer,
    index: int,
    want: Origin,
    got: Origin | None,
    removed: str,
) -> str:
    source = "a net input" if want.layer is None else f"layer '{want.layer.name}'"
    if got is None:
        instead = "nothing"
    elif got.layer is None:
        instead = "the net input"
    else:
        instead = f"the version layer '{got.layer.name}' writes"
    return (
        f"cannot remove {removed}: {net.describe(layer)} would read '{want.blob}' from"
        f" {instead} rather than from {source}, since Caffe binds a bottom to the latest"
        " earlier version of its blob"
    )


def remove(net: Net, layers: Sequence[Layer]) -> Removal:
    """Remove ``layers`` from ``net`` (edited in place), bridging their readers."""
    removed = set(layers)
    states = phase_states(net)
    graphs = [graph_of(net, state) for state in states]
    expected, breaks = _plan(graphs, removed)
    if breaks:
        _refuse_breaks(net, breaks)
    rewirings = _rewirings(net, expected)
    labels = ", ".join(f"'{net.label(x)}'" for x in layers[:3]) + (
        f" and {len(layers) - 3} more" if len(layers) > 3 else ""
    )
    # Removing first drops the cached graphs, which the edited net no longer matches, so
    # the rewiring need not keep them up to date, bottom by bottom.
    remove_layers(net, removed)
    renamed = rewire(net, [(r.layer, r.bottom_index, r.after) for r in rewirings])
    _verify(net, states, expected, renamed, labels)
    return Removal(tuple(layers), tuple(rewirings))
