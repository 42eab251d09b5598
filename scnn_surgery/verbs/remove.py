"""Remove LAYERS from MODEL (a prototxt; '-' reads stdin).

An in-place layer simply goes; the readers of a one-bottom, one-top layer read its
bottom instead, in every phase. A name shared by several layers (per-phase variants)
removes them all; '#N' (quoted for the shell) names the N-th layer of the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..analysis.forkrules import ruled
from ..analysis.shapes import ShapeOverrides, format_shape, infer_shapes
from ..analysis.verify import check_result
from ..core.graph import graph_of, phase_states
from ..core.net import Layer, Net
from ..errors import SurgeryError
from ..options import RemoveOptions
from ..passes.remove import Removal, Rewiring, select_layers
from ..passes.remove import remove as remove_from_net
from ..runtime import paused_gc
from . import VerbSpec


@dataclass
class RemoveResult:
    """The net without the layers, and what happened to their readers."""

    net: Net
    removed: tuple[Layer, ...]
    rewired: tuple[Rewiring, ...]
    notes: list[str]
    done: str | None = None


def remove(
    net: Net,
    names: Sequence[str] | RemoveOptions,
    *,
    shapes: ShapeOverrides | None = None,
    proto: str | None = None,
) -> RemoveResult:
    """Remove the layers ``names`` name (every layer of a name; ``#N`` is the N-th layer).

    An in-place layer simply goes; the readers of a one-bottom, one-top layer read its
    bottom instead, in every phase; a layer nothing reads goes whatever its shape. Anything
    else is refused, naming the layers that would break. The result is checked (with
    ``shapes`` and ``proto`` as ``check`` takes them); ``net`` itself is not changed.
    ``names`` may be a :class:`RemoveOptions`, which then says all three.
    """
    if isinstance(names, RemoveOptions):
        options = names
        names, shapes, proto = options.layers, dict(options.shapes), options.proto
        net = ruled(net, options.shape_rules)
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; rewrite it as V2 first with 'scnn-surgery upgrade'"
        )
    if not names:
        raise SurgeryError("name at least one layer to remove")
    with paused_gc():
        work = net.copy()
        chosen = select_layers(work, names)
        notes = _same_name_notes(work, names, chosen)
        described = {layer: work.describe(layer) for layer in chosen}
        removal = remove_from_net(work, chosen)
        notes += _removal_notes(removal, described)
        notes += check_result(net, work, shapes=shapes, proto=proto)
        notes += _reshaped_readers(net, work, removal, shapes or {})
    return RemoveResult(work, removal.layers, removal.rewired, notes)


def _reshaped_readers(
    before: Net, after: Net, removal: Removal, overrides: ShapeOverrides
) -> list[str]:
    """Warnings for the readers that now get a map of another shape: bridging a layer
    that changed its input's shape (a convolution, a pooling) is valid, but what the
    readers and the layers after them compute, and the weights they need, change."""
    if not removal.rewired:
        return []
    now = {id(layer.text): layer for layer in after.layers if layer.text is not None}
    seen: set[tuple[str, int]] = set()
    notes = []
    for state in phase_states(before):
        old_graph, new_graph = graph_of(before, state), graph_of(after, state)
        old_shapes = infer_shapes(before, old_graph, overrides)
        new_shapes = infer_shapes(after, new_graph, overrides)
        for change in removal.rewired:
            reader = now.get(id(change.layer.text))
            key = (change.layer.name, change.bottom_index)
            if reader is None or key in seen or reader not in new_graph.graph:
                continue
            if change.layer not in old_graph.graph:
                continue
            was = old_shapes.layer_inputs(change.layer)[change.bottom_index]
            gets = new_shapes.layer_inputs(reader)[change.bottom_index]
            if was is None or gets is None or was == gets:
                continue
            seen.add(key)
            notes.append(
                f"warning: '{reader.name}' now reads '{change.after}' ({format_shape(gets)})"
                f" where it read '{change.before}' ({format_shape(was)}): what it and the"
                " layers after it compute changes, and weights made for it no longer fit"
            )
    return notes


def _same_name_notes(net: Net, names: Sequence[str], chosen: Sequence[Layer]) -> list[str]:
    """Said when one name stands for several layers (per-phase variants), all removed."""
    by_name: dict[str, list[Layer]] = {}
    for layer in chosen:
        by_name.setdefault(layer.name, []).append(layer)
    notes = []
    for name in dict.fromkeys(names):
        same = by_name.get(name, [])
        if len(same) > 1:
            where = ", ".join(net.layer_location(x) or "?" for x in same)
            notes.append(f"'{name}' names {len(same)} layers ({where}); removing all of them")
    return notes


def _removal_notes(removal: Removal, described: dict[Layer, str]) -> list[str]:
    by_layer: dict[Layer, list[Rewiring]] = {}
    for rewiring in removal.rewired:
        by_layer.setdefault(rewiring.layer, []).append(rewiring)
    rewired = "; ".join(
        f"'{layer.name}' bottom {', '.join(str(r.bottom_index) for r in changes)}:"
        f" {changes[0].before} -> {changes[0].after}"
        for layer, changes in by_layer.items()
    )
    names = ", ".join(described[x] for x in removal.layers)
    notes = [f"removed {names}"]
    if rewired:
        notes.append(f"rewired {rewired}")
    return notes


VERB = VerbSpec("remove", remove)
