"""Export to ONNX: a Caffe net and its caffemodel as an ``onnx.ModelProto`` that computes
what Caffe's forward pass computes (``scnn-surgery export``).

:mod:`.layers` holds one converter per Caffe layer type, :mod:`.blobs` matches the
caffemodel's blobs to the layers, :mod:`.build` puts the graph together and checks it. This
package needs the optional ``onnx`` dependency (``pip install 'onnx>=1.23'``, or in a clone
``pip install -e '.[onnx]'``);
:func:`require_onnx` says so in one line when it is missing, and nothing else in the
project imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..errors import SurgeryError

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from ..analysis.shapes import ShapeOverrides
    from ..core.net import Net
    from ..files import Pieces
    from ..options import ExportOptions
    from .build import OnnxExport

# The package itself, which works wherever scnn-surgery came from; the extra pins it.
INSTALL_HINT = (
    "export needs the onnx package: pip install 'onnx>=1.23'"
    " (or, in a clone, the onnx extra: pip install -e '.[onnx]')"
)
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
    """The bytes to write, each file as pieces written one after another: the model, and
    its external data (``None``: all inline)."""

    model: Pieces
    data: Pieces | None
    data_name: str | None


def to_files(export: OnnxExport, output: str, external: bool) -> OnnxFiles:
    """The model's bytes; with ``external`` its tensors go to ``OUTPUT.data`` beside it
    (ONNX external data), as they must past protobuf's 2 GiB. The tensors' bytes are
    their arrays' own memory, not copied into a message."""
    if not external:
        return OnnxFiles(serialized(export.graph_only, export.tensors), None, None)
    import onnx
    from onnx.external_data_helper import set_external_data

    from .build import raw_view, tensor_head

    data_name = os.path.basename(output) + ".data"
    model = onnx.ModelProto()
    model.CopyFrom(export.graph_only)
    chunks: list[bytes | memoryview] = []
    offset = 0
    for name, array in export.tensors.items():
        tensor = model.graph.initializer.add()
        tensor.CopyFrom(tensor_head(name, array))
        raw = raw_view(array)
        if len(raw) < 1024:  # a small tensor stays in the model
            tensor.raw_data = raw.tobytes()
            continue
        tensor.raw_data = b""  # set_external_data refuses a tensor without the field
        set_external_data(tensor, data_name, offset, len(raw))
        tensor.ClearField("raw_data")
        chunks.append(raw)
        offset += len(raw)
        padding = -offset % 4096  # aligned, so a runtime can map each tensor
        chunks.append(b"\0" * padding)
        offset += padding
    return OnnxFiles([model.SerializeToString()], _coalesced(chunks), data_name)


def serialized(graph_only: onnx.ModelProto, tensors: Mapping[str, np.ndarray]) -> Pieces:
    """The model ``graph_only`` with the arrays ``tensors`` as its initializers, as the
    pieces of its serialization; parsed, it is the whole model. Putting the arrays into
    a message would copy them, and protobuf's serializer copies large ``raw_data`` slowly
    (about 0.35 s per 100 MB), so the model is serialized without its initializers, and
    they follow as a second ``graph`` field, which a parser merges into the first
    (protobuf's rule for a message field given twice: repeated fields append). Each
    tensor is its fields but ``raw_data``, then ``raw_data``, whose payload is the
    array's own memory."""
    from ..weights import length_delimited
    from .build import raw_view, tensor_head

    if not tensors:
        return [graph_only.SerializeToString()]
    pieces: list[bytes | memoryview] = []
    for name, array in tensors.items():
        raw = raw_view(array)
        head = tensor_head(name, array).SerializeToString()
        head += length_delimited(_RAW_DATA, len(raw))
        pieces += [length_delimited(_INITIALIZER, len(head) + len(raw)), head, raw]
    size = sum(len(piece) for piece in pieces)
    start = graph_only.SerializeToString() + length_delimited(_GRAPH, size)
    return _coalesced([start, *pieces])


# Field numbers in onnx.proto: ModelProto.graph, GraphProto.initializer, TensorProto.raw_data
_GRAPH, _INITIALIZER, _RAW_DATA = 7, 5, 9
_SHORT = 64 * 1024  # bytes: pieces shorter than this are joined to their neighbours


def _coalesced(pieces: Sequence[bytes | memoryview]) -> list[bytes | memoryview]:
    """``pieces`` with each run of short ones joined, so that writing them takes few
    system calls; the long ones (the tensors' bytes) stay as they are."""
    out: list[bytes | memoryview] = []
    run = bytearray()
    for piece in pieces:
        if len(piece) < _SHORT:
            run += piece
            continue
        if run:
            out.append(bytes(run))
            run.clear()
        out.append(piece)
    if run:
        out.append(bytes(run))
    return out


def model_bytes(export: OnnxExport) -> int:
    """About the model's serialised size: its initializers' bytes and a margin for the
    rest."""
    data = sum(array.nbytes for array in export.tensors.values())
    return data + 64 * (len(export.tensors) + len(export.graph_only.graph.node)) + 2**20
