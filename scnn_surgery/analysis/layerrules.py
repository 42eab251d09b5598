"""What each BVLC layer type takes, from BVLC Caffe's layer headers.

* Blob counts: ``Layer::CheckBlobCounts`` compares the bottoms and tops with each type's
  ``ExactNumBottomBlobs``, ``MinBottomBlobs``, ``MaxBottomBlobs`` (and the same for tops,
  and ``EqualNumBottomTopBlobs``). A type with ``AutoTopBlobs`` (the losses) is given
  the tops it lacks by ``Net::Init`` before the check.
* Axes: ``Blob::CanonicalAxisIndex`` takes an axis from ``-N`` to ``N-1`` for an N-axis
  blob; Reshape's ``axis`` may also be ``N`` (or ``-(N+1)``), and the legacy
  ``concat_dim`` / ``slice_dim`` are unsigned, ``0`` to ``N-1``; Concat and Slice take
  either ``axis`` or their legacy dim, not both (their ``LayerSetUp``).

Fork types are not here: a fork may define its own counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Counts:
    """A type's blob counts as its header states them (None: no limit)."""

    bottoms: tuple[int | None, int | None]  # (at least, at most)
    tops: tuple[int | None, int | None]
    auto_tops: bool = False  # AutoTopBlobs: Net::Init adds the missing ones
    equal: bool = False  # EqualNumBottomTopBlobs

    def fits(self, bottoms: int, tops: int) -> bool:
        """Whether ``CheckBlobCounts`` lets these through (the common case, asked first)."""
        (low_b, high_b), (low_t, high_t) = self.bottoms, self.tops
        return (
            (low_b is None or bottoms >= low_b)
            and (high_b is None or bottoms <= high_b)
            and (self.auto_tops or low_t is None or tops >= low_t)
            and (high_t is None or tops <= high_t)
            and (not self.equal or bottoms == tops)
        )


def _exact(bottoms: int, tops: int, auto_tops: bool = False) -> Counts:
    return Counts((bottoms, bottoms), (tops, tops), auto_tops)


_ONE_TO_ONE = _exact(1, 1)
_LOSS = _exact(2, 1, auto_tops=True)  # LossLayer
_DATA_ONE_OR_MORE = Counts((0, 0), (1, None))

_FIXED: Mapping[str, Counts] = {
    # NeuronLayer and the other one-in, one-out types
    **dict.fromkeys(
        (
            "AbsVal", "BNLL", "Clip", "Dropout", "ELU", "Exp", "Log", "Power", "PReLU", "ReLU",
            "Sigmoid", "Swish", "TanH", "Threshold", "ArgMax", "BatchNorm", "Embed", "Flatten",
            "Im2col", "InnerProduct", "LRN", "MVN", "Reduction", "Reshape", "Softmax", "SPP",
            "Tile",
        ),
        _ONE_TO_ONE,
    ),
    **dict.fromkeys(
        ("EuclideanLoss", "HingeLoss", "MultinomialLogisticLoss", "SigmoidCrossEntropyLoss"),
        _LOSS,
    ),
    "ContrastiveLoss": _exact(3, 1, auto_tops=True),
    "SoftmaxWithLoss": Counts((2, 2), (1, 2), auto_tops=True),
    "InfogainLoss": Counts((2, 3), (1, 2), auto_tops=True),
    "Accuracy": Counts((2, 2), (1, 2)),
    "Convolution": Counts((1, None), (1, None), equal=True),
    "Deconvolution": Counts((1, None), (1, None), equal=True),
    "BatchReindex": _exact(2, 1),
    "Bias": Counts((1, 2), (1, 1)),
    "Scale": Counts((1, 2), (1, 1)),
    "Concat": Counts((1, None), (1, 1)),
    "Crop": _exact(2, 1),
    "Eltwise": Counts((2, None), (1, 1)),
    "Filter": Counts((2, None), (1, None)),
    "Slice": Counts((1, 1), (1, None)),
    "Split": Counts((1, 1), (1, None)),
    "Silence": Counts((1, None), (0, 0)),
    "HDF5Output": _exact(2, 0),
    "LSTMUnit": _exact(3, 2),
    "Data": Counts((0, 0), (1, 2)),
    "ImageData": _exact(0, 2),
    "WindowData": _exact(0, 2),
    "MemoryData": _exact(0, 2),
    "Parameter": _exact(0, 1),
    "DummyData": _DATA_ONE_OR_MORE,
    "HDF5Data": _DATA_ONE_OR_MORE,
    "Input": _DATA_ONE_OR_MORE,
}  # fmt: skip

# RecurrentLayer: hidden state exposed as extra bottoms and tops (RNN: h, LSTM: c and h).
_RECURRENT_STATES = {"RNN": 1, "LSTM": 2}


def reads_parameters(layer_type: str) -> bool:
    """Whether the counts or axes of ``layer_type`` depend on its parameters; for the
    other types :func:`blob_counts` and :func:`type_label` take ``message=None``."""
    return layer_type in ("Pooling", *_RECURRENT_STATES) or layer_type in _AXES


def parameter_field(layer_type: str) -> str | None:
    """The one ``*_param`` field the counts and axes of ``layer_type`` read, if any: all a
    reader needs filled in the layer's message."""
    if layer_type == "Pooling":
        return "pooling_param"
    if layer_type in _RECURRENT_STATES:
        return "recurrent_param"
    fields = _AXES.get(layer_type)
    return fields[0].message if fields else None


def blob_counts(layer_type: str, message: Any) -> Counts | None:
    """The counts a BVLC ``layer_type`` takes, given its parameters (a ``LayerParameter``;
    None will do where :func:`reads_parameters` says they do not matter)."""
    if layer_type == "Pooling":
        is_max = not message.HasField("pooling_param") or message.pooling_param.pool == 0
        return Counts((1, 1), (1, 2 if is_max else 1))
    states = _RECURRENT_STATES.get(layer_type)
    if states is not None:
        exposed = states if message.recurrent_param.expose_hidden else 0
        return Counts((2 + exposed, 3 + exposed), (1 + exposed, 1 + exposed))
    return _FIXED.get(layer_type)


def _blobs(n: int, what: str) -> str:
    return f"no {what}s" if n == 0 else f"{n} {what}{'' if n == 1 else 's'}"


_POOL_METHODS = ("MAX", "AVE", "STOCHASTIC")


def type_label(layer_type: str, message: Any) -> str:
    """The type as its counts depend on it: ``AVE Pooling`` (only MAX pooling has a mask)."""
    if message is None:
        return layer_type
    if layer_type == "Pooling" and message.HasField("pooling_param"):
        method = message.pooling_param.pool
        return f"{_POOL_METHODS[method] if method < len(_POOL_METHODS) else method} Pooling"
    if layer_type in _RECURRENT_STATES and message.recurrent_param.expose_hidden:
        return f"{layer_type} (expose_hidden)"
    return layer_type


def _range_text(low: int | None, high: int | None, what: str) -> str:
    if low == high and low is not None:
        return _blobs(low, what)
    if high is None:
        return f"at least {_blobs(low or 0, what)}"
    if low is None or low == 0:
        return f"at most {_blobs(high, what)}"
    return f"{low} to {high} {what}s"


def _article(label: str) -> str:
    return "an" if label[:1] in "AEIOU" else "a"


@dataclass(frozen=True)
class CountProblem:
    rule: str  # "bottom-count" or "top-count"
    message: str
    extra: int | None  # the index of the first blob too many (None: too few)


def count_problems(label: str, counts: Counts, bottoms: int, tops: int) -> list[CountProblem]:
    """What ``CheckBlobCounts`` refuses, one problem per side; ``label`` names the type
    (see :func:`type_label`)."""
    found = []
    for rule, what, (low, high), given in (
        ("bottom-count", "bottom", counts.bottoms, bottoms),
        ("top-count", "top", counts.tops, tops),
    ):
        if what == "top" and counts.auto_tops:
            low = 0  # Net::Init adds them
        too_few = low is not None and given < low
        too_many = high is not None and given > high
        if too_few or too_many:
            takes = _range_text(counts.bottoms[0] if what == "bottom" else counts.tops[0],
                                high, what)  # fmt: skip
            found.append(
                CountProblem(
                    rule,
                    f"{_article(label)} {label} layer takes {takes}, not {given}",
                    high if too_many else None,
                )
            )
    if counts.equal and bottoms != tops and not found:
        found.append(
            CountProblem(
                "top-count",
                f"{_article(label)} {label} layer takes one top per bottom:"
                f" {_blobs(bottoms, 'bottom')},"
                f" {_blobs(tops, 'top')}",
                bottoms if tops > bottoms else None,
            )
        )
    return found


# ---------------------------------------------------------------------------
# Axes


@dataclass(frozen=True)
class AxisField:
    """An axis a layer reads: its parameter message and field, and how far it may go."""

    message: str
    field: str
    extended: bool = False  # Reshape: 0..N, not 0..N-1
    unsigned: bool = False  # concat_dim, slice_dim: 0..N-1 only
    given_only: bool = False  # ArgMax reads its axis only when it is given


_AXES: Mapping[str, tuple[AxisField, ...]] = {
    "Softmax": (AxisField("softmax_param", "axis"),),
    "SoftmaxWithLoss": (AxisField("softmax_param", "axis"),),
    "InfogainLoss": (AxisField("infogain_loss_param", "axis"),),
    "Accuracy": (AxisField("accuracy_param", "axis"),),
    "Concat": (
        AxisField("concat_param", "axis"),
        AxisField("concat_param", "concat_dim", unsigned=True),
    ),
    "Slice": (
        AxisField("slice_param", "axis"),
        AxisField("slice_param", "slice_dim", unsigned=True),
    ),
    "InnerProduct": (AxisField("inner_product_param", "axis"),),
    "Convolution": (AxisField("convolution_param", "axis"),),
    "Deconvolution": (AxisField("convolution_param", "axis"),),
    "Flatten": (AxisField("flatten_param", "axis"), AxisField("flatten_param", "end_axis")),
    "Reshape": (AxisField("reshape_param", "axis", extended=True),),
    "ArgMax": (AxisField("argmax_param", "axis", given_only=True),),
    "Scale": (AxisField("scale_param", "axis"),),
    "Bias": (AxisField("bias_param", "axis"),),
    "Crop": (AxisField("crop_param", "axis"),),
    "Reduction": (AxisField("reduction_param", "axis"),),
    "Tile": (AxisField("tile_param", "axis"),),
}  # fmt: skip


@dataclass(frozen=True)
class AxisProblem:
    field: AxisField
    message: str


_LEGACY_AXES: Mapping[str, tuple[str, str]] = {
    "Concat": ("concat_param", "concat_dim"),
    "Slice": ("slice_param", "slice_dim"),
}


def axis_conflicts(layer_type: str, message: Any) -> list[AxisProblem]:
    """Concat and Slice given both ``axis`` and their legacy dim: their ``LayerSetUp``
    aborts when both fields are present, whatever their values."""
    legacy = _LEGACY_AXES.get(layer_type)
    if legacy is None or legacy[0] not in message.DESCRIPTOR.fields_by_name:
        return []
    name, dim = legacy
    params = getattr(message, name)
    if not (params.HasField("axis") and params.HasField(dim)):
        return []
    return [
        AxisProblem(
            AxisField(name, "axis"),
            f"{name} gives both axis and {dim}; Caffe stops at it ('Either axis or {dim}"
            " should be specified; not both'): keep one",
        )
    ]


def _axis_limits(field: AxisField, rank: int) -> tuple[int, int]:
    if field.unsigned:
        return 0, rank - 1
    if field.extended:
        return -(rank + 1), rank
    return -rank, rank - 1


def _field_value(message: Any, field: AxisField) -> int | None:
    """The axis as Caffe reads it (None: not read). A legacy dim wins over ``axis``."""
    if field.message not in message.DESCRIPTOR.fields_by_name:
        return None
    params = getattr(message, field.message)
    if field.field not in params.DESCRIPTOR.fields_by_name:
        return None
    legacy = {"concat_param": "concat_dim", "slice_param": "slice_dim"}.get(field.message)
    if field.field == "axis" and legacy is not None and params.HasField(legacy):
        return None
    if (field.unsigned or field.given_only) and not params.HasField(field.field):
        return None
    return int(getattr(params, field.field))


def axis_problems(layer_type: str, message: Any, rank: int, bottom: str) -> list[AxisProblem]:
    """Axes out of range for the ``rank``-axis bottom ``bottom``."""
    found = []
    for field in _AXES.get(layer_type, ()):
        value = _field_value(message, field)
        if value is None:
            continue
        low, high = _axis_limits(field, rank)
        if not low <= value <= high:
            found.append(
                AxisProblem(
                    field,
                    f"{field.message}.{field.field} {value} is out of range for the"
                    f" {rank}-axis bottom '{bottom}' (Caffe takes {low} to {high})",
                )
            )
    return found

