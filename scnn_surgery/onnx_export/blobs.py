"""The parameter values an exported graph holds: a caffemodel's, matched to the layers by
name as ``Net::CopyTrainedLayersFrom`` matches them, or the fillers' (``--weights-out``'s
values) where there is none.

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
from ..errors import SurgeryError
from ..weights import Caffemodel, blob_array, blob_matches, blob_shape, layer_param_blobs

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


def _fork_default(layer: Layer, index: int, shape: tuple[int, ...]) -> np.ndarray:
    """What a fork layer is filled with when no caffemodel gives its blobs: BN's slope 1,
    bias and mean 0, variance 1 (scale 1 and shift 0 for the 2-blob BN); Normalize's scale
    1 (the forks' default fillers)."""
    one = (layer.type == "BN" and index in (0, 3)) or layer.type == "Normalize"
    return np.full(shape, 1.0 if one else 0.0, dtype=np.float32)


def _located(net: Net, layer: Layer, source: str, message: str) -> SurgeryError:
    return SurgeryError(f"{source}: {message} for {net.describe(layer)}; nothing was written")


def _stored_values(
    net: Net, layer: Layer, entry: Any, shapes: list[tuple[int, ...]], source: str
) -> list[np.ndarray]:
    blobs = list(entry.blobs)
    if len(blobs) != len(shapes):
        raise _located(
            net, layer, source,
            f"layer '{entry.name}' holds {len(blobs)} blobs, but Caffe makes {len(shapes)}",
        )  # fmt: skip
    out = []
    for i, (blob, shape) in enumerate(zip(blobs, shapes, strict=True)):
        if not blob_matches(blob, shape):
            raise _located(
                net, layer, source,
                f"blob #{i + 1} of layer '{entry.name}' is {format_shape(blob_shape(blob))},"
                f" but Caffe makes it {format_shape(shape)}",
            )  # fmt: skip
        out.append(blob_array(blob).reshape(shape))
    return out


def resolve_blobs(
    net: Net,
    layers: Sequence[Layer],
    bottoms: dict[Layer, list[MaybeShape]],
    source: Caffemodel | None,
    filled: Callable[[], Caffemodel | None],
) -> LayerBlobs:
    """Each layer's blobs from ``source`` (by name), else from ``filled()`` (the fillers'
    caffemodel, made only if needed), else the fork defaults; a stored blob of the wrong
    shape is refused."""
    result = LayerBlobs()
    entries = {entry.name: (i, entry) for i, entry in enumerate(source.layers)} if source else {}
    filler_entries: dict[str, Any] | None = None
    exported = {layer.name for layer in layers}
    shared: dict[str, tuple[int, np.ndarray]] = {}  # name -> (caffemodel position, values)
    missing = []
    for layer in layers:
        found = entries.get(layer.name)
        stored = len(found[1].blobs) if found else None
        shapes = expected_blob_shapes(net, layer, bottoms[layer], stored)
        if found is None and not shapes:
            continue
        position = -1
        if found is not None:
            position = found[0]
            values = _stored_values(net, layer, found[1], shapes, source.source)  # type: ignore[union-attr]
        else:
            if source is not None:
                missing.append(layer)
            if filler_entries is None:
                made = filled()
                filler_entries = {e.name: e for e in made.layers} if made is not None else {}
            entry = filler_entries.get(layer.name)
            if entry is not None and len(entry.blobs) == len(shapes):
                values = _stored_values(net, layer, entry, shapes, "the fillers")
            else:
                values = [_fork_default(layer, i, s) for i, s in enumerate(shapes)]
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
                key = f"layer:{layer.name}:{i}"
            keys.append(key)
        result.values[layer] = values
        result.keys[layer] = keys
    # A shared blob is the one value Caffe holds for every layer that shares it.
    for layer, keys in result.keys.items():
        for i, key in enumerate(keys):
            held = shared.get(key)
            if held is not None and held[1].shape == result.values[layer][i].shape:
                result.values[layer][i] = held[1]
            elif key.startswith("param:"):
                keys[i] = f"layer:{layer.name}:{i}"  # a permissive share of another shape
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
    return result
