"""The library API: load a net, generate a module, insert it, save the result.

>>> import scnn_surgery as ss
>>> net = ss.load("resnet101.prototxt")
>>> result = ss.insert(net, ss.InsertOptions(after="conv5_5", height=46, width=46, channels=128))
>>> ss.save(result.net, "resnet101_SCNN.prototxt")
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from .analysis.advice import advise
from .analysis.autopoint import choose_blob
from .analysis.forkrules import ruled
from .analysis.geometry import PhaseShapes, resolve_sizes
from .analysis.modules import (
    ModuleSummary,
    damaged_module_layers,
    find_modules,
    summarise_module,
)
from .analysis.phases import broken_phase_warnings, sole_working_phase
from .analysis.shapes import missing_rules
from .analysis.verify import Checks, check_fitted
from .core.document import Document
from .core.graph import BlobVersion, LayerGraph, NetState, build_graphs, graph_of
from .core.layerdef import Fields, LayerDef
from .core.layerdef import render_layers as _render_layers
from .core.net import Layer, Net, load_net
from .core.ops import add_prefix, definition_names, remove_layers, rewire
from .core.text_export import export_bytes, export_text
from .errors import SurgeryError, SurgeryErrors, UsageError
from .files import write_bytes_atomic
from .options import InsertOptions as InsertOptions  # still importable from here
from .options import SpliceOptions as SpliceOptions
from .options import StripOptions as StripOptions
from .passes.anchor import InsertionPoint, closest_names, find_insertion_point, resolve_blob
from .passes.fragment import (
    Fragment,
    fragment_names,
    read_fragment,
    refuse_unwritable_in_v1,
    renamed,
)
from .passes.splice import choose_prefix, existing_names, new_layers
from .passes.splice import splice as splice_layers
from .passes.upgrade import upgrade_net, v0_dropped_parameters
from .runtime import paused_gc
from .schema.select import descriptor_of, schema_for_net
from .scnn import (
    DetectedModule,
    ScnnSpec,
    ScnnSpecError,
    build_module,
    module_output,
    reduction_name,
)

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
    point_reason: str = ""  # why the point is where it is, in a few words


    @property
    def output(self) -> str:
        return module_output(self.spec)


def _automatic_point(
    shapes: PhaseShapes, phase: str | None, notes: list[str]
) -> tuple[str, str]:
    """The top hidden layer, judged in the chosen phase (TEST, as deployed, by default),
    and why."""
    graph = shapes.select(phase)[-1]
    blob, why = choose_blob(shapes.net, graph, shapes.of(graph))
    notes.append(f"chose insertion point '{blob}' automatically: {why}")
    return blob, why


@contextmanager
def _rules_first(shapes: PhaseShapes, phase: str | None) -> Iterator[None]:
    """A refusal that layers without a shape rule may cause lists every such layer first,
    one line each, so that one run names them all."""
    try:
        yield
    except SurgeryError as exc:
        for graph in shapes.select(phase):
            *listing, advice = missing_rules(shapes.of(graph)) or [""]
            if listing:
                raise SurgeryErrors([*listing, f"{exc}; {advice}"]) from None
        raise


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
    chosen = phase if phase is not None else sole_working_phase(graphs)
    if chosen is None or chosen in broken:
        where = chosen if chosen in broken else next(iter(broken))
        problem = broken[where]
        raise SurgeryError(
            f"{net.describe(problem.layer)}: {problem.message} (phase {where});"
            " fix the input net first"
        )
    doing = "the module is fitted and checked"
    notes += broken_phase_warnings(net, graphs, chosen, doing, asked=phase is not None)
    return chosen


def _refuse_shape_errors(shapes: PhaseShapes, phase: str | None, notes: list[str]) -> None:
    """What Caffe refuses in the input stays in the result; name it at the input's lines
    rather than report it later as an invalid result (or hide it behind an unknown size).
    A ``--shape`` for a blob no phase has is refused: it is most likely a misspelling."""
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
    unknown = sorted(set(shapes.overrides) - known)
    if unknown:
        suggestions = closest_names(unknown[0], known)
        hint = f"; closest: {', '.join(suggestions)}" if suggestions else ""
        raise SurgeryError(f"--shape names blob '{unknown[0]}', which the net does not have{hint}")


def _reduction_needed(reduced: int | None, blob: str, channels: int, notes: list[str]) -> bool:
    """``--reduce-channels N`` on a map that already has N channels would add an N->N
    convolution that changes nothing but the weights: it is left out, with a note."""
    if reduced is None:
        return False
    if reduced == channels:
        notes.append(f"'{blob}' already has {channels} channels; --reduce-channels"
                     f" {reduced} adds no reduction")
        return False
    return True


def _reduced_readers(point: InsertionPoint, channels: int, reduced: int) -> list[str]:
    """``--reduce-channels`` changes what the rewired layers read: say so, since weights
    made for them no longer fit."""
    if channels == reduced or not point.consumers:
        return []
    readers = ", ".join(sorted({point.label(c.layer) for c in point.consumers}))
    return [
        f"warning: --reduce-channels {reduced}: the module's output has {reduced} channels"
        f" where '{point.blob}' had {channels}, so what learned weights for {channels} after"
        f" it (from {readers} on) needs retraining: a caffemodel's blobs for it no longer fit"
    ]


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
    net = ruled(net, options.shape_rules)
    dropped = v0_dropped_parameters(net) if options.upgrade else []
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
    notes: list[str] = dropped
    phase = _working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}  # before the edits change them
    _refuse_second_module(work, options)
    shapes = PhaseShapes(work, graphs, options.shapes)
    _refuse_shape_errors(shapes, phase, notes)
    if options.after:
        after, why = options.after, f"given: --after {options.after}"
    else:
        with _rules_first(shapes, phase):
            after, why = _automatic_point(shapes, phase, notes)
    point = find_insertion_point(work, graphs, after, as_blob=not options.after)
    given = {"height": options.height, "width": options.width, "channel": options.channels}
    if options.reduce_channels is not None:
        given["channel"] = None
    with _rules_first(shapes, phase):
        height, width, channels = resolve_sizes(shapes, point, given, phase, notes)
    reduce = _reduction_needed(options.reduce_channels, point.blob, channels, notes)
    if options.reduce_channels is not None:
        notes += _reduced_readers(point, channels, options.reduce_channels)
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
    try:
        spec.validate_sizes()
    except ScnnSpecError as exc:  # sizes inferred from the file: say where they come from
        raise SurgeryError(
            f"{net.source}: blob '{point.blob}' is {height}x{width}x{channels} (HxWxC): {exc}"
        ) from None
    definitions = _module_definitions(spec, point.blob, reduce)
    keep = {spec.top} if spec.top is not None else set()
    names = definition_names(definitions)
    prefix = choose_prefix(names, existing_names(work), options.prefix, keep, notes)
    spec = replace(spec, prefix=prefix)
    spec.validate()
    output = module_output(spec)
    notes += advise(shapes, point, spec, output, phase, automatic=not options.after)
    del shapes  # the input's shapes; the result is inferred again (per layer, memoized)
    definitions = add_prefix(definitions, prefix, keep)
    splice_layers(work, new_layers(definitions), point, output)
    checks = Checks(phase, options.shapes, options.proto, broken, "the inserted module")
    notes += check_fitted(net, work, checks, point)
    return InsertResult(work, point, spec, notes, why)


# ---------------------------------------------------------------------------
# splice: any fragment


@dataclass
class SpliceResult:
    """The new net, the fragment's layers in it, and what was decided on the way."""

    net: Net
    point: InsertionPoint
    output: str | None  # the blob the rewired layers now read (None: spliced as a branch)
    prefix: str
    added: list[Layer]
    notes: list[str]


def splice(net: Net, fragment: Net, options: SpliceOptions) -> SpliceResult:
    """Splice ``fragment`` (a net of layers only) into ``net``.

    Its inputs (the blobs it reads before writing them) read the net's blobs: with one
    input, the final version of ``options.after`` (or of the point insert would choose);
    with several, each as ``options.binds`` says. Its output (its one unconsumed top, or
    ``options.output``) is read by every layer that read that version, in every phase,
    unless ``options.branch``. Colliding names get a prefix. ``net`` is not changed.
    """
    with paused_gc():
        return _splice(net, fragment, options)


def _splice(net: Net, fragment_net: Net, options: SpliceOptions) -> SpliceResult:
    net = ruled(net, options.shape_rules)
    _refuse_v0(net, "splice into it")
    fragment = read_fragment(fragment_net)
    if not fragment.inputs and not options.branch:
        # Its output would replace the net's data at the point, and the point's own
        # output would feed nothing: the net's data path cut, with exit 0.
        raise SurgeryError(
            f"{fragment.source}: the fragment reads none of the net's blobs (every blob it"
            " reads, its own layers write), so splicing it would cut the net's data path;"
            " a fragment must read the blob it follows (add it beside the net with --branch)"
        )
    work = net.copy()
    graphs = build_graphs(work)
    notes: list[str] = []
    phase = _working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}
    shapes = PhaseShapes(work, graphs, options.shapes)
    _refuse_shape_errors(shapes, phase, notes)
    binds = _checked_binds(work, fragment, options.binds)
    after = options.after
    unbound = [blob for blob in fragment.inputs if blob not in binds]
    if len(unbound) > 1:
        listed = ", ".join(unbound)
        raise SurgeryError(
            f"{fragment.source}: the fragment reads {len(unbound)} blobs the net must give"
            f" ({listed}); bind each with --bind FRAG_BLOB=NET_BLOB"
        )
    if after is None and not unbound and len(set(binds.values())) > 1:
        raise SurgeryError(
            "the fragment reads several of the net's blobs; say with --after which one's"
            " consumers read its output"
        )
    if after is None and not unbound and binds:
        after = next(iter(binds.values()))
    if after is None:
        with _rules_first(shapes, phase):
            after, _ = _automatic_point(shapes, phase, notes)
    del shapes  # the input's shapes; the result is inferred again (per layer, memoized)
    point = find_insertion_point(work, graphs, after, as_blob=not options.after)
    if unbound:
        binds[unbound[0]] = point.blob
    anchor = _splice_anchor(work, graphs, point, binds)
    output = _fragment_output(fragment, options)
    _refuse_loss_output(fragment, output, point.blob)
    prefix = choose_prefix(
        fragment_names(fragment), existing_names(work), options.prefix, notes=notes
    )
    if work.output_format == "v1":  # refused now, not when the text is written
        v1_layer = schema_for_net(work, options.proto).v1_layer
        refuse_unwritable_in_v1(fragment, descriptor_of(v1_layer).fields_by_name)
    fragment = renamed(fragment, prefix, binds)
    rewired_to = None if output is None else prefix + output
    splice_layers(work, fragment.layers, point, rewired_to, anchor)
    checks = Checks(phase, options.shapes, options.proto, broken, "the spliced fragment")
    notes += check_fitted(net, work, checks, point)
    return SpliceResult(work, point, rewired_to, prefix, list(fragment.layers), notes)


def _refuse_v0(net: Net, doing: str) -> None:
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; upgrade it first (scnn-surgery upgrade) to"
            f" {doing}"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")


def _checked_binds(net: Net, fragment: Fragment, binds: Mapping[str, str]) -> dict[str, str]:
    """Each fragment input with the net blob it reads: a layer's name means the blob it
    writes, as for --after; an unknown name gets the closest ones."""
    resolved: dict[str, str] = {}
    for fragment_blob, net_blob in binds.items():
        if fragment_blob not in fragment.inputs:
            reads = ", ".join(fragment.inputs) or "nothing from the net"
            raise SurgeryError(
                f"--bind {fragment_blob}={net_blob}: the fragment does not read"
                f" '{fragment_blob}' from the net (it reads {reads})"
            )
        resolved[fragment_blob] = resolve_blob(net, net_blob)[0]
    return resolved


def _splice_anchor(
    net: Net, graphs: Sequence[LayerGraph], point: InsertionPoint, binds: Mapping[str, str]
) -> Layer | None:
    """The layer the fragment follows: after the final version of every blob it reads."""
    ends = [point.after]
    ends += [
        find_insertion_point(net, graphs, blob, as_blob=True).after for blob in set(binds.values())
    ]
    known = [layer for layer in ends if layer is not None]
    anchor = max(known, key=net.index_of) if known else None
    if anchor is not None:
        position = net.index_of(anchor)
        early = [c.layer for c in point.consumers if net.index_of(c.layer) <= position]
        if early:
            raise SurgeryError(
                f"{net.describe(early[0])} reads '{point.blob}' before '{net.label(anchor)}',"
                " which the fragment must follow to read every blob it needs; cannot splice"
                " there"
            )
    return anchor


def _refuse_loss_output(fragment: Fragment, output: str | None, blob: str) -> None:
    """A loss writes a scalar: the layers that read the point's blob cannot read it, and
    the check of the result would only name one of them (its axis, say), not the cause."""
    writers = [layer for layer in fragment.layers if output is not None and output in layer.tops]
    if not writers or not writers[-1].type.endswith("Loss"):
        return
    loss = writers[-1]
    raise SurgeryError(
        f"{fragment.source}: the fragment's output '{output}' is written by loss layer"
        f" '{loss.name}' ({loss.type}), a scalar the layers reading '{blob}' cannot read;"
        " name the feature map they should read with --fragment-output, or add the"
        " fragment beside the net with --branch"
    )


def _fragment_output(fragment: Fragment, options: SpliceOptions) -> str | None:
    """The fragment blob the rewired layers read; None for a branch."""
    if options.output is not None:
        written = {top for layer in fragment.layers for top in layer.tops}
        if options.output not in written:
            raise SurgeryError(
                f"--fragment-output {options.output}: the fragment writes no blob of that name"
                f" (its outputs: {', '.join(fragment.outputs) or 'none'})"
            )
        if options.branch:
            raise UsageError(
                "--fragment-output names what rewired layers read; --branch rewires nothing"
            )
        return options.output
    if options.branch:
        return None
    if len(fragment.outputs) != 1:
        listed = ", ".join(fragment.outputs) or "none"
        raise SurgeryError(
            f"{fragment.source}: the fragment has {len(fragment.outputs)} outputs ({listed});"
            " name the one the net reads with --fragment-output, or splice it beside the net"
            " with"
            " --branch"
        )
    return fragment.outputs[0]


# ---------------------------------------------------------------------------
# strip: an SCNN module out again


@dataclass
class StripResult:
    """The net without the module; its consumers read what the module read."""

    net: Net
    module: ModuleSummary
    removed: list[Layer]
    reads: str  # the blob the module read, which its consumers read now
    notes: list[str]


def strip(net: Net, options: StripOptions | None = None) -> StripResult:
    """Take out an SCNN module that ``inspect`` recognises (ours, the published
    generator's, Apollo's), with the 1x1 reduction ``insert --reduce-channels`` put before
    it, and rewire its consumers to the blob it read. ``net`` is not changed."""
    with paused_gc():
        return _strip(net, options or StripOptions())


def _strip(net: Net, options: StripOptions) -> StripResult:
    net = ruled(net, options.shape_rules)
    _refuse_v0(net, "strip it")
    work = net.copy()
    graphs = build_graphs(work)
    notes: list[str] = []
    phase = _working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}
    module, members = _module_to_strip(work, options.prefix)
    damage = damaged_module_layers(work, module, members)
    if damage is not None:
        raise SurgeryError(
            f"{net.source}: {damage}; strip takes out only a whole module (remove the rest"
            " with 'scnn-surgery remove', or restore the net first)"
        )
    first = members[0]
    reads = first.bottoms[0]
    consumers = _module_consumers(work, graphs, members, module.output)
    read_versions = {
        graph.state: graph.bottom(first, 0) for graph in graphs if first in graph.graph
    }
    rewired = rewire(work, [(layer, i, reads) for layer, i in consumers])
    remove_layers(work, set(members))
    _refuse_changed_bindings(work, read_versions, [rewired[c] for c, _ in consumers], reads)
    summary = summarise_module(module, members, graphs)
    notes += check_fitted(net, work, Checks(phase, options.shapes, options.proto, broken))
    return StripResult(work, summary, members, reads, notes)


def _module_to_strip(net: Net, prefix: str | None) -> tuple[DetectedModule, list[Layer]]:
    modules = find_modules(net)
    if not modules:
        raise SurgeryError(f"{net.source}: the net has no SCNN module to strip")
    if prefix is not None:
        chosen = [(m, layers) for m, layers in modules if m.prefix == prefix]
        if not chosen:
            listed = ", ".join(f"'{m.prefix}'" for m, _ in modules)
            raise SurgeryError(
                f"{net.source}: no SCNN module has prefix '{prefix}' (the net's: {listed})"
            )
        return chosen[0]
    if len(modules) > 1:
        listed = ", ".join(f"'{m.prefix}' (output {m.output})" for m, _ in modules)
        raise SurgeryError(
            f"{net.source}: the net has {len(modules)} SCNN modules ({listed}); choose one"
            " with --prefix"
        )
    return modules[0]


def _module_consumers(
    net: Net, graphs: Sequence[LayerGraph], members: Sequence[Layer], output: str
) -> list[tuple[Layer, int]]:
    """Every bottom outside the module that reads what the module wrote, in any phase; a
    layer outside it that writes into the module's blobs in place cannot be undone."""
    inside = set(members)
    found: dict[tuple[Layer, int], None] = {}
    for graph in graphs:
        for version in (v for m in members if m in graph.graph for v in graph.tops(m)):
            for layer, index in graph.consumers(version):
                if layer in inside:
                    continue
                if layer.tops[index : index + 1] == (version.name,):
                    raise SurgeryError(
                        f"{net.describe(layer)} works in place on the module's '{version.name}';"
                        " strip cannot give it back the blob the module read"
                    )
                if version.name != output:
                    raise SurgeryError(
                        f"{net.describe(layer)} reads '{version.name}' from inside the module;"
                        " strip can only rewire what reads the module's output"
                    )
                found[(layer, index)] = None
    return sorted(found, key=lambda item: (net.index_of(item[0]), item[1]))


def _refuse_changed_bindings(
    net: Net,
    read_versions: Mapping[NetState, BlobVersion | None],
    rewired: Sequence[Layer],
    blob: str,
) -> None:
    """After the strip every rewired layer must read the version the module read."""
    for state, version in read_versions.items():
        graph = graph_of(net, state)
        for layer in rewired:
            if layer not in graph.graph:
                continue
            pairs = zip(layer.bottoms, graph.bottoms(layer), strict=True)
            bound = [v for b, v in pairs if b == blob]
            if any(v != version for v in bound):
                raise SurgeryError(
                    f"{net.describe(layer)} would read another version of '{blob}' than the"
                    f" module read (phase {state.phase}); strip cannot undo the module there"
                )


# The verbs beyond insert live in their own module; they are part of this API.
from .verbs import RemoveResult as RemoveResult  # noqa: E402
from .verbs import UpgradeResult as UpgradeResult  # noqa: E402
from .verbs import remove as remove  # noqa: E402
from .verbs import upgrade as upgrade  # noqa: E402
