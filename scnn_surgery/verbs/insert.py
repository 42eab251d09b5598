"""Insert an SCNN module into MODEL (a prototxt; '-' reads stdin).

A --shape that gives an input whose size the file states (an Input layer, input_dim or
input_shape) a new height and width writes that size into the file, as retarget does,
so Caffe sets the net up at the size the module is made for; a layer retarget changes
only with --rescale or --reshape-weights is refused (run retarget with it first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..analysis.advice import advise
from ..analysis.forkrules import ruled
from ..analysis.geometry import PhaseShapes, resolve_sizes
from ..analysis.modules import find_modules
from ..analysis.params import conv_params
from ..analysis.shapes import format_override
from ..analysis.verify import Checks, check_fitted
from ..core.graph import build_graphs
from ..core.layerdef import Fields, LayerDef
from ..core.net import Layer, Net
from ..core.ops import add_prefix, definition_names
from ..errors import SurgeryError
from ..options import InsertOptions, RetargetOptions
from ..passes.anchor import InsertionPoint, find_insertion_point
from ..passes.splice import choose_prefix, existing_names, new_layers
from ..passes.splice import splice as splice_layers
from ..passes.upgrade import upgrade_net, v0_dropped_parameters
from ..runtime import paused_gc
from ..scnn import (
    ADVISED_CHANNELS,
    ScnnSpec,
    ScnnSpecError,
    build_module,
    cost_lines,
    module_cost,
    module_output,
    reduction_name,
)
from ..weights import DEPTHWISE_TYPES, Caffemodel
from . import VerbSpec
from .common import automatic_point, refuse_shape_errors, rules_first, working_phase
from .retarget import NeedsFlag, RetargetResult, regenerated_note, retarget, stated_sizes


@dataclass
class InsertResult:
    """The new net, and what was decided on the way (for the user's stderr)."""

    net: Net
    point: InsertionPoint
    spec: ScnnSpec
    notes: list[str]
    point_reason: str = ""  # why the point is where it is, in a few words
    # the net at the sizes --shape gave its stated inputs, when it gave them new ones
    retargeted: RetargetResult | None = None
    channel_step: int = 1  # the module's channels must be a multiple (grouped readers)

    @property
    def output(self) -> str:
        return module_output(self.spec)

    @property
    def done(self) -> str:
        return f"inserted at {self.point.describe()}"

    def afterwords(self) -> list[str]:
        """What is said once the net is written: the module's cost (and, for many channels,
        the reduction that fits its grouped readers)."""
        step, channels = self.channel_step, self.spec.channels
        fits = _fitting_channels(ADVISED_CHANNELS, step)
        advice = None
        if fits >= channels:
            advice = (
                f"no --reduce-channels fits here: a grouped convolution reads the map in"
                f" {step} groups, so the module's channels are a multiple of {step}"
            )
        elif fits != ADVISED_CHANNELS:
            advice = (
                f"insert --reduce-channels {fits} maps the blob to {fits} channels first, the"
                f" nearest to 128 that the grouped convolution after it, of {step} groups, takes"
            )
        return cost_lines(self.spec, module_cost(self.spec), reduction=advice)

    @property
    def added(self) -> list[Layer] | None:
        """The layers insert made, when a module the net had was made again for a new
        input size (its new layers get their direction's trained kernel from
        :meth:`adjust_weights`, not fillers); None: every layer of a new name."""
        if self.retargeted is None or not self.retargeted.modules:
            return None
        before = self.retargeted.net.layer_names
        return [x for x in self.net.layers if x.name not in before]

    def adjust_weights(self, model: Caffemodel) -> list[str]:
        """The ``--weights`` caffemodel for a net retargeted on the way (see
        :meth:`RetargetResult.adjust_weights`); unchanged otherwise."""
        return [] if self.retargeted is None else self.retargeted.adjust_weights(model)


def _new_area(stated: Sequence[int], given: Sequence[int | None]) -> bool:
    """Whether ``given`` (a --shape) keeps a stated N,C,H,W's batch and channels and gives
    it another height or width: the size the net runs at, which the file then states."""
    if len(stated) != 4 or len(given) != 4:
        return False
    pairs = list(zip(given, stated, strict=True))
    kept = all(g is None or g == s for g, s in pairs[:2])
    return kept and any(g is not None and g != s for g, s in pairs[2:])


def _resized_inputs(
    net: Net, shapes: Mapping[str, Sequence[int | None]]
) -> dict[str, Sequence[int | None]]:
    """The --shape values that give an input whose size the file states a new area. Any
    other contradiction of a stated size stays the shape analysis's to refuse."""
    if not shapes:
        return {}
    stated = stated_sizes(net)
    return {
        blob: dims for blob, dims in shapes.items()
        if any(_new_area(s.dims, dims) for s in stated.get(blob, ()))
    }  # fmt: skip


def _retarget_for_shapes(net: Net, options: InsertOptions) -> RetargetResult | None:
    """``net`` stating the sizes --shape gives its stated inputs, as retarget writes them;
    None when it gives none a new size. What retarget makes only with a flag insert lacks
    is refused, pointing at retarget."""
    resized = _resized_inputs(net, options.shapes)
    if not resized:
        return None
    others = {blob: dims for blob, dims in options.shapes.items() if blob not in resized}
    asked = RetargetOptions(inputs=resized, shapes=others, proto=options.proto)
    try:
        return retarget(net, asked, flag="--shape")
    except NeedsFlag as exc:
        inputs = " ".join(f"--input {b}={format_override(d)}" for b, d in resized.items())
        raise SurgeryError(
            f"{exc.problem}; insert's --shape changes the stated input size alone: to change"
            f" this too, run 'scnn-surgery retarget {net.source} {inputs} {exc.flag}' first"
            " and insert into its output"
        ) from None
    except SurgeryError as exc:  # the net at that size: say which --shape asked for it
        flags = " ".join(f"--shape {b}={format_override(d)}" for b, d in resized.items())
        raise SurgeryError(f"{flags}: {exc}") from None


def _restated_note(result: RetargetResult) -> str:
    return f"{result.done} for --shape, so the written file states the size the module is made for"


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


_CONVOLUTIONS = frozenset({"Convolution", "Deconvolution", *DEPTHWISE_TYPES})


def _grouped_readers(net: Net, point: InsertionPoint) -> list[tuple[Layer, int]]:
    """The convolutions reading the module's output in stated groups, with their group:
    Caffe aborts unless the module's channels are a multiple of each."""
    return [
        (c.layer, group)
        for c in point.consumers
        if c.layer.type in _CONVOLUTIONS
        and (group := conv_params(net, c.layer).group) is not None and group > 1
    ]


def _channel_step(grouped: Sequence[tuple[Layer, int]]) -> int:
    """What the module's channels must be a multiple of for its grouped readers."""
    return math.lcm(1, *(group for _, group in grouped))


def _fitting_channels(wanted: int, step: int) -> int:
    """The nearest multiple of ``step`` at or above ``wanted``."""
    return -(-wanted // step) * step


def _refuse_reduction_into_groups(
    net: Net, grouped: Sequence[tuple[Layer, int]], channels: int, reduced: int
) -> None:
    """Refuse ``--reduce-channels`` that a grouped reader cannot take, naming the layer, and
    say which value fits (a depthwise layer's group is the map's own channel count, so
    often none below it does)."""
    misfits = [(layer, group) for layer, group in grouped if reduced % group]
    if not misfits:
        return
    layer, group = misfits[0]
    step = _channel_step(grouped)
    fits = _fitting_channels(reduced, step)
    remedy = (
        f"the nearest that fits is --reduce-channels {fits}"
        if fits < channels
        else f"none below the map's {channels} does, so leave out --reduce-channels"
    )
    raise SurgeryError(
        f"--reduce-channels {reduced}: {net.describe(layer)} reads the module's output in"
        f" {group} groups, so the module's channels must be a multiple of {step}; {remedy}"
        " (or put the module where no grouped convolution reads it, with --after)"
    )


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
        net = upgrade_net(net)  # inputs become an Input layer, whose size --shape restates
    retargeted = _retarget_for_shapes(net, options) if net.format != "v0" and net.layers else None
    if retargeted is not None:
        net = retargeted.net
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; insert with --upgrade to rewrite it as V2 first"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")
    notes: list[str] = dropped
    if retargeted is not None:
        notes.append(_restated_note(retargeted))
        notes += [regenerated_note(module) for module in retargeted.modules]
    work = net.copy()
    graphs = build_graphs(work)
    phase = working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}  # before the edits change them
    _refuse_second_module(work, options)
    shapes = PhaseShapes(work, graphs, options.shapes)
    refuse_shape_errors(shapes, phase)
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
    grouped = _grouped_readers(work, point)
    if options.reduce_channels is not None:
        _refuse_reduction_into_groups(work, grouped, channels, options.reduce_channels)
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
    return InsertResult(work, point, spec, notes, why, retargeted, _channel_step(grouped))


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
