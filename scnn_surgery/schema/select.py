"""Which schema a net is read with: the user's ``--proto``, else the guessed dialect.

A :class:`Schema` is what shape inference, ``check`` and the caffemodel code
need from a ``caffe.proto``: its ``NetParameter`` and the layer messages it
holds. The classes come from ``NetParameter``'s own fields (``layer`` and
``layers``), so they always fit the messages a parsed net contains.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, cast

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from ..core.document import Document
from ..core.document import Message as DocMessage
from ..core.layerdef import Fields
from ..errors import SurgeryError
from . import DIALECTS, guess_dialect
from .userproto import compile_proto

if TYPE_CHECKING:
    from ..core.net import Layer, Net

__all__ = [
    "Schema",
    "descriptor_of",
    "dialect_schema",
    "field_class",
    "schema_for_net",
    "user_schema",
]


def descriptor_of(message_class: type[Message]) -> Descriptor:
    # The stubs allow upb's Descriptor too; both have the attributes used here.
    return cast(Descriptor, message_class.DESCRIPTOR)


def field_class(message_class: type[Message], field_name: str) -> type[Message]:
    """The message class of ``message_class``'s field ``field_name``."""
    field = descriptor_of(message_class).fields_by_name[field_name]
    desc = cast(Descriptor, field.message_type)
    return message_factory.GetMessageClass(desc)


@dataclass(frozen=True)
class Schema:
    """A caffe.proto's messages: a dialect's (``proto`` is None) or the user's ``--proto``."""

    name: str  # the dialect, or the .proto path as given
    net: type[Message]  # NetParameter
    layer: type[Message]  # LayerParameter (V2 ``layer``)
    v1_layer: type[Message]  # V1LayerParameter (V1 ``layers``)
    proto: str | None = None

    @property
    def v0_layer(self) -> type[Message]:
        """V0LayerParameter, the inner ``layer {}`` of a V0 ``layers`` block."""
        return field_class(self.v1_layer, "layer")

    @property
    def description(self) -> str:
        """How messages name the schema: 'the BVLC schema', 'the schema of fork.proto'."""
        if self.proto is not None:
            return f"the schema of {self.proto}"
        if self.name == "bvlc":
            return "the BVLC schema"
        return f"the {self.name} fork's schema"

    def block_class(self, layer_format: str) -> type[Message]:
        """What a whole layer block parses into: V2 ``layer``, else V1 ``layers``
        (a V0 block is a V1 ``layers`` around the V0 ``layer``)."""
        return self.layer if layer_format == "v2" else self.v1_layer


def _from_net_class(name: str, net_class: type[Message], proto: str | None) -> Schema:
    fields = descriptor_of(net_class).fields_by_name
    missing = [f for f in ("layer", "layers") if f not in fields or not fields[f].message_type]
    if missing:
        raise SurgeryError(
            f"{name}: NetParameter has no message field '{missing[0]}'; is this a Caffe"
            " caffe.proto?"
        )
    return Schema(
        name, net_class, field_class(net_class, "layer"), field_class(net_class, "layers"), proto
    )


@cache
def dialect_schema(dialect: str) -> Schema:
    """One of :data:`~scnn_surgery.schema.DIALECTS` ('bvlc', 'pspnet', ...)."""
    try:
        module = DIALECTS[dialect]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise SurgeryError(f"unknown Caffe dialect '{dialect}' (known: {known})") from None
    return _from_net_class(dialect, module.NetParameter, None)


# Compiled user schemas by (resolved path, modification time): an edited file is compiled
# again, an unchanged one once per process.
_USER_SCHEMAS: dict[tuple[str, int], Schema] = {}


def user_schema(proto: str | os.PathLike[str]) -> Schema:
    """The user's fork ``caffe.proto``, compiled by protoc (the ``proto`` extra).

    Errors are one-line :class:`SurgeryError` s located as FILE:LINE:COL in the .proto.
    """
    path = Path(proto)
    try:
        key = (str(path.resolve()), path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise SurgeryError(f"{proto}: no such file (the --proto caffe.proto)") from None
    except OSError as exc:
        raise SurgeryError(f"{proto}: cannot read: {exc.strerror}") from None
    schema = _USER_SCHEMAS.get(key)
    if schema is None:
        schema = _USER_SCHEMAS[key] = _compile(str(proto))
    return schema


def _compile(proto: str) -> Schema:
    net = compile_proto(Path(proto)).message_types_by_name.get("NetParameter")
    if net is None:
        raise SurgeryError(f"{proto}: no top-level message NetParameter; is this a caffe.proto?")
    return _from_net_class(proto, message_factory.GetMessageClass(net), proto)


def schema_for_net(net: Net, proto: str | os.PathLike[str] | None = None) -> Schema:
    """``proto`` (the user's caffe.proto) when given, else the dialect the net's text uses
    (BVLC when it uses nothing fork-specific)."""
    if proto is not None:
        return user_schema(proto)
    return dialect_schema(dialect_of(net))


_DIALECT = "dialect"  # not a document: key: the layers decide, and edits change them


def dialect_of(net: Net) -> str:
    """The dialect that best explains the net: its layer types and every field name its
    text uses (its own file's, and a spliced layer's in the file it came from), read from
    the parsed trees; kept until the net's layers change."""
    layers = tuple(net.layers)
    cached: tuple[tuple[Layer, ...], str] | None = net.caches.get(_DIALECT)
    if cached is not None and cached[0] == layers:
        return cached[1]
    found = guess_dialect({layer.type for layer in layers}, _field_names(net.document, layers))
    net.caches[_DIALECT] = (layers, found)
    return found


def _field_names(document: Document, layers: Sequence[Layer]) -> set[str]:
    """Every field name of the document outside its layer blocks, and of each layer: its
    text (wherever it is) or its definition. A block the net no longer has does not count."""
    names = {f.name for f in document.root.fields}
    stack = [
        v
        for f in document.root.fields
        if f.name not in ("layer", "layers")
        for v in f.values()
        if isinstance(v, DocMessage)
    ]
    definitions: dict[int, Fields] = {}
    for layer in layers:
        if layer.text is not None:
            block = layer.text.block.value
            if isinstance(block, DocMessage):
                stack.append(block)
        elif layer.definition is not None:
            definitions[id(layer.definition.fields)] = layer.definition.fields
    while stack:
        message = stack.pop()
        for f in message.fields:
            names.add(f.name)
            stack.extend(v for v in f.values() if isinstance(v, DocMessage))
    pending = list(definitions.values())
    while pending:
        for key, value in pending.pop():
            names.add(key)
            if isinstance(value, tuple):
                pending.append(value)
    return names
