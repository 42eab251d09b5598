"""Splice a fragment of layers into a net: after a blob's final version, consumers rewired.

The fragment goes right after the last layer of the blob's in-place chain, reads that
final version, and every layer that read it, in every phase, reads the fragment's output
instead. Its names are made unique first (a prefix, chosen or given), so nothing it
writes can change how the net's own bottoms bind.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..core.layerdef import LayerDef
from ..core.net import Layer, Net, param_names
from ..core.ops import insert_layers, rewire
from ..errors import SurgeryError
from .anchor import InsertionPoint
from .fragment import free_bottoms, unconsumed_tops

__all__ = [
    "choose_prefix",
    "existing_names",
    "free_bottoms",
    "new_layers",
    "splice",
    "unconsumed_tops",
]


def existing_names(net: Net) -> set[str]:
    """Every layer, blob and shared-param name already in the net."""
    names = net.layer_names | net.blob_names
    for layer in net.layers:
        names.update(name for name in param_names(layer) if name)
    return names


def choose_prefix(
    names: Collection[str],
    taken: Collection[str],
    wanted: str | None,
    keep: Collection[str] = (),
    notes: list[str] | None = None,
) -> str:
    """The prefix for a fragment's ``names``: ``wanted`` if given (it must clear every
    collision), none if nothing collides, else the first free ``scnnN_``."""
    names = set(names) - set(keep)
    for name in keep:
        if name in taken:
            raise SurgeryError(f"--top '{name}' is already a name in the net; choose another")

    def clashes(prefix: str) -> set[str]:
        return {prefix + name for name in names} & set(taken)

    if wanted:
        found = clashes(wanted)
        if found:
            raise SurgeryError(
                f"{_count_names(found)} collide with the net's even with prefix '{wanted}'"
                f" ({_some_names(found, 5)}); choose another --prefix"
            )
        return wanted
    first = clashes("")
    if not first:
        return ""
    for n in range(1, 1000):
        candidate = f"scnn{n}_"
        if not clashes(candidate):
            if notes is not None:
                notes.append(
                    f"{_count_names(first)} already in the net ({_some_names(first, 5)});"
                    f" using prefix '{candidate}' (choose one with --prefix)"
                )
            return candidate
    raise SurgeryError("could not find a free name prefix for the module")


def _count_names(names: Collection[str]) -> str:
    return f"{len(names)} name{'s' if len(names) != 1 else ''}"


def _some_names(names: Collection[str], limit: int) -> str:
    """Every name, or the first ``limit`` and how many more: never some passed for all."""
    ordered = sorted(names)
    shown = ", ".join(f"'{name}'" for name in ordered[:limit])
    rest = len(ordered) - limit
    return shown if rest <= 0 else f"{shown} and {rest} more"


def new_layers(definitions: Sequence[LayerDef]) -> list[Layer]:
    return [Layer.from_definition(d) for d in definitions]


def splice(
    net: Net,
    layers: Sequence[Layer],
    point: InsertionPoint,
    output: str | None,
    after: Layer | None = None,
) -> None:
    """Insert ``layers`` after ``after`` (default: the end of the point's chain) and rewire
    the point's consumers to ``output`` (None: a branch beside the net, nothing rewired)."""
    insert_layers(net, point.after if after is None else after, layers)
    if output is not None:
        rewire(net, [(c.layer, c.bottom_index, output) for c in point.consumers])
