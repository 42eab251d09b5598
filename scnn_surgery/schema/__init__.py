"""Caffe protobuf schemas: BVLC's, the fork dialects, and user-supplied forks.

``caffe_pb2`` is the final BVLC master schema. Forks reuse field numbers (and
even names) for unrelated messages -- PSPNet's ``bn_param`` is 152 and SegNet's
is 45, with different contents -- so each fork gets its own generated module in
its own proto package (``scnn_surgery.dialect.<name>``), which lets all of
them live in the default descriptor pool next to ``caffe``.

:mod:`.userproto` compiles a user's fork ``caffe.proto`` (``--proto``) with protoc;
:mod:`.select` picks the schema a net is read with.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from functools import cache
from typing import cast

from google.protobuf.message import Message

from . import caffe_pb2
from .dialects import (
    deeplab_pb2,
    densenet_pb2,
    enet_pb2,
    fast_rcnn_pb2,
    mobilenet_yolo_pb2,
    pspnet_pb2,
    rfcn_pb2,
    segnet_pb2,
    shufflenet_pb2,
    ssd_pb2,
    vpgnet_pb2,
)

__all__ = [
    "CUSTOM_LAYER_TYPES",
    "DIALECTS",
    "caffe_pb2",
    "guess_dialect",
    "known_field_names",
    "net_message_class",
]

# Order doubles as the tie-break preference of guess_dialect.
DIALECTS: dict[str, types.ModuleType] = {
    "bvlc": caffe_pb2,
    "ssd": ssd_pb2,
    "fast_rcnn": fast_rcnn_pb2,
    "rfcn": rfcn_pb2,
    "segnet": segnet_pb2,
    "enet": enet_pb2,
    "deeplab": deeplab_pb2,
    "pspnet": pspnet_pb2,
    "mobilenet_yolo": mobilenet_yolo_pb2,
    "densenet": densenet_pb2,
    "vpgnet": vpgnet_pb2,
    "shufflenet": shufflenet_pb2,
}

_DEEPLAB_TYPES = frozenset(
    {
        "AdaptiveBiasChannel",
        "BiasChannel",
        "DenseCRF",
        "DomainTransform",
        "ImageSegData",
        "Interp",
        "MatRead",
        "MatWrite",
        "SegAccuracy",
        "UniqueLabel",
    }
)
_SSD_TYPES = frozenset(
    {
        "AnnotatedData",
        "DetectionEvaluate",
        "DetectionOutput",
        "MultiBoxLoss",
        "Normalize",
        "Permute",
        "PriorBox",
    }
)
_SEGNET_TYPES = frozenset({"BN", "DenseImageData", "Upsample"})

# Layer types a dialect adds to BVLC's registry.
CUSTOM_LAYER_TYPES: dict[str, frozenset[str]] = {
    "bvlc": frozenset(),
    "ssd": _SSD_TYPES | {"VideoData"},
    "fast_rcnn": frozenset({"ROIPooling", "SmoothL1Loss"}),
    "rfcn": frozenset({"ROIPooling", "SmoothL1Loss", "PSROIPooling", "BoxAnnotatorOHEM"}),
    "segnet": _SEGNET_TYPES,
    "enet": _SEGNET_TYPES,
    "deeplab": _DEEPLAB_TYPES,
    "pspnet": _DEEPLAB_TYPES | {"BN"},
    "mobilenet_yolo": _SSD_TYPES
    | {
        "DepthwiseConvolution",
        "RegionLoss",
        "ReLU6",
        "Reorg",
        "Upsample",
        "YoloDetectionOutput",
        "Yolov3",
        "Yolov3DetectionOutput",
    },
    "densenet": frozenset(),
    "vpgnet": frozenset({"DriveData", "Tiling"}),
    "shufflenet": frozenset({"ShuffleChannel"}),
}


def _module(dialect: str) -> types.ModuleType:
    try:
        return DIALECTS[dialect]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise KeyError(f"unknown Caffe dialect {dialect!r} (known: {known})") from None


def net_message_class(dialect: str) -> type[Message]:
    return cast(type[Message], _module(dialect).NetParameter)


@cache
def known_field_names(dialect: str) -> frozenset[str]:
    """Every field name reachable from the dialect's NetParameter (V0/V1 included)."""
    names: set[str] = set()
    seen: set[str] = set()
    stack = [net_message_class(dialect).DESCRIPTOR]
    while stack:
        desc = stack.pop()
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        for fd in desc.fields:
            names.add(fd.name)
            if fd.message_type is not None:
                stack.append(fd.message_type)
    return frozenset(names)


def guess_dialect(layer_types: Iterable[str], param_field_names: Iterable[str] = ()) -> str:
    """Pick the dialect that best explains a net.

    Field names decide first: a dialect that cannot parse some field the text
    uses loses to one that can (that is how PSPNet's ``bn_param { slope_filler }``
    beats SegNet's ``bn_param { bn_mode }``, and ``ceil_mode`` picks densenet).
    Then the dialect registering more of the custom layer types wins, then the
    order of ``DIALECTS``.
    """
    wanted_types = set(layer_types)
    wanted_fields = set(param_field_names)

    def score(item: tuple[int, str]) -> tuple[int, int, int]:
        rank, name = item
        unknown = len(wanted_fields - known_field_names(name))
        covered = len(wanted_types & CUSTOM_LAYER_TYPES[name])
        return (unknown, -covered, rank)

    return min(enumerate(DIALECTS), key=score)[1]
