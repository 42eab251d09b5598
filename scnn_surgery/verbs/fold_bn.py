"""Fold each BatchNorm of MODEL (a prototxt; '-' reads stdin), and a Scale that follows
it, into the Convolution, Deconvolution or InnerProduct before it: that layer gets the
folded weights and bias (computed in float64) and bias_term: true, and the BatchNorm and
Scale layers go. --weights IN and --weights-out OUT are required: the folded values live
in the caffemodel. --only LAYER (repeatable) folds only the groups it names (by the
BatchNorm, its Scale or the layer before it); one of them that cannot be folded is
refused with the reason.

The folds are for one phase: --phase, else TEST, the deployed net (else the one phase
that works, when the input is broken in TEST: analysis.phases' rule). A file with phase
rules has a TRAIN phase too, where Caffe's BatchNorm uses the batch's own statistics
unless use_global_stats says otherwise; folded, it computes the stored ones there as
well. That is what folding is for (inference), so those BatchNorms are folded and one
note says so; --phase TRAIN keeps them.

Kept, and listed with the reason: a BatchNorm whose input is read by another layer too,
one that no convolution or inner product precedes, one that normalises with the batch's
own statistics in the phase folded for (use_global_stats false, or not set in TRAIN),
one that does not run in that phase or is wired differently in another, one whose layer
shares its weights by param name; and the forks' BN layers.
"""

# How: BatchNorm at inference computes (x - mean) / sqrt(var + eps) per channel, with the
# statistics Caffe stores divided by its third blob (the moving-average factor; 0 gives
# 0); a Scale after it multiplies by gamma and adds beta. Both are affine per channel, so a
# layer whose output only they read can compute the result itself: its weights times
# a = gamma / sqrt(var + eps) along its output channels (axis 0; a Deconvolution's axis 1,
# per group; a transposed InnerProduct's axis 1), its bias (bias - mean) * a + beta. The
# layers go by passes.remove (in place they simply go; otherwise their readers read the
# folded layer's output, and a net output keeps its name, which the folded layer writes).

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..analysis.forkrules import ruled
from ..analysis.params import conv_params, inner_product_params, layer_message
from ..analysis.shapes import ShapeOverrides
from ..analysis.verify import check_result
from ..core.graph import LayerGraph, build_graphs, layer_included
from ..core.net import Layer, Net, param_names
from ..core.ops import replace_layers, set_param
from ..errors import SurgeryError
from ..options import FoldBnOptions
from ..passes.anchor import closest_names
from ..passes.remove import remove as remove_from_net
from ..runtime import paused_gc
from ..weights import (
    DEPTHWISE_TYPES,
    Caffemodel,
    blob_shape,
    blob_value_count,
    has_legacy_dims,
    make_blob,
)
from . import VerbSpec
from .common import working_phase

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Float64Array = NDArray[np.float64]

CONVOLUTIONS = frozenset({"Convolution", "Deconvolution", *DEPTHWISE_TYPES})
FOLDABLE = CONVOLUTIONS | {"InnerProduct"}
DEPLOYED = "TEST"  # the phase folded for unless --phase (or a broken TEST) says otherwise
FORK_BN = (
    "a fork's BN layer, not Caffe's BatchNorm: its blobs mean different things in each fork"
    " (PSPNet's slope, bias, mean, variance; SegNet's scale and shift), so it is not folded"
)


@dataclass(frozen=True)
class Fold:
    """A BatchNorm, and the Scale after it if any, to fold into ``target``."""

    target: Layer
    batch_norm: Layer
    scale: Layer | None
    output: str | None = None  # a net output the fold writes elsewhere: the target's top now

    @property
    def removed(self) -> tuple[Layer, ...]:
        return (self.batch_norm,) if self.scale is None else (self.batch_norm, self.scale)


@dataclass(frozen=True)
class Kept:
    """A BatchNorm that stays, and why."""

    layer: Layer
    reason: str


class _Unfoldable(Exception):
    """Why a BatchNorm cannot be folded (internal: becomes a :class:`Kept`)."""


# ---------------------------------------------------------------------------
# Which BatchNorms fold


def plan_folds(
    net: Net, only: Sequence[str] | None = None, phase: str = DEPLOYED
) -> tuple[list[Fold], list[Kept]]:
    """The folds ``net`` allows for ``phase``, and the BatchNorms kept with the reason;
    ``only`` limits both to the groups one of whose layers (the BatchNorm, its Scale or
    the layer it folds into) it names. An unknown name, or one whose BatchNorm is kept,
    is refused (with the closest names, or the reason)."""
    graphs = build_graphs(net)
    folds: list[Fold] = []
    kept: list[Kept] = []
    for layer in net.layers:
        if layer.type == "BN":
            kept.append(Kept(layer, FORK_BN))
        if layer.type != "BatchNorm":
            continue
        try:
            folds.append(_fold_for(net, graphs, layer, phase))
        except _Unfoldable as why:
            kept.append(Kept(layer, str(why)))
    if only is None:
        return folds, kept
    wanted = _names_in(net, only)
    chosen = [f for f in folds if wanted & {x.name for x in (f.target, *f.removed)}]
    refused = [k for k in kept if k.layer.name in wanted]
    if refused:
        raise SurgeryError(f"cannot fold {net.describe(refused[0].layer)}: {refused[0].reason}")
    covered = {x.name for f in chosen for x in (f.target, *f.removed)}
    stray = [name for name in only if name not in covered]
    if stray:
        raise SurgeryError(
            f"{net.source}: --only '{stray[0]}' names no BatchNorm, nor the Scale after one or"
            " the layer before one"
        )
    return chosen, []


def _names_in(net: Net, names: Iterable[str]) -> set[str]:
    known = net.layer_names
    for name in names:
        if name not in known:
            close = closest_names(name, known - {""})
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise SurgeryError(f"{net.source}: no layer named '{name}'{hint}")
    return set(names)


def _fold_for(
    net: Net, graphs: Sequence[LayerGraph], batch_norm: Layer, phase: str
) -> Fold:
    """The fold of ``batch_norm`` for ``phase``. Its wiring must be the same in every
    phase (the target's weights are the same layer's everywhere); only ``phase`` must
    use the stored statistics."""
    if len(batch_norm.bottoms) != 1 or len(batch_norm.tops) != 1:
        raise _Unfoldable("it does not have one bottom and one top")
    found: set[tuple[Layer, Layer | None]] = set()
    for graph in graphs:
        if batch_norm in graph.graph:
            found.add(_fold_in(net, graph, batch_norm))
    if not any(g.state.phase == phase and batch_norm in g.graph for g in graphs):
        raise _Unfoldable(f"it does not run in phase {phase}")
    if len(found) > 1:
        raise _Unfoldable("it reads a different layer in each phase")
    _refuse_batch_statistics(net, batch_norm, phase)
    ((target, scale),) = found
    together = (target, batch_norm) if scale is None else (target, batch_norm, scale)
    for graph in graphs:
        if len({layer_included(x, graph.state) for x in together}) > 1:
            raise _Unfoldable(
                f"'{target.name}' and it do not run in the same phases"
                + ("" if scale is None else f" as '{scale.name}'")
            )
    _refuse_shared(net, target)
    last = batch_norm if scale is None else scale
    output = last.tops[0] if last.tops[0] != target.tops[0] and _is_output(graphs, last) else None
    return Fold(target, batch_norm, scale, output)


def _is_output(graphs: Sequence[LayerGraph], layer: Layer) -> bool:
    """Whether nothing reads what the layer writes, in any phase: a net output, whose name
    the fold keeps (the target writes it) rather than bridging to the target's."""
    for graph in graphs:
        if layer in graph.graph:
            version = graph.top(layer, 0)
            if version is None or graph.consumers(version):
                return False
    return True


def _fold_in(net: Net, graph: LayerGraph, batch_norm: Layer) -> tuple[Layer, Layer | None]:
    """(the layer it folds into, the Scale that folds with it) in one phase."""
    version = graph.bottom(batch_norm, 0)
    target = None if version is None else graph.producer(version)
    if version is None or target is None:
        raise _Unfoldable(f"no layer before it writes '{batch_norm.bottoms[0]}'")
    if target.type not in FOLDABLE:
        raise _Unfoldable(
            f"it reads '{target.name}', a {target.type or 'layer without a type'},"
            " not a Convolution, Deconvolution or InnerProduct"
        )
    if len(target.bottoms) != 1 or len(target.tops) != 1:
        raise _Unfoldable(f"'{target.name}' does not have one bottom and one top")
    readers = [x for x, _ in graph.consumers(version) if x is not batch_norm]
    if readers:
        raise _Unfoldable(
            f"the output '{version.name}' of '{target.name}' is also read by '{readers[0].name}'"
            f" (phase {graph.state.phase})"
        )
    _refuse_other_axis(net, target)
    return target, _scale_after(net, graph, batch_norm)


def _uses_stored_statistics(net: Net, batch_norm: Layer, phase: str) -> bool:
    """Caffe's BatchNorm: use_global_stats, else the stored statistics in TEST only."""
    p = layer_message(net, batch_norm).batch_norm_param
    return bool(p.use_global_stats) if p.HasField("use_global_stats") else phase == DEPLOYED


def _refuse_batch_statistics(net: Net, batch_norm: Layer, phase: str) -> None:
    if not _uses_stored_statistics(net, batch_norm, phase):
        raise _Unfoldable(
            f"it normalises with the batch's own statistics in {phase} (use_global_stats is"
            " not true), which no fixed weights can compute"
        )


def other_phase_notes(net: Net, folds: Sequence[Fold], phase: str) -> list[str]:
    """What the folds change in the net's other phase: a BatchNorm that runs there with
    the batch's own statistics (Caffe's default in TRAIN) computes the stored ones after
    folding, as at inference. One line for all of them."""
    graphs = [g for g in build_graphs(net) if g.state.phase != phase]
    changed = [
        f.batch_norm for f in folds for g in graphs
        if f.batch_norm in g.graph and not _uses_stored_statistics(net, f.batch_norm, g.state.phase)
    ]  # fmt: skip
    if not changed:
        return []
    other = next(g.state.phase for g in graphs)
    count = f"{len(changed)} of the folded BatchNorms" if len(changed) > 1 else "a folded BatchNorm"
    return [
        f"note: folded for phase {phase}; in phase {other} {count} ({net.describe(changed[0])}"
        f"{', ...' if len(changed) > 1 else ''}) normalised with the batch's own statistics,"
        f" and the result computes the stored ones there too: it is for inference"
        f" (--phase {other} keeps them)"
    ]


def _refuse_other_axis(net: Net, target: Layer) -> None:
    """BatchNorm normalises axis 1: the target's outputs must be along it."""
    if target.type == "InnerProduct":
        axis = inner_product_params(net, target).axis
    else:
        axis = conv_params(net, target).axis
    if axis != 1:
        raise _Unfoldable(f"'{target.name}' writes its outputs along axis {axis}, not 1")


def _scale_after(net: Net, graph: LayerGraph, batch_norm: Layer) -> Layer | None:
    """The Scale that only reads the BatchNorm's output, per channel, with its own blob."""
    output = graph.top(batch_norm, 0)
    readers = [] if output is None else graph.consumers(output)
    if len(readers) != 1:
        return None
    scale = readers[0][0]
    if scale.type != "Scale" or len(scale.bottoms) != 1 or len(scale.tops) != 1:
        return None
    p = layer_message(net, scale).scale_param
    return scale if p.axis in (1, -3) and p.num_axes == 1 else None


def _refuse_shared(net: Net, target: Layer) -> None:
    names = {n for n in param_names(target) if n}
    if not names:
        return
    for other in net.layers:
        if other is not target and names & {n for n in param_names(other) if n}:
            raise _Unfoldable(f"'{target.name}' shares its weights with '{other.name}'")


# ---------------------------------------------------------------------------
# The numbers


def _values(blob: Any) -> Float64Array:
    import numpy as np

    values = blob.double_data if len(blob.double_data) else blob.data
    return np.asarray(values, dtype=np.float64)


class Entries:
    """A caffemodel's entries by layer name, gathered once: looking each fold's layers up
    by scanning the file made folding quadratic in the number of layers."""

    def __init__(self, model: Caffemodel) -> None:
        self.source = model.source
        self.by_name: dict[str, list[Any]] = {}
        for entry in model.layers:
            self.by_name.setdefault(entry.name, []).append(entry)

    def of(self, name: str) -> list[Any]:
        return self.by_name.get(name, [])


def _blobs_of(entries: Entries, layer: Layer, count: int) -> list[Any]:
    """The blobs Caffe copies into ``layer`` (the last entry of its name wins)."""
    found = [e for e in entries.of(layer.name) if len(e.blobs)]
    if not found:
        raise _Unfoldable(f"{entries.source} has no blobs for '{layer.name}'")
    blobs = list(found[-1].blobs)
    if len(blobs) != count:
        raise _Unfoldable(
            f"'{layer.name}' has {len(blobs)} blob{'s' if len(blobs) != 1 else ''} in"
            f" {entries.source}, not {count}"
        )
    for j, blob in enumerate(blobs):  # read_caffemodel refuses these; a parsed one may not
        if blob_value_count(blob) != math.prod(blob_shape(blob)):
            raise _Unfoldable(
                f"'{layer.name}' param {j} in {entries.source} holds {blob_value_count(blob)}"
                f" values, not the {math.prod(blob_shape(blob))} its shape has"
            )
    return blobs


def channel_affine(
    mean: Float64Array,
    variance: Float64Array,
    factor: float,
    eps: float,
    gamma: Float64Array | None,
    beta: Float64Array | None,
) -> tuple[Float64Array, Float64Array]:
    """(a, c) with BatchNorm-then-Scale(x) == a * x + c per channel, as Caffe computes it:
    the statistics are divided by the moving-average factor (0 leaves them 0)."""
    import numpy as np

    correction = 0.0 if factor == 0 else 1.0 / factor
    a = 1.0 / np.sqrt(variance * correction + eps)
    c = -mean * correction * a
    if gamma is not None:
        a, c = a * gamma, c * gamma
    if beta is not None:
        c = c + beta
    return a, c


def folded_weights(
    kind: str, weight: Float64Array, shape: Sequence[int], a: Float64Array,
    group: int = 1, transpose: bool = False,
) -> Float64Array:  # fmt: skip
    """``weight`` (stored with ``shape``) with output channel o multiplied by a[o]."""
    outputs = len(a)
    if kind == "Deconvolution":
        # (inputs, outputs / group, kernel...): output g * (outputs / group) + j is axis 1
        # of the inputs of group g.
        per_group = outputs // group
        grid = weight.reshape(group, -1, per_group, int(weight.size // (shape[0] * per_group)))
        return (grid * a.reshape(group, 1, per_group, 1)).reshape(-1)
    if kind == "InnerProduct" and transpose:
        return (weight.reshape(-1, outputs) * a.reshape(1, outputs)).reshape(-1)
    return (weight.reshape(outputs, -1) * a.reshape(outputs, 1)).reshape(-1)


@dataclass(frozen=True)
class FoldedBlobs:
    """The new blobs of one target, as float64 values with the shapes to store them in."""

    weight: Float64Array
    weight_shape: tuple[int, ...]
    bias: Float64Array


def fold_numbers(net: Net, fold: Fold, model: Caffemodel | Entries) -> FoldedBlobs:
    """The target's weight and bias with the fold's layers computed in (float64)."""
    target = fold.target
    if target.type == "InnerProduct":
        p_ip = inner_product_params(net, target)
        outputs, bias_term, group, transpose = p_ip.num_output, p_ip.bias_term, 1, p_ip.transpose
    else:
        p = conv_params(net, target)
        outputs, bias_term, transpose = p.num_output, p.bias_term, False
        group = p.group or 1
        if target.type in DEPTHWISE_TYPES:
            group = 1  # the kernel's output axis is 0 whatever the groups
    if outputs is None:
        raise _Unfoldable(f"'{target.name}' states no num_output")
    entries = model if isinstance(model, Entries) else Entries(model)
    blobs = _blobs_of(entries, target, 2 if bias_term else 1)
    statistics = _blobs_of(entries, fold.batch_norm, 3)
    mean, variance, factor = (_values(b) for b in statistics)
    if len(mean) != outputs or len(variance) != outputs or len(factor) != 1:
        raise _Unfoldable(
            f"its statistics hold {len(mean)} channels, but '{target.name}' writes {outputs}"
        )
    gamma = beta = None
    if fold.scale is not None:
        p_scale = layer_message(net, fold.scale).scale_param
        scale_blobs = _blobs_of(entries, fold.scale, 2 if p_scale.bias_term else 1)
        gamma = _values(scale_blobs[0])
        beta = _values(scale_blobs[1]) if p_scale.bias_term else None
        if len(gamma) != outputs or (beta is not None and len(beta) != outputs):
            raise _Unfoldable(f"'{fold.scale.name}' does not hold {outputs} channels")
    eps = float(layer_message(net, fold.batch_norm).batch_norm_param.eps)
    _refuse_unnormalisable(mean, variance, float(factor[0]), eps)
    if fold.scale is not None:
        _refuse_not_finite(fold.scale, (("factor", gamma), ("bias", beta)))
    a, c = channel_affine(mean, variance, float(factor[0]), eps, gamma, beta)
    weight = _values(blobs[0])
    shape = blob_shape(blobs[0])
    if weight.size % outputs or (target.type == "Deconvolution" and outputs % group):
        raise _Unfoldable(f"the weights of '{target.name}' do not fit its {outputs} outputs")
    import numpy as np

    bias = _values(blobs[1]) if bias_term else np.zeros(outputs)
    if len(bias) != outputs:
        raise _Unfoldable(f"the bias of '{target.name}' does not hold {outputs} values")
    new_weight = folded_weights(target.type, weight, shape, a, group, transpose)
    new_bias = bias * a + c
    if not (_fits_float32(new_weight) and _fits_float32(new_bias)):
        channel = int(np.argmax(np.abs(a)))
        raise _Unfoldable(
            f"the folded weights of '{target.name}' exceed float32 (channel {channel}: its"
            f" weights are multiplied by {a[channel]:g})"
        )
    return FoldedBlobs(new_weight, shape, new_bias)


def _refuse_unnormalisable(
    mean: Float64Array, variance: Float64Array, factor: float, eps: float
) -> None:
    """Caffe divides by sqrt(variance / factor + eps): where that is not a positive number,
    or the mean is not a number, it computes NaN or infinity, which no weights can stand
    for. Refused naming the first such channel."""
    import numpy as np

    correction = 0.0 if factor == 0 else 1.0 / factor
    with np.errstate(all="ignore"):
        centre = mean * correction
        spread = variance * correction + eps
    bad = np.flatnonzero(~np.isfinite(centre) | ~(np.isfinite(spread) & (spread > 0)))
    if not bad.size:
        return
    k = int(bad[0])
    stored = f"moving-average factor {factor:g}"
    if not np.isfinite(centre[k]):
        raise _Unfoldable(f"channel {k}: its mean is {centre[k]:g} (stored {mean[k]:g}, {stored})")
    raise _Unfoldable(
        f"channel {k}: variance + eps is {spread[k]:g} (stored variance {variance[k]:g},"
        f" {stored}, eps {eps:g}), not a positive number, so Caffe computes NaN or infinity"
        " there"
    )


def _refuse_not_finite(scale: Layer, parts: Iterable[tuple[str, Float64Array | None]]) -> None:
    import numpy as np

    for what, values in parts:
        if values is None or np.isfinite(values).all():
            continue
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise _Unfoldable(f"'{scale.name}' holds {values[k]:g} as the {what} of channel {k}")


def _fits_float32(values: Float64Array) -> bool:
    import numpy as np

    finite = values[np.isfinite(values)]  # what was not finite before stays so, as in Caffe
    return bool(np.all(np.abs(finite) <= np.finfo(np.float32).max))


def store_folded(
    model: Caffemodel, target: Layer, blobs: FoldedBlobs, entries: Entries | None = None
) -> None:
    """Replace ``target``'s blobs in every entry of its name (in place); an entry that
    records ``bias_term: false`` records true."""
    import numpy as np

    for entry in (entries or Entries(model)).of(target.name):
        if not len(entry.blobs):
            continue
        old = list(entry.blobs)
        blob_class = type(old[0])
        legacy_weight = has_legacy_dims(old[0])
        bias_like = old[1] if len(old) > 1 else None
        weight = make_blob(
            blobs.weight.astype(np.float32).reshape(blobs.weight_shape),
            legacy_weight, blob_class,
        )  # fmt: skip
        bias_values = blobs.bias.astype(np.float32)
        if bias_like is not None:
            bias_values = bias_values.reshape(blob_shape(bias_like))
            bias = make_blob(bias_values, has_legacy_dims(bias_like), blob_class)
        else:
            bias = make_blob(bias_values, model.legacy or legacy_weight, blob_class)
        del entry.blobs[:]
        entry.blobs.extend([weight, bias])
        for part in ("convolution_param", "inner_product_param"):
            if entry.HasField(part) and getattr(entry, part).HasField("bias_term"):
                getattr(entry, part).bias_term = True


# ---------------------------------------------------------------------------
# The verb


@dataclass
class FoldBnResult:
    """The net without the folded layers, what was folded and what was kept (and why).
    :meth:`adjust_weights` folds the values of the caffemodel that goes with it."""

    net: Net
    folded: list[Fold]
    kept: list[Kept]
    notes: list[str]
    planned_on: Net  # the net the folds were planned on: their layers' parameters
    shapes: ShapeOverrides | None = None

    @property
    def changed(self) -> bool:
        return bool(self.folded)

    @property
    def removed(self) -> list[Layer]:
        return [x for fold in self.folded for x in fold.removed]

    @property
    def done(self) -> str:
        if not self.folded:
            return f"{self.planned_on.source}: no BatchNorm folded"
        scales = sum(1 for f in self.folded if f.scale is not None)
        also = f" and {scales} Scale layer{'s' if scales != 1 else ''}" if scales else ""
        plural = "s" if len(self.folded) != 1 else ""
        folded = f"folded {len(self.folded)} BatchNorm layer{plural}{also}"
        return f"{folded} into the layers before them"

    def adjust_weights(self, model: Caffemodel) -> list[str]:
        """Fold the values of ``model`` (the ``--weights`` caffemodel, changed in place
        before it is carried over, which leaves the folded layers' entries out): each
        target's blobs become the folded ones."""
        numbers = []
        entries = Entries(model)
        for fold in self.folded:
            try:
                numbers.append(fold_numbers(self.planned_on, fold, entries))
            except _Unfoldable as why:
                raise SurgeryError(
                    f"cannot fold {self.planned_on.describe(fold.batch_norm)}: {why}"
                ) from None
        for fold, blobs in zip(self.folded, numbers, strict=True):
            store_folded(model, fold.target, blobs, entries)
        return []


def fold_bn(net: Net, options: FoldBnOptions | None = None) -> FoldBnResult:
    """Fold every BatchNorm ``net`` allows (those ``options.only`` names, when given) into
    the layer before it, with the Scale after it; the others are listed with the reason.
    The result is checked; ``net`` is not changed. :meth:`FoldBnResult.adjust_weights`
    folds a caffemodel's values."""
    options = options or FoldBnOptions()
    net = ruled(net, options.shape_rules)
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; rewrite it as V2 first with 'scnn-surgery upgrade'"
        )
    shapes = dict(options.shapes)
    with paused_gc():
        work = net.copy()
        notes: list[str] = []
        phase = working_phase(work, build_graphs(work), options.phase, notes) or DEPLOYED
        folds, kept = plan_folds(work, options.only or None, phase)
        notes += [f"kept {work.describe(k.layer)}: {k.reason}" for k in kept]
        notes += other_phase_notes(work, folds, phase)
        if not folds:
            return FoldBnResult(net, [], kept, notes, net, shapes)
        gone = sorted((x for f in folds for x in f.removed), key=work.index_of)
        remove_from_net(work, gone)  # which may rewire a target's bottom: a new layer
        targets = {f.target.name: f for f in folds}
        current = [x for x in work.layers if x.name in targets]
        outputs = {
            x: x.with_wiring(tops=[out]) for x in current if (out := targets[x.name].output)
        }
        replace_layers(work, outputs)
        set_bias_terms(work, [outputs.get(x, x) for x in current])
        notes += check_result(net, work, shapes=shapes, proto=options.proto)
    return FoldBnResult(work, folds, kept, notes, net, shapes)


def set_bias_terms(net: Net, targets: Iterable[Layer]) -> None:
    """``bias_term: true`` where a target states false (true is Caffe's default)."""
    for layer in targets:
        if layer.type == "InnerProduct":
            if not inner_product_params(net, layer).bias_term:
                set_param(net, layer, "inner_product_param.bias_term", True)
        elif not conv_params(net, layer).bias_term:
            set_param(net, layer, "convolution_param.bias_term", True)


VERB = VerbSpec("fold-bn", fold_bn)
