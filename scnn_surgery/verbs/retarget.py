"""Change the input size MODEL (a prototxt; '-' reads stdin) states, with --input
BLOB=N,C,H,W (repeatable; ? keeps a dimension): an Input layer's shape, input_dim or
input_shape, each changed dimension as its own value. Every SCNN module (ours, the
published generator's, Apollo's) whose map changes size is generated again for the new
map, with its own prefix, directions, channels, kernel, filler and weight sharing: its
slices depend on H and W. With --weights, every new layer of a direction gets that
direction's trained kernel, so a trained module survives the change of resolution.

A layer the generator makes again unchanged keeps its text.

Refused (exit 1), naming the layer and both sizes: a layer whose weights would change
shape (an InnerProduct whose input grows), unless --reshape-weights (you will retrain it;
its blobs are refilled from its fillers); a layer that states a size for the old map (an
Interp's explicit height and width, SegNet's Upsample's upsample_h and upsample_w, a
pooling window over the whole map or a bin of a pyramid, as PSPNet's, a PriorBox's
explicit img_size or step), unless --rescale scales it. The same size again changes
nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx

from ..analysis.forkrules import ruled
from ..analysis.modules import TIMES, find_modules
from ..analysis.params import (
    definition_message,
    interp_params,
    layer_message,
    pool_params,
    prior_box_params,
    upsample_params,
)
from ..analysis.shapes import MaybeShape, ShapeOverrides, ShapeResult, infer_shapes
from ..analysis.verify import check_result
from ..core.document import Scalar
from ..core.graph import LayerGraph, graph_of, phase_states
from ..core.layerdef import LayerDef
from ..core.net import Layer, Net, param_names
from ..core.ops import insert_layers, remove_layers, remove_param, set_net_field, set_param
from ..core.values import read_path
from ..errors import SurgeryError, UsageError
from ..options import RetargetOptions
from ..passes.anchor import closest_names
from ..runtime import paused_gc
from ..scnn import DetectedModule, ScnnSpec, build_module, module_output
from ..weights import Caffemodel, layer_param_blobs
from . import VerbSpec

Dims = tuple[int, ...]
Request = Mapping[str, Sequence[int | None]]
INPUT_FLAG = "--input"  # how retarget's command line gives the new sizes


class NeedsFlag(SurgeryError):
    """A change retarget makes only when asked with ``flag``; ``problem`` says what it is
    (a verb that retargets on the way, as insert does, names its own remedy)."""

    def __init__(self, problem: str, flag: str, remedy: str) -> None:
        super().__init__(f"{problem}; give {flag} {remedy}")
        self.problem = problem
        self.flag = flag


# ---------------------------------------------------------------------------
# The sizes the file states


@dataclass(frozen=True)
class StatedSize:
    """Where the file states one blob's size: the net itself (``layer`` None) or an Input
    layer, the path of each dimension's value, and the dimensions."""

    blob: str
    layer: Layer | None
    paths: tuple[str, ...]
    dims: Dims


def stated_sizes(net: Net) -> dict[str, list[StatedSize]]:
    """Every input size the file states, by blob (an Input layer per phase may state one
    blob twice)."""
    found: dict[str, list[StatedSize]] = {}
    root = net.document.root
    by_shape = bool(root.messages("input_shape"))
    for i, net_input in enumerate(net.inputs):
        if net_input.dims is None:
            continue
        rank = len(net_input.dims)
        paths = tuple(
            f"input_shape[{i}].dim[{j}]" if by_shape else f"input_dim[{4 * i + j}]"
            for j in range(rank)
        )
        found.setdefault(net_input.name, []).append(
            StatedSize(net_input.name, None, paths, net_input.dims)
        )
    for layer in net.layers:
        if layer.type != "Input" or layer.format != "v2":
            continue  # (an upgrade's Input layer, added, states the size of the inputs)
        # Read as protobuf reads them (012 is octal 10); a bad number is a located error.
        shapes = layer_message(net, layer).input_param.shape
        for t, top in enumerate(layer.tops):
            k = t if len(shapes) > 1 else 0
            if k >= len(shapes):
                continue
            dims = tuple(int(d) for d in shapes[k].dim)
            paths = tuple(f"input_param.shape[{k}].dim[{j}]" for j in range(len(dims)))
            found.setdefault(top, []).append(StatedSize(top, layer, paths, dims))
    return found


def _new_dims(net: Net, stated: StatedSize, wanted: Sequence[int | None], flag: str) -> Dims:
    if len(wanted) != len(stated.dims):
        raise SurgeryError(
            f"{net.source}: '{stated.blob}' has {len(stated.dims)} dimensions"
            f" ({_shape(stated.dims)}), but {flag} gives {len(wanted)}"
        )
    if any(d is not None and d <= 0 for d in wanted):
        raise SurgeryError(f"{net.source}: {flag} {stated.blob}: every size must be positive")
    return tuple(old if new is None else new for old, new in zip(stated.dims, wanted, strict=True))


def _map(size: tuple[int | None, int | None]) -> str:
    """A module's map as its stages see it: a one-stage module knows one of the sizes."""
    height, width = size
    if height is None:
        return f"a map {width} wide"
    if width is None:
        return f"a map {height} high"
    return f"a {height}{TIMES}{width} map"


def _shape(dims: Sequence[int | float | None]) -> str:
    return TIMES.join("?" if d is None else str(d) for d in dims)


def _restate(net: Net, request: Request, flag: str) -> dict[str, tuple[Dims, Dims]]:
    """Rewrite the requested sizes in ``net`` (in place); blob -> (old, new) dims. ``flag``
    is how the command line gave them."""
    sizes = stated_sizes(net)
    changed: dict[str, tuple[Dims, Dims]] = {}
    current: dict[Layer, Layer] = {}  # an Input layer as edited so far (one per top)
    for blob, wanted in request.items():
        if blob not in sizes:
            close = closest_names(blob, set(sizes))
            hint = f"; it states {', '.join(sorted(sizes))}" if sizes else ""
            hint = f"; closest: {', '.join(close)}" if close else hint
            raise SurgeryError(
                f"{net.source}: the file states no size for '{blob}' (an Input layer,"
                f" input_dim or input_shape){hint}"
            )
        for stated in sizes[blob]:
            dims = _new_dims(net, stated, wanted, flag)
            _refuse_shared_shape(net, stated, request, flag)
            changed[blob] = (stated.dims, dims)
            layer = None if stated.layer is None else current.get(stated.layer, stated.layer)
            for path, old, new in zip(stated.paths, stated.dims, dims, strict=True):
                if old == new:
                    continue
                if layer is None:
                    set_net_field(net, path, new)
                else:
                    layer = set_param(net, layer, path, new)
            if stated.layer is not None and layer is not None:
                current[stated.layer] = layer
    return changed


def _refuse_shared_shape(net: Net, stated: StatedSize, request: Request, flag: str) -> None:
    """An Input layer with one shape for several tops: they change together."""
    layer = stated.layer
    if layer is None or layer.body is None or len(layer.tops) < 2:
        return
    if len(layer.body.messages("input_param")[-1].messages("shape")) > 1:
        return
    others = [t for t in layer.tops if t != stated.blob]
    wanted = request[stated.blob]
    if any(tuple(request.get(t, ())) != tuple(wanted) for t in others):
        raise SurgeryError(
            f"{net.describe(layer)} states one shape for {', '.join(layer.tops)}; give"
            f" {flag} for each of them, with the same size"
        )


# ---------------------------------------------------------------------------
# SCNN modules


@dataclass(frozen=True)
class Regenerated:
    """A module made again for a new map: its spec and the layer names before and after."""

    spec: ScnnSpec
    old_size: tuple[int | None, int | None]
    before: tuple[str, ...]
    after: tuple[str, ...]


def _module_spec(net: Net, module: DetectedModule, members: Sequence[Layer]) -> ScnnSpec:
    """The spec that generates ``module`` as it is: its convolutions' filler, learning rate
    and sharing read from the first of them."""
    spec = ScnnSpec(
        height=module.height or 1,
        width=module.width or 1,
        channels=module.channels or 128,
        kernel_width=module.kernel or 9,
        bottom=module.bottom,
        directions=module.directions,
        prefix=module.prefix,
    )
    conv = next((x for x in members if x.type == "Convolution"), None)
    if conv is not None:
        message = layer_message(net, conv)
        share = any(param_names(conv))
        lr_mult = float(message.param[0].lr_mult) if len(message.param) else 1.0
        spec = replace(spec, share_weights=share, lr_mult=lr_mult)
        std = _stated_std(conv)
        if std is not None and std != spec.weight_std():
            spec = replace(spec, init_std=std)
    if module_output(spec) != module.output:
        spec = replace(spec, top=module.output)
    return spec


def _stated_std(conv: Layer) -> float | None:
    """The filler's std as written (a float32 read back would print 0.01863 long)."""
    if conv.body is None:
        definition = conv.definition
        if definition is None:
            return None
        for key, value in definition.fields:
            if key == "convolution_param" and isinstance(value, tuple):
                for inner_key, inner in value:
                    if inner_key == "weight_filler" and isinstance(inner, tuple):
                        std = dict(inner).get("std")
                        return None if std is None else float(str(std))
        return None
    found = read_path(conv.body, "convolution_param.weight_filler.std")
    return float(found.raw) if isinstance(found, Scalar) else None


def _regenerate_modules(net: Net, overrides: ShapeOverrides) -> list[Regenerated]:
    """Each module whose input map changed size, generated again for it (``net`` edited)."""
    done: list[Regenerated] = []
    for module, layers in find_modules(net):
        members = [x for x in layers if x.name in set(module.layer_names)]
        first = members[0]
        size = _map_size(net, first, overrides)
        if size is None:
            raise SurgeryError(
                f"{net.describe(first)}: the size of the map the SCNN module"
                f" '{module.prefix or 'SCNN'}' reads is not known at the new input size"
            )
        old = (module.height, module.width)
        new_h = size[0] if module.height is not None else None
        new_w = size[1] if module.width is not None else None
        if (new_h, new_w) == old:
            continue
        spec = _module_spec(net, module, members)
        _refuse_edited(net, spec, members)
        new_spec = replace(spec, height=new_h or 1, width=new_w or 1)
        definitions = build_module(new_spec, check_names=False)
        _remake_module(net, members, definitions)
        done.append(Regenerated(
            new_spec, old, tuple(x.name for x in members), tuple(d.name for d in definitions)
        ))  # fmt: skip
    return done


def _remake_module(net: Net, members: Sequence[Layer], definitions: Sequence[LayerDef]) -> None:
    """Make the module's layers ``definitions`` in the net: a member the generator makes
    again as it is (same name and message: most of a direction's convolutions) keeps its
    text; only the layers that change or are new are written in the generator's layout."""
    old = {x.name: x for x in members}
    kept = [
        d.name for d in definitions
        if d.name in old and _same_layer(net, old[d.name], d)
    ]  # fmt: skip
    if kept != [x.name for x in members if x.name in set(kept)]:
        kept = []  # the generator reorders them: all of the module is made again
    position = net.index_of(members[0])
    anchor = net.layers[position - 1] if position else None
    remove_layers(net, [x for x in members if x.name not in set(kept)])
    pending: list[Layer] = []
    for definition in definitions:
        if definition.name not in set(kept):
            pending.append(Layer.from_definition(definition))
            continue
        if pending:
            insert_layers(net, anchor, pending)
        pending, anchor = [], old[definition.name]
    if pending:
        insert_layers(net, anchor, pending)


def _same_layer(net: Net, layer: Layer, definition: LayerDef) -> bool:
    have = layer_message(net, layer)
    return bool(have == definition_message(definition, type(have)))


def _refuse_edited(net: Net, spec: ScnnSpec, members: Sequence[Layer]) -> None:
    """A module the generator would not make as it is (edited by hand: one kernel's
    learning rate, an extra field) cannot be made again without losing the edit."""
    made = build_module(spec, check_names=False)
    if len(made) != len(members):
        raise SurgeryError(
            f"{net.describe(members[0])}: the SCNN module has {len(members)} layers where the"
            f" generator makes {len(made)}; it cannot be generated again for the new map"
        )
    for layer, definition in zip(members, made, strict=True):
        have = layer_message(net, layer)
        want = definition_message(definition, type(have))
        if have != want:
            fields = {f.name for f, _ in have.ListFields()} | {f.name for f, _ in want.ListFields()}
            differ = sorted(f for f in fields if getattr(have, f) != getattr(want, f))
            raise SurgeryError(
                f"{net.describe(layer)}: the SCNN module's layer differs from what the"
                f" generator makes ({', '.join(differ)}); generating it again for the new map"
                " would lose that"
            )


def _map_size(net: Net, layer: Layer, overrides: ShapeOverrides) -> tuple[int, int] | None:
    for state in phase_states(net):
        graph = graph_of(net, state)
        if layer not in graph.graph:
            continue
        shape = infer_shapes(net, graph, overrides).layer_inputs(layer)[0]
        if shape is not None and len(shape) == 4 and shape[2] and shape[3]:
            return int(shape[2]), int(shape[3])
    return None


# ---------------------------------------------------------------------------
# Sizes stated for the old map


@dataclass(frozen=True)
class Rescale:
    """A layer that states a size for the old map: what it says, and the fields that say
    it for the new one."""

    layer: Layer
    what: str
    sets: tuple[tuple[str, int | float], ...]
    removes: tuple[str, ...] = ()


def _ratio(changed: Mapping[str, tuple[Dims, Dims]], source: str) -> tuple[float, float]:
    """How much the (first) input map grows, per spatial axis."""
    for blob, (old, new) in changed.items():
        if len(old) == 4 and (old[2:] != new[2:]):
            if 0 in old[2:]:
                raise SurgeryError(
                    f"{source}: '{blob}' is stated as {_shape(old)}, an empty map: there is"
                    " no ratio to carry the sizes stated for it to the new one"
                )
            return new[2] / old[2], new[3] / old[3]
    return 1.0, 1.0


def _stated_for_old_map(
    net: Net, work: Net, ratio: tuple[float, float], overrides: ShapeOverrides
) -> list[Rescale]:
    found: dict[Layer, Rescale] = {}
    for state in phase_states(net):
        old_graph, new_graph = graph_of(net, state), graph_of(work, state)
        old_shapes = infer_shapes(net, old_graph, overrides)
        new_shapes = infer_shapes(work, new_graph, overrides)
        for layer in old_graph.layers:
            if layer in found or layer not in new_graph.graph:
                continue
            if layer.type == "Interp" and ratio != (1.0, 1.0):
                joined = _joined_map(old_graph, layer, old_shapes, new_shapes)
                fix = _interp_rescale(net, layer, ratio, joined)
            elif layer.type == "PriorBox":
                fix = _prior_box_rescale(net, layer, old_shapes, new_shapes)
            elif layer.type == "Upsample" and ratio != (1.0, 1.0):
                fix = _upsample_rescale(net, old_graph, layer, new_shapes, ratio)
            elif layer.type == "Pooling":
                fix = _pool_rescale(net, old_graph, layer, old_shapes, new_shapes)
            else:
                fix = None
            if fix is not None:
                found[layer] = fix
    return sorted(found.values(), key=lambda f: net.index_of(f.layer))


def _interp_rescale(
    net: Net, layer: Layer, ratio: tuple[float, float], joined: tuple[int, int] | None
) -> Rescale | None:
    """An Interp's explicit height and width: the new size of the map its output joins
    where it had that map's size (PSPNet's bins, resized back to the map), else scaled."""
    p = interp_params(net, layer)
    if p.height is None and p.width is None:
        return None
    sets: list[tuple[str, int | float]] = []
    if p.height is not None:
        new_h = max(1, round(p.height * ratio[0])) if joined is None else joined[0]
        sets.append(("interp_param.height", new_h))
    if p.width is not None:
        new_w = max(1, round(p.width * ratio[1])) if joined is None else joined[1]
        sets.append(("interp_param.width", new_w))
    old = _shape([p.height, p.width])
    new = _shape([int(v) for _, v in sets] if len(sets) == 2 else [int(sets[0][1])])
    return Rescale(layer, f"resizes to an explicit {old}, which would be {new} for the new map",
                   tuple(sets))  # fmt: skip


def _joined_map(
    graph: LayerGraph, layer: Layer, old: ShapeResult, new: ShapeResult
) -> tuple[int, int] | None:
    """The new size of the map the Interp's output joins (another bottom of a layer that
    reads it, not made by an Interp, as large as the Interp's output was); None if none."""
    top = graph.top(layer, 0)
    if top is None:
        return None
    old_hw = _hw(old.layer_outputs(layer)[0]) if old.layer_outputs(layer) else None
    for reader, _ in graph.consumers(top):
        for index, version in enumerate(graph.bottoms(reader)):
            producer = None if version is None else graph.producer(version)
            if producer is None or producer.type == "Interp":
                continue
            before = _hw(old.layer_inputs(reader)[index])
            after = _hw(new.layer_inputs(reader)[index]) if new.layer_inputs(reader) else None
            if before is not None and before == old_hw and after is not None:
                return after
    return None


def _upsample_rescale(
    net: Net, graph: LayerGraph, layer: Layer, new: ShapeResult, ratio: tuple[float, float]
) -> Rescale | None:
    """SegNet's Upsample with an explicit upsample_h and upsample_w (its output size): the
    map the pooling that made its mask read, whose size changes with the input. The new
    size is that pooling's new input where the mask comes from one, else scaled."""
    p = upsample_params(net, layer)
    if p.upsample_h is None or p.upsample_w is None or len(layer.bottoms) < 2:
        return None  # (a one-bottom Upsample, darknet's, scales by ``scale`` alone)
    old_hw = (p.upsample_h, p.upsample_w)
    mask = graph.bottom(layer, 1)
    pooling = None if mask is None else graph.producer(mask)
    pools = pooling is not None and pooling.type == "Pooling"
    read = new.layer_inputs(pooling)[0] if pools and pooling is not None else None
    if _spatial(read):
        assert read is not None
        new_hw = (int(read[2]), int(read[3]))  # type: ignore[arg-type]
        where = f" (the map '{pooling.name}' pools)" if pooling is not None else ""
    else:
        new_hw = (max(1, round(old_hw[0] * ratio[0])), max(1, round(old_hw[1] * ratio[1])))
        where = ""
    if new_hw == old_hw:
        return None
    what = (
        f"unpools to an explicit {_shape(old_hw)} (upsample_h, upsample_w), which would be"
        f" {_shape(new_hw)} for the new map{where}"
    )
    sets = (("upsample_param.upsample_h", new_hw[0]), ("upsample_param.upsample_w", new_hw[1]))
    return Rescale(layer, what, sets)


def _hw(shape: MaybeShape) -> tuple[int, int] | None:
    if not _spatial(shape):
        return None
    assert shape is not None
    return int(shape[2]), int(shape[3])  # type: ignore[arg-type]


def _prior_box_rescale(
    net: Net, layer: Layer, old: ShapeResult, new: ShapeResult
) -> Rescale | None:
    """SSD's PriorBox (prior_box_layer.cpp) places a prior at (cell + offset) x step in
    image pixels and divides by the image's size: an explicit img_size (or img_h, img_w)
    and step (or step_h, step_w) are the old image's. The image is scaled with the input;
    a step keeps its ratio to the map's cell (image / map size, Caffe's step when none is
    given), so the priors spread over the new image as they did over the old one."""
    p = prior_box_params(net, layer)
    ins_old, ins_new = old.layer_inputs(layer), new.layer_inputs(layer)
    if len(ins_old) < 2 or len(ins_new) < 2:
        return None
    map_old, map_new = _hw(ins_old[0]), _hw(ins_new[0])
    blob_old, blob_new = _hw(ins_old[1]), _hw(ins_new[1])
    if None in (map_old, map_new, blob_old, blob_new) or (map_old, blob_old) == (map_new, blob_new):
        return None
    assert map_old is not None and map_new is not None
    assert blob_old is not None and blob_new is not None
    image_old = _stated_pair(p.img_size, p.img_h, p.img_w)
    image_new = blob_new if image_old is None else tuple(
        max(1, round(image_old[a] * blob_new[a] / blob_old[a])) for a in (0, 1)
    )  # fmt: skip
    sets: list[tuple[str, int | float]] = []
    removes: list[str] = []
    said: list[str] = []
    if image_old is not None and image_new != image_old:
        more = _prior_box_fields("img_size", p.img_size is not None, image_new)
        sets, removes = sets + more[0], removes + more[1]
        said.append(
            f"normalises its boxes by an explicit {_shape(image_old)} image, which would be"
            f" {_shape(image_new)} for the new input"
        )
    steps = _stated_pair(p.step, p.step_h, p.step_w)
    image = blob_old if image_old is None else image_old
    if steps is not None:
        cells = [
            _cell_step(steps[a], image[a], map_old[a], image_new[a], map_new[a]) for a in (0, 1)
        ]
        new_steps = (cells[0][0], cells[1][0])
        if new_steps != steps:
            more = _prior_box_fields("step", p.step is not None, new_steps)
            sets, removes = sets + more[0], removes + more[1]
            why = "the new map's cell, as it was the old map's" if all(c[1] for c in cells) else (
                "grown as the map's cell grows"
            )
            said.append(
                f"spaces its priors {_shape([_number(x) for x in steps])} pixels apart (step)"
                f" on the {_shape(map_old)} map of a {_shape(image)} image; on the new"
                f" {_shape(map_new)} map of the {_shape(image_new)} image that would be"
                f" {_shape(new_steps)} ({why})"
            )
    if not said:
        return None
    return Rescale(layer, "; ".join(said), tuple(sets), tuple(removes))


def _prior_box_fields(
    single: str, given: bool, new: tuple[int | float, int | float]
) -> tuple[list[tuple[str, int | float]], list[str]]:
    """The fields that state ``new``: the one value for both axes (img_size, step) where
    the file gave it and the axes still agree, else the pair (img_h and img_w, step_h and
    step_w), the one value taken out."""
    if given and new[0] == new[1]:
        return [(f"prior_box_param.{single}", new[0])], []
    stem = single.removesuffix("_size")
    sets: list[tuple[str, int | float]] = [
        (f"prior_box_param.{stem}_h", new[0]), (f"prior_box_param.{stem}_w", new[1])
    ]  # fmt: skip
    return sets, [f"prior_box_param.{single}"] if given else []


def _cell_step(
    step: float, image: int, cells: int, new_image: int, new_cells: int
) -> tuple[int | float, bool]:
    """One axis's step on the new map, and whether it was the map's cell. A step that puts
    one prior in each cell of the map across the image (SSD300's 8 for 38 cells of 300
    pixels: the cell of 7.9 rounded to the net's stride; 100 for 3 cells) becomes the new
    map's cell (SSD512's steps); any other keeps its ratio to the cell."""
    cell, new_cell = image / cells, new_image / new_cells
    if abs(image / step - cells) < 1:
        return _number(round(new_cell, 4)), True
    return _number(round(step * new_cell / cell, 4)), False


def _stated_pair(
    both: float | None, first: float | None, second: float | None
) -> tuple[Any, Any] | None:
    """A size Caffe takes as one value for both axes or as a pair (img_size or img_h and
    img_w; step or step_h and step_w); None when it is not stated (Caffe then computes it)."""
    if both is not None:
        return both, both
    if first is not None and second is not None:
        return first, second
    return None


def _number(value: float) -> int | float:
    """A float field's value as it reads best: 100.0 as 100."""
    return int(value) if float(value).is_integer() else float(value)


def _prior_size_warning(net: Net, sizes: Mapping[str, tuple[Dims, Dims]]) -> list[str]:
    """SSD's min_size and max_size are object sizes in pixels: they stay, so the priors
    cover objects as large (in pixels) as before, a different part of the new image."""
    boxes = [x for x in net.layers if x.type == "PriorBox"]
    if not boxes or _ratio(sizes, net.source) == (1.0, 1.0):
        return []
    params = [prior_box_params(net, x) for x in boxes]
    stated = [v for p in params for v in (*p.min_sizes, *p.max_sizes)]
    span = f" ({_number(min(stated))} to {_number(max(stated))})" if stated else ""
    many = (
        f"the {len(boxes)} PriorBox layers keep their"
        if len(boxes) > 1
        else f"{net.describe(boxes[0])} keeps its"
    )
    return [
        f"warning: {many} min_size and max_size{span}: they are object sizes in pixels, so"
        " the priors look for objects as large in pixels as before; scale them by hand if"
        " the objects grow with the image"
    ]


def _pool_rescale(
    net: Net, graph: LayerGraph, layer: Layer, old: ShapeResult, new: ShapeResult
) -> Rescale | None:
    """A pooling window stated for the old map: one over the whole map (ResNet's pool5,
    stated as a kernel), or one bin of a pyramid (:func:`_pyramid_branch`), which keeps
    its number of bins. Any other pooling slides its window over any map."""
    p = pool_params(net, layer)
    before, after = old.layer_inputs(layer)[0], new.layer_inputs(layer)[0]
    ins_old, ins_new = _hw(before), _hw(after)
    if p.global_pooling or p.kernel is None or ins_old is None or ins_new is None:
        return None
    if ins_old == ins_new:
        return None
    pooled = _hw(old.layer_outputs(layer)[0])
    pyramid = pooled is not None and _pyramid_branch(net, graph, layer)
    kernel, stride = [p.kernel[0], p.kernel[1]], [p.stride[0], p.stride[1]]
    reasons = []
    for axis in (0, 1):
        k, s, n_old, n_new = p.kernel[axis], p.stride[axis], ins_old[axis], ins_new[axis]
        if k == n_old and n_old > 1 and p.pad[axis] == 0:
            kernel[axis] = n_new
            stride[axis] = n_new if s == k else s
            reasons.append(f"the whole old {_shape(ins_old)} map")
        elif pyramid and p.pad[axis] == 0 and n_old != n_new:
            assert pooled is not None
            bins = pooled[axis]
            kernel[axis], stride[axis] = _bin_window(net, layer, n_new, bins, p.ceil)
            reasons.append(f"{bins} bins of a pyramid over the old {_shape(ins_old)} map")
    if not reasons:
        return None
    what = (
        f"pools a {_shape(p.kernel)} window, {reasons[0]};"
        f" for the new {_shape(ins_new)} map it would be {_shape(kernel)}"
        + ("" if tuple(stride) == p.stride else f" with stride {_shape(stride)}")
    )
    new_kernel, new_stride = (kernel[0], kernel[1]), (stride[0], stride[1])
    sets, removes = _pool_fields(p.given, "kernel", p.kernel, new_kernel, "kernel_size")
    more_sets, more_removes = _pool_fields(p.given, "stride", p.stride, new_stride, "stride")
    return Rescale(layer, what, sets + more_sets, removes + more_removes)


def _pooled(size: int, kernel: int, stride: int, ceil: bool) -> int:
    """Caffe's pooled size without padding (pooling_layer.cpp)."""
    steps = (size - kernel) / stride
    return (math.ceil(steps) if ceil else math.floor(steps)) + 1


def _bin_window(net: Net, layer: Layer, size: int, bins: int, ceil: bool) -> tuple[int, int]:
    """The kernel and stride that cut a map ``size`` wide into ``bins`` windows with no
    gap between them: the widest stride, then the narrowest kernel (``size`` / ``bins``
    when it divides; 10 into 6 bins: 5 wide, stride 1)."""
    for stride in range(math.ceil(size / bins), 0, -1):
        # The narrowest kernel with ``bins`` windows, rounding up or down.
        for kernel in sorted({max(stride, size - bins * stride + 1),
                              max(stride, size - (bins - 1) * stride)}):  # fmt: skip
            if kernel <= size and _pooled(size, kernel, stride, ceil) == bins:
                return kernel, stride
    raise SurgeryError(
        f"{net.describe(layer)}: a pyramid's {bins} bins do not fit the new map,"
        f" {size} wide"
    )


def _pool_fields(
    given: frozenset[str], stem: str, old: tuple[int, int], new: tuple[int, int], single: str
) -> tuple[tuple[tuple[str, int | float], ...], tuple[str, ...]]:
    """The pooling_param fields that state ``new`` (unchanged: none), in the file's form
    where it can say it (one value for both axes), else as _h and _w."""
    if old == new:
        return (), ()
    pair = (f"{stem}_h", f"{stem}_w")
    if new[0] == new[1] and not (set(pair) & given):
        return ((f"pooling_param.{single}", new[0]),), ()
    removes = (f"pooling_param.{single}",) if single in given else ()
    return ((f"pooling_param.{pair[0]}", new[0]), (f"pooling_param.{pair[1]}", new[1])), removes


def _spatial(shape: MaybeShape) -> bool:
    return shape is not None and len(shape) == 4 and all(d is not None for d in shape[2:])


def _pyramid_branch(net: Net, graph: LayerGraph, layer: Layer) -> bool:
    """Whether the pooling is a branch of a pyramid, as PSPNet's: it and another pooling
    with a different window read the same map, and its branch is resized by an Interp
    into a Concat that joins the map itself."""
    source = graph.bottom(layer, 0)
    if source is None:
        return False
    readers = [x for x, _ in graph.consumers(source)]
    windows = {pool_params(net, x).kernel for x in readers if x.type == "Pooling"}
    if len(windows) < 2:
        return False
    branch = nx.descendants(graph.graph, layer)
    return any(
        nx.ancestors(graph.graph, join) & branch & _interps(graph)
        for join in readers if join.type == "Concat" and join in branch
    )  # fmt: skip


def _interps(graph: LayerGraph) -> set[Layer]:
    return {x for x in graph.layers if x.type == "Interp"}


def _apply_rescales(net: Net, fixes: Sequence[Rescale]) -> None:
    for fix in fixes:
        layer = fix.layer
        for path in fix.removes:
            layer = remove_param(net, layer, path)
        for path, value in fix.sets:
            layer = set_param(net, layer, path, value)


# ---------------------------------------------------------------------------
# Weights that would change shape


def _weight_changes(
    net: Net, work: Net, skip: set[str], overrides: ShapeOverrides
) -> list[tuple[Layer, str]]:
    """Each layer whose parameter blobs change shape, with a sentence naming both sizes."""
    found: dict[Layer, str] = {}
    for state in phase_states(net):
        old_graph, new_graph = graph_of(net, state), graph_of(work, state)
        old_shapes = infer_shapes(net, old_graph, overrides)
        new_shapes = infer_shapes(work, new_graph, overrides)
        current = {x.name: x for x in new_graph.layers}
        for layer in old_graph.layers:
            now = layer if layer in new_graph.graph else current.get(layer.name)
            if layer in found or layer.name in skip or now is None:
                continue
            before = layer_param_blobs(net, layer, old_shapes.layer_inputs(layer))
            after = layer_param_blobs(work, now, new_shapes.layer_inputs(now))
            if before is None or after is None:
                continue
            old_dims = [b.shape for b in before]
            new_dims = [b.shape for b in after]
            if old_dims != new_dims:
                changed = next(
                    (o, n) for o, n in zip(old_dims, new_dims, strict=False) if o != n
                ) if len(old_dims) == len(new_dims) else (old_dims[0], new_dims[0])
                found[layer] = (
                    f"{net.describe(layer)}: its weights would change shape, from"
                    f" {_shape(changed[0])} to {_shape(changed[1])} (its input"
                    f" {_shape(old_shapes.layer_inputs(layer)[0] or ())} becomes"
                    f" {_shape(new_shapes.layer_inputs(now)[0] or ())})"
                )
    return sorted(found.items(), key=lambda item: net.index_of(item[0]))


# ---------------------------------------------------------------------------
# The verb


@dataclass
class RetargetResult:
    """The net at its new input size and what changed with it; :meth:`adjust_weights`
    adjusts the caffemodel that goes with it."""

    net: Net
    notes: list[str]
    sizes: dict[str, tuple[Dims, Dims]]
    modules: list[Regenerated]
    rescaled: list[Rescale]
    reshaped: list[str]  # layers whose weights change shape (--reshape-weights)
    shapes: ShapeOverrides | None = None
    before: tuple[Layer, ...] = ()  # the layers the regenerated modules had

    @property
    def changed(self) -> bool:
        return any(old != new for old, new in self.sizes.values())

    @property
    def done(self) -> str:
        if not self.changed:
            stated = ", ".join(f"{blob} {_shape(new)}" for blob, (_, new) in self.sizes.items())
            return f"unchanged: the file states {stated} already"
        said = "; ".join(f"{blob} {_shape(old)} -> {_shape(new)}"
                         for blob, (old, new) in self.sizes.items())  # fmt: skip
        return f"retargeted {said}"

    @property
    def added(self) -> list[Layer]:
        """The layers whose blobs come from their fillers: those whose weights changed
        shape (:meth:`adjust_weights` takes their entries out). A regenerated module's new
        convolutions get their direction's trained entry there instead, and any it cannot
        are filled as layers the caffemodel lacks."""
        reshaped = set(self.reshaped)
        return [x for x in self.net.layers if x.name in reshaped]

    @property
    def removed(self) -> list[Layer]:
        after = {n for m in self.modules for n in m.after}
        return [x for x in self.before if x.name not in after]

    def adjust_weights(self, model: Caffemodel) -> list[str]:
        """The ``--weights`` caffemodel for the retargeted net (changed in place before it
        is carried over): each new layer of a module direction gets an entry with the
        direction's trained kernel; a layer whose weights changed shape loses its entry,
        to be refilled from its fillers."""
        return [*_drop_stale(model, self.reshaped), *share_trained_kernels(self, model)]


def _drop_stale(model: Caffemodel, names: Sequence[str]) -> list[str]:
    """Take the entries of the layers whose weights changed shape out of ``model``, so
    that they are filled from their fillers; a note for each that held blobs."""
    entries = model.message.layers if model.legacy else model.message.layer
    stale = set(names)
    doomed = [i for i, entry in enumerate(entries) if entry.name in stale]
    held = list(dict.fromkeys(entries[i].name for i in doomed if len(entries[i].blobs)))
    for i in reversed(doomed):
        del entries[i]
    return [
        f"layer '{name}': its blobs in {model.source} no longer fit (its weights changed"
        " shape), so they are left out and it is filled from its fillers; retrain it"
        for name in held
    ]


def retarget(net: Net, options: RetargetOptions, *, flag: str = INPUT_FLAG) -> RetargetResult:
    """``net`` with the input sizes ``options.inputs`` gives (blob -> dims; None keeps a
    dimension), its SCNN modules generated again for their new maps; ``net`` itself is not
    changed. Refused: a blob whose size the file does not state, a layer that states a
    size for the old map (unless ``rescale``), one whose weights would change shape
    (unless ``reshape_weights``, then a warning): :class:`NeedsFlag` for those two.
    ``flag`` is how the caller's command line gives the sizes (insert: ``--shape``)."""
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; rewrite it as V2 first with 'scnn-surgery upgrade'"
        )
    if not options.inputs:
        raise UsageError("give the new size of an input: --input BLOB=N,C,H,W")
    overrides = dict(options.shapes)
    net = ruled(net, options.shape_rules)
    with paused_gc():
        work = net.copy()
        sizes = _restate(work, options.inputs, flag)
        if all(old == new for old, new in sizes.values()):
            return RetargetResult(net, [], sizes, [], [], [], overrides)
        result = _retargeted(net, work, sizes, options)
    return result


def _retargeted(
    net: Net, work: Net, sizes: dict[str, tuple[Dims, Dims]], options: RetargetOptions
) -> RetargetResult:
    overrides = dict(options.shapes)
    before = [x for _, layers in find_modules(work) for x in layers]
    modules = _regenerate_modules(work, overrides)
    fixes = _stated_for_old_map(net, work, _ratio(sizes, net.source), overrides)
    if fixes and not options.rescale:
        first = fixes[0]
        more = f" (and {len(fixes) - 1} more)" if len(fixes) > 1 else ""
        raise NeedsFlag(
            f"{net.describe(first.layer)} {first.what}{more}", "--rescale", "to scale it"
        )
    notes = []
    if fixes:
        _apply_rescales(work, fixes)
        modules += _regenerate_modules(work, overrides)
        notes += [f"rescaled {net.describe(f.layer)}: it {f.what}" for f in fixes]
    notes += _prior_size_warning(net, sizes)
    notes += [regenerated_note(module) for module in modules]
    module_names = {n for m in modules for n in (*m.before, *m.after)}
    changes = _weight_changes(net, work, module_names, overrides)
    if changes and not options.reshape_weights:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise NeedsFlag(
            f"{changes[0][1]}{more}: a trained caffemodel would no longer fit",
            "--reshape-weights",
            "if you will retrain it",
        )
    notes += [f"warning: {why}; retrain it" for _, why in changes]
    notes += check_result(net, work, shapes=overrides, proto=options.proto)
    regenerated = {n for m in modules for n in m.before}
    return RetargetResult(
        work, notes, sizes, modules, fixes, [x.name for x, _ in changes], overrides,
        tuple(x for x in before if x.name in regenerated),
    )  # fmt: skip


def regenerated_note(module: Regenerated) -> str:
    """What became of a module made again for its new map."""
    old_h, old_w = module.old_size
    new_size = (
        module.spec.height if old_h is not None else None,
        module.spec.width if old_w is not None else None,
    )
    return (
        f"regenerated the SCNN module '{module.spec.prefix or 'SCNN'}' for {_map(new_size)}"
        f" (was {_shape([d for d in module.old_size if d is not None])}):"
        f" {len(module.after)} layers"
    )


def share_trained_kernels(result: RetargetResult, model: Caffemodel) -> list[str]:
    """An entry for each new layer of a module direction, a copy of the direction's trained
    one (every layer of a direction holds the kernel, as shared weights are stored), added
    to ``model`` in place; a direction whose layers hold different kernels is left to the
    fillers, with a note."""
    notes = []
    entries = model.message.layers if model.legacy else model.message.layer
    by_name: dict[str, list[Any]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry)
    layers = {x.name: x for x in result.net.layers}
    for module in result.modules:
        for direction in module.spec.directions:
            stem = f"{module.spec.prefix}SCNN_{direction}_"
            trained = [
                e for name in module.before if _in_direction(name, stem)
                for e in by_name.get(name, []) if len(e.blobs)
            ]  # fmt: skip
            if not trained:
                continue
            if any(list(e.blobs) != list(trained[0].blobs) for e in trained[1:]):
                notes.append(
                    f"the '{stem}*' layers of {model.source} hold different kernels (not"
                    " shared); the new ones get their fillers' values"
                )
                continue
            for name in module.after:
                if name in by_name or not _in_direction(name, stem):
                    continue
                entry = entries.add()
                entry.CopyFrom(trained[0])
                entry.name = name
                del entry.bottom[:], entry.top[:]
                entry.bottom.extend(layers[name].bottoms)
                entry.top.extend(layers[name].tops)
    return notes


def _in_direction(name: str, stem: str) -> bool:
    return name.startswith(stem) and name[len(stem):].isdigit()


VERB = VerbSpec("retarget", retarget)
