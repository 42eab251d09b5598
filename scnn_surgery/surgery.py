"""The library API: load a net, generate a module, insert it, save the result.

>>> import scnn_surgery as ss
>>> net = ss.load("resnet101.prototxt")
>>> result = ss.insert(net, ss.InsertOptions(after="conv5_5", height=46, width=46, channels=128))
>>> ss.save(result.net, "resnet101_SCNN.prototxt")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .check import check_net, errors_of
from .document import Document, Edit
from .errors import SurgeryError
from .files import write_bytes_atomic
from .graph import PHASES, LayerGraph, build_graphs
from .modules import find_modules
from .net import Net, load_net
from .options import InsertOptions as InsertOptions  # still importable from here
from .passes.anchor import InsertionPoint, find_insertion_point
from .passes.autopoint import choose_blob
from .passes.geometry import PhaseShapes, resolve_sizes
from .passes.splice import insert_text_edit, insertion_offset, rewire_edits
from .passes.upgrade import upgrade_net
from .scnn import (
    Fields,
    LayerDef,
    ScnnSpec,
    build_module,
    module_output,
)
from .scnn import render_layers as _render_layers

load = load_net


def loads(text: str, source: str = "<string>") -> Net:
    """Parse prototxt text into a :class:`Net`."""
    return Net.from_document(Document.parse(text, source))


def save(net: Net | Document, path: str | os.PathLike[str]) -> None:
    """Write atomically: the file is either the whole new text or untouched."""
    doc = net.document if isinstance(net, Net) else net
    write_bytes_atomic(Path(path), doc.to_bytes())


def generate(spec: ScnnSpec, indent: str = "  ", newline: str = "\n") -> str:
    """The module's layers as prototxt text (a fragment of ``layer`` blocks)."""
    spec.validate()
    return _render_layers(build_module(spec), indent=indent, newline=newline)


@dataclass
class InsertResult:
    """The new net, and what was decided on the way (for the user's stderr)."""

    net: Net
    point: InsertionPoint
    spec: ScnnSpec
    notes: list[str]

    @property
    def output(self) -> str:
        return module_output(self.spec)


def _automatic_point(shapes: PhaseShapes, phase: str | None, notes: list[str]) -> str:
    """The top hidden layer, judged in the chosen phase (TEST, as deployed, by default)."""
    graph = shapes.select(phase)[-1]
    blob, why = choose_blob(shapes.net, graph, shapes.of(graph))
    notes.append(f"chose insertion point '{blob}' automatically: {why}")
    return blob


def _refuse_second_module(net: Net, options: InsertOptions) -> None:
    """A second module needs its own names: ask for --prefix rather than guess one."""
    modules = find_modules(net.layers)
    if modules and not options.prefix:
        module, layers = modules[0]
        raise SurgeryError(
            f"{net.source}: the net already has an SCNN module (directions {module.directions},"
            f" layers '{layers[0].name}'..'{layers[-1].name}', output '{module.output}');"
            " give --prefix to add another"
        )


def _refuse_broken_input(net: Net, graphs: Sequence[LayerGraph]) -> None:
    for graph in graphs:
        for problem in graph.problems:
            raise SurgeryError(
                f"{net.describe(problem.layer)}: {problem.message} (phase {graph.state.phase});"
                " fix the input net first"
            )


def _refuse_shape_errors(shapes: PhaseShapes, phase: str | None, notes: list[str]) -> None:
    """What Caffe refuses in the input stays in the result; name it at the input's lines
    rather than report it later as an invalid result (or hide it behind an unknown size).
    A ``--shape`` for a blob no phase has is only worth a warning (a batch config may give
    shapes for many nets)."""
    graphs = shapes.select(phase)
    for graph in graphs:
        for problem in shapes.of(graph).errors:
            if problem.layer is not None:  # None: a --shape for a blob this phase lacks
                raise SurgeryError(
                    f"{problem.message} (phase {graph.state.phase}); fix the input net first"
                )
    known = {name for g in graphs for name in g.latest}
    known.update(name for g in graphs for layer in g.layers for name in layer.bottoms)
    for name in sorted(set(shapes.overrides) - known):
        notes.append(f"warning: --shape names blob '{name}', which the net does not have")


def existing_names(net: Net) -> set[str]:
    """Every layer, blob and shared-param name already in the net."""
    names = net.layer_names | net.blob_names
    for layer in net.layers:
        for param in layer.body.messages("param"):
            names.update(param.strings("name"))
        names.update(layer.body.strings("param"))  # V1 sharing: param: "name"
    return names


def reduction_layers(spec: ScnnSpec, source: str) -> list[LayerDef]:
    """A 1x1 Convolution + in-place ReLU from ``source`` to ``spec.channels`` channels,
    as the published ResNet-101 example does with conv5_5 before its module."""
    name = reduction_name(spec.prefix)
    weights: Fields = (("lr_mult", 1), ("decay_mult", 1))
    bias: Fields = (("lr_mult", 2), ("decay_mult", 0))
    conv: Fields = (
        ("num_output", spec.channels),
        ("kernel_size", 1),
        ("weight_filler", (("type", "msra"),)),
        ("bias_filler", (("type", "constant"), ("value", 0))),
    )
    return [
        LayerDef(
            name,
            "Convolution",
            (source,),
            (name,),
            (("param", weights), ("param", bias), ("convolution_param", conv)),
        ),
        LayerDef(f"{name}/relu", "ReLU", (name,), (name,)),
    ]


def reduction_name(prefix: str) -> str:
    return f"{prefix}SCNN_reduce"


def choose_prefix(
    spec: ScnnSpec, taken: set[str], notes: list[str], with_reduction: bool = False
) -> ScnnSpec:
    """Keep the published names unless one collides; then take the first free ``scnnN_``."""

    def clashes(candidate: ScnnSpec) -> set[str]:
        layers = build_module(candidate)
        names = {x.name for x in layers} | {top for x in layers for top in x.tops}
        if with_reduction:
            names |= {reduction_name(candidate.prefix), reduction_name(candidate.prefix) + "/relu"}
        return names & taken

    if spec.top is not None and spec.top in taken:  # no prefix is put on the name asked for
        raise SurgeryError(f"--top '{spec.top}' is already a name in the net; choose another")
    first = clashes(spec)
    if not first:
        return spec
    if spec.prefix:
        shown = ", ".join(sorted(first)[:5])
        raise SurgeryError(
            f"the module's names collide with the net's even with prefix '{spec.prefix}': {shown}"
        )
    for n in range(1, 1000):
        candidate = replace(spec, prefix=f"scnn{n}_")
        if not clashes(candidate):
            shown = ", ".join(sorted(first)[:3])
            notes.append(
                f"names {shown} already exist in the net; using prefix '{candidate.prefix}'"
            )
            return candidate
    raise SurgeryError("could not find a free name prefix for the module")


def insert(net: Net, options: InsertOptions) -> InsertResult:
    """Insert an SCNN module into ``net`` and rewire the consumers of its input blob.

    The module reads the final version of the blob named by ``options.after``
    (a layer or blob name), so it goes right after the last in-place layer on
    that blob; every layer that read that version, in every phase, reads the
    module's output instead.  Nothing else in the text changes.

    Without ``after`` the top hidden layer is chosen; sizes left as ``None``
    are inferred, and given ones must agree with inference.
    """
    if options.upgrade:
        net = upgrade_net(net)
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; insert with --upgrade to rewrite it as V2 first"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")
    graphs = build_graphs(net)
    _refuse_broken_input(net, graphs)
    _refuse_second_module(net, options)
    notes: list[str] = []
    shapes = PhaseShapes(net, graphs, options.shapes)
    _refuse_shape_errors(shapes, options.phase, notes)
    after = options.after or _automatic_point(shapes, options.phase, notes)
    point = find_insertion_point(net, graphs, after)
    given = {"height": options.height, "width": options.width, "channel": options.channels}
    if options.reduce_channels is not None:
        given["channel"] = None
    height, width, channels = resolve_sizes(shapes, point, given, options.phase, notes)
    if options.reduce_channels is not None:
        channels = options.reduce_channels
    spec = ScnnSpec(
        height=height,
        width=width,
        channels=channels,
        kernel_width=options.kernel_width,
        bottom=point.blob,
        directions=options.directions,
        prefix=options.prefix or "",
        top=options.top,
        init_std=options.init_std,
        share_weights=options.share_weights,
        lr_mult=options.lr_mult,
    )
    spec.validate()
    reduce = options.reduce_channels is not None
    spec = choose_prefix(spec, existing_names(net), notes, with_reduction=reduce)
    if reduce:
        spec = replace(spec, bottom=reduction_name(spec.prefix))
    layers = [*(reduction_layers(spec, point.blob) if reduce else []), *build_module(spec)]
    doc = net.document
    block = _render_layers(
        layers, indent=doc.indent, newline=doc.newline, legacy_v1=net.format == "v1"
    )
    insertion = insert_text_edit(
        doc, insertion_offset(doc, point, net.layers[0].block.start), block
    )
    edits = [insertion, *rewire_edits(point.consumers, module_output(spec))]
    new_net = Net.from_document(doc.edited(edits))
    _verify_result(new_net, options, notes, insertion, point)
    return InsertResult(new_net, point, spec, notes)


def _input_line(result: Document, insertion: Edit, line: int) -> int | None:
    """The input's line number for a line of the result; None for the module's own lines.

    Every rewired bottom lies after the insertion and keeps its line, so lines only
    shift by the newlines the insertion added.
    """
    start = result.line_starts[line - 1]
    if start < insertion.start:
        return line
    if start >= insertion.start + len(insertion.replacement):
        return line - insertion.replacement.count("\n")
    return None


def _verify_result(
    net: Net, options: InsertOptions, notes: list[str], insertion: Edit, point: InsertionPoint
) -> None:
    """Run ``check`` on the result (with the same ``--shape`` overrides); errors write nothing.

    With ``--phase`` only that phase must be valid: the user chose which HxW the
    module fits, so the other phase's breakage is reported as a warning.
    """
    phases = [options.phase] if options.phase else None
    errors = errors_of(check_net(net, phases=phases, shapes=options.shapes, proto=options.proto))
    if options.phase and not errors:
        other = [p for p in PHASES if p != options.phase]
        broken = errors_of(
            check_net(net, phases=other, shapes=options.shapes, proto=options.proto)
        )
        if broken:
            notes.append(
                f"warning: the result fits phase {options.phase} only; in {other[0]}:"
                f" {broken[0].message}{_missing_hint(point, phase_chosen=True)}"
            )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        line = None if first.line is None else _input_line(net.document, insertion, first.line)
        where = replace(first, line=line).format(net.source)
        if first.line is not None and line is None:
            where += " (in the inserted module)"
        raise SurgeryError(
            f"the result would be invalid: {where}{more}{_missing_hint(point, phase_chosen=False)};"
            " nothing was written"
        )


def _missing_hint(point: InsertionPoint, phase_chosen: bool) -> str:
    """Why the module lacks an input in some phase, and what to do about it."""
    if not point.missing_phases:
        return ""
    phases = ", ".join(point.missing_phases)
    advice = (
        "" if phase_chosen else ": choose a blob every phase produces, or one phase with --phase"
    )
    return (
        f"; blob '{point.blob}' is not produced in phase {phases},"
        f" so the module has no input there{advice}"
    )
