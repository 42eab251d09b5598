"""A structural diff of two nets: their layer graphs, not their text.

Layers are matched by name (and, for repeated names such as per-phase data
layers, by their order among the layers of that name).  For each matched pair
the parameters are compared as normalised trees, so that the V1 and V2
spellings of one layer compare equal; the bottoms are compared as bindings
(blob name and the layer whose output it is), phase by phase.  A recognised
SCNN module is reported as one entry instead of its hundreds of layers.

Everything here is pure: no file I/O.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ..core.document import Field, Message, Scalar, quote_string
from ..core.graph import (
    BlobVersion,
    LayerGraph,
    NetState,
    graph_of,
    layer_included,
    selected_states,
    with_declared_state,
)
from ..core.layerdef import Fields, scalar_text
from ..core.net import Layer, Net
from ..core.typed import word_value
from ..errors import SurgeryError
from ..passes.upgrade import net_for_reading
from ..schema import caffe_pb2
from .modules import (
    INPUT_NAME,
    ModuleSummary,
    find_modules,
    producer_name,
    summarise_module,
)
from .shapes import Shape, format_shape, infer_shapes

__all__ = [
    "Binding",
    "FieldChange",
    "LayerChange",
    "LayerRef",
    "ModuleChange",
    "NetDiff",
    "RenameChange",
    "Rewire",
    "ShapeChange",
    "blob_shapes",
    "diff_nets",
    "diff_trees",
    "normalised_params",
]

Tree: TypeAlias = "dict[str, list[TreeValue]]"
"""A message as field name -> its values in order; a nested message is a Tree."""

TreeValue: TypeAlias = "str | Tree"

_WIRING_FIELDS = frozenset({"name", "type", "bottom", "top"})
_V0_OUTER_FIELDS = frozenset({"layer", "bottom", "top"})

# V1 kept each ParamSpec column as its own repeated field; V2 groups them per blob.
_V1_PARAM_COLUMNS: Mapping[str, str] = {
    "param": "name",
    "blobs_lr": "lr_mult",
    "weight_decay": "decay_mult",
    "blob_share_mode": "share_mode",
}

# Caffe's UpgradeNetDataTransformation moves these out of V1 data layers' parameters.
_V1_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")
_V1_DATA_PARAMS = ("data_param", "image_data_param", "window_data_param")

# What the fields of a layer's text mean; a V0 layer mixes two messages, so its words are
# read untyped (diff reads V0 nets upgraded, so only a direct caller sees one).
_LAYER_DESCRIPTORS: Mapping[str, Descriptor] = {
    "v2": cast(Descriptor, caffe_pb2.LayerParameter.DESCRIPTOR),
    "v1": cast(Descriptor, caffe_pb2.V1LayerParameter.DESCRIPTOR),
}

# Deprecated spellings of ``axis`` that Caffe still reads when ``axis`` is absent.
_AXIS_ALIASES: Mapping[str, str] = {"slice_param": "slice_dim", "concat_param": "concat_dim"}


# ---------------------------------------------------------------------------
# Normalised parameter trees


def _canonical_word(word: str) -> str:
    """One spelling per value of a field the schema does not know (a fork's), so that
    ``1``, ``1.0`` and ``1e0`` compare equal; a leading 0 makes an integer octal, as
    protobuf reads it."""
    lowered = word.lower()
    if lowered in ("true", "t"):
        return "true"
    if lowered in ("false", "f"):
        return "false"
    for signed in (True, False):
        try:
            return str(text_format.ParseInteger(word, is_signed=signed, is_long=True))
        except ValueError:
            pass
    try:
        number = float(word.rstrip("fF"))
    except ValueError:
        return word
    return _float_text(number, single=False)


def _float_text(number: float, single: bool) -> str:
    """The shortest spelling of ``number`` as a ``float`` (``single``) or ``double`` holds it:
    Caffe reads ``0.1`` and ``0.100000001`` into one float."""
    held = _as_single(number) if single else number
    if not math.isfinite(held):
        return str(held)
    if held.is_integer() and abs(held) < 2**53:
        return str(int(held))
    return _single_text(held) if single else repr(held)


def _single_text(number: float) -> str:
    """The shortest spelling that reads back as the same 32-bit float."""
    held = _as_single(number)
    for digits in range(1, 10):
        text = f"{held:.{digits}g}"
        if _as_single(float(text)) == held:
            return text
    return repr(held)  # pragma: no cover - 9 significant digits always round-trip


def _as_single(number: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", number))[0])
    except OverflowError:  # beyond float's range: protobuf stores infinity
        return math.copysign(math.inf, number)


@functools.lru_cache(maxsize=4096)
def _typed_word(field: FieldDescriptor | None, word: str) -> str:
    """A word as the value protobuf reads into ``field``, spelled one way: ``010`` is 8, an
    enum is its name (``1`` of ``pool`` is ``AVE``), a bool is ``true`` or ``false``."""
    if field is None:
        return _canonical_word(word)
    try:
        value = word_value(field, word)
    except ValueError:
        return _canonical_word(word)  # protobuf refuses it; check says so, diff compares words
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value, single=field.type == FieldDescriptor.TYPE_FLOAT)
    return str(value)


def _scalar_text(scalar: Scalar, field: FieldDescriptor | None) -> str:
    if scalar.kind == "string":
        return quote_string(scalar.value)
    return _typed_word(field, scalar.value)


def _field_of(descriptor: Descriptor | None, name: str) -> FieldDescriptor | None:
    return descriptor.fields_by_name.get(name) if descriptor is not None else None


def _singular_message(field: FieldDescriptor | None) -> bool:
    return field is not None and field.message_type is not None and not field.is_repeated


def _drop_if_empty(parent: Tree, name: str, child: Tree) -> None:
    """An empty singular message differs from an absent one only in its has-bit, which no
    Caffe layer reads (Caffe's upgrade writes ``image_data_param {}`` where V1 had none),
    so it compares as absent. An empty element of a repeated field still counts."""
    if child:
        return
    kept = [value for value in parent[name] if value is not child]
    if kept:
        parent[name] = kept
    else:
        del parent[name]


_Frame: TypeAlias = "tuple[Iterator[tuple[str, Any]], Tree, Descriptor | None, Tree | None, str]"


def _message_tree(fields: Iterable[Field], descriptor: Descriptor | None) -> Tree:
    """The fields as a tree of values read into the types ``descriptor`` gives them
    (None: a message the schema does not know), built with an explicit stack: the
    text's nesting is the user's, so it is never walked by recursion."""
    return _typed_tree(_field_values(fields), descriptor, _scalar_text, _text_children)


def _text_children(value: Scalar | Message) -> Iterator[tuple[str, Scalar | Message]] | None:
    return _field_values(value.fields) if isinstance(value, Message) else None


def _typed_tree(
    items: Iterator[tuple[str, Any]],
    descriptor: Descriptor | None,
    scalar: Callable[[Any, FieldDescriptor | None], str],
    children: Callable[[Any], Iterator[tuple[str, Any]] | None],
) -> Tree:
    """A tree from (name, value) pairs, where ``children`` opens a nested message (None:
    the value is a scalar) and ``scalar`` spells a scalar for its field."""
    root: Tree = {}
    stack: list[_Frame] = [(items, root, descriptor, None, "")]
    while stack:
        values, tree, kind, parent, key = stack[-1]
        item = next(values, None)
        if item is None:
            stack.pop()
            if parent is not None:
                _drop_if_empty(parent, key, tree)
            continue
        name, value = item
        field_ = _field_of(kind, name)
        opened = children(value)
        if opened is None:
            tree.setdefault(name, []).append(scalar(value, field_))
            continue
        child: Tree = {}
        tree.setdefault(name, []).append(child)
        keep_empty = not _singular_message(field_)
        child_kind = field_.message_type if field_ is not None else None
        stack.append((opened, child, child_kind, None if keep_empty else tree, name))
    return root


def _field_values(fields: Iterable[Field]) -> Iterator[tuple[str, Scalar | Message]]:
    return ((f.name, value) for f in fields for value in f.values())


def _param_fields(layer: Layer) -> list[Field]:
    assert layer.text is not None
    fields = [f for f in layer.text.body.fields if f.name not in _WIRING_FIELDS]
    outer = layer.text.block.value
    if layer.format == "v0" and isinstance(outer, Message):
        fields += [f for f in outer.fields if f.name not in _V0_OUTER_FIELDS]
    return fields


def _definition_tree(fields: Fields) -> Tree:
    """A layer surgery added, as the tree its text would give."""
    return _typed_tree(iter(fields), _LAYER_DESCRIPTORS["v2"], _value_text, _definition_children)


def _definition_children(value: Any) -> Iterator[tuple[str, Any]] | None:
    return iter(value) if isinstance(value, tuple) else None


def _value_text(value: Any, field: FieldDescriptor | None) -> str:
    text = scalar_text(value)
    return text if text.startswith('"') else _typed_word(field, text)


def _v1_params_as_v2(tree: Tree) -> Tree:
    columns = {v2: tree.pop(v1) for v1, v2 in _V1_PARAM_COLUMNS.items() if v1 in tree}
    count = max((len(values) for values in columns.values()), default=0)
    params: list[TreeValue] = []
    for i in range(count):
        spec: Tree = {
            key: [values[i]]
            for key, values in columns.items()
            # An empty V1 param name means "not shared", as an absent V2 name does.
            if i < len(values) and not (key == "name" and values[i] == '""')
        }
        params.append(spec)
    if any(params):
        tree["param"] = params
    return tree


def _v1_transform_as_v2(tree: Tree) -> Tree:
    for key in _V1_DATA_PARAMS:
        messages = [m for m in tree.get(key, []) if isinstance(m, dict)]
        for message in messages:
            moved = {name: message.pop(name) for name in _V1_TRANSFORM_FIELDS if name in message}
            if not moved:
                continue
            target = tree.setdefault("transform_param", [{}])[-1]
            if isinstance(target, dict):
                target.update(moved)
        if messages and not any(messages):
            del tree[key]  # an emptied message means what an absent one does
    return tree


def _alias_axes(tree: Tree) -> Tree:
    for key, alias in _AXIS_ALIASES.items():
        for message in tree.get(key, []):
            if isinstance(message, dict) and alias in message and "axis" not in message:
                message["axis"] = message.pop(alias)
    return tree


def normalised_params(layer: Layer) -> Tree:
    """The layer's parameters (all but name, type, bottoms, tops) as a V2-spelled tree."""
    if layer.text is None:
        assert layer.definition is not None
        return _alias_axes(_definition_tree(layer.definition.fields))
    tree = _message_tree(_param_fields(layer), _LAYER_DESCRIPTORS.get(layer.format))
    if layer.format == "v1":
        if not any(isinstance(v, dict) for v in tree.get("param", [])):
            tree = _v1_params_as_v2(tree)
        tree = _v1_transform_as_v2(tree)
    return _alias_axes(tree)


def _tree_items(tree: Tree) -> Iterator[tuple[str, TreeValue]]:
    return ((key, value) for key, values in tree.items() for value in values)


def render_value(value: TreeValue) -> str:
    """A value as one line of protobuf text."""
    if isinstance(value, str):
        return value
    parts = ["{"]
    stack = [_tree_items(value)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            parts.append("}")
        elif isinstance(item[1], dict):
            parts.append(f"{item[0]} {{")
            stack.append(_tree_items(item[1]))
        else:
            parts.append(f"{item[0]}: {item[1]}")
    return " ".join(parts)


def same_values(a: Sequence[TreeValue], b: Sequence[TreeValue]) -> bool:
    """``a == b`` for values of trees, without the recursion of Python's own comparison."""
    stack = [(a, b)]
    while stack:
        left, right = stack.pop()
        if len(left) != len(right):
            return False
        for x, y in zip(left, right, strict=True):
            if isinstance(x, dict) and isinstance(y, dict):
                if x.keys() != y.keys():
                    return False
                stack.extend((x[key], y[key]) for key in x)
            elif isinstance(x, dict) or isinstance(y, dict) or x != y:
                return False
    return True


@dataclass(frozen=True)
class FieldChange:
    """One field that differs; an absent side is an empty tuple."""

    path: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.path}: {_values_text(self.before)} → {_values_text(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.path, "before": list(self.before), "after": list(self.after)}


def _values_text(values: tuple[str, ...]) -> str:
    if not values:
        return "(absent)"
    return values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"


def _union_keys(a: Tree, b: Tree) -> list[str]:
    return list(a) + [key for key in b if key not in a]


def _all_messages(values: Sequence[TreeValue]) -> bool:
    return all(isinstance(v, dict) for v in values)


def diff_trees(a: Tree, b: Tree, prefix: str = "") -> list[FieldChange]:
    """Field-by-field differences; repeated messages are compared index by index.

    Nested messages are compared depth first, in field order, with an explicit stack."""
    changes: list[FieldChange] = []
    stack = [_tree_differences(a, b, prefix)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, FieldChange):
            changes.append(item)
        else:
            stack.append(_tree_differences(*item))
    return changes


def _tree_differences(
    a: Tree, b: Tree, prefix: str
) -> Iterator[FieldChange | tuple[Tree, Tree, str]]:
    """One level of :func:`diff_trees`: its changes, and the pairs of messages to descend
    into, in order."""
    for name in _union_keys(a, b):
        before, after = a.get(name, []), b.get(name, [])
        if same_values(before, after):
            continue
        path = prefix + name
        if not (_all_messages(before) and _all_messages(after)):
            yield FieldChange(
                path, tuple(map(render_value, before)), tuple(map(render_value, after))
            )
            continue
        count = max(len(before), len(after))
        for i in range(count):
            item = f"{path}[{i}]" if count > 1 else path
            old = before[i] if i < len(before) else None
            new = after[i] if i < len(after) else None
            if isinstance(old, dict) and isinstance(new, dict):
                yield old, new, item + "."
            elif old is None or new is None or not same_values([old], [new]):
                yield FieldChange(
                    item,
                    () if old is None else (render_value(old),),
                    () if new is None else (render_value(new),),
                )


# ---------------------------------------------------------------------------
# Units of comparison: the layers, plus the top-level inputs as one Input layer


@dataclass(frozen=True, eq=False)
class _Unit:
    """One side of a comparison: a layer, or the top-level inputs as one Input layer."""

    name: str
    type: str
    tops: tuple[str, ...]
    params: Tree
    layer: Layer | None  # None for the top-level inputs


def _input_unit(net: Net) -> _Unit | None:
    if not net.inputs:
        return None
    shapes: list[TreeValue] = [
        {"dim": [str(d) for d in i.dims]} for i in net.inputs if i.dims is not None
    ]
    params: Tree = {"input_param": [{"shape": shapes}]} if shapes else {}
    tops = tuple(i.name for i in net.inputs)
    return _Unit(INPUT_NAME, "Input", tops, params, None)


def _layer_unit(layer: Layer) -> _Unit:
    return _Unit(layer.name, layer.type, tuple(layer.tops), normalised_params(layer), layer)


def _selected_layers(net: Net, phase: str | None) -> list[Layer]:
    if phase is None:
        return list(net.layers)
    state = with_declared_state(net, NetState(phase))
    return [layer for layer in net.layers if layer_included(layer, state)]


def _units(net: Net, layers: Sequence[Layer]) -> list[_Unit]:
    inputs = _input_unit(net)
    return ([inputs] if inputs else []) + [_layer_unit(layer) for layer in layers]


def _keyed(units: Sequence[_Unit]) -> list[tuple[tuple[str, int], _Unit]]:
    seen: dict[str, int] = {}
    out = []
    for unit in units:
        occurrence = seen.get(unit.name, 0)
        seen[unit.name] = occurrence + 1
        out.append(((unit.name, occurrence), unit))
    return out


def _match(
    a: Sequence[_Unit], b: Sequence[_Unit]
) -> tuple[list[tuple[_Unit, _Unit]], list[_Unit], list[_Unit]]:
    """(pairs, removed, added): by name, then by order among units of the same name."""
    keyed_b = _keyed(b)
    b_by_key = dict(keyed_b)
    pairs: list[tuple[_Unit, _Unit]] = []
    removed: list[_Unit] = []
    for key, unit in _keyed(a):
        other = b_by_key.pop(key, None)
        if other is None:
            removed.append(unit)
        else:
            pairs.append((unit, other))
    added = [unit for key, unit in keyed_b if key in b_by_key]
    return pairs, removed, added


ModuleStatus = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class ModuleChange:
    """A module added, removed, or changed; its layers are counted here, not listed."""

    status: ModuleStatus
    before: ModuleSummary | None
    after: ModuleSummary | None
    layers_added: int = 0
    layers_removed: int = 0
    layers_changed: int = 0

    @property
    def layers(self) -> int:
        current = self.after or self.before
        assert current is not None
        return current.layers

    def describe(self) -> str:
        if self.before is None or self.after is None:
            current = self.after or self.before
            assert current is not None
            return current.describe()
        parts = [
            old if old == new else f"{old} → {new}"
            for old, new in zip(self.before.parts(), self.after.parts(), strict=False)
        ]
        counts = [
            f"{n} layers {what}"
            for n, what in ((self.layers_added, "added"), (self.layers_removed, "removed"),
                            (self.layers_changed, "changed"))
            if n
        ]
        extra = f" ({', '.join(counts)})" if counts else ""
        return ", ".join([self.after.title, *parts]) + extra

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "summary": self.describe(),
            "layers": self.layers,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
        }
        if self.status == "changed":
            out.update(layers_added=self.layers_added, layers_removed=self.layers_removed,
                       layers_changed=self.layers_changed)
        return out


# ---------------------------------------------------------------------------
# Bindings and shapes, phase by phase


@dataclass(frozen=True)
class Binding:
    """What a bottom reads: a blob, as written by a layer (``input`` for net inputs)."""

    blob: str
    producer: str | None


def _bindings(graph: LayerGraph, layer: Layer) -> list[Binding]:
    """What each bottom reads: the in-edges of the layer's node."""
    return [
        Binding(blob, None if version is None else _producer_label(graph, version))
        for blob, version in zip(layer.bottoms, graph.bottoms(layer), strict=True)
    ]


def _producer_label(graph: LayerGraph, version: BlobVersion) -> str:
    """The layer that wrote this version, an unnamed one as ``#N``."""
    producer = graph.producer(version)
    if producer is None or producer.name:
        return producer_name(graph, version)
    return graph.net.label(producer)


def blob_shapes(net: Net, graph: LayerGraph) -> dict[BlobVersion, Shape]:
    """The shape of every blob version that can be worked out; the rest are absent.

    Shape inference is a courtesy here: where it fails, shapes are just left out.
    """
    shapes: dict[BlobVersion, Shape] = {}
    for net_input in net.inputs:
        if net_input.dims is not None:
            shapes[BlobVersion(net_input.name, 0)] = net_input.dims
    try:
        result = infer_shapes(net, graph)
    except SurgeryError:
        return shapes
    for version in graph.blob_versions():
        shape = result.blob(version)
        if shape is not None:
            shapes[version] = shape
    return shapes


@dataclass(frozen=True)
class Rewire:
    """A bottom of a layer present in both nets that now reads something else."""

    layer: str
    bottom_index: int
    before: Binding | None
    after: Binding | None
    phases: tuple[str, ...]

    def describe(self) -> str:
        same_blob = (
            self.before is not None and self.after is not None
            and self.before.blob == self.after.blob
        )
        return (
            f"{self.layer} bottom {self.bottom_index}: "
            f"{_binding_text(self.before, same_blob)} → {_binding_text(self.after, same_blob)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "bottom_index": self.bottom_index,
            "bottom_before": self.before.blob if self.before else None,
            "bottom_after": self.after.blob if self.after else None,
            "producer_before": self.before.producer if self.before else None,
            "producer_after": self.after.producer if self.after else None,
            "phases": list(self.phases),
        }


def _binding_text(binding: Binding | None, with_producer: bool) -> str:
    if binding is None:
        return "(none)"
    if with_producer:
        return f"{binding.blob} (from {binding.producer or 'nothing'})"
    return binding.blob


@dataclass(frozen=True)
class ShapeChange:
    """A blob in both nets whose final shape differs."""

    blob: str
    before: Shape
    after: Shape
    phases: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.blob}: {format_shape(self.before)} → {format_shape(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "blob": self.blob, "before": list(self.before), "after": list(self.after),
            "phases": list(self.phases),
        }


@dataclass(frozen=True)
class LayerRef:
    """A layer that only one net has."""

    name: str
    type: str

    def describe(self) -> str:
        return f"{self.name} ({self.type})"

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.name, "type": self.type}


@dataclass(frozen=True)
class FragmentChange:
    """Neighbouring layers only one net has (a spliced fragment), reported as one entry."""

    status: Literal["added", "removed"]
    layers: tuple[LayerRef, ...]
    after: str | None  # the layer the run follows in its net (None: the first layer)
    output: str | None  # the blob the rest of that net reads from it, if any

    def describe(self) -> str:
        first, last = self.layers[0].name, self.layers[-1].name
        where = f"after {self.after}" if self.after is not None else "before every layer"
        reads = f", output {self.output}" if self.output is not None else ", read by nothing"
        return f"{len(self.layers)} layers {first}..{last}, {where}{reads}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "layers": [x.to_dict() for x in self.layers],
            "after": self.after,
            "output": self.output,
        }


@dataclass(frozen=True)
class RenameChange:
    """A layer under another name and nothing else changed (``rename``): with the blob
    of its name, when it wrote one."""

    before: str
    after: str
    type: str
    blob: bool  # its blob of its name was renamed with it

    def describe(self) -> str:
        blob = ", and its blob" if self.blob else ""
        return f"{self.before} -> {self.after} ({self.type}){blob}"

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "type": self.type, "blob": self.blob}


@dataclass(frozen=True)
class LayerChange:
    """A layer in both nets whose type, tops or parameters differ."""

    name: str
    type: str
    fields: tuple[FieldChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.name, "type": self.type,
            "fields": [change.to_dict() for change in self.fields],
        }


# ---------------------------------------------------------------------------
# The diff


@dataclass(frozen=True)
class NetDiff:
    """Everything that differs between two nets, module layers summarised per module."""

    added: tuple[LayerRef, ...] = ()
    removed: tuple[LayerRef, ...] = ()
    changed: tuple[LayerChange, ...] = ()
    rewired: tuple[Rewire, ...] = ()
    modules: tuple[ModuleChange, ...] = ()
    shapes: tuple[ShapeChange, ...] = ()
    phases: tuple[str, ...] = ("TEST",)
    fragments: tuple[FragmentChange, ...] = ()
    renamed: tuple[RenameChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (
            self.added or self.removed or self.changed or self.rewired or self.modules
            or self.shapes or self.fragments or self.renamed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [x.to_dict() for x in self.added],
            "removed": [x.to_dict() for x in self.removed],
            "changed": [x.to_dict() for x in self.changed],
            "rewired": [x.to_dict() for x in self.rewired],
            "modules": [x.to_dict() for x in self.modules],
            "shapes": [x.to_dict() for x in self.shapes],
            "fragments": [x.to_dict() for x in self.fragments],
            "renamed": [x.to_dict() for x in self.renamed],
            "phases": list(self.phases),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def _phase_note(self, phases: tuple[str, ...]) -> str:
        return "" if set(phases) >= set(self.phases) else f" [{', '.join(phases)}]"

    def lines(self) -> list[str]:
        """The diff as text, one entry a line: + added, - removed, ~ changed."""
        out = [f"{_module_sign(m)} module  {m.describe()}" for m in self.modules]
        out += [
            f"{'+' if f.status == 'added' else '-'} fragment {f.describe()}"
            for f in self.fragments
        ]
        out += [f"~ renamed {x.describe()}" for x in self.renamed]
        out += [f"+ layer   {x.describe()}" for x in self.added]
        out += [f"- layer   {x.describe()}" for x in self.removed]
        for change in self.changed:
            out.append(f"~ layer   {change.name} ({change.type})")
            out += [f"            {f.describe()}" for f in change.fields]
        out += [f"~ rewired {r.describe()}{self._phase_note(r.phases)}" for r in self.rewired]
        out += [f"~ shape   {s.describe()}{self._phase_note(s.phases)}" for s in self.shapes]
        return out

    def counts(self) -> str:
        """One line: how many of each kind of difference."""
        def modules(status: str) -> int:
            return sum(m.status == status for m in self.modules)

        def fragments(status: str) -> int:
            return sum(f.status == status for f in self.fragments)

        entries = [
            (modules("added"), "module", "added"), (modules("removed"), "module", "removed"),
            (fragments("added"), "fragment", "added"),
            (fragments("removed"), "fragment", "removed"),
            (modules("changed"), "module", "changed"), (len(self.added), "layer", "added"),
            (len(self.removed), "layer", "removed"), (len(self.renamed), "layer", "renamed"),
            (len(self.changed), "layer", "changed"),
            (len(self.rewired), "bottom", "rewired"), (len(self.shapes), "blob shape", "changed"),
        ]
        text = ", ".join(
            f"{n} {noun}{'' if n == 1 else 's'} {what}" for n, noun, what in entries if n
        )
        return text or "no differences"


def _module_sign(change: ModuleChange) -> str:
    return {"added": "+", "removed": "-", "changed": "~"}[change.status]


@dataclass
class _Modules:
    """One net's modules, and which module each layer (by index) belongs to."""

    summaries: dict[str, ModuleSummary] = field(default_factory=dict)
    of_layer: dict[Layer, str] = field(default_factory=dict)

    def module_of(self, unit: _Unit) -> str | None:
        return None if unit.layer is None else self.of_layer.get(unit.layer)


def _modules(net: Net, layers: Sequence[Layer], graphs: Sequence[LayerGraph]) -> _Modules:
    found = _Modules()
    for module, members in find_modules(net, layers):
        # Keyed by prefix: a module keeps its identity across nets through its names.
        found.summaries[module.prefix] = summarise_module(module, members, graphs)
        found.of_layer.update((layer, module.prefix) for layer in members)
    return found


def _rewires(
    pairs: Sequence[tuple[_Unit, _Unit]],
    graphs: Sequence[tuple[LayerGraph, LayerGraph]],
    renamed: Mapping[str, str] | None = None,
) -> dict[tuple[Layer, int], Rewire]:
    """Rewires keyed by (B layer, bottom index), phases merged; a binding that only
    follows a rename (``renamed``: old -> new layer and blob names) is none."""
    names = renamed or {}
    found: dict[tuple[Layer, int], Rewire] = {}
    for graph_a, graph_b in graphs:
        phase = graph_a.state.phase
        for unit_a, unit_b in pairs:
            la, lb = unit_a.layer, unit_b.layer
            if la is None or lb is None:
                continue
            if not (layer_included(la, graph_a.state) and layer_included(lb, graph_b.state)):
                continue
            before, after = _bindings(graph_a, la), _bindings(graph_b, lb)
            if names:
                before = [_renamed_binding(x, names) for x in before]
            for i in range(max(len(before), len(after))):
                old = before[i] if i < len(before) else None
                new = after[i] if i < len(after) else None
                if old == new:
                    continue
                key = (lb, i)
                seen = found.get(key)
                phases = (*seen.phases, phase) if seen else (phase,)
                found[key] = Rewire(graph_b.net.label(lb), i, old, new, phases)
    return found


def _renamed_binding(binding: Binding, names: Mapping[str, str]) -> Binding:
    producer = binding.producer
    return Binding(
        names.get(binding.blob, binding.blob),
        None if producer is None else names.get(producer, producer),
    )


def _renames(
    removed: Sequence[_Unit], added: Sequence[_Unit], names: Mapping[str, str] | None = None
) -> list[tuple[_Unit, _Unit]]:
    """Layers gone from ``a`` and new in ``b`` that are one layer renamed: the same type
    and parameters, the same tops but for a blob of its name (or one ``names`` renames),
    in the same order."""
    pairs: list[tuple[_Unit, _Unit]] = []
    start = 0
    others = names or {}
    for unit_a in removed:
        if unit_a.layer is None:
            continue
        for index in range(start, len(added)):
            unit_b = added[index]
            tops = tuple(
                unit_b.name if t == unit_a.name else others.get(t, t) for t in unit_a.tops
            )
            if (
                unit_b.layer is not None and unit_b.type == unit_a.type
                and unit_b.tops == tops and same_values([unit_b.params], [unit_a.params])
            ):
                pairs.append((unit_a, unit_b))
                start = index + 1
                break
    return pairs


def _renames_and_swaps(
    removed: Sequence[_Unit],
    added: Sequence[_Unit],
    pairs: Sequence[tuple[_Unit, _Unit]],
    units_a: Sequence[_Unit],
    units_b: Sequence[_Unit],
) -> list[tuple[_Unit, _Unit]]:
    """The renames (:func:`_renames`) among the layers only one net has, and among the
    layers matched by name that differ: names swapped or moved round a cycle
    (``rename a=b b=a``) match by name the layer that had the other name. Such a layer is
    taken as renamed only when the one that has its name now is renamed too, and it
    reads what it read, under the new names."""
    differing = [
        (x, y) for x, y in pairs
        if x.layer is not None and y.layer is not None
        and not (
            (x.type, x.tops, x.layer.bottoms) == (y.type, y.tops, y.layer.bottoms)
            and same_values([x.params], [y.params])
        )
    ]  # fmt: skip
    if not differing:
        return _renames(removed, added)
    order_a = {id(u): i for i, u in enumerate(units_a)}
    order_b = {id(u): i for i, u in enumerate(units_b)}
    candidates_a = sorted([*removed, *(x for x, _ in differing)], key=lambda u: order_a[id(u)])
    candidates_b = sorted([*added, *(y for _, y in differing)], key=lambda u: order_b[id(u)])
    partner = {id(x): y for x, y in differing} | {id(y): x for x, y in differing}
    found = [(x, y) for x, y in _renames(candidates_a, candidates_b) if x.name != y.name]
    # a layer writing in place into a blob renamed with its own writer: matched once that
    # writer is (``rename conv=relu relu=conv``)
    taken = {id(u) for pair in found for u in pair}
    found += [
        (x, y) for x, y in _renames(
            [u for u in candidates_a if id(u) not in taken],
            [u for u in candidates_b if id(u) not in taken],
            {x.name: y.name for x, y in found},
        )
        if x.name != y.name
    ]  # fmt: skip
    found.sort(key=lambda pair: order_a[id(pair[0])])
    while True:
        names = {x.name: y.name for x, y in found}
        moved = {id(u) for pair in found for u in pair}
        kept = [
            (x, y) for x, y in found
            if all(id(u) not in partner or id(partner[id(u)]) in moved for u in (x, y))
            and (id(x) not in partner or _reads_alike(x, y, names))
        ]  # fmt: skip
        if len(kept) == len(found):
            return found
        found = kept


def _reads_alike(a: _Unit, b: _Unit, names: Mapping[str, str]) -> bool:
    assert a.layer is not None and b.layer is not None
    return tuple(names.get(x, x) for x in a.layer.bottoms) == b.layer.bottoms


def shapes_differ(old: Shape, new: Shape) -> bool:
    """Whether two inferred shapes disagree: in rank, or in a dimension both sides know.
    A dimension one side leaves open (``?``) and the other knows is the same blob seen
    with more stated (a --shape given to the verb that made one side), not a change."""
    if len(old) != len(new):
        return True
    return any(a is not None and b is not None and a != b for a, b in zip(old, new, strict=True))


def _shape_changes(
    graphs: Sequence[tuple[LayerGraph, LayerGraph]], skip_blobs: set[str]
) -> list[ShapeChange]:
    found: dict[str, ShapeChange] = {}
    for graph_a, graph_b in graphs:
        shapes_a, shapes_b = blob_shapes(graph_a.net, graph_a), blob_shapes(graph_b.net, graph_b)
        for name, version_a in graph_a.latest.items():
            version_b = graph_b.latest.get(name)
            if version_b is None or name in skip_blobs:
                continue
            old, new = shapes_a.get(version_a), shapes_b.get(version_b)
            if old is None or new is None or not shapes_differ(old, new):
                continue
            seen = found.get(name)
            phases = (*seen.phases, graph_a.state.phase) if seen else (graph_a.state.phase,)
            found[name] = ShapeChange(name, old, new, phases)
    return list(found.values())


def _field_changes(a: _Unit, b: _Unit, renamed: Mapping[str, str]) -> list[FieldChange]:
    """What differs; a top that only follows a renamed blob does not."""
    changes = []
    if a.type != b.type:
        changes.append(FieldChange("type", (a.type,), (b.type,)))
    if tuple(renamed.get(t, t) for t in a.tops) != b.tops:
        changes.append(FieldChange("top", a.tops, b.tops))
    return changes + diff_trees(a.params, b.params)


def _module_blobs(units: Iterable[_Unit], modules: _Modules) -> set[str]:
    return {top for unit in units if modules.module_of(unit) for top in unit.tops}


@dataclass
class _Tally:
    """Sorts matched and unmatched layers into plain entries or their module's counts."""

    modules_a: _Modules
    modules_b: _Modules
    rewired_layers: set[Layer]
    renamed: Mapping[str, str] = field(default_factory=dict)  # old -> new names
    added: list[LayerRef] = field(default_factory=list)
    removed: list[LayerRef] = field(default_factory=list)
    changed: list[LayerChange] = field(default_factory=list)
    # For modules in both nets, by prefix: [layers added, removed, changed].
    counts: dict[str, list[int]] = field(default_factory=dict)
    absorbed: set[Layer] = field(default_factory=set)  # B layers whose rewires a module reports

    def __post_init__(self) -> None:
        both = self.modules_a.summaries.keys() & self.modules_b.summaries.keys()
        self.counts = {prefix: [0, 0, 0] for prefix in both}

    def _count(self, prefix: str, column: int) -> None:
        if prefix in self.counts:
            self.counts[prefix][column] += 1

    def pair(self, unit_a: _Unit, unit_b: _Unit) -> None:
        module_a, module_b = self.modules_a.module_of(unit_a), self.modules_b.module_of(unit_b)
        fields = _field_changes(unit_a, unit_b, self.renamed)
        if module_a is None and module_b is None:
            if fields:
                self.changed.append(LayerChange(unit_b.name, unit_b.type, tuple(fields)))
            return
        if unit_b.layer is not None:
            self.absorbed.add(unit_b.layer)
        if module_a == module_b and module_a is not None:
            rewired = unit_b.layer is not None and unit_b.layer in self.rewired_layers
            if fields or rewired:
                self._count(module_a, 2)
            return
        # Matched across a module boundary: the module side belongs to its module.
        self.only_in_a(unit_a)
        self.only_in_b(unit_b)

    def only_in_a(self, unit: _Unit) -> None:
        prefix = self.modules_a.module_of(unit)
        if prefix is None:
            self.removed.append(LayerRef(unit.name, unit.type))
        else:
            self._count(prefix, 1)

    def only_in_b(self, unit: _Unit) -> None:
        prefix = self.modules_b.module_of(unit)
        if prefix is None:
            self.added.append(LayerRef(unit.name, unit.type))
        else:
            self._count(prefix, 0)


def diff_nets(a: Net, b: Net, phase: str | None = None) -> NetDiff:
    """What changed from ``a`` to ``b``; ``phase`` limits both to the layers of one phase."""
    # V0 moved parameters around wholesale, so it is read as Caffe upgrades it; V1 and
    # V2 are compared as written, through the small normaliser above.
    a, b = (net_for_reading(n) if n.format == "v0" else n for n in (a, b))
    layers_a, layers_b = _selected_layers(a, phase), _selected_layers(b, phase)
    units_a, units_b = _units(a, layers_a), _units(b, layers_b)
    states = selected_states([a, b], None if phase is None else [phase])
    graph_pairs = [(graph_of(a, s), graph_of(b, s)) for s in states]
    modules_a = _modules(a, layers_a, [ga for ga, _ in graph_pairs])
    modules_b = _modules(b, layers_b, [gb for _, gb in graph_pairs])
    pairs, removed_units, added_units = _match(units_a, units_b)
    outside = [
        [u for u in side if modules.module_of(u) is None]
        for side, modules in ((removed_units, modules_a), (added_units, modules_b))
    ]
    swappable = [
        (x, y) for x, y in pairs
        if modules_a.module_of(x) is None and modules_b.module_of(y) is None
    ]  # fmt: skip
    renames = _renames_and_swaps(outside[0], outside[1], swappable, units_a, units_b)
    gone = {id(u) for pair in renames for u in pair}
    pairs = [(x, y) for x, y in pairs if id(x) not in gone]
    removed_units = [u for u in removed_units if id(u) not in gone]
    added_units = [u for u in added_units if id(u) not in gone]
    labels = [(_unit_label(a, x), _unit_label(b, y), x, y) for x, y in renames]
    names = {old: new for old, new, _, _ in labels}
    # an unnamed layer is #N, which moves when layers come and go: matched, it is itself
    moved = {
        _unit_label(a, x): _unit_label(b, y) for x, y in pairs
        if not x.name and x.layer is not None and y.layer is not None
    }  # fmt: skip
    rewires = _rewires([*pairs, *renames], graph_pairs, {**moved, **names})

    tally = _Tally(modules_a, modules_b, {layer for layer, _ in rewires}, names)
    for unit_a, unit_b in pairs:
        tally.pair(unit_a, unit_b)
    for unit in removed_units:
        tally.only_in_a(unit)
    for unit in added_units:
        tally.only_in_b(unit)

    reported_rewires = tuple(r for key, r in rewires.items() if key[0] not in tally.absorbed)
    skip_blobs = _module_blobs(units_a, modules_a) | _module_blobs(units_b, modules_b)
    skip_blobs |= set(names) | set(names.values())
    added_runs = _runs(units_b, {id(u) for u in added_units if modules_b.module_of(u) is None})
    removed_runs = _runs(units_a, {id(u) for u in removed_units if modules_a.module_of(u) is None})
    fragments = [
        *_fragments("added", added_runs, units_b, reported_rewires),
        *_fragments("removed", removed_runs, units_a, reported_rewires),
    ]
    in_fragments = {x for f in fragments for x in f.layers}
    return NetDiff(
        added=tuple(x for x in tally.added if x not in in_fragments),
        removed=tuple(x for x in tally.removed if x not in in_fragments),
        changed=tuple(tally.changed),
        rewired=reported_rewires,
        modules=tuple(_module_changes(modules_a, modules_b, tally.counts)),
        shapes=tuple(_shape_changes(graph_pairs, skip_blobs)),
        phases=tuple(s.phase for s in states),
        fragments=tuple(fragments),
        renamed=tuple(
            RenameChange(old, new, y.type, bool(x.name) and x.name in x.tops)
            for old, new, x, y in labels
        ),
    )


def _unit_label(net: Net, unit: _Unit) -> str:
    """How a diff names a unit: its name, an unnamed layer as ``#N``."""
    return unit.name if unit.name or unit.layer is None else net.label(unit.layer)


def _runs(units: Sequence[_Unit], chosen: set[int]) -> list[list[_Unit]]:
    """Maximal runs of neighbouring ``chosen`` units (by id), in file order."""
    runs: list[list[_Unit]] = []
    previous = False
    for unit in units:
        picked = id(unit) in chosen
        if picked and previous:
            runs[-1].append(unit)
        elif picked:
            runs.append([unit])
        previous = picked
    return runs


def _fragments(
    status: Literal["added", "removed"],
    runs: Sequence[Sequence[_Unit]],
    units: Sequence[_Unit],
    rewires: Sequence[Rewire],
) -> list[FragmentChange]:
    """Runs of two or more new (or gone) layers, one entry each: a spliced fragment."""
    position = {id(u): i for i, u in enumerate(units)}
    out = []
    for run in runs:
        if len(run) < 2:
            continue
        before = position[id(run[0])] - 1
        after = units[before].name if before >= 0 else None
        written = {top for unit in run for top in unit.tops}
        # what the rest of the net read from it: now (added), or before (removed)
        sides = [r.after if status == "added" else r.before for r in rewires]
        read = [side.blob for side in sides if side is not None and side.blob in written]
        output = read[0] if read else None
        layers = tuple(LayerRef(u.name, u.type) for u in run)
        out.append(FragmentChange(status, layers, after, output))
    return out


def _module_changes(
    modules_a: _Modules, modules_b: _Modules, counts: Mapping[str, Sequence[int]]
) -> list[ModuleChange]:
    out: list[ModuleChange] = []
    for prefix, before in modules_a.summaries.items():
        after = modules_b.summaries.get(prefix)
        if after is None:
            out.append(ModuleChange("removed", before, None))
            continue
        n_added, n_removed, n_changed = counts[prefix]
        if before != after or n_added or n_removed or n_changed:
            out.append(ModuleChange("changed", before, after, n_added, n_removed, n_changed))
    out += [
        ModuleChange("added", None, after)
        for prefix, after in modules_b.summaries.items()
        if prefix not in modules_a.summaries
    ]
    return out
