"""Shape rules of the common fork layer types, and the user's ``--shape-rule`` s.

Each fork rule follows its fork's ``Reshape`` (or ``LayerSetUp``) in C++; the comment next to
it names the repository and file it was checked against. :data:`FORK_RULES` is registered
into :data:`scnn_surgery.analysis.shapes.RULES`; it also tells ``inspect`` and ``check``
that a layer was sized by a fork's rule rather than by BVLC's.

A user rule (``--shape-rule TYPE=RULE``, kept on :attr:`Net.shape_rules`) sizes every top of
a layer of TYPE:

* ``same`` / ``same:K``: as bottom 0 / bottom K;
* ``concat:AXIS``: the bottoms joined along AXIS (they must agree off it);
* ``flatten``: ``N x (everything else)``, as Flatten with its defaults;
* ``N,C,H,W`` (any number of dimensions), ``?`` taking bottom 0's dimension.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from ..core.net import Layer, Net
from ..errors import UsageError
from .params import fork_param, raw_bool, raw_int
from .shapes import (
    RULES,
    MaybeShape,
    Rule,
    RuleContext,
    ShapeError,
    ShapeResult,
    _depthwise_rule,
    _detections_rule,
    _four_axes,
    _interp_rule,
    _loss_rule,
    _no_tops_rule,
    _permute_rule,
    _prior_box_rule,
    _roi_pooling_rule,
    _same_rule,
    _tiling_rule,
    _upsample_rule,
    format_shape,
)

__all__ = [
    "FORK_RULES",
    "RuleSource",
    "rule_source",
    "ruled",
    "sizing",
    "sizing_summary",
]


def _axpy_rule(ctx: RuleContext) -> list[MaybeShape]:
    """top = a * x + y with a per-channel scale ``a`` (N x C x 1 x 1), as SENet's gate."""
    if len(ctx.bottoms) != 3:
        raise ShapeError(f"needs 3 bottoms (scale, x, y), has {len(ctx.bottoms)}")
    scale, x, y = ctx.shape(0), ctx.shape(1), ctx.shape(2)
    if len(scale) < 2 or len(x) < 2 or not _fits(scale[:2], x[:2]):
        raise ShapeError(
            f"the scale '{ctx.bottom_name(0)}' {format_shape(scale)} must match"
            f" '{ctx.bottom_name(1)}' {format_shape(x)} in N and C"
        )
    if len(scale) == 4 and any(d is not None and d != 1 for d in scale[2:]):
        raise ShapeError(f"the scale '{ctx.bottom_name(0)}' {format_shape(scale)} must be 1x1")
    if len(x) != len(y) or not _fits(x, y):
        raise ShapeError(
            f"'{ctx.bottom_name(1)}' {format_shape(x)} and '{ctx.bottom_name(2)}'"
            f" {format_shape(y)} differ"
        )
    return [tuple(a if a is not None else b for a, b in zip(x, y, strict=True))]


def _fits(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    return all(p is None or q is None or p == q for p, q in zip(a, b, strict=True))


def _shuffle_channel_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = ctx.shape(0)
    group = raw_int(fork_param(ctx.layer, "shuffle_channel_param"), "group", 1, ctx.layer)
    if group <= 0:
        raise ShapeError("shuffle_channel_param.group must be greater than 0")
    channels = x[1] if len(x) > 1 else None
    if channels is not None and channels % group:
        raise ShapeError(f"{channels} channels do not divide into {group} groups")
    return [x] * ctx.num_tops


def _psroi_pooling_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = _four_axes(ctx.shape(0), "score map")
    p = fork_param(ctx.layer, "psroi_pooling_param")
    output_dim = raw_int(p, "output_dim", 0, ctx.layer)
    group = raw_int(p, "group_size", 0, ctx.layer)
    if output_dim <= 0 or group <= 0:
        raise ShapeError("psroi_pooling_param needs positive output_dim and group_size")
    if x[1] is not None and x[1] != output_dim * group * group:
        raise ShapeError(
            f"{x[1]} input channels, where output_dim x group_size^2 ="
            f" {output_dim * group * group}"
        )
    return [(_rois(ctx), output_dim, group, group)]


def _rois(ctx: RuleContext) -> int | None:
    """The number of regions (bottom 1's first axis), a runtime value after a proposal layer."""
    rois = ctx.bottoms[1] if len(ctx.bottoms) > 1 else None
    return rois[0] if rois else None


def _roi_align_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = _four_axes(ctx.shape(0), "feature map")
    size = None
    for block, fields in (
        ("roi_align_param", ("pooled_h", "pooled_w")),
        ("roi_align_param", ("aligned_h", "aligned_w")),
        ("roi_pooling_param", ("pooled_h", "pooled_w")),
    ):
        p = fork_param(ctx.layer, block)
        h, w = (raw_int(p, f, 0, ctx.layer) for f in fields)
        if h > 0 and w > 0:
            size = (h, w)
            break
    if size is None:
        raise ShapeError("roi_align_param needs positive pooled_h and pooled_w")
    return [(_rois(ctx), x[1], *size)]


def _dfmb_psroi_align_rule(ctx: RuleContext) -> list[MaybeShape]:
    """Apollo's deformable PSROIAlign: regions x output_dim x pooled_height x pooled_width."""
    x = _four_axes(ctx.shape(0), "score map")
    p = fork_param(ctx.layer, "dfmb_psroi_pooling_param")
    sizes = {f: raw_int(p, f, 0, ctx.layer) for f in _DFMB_FIELDS}
    if any(v <= 0 for v in sizes.values()):
        raise ShapeError(f"dfmb_psroi_pooling_param needs positive {', '.join(_DFMB_FIELDS)}")
    groups = sizes["output_dim"] * sizes["group_height"] * sizes["group_width"]
    if x[1] is not None and x[1] != groups:
        raise ShapeError(
            f"{x[1]} input channels, where output_dim x group_height x group_width = {groups}"
        )
    return [(_rois(ctx), sizes["output_dim"], sizes["pooled_height"], sizes["pooled_width"])]


_DFMB_FIELDS = ("output_dim", "group_height", "group_width", "pooled_height", "pooled_width")


def _proposals_rule(ctx: RuleContext) -> list[MaybeShape]:
    """Apollo's proposal layers: one row per kept box, a runtime count; the row's width
    (5, or with scores and classes) follows the fork's ROIOutputSSD settings."""
    return [(None, None, 1, 1)] * ctx.num_tops


def _reorg_rule(ctx: RuleContext) -> list[MaybeShape]:
    x = _four_axes(ctx.shape(0))
    p = fork_param(ctx.layer, "reorg_param")
    stride = raw_int(p, "stride", 0, ctx.layer)
    if stride <= 0:
        raise ShapeError("reorg_param needs a positive stride")
    area = stride * stride
    n, c, h, w = x
    if raw_bool(p, "reverse", False):
        return [(n, _div(c, area), _mul(h, stride), _mul(w, stride))]
    return [(n, _mul(c, area), _div(h, stride), _div(w, stride))]


def _div(d: int | None, k: int) -> int | None:
    return None if d is None else d // k  # C++ int division of sizes (non-negative)


def _mul(d: int | None, k: int) -> int | None:
    return None if d is None else d * k


# type -> rule, each checked against the fork's C++ named beside it.
FORK_RULES: dict[str, Rule] = {
    # hujie-frank/SENet src/caffe/layers/axpy_layer.cpp (Reshape: ReshapeLike bottom[1])
    "Axpy": _axpy_rule,
    # farmingyard/ShuffleNet shuffle_channel_layer.cpp (ReshapeLike bottom[0]; C % group)
    "ShuffleChannel": _shuffle_channel_rule,
    # eric612/MobileNet-YOLO src/caffe/layers/depthwise_conv_layer.cpp (compute_output_shape:
    # BaseConvolutionLayer's formula; the type of yonghenglh6/DepthwiseConvolution)
    "DepthwiseConvolution": _depthwise_rule,
    "ConvolutionDepthwise": _depthwise_rule,
    # eric612/MobileNet-YOLO src/caffe/layers/relu6_layer.cpp (a NeuronLayer)
    "ReLU6": _same_rule,
    # weiliu89/caffe (ssd) src/caffe/layers/permute_layer.cpp
    "Permute": _permute_rule,
    # weiliu89/caffe (ssd) src/caffe/layers/normalize_layer.cpp (ReshapeLike bottom[0])
    "Normalize": _same_rule,
    # weiliu89/caffe (ssd) src/caffe/layers/prior_box_layer.cpp: 1 x 2 x H*W*priors*4
    "PriorBox": _prior_box_rule,
    # weiliu89/caffe (ssd) src/caffe/layers/detection_output_layer.cpp: 1 x 1 x ? x 7
    "DetectionOutput": _detections_rule,
    # eric612/MobileNet-YOLO src/caffe/layers/yolov3_detection_output_layer.cpp
    "Yolov3DetectionOutput": _detections_rule,
    # eric612/MobileNet-YOLO src/caffe/layers/yolo_detection_output_layer.cpp: 1 x 1 x ? x 7
    "YoloDetectionOutput": _detections_rule,
    # eric612/MobileNet-YOLO src/caffe/layers/yolov3_layer.cpp (a LossLayer: a scalar)
    "Yolov3": _loss_rule,
    # sokeeffe/caffe_yolo src/caffe/layers/region_layer.cpp (ReshapeLike bottom[0])
    "Region": _same_rule,
    # eric612/Caffe-YOLOv3-Windows src/caffe/layers/reorg_layer.cpp
    "Reorg": _reorg_rule,
    # Apollo's fork (gengqx/caffe src/caffe/layers/dfmb_psroi_align_layer.cpp)
    "DFMBPSROIAlign": _dfmb_psroi_align_rule,
    # gengqx/caffe src/caffe/layers/rpn_proposal_ssd_layer.cpp, rcnn_proposal_layer.cpp:
    # (kept boxes) x rois_dim x 1 x 1
    "RPNProposalSSD": _proposals_rule,
    "RCNNProposal": _proposals_rule,
    # rbgirshick/caffe-fast-rcnn src/caffe/layers/roi_pooling_layer.cpp: R x C x ph x pw
    "ROIPooling": _roi_pooling_rule,
    # daijifeng001/caffe-rfcn src/caffe/layers/psroi_pooling_layer.cpp: R x dim x g x g
    "PSROIPooling": _psroi_pooling_rule,
    # chuanqi305/caffe-fast-rcnn src/caffe/layers/roi_align_layer.cpp: R x C x ah x aw
    "ROIAlign": _roi_align_rule,
    # eric612/MobileNet-YOLO src/caffe/layers/upsample_layer.cpp (one bottom, scale);
    # alexgkendall/caffe-segnet src/caffe/layers/upsample_layer.cpp (data + mask)
    "Upsample": _upsample_rule,
    # gpapan/caffe (DeepLab v2, which PSPNet's Interp copies) src/caffe/layers/interp_layer.cpp
    "Interp": _interp_rule,
    # SeokjuLee/VPGNet caffe/src/caffe/layers/tiling_layer.cpp
    "Tiling": _tiling_rule,
    # hszhao/PSPNet src/caffe/layers/mat_write_layer.cpp (DeepLab's): no tops
    "MatWrite": _no_tops_rule,
}


RULES.update(FORK_RULES)

# ---------------------------------------------------------------------------
# Which rule sized a layer

RuleSource = str  # "built-in", "fork rule", "--shape-rule TYPE=RULE", "--shape", "none"


def rule_source(net: Net, layer: Layer, given_tops: Collection[str] = ()) -> RuleSource:
    """What sized ``layer``'s tops: the user's rule for its type, a fork's built-in rule,
    BVLC's, the user's ``--shape`` for its tops (``given_tops``), or nothing."""
    from .shapes import rule_for

    user = net.shape_rules.get(layer.type)
    if user is not None:
        return f"--shape-rule {layer.type}={user}"
    if layer.type in FORK_RULES:
        return "fork rule"
    if rule_for(layer.type) is not None:
        return "built-in"
    if layer.tops and all(top in given_tops for top in layer.tops):
        return "--shape"
    return "none"


def sizing(result: ShapeResult) -> list[tuple[Layer, RuleSource]]:
    """Each layer of the result's phase with what sized it."""
    given = result.overrides.keys()
    return [(layer, rule_source(result.net, layer, given)) for layer in result.graph.layers]


def sizing_summary(result: ShapeResult) -> str:
    """What sized the layers, in one line: ``built-in 40; fork rule 3 (Axpy 2, ShuffleChannel
    1); --shape 1 (proposal); none 1 (bar)``."""
    groups: dict[RuleSource, list[Layer]] = {}
    for layer, source in sizing(result):
        groups.setdefault(source, []).append(layer)
    parts = []
    for source, layers in groups.items():
        if source == "built-in":
            parts.append(f"built-in {len(layers)}")
        elif source == "fork rule":
            types = Counter(layer.type for layer in layers)
            parts.append(
                f"fork rule {len(layers)} ({', '.join(f'{t} {n}' for t, n in types.items())})"
            )
        else:
            names = ", ".join(layer.name for layer in layers[:3])
            more = f" and {len(layers) - 3} more" if len(layers) > 3 else ""
            parts.append(f"{source} {len(layers)} ({names}{more})")
    return "; ".join(parts) or "built-in 0"  # a net of no layers: nothing sized otherwise


def ruled(net: Net, rules: Mapping[str, str]) -> Net:
    """``net`` with the user's ``--shape-rule`` s added (itself when there are none). A rule
    for a BVLC type is refused: Caffe sizes those by its own rule, which inference follows."""
    if not rules:
        return net
    for layer_type, rule in rules.items():
        if layer_type in RULES and layer_type not in FORK_RULES:
            raise UsageError(
                f"--shape-rule {layer_type}={rule}: {layer_type} is a BVLC layer type, which"
                " is sized by Caffe's own rule"
            )
    work = net.copy()
    work.shape_rules = {**net.shape_rules, **rules}
    return work
