"""One converter per Caffe layer type, each computing what Caffe's (or the fork's) forward
pass computes, corner cases included.

A converter writes each top to its reserved name (``ctx.outputs``) and returns ``None``, or
returns the ONNX values its tops are (a Split's or a Dropout's tops are its bottom: no node).
The formulas follow the C++ sources named in each docstring; where ONNX's own operator
differs in a corner (pooling windows clipped by the padding, AVE's divisor), the converter
builds Caffe's result from simpler operators rather than hope the runtime agrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..analysis.params import (
    conv_params,
    inner_product_params,
    interp_params,
    pool_params,
    raw_bool,
    raw_int,
    raw_ints,
    upsample_params,
)
from ..core.document import Message
from ..schema import caffe_pb2
from ..weights import DEPTHWISE_TYPES
from .context import LayerContext, Shape

Converter = Callable[[LayerContext], Sequence[str] | None]

CONVERTERS: dict[str, Converter] = {}

# Data layers: their tops become graph inputs.
DATA_TYPES = frozenset(
    {
        "Input", "Data", "ImageData", "MemoryData", "WindowData", "HDF5Data", "DummyData",
        "DenseImageData", "ImageSegData", "AnnotatedData", "LaneLineData", "VideoData",
    }
)  # fmt: skip


def is_data(layer_type: str) -> bool:
    """A data layer: BVLC's and the forks' (their types end in Data, as LaneLineData)."""
    return layer_type in DATA_TYPES or layer_type.endswith("Data")


# Layers a deploy graph leaves out; their tops are no outputs.
LEFT_OUT_TYPES = frozenset({"Accuracy", "Silence"})


def left_out(layer_type: str) -> bool:
    return layer_type in LEFT_OUT_TYPES or layer_type.endswith("Loss")


def converts(*types: str) -> Callable[[Converter], Converter]:
    def register(function: Converter) -> Converter:
        for name in types:
            CONVERTERS[name] = function
        return function

    return register


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _channel_shape(count: int, rank: int, axis: int = 1) -> tuple[int, ...]:
    """A per-channel vector shaped to broadcast over a rank-``rank`` blob's axis ``axis``."""
    return (count,) + (1,) * (rank - axis - 1)


# ---------------------------------------------------------------------------
# Pass-through


@converts("Dropout", "Split")
def _alias(ctx: LayerContext) -> Sequence[str]:
    """Dropout is the identity in a deploy net; Split's tops are its bottom."""
    return [ctx.x] * len(ctx.outputs)


# ---------------------------------------------------------------------------
# Convolutions and inner products


@converts("Convolution", "DepthwiseConvolution", "ConvolutionDepthwise", "Deconvolution")
def _convolution(ctx: LayerContext) -> None:
    """BaseConvolutionLayer: per-axis kernel/pad/stride/dilation, group; Deconvolution's
    output, stride*(in-1) + dilation*(k-1) + 1 - 2*pad, is ConvTranspose's with those pads."""
    p = conv_params(ctx.net, ctx.layer)
    x = ctx.shape()
    if _axis(p.axis, len(x)) != 1:
        raise ctx.refuse(f"axis {p.axis}: only channels on axis 1 are exported")
    kernel, pad, stride, dilation = p.geometry(len(x) - 2)
    if 0 in dilation:  # Caffe reads one pixel k times over; ONNX allows no such dilation
        raise ctx.refuse("dilation 0: ONNX's dilations must be positive")
    group = p.groups(x[1], ctx.layer.type in DEPTHWISE_TYPES)
    inputs = [ctx.x, ctx.blob(0)]
    if p.bias_term:
        inputs.append(ctx.blob(1))
    op = "ConvTranspose" if ctx.layer.type == "Deconvolution" else "Conv"
    ctx.op(
        op, inputs, ctx.y, kernel_shape=list(kernel), pads=list(pad) * 2, strides=list(stride),
        dilations=list(dilation), group=group,
    )  # fmt: skip


@converts("InnerProduct")
def _inner_product(ctx: LayerContext) -> None:
    """InnerProductLayer: the axes from ``axis`` on are one vector; y = x W^T + b (x W with
    ``transpose``); the top keeps the axes before ``axis``."""
    p = inner_product_params(ctx.net, ctx.layer)
    x = ctx.shape()
    axis = _axis(p.axis, len(x))
    if axis == 1:
        flat = ctx.x if len(x) == 2 else ctx.op("Flatten", [ctx.x], axis=1)
        inputs = [flat, ctx.blob(0)]
        if p.bias_term:
            inputs.append(ctx.blob(1))
        ctx.op("Gemm", inputs, ctx.y, transB=0 if p.transpose else 1)
        return
    # The axes before `axis` stay (Reshape copies them, so a free batch passes through).
    k = math.prod(x[axis:])
    vectors = ctx.op("Reshape", [ctx.x, ctx.ints([0] * axis + [k], "shape")])
    weight = ctx.blobs[0] if p.transpose else ctx.blobs[0].T
    target = None if p.bias_term else ctx.y
    product = ctx.op("MatMul", [vectors, ctx.const(weight, "weight")], target)
    if p.bias_term:
        ctx.op("Add", [product, ctx.blob(1)], ctx.y)


# ---------------------------------------------------------------------------
# Pooling


def _pool_end_pad(out: int, size: int, kernel: int, stride: int, pad: int) -> int:
    """The padding after the map that makes floor rounding give Caffe's ``out`` windows."""
    return max(0, (out - 1) * stride + kernel - size - pad)


def _windows_in_map(out: int, size: int, stride: int, pad: int) -> int:
    """How many of Caffe's ``out`` windows along an axis start before the map's end. Without
    padding, CEIL rounding can add windows that start past it (a stride above the kernel):
    PoolingLayer drops such a last window only when there is padding."""
    return min(out, -(-(size + pad) // stride))


def _ave_divisor_factors(
    size: tuple[int, int], out: tuple[int, int], kernel: tuple[int, int],
    stride: tuple[int, int], pad: tuple[int, int],
) -> np.ndarray:  # fmt: skip
    """kernel area / Caffe's pool_size for each window: Caffe divides by the window clipped
    to the map padded once (hend = min(hstart + k, H + pad)), counting that padding."""
    factors = np.ones(out, dtype=np.float64)
    for i in range(out[0]):
        for j in range(out[1]):
            factors[i, j] = kernel[0] * kernel[1] / _pool_size((i, j), size, kernel, stride, pad)
    return factors


def _pool_size(
    window: tuple[int, int], size: tuple[int, int], kernel: tuple[int, int],
    stride: tuple[int, int], pad: tuple[int, int],
) -> int:  # fmt: skip
    """PoolingLayer's AVE pool_size: (hend - hstart) * (wend - wstart) before clipping to
    the map, each end at most the map's end plus the padding. For a window past the map's
    end it is 0 or negative."""
    area = 1
    for a in (0, 1):
        start = window[a] * stride[a] - pad[a]
        area *= min(start + kernel[a], size[a] + pad[a]) - start
    return area


def average_pool(
    ctx: LayerContext, x: str, shape: Shape, out: tuple[int, int], kernel: tuple[int, int],
    stride: tuple[int, int], pad: tuple[int, int], target: str | None,
) -> str:  # fmt: skip
    """Caffe's AVE pooling: zero padding and the divisor of :func:`_ave_divisor_factors`,
    over windows that start inside the map."""
    size = (shape[2], shape[3])
    end = tuple(_pool_end_pad(out[a], size[a], kernel[a], stride[a], pad[a]) for a in (0, 1))
    padded = x
    if any(pad) or any(end):
        pads = [0, 0, pad[0], pad[1], 0, 0, end[0], end[1]]
        padded = ctx.op("Pad", [x, ctx.ints(pads, "pads")], mode="constant")
    factors = _ave_divisor_factors(size, out, kernel, stride, pad)
    uniform = bool(np.all(factors == 1.0))
    pooled = ctx.op(
        "AveragePool", [padded], target if uniform else None, kernel_shape=list(kernel),
        strides=list(stride),
    )  # fmt: skip
    if uniform:
        return pooled
    return ctx.op("Mul", [pooled, ctx.const(factors, "divisor")], target)


def _past_the_map(
    ctx: LayerContext, pooled: str, inside: tuple[int, int], fill: np.ndarray, target: str
) -> None:
    """``pooled`` (the windows inside the map) followed by the windows past its end, each
    with its value in ``fill`` (the whole top's height x width; Caffe's value where no
    input falls in the window). Padded with -0 and added to a map that is -0 where the
    windows are pooled, so that every value comes through bit for bit, the sign of a zero
    included (onnxruntime's Where gives +0 for a -0 it picks)."""
    out = fill.shape
    pads = [0, 0, 0, 0, 0, 0, out[0] - inside[0], out[1] - inside[1]]
    grown = ctx.op(
        "Pad", [pooled, ctx.ints(pads, "past_pads"), ctx.const(-0.0, "negative_zero")],
        mode="constant",
    )  # fmt: skip
    added = fill.copy()
    added[: inside[0], : inside[1]] = -0.0
    ctx.op("Add", [grown, ctx.const(added.reshape(1, 1, *out), "past_value")], target)


def _empty_window_values(
    size: tuple[int, int], out: tuple[int, int], kernel: tuple[int, int],
    stride: tuple[int, int], pad: tuple[int, int],
) -> np.ndarray:  # fmt: skip
    """What Caffe's AVE writes for each window: for one with no input in it, its sum 0
    divided by its pool_size (0 or negative there): NaN, or a zero of the divisor's sign."""
    values = np.zeros(out, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, j in np.ndindex(*out):
            divisor = np.float32(_pool_size((i, j), size, kernel, stride, pad))
            values[i, j] = np.float32(0.0) / divisor
    return values


@converts("Pooling")
def _pooling(ctx: LayerContext) -> None:
    """PoolingLayer: CEIL rounding with the last window dropped when it would start in the
    padding; MAX ignores the padding, AVE counts it (see :func:`average_pool`). Without
    padding, windows that start past the map's end hold no input: Caffe's MAX gives them
    -FLT_MAX (mask -1), its AVE 0 / pool_size."""
    p = pool_params(ctx.net, ctx.layer)
    x = ctx.shape()
    if len(x) != 4:
        raise ctx.refuse(f"a {len(x)}-axis input: Caffe pools 4-axis blobs")
    if p.method not in ("MAX", "AVE"):
        raise ctx.refuse(f"{p.method} pooling: Caffe's CPU forward does not implement it")
    if p.global_pooling and len(ctx.outputs) > 1:
        raise ctx.refuse("a mask top of global pooling")
    if p.global_pooling:
        ctx.op("GlobalMaxPool" if p.method == "MAX" else "GlobalAveragePool", [ctx.x], ctx.y)
        return
    assert p.kernel is not None  # a refusal of the shape rules otherwise
    size = (x[2], x[3])
    out = (ctx.out_shapes[0][2], ctx.out_shapes[0][3])
    inside = (
        _windows_in_map(out[0], size[0], p.stride[0], p.pad[0]),
        _windows_in_map(out[1], size[1], p.stride[1], p.pad[1]),
    )
    whole = inside == out
    if not whole:
        empty = "-FLT_MAX" if p.method == "MAX" else "0 / pool_size (NaN or 0)"
        ctx.emitter.notes.append(
            f"warning: {ctx.net.describe(ctx.layer)}: {_past_count(inside, out)} start past"
            f" the input's end (stride {_pair(p.stride)} over kernel {_pair(p.kernel)}, no"
            f" pad) and hold none of it; exported as Caffe's {p.method} computes them: {empty}"
        )
    if p.method == "AVE":
        pooled = average_pool(
            ctx, ctx.x, x, inside, p.kernel, p.stride, p.pad, ctx.y if whole else None
        )
        if not whole:
            fill = _empty_window_values(size, out, p.kernel, p.stride, p.pad)
            _past_the_map(ctx, pooled, inside, fill, ctx.y)
        return
    end = [_pool_end_pad(inside[a], x[2 + a], p.kernel[a], p.stride[a], p.pad[a]) for a in (0, 1)]
    attrs = {"kernel_shape": list(p.kernel), "strides": list(p.stride),
             "pads": [p.pad[0], p.pad[1], *end]}  # fmt: skip
    values = ctx.y if whole else ctx.emitter.fresh(f"{ctx.layer.name}/inside")
    if len(ctx.outputs) == 1:
        ctx.op("MaxPool", [ctx.x], values, **attrs)
    else:
        # The mask top (SegNet's): where each maximum is within its (n, c) plane, h * W + w,
        # as Caffe's MaxPoolForward writes it; ONNX's Indices count over the whole tensor.
        indices = ctx.emitter.fresh(f"{ctx.layer.name}/indices")
        ctx.op_n("MaxPool", [ctx.x], [values, indices], **attrs)
        in_plane = ctx.op("Mod", [indices, ctx.ints([x[2] * x[3]], "plane")])
        mask = ctx.outputs[1] if whole else None
        mask = ctx.op("Cast", [in_plane], mask, to=1)  # float, as Caffe's mask blob
        if not whole:
            _past_the_map(ctx, mask, inside, np.full(out, -1.0, np.float32), ctx.outputs[1])
    if not whole:
        lowest = np.full(out, -np.finfo(np.float32).max, np.float32)
        _past_the_map(ctx, values, inside, lowest, ctx.y)


def _pair(values: tuple[int, int]) -> str:
    return str(values[0]) if values[0] == values[1] else f"{values[0]}x{values[1]}"


def _past_count(inside: tuple[int, int], out: tuple[int, int]) -> str:
    count = out[0] * out[1] - inside[0] * inside[1]
    return f"{count} of its {out[0] * out[1]} windows"


# ---------------------------------------------------------------------------
# Activations


@converts("ReLU")
def _relu(ctx: LayerContext) -> None:
    slope = float(ctx.param("relu_param").negative_slope)
    if slope:
        ctx.op("LeakyRelu", [ctx.x], ctx.y, alpha=slope)
    else:
        ctx.op("Relu", [ctx.x], ctx.y)


@converts("ReLU6")
def _relu6(ctx: LayerContext) -> None:
    ctx.op("Clip", [ctx.x, ctx.const(0.0, "min"), ctx.const(6.0, "max")], ctx.y)


def _unary(op_type: str) -> Converter:
    def convert(ctx: LayerContext) -> None:
        ctx.op(op_type, [ctx.x], ctx.y)

    return convert


converts("Sigmoid")(_unary("Sigmoid"))
converts("TanH")(_unary("Tanh"))
converts("AbsVal")(_unary("Abs"))
# BNLLLayer: x + log(1 + exp(-x)) for x > 0, else log(1 + exp(x)): softplus, stably.
converts("BNLL")(_unary("Softplus"))


@converts("ELU")
def _elu(ctx: LayerContext) -> None:
    ctx.op("Elu", [ctx.x], ctx.y, alpha=float(ctx.param("elu_param").alpha))


@converts("PReLU")
def _prelu(ctx: LayerContext) -> None:
    """PReLULayer: one slope per channel (axis 1), or one for all (channel_shared)."""
    rank = len(ctx.shape())
    count = ctx.blobs[0].size
    shape = (1,) if count == 1 else _channel_shape(count, rank)
    ctx.op("PRelu", [ctx.x, ctx.blob_as(0, shape, "slope")], ctx.y)


def _affine(ctx: LayerContext, x: str, scale: float, shift: float, target: str | None) -> str:
    """shift + scale * x, without the steps that change nothing."""
    if scale != 1.0:
        x = ctx.op("Mul", [x, ctx.const(scale, "scale")], None if shift else target)
    if shift != 0.0:
        x = ctx.op("Add", [x, ctx.const(shift, "shift")], target)
    if scale == 1.0 and shift == 0.0 and target is not None:
        x = ctx.op("Identity", [x], target)
    return x


def _constant_like(ctx: LayerContext, value: float) -> None:
    """A top of the input's shape filled with ``value``."""
    shape = ctx.dims(ctx.x, ctx.out_shapes[0], len(ctx.out_shapes[0]))
    ctx.op("Expand", [ctx.const(value, "value"), shape], ctx.y)


@converts("Power")
def _power(ctx: LayerContext) -> None:
    """PowerLayer: (shift + scale * x) ^ power; with power or scale 0 a constant
    (power 0 gives 1, as Caffe fills it, even for 0^0)."""
    p = ctx.param("power_param")
    power, scale, shift = float(p.power), float(p.scale), float(p.shift)
    if power * scale == 0.0:
        _constant_like(ctx, 1.0 if power == 0.0 else float(np.float32(shift) ** np.float32(power)))
        return
    if power == 1.0:
        _affine(ctx, ctx.x, scale, shift, ctx.y)
        return
    base = _affine(ctx, ctx.x, scale, shift, None)
    ctx.op("Pow", [base, ctx.const(power, "power")], ctx.y)


def _log_base(base: float) -> float:
    return 1.0 if base == -1.0 else math.log(base)


@converts("Exp")
def _exp(ctx: LayerContext) -> None:
    """ExpLayer: base ^ (shift + scale * x) = outer * exp(inner * x), base -1 meaning e."""
    p = ctx.param("exp_param")
    log_base = _log_base(float(p.base))
    inner = float(np.float32(log_base) * np.float32(p.scale))
    outer = 1.0 if p.shift == 0 else float(np.exp(np.float32(p.shift) * np.float32(log_base)))
    scaled = _affine(ctx, ctx.x, inner, 0.0, None)
    raised = ctx.op("Exp", [scaled], ctx.y if outer == 1.0 else None)
    if outer != 1.0:
        ctx.op("Mul", [raised, ctx.const(outer, "outer")], ctx.y)


@converts("Log")
def _log(ctx: LayerContext) -> None:
    """LogLayer: log_base(shift + scale * x) = ln(shift + scale * x) / ln(base)."""
    p = ctx.param("log_param")
    base_scale = 1.0 if p.base == -1 else 1.0 / math.log(float(p.base))
    inner = _affine(ctx, ctx.x, float(p.scale), float(p.shift), None)
    logged = ctx.op("Log", [inner], ctx.y if base_scale == 1.0 else None)
    if base_scale != 1.0:
        ctx.op("Mul", [logged, ctx.const(base_scale, "base_scale")], ctx.y)


# ---------------------------------------------------------------------------
# Normalisation


def _normalize(
    ctx: LayerContext, mean: np.ndarray, std: np.ndarray, rank: int, target: str | None
) -> str:
    """(x - mean) / std per channel, as Caffe's BatchNorm subtracts and divides."""
    shape = _channel_shape(mean.size, rank)
    centred = ctx.op("Sub", [ctx.x, ctx.const(mean.reshape(shape), "mean")])
    return ctx.op("Div", [centred, ctx.const(std.reshape(shape), "std")], target)


@converts("BatchNorm")
def _batch_norm(ctx: LayerContext) -> None:
    """BatchNormLayer with stored statistics: mean and variance are the blobs times 1/s
    for the scale-factor blob s (0 when s is 0, as Caffe does), std = sqrt(var + eps)."""
    p = ctx.param("batch_norm_param")
    global_stats = p.use_global_stats if p.HasField("use_global_stats") else ctx.test_phase
    if not global_stats:
        raise ctx.refuse("use_global_stats false: it normalises with each batch's statistics")
    factor = np.float32(ctx.blobs[2].reshape(-1)[0])
    scale = np.float32(0.0) if factor == 0 else np.float32(1.0) / factor
    mean = ctx.blobs[0].reshape(-1).astype(np.float32) * scale
    var = ctx.blobs[1].reshape(-1).astype(np.float32) * scale
    std = np.sqrt(var + np.float32(p.eps))
    _normalize(ctx, mean, std, len(ctx.shape()), ctx.y)


@converts("BN")
def _bn(ctx: LayerContext) -> None:
    """The forks' BN. PSPNet's (4 blobs: slope, bias, mean, variance, each 1xCx1x1):
    slope * (x - mean) / sqrt(var + eps) + bias with the stored statistics in TEST.
    SegNet/ENet's (2 blobs: scale, shift) in bn_mode INFERENCE: scale * x + shift."""
    rank = len(ctx.shape())
    channels = ctx.shape()[1]
    shape = _channel_shape(channels, rank)
    raw = ctx.fork("bn_param")
    if len(ctx.blobs) == 2:
        mode = raw.scalar("bn_mode") if raw is not None else None
        if mode is None or mode.value != "INFERENCE":
            raise ctx.refuse("a 2-blob BN without bn_mode: INFERENCE uses each batch's statistics")
        scaled = ctx.op("Mul", [ctx.x, ctx.blob_as(0, shape, "scale")])
        ctx.op("Add", [scaled, ctx.blob_as(1, shape, "shift")], ctx.y)
        return
    if not ctx.test_phase and not raw_bool(raw, "frozen", False):
        raise ctx.refuse("in TRAIN (not frozen) it normalises with each batch's statistics")
    eps = _raw_float(raw, "eps", 1e-5)
    mean = ctx.blobs[2].reshape(-1).astype(np.float32)
    var = ctx.blobs[3].reshape(-1).astype(np.float32)
    inv_std = np.power(var + np.float32(eps), np.float32(-0.5))
    centred = ctx.op("Sub", [ctx.x, ctx.const(mean.reshape(shape), "mean")])
    normed = ctx.op("Mul", [centred, ctx.const(inv_std.reshape(shape), "inv_std")])
    scaled = ctx.op("Mul", [normed, ctx.blob_as(0, shape, "slope")])
    ctx.op("Add", [scaled, ctx.blob_as(1, shape, "bias")], ctx.y)


def _raw_float(msg: Message | None, name: str, default: float) -> float:
    scalar = msg.scalar(name) if msg is not None else None
    return default if scalar is None else scalar.as_float()


def _span(x: Shape, axis: int, count: int) -> tuple[int, int]:
    start = _axis(axis, len(x))
    return start, len(x) - start - count


def _broadcast_operand(
    ctx: LayerContext, value: str, dims: Sequence[int], trailing: int, what: str
) -> str:
    if trailing == 0:
        return value
    return ctx.op("Reshape", [value, ctx.ints([*dims, *([1] * trailing)], what)])


@converts("Scale", "Bias")
def _scale_or_bias(ctx: LayerContext) -> None:
    """ScaleLayer / BiasLayer: the operand (a blob, or the second bottom) covers the axes
    from ``axis`` on (``num_axes`` of them, or the second bottom's rank) and broadcasts
    over the rest; Scale adds its bias blob after multiplying."""
    is_scale = ctx.layer.type == "Scale"
    p = ctx.param("scale_param" if is_scale else "bias_param")
    x = ctx.shape()
    if len(ctx.inputs) > 1:
        dims = ctx.shape(1)
        operand = ctx.inputs[1]
        next_blob = 0
    else:
        start = _axis(p.axis, len(x))
        end = len(x) if p.num_axes == -1 else start + p.num_axes
        dims = x[start:end]
        operand = ctx.blob(0)
        next_blob = 1
    start, trailing = _span(x, p.axis, len(dims))
    operand = _broadcast_operand(ctx, operand, dims, trailing, "operand_shape")
    has_bias = is_scale and p.bias_term
    product = ctx.op(
        "Mul" if is_scale else "Add", [ctx.x, operand], None if has_bias else ctx.y
    )
    if has_bias:
        bias = ctx.blob_as(next_blob, (*dims, *([1] * trailing)), "bias")
        ctx.op("Add", [product, bias], ctx.y)


@converts("LRN")
def _lrn(ctx: LayerContext) -> None:
    """LRNLayer. ACROSS_CHANNELS: x * (k + alpha/size * sum of squares)^-beta, ONNX's LRN.
    WITHIN_CHANNEL: x * (1 + alpha * AVE-pool of x^2)^-beta, the pool size x size with
    pad (size-1)/2 (k is not used there, as in Caffe)."""
    p = ctx.param("lrn_param")
    size, alpha, beta = int(p.local_size), float(p.alpha), float(p.beta)
    if p.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS:
        ctx.op("LRN", [ctx.x], ctx.y, size=size, alpha=alpha, beta=beta, bias=float(p.k))
        return
    x = ctx.shape()
    pad = (size - 1) // 2
    squared = ctx.op("Mul", [ctx.x, ctx.x])
    out = (x[2], x[3])
    pooled = average_pool(ctx, squared, x, out, (size, size), (1, 1), (pad, pad), None)
    base = _affine(ctx, pooled, alpha, 1.0, None)
    factor = ctx.op("Pow", [base, ctx.const(-beta, "power")])
    ctx.op("Mul", [ctx.x, factor], ctx.y)


@converts("Normalize")
def _normalize_ssd(ctx: LayerContext) -> None:
    """SSD's NormalizeLayer: x / sqrt(sum of squares + eps), the sum over C x H x W
    (across_spatial) or over C at each position; then times the scale blob (one value, or
    one per channel)."""
    raw = ctx.fork("norm_param")
    across = raw_bool(raw, "across_spatial", True)
    eps = _raw_float(raw, "eps", 1e-10)
    rank = len(ctx.shape())
    axes = list(range(1, rank)) if across else [1]
    if ctx.emitter.opset >= 18:
        squares = ctx.op("ReduceSumSquare", [ctx.x, ctx.ints(axes, "axes")], keepdims=1)
    else:
        squares = ctx.op("ReduceSumSquare", [ctx.x], axes=axes, keepdims=1)
    norm = ctx.op("Sqrt", [ctx.op("Add", [squares, ctx.const(eps, "eps")])])
    normed = ctx.op("Div", [ctx.x, norm])
    count = ctx.blobs[0].size
    shape = (1,) if count == 1 else _channel_shape(count, rank)
    ctx.op("Mul", [normed, ctx.blob_as(0, shape, "scale")], ctx.y)


# ---------------------------------------------------------------------------
# Combining


@converts("Eltwise")
def _eltwise(ctx: LayerContext) -> None:
    """EltwiseLayer: PROD, SUM (each bottom times its coeff, 1 by default) or MAX."""
    p = ctx.param("eltwise_param")
    if p.operation == caffe_pb2.EltwiseParameter.PROD:
        product = ctx.inputs[0]
        for i, name in enumerate(ctx.inputs[1:], start=2):
            product = ctx.op("Mul", [product, name], ctx.y if i == len(ctx.inputs) else None)
        if len(ctx.inputs) == 1:
            ctx.op("Identity", [product], ctx.y)
        return
    if p.operation == caffe_pb2.EltwiseParameter.MAX:
        ctx.op("Max", ctx.inputs, ctx.y)
        return
    coeffs = list(p.coeff) or [1.0] * len(ctx.inputs)
    terms = [
        name if c == 1.0 else ctx.op("Mul", [name, ctx.const(c, "coeff")])
        for name, c in zip(ctx.inputs, coeffs, strict=True)
    ]
    ctx.op("Sum", terms, ctx.y)


@converts("Concat")
def _concat(ctx: LayerContext) -> None:
    p = ctx.param("concat_param")
    axis = int(p.concat_dim) if p.HasField("concat_dim") else int(p.axis)
    ctx.op("Concat", ctx.inputs, ctx.y, axis=_axis(axis, len(ctx.shape())))


@converts("Axpy")
def _axpy(ctx: LayerContext) -> None:
    """SENet's AxpyLayer: a * x + y, with a one value per (n, c)."""
    a, x = ctx.shape(0), ctx.shape(1)
    scale = ctx.inputs[0]
    if len(a) != len(x):
        scale = _broadcast_operand(ctx, scale, a, len(x) - len(a), "scale_shape")
    product = ctx.op("Mul", [scale, ctx.inputs[1]])
    ctx.op("Add", [product, ctx.inputs[2]], ctx.y)


# ---------------------------------------------------------------------------
# Reshaping


@converts("Slice")
def _slice(ctx: LayerContext) -> Sequence[str] | None:
    p = ctx.param("slice_param")
    x = ctx.shape()
    axis = _axis(int(p.slice_dim) if p.HasField("slice_dim") else int(p.axis), len(x))
    if len(ctx.outputs) == 1:
        return [ctx.x]
    sizes = [shape[axis] for shape in ctx.out_shapes]
    ctx.op_n("Split", [ctx.x, ctx.ints(sizes, "split")], ctx.outputs, axis=axis)
    return None


def _reshape_to(ctx: LayerContext, dims: Sequence[int]) -> None:
    ctx.op("Reshape", [ctx.x, ctx.ints(dims, "shape")], ctx.y)


def _leading_copied(out: Shape, x: Shape, keep: int) -> list[int]:
    """``out`` with its first ``keep`` dimensions spelled 0 (Reshape copies them from the
    input), so a free batch size passes through."""
    return [0 if j < keep and j < len(x) and out[j] == x[j] else d for j, d in enumerate(out)]


def _batch_free_shape(
    ctx: LayerContext, out: Shape, batch_at: int | None, infer_at: int | None
) -> str:
    """The shape input of a Reshape to ``out`` that holds for any batch size: Caffe's
    inferred axis ``infer_at`` stays -1, and the input's batch goes to axis ``batch_at``
    (0: ONNX copies it; None: it is folded into the inferred axis, or the count is fixed,
    and Caffe too refuses another batch). A batch moved elsewhere is -1 when no axis is
    inferred, else read from the input at run time."""
    dims = list(out)
    if infer_at is not None:
        dims[infer_at] = -1
    if batch_at == 0:
        dims[0] = 0
    elif batch_at is not None and infer_at is None:
        dims[batch_at] = -1
    elif batch_at is not None:
        bounds = [ctx.ints([0], "start"), ctx.ints([1], "end"), ctx.ints([0], "axis")]
        batch = ctx.op("Slice", [ctx.op("Shape", [ctx.x]), *bounds])
        head, tail = ctx.ints(dims[:batch_at], "head"), ctx.ints(dims[batch_at + 1 :], "tail")
        return ctx.op("Concat", [head, batch, tail], axis=0)
    return ctx.ints(dims, "shape")


@converts("Flatten")
def _flatten(ctx: LayerContext) -> None:
    """FlattenLayer: the axes from ``axis`` to ``end_axis`` as one."""
    p = ctx.param("flatten_param")
    x = ctx.shape()
    axis = _axis(p.axis, len(x))
    if not ctx.dynamic_batch:
        _reshape_to(ctx, _leading_copied(ctx.out_shapes[0], x, axis))
        return
    shape = _batch_free_shape(ctx, ctx.out_shapes[0], 0 if axis else None, None if axis else 0)
    ctx.op("Reshape", [ctx.x, shape], ctx.y)


def _reshape_batch_axes(
    rank: int, dims: Sequence[int], axis: int, num_axes: int
) -> tuple[int | None, int | None]:
    """Where ReshapeLayer puts the input's batch (axis 0) in the top, and the axis it
    infers (a -1 in ``dims``): the top is the input's axes before ``axis``, then ``dims``
    (0 copies the input's axis at its place), then the input's axes past the ``num_axes``
    replaced. None: the batch is in no axis of its own (or no axis is inferred)."""
    start = axis if axis >= 0 else rank + axis + 1
    end = rank if num_axes == -1 else start + num_axes
    infer_at = start + list(dims).index(-1) if -1 in dims else None
    if start > 0 or (dims and dims[0] == 0):
        return 0, infer_at
    if end == 0:
        return len(dims), infer_at
    return None, infer_at


@converts("Reshape")
def _reshape(ctx: LayerContext) -> None:
    """ReshapeLayer: the top's shape is known; the axes before ``axis`` are copied. With a
    free batch size, Caffe's 0 (copy) and -1 (infer) keep their meaning at run time."""
    p = ctx.param("reshape_param")
    x = ctx.shape()
    start = p.axis if p.axis >= 0 else len(x) + p.axis + 1
    if not ctx.dynamic_batch:
        _reshape_to(ctx, _leading_copied(ctx.out_shapes[0], x, start))
        return
    batch_at, infer_at = _reshape_batch_axes(len(x), list(p.shape.dim), p.axis, p.num_axes)
    shape = _batch_free_shape(ctx, ctx.out_shapes[0], batch_at, infer_at)
    ctx.op("Reshape", [ctx.x, shape], ctx.y)


@converts("Crop")
def _crop(ctx: LayerContext) -> None:
    """CropLayer: the axes from ``axis`` on take the reference's size from their offset
    (one offset for all, or one each); the axes before it are untouched."""
    p = ctx.param("crop_param")
    x, ref = ctx.shape(0), ctx.shape(1)
    axis = _axis(int(p.axis), len(x))
    offsets = list(p.offset)
    axes = list(range(axis, len(x)))
    starts = [0 if not offsets else offsets[0] if len(offsets) == 1 else offsets[j - axis]
              for j in axes]  # fmt: skip
    ends = [start + ref[j] for start, j in zip(starts, axes, strict=True)]
    bounds = [ctx.ints(starts, "starts"), ctx.ints(ends, "ends"), ctx.ints(axes, "axes")]
    ctx.op("Slice", [ctx.x, *bounds], ctx.y)


@converts("Permute")
def _permute(ctx: LayerContext) -> None:
    rank = len(ctx.shape())
    order = raw_ints(ctx.fork("permute_param"), "order", ctx.layer)
    full = order + [j for j in range(rank) if j not in order]
    ctx.op("Transpose", [ctx.x], ctx.y, perm=full)


@converts("ShuffleChannel")
def _shuffle_channel(ctx: LayerContext) -> None:
    """ShuffleNet's ShuffleChannelLayer: channels as (group, C/group), transposed."""
    group = raw_int(ctx.fork("shuffle_channel_param"), "group", 1, ctx.layer)
    x = ctx.shape()
    if len(x) != 4 or x[1] % group:
        raise ctx.refuse(f"{x[1]} channels do not split into {group} groups")
    split = ctx.op("Reshape", [ctx.x, ctx.ints([0, group, x[1] // group, x[2], x[3]], "split")])
    moved = ctx.op("Transpose", [split], perm=[0, 2, 1, 3, 4])
    ctx.op("Reshape", [moved, ctx.ints([0, x[1], x[2], x[3]], "shape")], ctx.y)


@converts("Softmax")
def _softmax(ctx: LayerContext) -> None:
    """SoftmaxLayer over ``axis`` alone (opset 13's Softmax; earlier opsets flatten)."""
    axis = _axis(int(ctx.param("softmax_param").axis), len(ctx.shape()))
    ctx.op("Softmax", [ctx.x], ctx.y, axis=axis)


@converts("ArgMax")
def _argmax(ctx: LayerContext) -> None:
    """ArgMaxLayer: the top_k indices (as floats) along ``axis``, or their values with
    out_max_val; without ``axis``, over each item's C x H x W values, indices then values
    (out_max_val) in an N x (1 or 2) x top_k blob. Ties go to the lower index here, while
    Caffe's sort gives the higher one."""
    p = ctx.param("argmax_param")
    x = ctx.shape()
    k = ctx.ints([int(p.top_k)], "k")
    if p.HasField("axis"):
        axis = _axis(int(p.axis), len(x))
        values, indices = ctx.op_n("TopK", [ctx.x, k], 2, axis=axis, largest=1, sorted=1)
        if p.out_max_val:
            ctx.op("Identity", [values], ctx.y)
        else:
            ctx.op("Cast", [indices], ctx.y, to=1)
        return
    flat = ctx.op("Flatten", [ctx.x], axis=1)
    values, indices = ctx.op_n("TopK", [flat, k], 2, axis=1, largest=1, sorted=1)
    as_float = ctx.op("Cast", [indices], to=1)
    parts = [as_float, values] if p.out_max_val else [as_float]
    joined = ctx.op("Concat", parts, axis=1) if len(parts) > 1 else as_float
    ctx.op("Reshape", [joined, ctx.dims(ctx.x, ctx.out_shapes[0], 1)], ctx.y)


# ---------------------------------------------------------------------------
# Resizing


@converts("Interp")
def _interp(ctx: LayerContext) -> None:
    """PSPNet/DeepLab InterpLayer: crop by the (non-positive) pad_beg/pad_end, then
    bilinear resizing with the corners aligned (caffe_cpu_interp2)."""
    p = interp_params(ctx.net, ctx.layer)
    x = ctx.shape()
    source = ctx.x
    if p.pad_beg or p.pad_end:
        starts = [-p.pad_beg, -p.pad_beg]
        ends = [x[2] + p.pad_end, x[3] + p.pad_end]
        source = ctx.op(
            "Slice", [source, ctx.ints(starts, "starts"), ctx.ints(ends, "ends"),
                      ctx.ints([2, 3], "axes")],
        )  # fmt: skip
    sizes = ctx.dims(ctx.x, ctx.out_shapes[0], 2)
    ctx.op(
        "Resize", [source, "", "", sizes], ctx.y, mode="linear",
        coordinate_transformation_mode="align_corners",
    )  # fmt: skip


@converts("Upsample")
def _upsample(ctx: LayerContext) -> None:
    """With a mask (SegNet's UpsampleLayer): every input value goes to the position its
    mask gives within its own (n, c) plane, the rest are 0. Without (darknet/YOLOv3's):
    nearest-neighbour by ``scale``."""
    out = ctx.out_shapes[0]
    if len(ctx.inputs) == 1:
        ctx.op(
            "Resize", [ctx.x, "", "", ctx.dims(ctx.x, out, 2)], ctx.y, mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )  # fmt: skip
        return
    upsample_params(ctx.net, ctx.layer)  # the shape rules checked it; read for errors
    x = ctx.shape()
    planes = ctx.ints([0, 0, -1], "planes")
    values = ctx.op("Reshape", [ctx.x, planes])
    mask = ctx.op("Reshape", [ctx.inputs[1], planes])
    indices = ctx.op("Cast", [mask], to=7)  # int64, truncated as static_cast<int>
    zeros = ctx.op(
        "ConstantOfShape", [ctx.dims(ctx.x, [x[0], x[1], out[2] * out[3]], 2)]
    )
    scattered = ctx.op("ScatterElements", [zeros, indices, values], axis=2)
    ctx.op("Reshape", [scattered, ctx.ints([0, 0, out[2], out[3]], "shape")], ctx.y)
