"""Layers written by us: their definition as plain values, and their prototxt text.

A :class:`LayerDef` is what surgery adds to a net (an SCNN module, a spliced fragment):
name, type, bottoms, tops and the other fields as ordered ``(name, value)`` pairs. It
renders to V2 ``layer {}`` blocks, or to V1 ``layers {}`` blocks for a V1 file, in the
file's indentation unit and newline style.

Everything here is pure: no file I/O, no protobuf.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, Union

from ..errors import SurgeryError
from .document import quote_string
from .formats import V2_TO_V1_TYPE


@dataclass(frozen=True)
class Enum:
    """An unquoted protobuf enum identifier, such as ``SUM``."""

    name: str


@dataclass(frozen=True)
class Raw:
    """A word written exactly as it was in the file it came from (``0x10``, ``1e-3``, ``inf``)."""

    text: str


Value: TypeAlias = Union[str, int, float, bool, Enum, Raw, "Fields"]
"""A protobuf text-format field value; a nested message is a ``Fields`` tuple."""

Fields: TypeAlias = tuple[tuple[str, Value], ...]
"""Ordered (field name, value) pairs; a repeated field repeats its key."""


@dataclass(frozen=True)
class LayerDef:
    """One Caffe layer; ``fields`` holds everything except name, type, bottom and top."""

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    fields: Fields = ()


def format_float(x: float) -> str:
    """Shortest text that reads back as ``x``; whole numbers without a decimal point.

    So 1.0 prints as ``1`` and the default SCNN std (rounded to 5 decimals) prints as
    ``0.01863``, exactly as in the published files.
    """
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def scalar_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, str):
        return quote_string(value)
    raise TypeError(f"not a scalar field value: {value!r}")


def _field_lines(key: str, value: Value, indent: str, depth: int, out: list[str]) -> None:
    """Append the lines of one field; nested messages go on a stack, never recursion."""
    stack: list[tuple[str, Value, int, bool]] = [(key, value, depth, False)]
    while stack:
        name, item, level, closing = stack.pop()
        pad = indent * level
        if closing:
            out.append(f"{pad}}}")
        elif isinstance(item, tuple):
            out.append(f"{pad}{name} {{")
            stack.append((name, item, level, True))
            stack.extend((k, v, level + 1, False) for k, v in reversed(item))
        else:
            out.append(f"{pad}{name}: {scalar_text(item)}")


def _param_value(block: Value, key: str) -> Value | None:
    if not isinstance(block, tuple):
        return None
    return next((value for field, value in block if field == key), None)


# Each ParamSpec field, its V1 list and the value V1 gives a blob that does not state it.
_V1_PARAM_COLUMNS: tuple[tuple[str, str, Value], ...] = (
    ("name", "param", ""),
    ("lr_mult", "blobs_lr", 1.0),
    ("decay_mult", "weight_decay", 1.0),
    ("share_mode", "blob_share_mode", Enum("STRICT")),
)
V1_PARAM_KEYS: dict[str, str] = {v2: v1 for v2, v1, _ in _V1_PARAM_COLUMNS}
"""The V1 list each ``param {}`` field becomes; a field not here has no V1 spelling."""


def _v1_param_fields(param_blocks: Sequence[Value]) -> Fields:
    """ParamSpec blocks as V1's parallel lists: param names, blobs_lr, weight_decay."""
    out: list[tuple[str, Value]] = []
    for v2_key, v1_key, default in _V1_PARAM_COLUMNS:
        values = [_param_value(block, v2_key) for block in param_blocks]
        if any(value is not None for value in values):
            out += [(v1_key, default if value is None else value) for value in values]
    return tuple(out)


def definition_param_names(fields: Fields) -> list[str | None]:
    """Each blob's share name in a layer's fields, None where it is not shared: a V2
    ``param {}`` block's ``name`` (the last one, as protobuf keeps), a V1 ``param: "x"``."""
    out: list[str | None] = []
    for key, value in fields:
        if key != "param":
            continue
        if isinstance(value, tuple):
            names = [v for k, v in value if k == "name" and isinstance(v, str)]
            out.append(names[-1] or None if names else None)
        else:
            out.append(value or None if isinstance(value, str) else None)
    return out


def v1_fields(fields: Fields) -> Fields:
    """All ParamSpec blocks become one run of V1 lists where the first block stood.

    Slice and Concat keep ``axis``: V1's SliceParameter and ConcatParameter have it, Caffe
    reads it, and OpenCV's importer ignores the old ``slice_dim``/``concat_dim``.
    """
    param_blocks = [value for key, value in fields if key == "param"]
    out: list[tuple[str, Value]] = []
    params_written = False
    for key, value in fields:
        if key == "param":
            if not params_written:
                out += _v1_param_fields(param_blocks)
                params_written = True
        else:
            out.append((key, value))
    return tuple(out)


def v1_type(layer_type: str) -> str:
    """The V1 enum of a V2 layer type; a type V1 cannot spell is a one-line refusal."""
    try:
        return V2_TO_V1_TYPE[layer_type]
    except KeyError:
        raise SurgeryError(
            f"layer type '{layer_type}' has no Caffe V1 equivalent, so it cannot be written"
            " into a V1 (layers {}) file; upgrade the file first"
        ) from None


class Renderer:
    """Renders layer definitions in one file's style; a parameter block shared by many
    layers (every convolution of an SCNN pass) is rendered once."""

    def __init__(self, indent: str = "  ", newline: str = "\n", legacy_v1: bool = False) -> None:
        self.indent = indent
        self.newline = newline
        self.legacy_v1 = legacy_v1
        self._bodies: dict[Fields, str] = {}

    def _body(self, fields: Fields) -> str:
        text = self._bodies.get(fields)
        if text is None:
            lines: list[str] = []
            for key, value in v1_fields(fields) if self.legacy_v1 else fields:
                _field_lines(key, value, self.indent, 1, lines)
            text = "".join(line + self.newline for line in lines)
            self._bodies[fields] = text
        return text

    def layer(self, layer: LayerDef) -> str:
        nl, pad = self.newline, self.indent
        kind = "layers" if self.legacy_v1 else "layer"
        type_text = v1_type(layer.type) if self.legacy_v1 else quote_string(layer.type)
        head = [f"{kind} {{", f"{pad}name: {quote_string(layer.name)}", f"{pad}type: {type_text}"]
        head += [f"{pad}bottom: {quote_string(b)}" for b in layer.bottoms]
        head += [f"{pad}top: {quote_string(t)}" for t in layer.tops]
        return nl.join(head) + nl + self._body(layer.fields) + "}" + nl

    def layers(self, layers: Iterable[LayerDef]) -> str:
        return "".join(self.layer(layer) for layer in layers)


def render_layers(
    layers: Sequence[LayerDef], indent: str = "  ", newline: str = "\n", legacy_v1: bool = False
) -> str:
    """Protobuf text for ``layers``: one ``layer {}`` block each, every line ending in ``newline``.

    ``legacy_v1`` writes Caffe V1 ``layers {}`` blocks instead: enum types (CONVOLUTION, ...)
    and shared weights as ``param: "name"`` with ``blobs_lr`` / ``weight_decay``.
    """
    return Renderer(indent, newline, legacy_v1).layers(layers)
