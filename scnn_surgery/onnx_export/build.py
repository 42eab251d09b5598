"""A Caffe net (any dialect; V0 and V1 are read as V2 in memory) and its weights as an ONNX
model of one phase's deploy graph.

The net, its layer graph and its inferred shapes are only read. Every layer of the phase is
converted by its entry in :data:`~scnn_surgery.onnx_export.layers.CONVERTERS`; data layers
become graph inputs, losses, accuracies and Silence are left out (Dropout passes its input
on), and the blobs nothing reads are the graph's outputs. The model passes
``onnx.checker.check_model(full_check=True)`` and ONNX's shape inference must give every
Caffe blob the shape :func:`~scnn_surgery.analysis.shapes.infer_shapes` gives it, before anything is
returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..analysis.layerrules import blob_counts, count_problems, type_label
from ..analysis.params import layer_message
from ..analysis.shapes import Shape as MaybeDims
from ..analysis.shapes import (
    ShapeOverrides,
    ShapeProblem,
    ShapeResult,
    format_shape,
    infer_shapes,
    shape_flag,
)
from ..core.graph import BlobVersion, LayerGraph, NetState, graph_of
from ..core.net import Layer, Net
from ..errors import SurgeryError, SurgeryErrors
from ..passes.upgrade import net_for_reading
from ..weights import Caffemodel
from .blobs import resolve_blobs
from .context import Emitter, LayerContext, Shape
from .layers import CONVERTERS, is_data, left_out

# Opset 13 is the first whose Softmax works over one axis (earlier ones flatten the axes
# from it on, the 4-D Softmax bug the issue names) and whose Split, Squeeze, Pad and Resize
# take their sizes as inputs, as every converter here writes them.
MIN_OPSET = 13
PRODUCER = "scnn-surgery"


class UnsupportedLayers(SurgeryErrors):
    """Layers of types the export does not convert: one line each, then what it means."""

    def __init__(self, lines: Sequence[str]) -> None:
        count = len(lines)
        super().__init__(
            [
                *lines,
                f"{count} layer{'s' * (count != 1)} above cannot be exported to ONNX; nothing"
                " was written",
            ]
        )


@dataclass
class OnnxExport:
    """The exported model and what the export has to say about it.

    The model is kept as its graph and its initializers' arrays apart (``graph_only`` has
    none): the file is written from the arrays' own memory, and the
    ``onnx.ModelProto`` with the tensors in it (:attr:`model`), which costs a copy of
    every weight, is made only when asked for."""

    graph_only: onnx.ModelProto
    tensors: dict[str, np.ndarray] = field(repr=False)
    opset: int
    notes: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    @cached_property
    def model(self) -> onnx.ModelProto:
        """The whole model, initializers in it."""
        return self.full_model()

    def full_model(self) -> onnx.ModelProto:
        """A new copy of the whole model (one the caller may change)."""
        model = onnx.ModelProto()
        model.CopyFrom(self.graph_only)
        _add_initializers(model, self.tensors)
        return model


def highest_opset() -> int:
    return int(onnx.defs.onnx_opset_version())


def choose_opset(asked: int | None) -> int:
    """The opset to write: the lowest the converters need, or the one asked for if it is
    at least that and onnx knows it."""
    top = highest_opset()
    if asked is None:
        return MIN_OPSET
    if asked < MIN_OPSET:
        raise SurgeryError(
            f"--opset {asked}: the graph needs opset {MIN_OPSET} or newer (Softmax over one"
            f" axis, and Split, Pad and Resize with their sizes as inputs)"
        )
    if asked > top:
        raise SurgeryError(f"--opset {asked}: the installed onnx knows opsets up to {top}")
    return asked


def _unsupported(net: Net, layers: Sequence[Layer]) -> list[str]:
    lines = []
    for layer in layers:
        kind = layer.type
        if kind in CONVERTERS or is_data(kind) or left_out(kind):
            continue
        where = net.layer_location(layer) or net.source
        lines.append(f"{where}: layer '{layer.name}' has type '{kind}'")
    return lines


def _blob_problem(net: Net, layer: Layer) -> str | None:
    """Why ``layer``'s bottoms and tops cannot be converted: a count its type does not
    take (``CheckBlobCounts``), or a blob without a name (ONNX reads '' as "absent")."""
    where = net.describe(layer)
    if "" in (*layer.bottoms, *layer.tops):
        return f"{where}: a blob named '' cannot be an ONNX value; name it"
    message = layer_message(net, layer)
    counts = blob_counts(layer.type, message)
    if counts is None or counts.fits(len(layer.bottoms), len(layer.tops)):
        return None
    label = type_label(layer.type, message)
    problem = count_problems(label, counts, len(layer.bottoms), len(layer.tops))[0]
    return f"{where}: {problem.message}"


def _phase_graph(net: Net, phase: str) -> LayerGraph:
    graph = graph_of(net, NetState(phase))
    if graph.problems:
        problem = graph.problems[0]
        raise SurgeryError(f"{net.describe(problem.layer)}: {problem.message} (phase {phase})")
    return graph


def _known(shapes: ShapeResult, version: BlobVersion, where: Callable[[], str]) -> Shape:
    """The blob's sizes; one ONNX cannot do without is refused at ``where()``, the
    layer (or top-level input) that makes the blob."""
    shape: MaybeDims | None = shapes.blob(version)
    if shape is None or any(d is None for d in shape):
        raise SurgeryError(
            f"{where()}: the shape of blob '{version.name}' is {format_shape(shape)}; ONNX"
            f" needs every size: give it with {shape_flag(version.name, _shape_hint(shape))}"
        )
    return tuple(int(d) for d in shape if d is not None)


def _located_problem(net: Net, problem: ShapeProblem) -> str:
    """The shape rules' message, which names its layer and line itself; one that does not
    (a --shape that does not fit, say) after the layer or the file."""
    if problem.layer is None:
        return f"{net.source}: {problem.message}"
    where = net.describe(problem.layer)
    return problem.message if where in problem.message else f"{where}: {problem.message}"


def _maker(net: Net, readable: Net, graph: LayerGraph, version: BlobVersion) -> str:
    """The layer that writes ``version``, or the top-level input it is, as messages name
    it (an input by its place in ``net``'s file: ``readable`` may be an upgrade of it)."""
    producer = graph.producer(version)
    if producer is not None:
        return readable.describe(producer)
    for given in net.inputs:
        if given.name == version.name:
            return f"{net.document.location(given.scalar.start)}: input '{given.name}'"
    return readable.source


def _shape_hint(shape: MaybeDims | None) -> str:
    """``N,C,H,W`` with a ``?`` for each size the file gives (``--shape`` keeps those)."""
    if shape is None or len(shape) != 4:
        return "N,C,H,W"
    letters = zip(shape, "NCHW", strict=True)
    return ",".join("?" if d is not None else letter for d, letter in letters)


@dataclass
class _Plan:
    """Which layers are converted, which versions are inputs, outputs and aliases."""

    converted: list[Layer]
    inputs: list[BlobVersion]
    outputs: list[BlobVersion]
    left_out: list[Layer]
    read_by_left_out: list[str]  # input blobs only left-out layers read
    read_by_none: list[str]  # input blobs no layer reads


def _plan(net: Net, graph: LayerGraph) -> _Plan:
    """The blobs nothing reads are the outputs, as Net::Init leaves them (a Silence layer
    reads its bottoms, so they are none), but for those only losses and accuracies read:
    left out, they leave the predictions they read as the deploy net's outputs."""
    converted = [x for x in graph.layers if not is_data(x.type) and not left_out(x.type)]
    dropped = [x for x in graph.layers if left_out(x.type)]
    dropped_set = set(dropped)
    read: set[BlobVersion] = set()
    for layer in converted:
        for index, version in enumerate(graph.bottoms(layer)):
            if version is None:
                continue
            producer = graph.producer(version)
            if producer in dropped_set:
                raise SurgeryError(
                    f"{net.describe(layer)} reads '{layer.bottoms[index]}' from"
                    f" {net.describe(producer)}, a {producer.type} layer, which export leaves"
                    " out"
                )
            read.add(version)
    read_when_left_out = {v for x in dropped for v in graph.bottoms(x) if v is not None}
    silenced = {v for x in dropped if x.type == "Silence" for v in graph.bottoms(x)}
    sources: list[BlobVersion] = [
        version for version in graph.blob_versions() if graph.net_input(version) is not None
    ]
    for layer in graph.layers:
        if is_data(layer.type):
            sources.extend(graph.tops(layer))
    inputs = [v for v in sources if v in read]
    unread = [v for v in sources if v not in read]
    made = [v for layer in converted for v in graph.tops(layer)]
    outputs = [v for v in made if v not in read and v not in silenced]
    return _Plan(
        converted, inputs, outputs, dropped,
        [v.name for v in unread if v in read_when_left_out],
        [v.name for v in unread if v not in read_when_left_out],
    )  # fmt: skip


def _value_names(emitter: Emitter, graph: LayerGraph, plan: _Plan) -> dict[BlobVersion, str]:
    """Inputs keep their Caffe names, so does each blob's final version; the earlier
    versions of an in-place chain get unique names (``conv1/v0``)."""
    names: dict[BlobVersion, str] = {}
    for version in plan.inputs:
        names[version] = emitter.reserve(version.name)
    made = [v for layer in plan.converted for v in graph.tops(layer)]
    for version in made:
        if graph.latest.get(version.name) == version and version.name not in emitter.used:
            names[version] = emitter.reserve(version.name)
    for version in made:
        if version not in names:
            names[version] = emitter.fresh(f"{version.name}/v{version.version}")
    return names


def _value_info(name: str, shape: Shape, dynamic_batch: bool) -> onnx.ValueInfoProto:
    dims: list[int | str] = list(shape)
    if dynamic_batch and dims:
        dims[0] = "N"
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


Dims = list[int | str | None]  # ONNX's: a size, a symbol (a free batch), or unknown


def _compare_shapes(
    model: onnx.ModelProto, expected: Mapping[str, Shape], dynamic: bool
) -> dict[str, Dims]:
    """ONNX's shape inference against ours, for every Caffe blob; a difference is a bug.
    With a free batch size a size ONNX leaves open is one the batch reaches (through a
    Reshape, it may be any axis); only the sizes it fixes are compared. Returns every
    shape ONNX infers."""
    inferred = onnx.shape_inference.infer_shapes(
        model, check_type=True, strict_mode=True, data_prop=dynamic
    )
    found: dict[str, Dims] = {}
    graph = inferred.graph
    for info in [*graph.value_info, *graph.output, *graph.input]:
        tensor = info.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        found[info.name] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim
        ]
    for name, shape in expected.items():
        dims = found.get(name)
        ours: Dims = list(shape)
        if dynamic and dims is not None and len(dims) == len(ours):
            ours = [o if isinstance(d, int) else d for o, d in zip(ours, dims, strict=True)]
        if dims != ours:
            shown = "unknown" if dims is None else "x".join(str(d) for d in dims)
            raise SurgeryError(
                f"internal error: ONNX shape inference gives blob '{name}' the shape {shown},"
                f" scnn-surgery's gives {format_shape(tuple(shape))}; this is a bug in"
                " scnn-surgery's export, please report it with the net"
            )
    return found


def _declare_outputs(model: onnx.ModelProto, found: Mapping[str, Dims]) -> None:
    """With a free batch size, each output's shape as ONNX infers it: the input's N where
    the batch comes through as it is, open where a Reshape folds it into another size."""
    for output in model.graph.output:
        shape = output.type.tensor_type.shape
        shape.ClearField("dim")
        for size in found[output.name]:
            dim = shape.dim.add()
            if isinstance(size, int):
                dim.dim_value = size
            elif size == "N":
                dim.dim_param = size


def export_net(
    net: Net,
    weights: Caffemodel | None = None,
    *,
    phase: str | None = None,
    shapes: ShapeOverrides | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
    filled: Callable[[], Caffemodel | None] = lambda: None,
) -> OnnxExport:
    """``net``'s ``phase`` (default TEST) as an ONNX model with ``weights``' blobs (layers
    it lacks take those of ``filled()``, the fillers' caffemodel)."""
    chosen = choose_opset(opset)
    phase = phase or "TEST"
    readable = net_for_reading(net)
    graph = _phase_graph(readable, phase)
    lines = _unsupported(readable, graph.layers)
    if lines:
        raise UnsupportedLayers(lines)
    for layer in graph.layers:
        problem = _blob_problem(readable, layer)
        if problem is not None:
            raise SurgeryError(problem)
    inferred = infer_shapes(readable, graph, shapes)
    if inferred.errors:
        raise SurgeryError(_located_problem(readable, inferred.errors[0]))
    plan = _plan(readable, graph)
    if not plan.outputs:
        raise SurgeryError(f"{readable.source}: phase {phase} computes nothing to export")
    emitter = Emitter(chosen)
    names = _value_names(emitter, graph, plan)
    known = {v: _known(inferred, v, partial(_maker, net, readable, graph, v)) for v in names}
    bottoms = {layer: inferred.layer_inputs(layer) for layer in plan.converted}
    blobs = resolve_blobs(readable, plan.converted, bottoms, weights, filled, graph.layers)
    initializer_names: dict[str, str] = {}
    for layer in plan.converted:
        keys = blobs.keys.get(layer, [])
        for key in keys:
            if key not in initializer_names:
                base = key.split(":", 1)[1] if key.startswith("param:") else None
                index = key.rsplit(":", 1)[-1]
                initializer_names[key] = emitter.fresh(base or f"{layer.name}/param{index}")
    for layer in plan.converted:
        tops = graph.tops(layer)
        context = LayerContext(
            net=readable,
            layer=layer,
            emitter=emitter,
            inputs=[names[v] for v in graph.bottoms(layer) if v is not None],
            outputs=[names[v] for v in tops],
            in_shapes=[known[v] for v in graph.bottoms(layer) if v is not None],
            out_shapes=[known[v] for v in tops],
            blobs=blobs.values.get(layer, []),
            blob_names=[initializer_names[k] for k in blobs.keys.get(layer, [])],
            test_phase=phase == "TEST",
            dynamic_batch=dynamic_batch,
        )
        aliases = CONVERTERS[layer.type](context)
        if aliases is not None:
            for version, value in zip(tops, aliases, strict=True):
                names[version] = value
    output_names = []
    taken = {*names.values(), *emitter.initializers}
    for version in plan.outputs:
        wanted = version.name if graph.latest.get(version.name) == version else names[version]
        if names[version] != wanted:  # an alias (Dropout's top, say): name it as Caffe does
            if wanted in taken:
                wanted = emitter.fresh(wanted)
            taken.add(emitter.reserve(wanted))
            emitter.nodes.append(helper.make_node("Identity", [names[version]], [wanted],
                                                  name=emitter.node_name(f"{wanted}/output")))
        output_names.append(wanted)
    inputs = [_value_info(names[v], known[v], dynamic_batch) for v in plan.inputs]
    # With a free batch, ONNX's inference gives the outputs' shapes (_declare_outputs).
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [None] * len(known[v]))
        if dynamic_batch else _value_info(n, known[v], False)
        for n, v in zip(output_names, plan.outputs, strict=True)
    ]  # fmt: skip
    name = readable.name or "net"
    model = _model(helper.make_graph(emitter.nodes, name, inputs, outputs), chosen)
    notes = [*blobs.notes, *emitter.notes]
    if plan.left_out:
        notes.append(_left_out_note(plan.left_out, graph))
    if plan.read_by_left_out:
        notes.append(_unread_note(plan.read_by_left_out, "read only by left-out layers"))
    if plan.read_by_none:
        notes.append(_unread_note(plan.read_by_none, "read by no layer"))
    expected = {names[v]: known[v] for v in names if names[v] in emitter.used}
    expected.update({n: known[v] for n, v in zip(output_names, plan.outputs, strict=True)})
    found = _check(emitter, model, expected, dynamic_batch)
    if dynamic_batch:
        _declare_outputs(model, found)
    return OnnxExport(
        model, emitter.initializers, chosen, notes, [names[v] for v in plan.inputs], output_names
    )


def _left_out_note(dropped: Sequence[Layer], graph: LayerGraph) -> str:
    """What was left out; Dropout, which is exported, is named only where the net has one
    (a reader might take it for a layer left out too)."""
    kinds = ", ".join(dict.fromkeys(x.type for x in dropped))
    names = ", ".join(repr(x.name) for x in dropped[:4])
    dropout = any(x.type == "Dropout" for x in graph.layers)
    return (
        f"left out {len(dropped)} layer{'s' * (len(dropped) != 1)} a deployed net does not run"
        f" ({kinds}: {names}{' ...' if len(dropped) > 4 else ''})"
        f"{'; Dropout layers pass their input on' if dropout else ''}"
    )


def _unread_note(names: Sequence[str], why: str) -> str:
    many = len(names) != 1
    return (
        f"input blob{'s' * many} {', '.join(map(repr, names))} {why}, so"
        f" {'not graph inputs' if many else 'not a graph input'}"
    )


def _ir_version_for(opset: int) -> int:
    """The IR version onnx pairs with ``opset`` (runtimes refuse a newer IR than they know)."""
    for _release, ir, ai_onnx, *_ in helper.VERSION_TABLE:
        if ai_onnx == opset:
            return int(ir)
    return int(onnx.IR_VERSION)


def _model(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name=PRODUCER
    )
    model.ir_version = min(model.ir_version, _ir_version_for(opset))
    return model


_LARGE = 4096  # bytes: an initializer the check sees by its type and shape alone


def _stubbed(array: np.ndarray) -> bool:
    """Whether the check sees ``array`` by type and shape alone: large weights. Integer
    tensors are sizes (a Split's, a Reshape's) whose values shape inference reads, however
    many there are (a Slice into 512 tops has 4 KiB of them)."""
    return array.nbytes >= _LARGE and array.dtype.kind == "f"


def _check(
    emitter: Emitter, model: onnx.ModelProto, expected: Mapping[str, Shape], dynamic: bool
) -> dict[str, Dims]:
    """``check_model(full_check=True)`` and the shape comparison (whose inferred shapes it
    returns), on the model with its large initializers declared by type and shape as graph
    inputs: neither looks at their values, and copying hundreds of MB of weights through
    both would cost more than the rest of the export."""
    stubs = [
        helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(array.dtype), list(array.shape)
        )
        for name, array in emitter.initializers.items()
        if _stubbed(array)
    ]
    checked = onnx.ModelProto()
    checked.CopyFrom(model)
    checked.graph.input.extend(stubs)
    small = {n: a for n, a in emitter.initializers.items() if not _stubbed(a)}
    _add_initializers(checked, small)
    try:
        onnx.checker.check_model(checked, full_check=True)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SurgeryError(
            f"internal error: the exported model fails onnx's checker ({first}); this is"
            " a bug in scnn-surgery's export, please report it with the net"
        ) from None
    return _compare_shapes(checked, expected, dynamic)


def _add_initializers(model: onnx.ModelProto, arrays: Mapping[str, Any]) -> None:
    """Each array as an initializer, its bytes written once, into the model itself."""
    for name, array in arrays.items():
        tensor = model.graph.initializer.add()
        tensor.CopyFrom(tensor_head(name, array))
        tensor.raw_data = _stored_bytes(array)


def _stored_bytes(array: Any) -> bytes:
    """The array's little-endian bytes; those of the caffemodel it views, as they are."""
    base = array.base
    while isinstance(base, np.ndarray):  # a view of a view of the bytes
        base = base.base
    if (
        isinstance(base, bytes) and array.dtype == "<f4" and array.flags.c_contiguous
        and array.nbytes == len(base)
    ):  # fmt: skip
        return base
    data: bytes = array.tobytes()
    return data


def tensor_head(name: str, array: np.ndarray) -> onnx.TensorProto:
    """The initializer of ``array`` but its ``raw_data``: name, dims and data type."""
    tensor = onnx.TensorProto()
    tensor.name = name
    tensor.dims.extend(array.shape)
    tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
    return tensor


def raw_view(array: np.ndarray) -> memoryview:
    """The array's little-endian bytes (an initializer's ``raw_data``), in its own memory
    where it is stored so."""
    stored = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return stored.reshape(-1).data.cast("B")
