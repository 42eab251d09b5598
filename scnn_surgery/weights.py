"""Caffe ``.caffemodel`` files: read, write, check against a net and fill from fillers.

A caffemodel is a binary ``NetParameter`` whose layers carry their learned
blobs. Caffe's ``Net::CopyTrainedLayersFrom`` matches them to a net's layers
by *name* only, so surgery that adds layers keeps every existing blob by
keeping the source file's layers as they are and adding the new ones.

* V1 files (``layers``, as written before 2015) stay V1: the module's layers
  are added as V1 layers with legacy 4-D blob dimensions.
* A caffemodel is read with a schema (:class:`~scnn_surgery.schema.select.Schema`): the
  user's ``--proto``, else the dialect the prototxt uses, since forks give the same field
  numbers to different messages. The layers written into it are parsed from the prototxt
  with that schema's classes, so a fork's parameters get the fork's field numbers.
* Fields the schema does not know survive a read/write round trip, because
  protobuf keeps unknown fields of a parsed binary message and writes them back.
* New blobs come from the layer's fillers, with Caffe's formulas, drawn from a
  generator seeded per layer, so one layer's values do not depend on the rest.
  Layers that share a parameter by name get the owner's blob, stored again in
  each layer: OpenCV ignores parameter sharing and reads every layer's own blobs.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from .analysis.params import (
    conv_params,
    definition_message,
    inner_product_params,
    layer_message,
    layer_message_as,
    params_memo,
    part_message,
    per_params,
)
from .analysis.shapes import MaybeShape, ShapeOverrides, format_shape, infer_shapes
from .core.document import Document, Message, Scalar
from .core.formats import V1_TYPE_NAMES
from .core.graph import graph_of, phase_states
from .core.layerdef import Enum
from .core.net import Layer, Net
from .core.text_export import definition_of
from .core.typed import fill_message
from .errors import SurgeryError
from .files import MAX_CAFFEMODEL_BYTES, format_bytes, read_input_bytes
from .runtime import content_cache
from .schema import caffe_pb2
from .schema.select import Schema, dialect_schema, field_class, schema_for_net
from .scnn import FLOAT32_BYTES, ScnnSpec, build_module, estimate_module, render_layers

__all__ = [
    "DEPTHWISE_TYPES",
    "Caffemodel",
    "ParamBlob",
    "ParamSpec",
    "WeightsResult",
    "blob_array",
    "blob_matches",
    "blob_shape",
    "blob_value_count",
    "carry_over",
    "check_caffemodel_size",
    "describe",
    "fill",
    "initial_weights",
    "layer_param_blobs",
    "make_blob",
    "param_blob_count",
    "param_specs",
    "parse_caffemodel",
    "read_caffemodel",
    "restate_legacy_dims",
    "upgrade_v1_entry",
]

if TYPE_CHECKING:
    # NumPy is imported where values are made, so that `check` (and `insert` without
    # weights) runs without it.
    import numpy as np
    from numpy.typing import NDArray

    FloatArray = NDArray[np.float32]

BlobDims = tuple[int, ...]


# ---------------------------------------------------------------------------
# The file


@dataclass
class Caffemodel:
    """A parsed caffemodel; ``message`` is its schema's ``NetParameter``; ``upgraded``:
    read from a V1 file as V2 (see :func:`parse_caffemodel`)."""

    message: Any
    source: str = "<caffemodel>"
    upgraded: bool = False

    @property
    def legacy(self) -> bool:
        """V1 layout: layers in ``layers`` (V1LayerParameter), as Caffe wrote before 2015."""
        return len(self.message.layers) > 0 and len(self.message.layer) == 0

    @property
    def layers(self) -> list[Any]:
        return list(self.message.layers if self.legacy else self.message.layer)

    def to_bytes(self) -> bytes:
        data: bytes = self.message.SerializeToString()
        return data


def parse_caffemodel(
    data: bytes,
    source: str = "<caffemodel>",
    schema: Schema | None = None,
    *,
    packed_as_bytes: bool = False,
    as_v2: bool = False,
) -> Caffemodel:
    """Parse with ``schema``'s ``NetParameter`` (default: BVLC's). ``packed_as_bytes``:
    for reading only, each blob's ``data`` is kept as the bytes Caffe packed its floats
    in, which :func:`blob_array` views without a copy (see :func:`_packed_bytes_net`).
    ``as_v2``: a V1 file is read as the V2 one Caffe's upgrade makes of it, as
    ``upgrade_net_proto_binary`` writes it (blobs as they are, legacy dimensions too)."""
    net_class = (schema or dialect_schema("bvlc")).net
    upgraded = _v1_as_v2_bytes(data, net_class) if as_v2 else None
    if upgraded is not None:
        data = upgraded
    message: Any = ((_packed_bytes_net(net_class) if packed_as_bytes else None) or net_class)()
    try:
        message.ParseFromString(data)
    except DecodeError:
        what = "truncated, or not a binary caffemodel"
        if data[:200].lstrip().startswith((b"name", b"layer", b"input", b"#")):
            what = "not a binary caffemodel; it looks like a prototxt"
        raise SurgeryError(f"{source}: cannot be decoded ({what})") from None
    if not _decodes(message):
        raise SurgeryError(
            f"{source}: holds text that is not UTF-8 (a layer's name, type or blob names, say);"
            " the caffemodel is damaged"
        )
    model = Caffemodel(message, source, upgraded=upgraded is not None)
    if len(message.layer) and len(message.layers):
        raise SurgeryError(
            f"{source}: the caffemodel has both 'layer' and 'layers' entries, which Caffe refuses"
        )
    return model


def _decodes(message: Any) -> bool:
    """Whether every string of ``message`` but its blobs' is UTF-8: protobuf's parser
    lets other bytes through (reading them gives ``bytes``), to fail wherever a verb first
    writes them. (Protobuf's parser bounds the depth of nesting.)"""
    for described, value in message.ListFields():
        if described.type == described.TYPE_STRING:
            texts = (value,) if isinstance(value, (str, bytes)) else value
            if any(isinstance(text, bytes) for text in texts):  # its bytes are not UTF-8
                return False
        elif described.message_type is not None and described.name != "blobs":
            items = (value,) if hasattr(value, "ListFields") else value
            if not all(_decodes(item) for item in items):
                return False
    return True


def read_caffemodel(
    path: str | os.PathLike[str],
    schema: Schema | None = None,
    *,
    packed_as_bytes: bool = False,
    refuse_damaged: bool = True,
    as_v2: bool = False,
) -> Caffemodel:
    """The caffemodel at ``path``; one whose blob holds more or fewer values than its
    shape has is refused (:func:`refuse_damaged_blobs`) unless ``refuse_damaged`` is
    false (``check`` reports it as a finding instead). ``as_v2``: see
    :func:`parse_caffemodel`."""
    data = read_input_bytes(path, "a caffemodel", MAX_CAFFEMODEL_BYTES)
    model = parse_caffemodel(
        data, str(path), schema, packed_as_bytes=packed_as_bytes, as_v2=as_v2
    )
    if refuse_damaged:
        refuse_damaged_blobs(model)
    return model


def refuse_damaged_blobs(model: Caffemodel) -> None:
    """Refuse a blob whose value count is not what its shape has, naming the layer and
    the param as Caffe does ("param 0"): Caffe's Blob::FromProto aborts on it, and
    every verb that reads values would misread it."""
    for entry in model.layers:
        for j, blob in enumerate(entry.blobs):
            shape = blob_shape(blob)
            count, needed = blob_value_count(blob), math.prod(shape)
            if count != needed:
                raise SurgeryError(
                    f"{model.source}: layer '{entry.name}' param {j} holds {count}"
                    f" value{'s' if count != 1 else ''}, but its shape {format_shape(shape)}"
                    f" has {needed}; the caffemodel is damaged (check --weights lists every"
                    " such blob)"
                )


# A BlobProto class whose ``data`` is bytes -> the schema's own BlobProto class.
_FLOAT_BLOBS: dict[type[Any], type[Any]] = {}
_PACKED_NETS: dict[type[Any], type[Any] | None] = {}


def _packed_bytes_net(net_class: type[Any]) -> type[Any] | None:
    """``net_class`` with BlobProto's ``repeated float data = 5 [packed]`` declared
    ``repeated bytes``: a packed float array and a bytes field are the same on the wire,
    so protobuf's parser copies each blob's floats out as one bytes object, which numpy
    views as it is (converting the floats of a repeated field costs a copy). None when
    the schema has no BlobProto with such a field."""
    if net_class in _PACKED_NETS:
        return _PACKED_NETS[net_class]
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    changed: list[str] = []

    def add(file: Any) -> None:
        if file.name in added:
            return
        added.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        for message in proto.message_type:
            for item in message.field if message.name == "BlobProto" else ():
                if item.name == "data" and item.type == item.TYPE_FLOAT:
                    item.type = item.TYPE_BYTES
                    item.ClearField("options")
                    changed.append(f"{proto.package}.{message.name}".lstrip("."))
        pool.Add(proto)

    add(net_class.DESCRIPTOR.file)
    found = None
    if changed:
        found = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(net_class.DESCRIPTOR.full_name)
        )
        packed_blob = message_factory.GetMessageClass(pool.FindMessageTypeByName(changed[0]))
        original = net_class.DESCRIPTOR.file.pool.FindMessageTypeByName(changed[0])
        _FLOAT_BLOBS[packed_blob] = message_factory.GetMessageClass(original)
    _PACKED_NETS[net_class] = found
    return found


# ---------------------------------------------------------------------------
# Blobs


def has_legacy_dims(blob: Any) -> bool:
    return any(blob.HasField(f) for f in ("num", "channels", "height", "width"))


def blob_shape(blob: Any) -> BlobDims:
    """The shape Caffe gives a stored blob: the legacy 4-D fields when any is set, else
    ``shape``; OpenCV reads them the same way."""
    if has_legacy_dims(blob):
        return (blob.num, blob.channels, blob.height, blob.width)
    return tuple(int(d) for d in blob.shape.dim)


def blob_matches(blob: Any, shape: Sequence[int]) -> bool:
    """Caffe's ``Blob::ShapeEquals``: legacy 4-D dimensions compare with the target's shape
    padded with leading 1s (so an old (1, 1, N, K) weight fits an (N, K) layer)."""
    if has_legacy_dims(blob):
        return len(shape) <= 4 and (1,) * (4 - len(shape)) + tuple(shape) == blob_shape(blob)
    return blob_shape(blob) == tuple(shape)


def blob_value_count(blob: Any) -> int:
    if len(blob.double_data):
        return len(blob.double_data)
    if type(blob) not in _FLOAT_BLOBS:
        return len(blob.data)
    # Read by _packed_bytes_net: ``data`` is the packed floats' bytes, in chunks; floats
    # written unpacked (or a torn chunk) are counted by the schema's own BlobProto.
    size = sum(len(chunk) for chunk in blob.data)
    if size == 4 * math.prod(blob_shape(blob)):
        return size // 4
    try:
        return len(_FLOAT_BLOBS[type(blob)].FromString(blob.SerializeToString()).data)
    except DecodeError:
        return size // 4


def blob_array(blob: Any) -> FloatArray:
    """A stored blob's values as float32 in its shape (``double_data`` is narrowed)."""
    import numpy as np

    shape = blob_shape(blob)
    if type(blob) in _FLOAT_BLOBS and not len(blob.double_data):
        return _packed_array(blob, shape)
    values = blob.double_data if len(blob.double_data) else blob.data
    array = np.asarray(values, dtype=np.float32)
    return array.reshape(shape) if shape else array.reshape(())


def _packed_array(blob: Any, shape: BlobDims) -> FloatArray:
    """A blob read by :func:`_packed_bytes_net`: its floats' bytes as they are, read-only.
    Floats written unpacked (which the bytes field cannot hold) are read again with the
    schema's own BlobProto."""
    import numpy as np

    chunks = blob.data
    payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(payload) != 4 * math.prod(shape):
        return blob_array(_FLOAT_BLOBS[type(blob)].FromString(blob.SerializeToString()))
    array: FloatArray = np.frombuffer(payload, dtype="<f4").reshape(shape)
    return array


def _packed_floats(field_number: int, values: FloatArray) -> bytes:
    """One packed ``repeated float`` field, encoded directly: far faster than extending a
    protobuf repeated field value by value for blobs of millions of weights."""
    import numpy as np

    payload = np.ascontiguousarray(values, dtype="<f4").tobytes()
    return length_delimited(field_number, len(payload)) + payload


def length_delimited(field_number: int, length: int) -> bytes:
    """The tag and length that start a length-delimited protobuf field (a message,
    bytes, a packed array) of ``length`` bytes; its payload follows."""
    return _varint((field_number << 3) | 2) + _varint(length)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_DATA_FIELD = 5  # BlobProto.data


def make_blob(values: FloatArray, legacy: bool = False, blob_class: Any = None) -> Any:
    """A ``BlobProto`` (``blob_class``, default BVLC's) holding ``values``; ``legacy`` writes
    the 4-D num/channels/height/width fields (for V1 files and the Caffe releases that read
    them) instead of ``shape``."""
    blob = (blob_class or caffe_pb2.BlobProto)()
    shape = tuple(int(d) for d in values.shape)
    if legacy and len(shape) <= 4:
        blob.num, blob.channels, blob.height, blob.width = (1,) * (4 - len(shape)) + shape
    else:
        blob.shape.dim.extend(shape)
    blob.MergeFromString(_packed_floats(_DATA_FIELD, values.reshape(-1)))
    return blob


# ---------------------------------------------------------------------------
# Fillers (include/caffe/filler.hpp)


def _fans(shape: BlobDims) -> tuple[int, int]:
    count = math.prod(shape)
    fan_in = count // shape[0]
    fan_out = count // shape[1] if len(shape) > 1 else count
    return fan_in, fan_out


def _variance_n(filler: Any, shape: BlobDims) -> float:
    fan_in, fan_out = _fans(shape)
    norm = filler.variance_norm
    if norm == caffe_pb2.FillerParameter.AVERAGE:
        return (fan_in + fan_out) / 2.0
    if norm == caffe_pb2.FillerParameter.FAN_OUT:
        return float(fan_out)
    return float(fan_in)


def _no_sparse(filler: Any) -> None:
    if filler.sparse != -1:
        raise SurgeryError(f"the {filler.type} filler does not support 'sparse'")


def _gaussian(filler: Any, shape: BlobDims, rng: np.random.Generator) -> NDArray[np.float64]:
    if filler.std <= 0:
        raise SurgeryError(f"gaussian filler std must be above 0, got {filler.std}")
    data = rng.normal(filler.mean, filler.std, size=shape)
    if filler.sparse >= 0:
        if not shape:
            raise SurgeryError("a sparse gaussian filler needs a blob with axes")
        # Caffe keeps each weight with probability sparse / num_outputs (shape[0]).
        keep = rng.random(size=shape) < filler.sparse / shape[0]
        data = data * keep
    elif filler.sparse < -1:
        raise SurgeryError(f"gaussian filler sparse must be at least -1, got {filler.sparse}")
    return data


def _uniform(low: float, high: float, shape: BlobDims, rng: np.random.Generator) -> Any:
    if low > high:
        raise SurgeryError(f"uniform filler min {low} is above max {high}")
    return rng.uniform(low, high, size=shape)


def _positive_unitball(shape: BlobDims, rng: np.random.Generator) -> NDArray[np.float64]:
    data = rng.uniform(0.0, 1.0, size=shape)
    rows = data.reshape(shape[0] if shape else 1, -1)
    normalised: NDArray[np.float64] = (rows / rows.sum(axis=1, keepdims=True)).reshape(shape)
    return normalised


def _bilinear(shape: BlobDims) -> NDArray[np.float64]:
    import numpy as np

    if len(shape) != 4:
        raise SurgeryError(f"the bilinear filler needs a 4-D blob, got {format_shape(shape)}")
    height, width = shape[2], shape[3]
    if height != width:
        raise SurgeryError(f"the bilinear filler needs a square kernel, got {height}x{width}")
    f = int(np.ceil(width / 2.0))
    c = (width - 1) / (2.0 * f)
    index = np.arange(int(np.prod(shape)))
    x = index % width
    y = (index // width) % height
    values: NDArray[np.float64] = (1 - np.abs(x / f - c)) * (1 - np.abs(y / f - c))
    return values.reshape(shape)


def fill(filler: Any, shape: BlobDims, rng: np.random.Generator) -> FloatArray:
    """Values for a blob of ``shape`` from a ``FillerParameter``, with Caffe's formulas."""
    import numpy as np

    if 0 in shape:
        raise SurgeryError(f"cannot fill a blob of shape {format_shape(shape)}")
    kind = filler.type
    data: Any
    if kind == "constant":
        _no_sparse(filler)
        data = np.full(shape, filler.value)
    elif kind == "gaussian":
        data = _gaussian(filler, shape, rng)
    elif kind == "uniform":
        _no_sparse(filler)
        data = _uniform(filler.min, filler.max, shape, rng)
    elif kind == "positive_unitball":
        _no_sparse(filler)
        data = _positive_unitball(shape, rng)
    elif kind == "xavier":
        _no_sparse(filler)
        scale = float(np.sqrt(3.0 / _variance_n(filler, shape)))
        data = rng.uniform(-scale, scale, size=shape)
    elif kind == "msra":
        _no_sparse(filler)
        data = rng.normal(0.0, float(np.sqrt(2.0 / _variance_n(filler, shape))), size=shape)
    elif kind == "bilinear":
        _no_sparse(filler)
        data = _bilinear(shape)
    else:
        raise SurgeryError(f"unknown filler type '{kind}'")
    return np.asarray(data, dtype=np.float32)


def _constant(value: float) -> Any:
    filler = caffe_pb2.FillerParameter()
    filler.type = "constant"
    filler.value = value
    return filler


# ---------------------------------------------------------------------------
# What parameter blobs a layer holds


@dataclass(frozen=True)
class ParamBlob:
    """One parameter blob a layer creates: its shape and the filler Caffe fills it with."""

    shape: BlobDims
    filler: Any  # caffe_pb2.FillerParameter


@dataclass(frozen=True)
class ParamSpec:
    """A ``param {}`` entry (or V1's parallel lists): sharing name and explicit multipliers."""

    name: str
    lr_mult: float | None
    decay_mult: float | None
    permissive: bool


# BVLC layer types that never hold parameter blobs.
NO_PARAM_TYPES = frozenset(
    {
        "AbsVal", "Accuracy", "ArgMax", "BNLL", "BatchReindex", "Clip", "Concat",
        "ContrastiveLoss", "Crop", "Data", "Dropout", "DummyData", "ELU", "Eltwise",
        "EuclideanLoss", "Exp", "Filter", "Flatten", "HDF5Data", "HDF5Output", "HingeLoss",
        "Im2col", "ImageData", "InfogainLoss", "Input", "LRN", "Log", "MVN", "MemoryData",
        "MultinomialLogisticLoss", "Pooling", "Power", "ReLU", "Reduction", "Reshape", "SPP",
        "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax",
        "SoftmaxWithLoss", "Split", "Swish", "TanH", "Threshold", "Tile", "WindowData",
    }
)  # fmt: skip


# Fork layer types that hold no parameter blobs either (PSPNet/DeepLab Interp, SSD's
# Permute/PriorBox/DetectionOutput, SegNet's and YOLOv3's Upsample, Fast R-CNN's ROIPooling,
# MobileNet-YOLO's detection output, SegNet's data layer).
FORK_NO_PARAM_TYPES = frozenset(
    {
        "DenseImageData", "DetectionOutput", "Interp", "Permute", "PriorBox", "ROIPooling",
        "Upsample", "Yolov3DetectionOutput",
    }
)  # fmt: skip

# Fork convolutions whose blobs are a Convolution's; the group defaults to the channels.
DEPTHWISE_TYPES = frozenset({"DepthwiseConvolution", "ConvolutionDepthwise"})
CONVOLUTION_TYPES = frozenset({"Convolution", "Deconvolution", *DEPTHWISE_TYPES})


def _bias_term(net: Net, layer: Layer) -> bool:
    kind = layer.type
    if kind in CONVOLUTION_TYPES:
        return bool(conv_params(net, layer).bias_term)
    if kind == "InnerProduct":
        return bool(inner_product_params(net, layer).bias_term)
    if kind == "Embed":
        return bool(part_message(net, layer, "embed_param").embed_param.bias_term)
    if kind == "Scale":
        return bool(part_message(net, layer, "scale_param").scale_param.bias_term)
    return False


@per_params
def param_blob_count(net: Net, layer: Layer) -> int | None:
    """How many parameter blobs Caffe gives the layer; None for types it does not know
    (fork layers, Python layers) and for V0 layers."""
    if layer.format == "v0":
        return None
    kind = layer.type
    if kind in NO_PARAM_TYPES or kind in FORK_NO_PARAM_TYPES:
        return 0
    if kind in CONVOLUTION_TYPES or kind in ("InnerProduct", "Embed"):
        return 1 + int(_bias_term(net, layer))
    if kind == "BatchNorm":
        return 3
    if kind in ("PReLU", "Parameter"):
        return 1
    if kind == "Scale":
        learned_scale = len(layer.bottoms) < 2
        return int(learned_scale) + int(_bias_term(net, layer))
    if kind == "Bias":
        return 1 if len(layer.bottoms) < 2 else 0
    return None


def _canonical(axis: int, rank: int) -> int | None:
    return axis + rank if -rank <= axis < 0 else (axis if 0 <= axis < rank else None)


Dims = tuple[int | None, ...]


def _known(dims: Iterable[int | None]) -> BlobDims | None:
    out = tuple(dims)
    if any(d is None for d in out):
        return None
    return tuple(int(d) for d in out if d is not None)


def _span(x: Dims, axis: int, num_axes: int) -> BlobDims | None:
    """``x[axis : axis + num_axes]`` (to the end for -1), as Scale and Bias size their blob."""
    start = _canonical(axis, len(x))
    if start is None or num_axes < -1:
        return None
    end = len(x) if num_axes == -1 else start + num_axes
    return _known(x[start:end]) if end <= len(x) else None


def _conv_blobs(net: Net, layer: Layer, x: Dims) -> list[ParamBlob] | None:
    p = conv_params(net, layer)
    msg = layer_message(net, layer).convolution_param
    axis = _canonical(p.axis, len(x))
    if axis is None or p.num_output is None:
        return None
    channels = x[axis]
    try:
        kernel = p.geometry(len(x) - axis - 1)[0]
        group = p.groups(channels, layer.type in DEPTHWISE_TYPES)
    except ValueError:
        return None
    if channels is None or group is None or channels % group or p.num_output % group:
        return None
    if layer.type == "Deconvolution":
        weight = (channels, p.num_output // group, *kernel)
    else:
        weight = (p.num_output, channels // group, *kernel)
    blobs = [ParamBlob(weight, msg.weight_filler)]
    if p.bias_term:
        blobs.append(ParamBlob((p.num_output,), msg.bias_filler))
    return blobs


def _inner_product_blobs(net: Net, layer: Layer, x: Dims) -> list[ParamBlob] | None:
    p = inner_product_params(net, layer)
    msg = layer_message(net, layer).inner_product_param
    axis = _canonical(p.axis, len(x))
    inputs = None if axis is None else _known(x[axis:])
    if inputs is None or p.num_output is None:
        return None
    k, n = math.prod(inputs), p.num_output
    blobs = [ParamBlob((k, n) if p.transpose else (n, k), msg.weight_filler)]
    if p.bias_term:
        blobs.append(ParamBlob((n,), msg.bias_filler))
    return blobs


def _scale_blobs(msg: Any, x: Dims, bottoms: Sequence[MaybeShape]) -> list[ParamBlob] | None:
    p = msg.scale_param
    blobs: list[ParamBlob] = []
    if len(bottoms) < 2:
        span = _span(x, p.axis, p.num_axes)
        if span is None:
            return None
        blobs.append(ParamBlob(span, p.filler if p.HasField("filler") else _constant(1.0)))
    if p.bias_term:
        second = bottoms[1] if len(bottoms) > 1 else None
        if len(bottoms) > 1 and second is None:
            return None
        bias = _span(x, p.axis, len(second) if second is not None else p.num_axes)
        if bias is None:
            return None
        blobs.append(ParamBlob(bias, p.bias_filler))
    return blobs


def _batch_norm_blobs(x: Dims) -> list[ParamBlob] | None:
    channels = 1 if len(x) == 1 else x[1]
    if channels is None:
        return None
    zero = _constant(0.0)  # BatchNormLayer zeroes its statistics rather than filling them
    return [ParamBlob((channels,), zero), ParamBlob((channels,), zero), ParamBlob((1,), zero)]


def _prelu_blobs(msg: Any, x: Dims) -> list[ParamBlob] | None:
    p = msg.prelu_param
    filler = p.filler if p.HasField("filler") else _constant(0.25)
    if len(x) < 2:
        return None
    if p.channel_shared:
        return [ParamBlob((), filler)]
    return None if x[1] is None else [ParamBlob((x[1],), filler)]


def _shape_dependent_blobs(
    net: Net, layer: Layer, bottoms: Sequence[MaybeShape]
) -> list[ParamBlob] | None:
    x = bottoms[0] if bottoms else None
    if x is None:
        return None
    msg = layer_message(net, layer)
    kind = layer.type
    if kind in CONVOLUTION_TYPES:
        return _conv_blobs(net, layer, x)
    if kind == "InnerProduct":
        return _inner_product_blobs(net, layer, x)
    if kind == "Scale":
        return _scale_blobs(msg, x, bottoms)
    if kind == "BatchNorm":
        return _batch_norm_blobs(x)
    if kind == "PReLU":
        return _prelu_blobs(msg, x)
    if kind == "Bias":
        span = _span(x, msg.bias_param.axis, msg.bias_param.num_axes)
        return None if span is None else [ParamBlob(span, msg.bias_param.filler)]
    return None


def layer_param_blobs(
    net: Net, layer: Layer, bottoms: Sequence[MaybeShape]
) -> list[ParamBlob] | None:
    """The parameter blobs Caffe creates for ``layer`` given its bottoms' shapes, with the
    fillers it fills them from; None when they cannot be known (unknown type or shape)."""
    memo = params_memo(layer)
    key = ("param blobs", tuple(bottoms))
    if key not in memo:
        memo[key] = _layer_param_blobs(net, layer, bottoms)
    found: list[ParamBlob] | None = memo[key]
    return None if found is None else list(found)


def _layer_param_blobs(
    net: Net, layer: Layer, bottoms: Sequence[MaybeShape]
) -> list[ParamBlob] | None:
    count = param_blob_count(net, layer)
    if count is None:
        return None
    if count == 0:
        return []
    msg = layer_message(net, layer)
    if layer.type == "Parameter":
        return [ParamBlob(tuple(int(d) for d in msg.parameter_param.shape.dim), _constant(0.0))]
    if layer.type == "Embed":
        p = msg.embed_param
        blobs = [ParamBlob((p.input_dim, p.num_output), p.weight_filler)]
        if p.bias_term:
            blobs.append(ParamBlob((p.num_output,), p.bias_filler))
        return blobs
    return _shape_dependent_blobs(net, layer, bottoms)


_PARAM_FIELDS = frozenset({"param", "blobs_lr", "weight_decay", "blob_share_mode"})


def _param_message(net: Net, layer: Layer) -> Any:
    """The layer's typed message, or, until something needs all of it, just its ParamSpec
    fields filled from the tree (a fraction of the work for a convolution)."""
    full = layer.memo.get("message")
    if full is not None or layer.text is None:
        return layer_message(net, layer)
    partial = layer.memo.get("param message")
    if partial is None:
        text = layer.text
        fields = [f for f in text.body.fields if f.name in _PARAM_FIELDS]
        cls = caffe_pb2.V1LayerParameter if layer.format == "v1" else caffe_pb2.LayerParameter
        partial = fill_message(text.document, fields, cls(), f"in layer '{layer.name}': ")
        layer.memo["param message"] = partial
    return partial


# The common case, ``param { name: "w" lr_mult: 1 decay_mult: 0 }``, is read straight from
# the tree or the definition: filling typed messages for it was most of checking a result.
# Anything else (V1's lists, a repeated or unknown key, a number protobuf reads its own
# way) takes the typed message, which also gives the located error for bad text.
_PLAIN_FLOAT = re.compile(
    r"-?(?:[1-9][0-9]*(?:\.[0-9]*)?|0(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z"
)
_SHARE_MODES = {"STRICT": False, "PERMISSIVE": True}
_Plain = str | float | bool


def _as_float32(text: str) -> float | None:
    """The value a ``float`` field holds for plain decimal ``text``; None when protobuf
    should read it (anything else, or out of float's range)."""
    if not _PLAIN_FLOAT.match(text):
        return None
    try:
        value: float = struct.unpack("<f", struct.pack("<f", float(text)))[0]
    except OverflowError:
        return None
    return value


def _plain_spec(values: dict[str, _Plain]) -> ParamSpec:
    lr, decay = values.get("lr_mult"), values.get("decay_mult")
    return ParamSpec(
        name=str(values.get("name", "")),
        lr_mult=None if lr is None else float(lr),
        decay_mult=None if decay is None else float(decay),
        permissive=bool(values.get("share_mode", False)),
    )


def _plain_text_value(key: str, value: object) -> _Plain | None:
    if not isinstance(value, Scalar):
        return None
    if key == "name":
        return value.value if value.kind == "string" else None
    if value.kind != "word":
        return None
    if key == "share_mode":
        return _SHARE_MODES.get(value.value)
    return _as_float32(value.value)


def _plain_definition_value(key: str, value: object) -> _Plain | None:
    if key == "name":
        return value if isinstance(value, str) else None
    if key == "share_mode":
        return _SHARE_MODES.get(value.name) if isinstance(value, Enum) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return _as_float32(repr(float(value)))


def _plain_param_specs(layer: Layer) -> tuple[ParamSpec, ...] | None:
    if layer.format != "v2":
        return None
    if layer.text is None:
        assert layer.definition is not None
        definition_specs = []
        for key, value in layer.definition.fields:
            if key != "param":
                continue
            spec = _plain_block(list(value), _plain_definition_value) if isinstance(
                value, tuple
            ) else None
            if spec is None:
                return None
            definition_specs.append(spec)
        return tuple(definition_specs)
    source = layer.text.document.text
    specs = []
    for field_ in layer.text.body.fields:
        if field_.name != "param":
            continue
        block = field_.value
        if not isinstance(block, Message):
            return None
        written = source[block.open : block.close]  # a net repeats a few blocks many times
        spec = _PLAIN_BLOCKS.get(written)
        if spec is None:
            spec = _plain_block([(f.name, f.value) for f in block.fields], _plain_text_value)
            if spec is None:
                return None
            if len(_PLAIN_BLOCKS) > 4096:
                _PLAIN_BLOCKS.clear()
            _PLAIN_BLOCKS[written] = spec
        specs.append(spec)
    return tuple(specs)


_PLAIN_BLOCKS: dict[str, ParamSpec] = {}
content_cache(_PLAIN_BLOCKS.clear)


def _plain_block(
    block: list[tuple[str, object]], read: Callable[[str, object], _Plain | None]
) -> ParamSpec | None:
    values: dict[str, _Plain] = {}
    for key, item in block:
        if key not in _PARAM_KEYS or key in values:
            return None
        plain = read(key, item)
        if plain is None:
            return None
        values[key] = plain
    return _plain_spec(values)


_PARAM_KEYS = frozenset({"name", "lr_mult", "decay_mult", "share_mode"})


@per_params
def param_specs(net: Net, layer: Layer) -> tuple[ParamSpec, ...]:
    """The layer's ParamSpecs as Caffe sees them after upgrading V1 (``param``, ``blobs_lr``,
    ``weight_decay``, ``blob_share_mode`` become one ``param {}`` each)."""
    if layer.text is not None and not any(f.name in _PARAM_FIELDS for f in layer.text.body.fields):
        return ()  # nothing to read, so no need for the typed message
    plain = _plain_param_specs(layer)
    return plain if plain is not None else typed_param_specs(net, layer)


def typed_param_specs(net: Net, layer: Layer) -> tuple[ParamSpec, ...]:
    """:func:`param_specs` read from the layer's typed message, whatever its text."""
    msg = _param_message(net, layer)
    if layer.format == "v2":
        return tuple(
            ParamSpec(
                name=p.name,
                lr_mult=p.lr_mult if p.HasField("lr_mult") else None,
                decay_mult=p.decay_mult if p.HasField("decay_mult") else None,
                permissive=p.share_mode == caffe_pb2.ParamSpec.PERMISSIVE,
            )
            for p in msg.param
        )
    if layer.format == "v1":
        names, lrs, decays = list(msg.param), list(msg.blobs_lr), list(msg.weight_decay)
        modes = list(msg.blob_share_mode)
        size = max(len(names), len(lrs), len(decays), len(modes))
        return tuple(
            ParamSpec(
                name=names[i] if i < len(names) else "",
                lr_mult=lrs[i] if i < len(lrs) else None,
                decay_mult=decays[i] if i < len(decays) else None,
                permissive=i < len(modes)
                and modes[i] == caffe_pb2.V1LayerParameter.PERMISSIVE,
            )
            for i in range(size)
        )
    return ()


# ---------------------------------------------------------------------------
# Making a caffemodel for a net


@dataclass
class WeightsResult:
    model: Caffemodel
    notes: list[str] = field(default_factory=list)


def _require_numpy() -> None:
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise SurgeryError("making weights needs NumPy ('pip install numpy')") from None


def _layer_rng(seed: int, name: str) -> np.random.Generator:
    import numpy as np

    if seed < 0:  # numpy's seed sequences take non-negative entropy only
        raise SurgeryError(f"seed {seed}: a seed is a whole number, 0 or more")
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


Overrides = ShapeOverrides


def _bottom_shapes(
    net: Net, overrides: Overrides, phase: str | None
) -> dict[Layer, list[MaybeShape]]:
    """Each layer's bottom shapes, from the first phase that knows them: ``phase`` (the
    one the module was sized for) or TEST, as deployed, first."""
    out: dict[Layer, list[MaybeShape]] = {}
    states = sorted(phase_states(net), key=lambda s: s.phase != (phase or "TEST"))
    for state in states:
        graph = graph_of(net, state)
        mine = {name: dims for name, dims in overrides.items() if name in graph.latest}
        shapes = infer_shapes(net, graph, mine)
        for layer in graph.layers:
            found = shapes.layer_inputs(layer)
            current = out.get(layer)
            if current is None or (None in current and None not in found):
                out[layer] = found
    return out


def _module_bottoms(spec: ScnnSpec | None) -> dict[str, list[MaybeShape]]:
    """A rank-4 input with C channels is all the module's convolutions need, so their
    blobs are known even when the net's own shapes are not."""
    if spec is None:
        return {}
    return {
        layer.name: [(None, spec.channels, None, None)]
        for layer in build_module(spec)
        if layer.type == "Convolution"
    }


class _Filler:
    """Fills layers' blobs; a shared parameter name is filled once, by its first layer."""

    def __init__(
        self,
        net: Net,
        seed: int,
        legacy: bool,
        spec: ScnnSpec | None,
        overrides: Overrides,
        phase: str | None,
        blob_class: Any = None,
    ) -> None:
        self.net = net
        self.seed = seed
        self.legacy = legacy
        self.blob_class = blob_class
        self.shared: dict[str, FloatArray] = {}
        self.bottoms = _bottom_shapes(net, overrides, phase)
        self.module_bottoms = _module_bottoms(spec)

    def plan(self, layer: Layer) -> list[ParamBlob] | None:
        """The layer's blobs and fillers, before any value is drawn; None when unknown."""
        specs = layer_param_blobs(self.net, layer, self.bottoms.get(layer, []))
        fallback = self.module_bottoms.get(layer.name)
        if specs is None and fallback is not None:
            specs = layer_param_blobs(self.net, layer, fallback)
        return specs

    def unknown_input(self, layer: Layer) -> tuple[str, MaybeShape] | None:
        """The first bottom whose shape is not fully known, with what is known of it."""
        for name, shape in zip(layer.bottoms, self.bottoms.get(layer, []), strict=False):
            if shape is None or None in shape:
                return name, shape
        return None

    def blobs(self, layer: Layer) -> list[Any] | None:
        specs = self.plan(layer)
        return None if specs is None else self.make(layer, specs)

    def make(self, layer: Layer, specs: Sequence[ParamBlob]) -> list[Any]:
        names = [p.name for p in param_specs(self.net, layer)]
        rng = _layer_rng(self.seed, layer.name)
        out = []
        for i, blob in enumerate(specs):
            name = names[i] if i < len(names) else ""
            owner = self.shared.get(name) if name else None
            if owner is not None and owner.size == math.prod(blob.shape):
                values = owner.reshape(blob.shape)
            else:
                values = fill(blob.filler, blob.shape, rng)
                if name and owner is None:
                    self.shared[name] = values
            out.append(make_blob(values, legacy=self.legacy, blob_class=self.blob_class))
        return out


def _copy(message: Any) -> Any:
    out = type(message)()
    out.CopyFrom(message)
    return out


def _entry_class(net_class: Any, legacy: bool) -> Any:
    """The layer message of a caffemodel's ``NetParameter``: ``layers`` (V1) or ``layer``."""
    return field_class(net_class, "layers" if legacy else "layer")


def _blob_class(net_class: Any, legacy: bool) -> Any:
    return field_class(_entry_class(net_class, legacy), "blobs")


def _layer_entry(net: Net, layer: Layer, entry_class: Any) -> Any:
    """The layer's prototxt as a caffemodel entry of ``entry_class``. The BVLC parse is
    cached and shared, so it is copied; other schemas parse afresh. V2 text (a fragment
    spliced into a V1 net) becomes the V1 layer the prototxt shows for a V1 entry; V1
    text (a layer of an upgraded net, whose text is written as V2 only on export)
    becomes the V2 layer Caffe's upgrade makes of it."""
    if entry_class is type(layer_message(net, layer)):
        return _copy(layer_message(net, layer))
    if layer.text is not None and layer.format == "v2" and _is_v1_entry(entry_class):
        return definition_message(definition_of(layer), entry_class)
    if layer.format == "v1" and not _is_v1_entry(entry_class):
        entry = entry_class()
        upgrade_v1_entry(layer_message(net, layer), entry)
        if layer.type in _DATA_PARAMS and _net_needs_data_upgrade(net):
            _move_transform_fields(entry)
        return entry
    return layer_message_as(net, layer, entry_class)


# ---------------------------------------------------------------------------
# V1 entries as V2 (upgrade_proto.cpp: UpgradeV1LayerParameter, UpgradeNetDataTransformation)

# V1's per-blob lists -> the ParamSpec field each sets, one ParamSpec per blob.
_V1_PARAM_LISTS = {
    "param": "name",
    "blob_share_mode": "share_mode",
    "blobs_lr": "lr_mult",
    "weight_decay": "decay_mult",
}
# Not copied by name: the type (an enum in V1), the per-blob lists, and the V0 'layer',
# which Caffe ignores ("Input NetParameter has V0 layer -- ignoring").
_V1_NOT_BY_NAME = frozenset({"type", "layer", *_V1_PARAM_LISTS})
# The data layers whose parameter message once held the transformation fields.
_DATA_PARAMS = {"Data": "data_param", "ImageData": "image_data_param",
                "WindowData": "window_data_param"}  # fmt: skip
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def upgrade_v1_entry(v1: Any, out: Any) -> None:
    """Fill ``out`` (an empty V2 ``LayerParameter`` of any schema) with what Caffe's
    UpgradeV1LayerParameter makes of the V1 layer message ``v1``: the type enum as its V2
    name, the per-blob lists as one ``param`` each, every other field by its name (blobs
    included, copied: the caller drops the V1 ones when it needs the memory back). A field
    V2 has no place for is dropped, as Caffe drops it."""
    fields = out.DESCRIPTOR.fields_by_name
    for fd, value in v1.ListFields():
        if fd.name in _V1_NOT_BY_NAME or fd.name not in fields:
            continue
        target = getattr(out, fd.name)
        if fd.message_type is None:
            if fd.is_repeated:
                target.extend(value)
            else:
                setattr(out, fd.name, value)
        elif fd.is_repeated:
            for item in value:
                _copy_into(target.add(), item)
        else:
            _copy_into(target, value)
    if v1.HasField("type"):
        enum_name = v1.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[v1.type].name
        out.type = V1_TYPE_NAMES.get(enum_name, enum_name)
    for v1_name, spec_name in _V1_PARAM_LISTS.items():
        for i, item in enumerate(getattr(v1, v1_name)):
            while len(out.param) <= i:
                out.param.add()
            setattr(out.param[i], spec_name, item)  # the share modes number alike


def _copy_into(target: Any, value: Any) -> None:
    """``value`` into the message ``target``, which may be another schema's class with the
    same field numbers (a fork's parameter message); an empty message stays present."""
    target.SetInParent()
    if type(target) is type(value):
        target.CopyFrom(value)
    else:
        target.MergeFromString(value.SerializeToString())


def _moves_transform_fields(param: Any) -> bool:
    return any(
        name in param.DESCRIPTOR.fields_by_name and param.HasField(name)
        for name in _TRANSFORM_FIELDS
    )


def _move_transform_fields(entry: Any) -> None:
    """Caffe's data upgrade of one data layer (run when any data layer of the net needs
    it): its parameter message and transform_param both present, and scale, mean_file,
    crop_size and mirror moved into the latter."""
    name = _DATA_PARAMS.get(entry.type)
    if name is None or name not in entry.DESCRIPTOR.fields_by_name:
        return
    param, transform = getattr(entry, name), entry.transform_param
    param.SetInParent()
    transform.SetInParent()
    for field_name in _TRANSFORM_FIELDS:
        if field_name in param.DESCRIPTOR.fields_by_name and param.HasField(field_name):
            setattr(transform, field_name, getattr(param, field_name))
            param.ClearField(field_name)


def _net_needs_data_upgrade(net: Net) -> bool:
    """Caffe's NetNeedsDataUpgrade over the net's V1 layers."""
    return any(
        _moves_transform_fields(getattr(part_message(net, x, name), name))
        for x in net.layers
        if x.format == "v1" and (name := _DATA_PARAMS.get(x.type)) is not None
    )


def _v1_entry_moves_transform_fields(entry: Any) -> bool:
    type_name = entry.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number.get(entry.type)
    name = _DATA_PARAMS.get(V1_TYPE_NAMES.get(type_name.name, "")) if type_name else None
    return name is not None and _moves_transform_fields(getattr(entry, name))


def _v1_as_v2_bytes(data: bytes, net_class: Any) -> bytes | None:
    """A V1 caffemodel's bytes as V2, converted on the wire so that no blob is parsed or
    copied twice: each ``layers`` entry, less its blobs, becomes the V2 entry Caffe's
    upgrade makes of it (:func:`upgrade_v1_entry`, and the data upgrade when any entry
    needs it), followed by its blobs' bytes as they were, under V2's field number. Every
    other field of the file stays as it was. None: not a V1 file (or not decodable here;
    the parser then says what is wrong)."""
    fields = net_class.DESCRIPTOR.fields_by_name
    v1_class, v2_class = field_class(net_class, "layers"), field_class(net_class, "layer")
    v1_number, v2_number = fields["layers"].number, fields["layer"].number
    v1_blobs = v1_class.DESCRIPTOR.fields_by_name["blobs"].number
    v2_blobs = v2_class.DESCRIPTOR.fields_by_name["blobs"].number
    view = memoryview(data)
    try:
        top = _wire_fields(view)
        entries = [_wire_fields(payload) for number, _, payload in top if number == v1_number]
    except ValueError:
        return None
    if not entries or any(number == v2_number for number, _, _ in top):
        return None
    layers = []
    for entry in entries:
        v1 = v1_class()
        v1.ParseFromString(b"".join(raw for number, raw, _ in entry if number != v1_blobs))
        if v1.HasField("layer"):
            return None  # a V0 entry: the V1 parse refuses it by name
        blobs = [payload for number, _, payload in entry if number == v1_blobs]
        layers.append((v1, blobs))
    data_upgrade = any(_v1_entry_moves_transform_fields(v1) for v1, _ in layers)
    out: list[bytes | memoryview] = []
    converted = iter(layers)
    for number, raw, _ in top:
        if number != v1_number:
            out.append(raw)
            continue
        v1, blobs = next(converted)
        v2 = v2_class()
        upgrade_v1_entry(v1, v2)
        if data_upgrade:
            _move_transform_fields(v2)
        head = v2.SerializeToString()
        tails = [piece for blob in blobs
                 for piece in (length_delimited(v2_blobs, len(blob)), blob)]  # fmt: skip
        size = len(head) + sum(len(piece) for piece in tails)
        out += [length_delimited(v2_number, size), head, *tails]
    return b"".join(out)


def _wire_fields(data: memoryview) -> list[tuple[int, memoryview, memoryview]]:
    """A message's fields on the wire: (field number, the field's bytes, its payload), no
    copy made. ValueError for what is not a well-formed message."""
    fields = []
    pos, end = 0, len(data)
    while pos < end:
        start = pos
        tag, pos = _read_varint(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            _, pos = _read_varint(data, pos)
            payload = data[start:pos]
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            payload, pos = data[pos : pos + size], pos + size
        elif wire_type == 2:
            size, pos = _read_varint(data, pos)
            payload, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError("a group, which caffe.proto has none of")
        if pos > end or number == 0:
            raise ValueError("truncated")
        fields.append((number, data[start:pos], payload))
    return fields


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("a bad varint")


def restate_legacy_dims(
    net: Net, model: Caffemodel, shapes: Overrides | None = None, phase: str | None = None
) -> None:
    """Each blob of a layer of ``net`` whose legacy 4-D dimensions fit the layer, in the
    shape the layer has, as Caffe writes it once loaded (a 1x1x4096x9216 weight becomes
    4096x9216), in place. Blobs that do not fit are left as they are, for the weights
    check to name."""
    layers: dict[str, Layer] = {}
    for layer in net.layers:
        layers.setdefault(layer.name, layer)
    stored = [(e, layers[e.name]) for e in model.layers
              if e.name in layers and any(has_legacy_dims(b) for b in e.blobs)]  # fmt: skip
    if not stored:
        return
    filler = _Filler(net, 0, False, None, shapes or {}, phase)
    for entry, layer in stored:
        planned = filler.plan(layer) or []
        for blob, wanted in zip(entry.blobs, planned, strict=False):
            if has_legacy_dims(blob) and blob_matches(blob, wanted.shape):
                for name in ("num", "channels", "height", "width"):
                    blob.ClearField(name)
                blob.shape.Clear()
                blob.shape.SetInParent()  # a scalar's shape is present with no dims
                blob.shape.dim.extend(wanted.shape)


def _is_v1_entry(entry_class: Any) -> bool:
    return bool(entry_class.DESCRIPTOR.name == "V1LayerParameter")


def _why_no_blobs(net: Net, layer: Layer) -> str:
    if param_blob_count(net, layer) is None:
        return f"scnn-surgery does not know the parameters of type '{layer.type}'"
    return "the shapes of its inputs are unknown"


_BLOB_OVERHEAD = 32  # a BlobProto's tags, lengths and shape: a few bytes per blob


def _planned_bytes(blobs: Iterable[ParamBlob]) -> int:
    """Bytes the blobs take in a caffemodel, as float32 values."""
    return sum(math.prod(b.shape) * FLOAT32_BYTES + _BLOB_OVERHEAD for b in blobs)


PUBLISHED_KERNEL_WIDTH = 9  # the SCNN paper's message-passing kernel
PUBLISHED_CHANNELS = 128  # what the paper found fits; 512 was too much


def _smaller_module(spec: ScnnSpec, rest: int) -> str:
    """The change that brings the caffemodel under the limit: the kernel width when that
    is what makes the module large, the channels when they are, else both."""
    def fits(smaller: ScnnSpec) -> bool:
        return rest + estimate_module(smaller).weight_bytes <= MAX_CAFFEMODEL_BYTES

    kernel = min(spec.kernel_width, PUBLISHED_KERNEL_WIDTH)
    channels = min(spec.channels, PUBLISHED_CHANNELS)
    if spec.kernel_width > kernel and fits(replace(spec, kernel_width=kernel)):
        return (
            f"the kernel width {spec.kernel_width} makes it so large; give --kernel-width"
            f" {kernel} (the published width) or less"
        )
    if spec.channels > channels and fits(replace(spec, channels=channels)):
        return f"map the blob to fewer channels first with --reduce-channels {channels}"
    return (
        f"give a smaller --kernel-width (the published width is {PUBLISHED_KERNEL_WIDTH})"
        f" and map the blob to fewer channels with --reduce-channels (the published"
        f" {PUBLISHED_CHANNELS} or less)"
    )


def check_caffemodel_size(size: int, where: str, spec: ScnnSpec | None) -> None:
    """Refuse a caffemodel that protobuf (and so Caffe and OpenCV) could not read back."""
    if size <= MAX_CAFFEMODEL_BYTES:
        return
    advice = ""
    if spec is not None:
        module = estimate_module(spec)
        c, k = spec.channels, spec.kernel_width
        remedy = _smaller_module(spec, size - module.weight_bytes)
        advice = (
            f"; the SCNN module's {module.convolutions} convolutions hold"
            f" {format_bytes(module.weight_bytes)} of it (a {c}x{c}x1x{k} kernel each, since"
            f" every layer stores its own copy); {remedy}"
        )
    raise SurgeryError(
        f"{where}: the caffemodel would be {format_bytes(size)} ({size:,} bytes), over the"
        f" {format_bytes(MAX_CAFFEMODEL_BYTES + 1)} that protobuf, Caffe and OpenCV can read"
        f"{advice}; nothing was written"
    )


def _left_out_notes(
    net: Net, filler: _Filler, layers: Sequence[Layer], where: str
) -> list[str]:
    """One note for the layers of types scnn-surgery does not know, one per layer whose
    inputs' shapes are unknown."""
    unknown_types = [layer for layer in layers if param_blob_count(net, layer) is None]
    notes = []
    if unknown_types:
        kinds = ", ".join(dict.fromkeys(layer.type for layer in unknown_types))
        names = ", ".join(f"'{layer.name}'" for layer in unknown_types[:3])
        more = f" and {len(unknown_types) - 3} more" if len(unknown_types) > 3 else ""
        notes.append(
            f"{len(unknown_types)} layer{'s' * (len(unknown_types) != 1)} of types"
            f" scnn-surgery does not know the parameters of ({kinds}: {names}{more}) are left"
            f" out of {where}; Caffe initialises them from their fillers when it loads it"
        )
    for layer in layers:
        if param_blob_count(net, layer) is None:
            continue
        unknown = filler.unknown_input(layer)
        if unknown is None:
            why, remedy = "its parameters do not fit its inputs", ""
        else:
            blob, shape = unknown
            why = f"the shape of its input '{blob}' is {format_shape(shape)}"
            remedy = f", or give --shape {blob}=N,C,H,W to store it"
        notes.append(
            f"{net.describe(layer)} is left out of {where}: {why}, so its blobs cannot be"
            f" sized; Caffe initialises it from its fillers when it loads it{remedy}"
        )
    return notes


def initial_weights(
    net: Net,
    seed: int = 0,
    spec: ScnnSpec | None = None,
    shapes: Overrides | None = None,
    phase: str | None = None,
    schema: Schema | None = None,
    source: str = "the new caffemodel",
) -> WeightsResult:
    """A caffemodel for ``net`` with every parameter blob drawn from the layer's fillers,
    each layer stored as Caffe's ``Net::ToProto`` would (its parameters and its blobs).
    ``shapes`` overrides blob shapes as ``--shape`` does; ``phase`` is the one whose
    shapes size the blobs first (TEST by default); ``schema`` is the caffemodel's
    (default: the dialect the net's text uses); ``source`` names the file in messages.

    A layer whose blobs cannot be sized (a type scnn-surgery does not know, or inputs of
    unknown shape, such as a Data layer's channels) is left out, with a note: Caffe then
    initialises it from its fillers when it loads the net, which is what would have been
    stored, whereas an entry with the wrong number of blobs would stop the load. The size
    is known before any value is drawn, and a caffemodel over protobuf's 2 GiB is refused.
    """
    if net.format == "v0":
        raise SurgeryError(f"{net.source}: a V0 net; upgrade it before making weights for it")
    _require_numpy()
    legacy = net.format == "v1"
    model: Any = (schema or schema_for_net(net)).net()
    if net.name is not None:
        model.name = net.name
    net_class = type(model)
    filler = _Filler(
        net, seed, legacy, spec, shapes or {}, phase, _blob_class(net_class, legacy)
    )
    entry_class = _entry_class(net_class, legacy)
    planned = [(layer, filler.plan(layer)) for layer in net.layers]
    kept = [(layer, _layer_entry(net, layer, entry_class), blobs)
            for layer, blobs in planned if blobs is not None]  # fmt: skip
    size = model.ByteSize() + sum(
        entry.ByteSize() + _BLOB_OVERHEAD + _planned_bytes(blobs) for _, entry, blobs in kept
    )
    check_caffemodel_size(size, source, spec)
    entries = model.layers if legacy else model.layer
    for layer, entry, blobs in kept:
        entry.blobs.extend(filler.make(layer, blobs))
        entries.append(entry)
    left_out = [layer for layer, blobs in planned if blobs is None]
    notes = [*_zero_weights_notes(planned, source), *_left_out_notes(net, filler, left_out, source)]
    return WeightsResult(Caffemodel(model, source), notes)


def _zero_weights_notes(
    planned: Sequence[tuple[Layer, list[ParamBlob] | None]], where: str
) -> list[str]:
    """A warning when layers state no weight filler: Caffe's default filler is the constant
    0, so their weights are all 0 and their output ignores their input (a deploy prototxt,
    which never needed fillers, is often so). BatchNorm's statistics are
    zeroed by design and are no weights."""
    zero = [
        layer.name
        for layer, blobs in planned
        if blobs and layer.type != "BatchNorm" and _all_zero(blobs[0].filler)
    ]
    if not zero:
        return []
    many = len(zero) != 1
    names = ", ".join(f"'{name}'" for name in zero[:3])
    more = f" and {len(zero) - 3} more" if len(zero) > 3 else ""
    return [
        f"warning: {len(zero)} layer{'s' * many} ({names}{more}) state{'s' * (not many)} no"
        f" weight filler, so {'their' if many else 'its'} weights in {where} are all 0, as"
        " Caffe fills them, and what they compute ignores their input (give --weights for"
        " trained values)"
    ]


def _all_zero(filler: Any) -> bool:
    return bool(filler.type == "constant" and filler.value == 0)


def _rendered(spec: ScnnSpec, legacy: bool, net_class: Any) -> dict[str, Any]:
    """The module's layers parsed in the given format, by name."""
    doc = Document.parse(render_layers(build_module(spec), legacy_v1=legacy), "<module>")
    parsed = fill_message(doc, doc.root, net_class(), allow_unknown_fields=False)
    return {entry.name: entry for entry in (parsed.layers if legacy else parsed.layer)}


def _added_entries(
    net: Net, added: set[str], spec: ScnnSpec | None, filler: _Filler, net_class: Any
) -> list[Any]:
    """The added layers with their blobs, in the caffemodel's format, which may differ from
    the net's (a V2 net often comes with a V1 caffemodel): the module is then rendered in
    that format."""
    legacy = filler.legacy
    translated: dict[str, Any] | None = None
    entries = []
    for layer in net.layers:
        if layer.name not in added:
            continue
        if (layer.format == "v1") == legacy or layer.text is not None:
            entry = _layer_entry(net, layer, _entry_class(net_class, legacy))
        else:
            if translated is None:
                translated = _rendered(spec, legacy, net_class) if spec is not None else {}
            if layer.name not in translated:
                kind = "V1" if legacy else "V2"
                raise SurgeryError(
                    f"{net.describe(layer)} cannot be added to a {kind} caffemodel;"
                    " write the net in the caffemodel's format first"
                )
            entry = translated[layer.name]
        blobs = filler.blobs(layer)
        if blobs is None:
            raise SurgeryError(
                f"{net.describe(layer)}: cannot make its blobs, {_why_no_blobs(net, layer)}"
            )
        entry.blobs.extend(blobs)
        entries.append(entry)
    return entries


def rename_entries(source: Caffemodel, renamed: Mapping[str, str]) -> None:
    """The entries of renamed layers under their new names (in place, as
    :func:`carry_over` extends its source); a blob named after its layer follows it in
    the entry's bottoms and tops. An entry already holding a new name is refused: Caffe
    would copy both into the one layer."""
    if not renamed:
        return
    names = {entry.name for entry in source.layers}
    clash = sorted(new for old, new in renamed.items() if new in names - set(renamed))
    if clash:
        raise SurgeryError(
            f"{source.source} already has a layer named '{clash[0]}', whose blobs Caffe would"
            " copy into the renamed layer too; choose another name"
        )
    for entry in source.layers:
        entry.name = renamed.get(entry.name, entry.name)
        for blobs in (entry.bottom, entry.top):
            blobs[:] = [renamed.get(b, b) for b in blobs]


def carry_over(
    net: Net,
    source: Caffemodel,
    added: Iterable[str],
    spec: ScnnSpec | None = None,
    seed: int = 0,
    shapes: Overrides | None = None,
    phase: str | None = None,
    destination: str = "the new caffemodel",
    removed: Iterable[str] = (),
) -> WeightsResult:
    """``source`` plus the ``added`` layers of ``net``, their blobs from their fillers, less
    the ``removed`` layers' entries (those of a name no layer of ``net`` still has).

    Every other source layer stays as it was, so Caffe finds each existing layer's blobs by
    name and unknown fields survive; the added layers are appended (loaders match layers by
    name, not position). Existing layers that need blobs the source lacks are filled from
    their fillers, as Caffe would leave them, and reported in ``notes``. The result shares
    ``source``'s message, which is extended in place: a caffemodel can be hundreds of
    megabytes, and copying it would double the memory and the time. It is named
    ``destination`` in messages, and refused, before any value is drawn, if it would be
    over protobuf's 2 GiB.
    """
    _require_numpy()
    new = set(added)
    clash = sorted(new & {entry.name for entry in source.layers if len(entry.blobs)})
    if clash:
        raise SurgeryError(
            f"{source.source} already has layers named {', '.join(clash[:3])}, whose blobs"
            " Caffe would copy into the new layers; insert with --prefix"
        )
    _refuse_v0_entries(source)
    # A blobless entry of a new layer's name carries nothing (Caffe writes one for every
    # layer, an Input layer's too), but Caffe would copy it into the new layer and stop
    # on the blob count: the new layer's own entry takes its place.
    _drop_entries(source, new, destination)
    notes = _drop_entries(source, set(removed) - net.layer_names, destination)
    legacy = source.legacy
    net_class = type(source.message)
    filler = _Filler(
        net, seed, legacy, spec, shapes or {}, phase, _blob_class(net_class, legacy)
    )
    stored = {entry.name for entry in source.layers}
    growth = sum(
        _planned_bytes(blobs)
        for layer in net.layers
        if (layer.name in new or layer.name not in stored)
        and (blobs := filler.plan(layer)) is not None
    )
    check_caffemodel_size(source.message.ByteSize() + growth, destination, spec)
    new_entries = [
        *_added_entries(net, new, spec, filler, net_class),
        *_missing_entries(net, source, new, filler, notes),
    ]
    entries = source.message.layers if legacy else source.message.layer
    for entry in new_entries:
        entries.add().CopyFrom(entry)
    return WeightsResult(Caffemodel(source.message, destination), notes)


def _refuse_v0_entries(source: Caffemodel) -> None:
    """A V0 caffemodel keeps names and blobs inside each entry's V0 ``layer``, which
    nothing here reads by name; say so rather than carry blobs no layer would find."""
    if source.legacy and any(entry.HasField("layer") for entry in source.message.layers):
        raise SurgeryError(
            f"{source.source}: a V0 (pre-2014) caffemodel, whose blobs sit in V0 'layer'"
            " entries; convert it with Caffe's upgrade_net_proto_binary first"
        )


def _drop_entries(source: Caffemodel, names: set[str], destination: str) -> list[str]:
    """Take the entries of ``names`` out of ``source`` (in place); a note says which."""
    entries = source.message.layers if source.legacy else source.message.layer
    doomed = [i for i, entry in enumerate(entries) if entry.name in names]
    # Caffe writes an entry for every layer, blobs or not; only blobs are worth a word.
    dropped = list(dict.fromkeys(entries[i].name for i in doomed if len(entries[i].blobs)))
    for i in reversed(doomed):
        del entries[i]
    if not dropped:
        return []
    shown = ", ".join(f"'{n}'" for n in dropped[:5])
    more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
    return [f"the removed layers' blobs are left out of {destination}: {shown}{more}"]


def _missing_entries(
    net: Net, source: Caffemodel, skip: set[str], filler: _Filler, notes: list[str]
) -> list[Any]:
    """Entries for the net's existing layers that hold parameters but are not in the source."""
    seen = {entry.name for entry in source.layers} | skip
    out = []
    for layer in net.layers:
        if layer.name in seen or param_blob_count(net, layer) == 0:
            continue
        seen.add(layer.name)
        blobs = filler.blobs(layer)
        # A definition (a layer surgery added) is written in the caffemodel's format by
        # _added_entries only; text converts either way.
        same_format = (layer.format == "v1") == source.legacy or layer.text is not None
        if blobs is None or not same_format:
            if param_blob_count(net, layer) is not None:
                notes.append(f"{net.describe(layer)} has no blobs in {source.source}")
            continue
        entry = _layer_entry(net, layer, _entry_class(type(source.message), source.legacy))
        entry.blobs.extend(blobs)
        out.append(entry)
        notes.append(
            f"{net.describe(layer)} has no blobs in {source.source}; filled from its fillers,"
            " as Caffe would leave it"
        )
    return out


def describe(model: Caffemodel) -> str:
    """The caffemodel as text without blob values (for debugging and tests)."""
    stripped = _copy(model.message)
    for entry in stripped.layers if model.legacy else stripped.layer:
        for blob in entry.blobs:
            del blob.data[:]
            del blob.double_data[:]
    return str(text_format.MessageToString(stripped))
