"""Rename layers of MODEL (a prototxt; '-' reads stdin): each OLD=NEW renames the
layer OLD and, where it writes a blob of its own name (Caffe's convention), that blob in
every layer that reads or writes it, in every phase. Every layer of a name is renamed
(per-phase variants share one); '#N' is the N-th layer of the file. Nothing else changes,
byte for byte. With --weights, the caffemodel's entry of a layer goes under its new name.

Refused: an OLD that names no layer, a NEW another layer or blob has, and renaming one of
several layers of a name that share a param { name } (their weights would split).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..analysis.forkrules import ruled
from ..analysis.shapes import ShapeOverrides
from ..analysis.verify import check_result
from ..core.net import Layer, Net, param_names
from ..core.ops import rename_layer, replace_layers
from ..errors import SurgeryError
from ..options import RenameOptions
from ..passes.anchor import closest_names
from ..passes.remove import select_layers
from ..runtime import paused_gc
from . import VerbSpec


@dataclass
class RenameResult:
    """The net under the new names; ``renamed`` maps each old layer name to its new one."""

    net: Net
    renamed: dict[str, str]
    blobs: dict[str, str]  # the blobs renamed with their layers
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> str:
        pairs = ", ".join(f"'{old}' -> '{new}'" for old, new in self.renamed.items())
        blobs = f" (and {len(self.blobs)} blobs of their names)" if self.blobs else ""
        return f"renamed {pairs}{blobs}"


def rename(
    net: Net,
    renames: Mapping[str, str] | RenameOptions,
    *,
    shapes: ShapeOverrides | None = None,
    proto: str | None = None,
) -> RenameResult:
    """Rename each layer OLD to NEW (``renames``: OLD -> NEW), with the blob of its name
    it writes, in every reader and phase. Refused: an OLD that names no layer, a NEW that
    another layer or blob already has, and a rename that would split the layers sharing a
    ``param { name }`` between two names. The result is checked; ``net`` is not changed."""
    if isinstance(renames, RenameOptions):
        options = renames
        renames, shapes, proto = options.renames, dict(options.shapes), options.proto
        net = ruled(net, options.shape_rules)
    if not renames:
        raise SurgeryError("name at least one layer to rename, OLD=NEW")
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; rewrite it as V2 first with 'scnn-surgery upgrade'"
        )
    with paused_gc():
        work = net.copy()
        chosen = {old: select_layers(work, [old]) for old in renames}
        layers = {layer: renames[old] for old, found in chosen.items() for layer in found}
        _refuse_layer_collisions(work, layers)
        _refuse_split_sharing(work, chosen, layers)
        blobs = _renamed_blobs(work, layers)
        _refuse_blob_collisions(work, blobs)
        replace_layers(work, _renamed_layers(work, layers, blobs))
        notes = check_result(net, work, shapes=shapes, proto=proto)
    renamed = {layer.name: new for layer, new in layers.items()}
    return RenameResult(work, renamed, blobs, notes)


def _refuse_layer_collisions(net: Net, layers: Mapping[Layer, str]) -> None:
    """A new name must be free once the renames are made, and given to one name only."""
    kept = {layer.name: layer for layer in net.layers if layer not in layers}
    given: dict[str, str] = {}
    for layer, new in layers.items():
        if not new:
            raise SurgeryError(f"{net.describe(layer)}: a layer's new name cannot be empty")
        if new in kept:
            raise SurgeryError(
                f"cannot rename '{layer.name}' to '{new}': {net.describe(kept[new])} has that"
                " name already"
            )
        if given.setdefault(new, layer.name) != layer.name:
            raise SurgeryError(
                f"cannot rename both '{given[new]}' and '{layer.name}' to '{new}'"
            )


def _refuse_split_sharing(
    net: Net, chosen: Mapping[str, Sequence[Layer]], layers: Mapping[Layer, str]
) -> None:
    """Layers of one name that share a ``param { name }`` are one layer to a caffemodel
    (its entry is found by the layer's name): renaming some of them and not the others
    (``#N``) would split their weights between two names."""
    for old, found in chosen.items():
        for layer in found:
            shared = {n for n in param_names(layer) if n}
            twins = [
                x for x in net.layers
                if x.name == layer.name and x not in layers and shared & set(param_names(x))
            ]  # fmt: skip
            if twins:
                raise SurgeryError(
                    f"cannot rename {old} alone: {net.describe(twins[0])} has its name and"
                    f" shares its param '{sorted(shared & set(param_names(twins[0])))[0]}';"
                    f" renaming one of them splits their weights (rename '{layer.name}')"
                )


def _renamed_blobs(net: Net, layers: Mapping[Layer, str]) -> dict[str, str]:
    """The blobs that go with their layers: a layer writing a blob of its own name."""
    return {layer.name: new for layer, new in layers.items() if layer.name in layer.tops}


def _refuse_blob_collisions(net: Net, blobs: Mapping[str, str]) -> None:
    existing = net.blob_names - set(blobs)
    for old, new in blobs.items():
        if new in existing:
            suggestions = closest_names(new + "_", existing)
            hint = f" (the net's blobs include {', '.join(suggestions)})" if suggestions else ""
            raise SurgeryError(
                f"cannot rename '{old}' to '{new}': the net already has a blob '{new}', which"
                f" the renamed blob '{old}' would merge with{hint}"
            )
    taken = [new for new in blobs.values()]
    if len(set(taken)) != len(taken):
        raise SurgeryError("two renamed blobs would get one name")


def _renamed_layers(
    net: Net, layers: Mapping[Layer, str], blobs: Mapping[str, str]
) -> dict[Layer, Layer]:
    out = {}
    for layer in net.layers:
        name = layers.get(layer, layer.name)
        bottoms = [blobs.get(b, b) for b in layer.bottoms]
        tops = [blobs.get(t, t) for t in layer.tops]
        if name != layer.name or bottoms != list(layer.bottoms) or tops != list(layer.tops):
            out[layer] = rename_layer(layer, name=name, bottoms=bottoms, tops=tops)
    return out


VERB = VerbSpec("rename", rename)
