"""Typed access to a layer's parameters, with Caffe's defaults.

Fields the BVLC schema knows are read from the layer parsed into
``caffe_pb2.LayerParameter`` (V2), ``V1LayerParameter`` (V1) or
``V0LayerParameter`` (V0, the inner ``layer {}``), so protobuf supplies the
defaults. Fork fields the BVLC schema skips (``interp_param``,
``upsample_param``, ``bn_param``, pooling's ``ceil_mode``, ...) are read from
the raw :class:`~scnn_surgery.core.document.Message` tree with small getters that
take the fork's default.

Each ``*_params`` function returns a frozen dataclass with the values a shape
rule needs and nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..core.document import Document, Message, Scalar
from ..core.layerdef import Enum as LayerEnum
from ..core.layerdef import Fields, LayerDef, Raw, Value, v1_fields, v1_type
from ..core.net import Layer, Net
from ..core.typed import fill_message, word_value
from ..errors import SurgeryError
from ..runtime import content_cache
from ..schema import caffe_pb2

__all__ = [
    "ConvParams",
    "DataSource",
    "InnerProductParams",
    "InterpParams",
    "PoolParams",
    "PriorBoxParams",
    "UpsampleParams",
    "bn_blob_count",
    "conv_params",
    "data_source",
    "eltwise_coeffs",
    "fork_param",
    "inner_product_params",
    "interp_params",
    "layer_message",
    "layer_message_as",
    "per_axis",
    "pool_params",
    "prior_box_params",
    "raw_bool",
    "raw_floats",
    "raw_has",
    "raw_int",
    "raw_ints",
    "upsample_params",
]

# ---------------------------------------------------------------------------
# The parsed protobuf message of a layer

R = TypeVar("R")


# What is derived from parameters alone, for layers surgery added: every convolution of an
# SCNN pass has the same definition, so they share it. Bounded: a long-lived process that
# inserts many modules must not keep them all.
_ALIKE: dict[tuple[str, Fields, int], dict[str, Any]] = {}
content_cache(_ALIKE.clear)


_ALIKE_MEMO = "params memo"


def params_memo(layer: Layer) -> dict[Any, Any]:
    """Where to keep values that depend only on the layer's type and parameters (not on its
    name, bottoms or tops): the layer's own memo, shared by equal added layers."""
    if layer.definition is None:
        return layer.memo
    memo: dict[Any, Any] | None = layer.memo.get(_ALIKE_MEMO)
    if memo is not None:
        return memo
    # The number of bottoms too: a Scale or Bias learns its factor only from one bottom.
    key = (layer.type, layer.definition.fields, len(layer.bottoms))
    memo = _ALIKE.get(key)
    if memo is None:
        if len(_ALIKE) > 1024:
            _ALIKE.clear()
        memo = _ALIKE[key] = {}
    layer.memo[_ALIKE_MEMO] = memo  # hashing the fields again on every read costs more
    return memo


def per_params(read: Callable[[Net, Layer], R]) -> Callable[[Net, Layer], R]:
    """Read a layer's parameters once: they depend on its parameters alone."""
    key = read.__name__

    def cached(net: Net, layer: Layer) -> R:
        memo = params_memo(layer)
        if key in memo:
            value: R = memo[key]
            return value
        value = read(net, layer)
        memo[key] = value
        return value

    cached.__name__ = read.__name__
    cached.__doc__ = read.__doc__
    return cached


_MESSAGE_CLASS: dict[str, Any] = {
    "v2": caffe_pb2.LayerParameter,
    "v1": caffe_pb2.V1LayerParameter,
    "v0": caffe_pb2.V0LayerParameter,
}


def layer_message(net: Net, layer: Layer) -> Any:
    """The layer as a typed message of the BVLC schema; unknown (fork) fields are skipped.

    V2 gives a ``LayerParameter``, V1 a ``V1LayerParameter`` and V0 the inner
    ``V0LayerParameter``; a layer surgery added gives a ``LayerParameter`` built from its
    definition. Text the schema rejects (a wrong value type, an enum value it does not
    know) raises :class:`SurgeryError` located as FILE:LINE:COL. Built once per layer.
    """
    message = layer.memo.get("message")
    if message is None:
        message = layer_message_as(net, layer, None)
        layer.memo["message"] = message
    return message


def part_message(net: Net, layer: Layer, name: str) -> Any:
    """The layer's typed message with only its ``name`` field filled (say
    ``convolution_param``), which is all a reader of that field needs: building the whole
    message costs several times as much time and memory. The whole one is used if it
    exists; a V0 layer or one surgery added always gives it."""
    full = layer.memo.get("message")
    if full is not None or layer.text is None or layer.format == "v0":
        return full if full is not None else layer_message(net, layer)
    key = ("part", name)
    part = layer.memo.get(key)
    if part is None:
        text = layer.text
        fields = text.body.all(name)
        source = text.document.text
        # Equal text is an equal message: most of a net's convolutions repeat a few blocks.
        # The messages are only read, so layers (and nets) share them.
        written = (layer.format, name, *(source[f.start : f.end] for f in fields))
        part = _PARTS.get(written)
        if part is None:
            cls = _MESSAGE_CLASS.get(layer.format, caffe_pb2.LayerParameter)
            part = fill_message(text.document, fields, cls(), f"in layer '{layer.name}': ")
            if len(_PARTS) > 4096:
                _PARTS.clear()
            _PARTS[written] = part
        layer.memo[key] = part
    return part


_PARTS: dict[tuple[str, ...], Any] = {}
content_cache(_PARTS.clear)


_WIRING = frozenset({"name", "bottom", "top"})
_VALID: dict[tuple[str, ...], None] = {}
content_cache(_VALID.clear)


def validate_layer(net: Net, layer: Layer) -> None:
    """Raise the located error Caffe's parser gives for the layer's text (a value of the
    wrong type, an enum value the schema does not know), whether or not anything reads
    that field. A layer's parameters as written, once known good, are not read again:
    most layers of a net repeat a few blocks."""
    text = layer.text
    if text is None or "message" in layer.memo:
        return  # added by surgery, or read whole already
    source = text.document.text
    written = (
        layer.format,
        *(source[f.start : f.end] for f in text.body.fields if f.name not in _WIRING),
    )
    if written in _VALID:
        return
    layer_message_as(net, layer, None)
    if len(_VALID) > 4096:
        _VALID.clear()
    _VALID[written] = None


def layer_message_as(net: Net, layer: Layer, message_class: Any) -> Any:
    """The layer as a ``message_class`` (a fork's ``LayerParameter``, say; None: the BVLC
    class for its format), uncached, with the errors of :func:`layer_message`."""
    if layer.text is None:
        assert layer.definition is not None
        return definition_message(layer.definition, message_class or caffe_pb2.LayerParameter)
    message = _parse_body(layer.text.document, layer, message_class)
    if layer.format != "v0" and tuple(message.bottom) != layer.bottoms:
        del message.bottom[:]
        message.bottom.extend(layer.bottoms)  # a rewired layer reads what the net says
    return message


def _parse_body(doc: Document, layer: Layer, cls: Any = None) -> Any:
    if cls is None:
        cls = _MESSAGE_CLASS.get(layer.format, caffe_pb2.LayerParameter)
    assert layer.body is not None
    return fill_message(doc, layer.body, cls(), f"in layer '{layer.name}': ")


# Every convolution of an SCNN pass has the same parameters: build them once.
_TEMPLATES: dict[tuple[Any, str, Fields], Any] = {}
content_cache(_TEMPLATES.clear)


def definition_message(definition: LayerDef, message_class: Any) -> Any:
    """A layer surgery added, as a typed message of ``message_class`` (V2 field names)."""
    key = (message_class, definition.type, definition.fields)
    template = _TEMPLATES.get(key)
    if template is None:
        if len(_TEMPLATES) > 256:
            _TEMPLATES.clear()
        template = message_class()
        if template.DESCRIPTOR.name == "V1LayerParameter":
            _fill(template, (("type", LayerEnum(v1_type(definition.type))),))
            _fill(template, v1_fields(definition.fields))
        else:
            template.type = definition.type
            _fill(template, definition.fields)
        _TEMPLATES[key] = template
    message = message_class()
    message.CopyFrom(template)
    message.name = definition.name
    message.bottom.extend(definition.bottoms)
    message.top.extend(definition.tops)
    return message


def _fill(message: Any, fields: Fields) -> None:
    stack: list[tuple[Any, Fields]] = [(message, fields)]
    while stack:
        target, pairs = stack.pop()
        descriptor = target.DESCRIPTOR
        for key, value in pairs:
            fd = descriptor.fields_by_name.get(key)
            if fd is None:
                continue  # a field this class does not know, as a text layer's reader skips it
            repeated = fd.is_repeated
            if isinstance(value, tuple):
                child = getattr(target, key).add() if repeated else getattr(target, key)
                child.SetInParent()  # an empty block is a message present, as in text
                stack.append((child, value))
                continue
            scalar = _scalar_for(fd, value)
            if repeated:
                getattr(target, key).append(scalar)
            else:
                setattr(target, key, scalar)


def _scalar_for(fd: Any, value: Value) -> Any:
    if isinstance(value, Raw):
        return word_value(fd, value.text)
    if isinstance(value, LayerEnum):
        return fd.enum_type.values_by_name[value.name].number
    return value


# ---------------------------------------------------------------------------
# Raw getters for fields the BVLC schema does not know


def fork_param(layer: Layer, name: str) -> Message | None:
    """A fork's ``*_param`` block of the layer, read from the raw text tree."""
    return layer.body.message(name) if layer.body is not None else None


def _convert(scalar: Scalar, kind: str, layer: Layer | None) -> Any:
    """The value; a bad one is located in the file the layer's text is in (a spliced
    fragment's own file, not the net's)."""
    try:
        if kind == "int":
            return scalar.as_int()
        if kind == "float":
            return scalar.as_float()
    except ValueError:
        text = layer.text if layer is not None else None
        where = f"{text.document.location(scalar.start)}: " if text is not None else ""
        raise SurgeryError(f"{where}'{scalar.raw}' is not a valid {kind}") from None
    return scalar.value


def raw_has(msg: Message | None, name: str) -> bool:
    return msg is not None and msg.get(name) is not None


def raw_int(msg: Message | None, name: str, default: int, layer: Layer | None = None) -> int:
    """``msg``'s int field ``name`` (``msg`` is a block of ``layer``'s text)."""
    s = msg.scalar(name) if msg is not None else None
    return default if s is None else int(_convert(s, "int", layer))


def raw_ints(msg: Message | None, name: str, layer: Layer | None = None) -> list[int]:
    if msg is None:
        return []
    return [int(_convert(s, "int", layer)) for s in msg.scalars(name)]


def raw_floats(msg: Message | None, name: str, layer: Layer | None = None) -> list[float]:
    if msg is None:
        return []
    return [float(_convert(s, "float", layer)) for s in msg.scalars(name)]


def raw_bool(msg: Message | None, name: str, default: bool) -> bool:
    s = msg.scalar(name) if msg is not None else None
    return default if s is None else s.as_bool()


# ---------------------------------------------------------------------------
# Convolution (and Deconvolution, DepthwiseConvolution, ConvolutionDepthwise)


def per_axis(values: Sequence[int], axes: int, default: int, what: str) -> tuple[int, ...]:
    """Caffe's rule for a repeated size field: none → default, one → every axis, else one each."""
    if not values:
        return (default,) * axes
    if len(values) == 1:
        return (values[0],) * axes
    if len(values) != axes:
        raise ValueError(f"{what} has {len(values)} values for {axes} spatial axes")
    return tuple(values)


@dataclass(frozen=True)
class ConvParams:
    num_output: int | None
    bias_term: bool
    group: int | None  # None: not stated (a depthwise fork then uses the input channels)
    axis: int
    kernel_size: tuple[int, ...]
    kernel_hw: tuple[int, int] | None
    pad: tuple[int, ...]
    pad_hw: tuple[int, int] | None
    stride: tuple[int, ...]
    stride_hw: tuple[int, int] | None
    dilation: tuple[int, ...]

    def groups(self, channels: int | None, depthwise: bool) -> int | None:
        """Caffe's group count: as given, else the input channels for a depthwise fork type,
        else 1 (None: channels nobody knows). Zero is refused: Caffe divides by it."""
        if self.group == 0:
            raise ValueError("group 0: a convolution has at least one group (Caffe divides by it)")
        if self.group is not None:
            return self.group
        return channels if depthwise else 1

    def refusal(self) -> str | None:
        """What BaseConvolutionLayer::LayerSetUp aborts on whatever the input's shape: a
        size given both ways, no kernel, no output channels (None: nothing)."""
        both = (
            ("kernel_size", "kernel_h/kernel_w", self.kernel_size, self.kernel_hw),
            ("stride", "stride_h/stride_w", self.stride, self.stride_hw),
            ("pad", "pad_h/pad_w", self.pad, self.pad_hw),
        )
        for single, pair, values, hw in both:
            if hw is not None and values:
                return f"give either {single} or {pair}, not both"
        if self.kernel_hw is None and not self.kernel_size:
            return "no kernel_size (or kernel_h and kernel_w) is given"
        if self.num_output == 0:
            return "num_output must be positive"
        return None

    def geometry(self, axes: int) -> tuple[tuple[int, ...], ...]:
        """(kernel, pad, stride, dilation), one value per spatial axis, as Caffe resolves them."""
        problem = self.refusal()
        if problem is not None:
            raise ValueError(problem)
        if self.kernel_hw is not None:
            if axes != 2:
                raise ValueError("kernel_h/kernel_w need exactly 2 spatial axes")
            kernel: tuple[int, ...] = self.kernel_hw
        else:
            kernel = per_axis(self.kernel_size, axes, 0, "kernel_size")
        if self.pad_hw is not None:
            if axes != 2:
                raise ValueError("pad_h/pad_w need exactly 2 spatial axes")
            pad: tuple[int, ...] = self.pad_hw
        else:
            pad = per_axis(self.pad, axes, 0, "pad")
        if self.stride_hw is not None:
            if axes != 2:
                raise ValueError("stride_h/stride_w need exactly 2 spatial axes")
            stride: tuple[int, ...] = self.stride_hw
        else:
            stride = per_axis(self.stride, axes, 1, "stride")
        dilation = per_axis(self.dilation, axes, 1, "dilation")
        # Caffe checks the kernel; a zero stride would divide by zero there too.
        for what, values in (("kernel", kernel), ("stride", stride)):
            if 0 in values:
                raise ValueError(f"{what} {'x'.join(map(str, values))} has a zero dimension")
        return kernel, pad, stride, dilation


@per_params
def conv_params(net: Net, layer: Layer) -> ConvParams:
    msg = part_message(net, layer, "convolution_param")
    if layer.format == "v0":
        return ConvParams(
            num_output=msg.num_output if msg.HasField("num_output") else None,
            bias_term=msg.biasterm,
            group=msg.group if msg.HasField("group") else None,
            axis=1,
            kernel_size=(msg.kernelsize,) if msg.HasField("kernelsize") else (),
            kernel_hw=None,
            pad=(msg.pad,),
            pad_hw=None,
            stride=(msg.stride,),
            stride_hw=None,
            dilation=(),
        )
    p = msg.convolution_param
    has_kernel_hw = p.HasField("kernel_h") or p.HasField("kernel_w")
    has_pad_hw = p.HasField("pad_h") or p.HasField("pad_w")
    has_stride_hw = p.HasField("stride_h") or p.HasField("stride_w")
    return ConvParams(
        num_output=p.num_output if p.HasField("num_output") else None,
        bias_term=p.bias_term,
        group=p.group if p.HasField("group") else None,
        axis=p.axis,
        kernel_size=tuple(p.kernel_size),
        kernel_hw=(p.kernel_h, p.kernel_w) if has_kernel_hw else None,
        pad=tuple(p.pad),
        pad_hw=(p.pad_h, p.pad_w) if has_pad_hw else None,
        stride=tuple(p.stride),
        stride_hw=(p.stride_h, p.stride_w) if has_stride_hw else None,
        dilation=tuple(p.dilation),
    )


# ---------------------------------------------------------------------------
# Eltwise


@per_params
def eltwise_coeffs(net: Net, layer: Layer) -> tuple[int, bool]:
    """How many ``coeff`` values an Eltwise gives, and whether its operation is SUM."""
    p = part_message(net, layer, "eltwise_param").eltwise_param
    return len(p.coeff), p.operation == caffe_pb2.EltwiseParameter.SUM


# ---------------------------------------------------------------------------
# Pooling


@dataclass(frozen=True)
class PoolParams:
    method: str  # MAX, AVE or STOCHASTIC
    kernel: tuple[int, int] | None  # None: not given (an error unless global)
    pad: tuple[int, int]
    stride: tuple[int, int]
    global_pooling: bool
    ceil: bool  # CEIL rounding (Caffe's default) or FLOOR
    given: frozenset[str] = frozenset()  # which of POOL_SIZE_FIELDS the text sets

    def refusal(self) -> str | None:
        """What PoolingLayer::LayerSetUp aborts on, whatever the input's shape, in the order
        it checks (None: nothing). A zero stride, which it does not check, would divide by
        zero in its output-size formula."""
        given = self.given
        if self.global_pooling:
            if given & {"kernel_size", "kernel_h", "kernel_w"}:
                return (
                    "global_pooling takes its kernel from the input's size; kernel_size,"
                    " kernel_h and kernel_w cannot be given with it"
                )
        elif ("kernel_size" in given) == ({"kernel_h", "kernel_w"} <= given):
            return "give the kernel as kernel_size, or as kernel_h and kernel_w, one of the two"
        for single in ("pad", "stride"):
            pair = given & {f"{single}_h", f"{single}_w"}
            if pair and (single in given or len(pair) == 1):
                return f"give {single}, or both {single}_h and {single}_w, one of the two"
        if self.global_pooling:
            if self.pad != (0, 0) or self.stride != (1, 1):
                return "global_pooling allows only pad 0 and stride 1"
            return None
        assert self.kernel is not None  # refused above when not given
        if min(self.kernel) <= 0 or min(self.stride) <= 0:
            return "kernel and stride must be positive"
        if any(self.pad) and self.method == "STOCHASTIC":
            return "Caffe implements padding only for MAX and AVE pooling, not STOCHASTIC"
        if self.pad[0] >= self.kernel[0] or self.pad[1] >= self.kernel[1]:
            return f"pad {self.pad} must be smaller than kernel {self.kernel}"
        return None


POOL_SIZE_FIELDS = (
    "kernel_size", "kernel_h", "kernel_w", "pad", "pad_h", "pad_w", "stride", "stride_h",
    "stride_w",
)  # fmt: skip


@per_params
def pool_params(net: Net, layer: Layer) -> PoolParams:
    msg = part_message(net, layer, "pooling_param")
    if layer.format == "v0":
        kernel = (msg.kernelsize, msg.kernelsize) if msg.HasField("kernelsize") else None
        v0_names = (("kernelsize", "kernel_size"), ("pad", "pad"), ("stride", "stride"))
        return PoolParams(
            method=caffe_pb2.V0LayerParameter.PoolMethod.Name(msg.pool),
            kernel=kernel,
            pad=(msg.pad, msg.pad),
            stride=(msg.stride, msg.stride),
            global_pooling=False,
            ceil=True,
            given=frozenset(v1 for v0, v1 in v0_names if msg.HasField(v0)),  # as upgraded
        )
    p = msg.pooling_param
    given = frozenset(name for name in POOL_SIZE_FIELDS if p.HasField(name))
    # As PoolingLayer::LayerSetUp resolves them: kernel_size wins over kernel_h/kernel_w,
    # pad_h (stride_h) over pad (stride); what it refuses is in PoolParams.refusal.
    kernel2: tuple[int, int] | None = None
    if "kernel_size" in given:
        kernel2 = (p.kernel_size, p.kernel_size)
    elif "kernel_h" in given or "kernel_w" in given:
        kernel2 = (p.kernel_h, p.kernel_w)
    pad = (p.pad_h, p.pad_w) if "pad_h" in given else (p.pad, p.pad)
    stride = (p.stride_h, p.stride_w) if "stride_h" in given else (p.stride, p.stride)
    ceil = p.round_mode == caffe_pb2.PoolingParameter.CEIL
    # The DenseNet fork (BVLC PR #3057) spells FLOOR rounding as `ceil_mode: false`.
    ceil = ceil and raw_bool(fork_param(layer, "pooling_param"), "ceil_mode", True)
    return PoolParams(
        method=caffe_pb2.PoolingParameter.PoolMethod.Name(p.pool),
        kernel=kernel2,
        pad=pad,
        stride=stride,
        global_pooling=p.global_pooling,
        ceil=ceil,
        given=given,
    )


# ---------------------------------------------------------------------------
# InnerProduct


@dataclass(frozen=True)
class InnerProductParams:
    num_output: int | None
    bias_term: bool
    axis: int
    transpose: bool


@per_params
def inner_product_params(net: Net, layer: Layer) -> InnerProductParams:
    msg = part_message(net, layer, "inner_product_param")
    if layer.format == "v0":
        return InnerProductParams(
            num_output=msg.num_output if msg.HasField("num_output") else None,
            bias_term=msg.biasterm,
            axis=1,
            transpose=False,
        )
    p = msg.inner_product_param
    return InnerProductParams(
        num_output=p.num_output if p.HasField("num_output") else None,
        bias_term=p.bias_term,
        axis=p.axis,
        transpose=p.transpose,
    )


# ---------------------------------------------------------------------------
# Data layers


@dataclass(frozen=True)
class DataSource:
    """What a data layer's text states about its first top: N, C, H, W (None: not stated)."""

    batch: int | None
    channels: int | None
    height: int | None
    width: int | None


def _positive(value: int) -> int | None:
    return value if value > 0 else None


def _resized(transform: Message | None, layer: Layer) -> tuple[int | None, int | None]:
    """The height and width SSD's DataTransformer::InferBlobShape gives every image: a
    resize_param's, for the modes that resize to it (FIT_SMALL_SIZE keeps the aspect, so
    its size depends on the image)."""
    resize = transform.message("resize_param") if transform is not None else None
    if resize is None:
        return None, None
    mode = resize.scalar("resize_mode")
    if mode is not None and mode.value not in ("WARP", "FIT_LARGE_SIZE_AND_PAD", "1", "3"):
        return None, None
    height = _positive(raw_int(resize, "height", 0, layer))
    width = _positive(raw_int(resize, "width", 0, layer))
    return height, width


def _crop(transform: Any) -> int | None:
    return _positive(transform.crop_size) if transform is not None else None


@per_params
def data_source(net: Net, layer: Layer) -> DataSource:
    """N, C, H, W of a data layer's images, as far as the file states them.

    Crop sizes win over resize sizes; a reader of image files gives 3 channels
    (1 when ``is_color: false``); a database or window file hides its channels.
    """
    msg = layer_message(net, layer)
    if layer.format == "v0":
        crop = _positive(msg.cropsize)
        new_h, new_w = _positive(msg.new_height), _positive(msg.new_width)
        batch = _positive(msg.batchsize)
        channels = 3 if layer.type == "ImageData" else None
        return DataSource(batch, channels, crop or new_h, crop or new_w)
    transform_crop = _crop(msg.transform_param)
    kind = layer.type
    if kind == "AnnotatedData":  # SSD: data_param's batch, the resize's or crop's size
        size = transform_crop and (transform_crop, transform_crop)
        h, w = size or _resized(fork_param(layer, "transform_param"), layer)
        return DataSource(_positive(msg.data_param.batch_size), None, h, w)
    if kind == "Data":
        p = msg.data_param
        crop = transform_crop or _positive(p.crop_size)
        return DataSource(_positive(p.batch_size), None, crop, crop)
    if kind in ("ImageData", "ImageSegData"):
        p = msg.image_data_param
        crop = transform_crop or _positive(p.crop_size)
        channels = 3 if p.is_color else 1
        h = crop or _positive(p.new_height)
        w = crop or _positive(p.new_width)
        return DataSource(_positive(p.batch_size), channels, h, w)
    if kind == "WindowData":
        p = msg.window_data_param
        crop = transform_crop or _positive(p.crop_size)
        return DataSource(_positive(p.batch_size), None, crop, crop)
    if kind == "DenseImageData":
        raw = fork_param(layer, "dense_image_data_param")
        channels = 3 if raw_bool(raw, "is_color", True) else 1
        crop_h = _positive(raw_int(raw, "crop_height", 0, layer))
        crop_w = _positive(raw_int(raw, "crop_width", 0, layer))
        new_h = _positive(raw_int(raw, "new_height", 0, layer))
        new_w = _positive(raw_int(raw, "new_width", 0, layer))
        batch = _positive(raw_int(raw, "batch_size", 1, layer))
        if transform_crop:
            return DataSource(batch, channels, transform_crop, transform_crop)
        if crop_h and crop_w:
            return DataSource(batch, channels, crop_h, crop_w)
        return DataSource(batch, channels, new_h, new_w)
    if kind == "MemoryData":
        p = msg.memory_data_param
        return DataSource(
            _positive(p.batch_size), _positive(p.channels), _positive(p.height), _positive(p.width)
        )
    return DataSource(None, None, None, None)


# ---------------------------------------------------------------------------
# Fork layers


@dataclass(frozen=True)
class InterpParams:
    """PSPNet/DeepLab ``interp_param``; ``None`` marks a field that is not given."""

    zoom_factor: int | None
    shrink_factor: int | None
    height: int | None
    width: int | None
    pad_beg: int
    pad_end: int


def _opt_int(msg: Message | None, name: str, layer: Layer) -> int | None:
    return raw_int(msg, name, 0, layer) if raw_has(msg, name) else None


def _opt_float(msg: Message | None, name: str, layer: Layer) -> float | None:
    found = raw_floats(msg, name, layer)
    return found[-1] if found else None


@per_params
def interp_params(net: Net, layer: Layer) -> InterpParams:
    p = fork_param(layer, "interp_param")
    return InterpParams(
        zoom_factor=_opt_int(p, "zoom_factor", layer),
        shrink_factor=_opt_int(p, "shrink_factor", layer),
        height=_opt_int(p, "height", layer),
        width=_opt_int(p, "width", layer),
        pad_beg=raw_int(p, "pad_beg", 0, layer),
        pad_end=raw_int(p, "pad_end", 0, layer),
    )


@dataclass(frozen=True)
class UpsampleParams:
    """SegNet/ENet's ``upsample_param`` (``scale`` defaults to 2 there)."""

    scale: int | None
    scale_h: int | None
    scale_w: int | None
    pad_out_h: bool
    pad_out_w: bool
    upsample_h: int | None
    upsample_w: int | None


@per_params
def upsample_params(net: Net, layer: Layer) -> UpsampleParams:
    p = fork_param(layer, "upsample_param")
    return UpsampleParams(
        scale=_opt_int(p, "scale", layer),
        scale_h=_opt_int(p, "scale_h", layer),
        scale_w=_opt_int(p, "scale_w", layer),
        pad_out_h=raw_bool(p, "pad_out_h", False),
        pad_out_w=raw_bool(p, "pad_out_w", False),
        upsample_h=_opt_int(p, "upsample_h", layer),
        upsample_w=_opt_int(p, "upsample_w", layer),
    )


@dataclass(frozen=True)
class PriorBoxParams:
    min_sizes: tuple[float, ...]
    max_sizes: tuple[float, ...]
    aspect_ratios: tuple[float, ...]  # as given, before Caffe adds 1 and the flips
    flip: bool
    # Sizes stated in image pixels (None: not stated; Caffe then uses the image blob's size
    # and image / map for the step).
    img_size: int | None = None
    img_h: int | None = None
    img_w: int | None = None
    step: float | None = None
    step_h: float | None = None
    step_w: float | None = None

    @property
    def num_priors(self) -> int:
        """SSD's PriorBoxLayer::LayerSetUp: distinct ratios (1 first, flips added) per min size,
        plus one per max size."""
        ratios = [1.0]
        for ar in self.aspect_ratios:
            if any(math.isclose(ar, r, abs_tol=1e-6) for r in ratios):
                continue
            ratios.append(ar)
            if self.flip:  # C++ float division: 1/0 is inf there, one more (useless) prior
                ratios.append(1.0 / ar if ar else math.inf)
        return len(ratios) * len(self.min_sizes) + len(self.max_sizes)


@per_params
def prior_box_params(net: Net, layer: Layer) -> PriorBoxParams:
    p = fork_param(layer, "prior_box_param")
    return PriorBoxParams(
        min_sizes=tuple(raw_floats(p, "min_size", layer)),
        max_sizes=tuple(raw_floats(p, "max_size", layer)),
        aspect_ratios=tuple(raw_floats(p, "aspect_ratio", layer)),
        flip=raw_bool(p, "flip", True),
        img_size=_opt_int(p, "img_size", layer),
        img_h=_opt_int(p, "img_h", layer),
        img_w=_opt_int(p, "img_w", layer),
        step=_opt_float(p, "step", layer),
        step_h=_opt_float(p, "step_h", layer),
        step_w=_opt_float(p, "step_w", layer),
    )


def bn_blob_count(layer: Layer) -> int:
    """How many per-channel blobs a fork ``BN`` layer holds.

    PSPNet's BN (``slope_filler``, ``frozen``, ``momentum``) keeps scale, shift,
    running mean and variance; SegNet/ENet's BN keeps only scale and shift.
    """
    p = fork_param(layer, "bn_param")
    pspnet_fields = ("slope_filler", "frozen", "momentum", "eps")
    params = layer.body.all("param") if layer.body is not None else []
    if any(raw_has(p, name) for name in pspnet_fields) or len(params) == 4:
        return 4
    return 2
