"""Static checks: what Caffe's ``Net::Init`` (and, optionally, a deployment target) refuses.

Each rule reports :class:`Finding` s located by line. Errors are what Caffe
aborts on; warnings are legal nets that will not do what one expects.

Rules Caffe enforces (``net.cpp``, ``FilterNet``, the layers' ``SetUp``):

* ``unknown-bottom`` - a bottom must be produced earlier in file order, in that phase;
* ``duplicate-top`` - a top may be produced again only in place (top[i] == bottom[i]);
* ``include-exclude`` - a layer gives include rules or exclude rules, not both;
* ``propagate-down`` - propagate_down is given 0 times or once per bottom;
* ``input-fields`` - top-level input_shape / input_dim agree with the inputs;
* ``param-count`` - no more ``param {}`` entries than the layer has blobs;
* ``param-sharing`` - a shared param name has compatible shapes (equal; equal counts
  with PERMISSIVE) and equal explicit lr_mult / decay_mult;
* ``batchnorm-param`` - BatchNorm statistics must have lr_mult 0 (a warning: forks differ);
* ``unknown-field`` - a field the schema (``--proto``, else the guessed dialect) does not
  know (a warning: the text keeps it verbatim, but nothing checks it);
* ``bottom-count``, ``top-count`` - as many bottoms and tops as the BVLC type takes
  (``CheckBlobCounts``; :mod:`scnn_surgery.analysis.layerrules`);
* ``axis-range`` - an axis within the bottom's axes (``CanonicalAxisIndex``);
* ``axis-both`` - Concat and Slice give ``axis`` or their legacy dim, not both;
* ``eltwise-coeff``, ``eltwise-shapes``, ``concat-shapes``, ``slice-shapes``, ``shapes`` -
  shape agreement, from :mod:`scnn_surgery.analysis.shapes`;
* with weights, ``weights-count``, ``weights-shape``, ``weights-data`` (errors, as in
  ``CopyTrainedLayersFrom``), ``weights-missing`` and ``weights-unused`` (warnings).

Targets add ``opencv-type``, ``opencv-blob-data`` and ``opencv-axis`` (``--target opencv``), and
``vitis-axis`` and ``vitis-input`` (``--target vitis``, warnings).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from google.protobuf.descriptor import Descriptor

from ..core.document import Field, Message, Scalar
from ..core.graph import BlobVersion, LayerGraph, NetState, graph_of, selected_states
from ..core.net import Layer, Net
from ..errors import SurgeryError
from ..options import TARGETS
from ..passes.upgrade import net_for_reading
from ..schema.select import Schema, descriptor_of, schema_for_net
from ..weights import (
    Caffemodel,
    ParamSpec,
    blob_matches,
    blob_shape,
    blob_value_count,
    layer_param_blobs,
    param_blob_count,
    param_specs,
)
from .layerrules import (
    AxisField,
    axis_conflicts,
    axis_problems,
    blob_counts,
    count_problems,
    parameter_field,
    reads_parameters,
    type_label,
)
from .params import (
    eltwise_coeffs,
    layer_message,
    params_memo,
    part_message,
    per_params,
    validate_layer,
)
from .shapes import ShapeOverrides, ShapeResult, format_shape, infer_shapes

Severity = Literal["error", "warning"]

__all__ = ["OPENCV_LAYER_TYPES", "TARGETS", "Finding", "Severity", "check_net", "errors_of"]


@dataclass(frozen=True)
class Finding:
    """One problem: ``layer`` names the offending layer, ``line`` is 1-based (None: no line)
    in ``source``, the file the line belongs to (None: the file checked)."""

    severity: Severity
    rule: str
    message: str
    layer: str | None
    line: int | None
    source: str | None = None

    def format(self, source: str) -> str:
        source = self.source or source
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.severity}: {self.message} [{self.rule}]"

    def as_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "rule": self.rule,
            "message": self.message,
            "layer": self.layer,
            "line": self.line,
        }


def errors_of(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


# Types OpenCV 4.x's Caffe importer can build: the layer factory's registrations
# (modules/dnn/src/init.cpp) plus the types caffe_importer.cpp rewrites itself.
OPENCV_LAYER_TYPES = frozenset(
    {
        # handled by the importer
        "Input", "ConvolutionDepthwise", "Axpy",
        # init.cpp
        "Slice", "Split", "Concat", "Reshape", "Flatten", "Resize", "Interp", "CropAndResize",
        "Convolution", "Deconvolution", "Pooling", "ROIPooling", "PSROIPooling", "Reduce",
        "LRN", "InnerProduct", "Gemm", "MatMul", "Softmax", "SoftMax", "MVN",
        "ReLU", "ReLU6", "ChannelsPReLU", "PReLU", "Sigmoid", "TanH", "Swish", "Mish", "ELU",
        "BNLL", "AbsVal", "Power", "Exp", "Ceil", "Floor", "Log", "Round", "Sqrt", "Not",
        "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cos", "Cosh", "Erf", "HardSwish",
        "Sin", "Sinh", "Sign", "Shrink", "Softplus", "Softsign", "Tan", "Celu", "HardSigmoid",
        "Selu", "ThresholdedRelu", "Gelu", "GeluApproximation", "BatchNorm", "MaxUnpool",
        "Dropout", "Identity", "Silence", "Const", "Arg", "Reciprocal", "Gather",
        "GatherElements", "LayerNormalization", "Expand", "InstanceNormalization",
        "Attention", "GroupNormalization", "DepthToSpace", "SpaceToDepth",
        "Crop", "Eltwise", "NaryEltwise", "Permute", "ShuffleChannel", "PriorBox",
        "PriorBoxClustered", "Reorg", "Region", "DetectionOutput", "NormalizeBBox",
        "Normalize", "Shift", "Padding", "Proposal", "Scale", "Compare", "DataAugmentation",
        "Correlation", "Accum", "FlowWarp", "LSTM", "GRU", "CumSum", "Einsum", "Scatter",
        "ScatterND", "Tile", "TopK",
    }
)  # fmt: skip


# ---------------------------------------------------------------------------
# Where things are


def _line(net: Net, offset: int) -> int:
    return net.document.line_col(offset)[0]


def _layer_line(layer: Layer) -> int | None:
    text = layer.text
    return None if text is None else text.document.line_col(text.block.start)[0]


def _outer(layer: Layer) -> Message | None:
    """The layer's block as written (None for a layer surgery added)."""
    if layer.text is None:
        return None
    value = layer.text.block.value
    assert isinstance(value, Message)
    return value


def _finding(
    net: Net, layer: Layer, rule: str, message: str, severity: Severity = "error",
    offset: int | None = None,
) -> Finding:
    """A finding about a layer, located in the file its text is in (None: an added layer);
    an unnamed layer is named by its label, ``#N``. A layer surgery revised is located at
    the start of its block in the file (an offset of the revision is in no file)."""
    who = f"layer '{layer.name}'" if layer.name else f"unnamed layer {net.label(layer)}"
    key = layer.name or net.label(layer)
    text = layer.text
    if text is None:
        return Finding(severity, rule, f"{who} (added): {message}", key, None)
    if text.home is not None:
        text, offset = text.home, None
    doc = text.document
    line = doc.line_col(text.block.start if offset is None else offset)[0]
    source = None if doc is net.document else doc.source
    return Finding(severity, rule, f"{who}: {message}", key, line, source)


# ---------------------------------------------------------------------------
# Rules that do not depend on the phase


def _include_exclude(net: Net) -> list[Finding]:
    out = []
    for layer in net.layers:
        outer = _outer(layer)
        if layer.include and layer.exclude and outer is not None:
            first = outer.all("exclude")[0]
            out.append(
                _finding(
                    net, layer, "include-exclude",
                    "gives both include and exclude rules; Caffe wants one kind or the other",
                    offset=first.start,
                )
            )
    return out


def _propagate_down(net: Net) -> list[Finding]:
    out = []
    for layer in net.layers:
        outer = _outer(layer)
        if layer.format == "v0" or outer is None:
            continue
        given = outer.scalars("propagate_down")
        if given and len(given) != len(layer.bottoms):
            out.append(
                _finding(
                    net, layer, "propagate-down",
                    f"propagate_down is given {len(given)} times for {len(layer.bottoms)}"
                    " bottoms; Caffe wants it 0 times or once per bottom",
                    offset=given[0].start,
                )
            )
    return out


def _input_fields(net: Net) -> list[Finding]:
    root = net.document.root
    inputs = len(root.scalars("input"))
    dims = root.scalars("input_dim")
    shapes = root.all("input_shape")
    if not dims and not shapes:
        return []
    line = _line(net, dims[0].start if dims else shapes[0].start)
    message = None
    if dims and shapes:
        message = "input_shape and input_dim are both given; Caffe takes one or the other"
    elif dims and len(dims) != 4 * inputs:
        message = f"{len(dims)} input_dim values for {inputs} inputs (Caffe wants 4 each)"
    elif shapes and len(shapes) != inputs:
        message = f"{len(shapes)} input_shape blocks for {inputs} inputs (Caffe wants 1 each)"
    return [] if message is None else [Finding("error", "input-fields", message, None, line)]


def _eltwise_coeff(net: Net) -> list[Finding]:
    out = []
    for layer in net.layers:
        if layer.type != "Eltwise" or layer.format == "v0":
            continue
        coeffs, is_sum = eltwise_coeffs(net, layer)
        if coeffs and coeffs != len(layer.bottoms):
            out.append(
                _finding(
                    net, layer, "eltwise-coeff",
                    f"{coeffs} coeff values for {len(layer.bottoms)} bottoms; Eltwise takes one"
                    " coefficient per bottom",
                )
            )
        elif coeffs and not is_sum:
            out.append(
                _finding(net, layer, "eltwise-coeff", "coeff is only allowed with operation SUM")
            )
    return out


def _batchnorm_params(net: Net) -> list[Finding]:
    out = []
    for layer in net.layers:
        if layer.type != "BatchNorm" or layer.format != "v2":
            continue
        learned = [
            i
            for i, spec in enumerate(param_specs(net, layer)[:3])
            if (1.0 if spec.lr_mult is None else spec.lr_mult) != 0
        ]
        if learned:
            # A warning: forks built on Caffe before this check (Apollo's) load such nets.
            out.append(
                _finding(
                    net, layer, "batchnorm-param",
                    f"{'params' if len(learned) > 1 else 'param'}"
                    f" {', '.join(map(str, learned))} (statistics, not learned) must have"
                    " lr_mult 0 in BVLC Caffe; older forks accept other values",
                    severity="warning",
                )
            )
    return out


def _unknown_in(
    message: Message, desc: Descriptor, prefix: str = "", skip: frozenset[str] = frozenset()
) -> Iterator[tuple[str, Field]]:
    """(dotted path, field) for each field of the text that ``desc`` does not have, into
    sub-messages by each known field's message type, depth first. A stack, not recursion:
    a user's .proto may nest a message in itself as deep as the text does."""
    stack = [(iter(message.fields), desc, prefix)]
    while stack:
        fields, schema, path = stack[-1]
        field = next(fields, None)
        if field is None:
            stack.pop()
            continue
        if len(stack) == 1 and field.name in skip:
            continue
        known = schema.fields_by_name.get(field.name)
        if known is None:
            yield path + field.name, field
        elif known.message_type is not None:
            stack.extend(
                (iter(value.fields), known.message_type, f"{path}{field.name}.")
                for value in reversed(field.values())
                if isinstance(value, Message)
            )


def _first_per_path(found: Iterable[tuple[str, Field]]) -> dict[str, Field]:
    """One report per field path: a repeated unknown field is one problem."""
    first: dict[str, Field] = {}
    for path, field in found:
        first.setdefault(path, field)
    return first


_LAYER_FIELDS = frozenset({"layer", "layers"})  # checked per layer, for the layer's name


def _unknown_fields(net: Net, schema: Schema) -> list[Finding]:
    hint = "" if schema.proto is not None else " (give --proto for your fork's caffe.proto)"

    def why(path: str) -> str:
        return f"field '{path}' is not in {schema.description}; it is kept verbatim{hint}"

    top = _unknown_in(net.document.root, descriptor_of(schema.net), skip=_LAYER_FIELDS)
    out = [
        Finding("warning", "unknown-field", why(path), None, _line(net, field.start))
        for path, field in _first_per_path(top).items()
    ]
    for layer in net.layers:
        for path, field in _unknown_layer_fields(layer, schema).items():
            out.append(
                _finding(
                    net, layer, "unknown-field", why(path), severity="warning", offset=field.start
                )
            )
    return out


def _unknown_layer_fields(layer: Layer, schema: Schema) -> dict[str, Field]:
    outer = _outer(layer)
    if outer is None:
        return {}  # written by us, from the schema's own fields
    key = ("unknown-fields", schema.name, schema.proto)
    found: dict[str, Field] | None = layer.memo.get(key)
    if found is None:
        desc = descriptor_of(schema.block_class(layer.format))
        found = _first_per_path(_unknown_in(outer, desc))
        layer.memo[key] = found
    return found


# ---------------------------------------------------------------------------
# Rules of one phase


@dataclass
class _Phase:
    graph: LayerGraph
    shapes: ShapeResult | None

    @property
    def net(self) -> Net:
        return self.graph.net

    @property
    def name(self) -> str:
        return self.graph.state.phase


def _writers(net: Net) -> dict[str, list[Layer]]:
    """For each blob, the layers that write it, in file order."""
    out: dict[str, list[Layer]] = {}
    for layer in net.layers:
        for top in dict.fromkeys(layer.tops):
            out.setdefault(top, []).append(layer)
    return out


def _scalar_offset(scalars: Sequence[Scalar] | None, index: int) -> int | None:
    return scalars[index].start if scalars is not None and index < len(scalars) else None


def _unknown_bottoms(phase: _Phase) -> list[Finding]:
    net, graph = phase.net, phase.graph
    writers: dict[str, list[Layer]] | None = None
    out = []
    for layer in graph.layers:
        for i, version in enumerate(graph.bottoms(layer)):
            if version is not None:
                continue
            if writers is None:
                writers = _writers(net)
            name = layer.bottoms[i]
            position = net.index_of(layer)
            later = next((w for w in writers.get(name, []) if net.index_of(w) > position), None)
            hint = ""
            if later is not None:
                where = _layer_line(later)
                line = f" (line {where})" if where is not None else ""
                hint = (
                    f"; it is produced later, by layer '{later.name}'{line}, and Caffe needs"
                    " the producer first"
                )
            offset = _scalar_offset(layer.text.bottom_scalars if layer.text else None, i)
            out.append(
                _finding(
                    net, layer, "unknown-bottom",
                    f"bottom '{name}' is not produced by an earlier layer{hint}",
                    offset=offset,
                )
            )
    return out


def _untyped_layers(phase: _Phase) -> list[Finding]:
    """A layer with no type: Caffe's LayerRegistry knows no type "" and stops the net's
    set-up there (a V1 layer without one upgrades to it; shape inference already refuses
    a V0 one)."""
    return [
        _finding(
            phase.net, layer, "layer-type",
            "has no type; Caffe stops at it ('Unknown layer type'); give it its type",
        )
        for layer in phase.graph.layers
        if not layer.type and layer.format != "v0"
    ]  # fmt: skip


def _duplicate_tops(phase: _Phase) -> list[Finding]:
    """A top that writes a blob again, not in place: the graph records who wrote it first
    (the producer of its version 0)."""
    net, graph = phase.net, phase.graph
    out = []
    written = {i.name for i in net.inputs}  # a later version needs an earlier write
    for layer in graph.layers:
        for i, name in enumerate(layer.tops):
            in_place = i < len(layer.bottoms) and layer.bottoms[i] == name
            seen = name in written
            written.add(name)
            if not seen or in_place:
                continue
            version = graph.tops(layer)[i]
            if version.version == 0:
                continue
            first = graph.producer(BlobVersion(name, 0))
            by = "the net input" if first is None else f"layer '{first.name}'"
            offset = _scalar_offset(layer.text.top_scalars if layer.text else None, i)
            out.append(
                _finding(
                    net, layer, "duplicate-top",
                    f"top '{name}' is already produced by {by}; only an in-place layer"
                    f" (top[{i}] == bottom[{i}]) may write it again",
                    offset=offset,
                )
            )
    return out


_SHAPE_RULES = {"Eltwise": "eltwise-shapes", "Concat": "concat-shapes", "Slice": "slice-shapes"}


def _blob_offset(layer: Layer, rule: str, index: int | None) -> int | None:
    if index is None or layer.text is None:
        return None
    scalars = layer.text.bottom_scalars if rule == "bottom-count" else layer.text.top_scalars
    return _scalar_offset(scalars, index)


def _axis_offset(layer: Layer, field: AxisField) -> int | None:
    params = layer.body.message(field.message) if layer.body is not None else None
    value = params.scalar(field.field) if params is not None else None
    return None if value is None else value.start


def _layer_structure(phase: _Phase, layer: Layer) -> list[Finding]:
    """Blob counts and axes as the BVLC type's header and CanonicalAxisIndex allow."""
    if layer.format == "v0":
        return []
    if layer.definition is None:
        return _structure_findings(phase, layer)
    # Added layers with equal parameters (every convolution of an SCNN pass) pass or fail
    # alike for the same blob counts and input rank; a clean verdict is shared.
    inputs = phase.shapes.layer_inputs(layer) if phase.shapes and layer.bottoms else None
    rank = len(inputs[0]) if inputs and inputs[0] is not None else None
    key = ("structure clean", len(layer.bottoms), len(layer.tops), rank, phase.shapes is None)
    alike = params_memo(layer)
    if alike.get(key):
        return []
    found = _structure_findings(phase, layer)
    if not found:
        alike[key] = True
    return found


def _structure_findings(phase: _Phase, layer: Layer) -> list[Finding]:
    net = phase.net
    message = None
    if reads_parameters(layer.type):
        name = parameter_field(layer.type)
        assert name is not None
        try:
            message = part_message(net, layer, name)
        except SurgeryError:
            return []  # the schema refuses it: validate_layer has said where
    out = []
    counts = blob_counts(layer.type, message)
    if counts is not None and not counts.fits(len(layer.bottoms), len(layer.tops)):
        out += [
            _finding(net, layer, problem.rule, problem.message,
                     offset=_blob_offset(layer, problem.rule, problem.extra))
            for problem in count_problems(
                type_label(layer.type, message), counts, len(layer.bottoms), len(layer.tops)
            )
        ]  # fmt: skip
    if message is not None:
        out += [
            _finding(net, layer, "axis-both", problem.message,
                     offset=_axis_offset(layer, problem.field))
            for problem in axis_conflicts(layer.type, message)
        ]  # fmt: skip
    if message is None or phase.shapes is None or not layer.bottoms:
        return out
    inputs = phase.shapes.layer_inputs(layer)
    if inputs[0] is not None:
        out += [
            _finding(net, layer, "axis-range", problem.message,
                     offset=_axis_offset(layer, problem.field))
            for problem in axis_problems(layer.type, message, len(inputs[0]), layer.bottoms[0])
        ]  # fmt: skip
    return out


def _structure_and_shapes(phase: _Phase) -> list[Finding]:
    """Blob counts and axes, then the shape errors of the layers they leave alone (a
    Crop given one bottom is a count problem, not a second one about shapes)."""
    out = [f for layer in phase.graph.layers for f in _layer_structure(phase, layer)]
    flagged = {f.layer for f in out}
    return out + [f for f in _shape_errors(phase) if f.layer not in flagged or f.layer is None]


def _shape_errors(phase: _Phase) -> list[Finding]:
    if phase.shapes is None:
        return []
    out = []
    for problem in phase.shapes.errors:
        layer = problem.layer
        if problem.override:
            out.append(Finding("error", "shape-override", problem.message, None, None))
            continue
        if layer is None:
            out.append(Finding("error", "shapes", problem.message, None, None))
            continue
        rule = _SHAPE_RULES.get(layer.type, "shapes")
        message = _strip_location(phase.net, layer, problem.message)
        out.append(_finding(phase.net, layer, rule, message))
    return out


def _strip_location(net: Net, layer: Layer, message: str) -> str:
    """shapes.py prefixes messages with ``layer 'x' (FILE:L:C) (Type): ``; a finding
    carries the layer and line itself."""
    prefix = f"{net.describe(layer)} ({layer.type}): "
    if message.startswith(prefix):
        return message[len(prefix) :]
    prefix = f"{net.describe(layer)}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _param_blob_shapes(phase: _Phase, layer: Layer) -> list[tuple[int, ...]] | None:
    if phase.shapes is None:
        return None
    try:
        blobs = layer_param_blobs(phase.net, layer, phase.shapes.layer_inputs(layer))
    except (SurgeryError, ValueError):
        return None
    return None if blobs is None else [b.shape for b in blobs]


@dataclass
class _Owner:
    layer: Layer
    index: int
    shape: tuple[int, ...] | None
    lr_mult: float | None = None
    decay_mult: float | None = None


def _implicit_specs(net: Net, layer: Layer, count: int | None) -> list[ParamSpec]:
    """ParamSpecs as ``AppendParam`` sees them: BatchNorm adds ``lr_mult: 0`` for the
    statistics it was given no param block for."""
    specs = list(param_specs(net, layer))
    if layer.type == "BatchNorm" and count is not None:
        specs += [ParamSpec("", 0.0, None, False)] * (count - len(specs))
    return specs


@per_params
def _param_facts(net: Net, layer: Layer) -> tuple[int | None, tuple[ParamSpec, ...], bool]:
    """The layer's parameter blob count, its ParamSpecs, and whether any is shared by name."""
    count = param_blob_count(net, layer)
    specs = tuple(_implicit_specs(net, layer, count))
    return count, specs, any(s.name for s in specs)


def _param_rules(phase: _Phase) -> list[Finding]:
    net = phase.net
    owners: dict[str, _Owner] = {}
    out: list[Finding] = []
    for layer in phase.graph.layers:
        count, specs, named = _param_facts(net, layer)
        if count is not None and len(specs) > count:
            out.append(
                _finding(
                    net, layer, "param-count",
                    f"{len(specs)} param blocks for a {layer.type} layer with {count}"
                    f" parameter blob{'s' if count != 1 else ''}",
                )
            )
        if not named:
            continue
        shapes = _param_blob_shapes(phase, layer)
        for i, spec in enumerate(specs[: count if count is not None else len(specs)]):
            if not spec.name:
                continue
            shape = shapes[i] if shapes is not None and i < len(shapes) else None
            owner = owners.get(spec.name)
            if owner is None:
                owners[spec.name] = _Owner(layer, i, shape, spec.lr_mult, spec.decay_mult)
                continue
            out += _sharing_findings(net, layer, spec, shape, owner)
    return out


def _sharing_findings(
    net: Net, layer: Layer, spec: ParamSpec, shape: tuple[int, ...] | None, owner: _Owner
) -> list[Finding]:
    out = []
    who = f"shared param '{spec.name}' (owned by layer '{owner.layer.name}')"
    if shape is not None and owner.shape is not None:
        if spec.permissive and math.prod(shape) != math.prod(owner.shape):
            out.append(
                _finding(
                    net, layer, "param-sharing",
                    f"{who}: this layer's blob has {math.prod(shape)} values, the owner's"
                    f" {math.prod(owner.shape)}",
                )
            )
        elif not spec.permissive and shape != owner.shape:
            out.append(
                _finding(
                    net, layer, "param-sharing",
                    f"{who}: shape {format_shape(shape)} here, {format_shape(owner.shape)} in"
                    " the owner (use share_mode: PERMISSIVE to compare counts only)",
                )
            )
    for field in ("lr_mult", "decay_mult"):
        mine = getattr(spec, field)
        if mine is None:
            continue
        theirs = getattr(owner, field)
        if theirs is None:
            setattr(owner, field, mine)
        elif theirs != mine:
            out.append(
                _finding(
                    net, layer, "param-sharing",
                    f"{who} has mismatched {field}: {mine:g} here, {theirs:g} before",
                )
            )
    return out


# ---------------------------------------------------------------------------
# Weights (Net::CopyTrainedLayersFrom)


def _weights_rules(phase: _Phase, weights: Caffemodel) -> list[Finding]:
    net = phase.net
    source = weights.source
    first: dict[str, Layer] = {}
    for layer in phase.graph.layers:
        first.setdefault(layer.name, layer)
    out: list[Finding] = []
    for entry in weights.layers:
        target = first.get(entry.name)
        if target is None:
            continue
        layer = target
        blobs = list(entry.blobs)
        count = param_blob_count(net, layer)
        if count is not None and count != len(blobs):
            out.append(
                _finding(
                    net, layer, "weights-count",
                    f"{source} holds {len(blobs)} blob{'s' if len(blobs) != 1 else ''} for"
                    f" it, but a {layer.type} layer like this one has {count}",
                )
            )
            continue
        expected = _param_blob_shapes(phase, layer)
        for j, blob in enumerate(blobs):
            stored = blob_shape(blob)
            if expected is not None and j < len(expected) and not blob_matches(blob, expected[j]):
                out.append(
                    _finding(
                        net, layer, "weights-shape",
                        f"param {j} in {source} is {format_shape(stored)}, but the layer needs"
                        f" {format_shape(expected[j])}",
                    )
                )
            elif blob_value_count(blob) != math.prod(stored):
                out.append(
                    _finding(
                        net, layer, "weights-data",
                        f"param {j} in {source} has {blob_value_count(blob)} values for shape"
                        f" {format_shape(stored)}",
                    )
                )
    stored_names = {entry.name for entry in weights.layers}
    for name, layer in first.items():
        if name not in stored_names and param_blob_count(net, layer):
            out.append(
                _finding(
                    net, layer, "weights-missing",
                    f"has no blobs in {source}; Caffe keeps the values its fillers give",
                    severity="warning",
                )
            )
    return out


def _unused_weights(net: Net, weights: Caffemodel) -> list[Finding]:
    names = net.layer_names
    return [
        Finding(
            "warning", "weights-unused",
            f"{weights.source} holds blobs for layer '{entry.name}', which the net does not have;"
            " Caffe ignores them",
            entry.name, None,
        )
        for entry in weights.layers
        if entry.name not in names and len(entry.blobs)
    ]


# ---------------------------------------------------------------------------
# Targets


def _opencv_rules(net: Net, weights: Caffemodel | None) -> list[Finding]:
    out = [
        _finding(
            net, layer, "opencv-type",
            f"OpenCV's Caffe importer has no layer type '{layer.type}' (register a custom"
            " layer, or remove it for deployment)",
        )
        for layer in net.layers
        if layer.type not in OPENCV_LAYER_TYPES
    ]
    out += _opencv_old_axes(net)
    if weights is not None:
        by_name = {layer.name: layer for layer in net.layers}
        for entry in weights.layers:
            if any(len(blob.double_data) for blob in entry.blobs) and entry.name in by_name:
                out.append(
                    _finding(
                        net, by_name[entry.name], "opencv-blob-data",
                        f"{weights.source} stores its blobs as double_data, which OpenCV cannot"
                        " read (it reads float data)",
                    )
                )
    return out


_OLD_AXES = {"Slice": ("slice_param", "slice_dim"), "Concat": ("concat_param", "concat_dim")}


def _opencv_old_axes(net: Net) -> list[Finding]:
    """OpenCV's importer reads only ``axis``: a ``slice_dim``/``concat_dim`` (V1's spelling)
    is ignored and the layer works on axis 1 instead."""
    out = []
    for layer in net.layers:
        if layer.type not in _OLD_AXES or layer.format == "v0":
            continue
        block, old = _OLD_AXES[layer.type]
        param = getattr(layer_message(net, layer), block)
        if param.HasField(old) and not param.HasField("axis"):
            out.append(
                _finding(
                    net, layer, "opencv-axis",
                    f"{old}: {getattr(param, old)} is ignored by OpenCV's importer, which reads"
                    f" only axis (so it works on axis 1); write axis: {getattr(param, old)}",
                )
            )
    return out


def _declared_axis(net: Net, layer: Layer) -> int:
    msg = layer_message(net, layer)
    if layer.format == "v0":
        return int(msg.concat_dim) if layer.type == "Concat" else 1
    p = msg.slice_param if layer.type == "Slice" else msg.concat_param
    alias = "slice_dim" if layer.type == "Slice" else "concat_dim"
    return int(getattr(p, alias)) if p.HasField(alias) else int(p.axis)


def _channel_axis(axis: int, rank: int | None) -> bool:
    if axis >= 0:
        return axis == 1
    # Without a known rank, assume the usual N x C x H x W.
    return axis + (rank if rank is not None else 4) == 1


def _vitis_rules(net: Net, phases: Sequence[_Phase]) -> list[Finding]:
    out = []
    for layer in net.layers:
        if layer.type not in ("Slice", "Concat"):
            continue
        axis = _declared_axis(net, layer)
        rank = _first_rank(phases, layer)
        if not _channel_axis(axis, rank):
            out.append(
                _finding(
                    net, layer, "vitis-axis",
                    f"{layer.type} on axis {axis}, not channels: Vitis AI's DPU only"
                    f" {'slices' if layer.type == 'Slice' else 'concatenates'} along channels,"
                    " so this layer runs on the CPU",
                    severity="warning",
                )
            )
    out += _vitis_inputs(net)
    return out


def _first_rank(phases: Sequence[_Phase], layer: Layer) -> int | None:
    for phase in phases:
        if phase.shapes is None:
            continue
        shapes = phase.shapes.layer_inputs(layer)
        if shapes and shapes[0] is not None:
            return len(shapes[0])
    return None


def _vitis_inputs(net: Net) -> list[Finding]:
    out = []
    if net.inputs:
        out.append(
            Finding(
                "warning", "vitis-input",
                "the net declares its input with top-level input fields; Vitis AI wants an"
                " Input layer named 'data'",
                None, _line(net, net.inputs[0].scalar.start),
            )
        )
    for layer in net.layers:
        if layer.type == "Input" and layer.name != "data":
            out.append(
                _finding(
                    net, layer, "vitis-input",
                    "Vitis AI wants the Input layer to be named 'data'", severity="warning",
                )
            )
    return out


# ---------------------------------------------------------------------------
# The driver


PhaseRule = Callable[[_Phase], list[Finding]]
_PHASE_RULES: tuple[PhaseRule, ...] = (
    _untyped_layers, _unknown_bottoms, _duplicate_tops, _structure_and_shapes, _param_rules,
)  # fmt: skip


def _analyse(net: Net, state: NetState, overrides: ShapeOverrides) -> _Phase:
    graph = graph_of(net, state)
    # An override for a blob only one phase has (a TRAIN label) is not an error in the other.
    mine = {name: dims for name, dims in overrides.items() if name in graph.latest}
    try:
        shapes: ShapeResult | None = infer_shapes(net, graph, mine)
    except SurgeryError:
        shapes = None
    return _Phase(graph, shapes)


def _merge_phases(per_phase: Sequence[tuple[str, list[Finding]]]) -> list[Finding]:
    """One finding per problem; those seen in some phases only say which."""
    seen: dict[Finding, list[str]] = {}
    for phase, findings in per_phase:
        for finding in findings:
            seen.setdefault(finding, [])
            if phase not in seen[finding]:
                seen[finding].append(phase)
    every = len(per_phase)
    out = []
    for finding, where in seen.items():
        if len(where) < every:
            suffix = f" (phase {', '.join(where)})"
            finding = replace(finding, message=finding.message + suffix)
        out.append(finding)
    return out


def check_net(
    net: Net,
    phases: Sequence[str] | None = None,
    weights: Caffemodel | None = None,
    target: str | None = None,
    shapes: ShapeOverrides | None = None,
    proto: str | None = None,
    errors_only: bool = False,
) -> list[Finding]:
    """Every finding for ``net``, ordered by line.

    ``phases`` limits the phases checked (default: TRAIN and TEST when the net's
    include/exclude rules tell them apart, else TEST); ``weights`` is a
    :class:`~scnn_surgery.weights.Caffemodel`; ``target`` is ``"opencv"`` or ``"vitis"``;
    ``shapes`` overrides blob shapes as ``--shape`` does (for inputs the file leaves open);
    ``proto`` is the user's fork caffe.proto (default: the dialect the text uses);
    ``errors_only`` skips the rules that can only warn (surgery checking its result).
    """
    if target is not None and target not in TARGETS:
        raise SurgeryError(f"unknown target '{target}'; use one of {', '.join(TARGETS)}")
    if net.format == "v0":  # what Caffe checks is the net its upgrade makes
        net = net_for_reading(net)
    schema = None if errors_only else schema_for_net(net, proto)  # only warnings need it
    for layer in net.layers:  # what Caffe's parser refuses is refused, located, first
        validate_layer(net, layer)
    findings = [
        *_include_exclude(net),
        *_propagate_down(net),
        *_input_fields(net),
        *_eltwise_coeff(net),
    ]
    if not errors_only:
        assert schema is not None
        findings += _unknown_fields(net, schema) + _batchnorm_params(net)
    analysed = [_analyse(net, state, shapes or {}) for state in selected_states([net], phases)]
    per_phase = []
    for phase in analysed:
        found = [f for rule in _PHASE_RULES for f in rule(phase)]
        if weights is not None:
            found += _weights_rules(phase, weights)
        per_phase.append((phase.name, found))
    findings += _merge_phases(per_phase)
    if weights is not None:
        findings += _unused_weights(net, weights)
    if target == "opencv":
        findings += _opencv_rules(net, weights)
    elif target == "vitis":
        findings += _vitis_rules(net, analysed)
    return sorted(findings, key=lambda f: (f.line is None, f.line or 0))
