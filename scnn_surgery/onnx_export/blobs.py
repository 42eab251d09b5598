"""The parameter values an exported graph holds: a caffemodel's, matched to the layers by
name as ``Net::CopyTrainedLayersFrom`` matches them (each entry goes to the first layer of
the phase with its name; a later layer of that name keeps its fillers), or the fillers'
(``--weights-out``'s values) where there is none.

Layers that share a parameter by name get one initializer. Caffe's shared blobs are one
memory, so when several sharing layers are in the caffemodel the one loaded last (the
latest in the file) is what the net holds; the same is taken here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analysis.params import bn_blob_count, fork_param, raw_bool
from ..analysis.shapes import MaybeShape, format_shape
from ..core.net import Layer, Net, param_names
from ..core.typed import fill_message
from ..errors import SurgeryError
from ..schema import caffe_pb2
from ..weights import (
    Caffemodel,
    blob_array,
    blob_matches,
    blob_shape,
    fill,
    layer_param_blobs,
)

__all__ = ["LayerBlobs", "expected_blob_shapes", "resolve_blobs"]


@dataclass
class LayerBlobs:
    """Every exported layer's blobs (float32, in the shapes the layer makes them) and the
    initializer key each is stored under (a sharing name, or the layer's own)."""

    values: dict[Layer, list[np.ndarray]] = field(default_factory=dict)
    keys: dict[Layer, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def expected_blob_shapes(
    net: Net, layer: Layer, bottoms: Sequence[MaybeShape], stored: int | None
) -> list[tuple[int, ...]]:
    """The shapes of the blobs Caffe (or the fork) gives the layer; ``stored`` is how many
    the caffemodel holds for it, which tells the forks' two BN layouts apart."""
    planned = layer_param_blobs(net, layer, bottoms)
    if planned is not None:
        return [tuple(blob.shape) for blob in planned]
    x = bottoms[0] if bottoms else None
    channels = x[1] if x is not None and len(x) > 1 else None
    if layer.type == "BN" and channels is not None:
        count = stored if stored in (2, 4) else bn_blob_count(layer)
        return [(1, channels, 1, 1)] * count
    if layer.type == "Normalize" and channels is not None:
        shared = raw_bool(fork_param(layer, "norm_param"), "channel_shared", True)
        return [(1,) if shared else (channels,)]
    return []


def _fork_default(net: Net, layer: Layer, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """What a fork layer is filled with when no caffemodel gives its blobs: BN's slope 1,
    bias and mean 0, variance 1 (scale 1 and shift 0 for the 2-blob BN); Normalize's scale
    from its scale_filler (SSD's NormalizeLayer; constant 1 without one)."""
    if layer.type == "Normalize":
        return _normalize_scale(net, layer, shape)
    one = layer.type == "BN" and index in (0, 3)
    return np.full(shape, 1.0 if one else 0.0, dtype=np.float32)


def _normalize_scale(net: Net, layer: Layer, shape: tuple[int, ...]) -> np.ndarray:
    raw = fork_param(layer, "norm_param")
    given = raw.message("scale_filler") if raw is not None else None
    if given is None or layer.text is None:
        return np.full(shape, 1.0, dtype=np.float32)
    filler = fill_message(
        layer.text.document, given, caffe_pb2.FillerParameter(), f"{net.describe(layer)}: "
    )
    return fill(filler, shape, np.random.default_rng(0))


def _located(net: Net, layer: Layer, source: str, message: str) -> SurgeryError:
    return SurgeryError(f"{source}: {message} for {net.describe(layer)}; nothing was written")


def _stored_values(
    net: Net, layer: Layer, entry: Any, shapes: list[tuple[int, ...]], source: str
) -> list[np.ndarray]:
    blobs = list(entry.blobs)
    if len(blobs) != len(shapes):
        raise _located(
            net, layer, source,
            f"layer '{entry.name}' holds {len(blobs)} blob{'s' * (len(blobs) != 1)}, but Caffe"
            f" makes {len(shapes)}",
        )  # fmt: skip
    out = []
    for i, (blob, shape) in enumerate(zip(blobs, shapes, strict=True)):
        if not blob_matches(blob, shape):
            raise _located(
                net, layer, source,
                f"layer '{entry.name}' param {i} is {format_shape(blob_shape(blob))},"
                f" but Caffe makes it {format_shape(shape)}",
            )  # fmt: skip
        out.append(blob_array(blob).reshape(shape))
    return out


def _own_key(number: int, index: int) -> str:
    """The key of blob ``index`` of the exported layer ``number`` when it shares with no
    other: by place, as layers may share a name and still hold blobs of their own."""
    return f"layer:{number}:{index}"


def first_of_each_name(phase_layers: Sequence[Layer]) -> dict[str, Layer]:
    """The layer a caffemodel entry of each name is copied to: Net::CopyTrainedLayersFrom
    searches the phase's layers from the first for each entry, so the first of the name."""
    first: dict[str, Layer] = {}
    for layer in phase_layers:
        first.setdefault(layer.name, layer)
    return first


def _places_among_namesakes(net: Net) -> dict[Layer, int]:
    """Each layer's place among the net's layers of its name (0 for the first)."""
    seen: dict[str, int] = {}
    places = {}
    for layer in net.layers:
        places[layer] = seen[layer.name] = seen.get(layer.name, -1) + 1
    return places


def _filler_values(
    net: Net, layer: Layer, candidates: Sequence[Any], place: int, shapes: list[tuple[int, ...]]
) -> list[np.ndarray]:
    """The layer's blobs from the fillers' caffemodel, else the fork defaults. Its entries
    follow the net's layers, so among entries of one name the layer's own is the one at
    its ``place`` among its namesakes (else the first whose blobs fit)."""
    for entry in [*candidates[place : place + 1], *candidates]:
        blobs = list(entry.blobs)
        if len(blobs) == len(shapes) and all(map(blob_matches, blobs, shapes)):
            return _stored_values(net, layer, entry, shapes, "the fillers")
    return [_fork_default(net, layer, i, s) for i, s in enumerate(shapes)]


def resolve_blobs(
    net: Net,
    layers: Sequence[Layer],
    bottoms: dict[Layer, list[MaybeShape]],
    source: Caffemodel | None,
    filled: Callable[[], Caffemodel | None],
    phase_layers: Sequence[Layer] | None = None,
) -> LayerBlobs:
    """Each layer's blobs from ``source`` (by name, for the first layer of each name among
    ``phase_layers``, all the phase's layers; default ``layers``), else from ``filled()``
    (the fillers' caffemodel, made only if needed), else the fork defaults; a stored blob
    of the wrong shape is refused."""
    result = LayerBlobs()
    entries = {entry.name: (i, entry) for i, entry in enumerate(source.layers)} if source else {}
    first = first_of_each_name(layers if phase_layers is None else phase_layers)
    filler_entries: dict[str, list[Any]] | None = None
    places: dict[Layer, int] = {}
    exported = {layer.name for layer in layers}
    shared: dict[str, tuple[int, np.ndarray]] = {}  # name -> (caffemodel position, values)
    missing: list[Layer] = []
    shadowed: list[Layer] = []
    for number, layer in enumerate(layers):
        found = entries.get(layer.name)
        named_later = found is not None and first[layer.name] is not layer
        if named_later:
            found = None
        stored = len(found[1].blobs) if found else None
        shapes = expected_blob_shapes(net, layer, bottoms[layer], stored)
        if found is None and not shapes:
            continue
        if named_later:
            shadowed.append(layer)
        position = -1
        if found is not None:
            position = found[0]
            values = _stored_values(net, layer, found[1], shapes, source.source)  # type: ignore[union-attr]
        else:
            if source is not None and not named_later:
                missing.append(layer)
            if filler_entries is None:
                made = filled()
                filler_entries = {}
                for entry in made.layers if made is not None else []:
                    filler_entries.setdefault(entry.name, []).append(entry)
                places = _places_among_namesakes(net)
            namesakes = filler_entries.get(layer.name, [])
            values = _filler_values(net, layer, namesakes, places.get(layer, 0), shapes)
        names = param_names(layer)
        keys = []
        for i, array in enumerate(values):
            name = names[i] if i < len(names) else None
            if name:
                key = f"param:{name}"
                held = shared.get(key)
                loaded_later = held is not None and position >= max(held[0], 0)
                if held is None or (loaded_later and held[1].shape == array.shape):
                    shared[key] = (position, array)
            else:
                key = _own_key(number, i)
            keys.append(key)
        result.values[layer] = values
        result.keys[layer] = keys
    # A shared blob is the one value Caffe holds for every layer that shares it.
    numbers = {layer: number for number, layer in enumerate(layers)}
    for layer, keys in result.keys.items():
        for i, key in enumerate(keys):
            held = shared.get(key)
            if held is not None and held[1].shape == result.values[layer][i].shape:
                result.values[layer][i] = held[1]
            elif key.startswith("param:"):
                keys[i] = _own_key(numbers[layer], i)  # a permissive share of another shape
    if source is not None:
        unused = [name for name, (_, entry) in entries.items()
                  if name not in exported and len(entry.blobs)]  # fmt: skip
        if unused:
            result.notes.append(
                f"{len(unused)} layer{'s' * (len(unused) != 1)} of {source.source} with blobs"
                f" {'are' if len(unused) != 1 else 'is'} not in the exported graph and"
                f" {'were' if len(unused) != 1 else 'was'} ignored, as Caffe ignores them"
                f" (first: '{unused[0]}')"
            )
        if missing:
            result.notes.append(
                f"{len(missing)} layer{'s' * (len(missing) != 1)} with parameters"
                f" {'are' if len(missing) != 1 else 'is'} not in {source.source}; filled from"
                f" {'their' if len(missing) != 1 else 'its'} fillers, as Caffe fills them"
                f" (first: '{missing[0].name}')"
            )
        if shadowed:
            result.notes.append(_shadowed_note(net, shadowed, first, source.source))
    return result


def _shadowed_note(
    net: Net, shadowed: Sequence[Layer], first: dict[str, Layer], source: str
) -> str:
    """Why layers named as an earlier one keep their fillers' values."""
    named = "; ".join(
        f"{net.describe(layer)}, named as {net.describe(first[layer.name])}"
        for layer in shadowed[:3]
    )
    more = f"; and {len(shadowed) - 3} more" if len(shadowed) > 3 else ""
    return (
        f"warning: Caffe copies each layer of {source} to the first layer of its name only"
        f" (Net::CopyTrainedLayersFrom), so {named}{more},"
        f" {'keep their' if len(shadowed) != 1 else 'keeps its'} fillers' values, as exported"
    )
