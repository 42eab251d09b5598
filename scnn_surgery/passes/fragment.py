"""A fragment to splice: a prototxt of layers, its inputs and outputs, its names made unique.

A fragment is read like any net (its layers keep their text, so its own problems are
located in its own file); V0/V1 fragments are read as V2. Renaming (a prefix for names that
collide, a net blob for an input) changes only its name tokens
(:func:`scnn_surgery.core.ops.rename_layer`), so its comments, field order and line numbers are
kept.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..core.document import Message
from ..core.layerdef import V1_PARAM_KEYS, v1_type
from ..core.net import Layer, Net, param_names
from ..core.ops import rename_layer
from ..errors import SurgeryError
from .upgrade import net_for_reading


@dataclass(frozen=True)
class Fragment:
    """The layers to splice, in order, with the blobs they read from the net and write."""

    net: Net
    inputs: tuple[str, ...]  # read before written: the net must provide them
    outputs: tuple[str, ...]  # written and not read again inside the fragment

    @property
    def layers(self) -> list[Layer]:
        return self.net.layers

    @property
    def source(self) -> str:
        return self.net.source


class Wired(Protocol):
    """A layer or a layer definition: what its wiring says."""

    @property
    def bottoms(self) -> tuple[str, ...]: ...

    @property
    def tops(self) -> tuple[str, ...]: ...


def free_bottoms(layers: Iterable[Wired]) -> list[str]:
    """The blobs the layers read before (or without) writing them: their inputs."""
    written: set[str] = set()
    inputs: list[str] = []
    for layer in layers:
        inputs += [b for b in layer.bottoms if b not in written and b not in inputs]
        written.update(layer.tops)
    return inputs


def unconsumed_tops(layers: Iterable[Wired]) -> list[str]:
    """The blobs whose last version nothing later among the layers reads: their outputs."""
    pending: dict[str, None] = {}
    for layer in layers:
        for bottom in layer.bottoms:
            pending.pop(bottom, None)
        for top in layer.tops:
            pending[top] = None
    return list(pending)


def read_fragment(net: Net) -> Fragment:
    """The fragment in a net read from a file; refused when it is not only layers."""
    if net.inputs:
        raise SurgeryError(
            f"{net.document.location(net.inputs[0].scalar.start)}: a fragment holds only layers;"
            " its inputs are the blobs it reads from the net (bind them with --bind)"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the fragment has no layers")
    readable = net_for_reading(net)
    return Fragment(
        readable, tuple(free_bottoms(readable.layers)), tuple(unconsumed_tops(readable.layers))
    )


_WIRING = frozenset({"name", "type", "bottom", "top"})


def refuse_unwritable_in_v1(fragment: Fragment, v1_fields: Collection[str]) -> None:
    """Into a V1 file the fragment is written as ``layers {}`` blocks: a type V1 cannot
    spell, or a field ``v1_fields`` (V1LayerParameter's) lacks after the ParamSpec blocks
    become V1's lists, is refused at its own position, since Caffe could not read the
    result (or the field would be lost). A V1 ``layer`` field would make the block V0."""
    allowed = set(v1_fields) - {"layer"}
    for layer in fragment.layers:
        text = layer.text
        assert text is not None  # a fragment is read from a file
        where = f"in layer '{layer.name}': " if layer.name else ""
        try:
            v1_type(layer.type)
        except SurgeryError as exc:
            types = text.body.all("type")
            at = types[-1].start if types else text.block.start
            raise SurgeryError(f"{text.document.location(at)}: {where}{exc}") from None
        for field in text.body.fields:
            if field.name in _WIRING:
                continue
            if field.name == "param":
                unknown = [
                    inner
                    for block in field.values()
                    if isinstance(block, Message)
                    for inner in block.fields
                    if inner.name not in V1_PARAM_KEYS
                ]
                if unknown:
                    raise SurgeryError(
                        f"{text.document.location(unknown[0].start)}: {where}a V1 layer"
                        f" keeps only the {', '.join(V1_PARAM_KEYS)} of a 'param' block,"
                        f" not '{unknown[0].name}', so the layer cannot be written into a V1"
                        " (layers {}) file; upgrade the file first"
                    )
            elif field.name not in allowed:
                raise SurgeryError(
                    f"{text.document.location(field.start)}: {where}a V1 layer has no field"
                    f" '{field.name}', so the layer cannot be written into a V1 (layers {{}})"
                    " file; upgrade the file first"
                )


def fragment_names(fragment: Fragment) -> set[str]:
    """Every name the fragment brings: its layers, the blobs it writes, its shared params."""
    names: set[str] = set()
    for layer in fragment.layers:
        names.add(layer.name)
        names.update(layer.tops)
        names.update(name for name in param_names(layer) if name)
    return names


def renamed(fragment: Fragment, prefix: str, binds: Mapping[str, str]) -> Fragment:
    """The fragment with ``prefix`` on every name it brings and each bound input reading
    the net's blob (:func:`scnn_surgery.core.ops.rename_layer`: name tokens only, so its
    lines and comments are kept)."""
    if not prefix and all(k == v for k, v in binds.items()):
        return fragment
    names = fragment_names(fragment)
    written: set[str] = set()
    layers = []
    for layer in fragment.layers:
        bottoms = [prefix + b if b in written else binds.get(b, b) for b in layer.bottoms]
        layers.append(
            rename_layer(
                layer,
                name=prefix + layer.name if layer.name in names else layer.name,
                bottoms=bottoms,
                tops=[prefix + t for t in layer.tops],
                params={n: prefix + n for n in param_names(layer) if n},
            )
        )
        written.update(layer.tops)
    net = fragment.net.copy()
    net.layers = layers
    return Fragment(net, tuple(free_bottoms(layers)), tuple(unconsumed_tops(layers)))
