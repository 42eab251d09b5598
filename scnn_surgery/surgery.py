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
from .document import Document
from .errors import SurgeryError
from .export import export_bytes, export_text
from .files import write_bytes_atomic
from .graph import PHASES, LayerGraph, build_graphs
from .layerdef import Fields, LayerDef
from .layerdef import render_layers as _render_layers
from .modules import find_modules
from .net import Net, load_net
from .ops import add_prefix
from .options import InsertOptions as InsertOptions  # still importable from here
from .passes.advice import advise
from .passes.anchor import InsertionPoint, find_insertion_point
from .passes.autopoint import choose_blob
from .passes.geometry import PhaseShapes, resolve_sizes
from .passes.splice import choose_prefix, existing_names, new_layers, splice
from .passes.upgrade import upgrade_net
from .runtime import paused_gc
from .scnn import ScnnSpec, build_module, module_output

load = load_net


def loads(text: str, source: str = "<string>") -> Net:
    """Parse prototxt text into a :class:`Net`."""
    return Net.from_document(Document.parse(text, source))


def dumps(net: Net) -> str:
    """The net's prototxt: its file's text with the net's changes applied."""
    return export_text(net)


def save(net: Net | Document, path: str | os.PathLike[str]) -> None:
    """Write atomically: the file is either the whole new text or untouched."""
    data = net.to_bytes() if isinstance(net, Document) else export_bytes(net)
    write_bytes_atomic(Path(path), data)


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
    modules = find_modules(net)
    if modules and not options.prefix:
        module, layers = modules[0]
        raise SurgeryError(
            f"{net.source}: the net already has an SCNN module (directions {module.directions},"
            f" layers '{layers[0].name}'..'{layers[-1].name}', output '{module.output}');"
            " give --prefix to add another"
        )


def _working_phase(
    net: Net, graphs: Sequence[LayerGraph], phase: str | None, notes: list[str]
) -> str | None:
    """The phase to fit the module in: the one asked for, or, when the input is already
    broken in some phase (a TRAIN-only data layer leaves TEST without input), the one
    phase it works in. A phase broken in the input is then only reported."""
    broken = {g.state.phase: g.problems[0] for g in graphs if g.problems}
    if not broken:
        return phase
    working = [g.state.phase for g in graphs if not g.problems]
    chosen = phase if phase is not None else (working[0] if len(working) == 1 else None)
    if chosen is None or chosen in broken:
        where = chosen if chosen in broken else next(iter(broken))
        problem = broken[where]
        raise SurgeryError(
            f"{net.describe(problem.layer)}: {problem.message} (phase {where});"
            " fix the input net first"
        )
    for other, problem in broken.items():
        notes.append(
            f"warning: phase {other} is broken in the input already"
            f" ({net.describe(problem.layer)}: {problem.message}); the module is fitted and"
            f" checked in phase {chosen}{'' if phase else ' (choose with --phase)'}"
        )
    return chosen


def _refuse_shape_errors(shapes: PhaseShapes, phase: str | None, notes: list[str]) -> None:
    """What Caffe refuses in the input stays in the result; name it at the input's lines
    rather than report it later as an invalid result (or hide it behind an unknown size).
    A ``--shape`` for a blob no phase has is only worth a warning (a batch config may give
    shapes for many nets)."""
    graphs = shapes.select(phase)
    for graph in graphs:
        for problem in shapes.of(graph).errors:
            if problem.override:  # refused as a contradicting --height is
                raise SurgeryError(f"{problem.message} (phase {graph.state.phase})")
            if problem.layer is not None:  # None: a --shape for a blob this phase lacks
                raise SurgeryError(
                    f"{problem.message} (phase {graph.state.phase}); fix the input net first"
                )
    known = {name for g in graphs for name in g.latest}
    known.update(name for g in graphs for layer in g.layers for name in layer.bottoms)
    for name in sorted(set(shapes.overrides) - known):
        notes.append(f"warning: --shape names blob '{name}', which the net does not have")


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


def _module_definitions(spec: ScnnSpec, source: str, reduce: bool) -> list[LayerDef]:
    """The module (after a reduction from ``source`` when asked), with unprefixed names."""
    if not reduce:
        return build_module(spec, check_names=False)
    module = build_module(replace(spec, bottom=reduction_name("")), check_names=False)
    return [*reduction_layers(spec, source), *module]


def insert(net: Net, options: InsertOptions) -> InsertResult:
    """Insert an SCNN module into ``net`` and rewire the consumers of its input blob.

    The module reads the final version of the blob named by ``options.after``
    (a layer or blob name), so it goes right after the last in-place layer on
    that blob; every layer that read that version, in every phase, reads the
    module's output instead.  Nothing else in the text changes.

    Without ``after`` the top hidden layer is chosen; sizes left as ``None``
    are inferred, and given ones must agree with inference. ``net`` itself is not
    changed: the result is a new net.
    """
    with paused_gc():
        return _insert(net, options)


def _insert(net: Net, options: InsertOptions) -> InsertResult:
    if options.upgrade:
        net = upgrade_net(net)
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; insert with --upgrade to rewrite it as V2 first"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")
    work = net.copy()
    graphs = build_graphs(work)
    notes: list[str] = []
    phase = _working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}  # before the edits change them
    _refuse_second_module(work, options)
    shapes = PhaseShapes(work, graphs, options.shapes)
    _refuse_shape_errors(shapes, phase, notes)
    after = options.after or _automatic_point(shapes, phase, notes)
    point = find_insertion_point(work, graphs, after, as_blob=not options.after)
    given = {"height": options.height, "width": options.width, "channel": options.channels}
    if options.reduce_channels is not None:
        given["channel"] = None
    height, width, channels = resolve_sizes(shapes, point, given, phase, notes)
    if options.reduce_channels is not None:
        channels = options.reduce_channels
    spec = ScnnSpec(
        height=height,
        width=width,
        channels=channels,
        kernel_width=options.kernel_width,
        bottom=point.blob,
        directions=options.directions,
        top=options.top,
        init_std=options.init_std,
        share_weights=options.share_weights,
        lr_mult=options.lr_mult,
    )
    reduce = options.reduce_channels is not None
    spec.validate_sizes()
    definitions = _module_definitions(spec, point.blob, reduce)
    keep = {spec.top} if spec.top is not None else set()
    prefix = choose_prefix(definitions, existing_names(work), options.prefix, keep, notes)
    spec = replace(spec, prefix=prefix)
    spec.validate()
    notes += advise(shapes, point, spec, module_output(spec), phase, automatic=not options.after)
    definitions = add_prefix(definitions, prefix, keep)
    splice(work, new_layers(definitions), point, module_output(spec))
    _verify_result(work, replace(options, phase=phase), notes, point, broken)
    return InsertResult(work, point, spec, notes)


def _verify_result(
    net: Net,
    options: InsertOptions,
    notes: list[str],
    point: InsertionPoint,
    broken_in_input: set[str],
) -> None:
    """Run ``check`` on the result, in memory (with the same ``--shape`` overrides); errors
    write nothing. Findings name the input file's lines, or the module.

    With ``--phase`` only that phase must be valid: the user chose which HxW the
    module fits, so the other phase's breakage is reported as a warning.
    """
    phases = [options.phase] if options.phase else None
    errors = errors_of(
        check_net(
            net, phases=phases, shapes=options.shapes, proto=options.proto, errors_only=True
        )
    )
    other = [p for p in PHASES if p != options.phase and p not in broken_in_input]
    if options.phase and other and not errors:
        broken = errors_of(
            check_net(
                net, phases=other, shapes=options.shapes, proto=options.proto, errors_only=True
            )
        )
        if broken:
            notes.append(
                f"warning: the result fits phase {options.phase} only; in {other[0]}:"
                f" {broken[0].message}{_missing_hint(point, phase_chosen=True)}"
            )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        where = first.format(net.source)
        if first.line is None and first.layer is not None:
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
