"""Rename layers of MODEL (a prototxt; '-' reads stdin): each OLD=NEW renames the
layer OLD and, where it writes a blob of its own name (Caffe's convention), that blob in
every layer that reads or writes it, in every phase. Every layer of a name is renamed
(per-phase variants share one); '#N' is the N-th layer of the file, and an unnamed one
gets a name field. A top-level input (input: "data") is renamed with its blob. Nothing
else changes, byte for byte. With --weights, the caffemodel's entry of a layer goes
under its new name; its unnamed entries, under the names of the unnamed layers they
were written for.

Refused: an OLD that names no layer, a NEW another layer or blob has, a NEW no rename
could give back (holding '=', or of the form #N), and renaming one of several layers of
a name that share a param { name } (their weights would split).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.forkrules import ruled
from ..analysis.shapes import ShapeOverrides
from ..analysis.verify import check_result
from ..core.formats import V1_TYPE_NAMES
from ..core.net import Layer, Net, param_names
from ..core.ops import rename_input, rename_layer, replace_layers
from ..errors import SurgeryError
from ..options import RenameOptions
from ..passes.anchor import closest_names
from ..passes.remove import select_layers
from ..runtime import paused_gc
from ..weights import Caffemodel
from . import VerbSpec


@dataclass
class RenameResult:
    """The net under the new names. ``renamed`` maps each old layer name to its new one
    (the caffemodel's entries follow it); ``labels`` says what was renamed, an unnamed
    layer as ``#N``, and ``unnamed`` lists the unnamed layers of the input in file order,
    each with its type and new name (None: still unnamed), for the caffemodel's unnamed
    entries (:meth:`adjust_weights`)."""

    net: Net
    renamed: dict[str, str]
    blobs: dict[str, str]  # the blobs renamed with their layers
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    unnamed: tuple[tuple[str, str | None], ...] = ()
    # A rename adds and takes out no layer, whatever names came and went.
    added: tuple[Layer, ...] = ()
    removed: tuple[Layer, ...] = ()

    @property
    def done(self) -> str:
        pairs = ", ".join(
            f"'{old}' -> '{new}'" if old[:1] != "#" else f"{old} -> '{new}'"
            for old, new in (self.labels or self.renamed).items()
        )
        blobs = len(set(self.blobs) & set(self.renamed))  # an input is its blob
        whose = "blobs of their names" if blobs > 1 else "blob of its name"
        tail = f" (and {blobs} {whose})" if blobs else ""
        return f"renamed {pairs}{tail}"

    def adjust_weights(self, source: Caffemodel) -> list[str]:
        """Name the caffemodel's unnamed entries after the unnamed layers renamed."""
        return name_unnamed_entries(source, self.unnamed)


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
    _refuse_new_names(net, renames.values())
    with paused_gc():
        work = net.copy()
        inputs = _renamed_inputs(work, renames)
        chosen = {old: select_layers(work, [old]) for old in renames if old not in inputs}
        layers = {layer: renames[old] for old, found in chosen.items() for layer in found}
        _refuse_layer_collisions(work, layers)
        _refuse_split_sharing(work, chosen, layers)
        blobs = {**_renamed_blobs(work, layers), **inputs}
        _refuse_blob_collisions(work, blobs)
        labels = {
            label: new for old, new in renames.items()
            for label in ([old] if old in inputs else [work.label(x) for x in chosen[old]])
        }  # fmt: skip
        renamed = {layer.name: new for layer, new in layers.items() if layer.name}
        unnamed = tuple((x.type, layers.get(x)) for x in work.layers if not x.name)
        replace_layers(work, _renamed_layers(work, layers, blobs))
        for old, new in inputs.items():
            rename_input(work, old, new)
        notes = check_result(net, work, shapes=shapes, proto=proto, renamed=labels)
    return RenameResult(work, renamed, blobs, notes, labels, unnamed)


def _refuse_new_names(net: Net, names: Iterable[str]) -> None:
    """A new name must be one a later rename can give back as OLD: OLD=NEW splits at the
    first '=', and '#N' names the N-th layer."""
    for new in names:
        if "=" in new:
            raise SurgeryError(
                f"{net.source}: a new name cannot hold '=' ('{new}'): OLD=NEW splits at the"
                " first '=', so no rename could give the name back; to rename a layer whose"
                " name holds '=', give it as #N"
            )
        if _NUMBERED.fullmatch(new):
            raise SurgeryError(
                f"{net.source}: '{new}' cannot be a new name: #N names the N-th layer of the"
                " file"
            )


_NUMBERED = re.compile(r"#\d+")


def _renamed_inputs(net: Net, renames: Mapping[str, str]) -> dict[str, str]:
    """The top-level inputs (``input:``) renamed, old -> new: an input is the blob of its
    own name, as an Input layer writing a blob of its name is (a layer of that name wins)."""
    given = {x.name for x in net.inputs} - net.layer_names
    return {old: new for old, new in renames.items() if old in given}


def name_unnamed_entries(
    source: Caffemodel, unnamed: Sequence[tuple[str, str | None]]
) -> list[str]:
    """Give the caffemodel's unnamed entries (in place) the new names of the unnamed
    layers (``unnamed``: each one's type and new name, None when it stays unnamed, in
    file order); returns notes.

    Caffe copies an entry into the first layer of its name (``CopyTrainedLayersFrom``),
    so every unnamed entry goes to the first unnamed layer: a net with two of them loads
    a snapshot of its own only when no later one has blobs. Caffe's snapshot writes one
    entry per layer in order, so when the unnamed entries are as many as the unnamed
    layers, and of their types, each one is the layer's it stands beside and takes its
    new name; otherwise they all go, as Caffe sends them, to the first."""
    entries = [e for e in source.layers if not e.name]
    if not entries or all(new is None for _, new in unnamed):
        return []
    types = [_entry_type(e, source.legacy) for e in entries]
    if types == [t for t, _ in unnamed]:
        for entry, (_, new) in zip(entries, unnamed, strict=True):
            entry.name = new or ""
        return []
    first = unnamed[0][1]
    if first is None:
        return []
    for entry in entries:
        entry.name = first
    return [
        f"note: {source.source}'s {len(entries)} unnamed entries are not one per unnamed"
        f" layer, of its type; as Caffe loads them, they all went to the first, now '{first}'"
    ] if len(entries) > 1 else []  # fmt: skip


def _entry_type(entry: Any, legacy: bool) -> str:
    """An entry's layer type as a net's layer states it (a V1 entry's is an enum)."""
    if not legacy:
        return str(entry.type)
    enum = type(entry).DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number
    value = enum.get(entry.type)
    return V1_TYPE_NAMES.get(value.name, "") if value is not None else ""


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
    (``#N``) would split their weights between two names. Unnamed layers are not one
    layer to it (Caffe gives the unnamed entries to the first), so naming one splits
    nothing: the others share its blobs by the param name."""
    for old, found in chosen.items():
        for layer in (x for x in found if x.name):
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
