"""Generate, render, cost and recognise the Spatial CNN (SCNN) module as Caffe layers.

SCNN (Pan et al., AAAI 2018) passes messages slice by slice across a feature map. The layout
reproduced here is the one written by the published SCNN-prototxt-generator (and reused by
Apollo's darkSCNN):

* Vertical stage: ``Slice1`` cuts the input into rows ``slice1_1..H`` (axis 2). The downward
  pass ``SCNN_D_i`` convolves row i with a 1 x k kernel, applies an in-place ReLU and adds the
  result to row i+1, giving blob ``SCNN_D_{i+1}``. The upward pass ``SCNN_U_i`` runs from the
  last row back to the first, adding to the *downward* results. ``Concat1`` (axis 2) restacks
  the rows into ``SCNN_U``.
* Horizontal stage: ``Slice2`` cuts into columns ``slice2_1..W`` (axis 3); the rightward
  ``SCNN_R_i`` and leftward ``SCNN_L_i`` passes use k x 1 kernels; ``Concat2`` (axis 3)
  gives ``SCNN``.

A pass leaves its first row untouched, so the first row of a downward pass is the slice blob
itself (``SCNN_D_1`` is a layer, never a blob) and the row a backward pass starts from is the
forward pass's last row. That is why the published ``Concat1`` takes ``SCNN_U_1..H-1`` plus
``SCNN_D_H``.

Everything here is pure: no file I/O.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from .core.layerdef import Enum, Fields, LayerDef, Value, format_float, render_layers, scalar_text
from .errors import SurgeryError
from .files import MiB, format_bytes

__all__ = [
    "ALL_DIRECTIONS",
    "DetectedModule",
    "Enum",
    "Fields",
    "LayerDef",
    "ModuleCost",
    "ScnnSpec",
    "ScnnSpecError",
    "Value",
    "build_module",
    "canonical_directions",
    "detect_modules",
    "format_float",
    "kernel_too_wide",
    "module_cost",
    "module_output",
    "render_layers",
]
from .options import (
    ALL_DIRECTIONS,
    BOTTOM,
    DIRECTIONS,
    Kind,
    OptionValueError,
    check_value,
    declaration,
)
from .runtime import content_cache

FLOAT32_BYTES = 4

# Published modules are under 1 MiB of text (the largest real feature maps give a few
# MiB). insert holds about 60 bytes of memory per byte of module text and takes about a
# millisecond per layer, so this bound keeps the worst case to a few GiB and minutes.
MAX_MODULE_TEXT_BYTES = 64 * MiB
# num_output, kernel_h/kernel_w and slice_point are uint32 fields of caffe.proto.
MAX_UINT32 = 2**32 - 1


class ScnnSpecError(SurgeryError, ValueError):
    """An SCNN module request that cannot be built; the message is one sentence.

    A SurgeryError so the command line reports it as one line with exit status 1.
    """


@dataclass(frozen=True)
class ScnnSpec:
    """What SCNN module to build.

    ``prefix`` is prepended to every layer, blob and shared-param name the module creates, but
    not to ``bottom`` (an existing blob) nor to ``top`` (the exact name asked for).
    ``directions`` is any non-empty set of the letters D, U, L, R; their order in the string does
    not matter, because the passes always run D, U, R, L as published.
    """

    height: int
    width: int
    channels: int = 128
    kernel_width: int = 9
    bottom: str = "conv5_5"
    directions: str = ALL_DIRECTIONS
    prefix: str = ""
    top: str | None = None
    init_std: float | None = None
    share_weights: bool = True
    lr_mult: float = 1.0

    def validate(self) -> None:
        """Raise ScnnSpecError, with a one-sentence message, if the module cannot be built."""
        self.validate_sizes()
        _check_name_collisions(self)

    def validate_sizes(self) -> None:
        """Everything :meth:`validate` checks except whether its names collide; the values
        are checked by the same converters as the command line's options."""
        try:
            for item in dataclasses.fields(self):
                value = getattr(self, item.name)
                if value is not None or item.default is not None:  # None: left to the default
                    check_value(item.name, _option_kind(item.name), value)
        except OptionValueError as exc:
            raise ScnnSpecError(str(exc)) from None
        if canonical_directions(self.directions) != DIRECTIONS.check(self.directions):
            raise ScnnSpecError(
                f"directions must be upper-case letters D, U, L, R, got {self.directions!r}"
            )
        _check_size(self)  # before anything is built: a module may be billions of layers
        _check_uint32_fields(self)

    def weight_std(self) -> float:
        """The gaussian std of every message-passing kernel.

        The published generator used sqrt(2 / (k * C * 5)) printed with 5 decimals; the value is
        rounded the same way here so that the rendered text matches it (0.01863 for k=9, C=128;
        0.03536 for Apollo's k=5, C=64), except that at least 3 significant digits are kept for
        very wide layers. An explicit ``init_std`` is used exactly as given.
        """
        if self.init_std is not None:
            return self.init_std
        exact = math.sqrt(2.0 / (self.kernel_width * self.channels * 5))
        decimals = max(5, 2 - math.floor(math.log10(exact)))
        return round(exact, decimals)


def _option_kind(name: str) -> Kind[object]:
    """A spec field is checked as the option of the same name is (bottom: generate's)."""
    return BOTTOM.kind if name == "bottom" else declaration(name).kind


@dataclass(frozen=True)
class ModuleCost:
    """Size of one module for a float32 batch of 1.

    ``macs`` counts output elements x kernel taps x input channels for every convolution, zero
    padding included. ``activation_bytes`` is the forward storage of every distinct blob the
    module produces (in-place ReLUs add nothing), as if none were shared.
    """

    layers: int
    parameters: int
    macs: int
    activation_bytes: int


@dataclass(frozen=True)
class ModuleEstimate:
    """How big a module is, known before it is built.

    ``text_bytes`` bounds its prototxt text in the default layout (two-space indent, either
    format) from above: every name is counted at its longest. ``weight_bytes`` is what its
    kernels take in a caffemodel, where every convolution stores its own copy, as Caffe's
    ``Net::ToProto`` writes shared parameters.
    """

    layers: int
    convolutions: int
    text_bytes: int
    weight_bytes: int


@dataclass(frozen=True)
class DetectedModule:
    """An SCNN module found in an existing net.

    ``first_index``/``last_index`` are inclusive positions in the layer list given to
    ``detect_modules``. ``height`` is None when the module has no vertical stage and ``width``
    None when it has no horizontal stage (the structure does not record them). ``channels`` and
    ``kernel`` are None unless convolution parameters were supplied. With a single row (or
    column) no pass has layers, so D, U and DU cannot be told apart; the default naming decides.
    """

    prefix: str
    directions: str
    height: int | None
    width: int | None
    channels: int | None
    kernel: int | None
    first_index: int
    last_index: int
    bottom: str
    output: str
    layer_names: tuple[str, ...]


LayerSummary: TypeAlias = tuple[str, str, Sequence[str], Sequence[str]]
"""(name, V2 type, bottoms, tops) of one layer, as ``detect_modules`` reads a net."""

ConvShape: TypeAlias = tuple[int, int, int]
"""(num_output, kernel_h, kernel_w) of one convolution layer."""


@dataclass(frozen=True)
class _Stage:
    """One axis of message passing: its slice/concat number, blob axis and two directions."""

    number: int
    axis: int
    forward: str
    backward: str

    def directions_in(self, directions: str) -> str:
        return "".join(d for d in (self.forward, self.backward) if d in directions)


_VERTICAL = _Stage(number=1, axis=2, forward="D", backward="U")
_HORIZONTAL = _Stage(number=2, axis=3, forward="R", backward="L")
_STAGES = (_VERTICAL, _HORIZONTAL)


def _check_uint32_fields(spec: ScnnSpec) -> None:
    for what, value, field_name in (
        ("channels", spec.channels, "num_output"),
        ("kernel width", spec.kernel_width, "kernel_w"),
        ("height", spec.height, "slice_point"),
        ("width", spec.width, "slice_point"),
    ):
        if value > MAX_UINT32:
            raise ScnnSpecError(
                f"{what} must be at most {MAX_UINT32:,} (Caffe's {field_name} is a uint32),"
                f" got {value:,}"
            )


def _check_size(spec: ScnnSpec) -> None:
    estimate = estimate_module(spec)
    if estimate.text_bytes > MAX_MODULE_TEXT_BYTES:
        raise ScnnSpecError(
            f"a {spec.height}x{spec.width} module would be {estimate.layers:,} layers and about"
            f" {format_bytes(estimate.text_bytes)} of prototxt, over the"
            f" {format_bytes(MAX_MODULE_TEXT_BYTES)} scnn-surgery writes; published modules"
            " are under 1 MiB"
        )


def canonical_directions(directions: str) -> str:
    """The letters of ``directions`` in DULR order, the spelling ``detect_modules`` reports."""
    return "".join(d for d in ALL_DIRECTIONS if d in directions)


def _check_name_collisions(spec: ScnnSpec) -> None:
    if spec.top is not None and spec.top == spec.bottom:
        raise ScnnSpecError(f"top blob must differ from the bottom blob {spec.bottom!r}")
    internal = set(_internal_blobs(spec))
    if spec.bottom in internal:
        raise ScnnSpecError(
            f"bottom blob {spec.bottom!r} is also a blob the module creates; use a prefix"
        )
    if spec.top is not None and spec.top in internal:
        raise ScnnSpecError(f"top blob {spec.top!r} is already a blob inside the module")


def _internal_blobs(spec: ScnnSpec) -> Iterator[str]:
    """Every blob the module writes except its output, named as :func:`_build` names them
    (without building the layers: a module may have thousands)."""
    stages = _stages_of(spec.directions)
    for stage in stages:
        count = spec.height if stage is _VERTICAL else spec.width
        yield from (_row_name(spec, stage, i) for i in range(1, count + 1))
        directions = stage.directions_in(spec.directions)
        for direction in directions:
            sources = range(1, count) if direction == stage.forward else range(count, 1, -1)
            step = 1 if direction == stage.forward else -1
            for index in sources:
                yield f"{_message_stem(spec, direction, index)}/message"
                yield _result_name(spec, direction, index + step)
        if stage is not stages[-1]:
            yield _default_stage_top(spec, stage)


def _row_name(spec: ScnnSpec, stage: _Stage, index: int) -> str:
    return f"{spec.prefix}slice{stage.number}_{index}"


def _message_stem(spec: ScnnSpec, direction: str, index: int) -> str:
    return f"{spec.prefix}SCNN_{direction}_{index}"


def _result_name(spec: ScnnSpec, direction: str, index: int) -> str:
    return f"{spec.prefix}SCNN_{direction}_{index}"


def _stages_of(directions: str) -> list[_Stage]:
    return [stage for stage in _STAGES if stage.directions_in(directions)]


def _default_stage_top(spec: ScnnSpec, stage: _Stage) -> str:
    """Concat1 is named after its last pass (SCNN_U, or SCNN_D if only D runs); Concat2 is SCNN."""
    if stage is _HORIZONTAL:
        return f"{spec.prefix}SCNN"
    last_pass = stage.directions_in(spec.directions)[-1]
    return f"{spec.prefix}SCNN_{last_pass}"


def _slice_layer(name: str, bottom: str, tops: Sequence[str], axis: int) -> LayerDef:
    # With one top there is no slice_point; Caffe then shares the bottom unchanged.
    slice_points: Fields = tuple(("slice_point", i) for i in range(1, len(tops)))
    slice_param: Fields = (("axis", axis), *slice_points)
    return LayerDef(name, "Slice", (bottom,), tuple(tops), (("slice_param", slice_param),))


def _concat_layer(name: str, bottoms: Sequence[str], top: str, axis: int) -> LayerDef:
    return LayerDef(name, "Concat", tuple(bottoms), (top,), (("concat_param", (("axis", axis),)),))


def _conv_layer(
    spec: ScnnSpec, stage: _Stage, direction: str, name: str, bottom: str, top: str
) -> LayerDef:
    k = spec.kernel_width
    pad = (k - 1) // 2
    kernel_h, kernel_w, pad_h, pad_w = (1, k, 0, pad) if stage is _VERTICAL else (k, 1, pad, 0)
    sharing: Fields = (("name", f"{spec.prefix}SCNN_{direction}_w"),) if spec.share_weights else ()
    param: Fields = (*sharing, ("lr_mult", spec.lr_mult), ("decay_mult", 1.0))
    weight_filler: Fields = (("type", "gaussian"), ("std", spec.weight_std()))
    convolution_param: Fields = (
        ("num_output", spec.channels),
        ("kernel_h", kernel_h),
        ("kernel_w", kernel_w),
        ("pad_h", pad_h),
        ("pad_w", pad_w),
        ("stride", 1),
        ("bias_term", False),
        ("weight_filler", weight_filler),
    )
    fields: Fields = (("param", param), ("convolution_param", convolution_param))
    return LayerDef(name, "Convolution", (bottom,), (top,), fields)


def _message_layers(
    spec: ScnnSpec, stage: _Stage, direction: str, index: int, source: str, addend: str, result: str
) -> list[LayerDef]:
    """Row ``index`` sends its message: conv, in-place ReLU, then a sum into the next row."""
    stem = _message_stem(spec, direction, index)
    message = f"{stem}/message"
    eltwise_param: Fields = (("operation", Enum("SUM")),)
    return [
        _conv_layer(spec, stage, direction, stem, source, message),
        LayerDef(f"{stem}/relu", "ReLU", (message,), (message,)),
        LayerDef(
            f"{stem}/sum",
            "Eltwise",
            (message, addend),
            (result,),
            (("eltwise_param", eltwise_param),),
        ),
    ]


def _forward_pass(
    spec: ScnnSpec, stage: _Stage, rows: Sequence[str]
) -> tuple[list[LayerDef], list[str]]:
    """Pass from the first row to the last; returns the layers and the updated rows."""
    direction = stage.forward
    updated = list(rows)
    layers: list[LayerDef] = []
    for index in range(1, len(rows)):
        result = _result_name(spec, direction, index + 1)
        layers += _message_layers(
            spec, stage, direction, index, updated[index - 1], rows[index], result
        )
        updated[index] = result
    return layers, updated


def _backward_pass(
    spec: ScnnSpec, stage: _Stage, rows: Sequence[str]
) -> tuple[list[LayerDef], list[str]]:
    """Pass from the last row to the first; returns the layers and the updated rows."""
    direction = stage.backward
    updated = list(rows)
    layers: list[LayerDef] = []
    for index in range(len(rows), 1, -1):
        result = _result_name(spec, direction, index - 1)
        layers += _message_layers(
            spec, stage, direction, index, updated[index - 1], rows[index - 2], result
        )
        updated[index - 2] = result
    return layers, updated


def _stage_layers(spec: ScnnSpec, stage: _Stage, source: str, top: str) -> list[LayerDef]:
    count = spec.height if stage is _VERTICAL else spec.width
    rows = [_row_name(spec, stage, i) for i in range(1, count + 1)]
    layers = [_slice_layer(f"{spec.prefix}Slice{stage.number}", source, rows, stage.axis)]
    directions = stage.directions_in(spec.directions)
    if stage.forward in directions:
        pass_layers, rows = _forward_pass(spec, stage, rows)
        layers += pass_layers
    if stage.backward in directions:
        pass_layers, rows = _backward_pass(spec, stage, rows)
        layers += pass_layers
    layers.append(_concat_layer(f"{spec.prefix}Concat{stage.number}", rows, top, stage.axis))
    return layers


def _build(spec: ScnnSpec) -> list[LayerDef]:
    """The module's layers; assumes the numeric and direction fields are valid."""
    stages = _stages_of(spec.directions)
    layers: list[LayerDef] = []
    source = spec.bottom
    for stage in stages:
        is_last = stage is stages[-1]
        top = spec.top if is_last and spec.top is not None else _default_stage_top(spec, stage)
        layers += _stage_layers(spec, stage, source, top)
        source = top
    return layers


def build_module(spec: ScnnSpec, check_names: bool = True) -> list[LayerDef]:
    """The SCNN module's layers in the published order.

    Raises ScnnSpecError for an invalid spec (``check_names=False``: only for invalid
    sizes; a caller that prefixes the names afterwards checks them then).

    A height (or width) of 1 leaves nothing to pass messages between, so that stage has no
    convolutions: it is just a Slice with one top and no slice_point followed by a Concat with
    one bottom. Caffe accepts both and makes them share the input blob, so the module stays
    valid and keeps its usual layer and output names. (Following the published files' pattern
    literally, Concat1 would read ``SCNN_D_1``, a blob that no layer produces.)
    """
    if check_names:
        spec.validate()
    else:
        spec.validate_sizes()
    return _build(spec)


def reduction_name(prefix: str) -> str:
    """The 1x1 convolution ``insert --reduce-channels`` puts before a module (and its
    in-place ReLU's name, with ``/relu``)."""
    return f"{prefix}SCNN_reduce"


def module_output(spec: ScnnSpec) -> str:
    """The blob the module's last layer writes."""
    spec.validate()
    if spec.top is not None:
        return spec.top
    return _default_stage_top(spec, _stages_of(spec.directions)[-1])


def _text_size(layers: Sequence[LayerDef]) -> int:
    """Bytes of ``layers`` rendered in whichever format is longer."""
    return max(
        len(render_layers(layers, legacy_v1=legacy).encode("utf-8", "surrogateescape"))
        for legacy in (False, True)
    )


def _line_size(key: str, value: Value, depth: int) -> int:
    line = f"{'  ' * depth}{key}: {scalar_text(value)}\n"
    return len(line.encode("utf-8", "surrogateescape"))


def _stage_text_bound(spec: ScnnSpec, stage: _Stage, source: str, top: str) -> int:
    """Text of one stage with every name at its longest: the Slice and Concat grow by a
    line (or two) per row, and each message adds its three layers."""
    rows = spec.height if stage is _VERTICAL else spec.width
    row = f"{spec.prefix}slice{stage.number}_{rows}"
    directions = stage.directions_in(spec.directions)
    blobs = [row, *(f"{spec.prefix}SCNN_{d}_{rows}" for d in directions)]
    longest = max(blobs, key=len)
    slice_layer = _slice_layer(f"{spec.prefix}Slice{stage.number}", source, [row], stage.axis)
    concat = _concat_layer(f"{spec.prefix}Concat{stage.number}", [longest], top, stage.axis)
    per_row = (
        _line_size("top", row, 1) + _line_size("slice_point", rows, 2)
        + _line_size("bottom", longest, 1)
    )
    size = _text_size([slice_layer, concat]) + (rows - 1) * per_row
    for direction in directions:
        message = _message_layers(spec, stage, direction, rows, longest, longest, longest)
        size += (rows - 1) * _text_size(message)
    return size


@functools.lru_cache(maxsize=64)  # every validate() asks, several times per insert
def estimate_module(spec: ScnnSpec) -> ModuleEstimate:
    """Layers, text and caffemodel bytes of the module, without building it; needs only
    valid sizes and directions (``validate`` uses it before anything is built)."""
    layers = convolutions = text = 0
    source = spec.bottom
    stages = _stages_of(spec.directions)
    for stage in stages:
        rows = spec.height if stage is _VERTICAL else spec.width
        passes = len(stage.directions_in(spec.directions))
        layers += 2 + passes * 3 * (rows - 1)
        convolutions += passes * (rows - 1)
        is_last = stage is stages[-1]
        top = spec.top if is_last and spec.top is not None else _default_stage_top(spec, stage)
        text += _stage_text_bound(spec, stage, source, top)
        source = top
    kernel = spec.channels * spec.channels * spec.kernel_width * FLOAT32_BYTES
    return ModuleEstimate(layers, convolutions, text, convolutions * kernel)


content_cache(estimate_module.cache_clear)


def module_cost(spec: ScnnSpec) -> ModuleCost:
    """Layers, weights, multiply-accumulates and activation storage of the module."""
    spec.validate()
    layers = parameters = macs = activations = 0
    for stage in _stages_of(spec.directions):
        slices = spec.height if stage is _VERTICAL else spec.width
        slice_elements = spec.channels * (spec.width if stage is _VERTICAL else spec.height)
        passes = len(stage.directions_in(spec.directions))
        messages = slices - 1
        kernel_weights = spec.channels * spec.channels * spec.kernel_width
        layers += 2 + passes * 3 * messages
        if messages:
            parameters += passes * kernel_weights * (1 if spec.share_weights else messages)
        macs += passes * messages * slice_elements * spec.channels * spec.kernel_width
        # Slice and Concat each hold the whole map; every message and every sum holds a slice.
        activations += 2 * slices * slice_elements + passes * 2 * messages * slice_elements
    return ModuleCost(layers, parameters, macs, activations * FLOAT32_BYTES)


def _skeleton(layer: LayerDef | LayerSummary) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    if isinstance(layer, LayerDef):
        return layer.name, layer.type, layer.bottoms, layer.tops
    name, layer_type, bottoms, tops = layer
    return name, layer_type, tuple(bottoms), tuple(tops)


def _matches(expected: Sequence[LayerDef], layers: Sequence[LayerSummary], start: int) -> bool:
    """Whether ``layers`` from ``start`` is ``expected``, letting the last top have any name."""
    if start + len(expected) > len(layers):
        return False
    for offset, want in enumerate(expected):
        name, layer_type, bottoms, tops = _skeleton(layers[start + offset])
        is_last = offset == len(expected) - 1
        if is_last and len(tops) == 1:
            tops = want.tops  # the module's output may have been renamed with ``top``
        if (name, layer_type, bottoms, tops) != _skeleton(want):
            return False
    return True


def _candidate_specs(
    layers: Sequence[LayerSummary], start: int, prefix: str, stage: _Stage
) -> list[ScnnSpec]:
    """Every module shape that could begin with the Slice at ``start``, most directions first."""
    _, _, bottoms, tops = layers[start]
    bottom = bottoms[0]
    if stage is _HORIZONTAL:
        return [
            ScnnSpec(1, len(tops), bottom=bottom, directions=d, prefix=prefix)
            for d in ("LR", "R", "L")
        ]
    height = len(tops)
    candidates: list[ScnnSpec] = []
    for vertical in ("DU", "D", "U"):
        after_vertical = start + 2 + 3 * len(vertical) * (height - 1)
        width = _slice_width(layers, after_vertical, f"{prefix}Slice2")
        if width is not None:
            candidates += [
                ScnnSpec(height, width, bottom=bottom, directions=vertical + h, prefix=prefix)
                for h in ("LR", "R", "L")
            ]
        candidates.append(ScnnSpec(height, 1, bottom=bottom, directions=vertical, prefix=prefix))
    return candidates


def _slice_width(layers: Sequence[LayerSummary], index: int, name: str) -> int | None:
    if index >= len(layers):
        return None
    layer_name, layer_type, _, tops = layers[index]
    return len(tops) if (layer_name, layer_type) == (name, "Slice") and tops else None


def _conv_geometry(
    layers: Sequence[LayerSummary], first: int, last: int, conv_params: Mapping[str, ConvShape]
) -> tuple[int | None, int | None]:
    """(channels, kernel) from the module's first convolution, when its parameters are known."""
    for name, layer_type, _, _ in layers[first : last + 1]:
        if layer_type == "Convolution" and name in conv_params:
            num_output, kernel_h, kernel_w = conv_params[name]
            return num_output, kernel_w if kernel_h == 1 else kernel_h
    return None, None


def _match_module_at(
    layers: Sequence[LayerSummary], start: int, conv_params: Mapping[str, ConvShape]
) -> DetectedModule | None:
    name, layer_type, bottoms, tops = layers[start]
    if layer_type != "Slice" or len(bottoms) != 1 or not tops:
        return None
    for stage in _STAGES:
        suffix = f"Slice{stage.number}"
        if not name.endswith(suffix):
            continue
        prefix = name[: -len(suffix)]
        best: tuple[int, bool, ScnnSpec, list[LayerDef]] | None = None
        for spec in _candidate_specs(layers, start, prefix, stage):
            expected = _build(spec)
            if not _matches(expected, layers, start):
                continue
            actual_output = layers[start + len(expected) - 1][3][0]
            rank = (len(expected), actual_output == expected[-1].tops[0])
            if best is None or rank > best[:2]:
                best = (*rank, spec, expected)
        if best is not None:
            return _detected(layers, start, best[2], best[3], conv_params)
    return None


def _detected(
    layers: Sequence[LayerSummary],
    start: int,
    spec: ScnnSpec,
    expected: Sequence[LayerDef],
    conv_params: Mapping[str, ConvShape],
) -> DetectedModule:
    last = start + len(expected) - 1
    channels, kernel = _conv_geometry(layers, start, last, conv_params)
    stages = _stages_of(spec.directions)
    return DetectedModule(
        prefix=spec.prefix,
        directions=canonical_directions(spec.directions),
        height=spec.height if _VERTICAL in stages else None,
        width=spec.width if _HORIZONTAL in stages else None,
        channels=channels,
        kernel=kernel,
        first_index=start,
        last_index=last,
        bottom=spec.bottom,
        output=layers[last][3][0],
        layer_names=tuple(layer.name for layer in expected),
    )


def detect_modules(
    layers: Sequence[LayerSummary], conv_params: Mapping[str, ConvShape] | None = None
) -> list[DetectedModule]:
    """SCNN modules in a net, given each layer's (name, V2 type, bottoms, tops) in file order.

    Recognises the published generator's layout, Apollo's, and any module ``build_module``
    writes (any prefix, direction subset or output name), as a contiguous run of layers.
    ``conv_params`` maps convolution layer names to (num_output, kernel_h, kernel_w) and is only
    used to report ``channels`` and ``kernel``.
    """
    params = conv_params or {}
    found: list[DetectedModule] = []
    index = 0
    while index < len(layers):
        module = _match_module_at(layers, index, params)
        if module is None:
            index += 1
        else:
            found.append(module)
            index = module.last_index + 1
    return found


def _largest_odd(size: int) -> int:
    return max(1, size if size % 2 else size - 1)


# A narrower kernel passes nothing between neighbours (1) or only to one side.
SMALLEST_KERNEL = 3


def kernel_too_wide(spec: ScnnSpec, larger_map: str | None = None) -> str | None:
    """The warning for a kernel wider than the map, or None; ``larger_map`` says where the
    caller's command can take a module whose map no kernel fits.

    D and U convolve 1xk along each row (the width), R and L kx1 along each column. Caffe runs
    such a kernel (its padding keeps the map's size), so it is a warning, not a refusal.
    """
    k = spec.kernel_width
    kernels = []
    sizes = []
    for letters, kernel, size in (("DU", f"1x{k}", spec.width), ("RL", f"{k}x1", spec.height)):
        passes = ", ".join(d for d in letters if d in spec.directions)
        if passes and k > size:
            kernels.append(f"{kernel} ({passes})")
            sizes.append(size)
    if not kernels:
        return None
    fits = _largest_odd(min(sizes))
    advice = (
        f"--kernel-width {fits} or less fits"
        if fits >= SMALLEST_KERNEL
        else f"no kernel of width {SMALLEST_KERNEL} or more fits (a 1-wide one passes nothing"
        " between neighbours): the map is too small for SCNN"
        + (f"; {larger_map}" if larger_map else "")
    )
    return (
        f"warning: the kernel width {k} is wider than the {spec.height}x{spec.width} map:"
        f" every {' and '.join(kernels)} kernel reaches past the map into zero padding;"
        f" {advice}"
    )


LARGE_CHANNELS = 256  # more than the published advice for SCNN
ADVISED_CHANNELS = 128  # the published advice: 128 channels fit


def cost_lines(spec: ScnnSpec, cost: ModuleCost, reduction: str | None = None) -> list[str]:
    """What is said of a module once it is made: its size and cost, and a warning for
    more channels than SCNN is known to work with, with ``reduction`` as what to do
    (default: reduce to 128 channels)."""
    lines = [
        f"module {spec.directions} {spec.height}x{spec.width}x{spec.channels} k{spec.kernel_width}:"
        f" {cost.layers} layers, {cost.parameters:,} parameters, {cost.macs:,} MACs,"
        f" {cost.activation_bytes / 2**20:.1f} MiB activations (float32, per image)"
    ]
    if spec.channels > LARGE_CHANNELS:
        if reduction is None:
            reduction = (
                f"insert --reduce-channels {ADVISED_CHANNELS} maps the blob to"
                f" {ADVISED_CHANNELS} channels with a 1x1 convolution first"
            )
        lines.append(
            f"warning: {spec.channels} channels is a lot for SCNN; the published advice is that"
            f" 128 fits and 512 is too much ({reduction})"
        )
    return lines
