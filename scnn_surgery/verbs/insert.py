"""Insert an SCNN module into MODEL (a prototxt; '-' reads stdin).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..analysis.advice import advise
from ..analysis.forkrules import ruled
from ..analysis.geometry import PhaseShapes, resolve_sizes
from ..analysis.modules import find_modules
from ..analysis.verify import Checks, check_fitted
from ..core.graph import build_graphs
from ..core.layerdef import Fields, LayerDef
from ..core.net import Net
from ..core.ops import add_prefix, definition_names
from ..errors import SurgeryError
from ..options import InsertOptions
from ..passes.anchor import InsertionPoint, find_insertion_point
from ..passes.splice import choose_prefix, existing_names, new_layers
from ..passes.splice import splice as splice_layers
from ..passes.upgrade import upgrade_net, v0_dropped_parameters
from ..runtime import paused_gc
from ..scnn import (
    ScnnSpec,
    ScnnSpecError,
    build_module,
    cost_lines,
    module_cost,
    module_output,
    reduction_name,
)
from . import VerbSpec
from .common import automatic_point, refuse_shape_errors, rules_first, working_phase


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

    @property
    def done(self) -> str:
        return f"inserted at {self.point.describe()}"

    def afterwords(self) -> list[str]:
        """What is said once the net is written: the module's cost."""
        return cost_lines(self.spec, module_cost(self.spec))


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
    phase = working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}  # before the edits change them
    _refuse_second_module(work, options)
    shapes = PhaseShapes(work, graphs, options.shapes)
    refuse_shape_errors(shapes, phase, notes)
    if options.after:
        after, why = options.after, f"given: --after {options.after}"
    else:
        with rules_first(shapes, phase):
            after, why = automatic_point(shapes, phase, notes)
    point = find_insertion_point(work, graphs, after, as_blob=not options.after)
    given = {"height": options.height, "width": options.width, "channel": options.channels}
    if options.reduce_channels is not None:
        given["channel"] = None
    with rules_first(shapes, phase):
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


def _report(result: InsertResult) -> dict[str, Any]:
    spec, point = result.spec, result.point
    return {
        "insertion_point": point.describe(),
        "shape": (spec.channels, spec.height, spec.width),
        "point_reason": result.point_reason,
        "placed_after": None if point.after is None else point.label(point.after),
        "spec": spec,
        "cost": module_cost(spec),
        "summary": None,
    }


VERB = VerbSpec("insert", insert, report=_report)
