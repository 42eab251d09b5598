"""Export to ONNX: a Caffe net and its caffemodel as an ``onnx.ModelProto`` that computes
what Caffe's forward pass computes (``scnn-surgery export``).

:mod:`.layers` holds one converter per Caffe layer type, :mod:`.blobs` matches the
caffemodel's blobs to the layers, :mod:`.build` puts the graph together and checks it. This
package needs the optional ``onnx`` dependency (``pip install 'scnn-surgery[onnx]'``);
:func:`require_onnx` says so in one line when it is missing, and nothing else in the
project imports it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import SurgeryError

if TYPE_CHECKING:
    import onnx

    from ..analysis.shapes import ShapeOverrides
    from ..core.net import Net
    from ..options import ExportOptions
    from .build import OnnxExport

INSTALL_HINT = "export needs the onnx package: pip install 'scnn-surgery[onnx]'"
EXTERNAL_DATA_LIMIT = 2**31 - 1  # protobuf cannot serialise a message past 2 GiB

__all__ = [
    "INSTALL_HINT", "OnnxFiles", "convert", "export_onnx", "model_bytes", "require_onnx",
    "to_files",
]


def require_onnx() -> None:
    """Refuse in one line when onnx is not installed."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SurgeryError(INSTALL_HINT) from None


def convert(
    net: Net,
    weights: str | os.PathLike[str] | None = None,
    options: ExportOptions | None = None,
    seed: int = 0,
) -> OnnxExport:
    """The export of ``net`` with the caffemodel ``weights`` (else the fillers' values,
    drawn with ``seed``, and a warning that the model is for structure only), as
    ``options`` (``export``'s options; ``external_data`` is the writer's business) ask;
    see :func:`export_onnx`."""
    from ..options import ExportOptions

    require_onnx()
    given = options or ExportOptions()
    phase, shapes, opset, proto = given.phase, given.shapes, given.opset, given.proto
    from ..analysis.forkrules import ruled
    from ..passes.upgrade import net_for_reading
    from ..schema.select import schema_for_net
    from ..weights import Caffemodel, initial_weights, read_caffemodel
    from .build import choose_opset, export_net

    choose_opset(opset)  # a wrong --opset is refused before anything is read
    net = ruled(net, given.shape_rules)  # a fork data layer's sizes, say
    readable = net_for_reading(net)
    schema = schema_for_net(readable, proto)
    source = None
    if weights is not None:  # read only: its floats stay the bytes they are stored as
        source = read_caffemodel(weights, schema, packed_as_bytes=True)

    def filled() -> Caffemodel:
        return initial_weights(
            readable, seed, shapes=shapes, phase=phase, schema=schema, source="the fillers"
        ).model

    result = export_net(
        net, source, phase=phase, shapes=shapes, opset=opset,
        dynamic_batch=given.dynamic_batch, filled=filled,
    )  # fmt: skip
    if source is None:
        result.notes.insert(
            0,
            "warning: no --weights, so the parameters are the fillers' values (as"
            " --weights-out would write them): the model is for structure only",
        )
    return result


def export_onnx(
    net: Net,
    weights: str | os.PathLike[str] | None = None,
    *,
    phase: str | None = None,
    shapes: ShapeOverrides | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
    proto: str | None = None,
    seed: int = 0,
) -> onnx.ModelProto:
    """``net`` (any dialect; V0 and V1 are upgraded in memory) as an ONNX model of its
    ``phase``'s deploy graph (TEST by default), with the blobs of the caffemodel
    ``weights`` or, without it, the fillers' values. ``shapes`` gives blob sizes the file
    does not state (``--shape``), ``opset`` the opset (default: the lowest the graph needs,
    13), ``dynamic_batch`` a free batch size, ``proto`` the fork's caffe.proto."""
    from ..options import ExportOptions

    options = ExportOptions(
        opset=opset, dynamic_batch=dynamic_batch, phase=phase, shapes=shapes or {}, proto=proto
    )
    return convert(net, weights, options, seed).model


class OnnxFiles(NamedTuple):
    """The bytes to write: the model, and its external data (``None``: all inline)."""

    model: bytes
    data: bytes | None
    data_name: str | None


def to_files(model: onnx.ModelProto, output: str, external: bool) -> OnnxFiles:
    """The model's bytes; with ``external`` its tensors go to ``OUTPUT.data`` beside it
    (ONNX external data), as they must past protobuf's 2 GiB. The model is changed."""
    from onnx.external_data_helper import set_external_data

    if not external:
        return OnnxFiles(serialized(model), None, None)
    data_name = os.path.basename(output) + ".data"
    chunks: list[bytes] = []
    offset = 0
    for tensor in _large_tensors(model.graph.initializer):
        raw = tensor.raw_data
        set_external_data(tensor, data_name, offset, len(raw))
        tensor.ClearField("raw_data")
        tensor.data_location = 1  # EXTERNAL
        chunks.append(raw)
        offset += len(raw)
        padding = -offset % 4096  # aligned, so a runtime can map each tensor
        chunks.append(b"\0" * padding)
        offset += padding
    return OnnxFiles(model.SerializeToString(), b"".join(chunks), data_name)


def serialized(model: onnx.ModelProto) -> bytes:
    """``model.SerializeToString()``, parsed as the same model, made several times faster
    for a model of large tensors: protobuf's serializer copies their ``raw_data`` slowly
    (about 0.35 s per 100 MB), so the model is serialized without its initializers, and
    each initializer's bytes follow as a second ``graph`` field, which a parser merges
    into the first (protobuf's rule for a message field given twice: repeated fields
    append). Each tensor is likewise its fields but ``raw_data``, then ``raw_data``."""
    from ..weights import length_delimited

    graph = model.graph
    if not any(t.HasField("raw_data") for t in graph.initializer):
        return model.SerializeToString()
    shell = _without(model, "graph")
    shell.graph.CopyFrom(_without(graph, "initializer"))
    parts = [shell.SerializeToString()]
    tensors: list[bytes] = []
    raw_field = type(graph.initializer[0]).DESCRIPTOR.fields_by_name["raw_data"].number
    for tensor in graph.initializer:
        head = _without(tensor, "raw_data").SerializeToString()
        if tensor.HasField("raw_data"):
            raw = tensor.raw_data
            head += length_delimited(raw_field, len(raw))
            tensors += [length_delimited(_INITIALIZER, len(head) + len(raw)), head, raw]
        else:
            tensors += [length_delimited(_INITIALIZER, len(head)), head]
    size = sum(len(piece) for piece in tensors)
    parts.append(length_delimited(model.DESCRIPTOR.fields_by_name["graph"].number, size))
    return b"".join(parts + tensors)


_INITIALIZER = 5  # GraphProto.initializer's field number in onnx.proto


def _without(message: Any, name: str) -> Any:
    """A copy of ``message`` without its field ``name``, which is never read (reading a
    bytes field copies it)."""
    copy = type(message)()
    for described in message.DESCRIPTOR.fields:
        field = described.name
        if field == name:
            continue
        value = getattr(message, field)
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            getattr(copy, field).extend(value)
        elif not message.HasField(field):
            continue
        elif hasattr(value, "ListFields"):
            getattr(copy, field).CopyFrom(value)
        else:
            setattr(copy, field, value)
    return copy


def model_bytes(model: onnx.ModelProto) -> int:
    """About the model's serialised size: its initializers' bytes and a margin for the
    rest (protobuf's own ByteSize walks every byte of them, which costs more)."""
    graph = model.graph
    data = sum(len(t.raw_data) for t in graph.initializer)
    return data + 64 * (len(graph.initializer) + len(graph.node)) + 2**20


def _large_tensors(tensors: Sequence[Any]) -> list[Any]:
    return [t for t in tensors if t.HasField("raw_data") and len(t.raw_data) >= 1024]
