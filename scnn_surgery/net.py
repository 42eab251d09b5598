"""The layer-level view of a prototxt: what Caffe's ``Net::Init`` reads from it.

:class:`Net` pairs a lossless :class:`~scnn_surgery.document.Document` with
the facts surgery needs about each layer block (name, type, bottoms, tops,
include/exclude rules), for all three generations of the format:

* V2: ``layer { name type bottom top ... }``, type a string;
* V1: ``layers { name type: ENUM bottom top ... }``;
* V0: ``layers { layer { name type: "conv" ... } bottom top }``.

Types are always reported with their V2 name, so later stages need not care.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from .document import Document, Field, Message, Scalar
from .errors import SurgeryError

Format = Literal["v2", "v1", "v0", "empty"]

V1_TYPE_NAMES: dict[str, str] = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution",
    "DATA": "Data",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}
V2_TO_V1_TYPE: dict[str, str] = {v: k for k, v in V1_TYPE_NAMES.items() if v}

# Caffe's UpgradeV0LayerType: the V0 lower-case names and their V1 enums.
V0_TYPE_TO_V1: dict[str, str] = {
    "accuracy": "ACCURACY",
    "bnll": "BNLL",
    "concat": "CONCAT",
    "conv": "CONVOLUTION",
    "data": "DATA",
    "dropout": "DROPOUT",
    "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN",
    "hdf5_data": "HDF5_DATA",
    "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL",
    "images": "IMAGE_DATA",
    "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT",
    "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS",
    "pool": "POOLING",
    "relu": "RELU",
    "sigmoid": "SIGMOID",
    "softmax": "SOFTMAX",
    "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT",
    "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}


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


@dataclass
class Layer:
    """One layer block, with the facts Caffe's net builder reads."""

    index: int
    block: Field
    format: Format
    body: Message  # the message holding name, type and parameters
    name: str
    type: str
    bottom_scalars: list[Scalar]
    top_scalars: list[Scalar]
    include: tuple[StateRule, ...]
    exclude: tuple[StateRule, ...]

    @property
    def bottoms(self) -> list[str]:
        return [s.value for s in self.bottom_scalars]

    @property
    def tops(self) -> list[str]:
        return [s.value for s in self.top_scalars]

    @property
    def label(self) -> str:
        """The name, or the layer's position for a layer without one (Caffe allows that)."""
        return self.name or f"#{self.index + 1}"

    @property
    def is_in_place(self) -> bool:
        return any(t == b for t, b in zip(self.tops, self.bottoms, strict=False))

    def in_place_blobs(self) -> list[str]:
        """Blobs this layer rewrites in place (top[i] == bottom[i])."""
        return [t for t, b in zip(self.tops, self.bottoms, strict=False) if t == b]

    def __repr__(self) -> str:
        return f"Layer({self.index}, {self.name!r}, {self.type!r})"


def _int(doc: Document, scalar: Scalar, name: str, context: str = "") -> int:
    """An integer field's value; anything else is a one-line error at the value."""
    if scalar.kind == "word":
        try:
            return scalar.as_int()
        except ValueError:
            pass
    raise SurgeryError(
        f"{doc.location(scalar.start)}: {context}'{name}' must be an integer, not {scalar.raw}"
    )


def _strings(doc: Document, message: Message, name: str, context: str) -> list[Scalar]:
    """A string field's values; Caffe's parser refuses a number or a block there."""
    out: list[Scalar] = []
    for f in message.all(name):
        for value in f.values():
            if not isinstance(value, Scalar) or value.kind != "string":
                shown = value.raw if isinstance(value, Scalar) else "a block"
                raise SurgeryError(
                    f"{doc.location(value.start if isinstance(value, Scalar) else f.start)}:"
                    f" {context}'{name}' must be a quoted string, not {shown}"
                )
            out.append(value)
    return out


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


def _layer_from_block(index: int, block: Field, source: Document) -> Layer:
    if not isinstance(block.value, Message):
        raise SurgeryError(
            f"{source.location(block.start)}: '{block.name}' must be a message block"
        )
    outer = block.value
    fmt: Format
    if block.name == "layer":
        fmt, body = "v2", outer
        layer_type = outer.string("type", "") or ""
    else:
        inner = outer.message("layer")
        if inner is not None:
            fmt, body = "v0", inner
            v0_type = inner.string("type", "") or ""
            layer_type = V1_TYPE_NAMES.get(V0_TYPE_TO_V1.get(v0_type, ""), v0_type)
        else:
            fmt, body = "v1", outer
            enum = outer.string("type", "NONE") or "NONE"
            layer_type = V1_TYPE_NAMES.get(enum, enum)
    names = _strings(source, body, "name", "")
    name = names[-1].value if names else ""
    context = f"in layer '{name}': " if name else ""
    if fmt != "v1":
        _strings(source, body, "type", context)  # V1 types are enums, not strings
    return Layer(
        index=index,
        block=block,
        format=fmt,
        body=body,
        name=name,
        type=layer_type,
        bottom_scalars=_strings(source, outer, "bottom", context),
        top_scalars=_strings(source, outer, "top", context),
        include=tuple(_rule(m, source, context) for m in outer.messages("include")),
        exclude=tuple(_rule(m, source, context) for m in outer.messages("exclude")),
    )


def _inputs(doc: Document) -> list[NetInput]:
    root = doc.root
    names = _strings(doc, root, "input", "")
    shapes = [
        tuple(_int(doc, s, "dim") for s in m.scalars("dim")) for m in root.messages("input_shape")
    ]
    flat_dims = [_int(doc, s, "input_dim") for s in root.scalars("input_dim")]
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


@dataclass
class Net:
    """A document plus its layers and inputs, in file order."""

    document: Document
    layers: list[Layer]
    inputs: list[NetInput]
    format: Format
    declared_state: DeclaredState = DeclaredState()

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
        layers = [_layer_from_block(i, b, doc) for i, b in enumerate(blocks)]
        fmt: Format = "empty"
        if layers:
            fmt = layers[0].format
            if any(layer.format != fmt for layer in layers):
                fmt = "v0" if any(layer.format == "v0" for layer in layers) else fmt
        return cls(doc, layers, _inputs(doc), fmt, _declared_state(doc))

    @property
    def source(self) -> str:
        return self.document.source

    @property
    def name(self) -> str | None:
        return self.document.root.string("name")

    @cached_property
    def layer_names(self) -> set[str]:
        return {layer.name for layer in self.layers}

    @cached_property
    def blob_names(self) -> set[str]:
        names = {i.name for i in self.inputs}
        for layer in self.layers:
            names.update(layer.tops)
            names.update(layer.bottoms)
        return names

    def layer_location(self, layer: Layer) -> str:
        return self.document.location(layer.block.start)

    def describe(self, layer: Layer) -> str:
        """How messages name a layer: 'conv6' (FILE:LINE:COL)."""
        what = f"layer '{layer.name}'" if layer.name else f"unnamed layer {layer.label}"
        return f"{what} ({self.layer_location(layer)})"


def load_net(path: str | os.PathLike[str]) -> Net:
    """Read a prototxt file (``-`` reads standard input) into a lossless :class:`Net`."""
    return Net.from_document(Document.load(path))
