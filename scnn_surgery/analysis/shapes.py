"""Blob shapes, parameter counts and MACs of one phase of a net, as Caffe computes them.

Each layer type has one small rule in :data:`RULES` that maps its bottoms'
shapes to its tops' shapes with Caffe's own integer formulas. A shape is a
tuple whose entries may be ``None``: a dimension the file does not state (the
channels of a Data layer reading a database, say). A rule carries unknown
dimensions through, and a later layer that defines one (a Convolution's
``num_output``) makes it known again; unknown is never an error by itself.
A blob whose very rank is unknown has the shape ``None``.

A layer type without a rule stops inference there: its tops are unknown,
:attr:`ShapeResult.stopped` says which layer and suggests
``--shape BLOB=N,C,H,W``, and the layers that depend on it see ``None``.
Mismatches Caffe would refuse (Eltwise operands of different shapes, Concat
bottoms that disagree off the concat axis, a kernel larger than its padded
input, ...) are collected in :attr:`ShapeResult.errors`.
"""

from __future__ import annotations

import itertools
import math
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, TypeVar

from ..core.formats import V0_TYPE_TO_V1
from ..core.graph import BlobVersion, LayerGraph
from ..core.net import Layer, Net, param_names
from ..errors import SurgeryError
from ..schema import caffe_pb2
from .params import (
    bn_blob_count,
    conv_params,
    data_source,
    fork_param,
    inner_product_params,
    interp_params,
    layer_message,
    params_memo,
    pool_params,
    prior_box_params,
    raw_bool,
    raw_int,
    raw_ints,
    upsample_params,
)
from .placeholders import placeholder_reason

__all__ = [
    "COSTS",
    "RULES",
    "Cost",
    "MaybeShape",
    "RuleContext",
    "Shape",
    "ShapeError",
    "ShapeOverrides",
    "ShapeProblem",
    "ShapeResult",
    "StopInfo",
    "conv_output_size",
    "deconv_output_size",
    "format_shape",
    "infer_shapes",
    "pool_output_size",
    "rule_for",
]

T = TypeVar("T")

# Blob::Reshape: CHECK_LE(shape[i], INT_MAX / count_) << "blob size exceeds INT_MAX"
INT_MAX = 2**31 - 1

Shape = tuple[int | None, ...]
MaybeShape = Shape | None
ShapeOverrides = Mapping[str, Sequence[int | None]]
"""``--shape`` values by blob; ``None`` leaves a dimension as the file gives it."""


class ShapeError(Exception):
    """A rule found shapes Caffe would refuse; the message names the blobs involved."""


class _Unknown(Exception):
    """A rule needs a bottom whose rank is unknown: its tops are unknown too (no error)."""


class _NoShape(Exception):
    """A source layer whose shapes live outside the file (an HDF5 file, an unshaped Input)."""


def format_shape(shape: MaybeShape) -> str:
    """``1x3x224x224``, ``?`` for an unknown dimension (or shape), ``()`` for a scalar."""
    if shape is None:
        return "?"
    if not shape:
        return "()"
    return "x".join("?" if d is None else str(d) for d in shape)


# ---------------------------------------------------------------------------
# The context a rule sees


@dataclass
class RuleContext:
    net: Net
    layer: Layer
    bottoms: list[MaybeShape]

    @property
    def message(self) -> Any:
        """The layer parsed with the BVLC schema (see :func:`params.layer_message`)."""
        return layer_message(self.net, self.layer)

    def param(self, name: str) -> Any:
        """The layer's ``name`` message (``flatten_param``, say). A V0 or V1 layer has no
        such field for some types (V1's FLATTEN, V0's "flatten"): Caffe's upgrade leaves
        them the defaults, and so does this."""
        message = self.message
        if name in message.DESCRIPTOR.fields_by_name:
            return getattr(message, name)
        return getattr(caffe_pb2.LayerParameter(), name)

    def shape(self, index: int = 0) -> Shape:
        """Bottom ``index``'s shape; a rule that needs an unknown one yields unknown tops."""
        if index >= len(self.bottoms):
            raise ShapeError(f"needs a bottom #{index + 1}, but has {len(self.bottoms)}")
        shape = self.bottoms[index]
        if shape is None:
            raise _Unknown
        return shape

    def bottom_name(self, index: int) -> str:
        return self.layer.bottoms[index]

    @property
    def num_tops(self) -> int:
        return len(self.layer.tops)


Rule = Callable[[RuleContext], list[MaybeShape]]


# ---------------------------------------------------------------------------
# Arithmetic that carries unknown dimensions


def _prod(dims: Sequence[int | None]) -> int | None:
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total


def _canonical_axis(axis: int, rank: int, what: str = "axis") -> int:
    """Caffe's ``CanonicalAxisIndex``: a negative axis counts from the end."""
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for a {rank}-axis blob")
    return axis + rank if axis < 0 else axis


def _positive_dims(shape: Shape, what: str, checked_by: str | None = None) -> Shape:
    """``shape``, or what Caffe does with a size that is not positive. Blob::Reshape aborts
    on a negative size but takes a 0 (an empty blob), and Convolution and Pooling do not
    check theirs: such a net sets up and computes nothing, an error all the same.
    ``checked_by`` says how a layer's own check refuses a 0 too (Interp's)."""
    if not any(d is not None and d <= 0 for d in shape):
        return shape
    text = f"{what} would be {format_shape(shape)}"
    if checked_by is not None:
        raise ShapeError(f"{text}, which Caffe refuses: {checked_by}")
    if any(d is not None and d < 0 for d in shape):
        raise ShapeError(
            f"{text}, which Caffe aborts on: Blob::Reshape checks that every size is at least 0"
        )
    raise ShapeError(
        f"{text}, an empty blob: Caffe sets it up (Blob::Reshape takes a size of 0) but"
        " computes no value in it, nor in anything computed from it"
    )


def c_int_div(a: int, b: int) -> int:
    """``a / b`` as C++ divides ints: truncated toward zero, where Python's ``//`` floors
    (``-1 / 2`` is 0 in Caffe, ``-1 // 2`` is -1)."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def conv_output_size(
    size: int | None, kernel: int, pad: int, stride: int, dilation: int
) -> int | None:
    """``(in + 2*pad - (dilation*(kernel-1)+1)) / stride + 1`` (BaseConvolutionLayer), in
    C++ int division: a 3x3 stride-2 convolution of a 2x2 map gives 1x1."""
    if size is None:
        return None
    extent = dilation * (kernel - 1) + 1
    return c_int_div(size + 2 * pad - extent, stride) + 1


def deconv_output_size(
    size: int | None, kernel: int, pad: int, stride: int, dilation: int
) -> int | None:
    """``stride*(in-1) + dilation*(kernel-1)+1 - 2*pad`` (DeconvolutionLayer)."""
    if size is None:
        return None
    extent = dilation * (kernel - 1) + 1
    return stride * (size - 1) + extent - 2 * pad


def pool_output_size(
    size: int | None, kernel: int, pad: int, stride: int, ceil: bool, padded: bool | None = None
) -> int | None:
    """PoolingLayer::Reshape: CEIL (default) or FLOOR rounding, then the padding correction
    that keeps the last window starting inside the image (or its left padding).

    Caffe applies the correction to both axes when either has padding (``pad_h || pad_w``);
    ``padded`` says so for the layer (default: this axis has padding).
    """
    if size is None:
        return None
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil else span // stride) + 1
    if (bool(pad) if padded is None else padded) and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# ---------------------------------------------------------------------------
# Source layers


def _input_rule(ctx: RuleContext) -> list[MaybeShape]:
    shapes = [tuple(int(d) for d in s.dim) for s in ctx.param("input_param").shape]
    if not shapes:
        raise _NoShape("its input_param states no shape")
    if len(shapes) not in (1, ctx.num_tops):
        raise ShapeError(f"has {len(shapes)} shapes for {ctx.num_tops} tops")
    return [shapes[0] if len(shapes) == 1 else shapes[i] for i in range(ctx.num_tops)]


def _dummy_data_rule(ctx: RuleContext) -> list[MaybeShape]:
    p = ctx.param("dummy_data_param")
    n = ctx.num_tops
    if len(p.shape):
        shapes = [tuple(int(d) for d in s.dim) for s in p.shape]
        if len(shapes) not in (1, n):
            raise ShapeError(f"has {len(shapes)} shapes for {n} tops")
        return [shapes[0] if len(shapes) == 1 else shapes[i] for i in range(n)]
    legacy = [list(p.num), list(p.channels), list(p.height), list(p.width)]
    if not any(legacy):
        raise _NoShape("its dummy_data_param states no shape")
    out: list[MaybeShape] = []
    for i in range(n):
        dims: list[int | None] = []
        for values in legacy:
            if len(values) not in (1, n):
                raise ShapeError(f"legacy dims need 1 or {n} values, not {len(values)}")
            dims.append(values[0] if len(values) == 1 else values[i])
        out.append(tuple(dims))
    return out


def _data_rule(ctx: RuleContext) -> list[MaybeShape]:
    """Data, ImageData, WindowData, MemoryData: images, then a label per image."""
    src = data_source(ctx.net, ctx.layer)
    out: list[MaybeShape] = [(src.batch, src.channels, src.height, src.width)]
    if ctx.num_tops > 1:
        out.append((src.batch,))
    return out + [None] * (ctx.num_tops - len(out))


def _annotated_data_rule(ctx: RuleContext) -> list[MaybeShape]:
    """SSD's AnnotatedData: images as the file states them; its label's box count varies."""
    src = data_source(ctx.net, ctx.layer)
    out: list[MaybeShape] = [(src.batch, src.channels, src.height, src.width)]
    return out + [None] * (ctx.num_tops - 1)


def _dense_data_rule(ctx: RuleContext) -> list[MaybeShape]:
    """DenseImageData (SegNet) and ImageSegData (DeepLab): a label map per image."""
    src = data_source(ctx.net, ctx.layer)
    out: list[MaybeShape] = [(src.batch, src.channels, src.height, src.width)]
    if ctx.num_tops > 1:
        out.append((src.batch, 1, src.height, src.width))
    if ctx.num_tops > 2 and ctx.layer.type == "ImageSegData":
        out.append((src.batch, 1, 1, 2))  # each image's (height, width) before cropping
    return out + [None] * (ctx.num_tops - len(out))


def _hdf5_rule(ctx: RuleContext) -> list[MaybeShape]:
    raise _NoShape("its shapes come from the HDF5 files it reads")


# ---------------------------------------------------------------------------
# Convolutions


def _conv_like(ctx: RuleContext, deconv: bool, depthwise: bool) -> list[MaybeShape]:
    p = conv_params(ctx.net, ctx.layer)
    if p.num_output is None:
        raise ShapeError("convolution_param gives no num_output")
    problem = p.refusal()  # Caffe refuses these before it reads the input's shape
    if problem is not None:
        raise ShapeError(problem)
    out: list[MaybeShape] = []
    for i in range(len(ctx.bottoms)):
        x = ctx.shape(i)
        axis = _canonical_axis(p.axis, len(x))
        channels = x[axis]
        try:
            kernel, pad, stride, dilation = p.geometry(len(x) - axis - 1)
            group = p.groups(channels, depthwise)
        except ValueError as exc:
            raise ShapeError(str(exc)) from None
        if group is not None:
            if channels is not None and channels % group:
                raise ShapeError(f"{channels} input channels do not divide into {group} groups")
            if p.num_output % group:
                raise ShapeError(f"num_output {p.num_output} does not divide into {group} groups")
        size_of = deconv_output_size if deconv else conv_output_size
        spatial = tuple(
            size_of(x[axis + 1 + j], kernel[j], pad[j], stride[j], dilation[j])
            for j in range(len(kernel))
        )
        out.append(_positive_dims((*x[:axis], p.num_output, *spatial), "the output"))
    return out


def _conv_rule(ctx: RuleContext) -> list[MaybeShape]:
    return _conv_like(ctx, deconv=False, depthwise=False)


def _depthwise_rule(ctx: RuleContext) -> list[MaybeShape]:
    return _conv_like(ctx, deconv=False, depthwise=True)


def _deconv_rule(ctx: RuleContext) -> list[MaybeShape]:
    return _conv_like(ctx, deconv=True, depthwise=False)


# ---------------------------------------------------------------------------
# Pooling and friends


def _four_axes(x: Shape, what: str = "input") -> Shape:
    if len(x) != 4:
        raise ShapeError(f"needs a 4-axis {what} (N, C, H, W), got {format_shape(x)}")
    return x


def _pooling_rule(ctx: RuleContext) -> list[MaybeShape]:
    p = pool_params(ctx.net, ctx.layer)
    problem = p.refusal()  # Caffe refuses these before it reads the input's shape
    if problem is not None:
        raise ShapeError(problem)
    x = _four_axes(ctx.shape(0))
    if p.global_pooling:
        out: Shape = (x[0], x[1], 1, 1)
    else:
        assert p.kernel is not None  # refused when not given
        padded = any(p.pad)
        sizes = [
            pool_output_size(x[2 + j], p.kernel[j], p.pad[j], p.stride[j], p.ceil, padded)
            for j in range(2)
        ]
        out = _positive_dims((x[0], x[1], *sizes), "the output")
    return [out] * ctx.num_tops  # a second top (MAX's argmax mask) has the same shape


def _roi_pooling_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = _four_axes(ctx.shape(0), "feature map")
    p = fork_param(ctx.layer, "roi_pooling_param")
    pooled_h = raw_int(p, "pooled_h", 0, ctx.layer)
    pooled_w = raw_int(p, "pooled_w", 0, ctx.layer)
    if pooled_h <= 0 or pooled_w <= 0:
        raise ShapeError("roi_pooling_param needs positive pooled_h and pooled_w")
    rois = ctx.bottoms[1] if len(ctx.bottoms) > 1 else None
    # The number of ROIs is a runtime value when a proposal layer produces them.
    num_rois = rois[0] if rois else None
    return [(num_rois, x[1], pooled_h, pooled_w)]


# ---------------------------------------------------------------------------
# Fully connected


def _inner_product_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    p = inner_product_params(ctx.net, ctx.layer)
    if p.num_output is None:
        raise ShapeError("inner_product_param gives no num_output")
    axis = _canonical_axis(p.axis, len(x))
    return [(*x[:axis], p.num_output)]


def _embed_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    return [(*x, ctx.param("embed_param").num_output)]


# ---------------------------------------------------------------------------
# Shape-preserving and blob-plumbing layers


def _same_rule(ctx: RuleContext) -> list[MaybeShape]:
    """Every top has bottom 0's shape (elementwise layers, Split, normalisations)."""
    x = ctx.bottoms[0] if ctx.bottoms else None
    return [x] * ctx.num_tops


def _scale_rule(ctx: RuleContext) -> list[MaybeShape]:
    """Scale and Bias: bottom 0's shape; a second bottom (the factors) must equal bottom 0's
    axes from ``axis`` on (``ScaleLayer::Reshape``; a scalar goes anywhere)."""
    if len(ctx.bottoms) < 2:
        return _same_rule(ctx)
    x, factors = ctx.shape(0), ctx.shape(1)
    param = ctx.param("scale_param" if ctx.layer.type == "Scale" else "bias_param")
    axis = 0 if not factors else _canonical_axis(param.axis, len(x))
    span = x[axis : axis + len(factors)]
    if len(span) < len(factors) or any(
        a is not None and b is not None and a != b for a, b in zip(span, factors, strict=False)
    ):
        raise ShapeError(
            f"bottom '{ctx.bottom_name(1)}' {format_shape(factors)} must equal bottom"
            f" '{ctx.bottom_name(0)}' {format_shape(x)} from axis {axis} on"
        )
    return [x] * ctx.num_tops


def _no_tops_rule(ctx: RuleContext) -> list[MaybeShape]:
    return [None] * ctx.num_tops


def _agree(shapes: Sequence[Shape]) -> Shape | None:
    """The common shape of shapes that must be equal, unknown dimensions filled in from the
    others; None when two known dimensions (or the ranks) differ."""
    merged = list(shapes[0])
    for shape in shapes[1:]:
        if len(shape) != len(merged):
            return None
        for j, d in enumerate(shape):
            if d is not None and merged[j] is not None and merged[j] != d:
                return None
            merged[j] = d if d is not None else merged[j]
    return tuple(merged)


def _listing(names: Sequence[str], shapes: Sequence[Shape]) -> str:
    return ", ".join(f"'{n}' {format_shape(s)}" for n, s in zip(names, shapes, strict=False))


def _eltwise_rule(ctx: RuleContext) -> list[MaybeShape]:
    shapes = [ctx.shape(i) for i in range(len(ctx.bottoms))]
    if not shapes:
        raise ShapeError("has no bottoms")
    merged = _agree(shapes)
    if merged is None:
        raise ShapeError(f"bottoms differ in shape: {_listing(ctx.layer.bottoms, shapes)}")
    return [merged]


def _concat_axis(ctx: RuleContext) -> int:
    if ctx.layer.format == "v0":
        return int(ctx.message.concat_dim)
    p = ctx.param("concat_param")
    return int(p.concat_dim) if p.HasField("concat_dim") else int(p.axis)


def _concat_rule(ctx: RuleContext) -> list[MaybeShape]:
    return [concat_shapes(ctx, _concat_axis(ctx))]


def concat_shapes(ctx: RuleContext, concat_axis: int) -> Shape:
    """The layer's bottoms joined along ``concat_axis`` (they must agree off it)."""
    shapes = [ctx.shape(i) for i in range(len(ctx.bottoms))]
    if not shapes:
        raise ShapeError("has no bottoms")
    axis = _canonical_axis(concat_axis, len(shapes[0]))
    merged = _agree([(*s[:axis], 0, *s[axis + 1 :]) for s in shapes])
    if merged is None:
        listing = _listing(ctx.layer.bottoms, shapes)
        raise ShapeError(f"bottoms disagree off concat axis {axis}: {listing}")
    sizes = [s[axis] for s in shapes]
    total = None if None in sizes else sum(d for d in sizes if d is not None)
    return (*merged[:axis], total, *merged[axis + 1 :])


def _slice_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    p = ctx.param("slice_param")
    axis = _canonical_axis(int(p.slice_dim) if p.HasField("slice_dim") else int(p.axis), len(x))
    points = list(p.slice_point)
    n = ctx.num_tops
    if not n:
        raise ShapeError("needs at least one top")
    size = x[axis]
    sizes: list[int | None]
    if points:
        if len(points) != n - 1:
            raise ShapeError(f"{len(points)} slice_points for {n} tops (needs {n - 1})")
        bounds: list[int | None] = [0, *points, size]
        sizes = [
            None if hi is None or lo is None else hi - lo for lo, hi in itertools.pairwise(bounds)
        ]
        if any(s is not None and s < 0 for s in sizes):
            raise ShapeError(
                f"slice_points {points} do not fit axis {axis} of size {_format_dim(size)}"
            )
    elif size is None:
        sizes = [None] * n
    else:
        if size % n:
            raise ShapeError(f"axis {axis} of size {size} does not split evenly into {n} tops")
        sizes = [size // n] * n
    return [(*x[:axis], s, *x[axis + 1 :]) for s in sizes]


def _format_dim(d: int | None) -> str:
    return "?" if d is None else str(d)


def _crop_rule(ctx: RuleContext) -> list[MaybeShape]:
    x, ref = ctx.shape(0), ctx.shape(1)
    if len(x) != len(ref):
        raise ShapeError(
            f"'{ctx.bottom_name(0)}' is {format_shape(x)} but the reference "
            f"'{ctx.bottom_name(1)}' is {format_shape(ref)}"
        )
    p = ctx.param("crop_param")
    axis = _canonical_axis(int(p.axis), len(x))
    offsets = list(p.offset)
    cropped = len(x) - axis
    if len(offsets) > 1 and len(offsets) != cropped:
        raise ShapeError(f"{len(offsets)} offsets for {cropped} cropped axes")
    out = list(x)
    for j in range(axis, len(x)):
        offset = 0 if not offsets else offsets[0] if len(offsets) == 1 else offsets[j - axis]
        want, have = ref[j], x[j]
        if want is not None and have is not None and have < want + offset:
            raise ShapeError(
                f"cannot crop axis {j} of '{ctx.bottom_name(0)}' ({have}) to {want} at "
                f"offset {offset}"
            )
        out[j] = want
    return [tuple(out)]


def _reshape_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    p = ctx.param("reshape_param")
    dims = [int(d) for d in p.shape.dim]
    start = p.axis if p.axis >= 0 else len(x) + p.axis + 1
    if not 0 <= start <= len(x):
        raise ShapeError(f"axis {p.axis} is out of range for a {len(x)}-axis blob")
    end = len(x) if p.num_axes == -1 else start + p.num_axes
    if p.num_axes < -1 or end > len(x):
        raise ShapeError(f"num_axes {p.num_axes} is out of range from axis {start}")
    if dims.count(-1) > 1:
        raise ShapeError("more than one -1 in reshape_param.shape")
    new: list[int | None] = []
    for j, d in enumerate(dims):
        if d == 0:
            if start + j >= len(x):
                raise ShapeError(f"dim {j} copies axis {start + j}, which the bottom lacks")
            new.append(x[start + j])
        elif d == -1:
            new.append(-1)
        elif d < -1:
            raise ShapeError(f"invalid dim {d}")
        else:
            new.append(d)
    out = [*x[:start], *new, *x[end:]]
    count = _prod(x)
    if -1 in out:
        at = out.index(-1)
        rest = _prod([d for j, d in enumerate(out) if j != at])
        if count is not None and rest is not None:
            if rest == 0 or count % rest:
                raise ShapeError(f"cannot infer the -1 of {dims}: {count} is not divisible")
            out[at] = count // rest
        else:
            out[at] = None
    total = _prod(out)
    if count is not None and total is not None and total != count:
        raise ShapeError(f"{format_shape(x)} has {count} values but {dims} would hold {total}")
    return [tuple(out)]


def _flatten_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    p = ctx.param("flatten_param")
    start = _canonical_axis(int(p.axis), len(x))
    end = _canonical_axis(int(p.end_axis), len(x), "end_axis")
    return [(*x[:start], _prod(x[start : end + 1]), *x[end + 1 :])]


def _tile_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    p = ctx.param("tile_param")
    axis = _canonical_axis(int(p.axis), len(x))
    size = x[axis]
    return [(*x[:axis], None if size is None else size * p.tiles, *x[axis + 1 :])]


def _reduction_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    axis = _canonical_axis(int(ctx.param("reduction_param").axis), len(x))
    return [x[:axis]]


def _argmax_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    p = ctx.param("argmax_param")
    if p.HasField("axis"):
        axis = _canonical_axis(int(p.axis), len(x))
        return [(*x[:axis], p.top_k, *x[axis + 1 :])]
    if not x:
        raise ShapeError("needs a bottom with at least one axis")
    shape: list[int | None] = [1] * max(len(x), 3)
    shape[0] = x[0]
    shape[1] = 2 if p.out_max_val else 1
    shape[2] = p.top_k
    return [tuple(shape)]


def _permute_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    order = raw_ints(fork_param(ctx.layer, "permute_param"), "order", ctx.layer)
    if len(set(order)) != len(order) or any(not 0 <= o < len(x) for o in order):
        raise ShapeError(f"order {order} is not a permutation of {len(x)} axes")
    # PermuteLayer appends the axes the order leaves out, in their original order.
    full = order + [j for j in range(len(x)) if j not in order]
    return [tuple(x[j] for j in full)]


# ---------------------------------------------------------------------------
# Losses and metrics


def _loss_rule(ctx: RuleContext) -> list[MaybeShape]:
    """A loss is a scalar; other tops of a fork's loss are unknown."""
    out: list[MaybeShape] = [()]
    return out + [None] * (ctx.num_tops - 1)


def _softmax_loss_rule(ctx: RuleContext) -> list[MaybeShape]:
    """SoftmaxWithLossLayer::Reshape: after LossLayer's check of the first axis, one label
    per prediction, i.e. per position outside the softmax axis."""
    if len(ctx.bottoms) > 1 and ctx.bottoms[0] is not None and ctx.bottoms[1] is not None:
        _check_label_count(ctx, ctx.bottoms[0], ctx.bottoms[1])
    out: list[MaybeShape] = [()]
    if ctx.num_tops > 1:
        out.append(ctx.bottoms[0] if ctx.bottoms else None)  # the softmax probabilities
    return out


def _check_label_count(ctx: RuleContext, x: Shape, label: Shape) -> None:
    name = ctx.bottom_name(1)
    if x and label and None not in (x[0], label[0]) and x[0] != label[0]:
        raise ShapeError(
            f"the predictions {format_shape(x)} and the label '{name}' {format_shape(label)}"
            " differ in their first axis (Caffe's LossLayer needs them equal)"
        )
    axis = _canonical_axis(int(ctx.param("softmax_param").axis), len(x), "softmax axis")
    needed, count = _prod([*x[:axis], *x[axis + 1 :]]), _prod(label)
    if needed is not None and count is not None and needed != count:
        raise ShapeError(
            f"the label '{name}' {format_shape(label)} holds {count} labels, but the"
            f" predictions {format_shape(x)} need {needed}, one per position outside softmax"
            f" axis {axis} (Caffe checks the counts are equal)"
        )


def _accuracy_rule(ctx: RuleContext) -> list[MaybeShape]:
    out: list[MaybeShape] = [()]
    x = ctx.bottoms[0] if ctx.bottoms else None
    if ctx.num_tops > 1:
        if x is None:
            out.append(None)
        else:
            axis = _canonical_axis(int(ctx.param("accuracy_param").axis), len(x))
            out.append((x[axis],))  # per-class accuracy
    return out


# ---------------------------------------------------------------------------
# Fork layers


def _interp_rule(ctx: RuleContext) -> list[MaybeShape]:
    """PSPNet/DeepLab InterpLayer::Reshape, with its branches in Caffe's order."""
    x = _four_axes(ctx.shape(0))
    p = interp_params(ctx.net, ctx.layer)
    if p.pad_beg > 0 or p.pad_end > 0:
        raise ShapeError("interp_param supports only non-positive pad_beg/pad_end (cropping)")
    shrink, zoom = p.shrink_factor, p.zoom_factor
    if (shrink is not None and shrink < 1) or (zoom is not None and zoom < 1):
        raise ShapeError("shrink_factor and zoom_factor must be at least 1")

    def resize(d: int | None) -> int | None:
        if d is None:
            return None
        out = d + p.pad_beg + p.pad_end
        if shrink is not None:
            out = c_int_div(out - 1, shrink) + 1  # C++ int division, as InterpLayer
        if zoom is not None:
            out = out + (out - 1) * (zoom - 1)
        return out

    explicit = p.height is not None and p.width is not None
    one_factor = (shrink is None) != (zoom is None)
    # A single factor wins over height/width, which win over shrink-then-zoom.
    if one_factor or (shrink is not None and not explicit):
        h, w = resize(x[2]), resize(x[3])
    elif explicit:
        h, w = p.height, p.width
    elif len(ctx.bottoms) > 1:
        ref = _four_axes(ctx.shape(1), "reference")
        h, w = ref[2], ref[3]
    else:
        raise ShapeError("interp_param gives no output size and there is no 2nd bottom")
    checked = "InterpLayer checks that its output height and width are positive"
    return [_positive_dims((x[0], x[1], h, w), "the output", checked)]


def _upsample_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = _four_axes(ctx.shape(0)) if len(ctx.bottoms) > 1 else ctx.shape(0)
    p = upsample_params(ctx.net, ctx.layer)
    if len(ctx.bottoms) == 1:
        # MobileNet-YOLO / darknet: nearest-neighbour by `scale` (default 1) on the last 2 axes.
        scale = p.scale if p.scale is not None else 1
        if len(x) < 2:
            raise ShapeError(f"needs at least 2 axes, got {format_shape(x)}")
        h, w = x[-2], x[-1]
        return [(*x[:-2], _times(h, scale), _times(w, scale))]
    # SegNet/ENet: unpooling with the argmax mask of the matching pooling layer.
    mask = ctx.bottoms[1]
    if mask is not None and _agree([x, mask]) is None:
        raise ShapeError(f"data and mask differ: {_listing(ctx.layer.bottoms, [x, mask])}")
    if p.upsample_h is not None and p.upsample_w is not None:
        return [(x[0], x[1], p.upsample_h, p.upsample_w)]
    if p.scale_h is not None and p.scale_w is not None and p.scale is None:
        scale_h, scale_w = p.scale_h, p.scale_w
    else:
        scale_h = scale_w = p.scale if p.scale is not None else 2
    if (p.pad_out_h and scale_h != 2) or (p.pad_out_w and scale_w != 2):
        raise ShapeError("pad_out_h/pad_out_w need scale 2")
    h = None if x[2] is None else x[2] * scale_h - int(p.pad_out_h)
    w = None if x[3] is None else x[3] * scale_w - int(p.pad_out_w)
    return [(x[0], x[1], h, w)]


def _times(d: int | None, k: int) -> int | None:
    return None if d is None else d * k


def _tiling_rule(ctx: RuleContext) -> list[MaybeShape]:
    """VPGNet's Tiling: channels fold into tile_dim x tile_dim spatial blocks."""
    x = _four_axes(ctx.shape(0))
    tile = raw_int(fork_param(ctx.layer, "tiling_param"), "tile_dim", 0, ctx.layer)
    if tile <= 0:
        raise ShapeError("tiling_param needs a positive tile_dim")
    c = x[1]
    if c is not None and c % (tile * tile):
        raise ShapeError(f"{c} channels are not a multiple of tile_dim^2 = {tile * tile}")
    channels = None if c is None else c // (tile * tile)
    return [(x[0], channels, _times(x[2], tile), _times(x[3], tile))]


def _prior_box_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = _four_axes(ctx.shape(0), "feature map")
    p = prior_box_params(ctx.net, ctx.layer)
    if not p.min_sizes:
        raise ShapeError("prior_box_param needs a min_size")
    if p.max_sizes and len(p.max_sizes) != len(p.min_sizes):
        raise ShapeError("prior_box_param needs as many max_size as min_size")
    cells = _prod([x[2], x[3]])
    # One row of box corners and one of variances, shared by every image of the batch.
    return [(1, 2, None if cells is None else cells * p.num_priors * 4)]


def _detections_rule(ctx: RuleContext) -> list[MaybeShape]:
    """DetectionOutput / Yolov3DetectionOutput: 1 x 1 x (kept boxes) x 7; the count is runtime."""
    return [(1, 1, None, 7)] + [None] * (ctx.num_tops - 1)


# ---------------------------------------------------------------------------
# The registry

_SAME_SHAPE = (
    *("AbsVal", "BatchNorm", "BN", "BNLL", "Clip", "Dropout", "ELU", "Exp"),
    *("HardSigmoid", "Log", "LRN", "Mish", "MVN", "Normalize", "Power", "PReLU", "ReLU"),
    *("ReLU6", "Sigmoid", "Softmax", "Split", "Swish", "TanH", "Threshold"),
    "ShuffleChannel",
)


def _axpy_rule(ctx: RuleContext) -> list[MaybeShape]:
    """SENet's Axpy: a * x + y has the shape of x (its second bottom)."""
    return [ctx.bottoms[1] if len(ctx.bottoms) > 1 else None]


RULES: dict[str, Rule] = {
    **dict.fromkeys(_SAME_SHAPE, _same_rule),
    "Scale": _scale_rule,
    "Bias": _scale_rule,
    "Input": _input_rule,
    "DummyData": _dummy_data_rule,
    "Data": _data_rule,
    "ImageData": _data_rule,
    "WindowData": _data_rule,
    "MemoryData": _data_rule,
    "AnnotatedData": _annotated_data_rule,
    "DenseImageData": _dense_data_rule,
    "ImageSegData": _dense_data_rule,
    "HDF5Data": _hdf5_rule,
    "Convolution": _conv_rule,
    "DepthwiseConvolution": _depthwise_rule,
    "ConvolutionDepthwise": _depthwise_rule,
    "Deconvolution": _deconv_rule,
    "Pooling": _pooling_rule,
    "ROIPooling": _roi_pooling_rule,
    "InnerProduct": _inner_product_rule,
    "Embed": _embed_rule,
    "Eltwise": _eltwise_rule,
    "Concat": _concat_rule,
    "Slice": _slice_rule,
    "Crop": _crop_rule,
    "Reshape": _reshape_rule,
    "Flatten": _flatten_rule,
    "Tile": _tile_rule,
    "Reduction": _reduction_rule,
    "ArgMax": _argmax_rule,
    "Permute": _permute_rule,
    "Silence": _no_tops_rule,
    "HDF5Output": _no_tops_rule,
    "Accuracy": _accuracy_rule,
    "SoftmaxWithLoss": _softmax_loss_rule,
    "Interp": _interp_rule,
    "Upsample": _upsample_rule,
    "Tiling": _tiling_rule,
    "Axpy": _axpy_rule,
    "PriorBox": _prior_box_rule,
    "DetectionOutput": _detections_rule,
    "Yolov3DetectionOutput": _detections_rule,
}


# ---------------------------------------------------------------------------
# The user's rules (--shape-rule)


def _user_concat(axis: int) -> Rule:
    def rule(ctx: RuleContext) -> list[MaybeShape]:
        return [concat_shapes(ctx, axis)] * ctx.num_tops

    return rule


def _user_same(index: int) -> Rule:
    def rule(ctx: RuleContext) -> list[MaybeShape]:
        return [ctx.shape(index)] * ctx.num_tops

    return rule


def _user_flatten(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    if not x:
        raise ShapeError("flatten needs a bottom with at least one axis")
    return [(x[0], _prod(x[1:]))] * ctx.num_tops


def _user_dims(dims: tuple[int | None, ...]) -> Rule:
    def rule(ctx: RuleContext) -> list[MaybeShape]:
        if None in dims:
            x = ctx.shape(0)
            if len(x) < len(dims):
                raise ShapeError(
                    f"the rule {_dims_text(dims)} takes dimensions from bottom 0, which is"
                    f" {format_shape(x)}"
                )
            shape: Shape = tuple(x[i] if d is None else d for i, d in enumerate(dims))
        else:
            shape = dims
        return [shape] * ctx.num_tops

    return rule


def _dims_text(dims: Sequence[int | None]) -> str:
    return ",".join("?" if d is None else str(d) for d in dims)


@cache
def user_rule(text: str) -> Rule:
    """The rule ``text`` (a canonical RULE of ``--shape-rule``) stands for."""
    name, _, arg = text.partition(":")
    if name == "same":
        return _user_same(int(arg) if arg else 0)
    if name == "concat":
        return _user_concat(int(arg))
    if name == "flatten":
        return _user_flatten
    return _user_dims(tuple(None if d == "?" else int(d) for d in text.split(",")))


def rule_of(net: Net, layer_type: str) -> Rule | None:
    """The rule that sizes a layer of ``layer_type`` in ``net``: the user's --shape-rule
    for the type, else the registered one."""
    user = net.shape_rules.get(layer_type) if net.shape_rules else None
    return user_rule(user) if user is not None else rule_for(layer_type)


def rule_for(layer_type: str) -> Rule | None:
    """The registered rule; any other ``*Loss`` type is taken to output a scalar loss."""
    rule = RULES.get(layer_type)
    if rule is None and layer_type.endswith("Loss"):
        return _loss_rule
    return rule


# ---------------------------------------------------------------------------
# Parameter counts and MACs


@dataclass(frozen=True)
class Cost:
    """A layer's parameter blobs (their sizes, in Caffe's blob order) and its multiply-
    accumulates per forward pass; None where the file does not state enough to tell."""

    blobs: tuple[int, ...] | None
    macs: int | None

    @property
    def params(self) -> int | None:
        return None if self.blobs is None else sum(self.blobs)


CostRule = Callable[[RuleContext, list[MaybeShape]], Cost]

_FREE = Cost((), 0)
_UNKNOWN = Cost(None, None)


def _conv_cost(ctx: RuleContext, tops: list[MaybeShape]) -> Cost:
    p = conv_params(ctx.net, ctx.layer)
    x, y = (ctx.bottoms[0] if ctx.bottoms else None), (tops[0] if tops else None)
    if x is None or y is None or p.num_output is None:
        return _UNKNOWN
    axis = _canonical_axis(p.axis, len(x))
    kernel = p.geometry(len(x) - axis - 1)[0]
    channels = x[axis]
    depthwise = ctx.layer.type in ("DepthwiseConvolution", "ConvolutionDepthwise")
    group = p.groups(channels, depthwise)  # a ValueError: cost() reports it unknown
    if channels is None or group is None:
        return _UNKNOWN
    taps = math.prod(kernel)
    deconv = ctx.layer.type == "Deconvolution"
    # Caffe's weight blob: (num_output, C/group, k...) for convolution,
    # (C, num_output/group, k...) for deconvolution.
    per_output = (p.num_output // group if deconv else channels // group) * taps
    weights = (channels if deconv else p.num_output) * per_output
    blobs = (weights, p.num_output) if p.bias_term else (weights,)
    total = 0
    for b, t in zip(ctx.bottoms, tops, strict=False):
        count = _prod(b if deconv else t) if b is not None and t is not None else None
        if count is None:
            return Cost(blobs, None)
        total += count * per_output
    return Cost(blobs, total)


def _inner_product_cost(ctx: RuleContext, tops: list[MaybeShape]) -> Cost:
    p = inner_product_params(ctx.net, ctx.layer)
    x = ctx.bottoms[0] if ctx.bottoms else None
    if x is None or p.num_output is None:
        return _UNKNOWN
    axis = _canonical_axis(p.axis, len(x))
    fan_in, rows = _prod(x[axis:]), _prod(x[:axis])
    if fan_in is None:
        return _UNKNOWN
    weights = fan_in * p.num_output
    blobs = (weights, p.num_output) if p.bias_term else (weights,)
    return Cost(blobs, None if rows is None else rows * weights)


BlobRule = Callable[[RuleContext, Shape], tuple[int, ...] | None]


def _elementwise_cost(blob_sizes: BlobRule) -> CostRule:
    """A layer with per-channel (or shared) blobs and one multiply-add per output value."""

    def cost(ctx: RuleContext, tops: list[MaybeShape]) -> Cost:
        x = ctx.bottoms[0] if ctx.bottoms else None
        if x is None:
            return _UNKNOWN
        y = tops[0] if tops else None
        return Cost(blob_sizes(ctx, x), _prod(y) if y is not None else None)

    return cost


def _channel_blobs(x: Shape, count: int) -> tuple[int, ...] | None:
    c = x[1] if len(x) > 1 else None
    return None if c is None else (c,) * count


def _batch_norm_blobs(ctx: RuleContext, x: Shape) -> tuple[int, ...] | None:
    stats = _channel_blobs(x, 2)  # running mean and variance
    return None if stats is None else (*stats, 1)  # and the moving-average factor


def _bn_blobs(ctx: RuleContext, x: Shape) -> tuple[int, ...] | None:
    return _channel_blobs(x, bn_blob_count(ctx.layer))


def _prelu_blobs(ctx: RuleContext, x: Shape) -> tuple[int, ...] | None:
    return (1,) if ctx.param("prelu_param").channel_shared else _channel_blobs(x, 1)


def _normalize_blobs(ctx: RuleContext, x: Shape) -> tuple[int, ...] | None:
    shared = raw_bool(fork_param(ctx.layer, "norm_param"), "channel_shared", True)
    return (1,) if shared else _channel_blobs(x, 1)


def _axis_span(x: Shape, axis: int, num_axes: int) -> int | None:
    start = _canonical_axis(axis, len(x))
    end = len(x) if num_axes == -1 else start + num_axes
    return _prod(x[start:end])


def _scale_blobs(ctx: RuleContext, x: Shape) -> tuple[int, ...] | None:
    p = ctx.param("scale_param")
    if len(ctx.bottoms) > 1:
        # The scale comes from bottom 1; only the optional bias is a parameter.
        other = ctx.bottoms[1]
        if not p.bias_term:
            return ()
        size = None if other is None else _prod(other)
        return None if size is None else (size,)
    span = _axis_span(x, int(p.axis), int(p.num_axes))
    return None if span is None else (span, span) if p.bias_term else (span,)


def _bias_blobs(ctx: RuleContext, x: Shape) -> tuple[int, ...] | None:
    if len(ctx.bottoms) > 1:
        return ()
    p = ctx.param("bias_param")
    span = _axis_span(x, int(p.axis), int(p.num_axes))
    return None if span is None else (span,)


def _embed_cost(ctx: RuleContext, tops: list[MaybeShape]) -> Cost:
    p = ctx.param("embed_param")
    weights = p.input_dim * p.num_output
    return Cost((weights, p.num_output) if p.bias_term else (weights,), 0)


COSTS: dict[str, CostRule] = {
    "Convolution": _conv_cost,
    "DepthwiseConvolution": _conv_cost,
    "ConvolutionDepthwise": _conv_cost,
    "Deconvolution": _conv_cost,
    "InnerProduct": _inner_product_cost,
    "BatchNorm": _elementwise_cost(_batch_norm_blobs),
    "BN": _elementwise_cost(_bn_blobs),
    "Scale": _elementwise_cost(_scale_blobs),
    "Bias": _elementwise_cost(_bias_blobs),
    "PReLU": _elementwise_cost(_prelu_blobs),
    "Normalize": _elementwise_cost(_normalize_blobs),
    "Embed": _embed_cost,
}


# ---------------------------------------------------------------------------
# The result and the driver


@dataclass(frozen=True)
class StopInfo:
    """Where inference stopped: a layer without a rule, or a source whose shape is not stated."""

    layer: Layer | None
    blobs: tuple[str, ...]  # the tops (or input) left unknown
    message: str


@dataclass(frozen=True)
class ShapeProblem:
    """A mismatch Caffe would refuse at ``Net::Init``; ``layer`` is None for a bad override.
    ``override`` marks a ``--shape`` that contradicts what the file states."""

    layer: Layer | None
    message: str
    override: bool = False


@dataclass
class ShapeResult:
    net: Net
    graph: LayerGraph
    shapes: dict[BlobVersion, MaybeShape] = field(default_factory=dict)
    stopped: list[StopInfo] = field(default_factory=list)
    errors: list[ShapeProblem] = field(default_factory=list)
    overrides: dict[str, Shape] = field(default_factory=dict)
    # The blob versions whose shapes come from --shape, with the --shape blobs they come from:
    # a refusal there blames the --shape, not the file.
    from_overrides: dict[BlobVersion, frozenset[str]] = field(default_factory=dict)
    _bottoms: dict[Layer, tuple[MaybeShape, ...]] = field(default_factory=dict, repr=False)
    # One object for equal values: a net of 10^5 layers has a handful of distinct shapes.
    _pool: dict[Any, Any] = field(default_factory=dict, repr=False)

    def _shared(self, value: T) -> T:
        shared: T = self._pool.setdefault(value, value)
        return shared

    def blob(self, version: BlobVersion) -> MaybeShape:
        return self.shapes.get(version)

    def final(self, name: str) -> MaybeShape:
        """The shape of the latest version of a blob (after any in-place layers)."""
        version = self.graph.latest.get(name)
        if version is None:
            return self.overrides.get(name)  # a fragment's input, given with --shape
        return self.shapes.get(version)

    def layer_inputs(self, layer: Layer) -> list[MaybeShape]:
        found = self._bottoms.get(layer)
        return [None] * len(layer.bottoms) if found is None else list(found)

    def layer_outputs(self, layer: Layer) -> list[MaybeShape]:
        if layer not in self.graph.graph:
            return [None] * len(layer.tops)
        return [self.shapes.get(v) for v in self.graph.tops(layer)]

    def cost(self, layer: Layer) -> Cost:
        rule = COSTS.get(layer.type)
        if rule is None:
            return _FREE
        ctx = RuleContext(self.net, layer, self.layer_inputs(layer))
        try:
            return rule(ctx, self.layer_outputs(layer))
        except (ShapeError, ValueError, SurgeryError):
            return _UNKNOWN

    def params(self, layer: Layer) -> int:
        """Values in the layer's parameter blobs (weights, biases, BN statistics)."""
        value = self.cost(layer).params
        if value is None:
            raise SurgeryError(self._unknown_cost(layer, "parameter count"))
        return value

    def macs(self, layer: Layer) -> int:
        """Multiply-accumulates of one forward pass, for the batch size the net states."""
        value = self.cost(layer).macs
        if value is None:
            raise SurgeryError(self._unknown_cost(layer, "MAC count"))
        return value

    def total_params(self, layers: Sequence[Layer] | None = None) -> int | None:
        """Parameter values of the layers (the phase's, by default), a blob shared by
        ``param { name }`` counted once, as Caffe stores it once."""
        seen: set[str] = set()
        total = 0
        for layer in self.graph.layers if layers is None else layers:
            blobs = self.cost(layer).blobs
            if blobs is None:
                return None
            names = param_names(layer)
            for i, size in enumerate(blobs):
                name = names[i] if i < len(names) else None
                if name is not None:
                    if name in seen:
                        continue
                    seen.add(name)
                total += size
        return total

    def _unknown_cost(self, layer: Layer, what: str) -> str:
        shapes = ", ".join(
            f"'{name}' {format_shape(s)}"
            for name, s in zip(layer.bottoms, self.layer_inputs(layer), strict=False)
        )
        return (
            f"{self.net.describe(layer)}: the {what} needs input dimensions the file does not"
            f" state ({shapes}); give them with --shape BLOB=N,C,H,W"
        )


def infer_shapes(
    net: Net,
    graph: LayerGraph,
    overrides: ShapeOverrides | None = None,
) -> ShapeResult:
    """Every blob version's shape in the graph's phase.

    ``overrides`` (``--shape``) state what the file cannot: a dimension the file leaves
    open is taken from them (``None`` in an override leaves it as the file has it), and
    one that contradicts the file is a problem (``override=True``), never a new truth.
    """
    fixed: dict[str, Shape] = {
        name: tuple(None if d is None else int(d) for d in dims)
        for name, dims in (overrides or {}).items()
    }
    result = ShapeResult(net, graph, overrides=fixed)
    known = set(graph.latest).union(*(layer.bottoms for layer in graph.layers))
    for name in fixed:
        if name not in known:
            result.errors.append(
                ShapeProblem(None, f"--shape names blob '{name}', which this phase does not have")
            )
    _infer_inputs(result, fixed)
    nodes = graph.graph.nodes
    for layer in graph.layers:
        _infer_layer(result, layer, nodes[layer], fixed)
    return result


def _infer_inputs(result: ShapeResult, fixed: Mapping[str, Shape]) -> None:
    graph, net = result.graph, result.net
    for version, data in graph.graph.nodes(data=True):
        net_input = data.get("input") if isinstance(version, BlobVersion) else None
        if net_input is None:
            continue
        shape = _with_override(result, None, net_input.name, net_input.dims, fixed)
        if net_input.name in fixed:
            result.from_overrides[version] = frozenset({net_input.name})
        if shape is None:
            result.stopped.append(
                StopInfo(
                    None,
                    (net_input.name,),
                    f"{net.document.location(net_input.scalar.start)}: input '{net_input.name}'"
                    f" states no shape; give it with {shape_flag(net_input.name, 'N,C,H,W')}",
                )
            )
        result.shapes[version] = shape


def _infer_layer(
    result: ShapeResult, layer: Layer, node: Mapping[str, Any], fixed: Mapping[str, Shape]
) -> None:
    """One layer's tops from its bottoms; ``node`` is its data in the graph (the versions
    it reads and writes)."""
    shapes, shared = result.shapes, result._shared
    bound: list[BlobVersion | None] = node["bottoms"]
    if fixed:
        # A bottom nothing produces (a fragment's input) can still be given with --shape.
        found = tuple(
            fixed.get(name) if version is None else shapes.get(version)
            for name, version in zip(layer.bottoms, bound, strict=True)
        )
        given = [fixed.get(name) for name in layer.tops]
    else:
        found = tuple(None if version is None else shapes.get(version) for version in bound)
        given = [None] * len(layer.tops)
    bottoms = shared(found)
    result._bottoms[layer] = bottoms
    errors = len(result.errors)
    outputs = _memo_rule(result, layer, bottoms, given)
    made: list[BlobVersion] = node["tops"]
    if not fixed:
        for version, shape in zip(made, outputs, strict=True):
            shapes[version] = shape
        return
    given_by = _overrides_read(result, layer, bound, fixed)
    if given_by and len(result.errors) > errors:
        _blame_overrides(result, errors, given_by)
    for version, name, shape in zip(made, layer.tops, outputs, strict=True):
        shapes[version] = shared(_with_override(result, layer, name, shape, fixed))
        mine = given_by | ({name} if name in fixed else set())
        if mine:
            result.from_overrides[version] = frozenset(mine)


def _overrides_read(
    result: ShapeResult,
    layer: Layer,
    bound: Sequence[BlobVersion | None],
    fixed: Mapping[str, Shape],
) -> frozenset[str]:
    """The --shape blobs the shapes of the layer's bottoms come from."""
    found: set[str] = set()
    for name, version in zip(layer.bottoms, bound, strict=True):
        if version is None:
            found.update({name} & fixed.keys())
        else:
            found.update(result.from_overrides.get(version, ()))
    return frozenset(found)


def _blame_overrides(result: ShapeResult, first: int, given_by: frozenset[str]) -> None:
    """A layer refuses shapes that come from --shape: the --shape contradicts the file (the
    file alone would not reach this layer with them), so say so rather than blame the file."""
    flags = ", ".join(
        f"--shape {name}={format_override(result.overrides[name])}" for name in sorted(given_by)
    )
    for i in range(first, len(result.errors)):
        problem = result.errors[i]
        if not problem.override:
            result.errors[i] = replace(
                problem,
                message=f"{problem.message}; its input's sizes come from {flags}, which"
                " contradicts the net: check that --shape",
                override=True,
            )


def _with_override(
    result: ShapeResult,
    layer: Layer | None,
    name: str,
    computed: MaybeShape,
    fixed: Mapping[str, Shape],
) -> MaybeShape:
    """``computed`` completed by the ``--shape`` for ``name``; a contradiction keeps what
    the file says and is recorded."""
    given = fixed.get(name)
    if given is None:
        return computed
    if computed is None:
        return _within_int_max(result, layer, name, given)
    agrees = len(given) == len(computed) and all(
        g is None or c is None or g == c for g, c in zip(given, computed, strict=True)
    )
    if not agrees and _only_spatial(given, computed):
        agrees = _is_placeholder(result, layer, name, computed)  # what --shape is for
    if not agrees:
        who = result.net.describe(layer) if layer is not None else "the net's input field"
        result.errors.append(
            ShapeProblem(
                layer,
                f"--shape {name}={format_override(given)} contradicts {format_shape(computed)},"
                f" the shape {who} gives blob '{name}'; {_override_hint(name, given, computed)}",
                override=True,
            )
        )
        return computed
    merged = tuple(c if g is None else g for g, c in zip(given, computed, strict=True))
    return _within_int_max(result, layer, name, merged)


def _only_spatial(given: Sequence[int | None], computed: Shape) -> bool:
    """Whether a 4-D ``given`` differs from ``computed`` in height and width only."""
    return len(given) == len(computed) == 4 and all(
        g is None or c is None or g == c for g, c in zip(given[:2], computed[:2], strict=True)
    )


def _is_placeholder(
    result: ShapeResult, layer: Layer | None, name: str, stated: Sequence[int | None]
) -> bool:
    """Whether ``name`` is an input (top-level, or an Input layer's) whose ``stated`` size is
    a placeholder for the size the net runs at (:mod:`scnn_surgery.analysis.placeholders`)."""
    if layer is not None and layer.type != "Input":
        return False
    return placeholder_reason(result.net, name, stated) is not None


def _within_int_max(
    result: ShapeResult, layer: Layer | None, name: str, shape: MaybeShape
) -> MaybeShape:
    """A ``--shape`` that makes a blob larger than Caffe's blobs hold is refused as the
    override it is (the file did not ask for it)."""
    values = _prod([d for d in shape or () if d is not None])
    if values is None or values <= INT_MAX:
        return shape
    result.errors.append(
        ShapeProblem(
            layer,
            f"--shape {name}={format_override(shape or ())} makes blob '{name}' hold"
            f" {values:,} values, more than a Caffe blob holds ({INT_MAX:,}, INT_MAX)",
            override=True,
        )
    )
    return None


def _override_hint(name: str, given: Sequence[int | None], computed: Shape) -> str:
    """How to write what was meant: --shape only states what the file leaves open."""
    if len(given) != len(computed):
        return (
            f"blob '{name}' has {len(computed)} dimensions, and --shape gives {len(given)}"
        )
    if all(c is not None for c in computed):
        return (
            "the file states all of it, and --shape only states what the file leaves open;"
            " to change it, change the file"
        )
    kept = [None if c is not None else g for g, c in zip(given, computed, strict=True)]
    return (
        "--shape only states what the file leaves open"
        f" (write ? for what the file gives: --shape {name}={format_override(kept)})"
    )


def format_override(dims: Sequence[int | None]) -> str:
    """A ``--shape`` value as the user writes it (``?`` for a dimension left to the file)."""
    return ",".join("?" if d is None else str(d) for d in dims)


def shape_flag(name: str, dims: str) -> str:
    """``--shape NAME=DIMS`` as a shell takes it: quoted where a blob's name (a space, a
    quote) or a ``?`` would otherwise be split or globbed."""
    return f"--shape {shlex.quote(f'{name}={dims}')}"


_RuleOutcome = tuple[tuple[MaybeShape, ...], "StopInfo | None", "ShapeProblem | None"]


class _AllOpen(dict[int, tuple[bool, ...]]):
    """``(True,) * n``, made once per n: no top is given with --shape (the usual case)."""

    def __missing__(self, n: int) -> tuple[bool, ...]:
        self[n] = (True,) * n
        return self[n]


_ALL_OPEN = _AllOpen()


def _memo_rule(
    result: ShapeResult,
    layer: Layer,
    bottoms: tuple[MaybeShape, ...],
    given: list[Shape | None],
) -> tuple[MaybeShape, ...]:
    """A rule's outcome depends only on the layer and its inputs' shapes: an unchanged
    layer seen again (the net after surgery) is not computed again."""
    n = len(given)
    open_tops = _ALL_OPEN[n] if given.count(None) == n else tuple(g is None for g in given)
    user = result.net.shape_rules.get(layer.type) if result.net.shape_rules else None
    key = ("shape", bottoms, open_tops) if user is None else ("shape", bottoms, open_tops, user)
    outcome: _RuleOutcome | None = layer.memo.get(key)
    # Layers surgery added with equal parameters (every convolution of an SCNN pass)
    # give equal shapes for equal inputs; only clean outcomes are shared, since a
    # message names its own layer.
    alike = None if layer.definition is None else params_memo(layer)
    if outcome is None and alike is not None:
        outcome = alike.get(key)
    if outcome is None:
        stopped, errors = len(result.stopped), len(result.errors)
        computed = _run_rule(result, layer, list(bottoms), given)
        outputs = result._shared(tuple(map(result._shared, computed)))
        stop = result.stopped[stopped] if len(result.stopped) > stopped else None
        error = result.errors[errors] if len(result.errors) > errors else None
        # Kept without the layer, which would refer to itself through its memo: a cycle
        # only the cyclic collector frees (with the layer's whole document).
        layer.memo[key] = (
            outputs,
            None if stop is None else replace(stop, layer=None),
            None if error is None else replace(error, layer=None),
        )
        if alike is not None and stop is None and error is None:
            alike[key] = (outputs, None, None)
        return outputs
    outputs, stop, error = outcome
    if stop is not None:
        result.stopped.append(replace(stop, layer=layer))
    if error is not None:
        result.errors.append(replace(error, layer=layer))
    return outputs


def _run_rule(
    result: ShapeResult, layer: Layer, bottoms: list[MaybeShape], given: list[Shape | None]
) -> list[MaybeShape]:
    net = result.net
    n = len(layer.tops)
    unknown: list[MaybeShape] = [None] * n
    missing = tuple(name for name, g in zip(layer.tops, given, strict=True) if g is None)
    if layer.format == "v0" and layer.body is not None:
        v0_type = layer.body.string("type", "") or ""
        if v0_type not in V0_TYPE_TO_V1:  # UpgradeV0LayerType stops there
            message = f"{net.describe(layer)}: V0 type '{v0_type}', which Caffe cannot upgrade"
            result.errors.append(ShapeProblem(layer, message))
            return unknown
    rule = rule_of(net, layer.type)
    if rule is None:
        if missing or not layer.tops:
            result.stopped.append(StopInfo(layer, missing, _stop_message(net, layer, missing)))
        return unknown
    ctx = RuleContext(net, layer, bottoms)
    try:
        outputs = rule(ctx)
    except _Unknown:
        return unknown
    except _NoShape as exc:
        if missing:
            message = f"{net.describe(layer)}: {exc}; {_suggest(missing)}"
            result.stopped.append(StopInfo(layer, missing, message))
        return unknown
    except ShapeError as exc:
        user = net.shape_rules.get(layer.type) if net.shape_rules else None
        kind = layer.type if user is None else f"{layer.type}, by --shape-rule {layer.type}={user}"
        # A user's rule that does not fit the layer is what to fix, not the file.
        problem = ShapeProblem(layer, f"{net.describe(layer)} ({kind}): {exc}", user is not None)
        result.errors.append(problem)
        return unknown
    except SurgeryError as exc:
        result.errors.append(ShapeProblem(layer, str(exc)))
        return unknown
    for name, shape in zip(layer.tops, outputs, strict=False):
        values = _prod([d for d in shape or () if d is not None])
        if values is not None and values > INT_MAX:
            message = (
                f"{net.describe(layer)} ({layer.type}): top '{name}' would be"
                f" {format_shape(shape)}, {values:,} values, more than a Caffe blob holds"
                f" ({INT_MAX:,}, INT_MAX)"
            )
            result.errors.append(ShapeProblem(layer, message))
            return unknown
    return (list(outputs) + unknown)[:n]


RULE_FORMS = "same, same:K, concat:AXIS, flatten or N,C,H,W with ? for bottom 0's"


def missing_rules(result: ShapeResult) -> list[str]:
    """One line per layer whose type has no shape rule (and whose tops no --shape gives),
    FILE:LINE:COL first, then a last one saying how to give them; empty when every layer
    has a rule."""
    net = result.net
    stops = [
        s for s in result.stopped if s.layer is not None and rule_of(net, s.layer.type) is None
    ]
    if not stops:
        return []
    lines = []
    for stop in stops:
        layer = stop.layer
        assert layer is not None
        where = net.layer_location(layer) or net.source
        lines.append(f"{where}: layer '{layer.name}' of type {_kind(layer)} has no shape rule")
    types = list(dict.fromkeys(s.layer.type for s in stops if s.layer is not None))
    flags = " ".join(f"--shape-rule {t}=RULE" for t in types)
    how = f"give each type a rule with {flags} (RULE: {RULE_FORMS} dimension)"
    if stops[0].blobs:
        given = " ".join(shape_flag(name, "N,C,H,W") for name in stops[0].blobs)
        how += f", or the first layer's output with {given}"
    count = f"{len(stops)} layer{'s' if len(stops) > 1 else ''}"
    lines.append(f"shape inference cannot size {count} without a rule: {how}")
    return lines


def _suggest(blobs: Sequence[str]) -> str:
    flags = " ".join(f"--shape {name}=N,C,H,W" for name in blobs)
    return f"give {'its shape' if len(blobs) == 1 else 'their shapes'} with {flags}"


def _kind(layer: Layer) -> str:
    """The layer's type as messages name it: a Python layer with its module and class."""
    kind = layer.type or "(no type)"
    if layer.type == "Python" and layer.body is not None:
        python = layer.body.message("python_param")
        module = python.string("module", "?") if python else "?"
        cls = python.string("layer", "?") if python else "?"
        kind = f"Python ({module}.{cls})"
    return kind


def _stop_message(net: Net, layer: Layer, missing: Sequence[str]) -> str:
    kind = _kind(layer)
    return (
        f"{net.describe(layer)} of type {kind} has no shape rule, so shape inference stops"
        f" there; {_suggest(missing)}"
    )

