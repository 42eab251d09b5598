"""The layer-level IR of a prototxt: what Caffe's ``Net::Init`` reads from it.

A :class:`Net` is the working model every verb edits. It pairs the lossless
:class:`~scnn_surgery.core.document.Document` it was read from with its :class:`Layer` s in
file order and its top-level inputs, for all three generations of the format (see
:mod:`scnn_surgery.core.formats`). Types are always reported with their V2 name, so later stages
need not care.

A :class:`Layer` is an immutable value: a layer read from a file remembers where its text
is (:class:`LayerText`); a layer surgery adds carries its :class:`LayerDef` instead. Verbs
change a net by replacing its layer list (:mod:`scnn_surgery.core.ops`), and the exporter
(:mod:`scnn_surgery.core.text_export`) turns the difference from the document into minimal
text edits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SurgeryError
from .document import Document, Edit, Field, Message, Scalar
from .formats import V0_TYPE_TO_V1, V1_TYPE_NAMES, V2_TO_V1_TYPE, Format, v1_enum_name
from .layerdef import Enum, Fields, LayerDef, Raw, definition_param_names

__all__ = [
    "V0_TYPE_TO_V1",
    "V1_TYPE_NAMES",
    "V2_TO_V1_TYPE",
    "DeclaredState",
    "Format",
    "Layer",
    "LayerText",
    "Net",
    "NetInput",
    "StateRule",
    "load_net",
    "param_name_scalars",
    "param_names",
]


@dataclass(frozen=True)
class StateRule:
    """A ``NetStateRule``: an include or exclude condition."""

    phase: str | None = None
    min_level: int | None = None
    max_level: int | None = None
    stages: tuple[str, ...] = ()
    not_stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeclaredState:
    """The net's own ``state {}``: Caffe merges its level and stages into the state a
    net is built for (its phase is always overridden by the phase asked for)."""

    level: int | None = None
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetInput:
    """A top-level ``input`` with its dims (from input_dim or input_shape), if stated."""

    name: str
    dims: tuple[int, ...] | None
    scalar: Scalar


@dataclass(frozen=True, slots=True)
class LayerText:
    """Where a layer read from a file is: its block, the message holding its name, type and
    parameters (V0: the inner ``layer {}``), and its bottom and top literals."""

    document: Document
    block: Field
    body: Message
    bottom_scalars: tuple[Scalar, ...]
    top_scalars: tuple[Scalar, ...]
    name_scalar: Scalar | None = None
    # A revised layer (a parameter changed, :mod:`scnn_surgery.core.values`): the text of the
    # net's document it takes the place of. Its own document holds only its block.
    home: LayerText | None = None

    @property
    def original(self) -> LayerText:
        """The text in the file the layer was read from."""
        return self.home if self.home is not None else self


@dataclass(frozen=True, eq=False, slots=True)
class Layer:
    """One layer, with the facts Caffe's net builder reads.

    Layers compare and hash by identity, so they serve as graph nodes; a changed layer is
    a new value (:meth:`with_bottoms`). ``memo`` caches what is derived from the layer
    alone (its typed message, shape-rule results), so an unchanged layer shared by two
    nets (a net and the result of surgery on it) is analysed once.
    """

    name: str
    type: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    include: tuple[StateRule, ...] = ()
    exclude: tuple[StateRule, ...] = ()
    format: Format = "v2"
    text: LayerText | None = None
    definition: LayerDef | None = None
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_definition(cls, definition: LayerDef) -> Layer:
        """A new layer; its include and exclude rules are among its fields."""
        ruled = any(key == "include" or key == "exclude" for key, _ in definition.fields)
        return cls(
            name=definition.name,
            type=definition.type,
            bottoms=definition.bottoms,
            tops=definition.tops,
            include=_definition_rules(definition.fields, "include") if ruled else (),
            exclude=_definition_rules(definition.fields, "exclude") if ruled else (),
            definition=definition,
        )

    @property
    def block(self) -> Field | None:
        return self.text.block if self.text is not None else None

    @property
    def body(self) -> Message | None:
        """The raw text tree of the layer's parameters; None for a layer surgery added."""
        return self.text.body if self.text is not None else None

    def with_bottoms(self, bottoms: Sequence[str]) -> Layer:
        """This layer reading other blobs; everything else stays, its text included."""
        return self.with_wiring(bottoms=bottoms)

    def with_wiring(
        self,
        *,
        name: str | None = None,
        bottoms: Sequence[str] | None = None,
        tops: Sequence[str] | None = None,
        text: LayerText | None = None,
        definition: LayerDef | None = None,
    ) -> Layer:
        """This layer with another name, bottoms, tops, text or definition; the exporter
        writes a changed name, bottom or top of a layer read from a file as its token."""
        name = self.name if name is None else name
        bottoms = self.bottoms if bottoms is None else tuple(bottoms)
        tops = self.tops if tops is None else tuple(tops)
        definition = self.definition if definition is None else definition
        if definition is not None:
            definition = LayerDef(name, definition.type, bottoms, tops, definition.fields)
        return Layer(
            name, self.type, bottoms, tops, self.include, self.exclude, self.format,
            self.text if text is None else text, definition,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Layer({self.name!r}, {self.type!r})"


def param_name_scalars(layer: Layer) -> list[tuple[Scalar, ...]]:
    """The literals naming each of the layer's blobs for sharing, one tuple per blob: a V2
    ``param {}`` block's string ``name`` values (the last one counts), a V1 ``param: "x"``.
    None for a layer surgery added: it has no text to rename."""
    body = layer.body
    if body is None or layer.format == "v0":
        return []
    if layer.format == "v1":
        return [(s,) for s in body.scalars("param") if s.kind == "string"]
    return [
        tuple(s for s in block.scalars("name") if s.kind == "string")
        for block in body.messages("param")
    ]


def param_names(layer: Layer) -> list[str | None]:
    """Each blob's share name (``param { name }``, V1 ``param: "x"``), None where it is not
    shared, from the layer's text or its definition."""
    if layer.text is None and layer.definition is not None:
        return definition_param_names(layer.definition.fields)
    return [block[-1].value or None if block else None for block in param_name_scalars(layer)]


def _definition_rules(fields: Fields, kind: str) -> tuple[StateRule, ...]:
    """The include (or exclude) rules among a definition's fields."""
    return tuple(
        _definition_rule(value) for key, value in fields if key == kind and isinstance(value, tuple)
    )


def _definition_rule(fields: Fields) -> StateRule:
    found: dict[str, list[str]] = {}
    for name, item in fields:
        text = item.text if isinstance(item, Raw) else item.name if isinstance(item, Enum) else item
        found.setdefault(name, []).append(str(text))

    def last(name: str) -> str | None:
        return found[name][-1] if name in found else None

    phase, min_level, max_level = last("phase"), last("min_level"), last("max_level")
    return StateRule(
        phase=None if phase is None else _PHASES.get(phase, phase),
        min_level=None if min_level is None else int(min_level, 0),
        max_level=None if max_level is None else int(max_level, 0),
        stages=tuple(found.get("stage", [])),
        not_stages=tuple(found.get("not_stage", [])),
    )


def _int(doc: Document, scalar: Scalar, name: str, context: str = "", bits: int = 32) -> int:
    """An integer field's value (a signed ``bits``-bit one, as caffe.proto declares it);
    anything else is a one-line error at the value, as Caffe's parser refuses it."""
    if scalar.kind == "word":
        try:
            value = scalar.as_int()
        except ValueError:
            pass
        else:
            if -(1 << (bits - 1)) <= value < 1 << (bits - 1):
                return value
            raise SurgeryError(
                f"{doc.location(scalar.start)}: {context}'{name}' is out of range for an"
                f" int{bits}: {scalar.raw}"
            )
    raise SurgeryError(
        f"{doc.location(scalar.start)}: {context}'{name}' must be an integer, not {scalar.raw}"
    )


def _strings(doc: Document, message: Message, name: str, context: str) -> list[Scalar]:
    """A string field's values; Caffe's parser refuses a number or a block there."""
    return _string_values(doc, message.all(name), name, context)


def _string_values(doc: Document, fields: Iterable[Field], name: str, context: str) -> list[Scalar]:
    out: list[Scalar] = []
    for f in fields:
        for value in f.values():
            if not isinstance(value, Scalar) or value.kind != "string":
                shown = value.raw if isinstance(value, Scalar) else "a block"
                raise SurgeryError(
                    f"{doc.location(value.start if isinstance(value, Scalar) else f.start)}:"
                    f" {context}'{name}' must be a quoted string, not {shown}"
                )
            out.append(value)
    return out


_LAYER_KEYS = frozenset({"name", "type", "bottom", "top", "include", "exclude"})


def _layer_fields(message: Message) -> dict[str, list[Field]]:
    """The fields a layer's wiring is read from, by name, in one pass over its block."""
    found: dict[str, list[Field]] = {key: [] for key in _LAYER_KEYS}
    for f in message.fields:
        if f.name in _LAYER_KEYS:
            found[f.name].append(f)
    return found


def _messages_of(fields: Iterable[Field]) -> list[Message]:
    return [v for f in fields for v in f.values() if isinstance(v, Message)]


# Phase is an enum: protobuf text also accepts its numbers.
_PHASES = {"TRAIN": "TRAIN", "TEST": "TEST", "0": "TRAIN", "1": "TEST"}


def _rule(message: Message, doc: Document, context: str) -> StateRule:
    def opt_int(name: str) -> int | None:
        s = message.scalar(name)
        return _int(doc, s, name, context) if s is not None else None

    phase = message.scalar("phase")
    if phase is not None and (phase.kind != "word" or phase.value not in _PHASES):
        raise SurgeryError(
            f"{doc.location(phase.start)}: {context}'phase' must be TRAIN or TEST, not {phase.raw}"
        )
    return StateRule(
        phase=_PHASES[phase.value] if phase is not None else None,
        min_level=opt_int("min_level"),
        max_level=opt_int("max_level"),
        stages=tuple(s.value for s in _strings(doc, message, "stage", context)),
        not_stages=tuple(s.value for s in _strings(doc, message, "not_stage", context)),
    )


def _refuse_unknown_v1_type(outer: Message, enum: str, source: Document, start: int) -> None:
    """A V1 ``type`` is an enum, so a value it lacks is refused where Caffe's parser
    refuses it, and so in every verb alike (``check``, ``inspect``, ``upgrade``...)."""
    if enum in V1_TYPE_NAMES:
        return
    scalars = outer.scalars("type")
    where = source.location(scalars[-1].start if scalars else start)
    name = outer.string("name", "") or ""
    raise SurgeryError(
        f"{where}: in layer '{name}': V1 layer type {enum} is not one of V1LayerParameter's"
        " types, so Caffe refuses the file (write a known type, or, for a custom layer,"
        " the V2 form: layer { type: \"...\" })"
    )


def layer_from_block(block: Field, source: Document) -> Layer:
    """The layer a ``layer {}`` (or V1/V0 ``layers {}``) block of ``source`` declares."""
    if not isinstance(block.value, Message):
        raise SurgeryError(
            f"{source.location(block.start)}: '{block.name}' must be a message block"
        )
    outer = block.value
    keyed = _layer_fields(outer)
    fmt: Format
    if block.name == "layer":
        fmt, body = "v2", outer
        types = [v for f in keyed["type"] for v in f.values() if isinstance(v, Scalar)]
        layer_type = types[-1].value if types else ""
    else:
        inner = outer.message("layer")
        if inner is not None:
            fmt, body = "v0", inner
            v0_type = inner.string("type", "") or ""
            layer_type = V1_TYPE_NAMES.get(V0_TYPE_TO_V1.get(v0_type, ""), v0_type)
        else:
            fmt, body = "v1", outer
            enum = v1_enum_name(outer.string("type", "NONE") or "NONE")
            _refuse_unknown_v1_type(outer, enum, source, block.start)
            layer_type = V1_TYPE_NAMES[enum]
    own = keyed if body is outer else _layer_fields(body)
    names = _string_values(source, own["name"], "name", "")
    name = names[-1].value if names else ""
    context = f"in layer '{name}': " if name else ""
    if fmt != "v1":
        _string_values(source, own["type"], "type", context)  # V1 types are enums, not strings
    bottoms = tuple(_string_values(source, keyed["bottom"], "bottom", context))
    tops = tuple(_string_values(source, keyed["top"], "top", context))
    return Layer(
        name=name,
        type=layer_type,
        bottoms=tuple(s.value for s in bottoms),
        tops=tuple(s.value for s in tops),
        include=tuple(_rule(m, source, context) for m in _messages_of(keyed["include"])),
        exclude=tuple(_rule(m, source, context) for m in _messages_of(keyed["exclude"])),
        format=fmt,
        text=LayerText(source, block, body, bottoms, tops, names[-1] if names else None),
    )


def net_inputs(
    doc: Document, tokens: Mapping[tuple[int, int], str] | None = None
) -> list[NetInput]:
    """The top-level inputs the document states, with their dims where it gives them;
    ``tokens`` are new values of some of its literals, by span (edits not yet made)."""
    root = doc.root

    def dim(s: Scalar, name: str) -> int:
        token = tokens.get((s.start, s.end)) if tokens else None
        if token is not None:
            s = Scalar("word", token, token, s.start, s.end)
        return _int(doc, s, name, bits=64 if name == "dim" else 32)

    names = _strings(doc, root, "input", "")
    shapes = [tuple(dim(s, "dim") for s in m.scalars("dim")) for m in root.messages("input_shape")]
    flat_dims = [dim(s, "input_dim") for s in root.scalars("input_dim")]
    out: list[NetInput] = []
    for i, name in enumerate(names):
        dims: tuple[int, ...] | None = None
        if i < len(shapes):
            dims = shapes[i]
        elif len(flat_dims) >= 4 * (i + 1):
            dims = tuple(flat_dims[4 * i : 4 * i + 4])
        out.append(NetInput(name.value, dims, name))
    return out


def _declared_state(doc: Document) -> DeclaredState:
    state = doc.root.message("state")
    if state is None:
        return DeclaredState()
    level = state.scalar("level")
    return DeclaredState(
        level=_int(doc, level, "level", "state ") if level is not None else None,
        stages=tuple(s.value for s in _strings(doc, state, "stage", "state ")),
    )



@dataclass(eq=False)
class Net:
    """A net: the document it was read from, its layers in file order, and its inputs.

    ``layers`` may differ from the document's blocks after surgery (layers added, removed,
    rewired); :func:`scnn_surgery.core.text_export.export_text` writes the result.
    """

    document: Document
    layers: list[Layer]
    inputs: list[NetInput]
    format: Format
    declared_state: DeclaredState = DeclaredState()
    # Changes of the net's own fields (input_dim, say) as edits of its document, which the
    # exporter applies with the layers' (see :mod:`scnn_surgery.core.values`).
    field_edits: list[Edit] = field(default_factory=list)
    # Derived data (positions, per-phase graphs) that edits update or drop.
    caches: dict[Any, Any] = field(default_factory=dict, repr=False)
    # --shape-rule: how the user's custom layer types size their tops (TYPE -> RULE).
    shape_rules: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Document) -> Net:
        blocks = [f for f in doc.root.fields if f.name in ("layer", "layers")]
        kinds = {b.name for b in blocks}
        if len(kinds) > 1:
            first_v1 = next(b for b in blocks if b.name == "layers")
            raise SurgeryError(
                f"{doc.location(first_v1.start)}: the net mixes 'layer' and 'layers' blocks,"
                " which Caffe refuses"
            )
        layers = [layer_from_block(b, doc) for b in blocks]
        fmt: Format = "empty"
        if layers:
            fmt = layers[0].format
            if any(layer.format != fmt for layer in layers):
                fmt = "v0" if any(layer.format == "v0" for layer in layers) else fmt
        return cls(doc, layers, net_inputs(doc), fmt, _declared_state(doc))

    def copy(self) -> Net:
        """A net to edit: the same document and layers; of the derived data, only what the
        document alone decides (keys ``document:*``) carries over."""
        kept = {k: v for k, v in self.caches.items() if _document_key(k)}
        return Net(
            self.document, list(self.layers), list(self.inputs), self.format,
            self.declared_state, list(self.field_edits), kept, self.shape_rules,
        )  # fmt: skip

    @property
    def source(self) -> str:
        return self.document.source

    @property
    def name(self) -> str | None:
        return self.document.root.string("name")

    @property
    def output_format(self) -> Format:
        """How new layers are written: V1 into a V1 file, V2 otherwise."""
        return "v1" if self.format == "v1" else "v2"

    @property
    def layer_names(self) -> set[str]:
        return {layer.name for layer in self.layers}

    @property
    def blob_names(self) -> set[str]:
        names = {i.name for i in self.inputs}
        for layer in self.layers:
            names.update(layer.tops)
            names.update(layer.bottoms)
        return names

    def index_of(self, layer: Layer) -> int:
        """The layer's position in file order."""
        positions: dict[Layer, int] | None = self.caches.get("positions")
        if positions is None:
            positions = {x: i for i, x in enumerate(self.layers)}
            self.caches["positions"] = positions
        return positions[layer]

    def in_document(self, layer: Layer) -> bool:
        """Whether the layer's text is in this net's document (it was read from it)."""
        return layer.text is not None and layer.text.original.document is self.document

    def written(self, layer: Layer) -> Layer:
        """The layer as the file has it: for a net upgraded in memory to be read (see
        :data:`ORIGINS`), the layer it was upgraded from."""
        origins: Mapping[Layer, Layer] | None = self.caches.get(ORIGINS)
        return layer if origins is None else origins.get(layer, layer)

    def layer_location(self, layer: Layer) -> str | None:
        """FILE:LINE:COL of the layer's block, in the file it was read from."""
        text = self.written(layer).text
        if text is None:
            return None
        return text.original.document.location(text.original.block.start)

    def layer_line(self, layer: Layer) -> int | None:
        """The layer's line in this net's file (None for a layer it does not hold); for a
        net upgraded in memory to be read, the line of the layer it was upgraded from."""
        written = self.written(layer)
        if not self.in_document(written):
            return None
        text = written.text
        assert text is not None
        return text.original.document.line_col(text.original.block.start)[0]

    def label(self, layer: Layer) -> str:
        """The name, or the layer's position for a layer without one (Caffe allows that)."""
        return layer.name or f"#{self.index_of(layer) + 1}"

    def describe(self, layer: Layer) -> str:
        """How messages name a layer: 'conv6' (FILE:LINE:COL), or (added) for a new one."""
        what = f"layer '{layer.name}'" if layer.name else f"unnamed layer {self.label(layer)}"
        where = self.layer_location(layer)
        return f"{what} ({where or 'added'})"


# The cache key of a net upgraded in memory for reading (V0/V1 read as V2): each upgraded
# layer -> the layer of the file, so that messages name the file's own lines.
ORIGINS = "document:origins"


def _document_key(key: object) -> bool:
    """Cached data the document alone decides (the origins of a net upgraded for reading,
    say), which edits keep."""
    return isinstance(key, str) and key.startswith("document:")


def load_net(path: str | os.PathLike[str]) -> Net:
    """Read a prototxt file (``-`` reads standard input) into a lossless :class:`Net`."""
    return Net.from_document(Document.load(path))
