"""Rewrite a V0 or V1 net in the current (V2) format, by the rules Caffe's loader applies.

Caffe upgrades old nets in memory every time it reads them, in this order: V0 layers to V1
(padding layers folded into the next convolution or pooling), data-layer transform fields
into ``transform_param``, V1 ``layers`` to V2 ``layer``, top-level inputs to an ``Input``
layer, and BatchNorm ``param`` blocks to fixed statistics.  This pass writes the result as
text, so the user gets a file Caffe no longer needs to upgrade; read back, it is the message
Caffe's ``upgrade_net_proto_text`` writes, field for field (``tests/caffe_upgrade.py``, a
transcription of Caffe's rules, is the oracle the tests compare it with).

It is a pass over the model, so the file is read once. V0 layers are rebuilt field by
field (as Caffe rebuilds them), each value spelled as the file spells it; the net's
comments and the fields Caffe keeps stay as they are. Every later stage is a set of text
edits on the lossless document: a V1 or V2 file keeps its comments, layout, number
spellings and fields the schema does not know, and only the parts an upgrade rule names
change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import zip_longest

from ..core.document import Document, Edit, Field, Message, Scalar, quote_string
from ..core.formats import v1_enum_name
from ..core.layerdef import Fields, LayerDef, Raw, Renderer, Value
from ..core.net import (
    ORIGINS,
    V0_TYPE_TO_V1,
    V1_TYPE_NAMES,
    Layer,
    Net,
    NetInput,
)
from ..core.ops import (
    drop_graphs,
    insert_layers,
    read_in_place,
    remove_layers,
    replace_layers,
    revised_layer,
)
from ..core.text_export import export_text, field_values, text_definition
from ..core.textedit import (
    Block,
    Leaf,
    Node,
    append_to_message,
    field_span,
    insert_after_field,
    render_block,
)
from ..core.typed import fill_message
from ..errors import SurgeryError
from ..schema import caffe_pb2

__all__ = [
    "batch_norms_to_fix",
    "needs_upgrade",
    "net_for_reading",
    "padding_layers",
    "upgrade_document",
    "upgrade_net",
    "v0_replaced_pads",
]

# V0 field -> (field in the V1 parameter message, {V0 layer type: V1 parameter message}).
# A V0 field given for a type missing here has no meaning there, and Caffe drops it.
_CONV_IP = {"conv": "convolution_param", "innerproduct": "inner_product_param"}
_CONV_POOL = {"conv": "convolution_param", "pool": "pooling_param"}
_LRN = {"lrn": "lrn_param"}
_IMAGES = {"images": "image_data_param"}
_WINDOW = {"window_data": "window_data_param"}
_V0_ROUTES: dict[str, tuple[str, dict[str, str]]] = {
    "num_output": ("num_output", _CONV_IP),
    "biasterm": ("bias_term", _CONV_IP),
    "weight_filler": ("weight_filler", _CONV_IP),
    "bias_filler": ("bias_filler", _CONV_IP),
    "pad": ("pad", _CONV_POOL),
    "kernelsize": ("kernel_size", _CONV_POOL),
    "stride": ("stride", _CONV_POOL),
    "group": ("group", {"conv": "convolution_param"}),
    "pool": ("pool", {"pool": "pooling_param"}),
    "dropout_ratio": ("dropout_ratio", {"dropout": "dropout_param"}),
    "local_size": ("local_size", _LRN),
    "alpha": ("alpha", _LRN),
    "beta": ("beta", _LRN),
    "k": ("k", _LRN),
    "source": (
        "source",
        {
            "data": "data_param",
            "hdf5_data": "hdf5_data_param",
            "images": "image_data_param",
            "window_data": "window_data_param",
            "infogain_loss": "infogain_loss_param",
        },
    ),
    "batchsize": (
        "batch_size",
        {
            "data": "data_param",
            "hdf5_data": "hdf5_data_param",
            "images": "image_data_param",
            "window_data": "window_data_param",
        },
    ),
    "rand_skip": ("rand_skip", {"data": "data_param", "images": "image_data_param"}),
    "shuffle_images": ("shuffle", _IMAGES),
    "new_height": ("new_height", _IMAGES),
    "new_width": ("new_width", _IMAGES),
    "concat_dim": ("concat_dim", {"concat": "concat_param"}),
    "det_fg_threshold": ("fg_threshold", _WINDOW),
    "det_bg_threshold": ("bg_threshold", _WINDOW),
    "det_fg_fraction": ("fg_fraction", _WINDOW),
    "det_context_pad": ("context_pad", _WINDOW),
    "det_crop_mode": ("crop_mode", _WINDOW),
    # The V1 layer's own field, not one inside a parameter message ("" is the layer).
    "hdf5_output_param": ("hdf5_output_param", {"hdf5_output": ""}),
}
# These go to transform_param whatever the layer type.
_V0_TRANSFORM_FIELDS = {
    "scale": "scale",
    "meanfile": "mean_file",
    "cropsize": "crop_size",
    "mirror": "mirror",
}

# V1 data layers whose parameter message still carried the transform fields.
_DATA_PARAMS = {
    "DATA": "data_param",
    "IMAGE_DATA": "image_data_param",
    "WINDOW_DATA": "window_data_param",
}
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")

# V1 per-blob lists -> the ParamSpec field each becomes, in ParamSpec's field order.
_V1_PARAM_COLUMNS = (
    ("param", "name"),
    ("blob_share_mode", "share_mode"),
    ("blobs_lr", "lr_mult"),
    ("weight_decay", "decay_mult"),
)
_SHARE_MODES = {"0": "STRICT", "1": "PERMISSIVE"}

_INPUT_FIELDS = ("input", "input_dim", "input_shape")


# ---------------------------------------------------------------------------------------
# Public API


def batch_norms_to_fix(net: Net) -> int:
    """How many BatchNorm layers the upgrade gives fixed statistics (lr_mult and
    decay_mult 0), of those it would change."""
    return sum(1 for body in _v2_bodies(net) if _batch_norm_params_to_fix(body))


def padding_layers(net: Net) -> list[Layer]:
    """A V0 net's padding layers, which the upgrade folds into the layers they feed."""
    return [
        x for x in net.layers
        if x.format == "v0" and x.body is not None and x.body.string("type") == "padding"
    ]  # fmt: skip


def v0_replaced_pads(net: Net) -> list[str]:
    """A note for each V0 layer whose own ``pad`` Caffe's upgrade replaces with that of
    the padding layer it reads."""
    paddings = set(padding_layers(net))
    latest: dict[str, Layer] = {}  # each blob's writer so far, as Caffe binds a bottom
    notes = []
    for layer in net.layers:
        own = layer.body.scalar("pad") if layer.format == "v0" and layer.body else None
        source = next((latest[b] for b in layer.bottoms if latest.get(b) in paddings), None)
        latest.update((top, layer) for top in layer.tops)
        if own is None or source is None:
            continue
        given = source.body.scalar("pad") if source.body is not None else None
        new = given.raw if given is not None else "0"
        notes.append(
            f"note: {net.describe(layer)}: its pad {own.raw} becomes {new}, the pad of"
            f" padding layer '{source.name}' it reads, as Caffe's upgrade sets it"
        )
    return notes


def needs_upgrade(net: Net) -> bool:
    """Whether any of Caffe's upgrade rules would change this net."""
    return (
        net.format in ("v0", "v1")
        or bool(net.inputs)
        or any(_batch_norm_params_to_fix(body) for body in _v2_bodies(net))
    )


def upgrade_document(doc: Document) -> Document:
    """The net as Caffe would hold it after upgrading, as V2 text in the file's own style."""
    net = Net.from_document(doc)
    upgraded = upgrade_net(net)
    return doc if upgraded is net else Document.parse(export_text(upgraded), doc.source)


def upgrade_net(net: Net) -> Net:
    """``net`` in the current format; the same object when nothing needs upgrading.

    A pass over the model, which reads the file once: V0 layers become the V2 layers
    Caffe makes of them (padding layers folded away), each value spelled as the file
    spells it; V1 layers keep the text they were read from (their meaning is V2's) and
    carry the edits that write them as V2; top-level inputs become an Input layer;
    BatchNorm statistics are fixed as value edits. Messages name the file's own lines.
    """
    if not needs_upgrade(net):
        return net
    work = net.copy()  # keeps net.shape_rules
    if work.format == "v0":
        _v0_to_v2(work)
    elif work.format == "v1":
        work.field_edits += _v1_to_v2_edits(work)
        work.format = "v2"
    _inputs_to_layer(work, input_shape_kept=net.format != "v0")
    _fix_batch_norm(work)
    return work


def net_for_reading(net: Net) -> Net:
    """For read-only commands: V0 and V1 layers as V2, in memory; V2 nets as they are.

    Top-level inputs stay net inputs (as in a V2 file that has them), so a V1 deploy net
    reads like its V2 twin. Messages about a layer name its line in the file.
    """
    if net.format == "v0":
        readable = net.copy()
        _v0_to_v2(readable)  # messages name the V0 blocks in the file
        return readable
    if net.format != "v1":
        return net
    readable = net.copy()
    upgraded = _v1_layers_as_v2(readable)
    replace_layers(readable, upgraded)
    readable.caches[ORIGINS] = {new: old for old, new in upgraded.items()}
    readable.format = "v2"
    return readable


def _replace_fields(doc: Document, fields: Sequence[Field], block: Block) -> list[Edit]:
    """Remove ``fields``; ``block`` takes the place of the first of them."""
    ordered = sorted(fields, key=lambda f: f.start)
    edits = []
    for i, field in enumerate(ordered):
        start, end, lead = field_span(doc.text, field)
        new = render_block(block, lead, doc.indent, doc.newline) if i == 0 and block else ""
        edits.append(Edit(start, end, new))
    return edits if block else _whole_lines(doc.text, edits)


def _whole_lines(text: str, cuts: Sequence[Edit]) -> list[Edit]:
    """Neighbouring cuts joined; one that leaves its line blank takes the line with it."""
    joined: list[Edit] = []
    for cut in cuts:
        if joined and joined[-1].end == cut.start:
            joined[-1] = Edit(joined[-1].start, cut.end, "")
        else:
            joined.append(cut)
    out = []
    for cut in joined:
        first = text.rfind("\n", 0, cut.start) + 1
        nl = text.find("\n", cut.end)
        last = len(text) if nl < 0 else nl + 1
        alone = not text[first : cut.start].strip() and not text[cut.end : last].strip()
        out.append(Edit(first, last, "") if alone else cut)
    return out


def _leaf(text: str, scalar: Scalar) -> Leaf:
    """``scalar`` as a leaf, keeping a comment that ends its line."""
    nl = text.find("\n", scalar.end)
    rest = text[scalar.end : nl if nl >= 0 else len(text)].rstrip()
    comment = rest.lstrip(" \t,;")
    if comment.startswith("#"):
        gap = "".join(c for c in rest[: len(rest) - len(comment)] if c in " \t")
        return Leaf(scalar.raw, gap + comment)
    return Leaf(scalar.raw)


def _scalar_fields(message: Message, name: str) -> list[Field]:
    return [f for f in message.all(name) if all(isinstance(v, Scalar) for v in f.values())]


# ---------------------------------------------------------------------------------------
# V0 -> V2 (a pass over the model)

# What Caffe's UpgradeV0Net keeps of the net itself: it starts from an empty net (V0
# predates every other net-level field).
_V0_NET_FIELDS = frozenset({"name", "layers", "input", "input_dim", "force_backward"})


def _v0_to_v2(net: Net) -> None:
    """The V0 layers as the V2 layers Caffe makes of them, each written in its block's
    place (what lies between the blocks stays as it is); the net fields it drops cut."""
    upgraded = _v0_layers_as_v2(net)
    remove_layers(net, [old for old, new in upgraded.items() if new is None])
    renderer = Renderer(net.document.indent, net.document.newline)
    replace_layers(
        net,
        {old: _in_place(old, new, renderer) for old, new in upgraded.items() if new is not None},
    )
    root = net.document.root
    has_inputs = bool(root.scalars("input"))  # then the inputs' pass cuts input_shape
    dropped = [
        f for f in root.fields
        if f.name not in _V0_NET_FIELDS and not (has_inputs and f.name in _INPUT_FIELDS)
    ]  # fmt: skip
    net.field_edits += _replace_fields(net.document, dropped, ())
    net.inputs = _v0_inputs(net)
    net.format = "v2"


def _v0_inputs(net: Net) -> list[NetInput]:
    """The inputs Caffe keeps of a V0 net: sized by input_dim alone (it drops input_shape),
    and none at all when no input has dims (its input upgrade then drops them)."""
    shapes = _input_shapes(net.document, input_shape_kept=False)
    if shapes is None:
        return []
    return [
        replace(i, dims=tuple(d.as_int() for d in dims))
        for i, dims in zip(net.inputs, shapes, strict=False)
    ]


def _in_place(layer: Layer, definition: LayerDef, renderer: Renderer) -> Layer:
    """``definition`` written in the place of ``layer``'s block: its text is the rendered
    block, read on its own (as a layer whose values changed is), so messages name the
    block in the file and the exporter replaces just that block."""
    text = layer.text
    assert text is not None
    rendered = renderer.layer(definition).removesuffix(text.document.newline)
    return read_in_place(text, layer.name, rendered)


def _v0_layers_as_v2(net: Net) -> dict[Layer, LayerDef | None]:
    """Each V0 layer's V2 layer, as Caffe's UpgradeV0PaddingLayers, UpgradeV0LayerParameter
    and UpgradeV1LayerParameter make it, with the file's own spelling of every value; None
    for a padding layer, which becomes the ``pad`` of the convolution or pooling it feeds."""
    doc = net.document
    # Strict, as Caffe's parser is: every field is one the schema knows, so the copies
    # below are as deep as the schema's messages, never deeper.
    fill_message(
        doc, doc.root, caffe_pb2.NetParameter(), "cannot upgrade this V0 net: ",
        allow_unknown_fields=False,
    )  # fmt: skip
    padding_of: dict[str, Layer | None] = {i.name: None for i in net.inputs}
    out: dict[Layer, LayerDef | None] = {}
    for layer in net.layers:
        bottoms = list(layer.bottoms)
        pad: Value | None = None
        for j, blob in enumerate(layer.bottoms):
            if blob not in padding_of:
                raise SurgeryError(
                    f"{net.describe(layer)} reads blob '{blob}', which no earlier layer or"
                    " input produces"
                )
            padding = padding_of[blob]
            if padding is None:
                continue
            _check_padding_use(net, layer, padding)
            assert padding.body is not None
            given = padding.body.scalar("pad")
            pad = Raw(given.raw) if given is not None else 0  # Caffe sets it either way
            bottoms[j] = padding.bottoms[0]
        v0_type = _v0_type(net, layer)
        for blob in layer.tops:
            padding_of[blob] = layer if v0_type == "padding" else None
        padded = v0_type == "padding"
        out[layer] = None if padded else _v0_definition(layer, v0_type, bottoms, pad)
    return out


def _v0_type(net: Net, layer: Layer) -> str:
    if layer.format != "v0" or layer.body is None:
        # A V1 entry in a V0 file: Caffe keeps only its blobs, so say so rather than
        # write a layer without a name or type.
        raise SurgeryError(
            f"{net.describe(layer)} is written as V1 in a V0 net; Caffe's"
            " upgrade keeps only its bottoms and tops, so write it as V0 (or the whole net"
            " as V1) first"
        )
    v0_type = layer.body.string("type", "") or ""
    if v0_type != "padding" and v0_type not in V0_TYPE_TO_V1:
        raise SurgeryError(
            f"{net.describe(layer)} has V0 type '{v0_type}', which Caffe cannot upgrade"
        )
    return v0_type


def _check_padding_use(net: Net, layer: Layer, padding: Layer) -> None:
    kind = layer.body.string("type", "") if layer.body is not None else ""
    if kind not in ("conv", "pool"):
        problem = f"is of type '{kind}', not conv or pool"
    elif len(layer.bottoms) != 1:
        problem = "has more than one bottom"
    elif len(padding.bottoms) != 1 or len(padding.tops) != 1:
        problem = f"reads padding layer '{padding.name}', which has several bottoms or tops"
    else:
        return
    raise SurgeryError(
        f"{net.describe(layer)} follows a padding layer but {problem}; Caffe cannot upgrade"
        " that"
    )


def _v0_definition(
    layer: Layer, v0_type: str, bottoms: Sequence[str], pad: Value | None
) -> LayerDef:
    """The V2 layer of a V0 one: blobs_lr and weight_decay as ``param`` blocks, its blobs,
    and each parameter in the message its type reads it from (Caffe drops the others)."""
    assert layer.body is not None
    lr: list[Value] = []
    decay: list[Value] = []
    blobs: list[Value] = []
    messages: dict[str, dict[str, Value]] = {}
    for f in layer.body.fields:
        values = field_values(f)
        if f.name == "blobs_lr":
            lr += values
        elif f.name == "weight_decay":
            decay += values
        elif f.name == "blobs":
            blobs += values
        elif (target := _v0_target(f.name, v0_type)) is not None:
            message_name, field_name = target
            messages.setdefault(message_name, {})[field_name] = values[-1]
    if pad is not None:
        messages.setdefault(_CONV_POOL[v0_type], {})["pad"] = pad
    params = [
        ("param", tuple(p for p in (("lr_mult", a), ("decay_mult", b)) if p[1] is not None))
        for a, b in zip_longest(lr, decay)
    ]
    fields: list[tuple[str, Value]] = [*params, *(("blobs", b) for b in blobs)]
    for message_name, content in messages.items():
        if message_name:
            fields.append((message_name, tuple(content.items())))
        else:  # a field of the layer itself
            fields += content.items()
    layer_type = V1_TYPE_NAMES[V0_TYPE_TO_V1[v0_type]]
    return LayerDef(layer.name, layer_type, tuple(bottoms), layer.tops, tuple(fields))


def v0_dropped_parameters(net: Net) -> list[str]:
    """A warning for each V0 parameter Caffe's upgrade drops because the layer's type has
    no such parameter (Caffe logs "Unknown parameter X for layer type Y")."""
    if net.format != "v0":
        return []
    doc = net.document
    parsed = fill_message(doc, doc.root, caffe_pb2.NetParameter(), "", allow_unknown_fields=True)
    return [
        f"warning: layer '{connection.layer.name}': Caffe's upgrade drops parameter"
        f" {descriptor.name}, which layer type '{connection.layer.type}' does not have"
        " (Caffe logs: Unknown parameter)"
        for connection in parsed.layers
        if connection.HasField("layer") and connection.layer.type != "padding"
        for descriptor, _ in connection.layer.ListFields()
        if descriptor.name in _V0_ROUTES
        and _v0_target(descriptor.name, connection.layer.type) is None
    ]


def _v0_target(v0_field: str, v0_type: str) -> tuple[str, str] | None:
    if v0_field in _V0_TRANSFORM_FIELDS:
        return "transform_param", _V0_TRANSFORM_FIELDS[v0_field]
    route = _V0_ROUTES.get(v0_field)
    if route is None or v0_type not in route[1]:
        return None
    return route[1][v0_type], route[0]


# ---------------------------------------------------------------------------------------
# V1 -> V2 (text edits), with the data-layer transform fields moved on the way


def _v1_to_v2_edits(net: Net) -> list[Edit]:
    """The edits of the file that write its V1 layers as V2."""
    doc = net.document
    bodies = [x.text.body for x in net.layers if x.format == "v1" and x.text is not None]
    data_upgrade = any(_moved_transform_fields(body) for body in bodies)
    edits: list[Edit] = []
    for layer in net.layers:
        if layer.format != "v1":
            continue
        assert layer.text is not None
        body, block = layer.text.body, layer.text.block
        edits.append(Edit(block.start, block.start + len(block.name), "layer"))
        edits += _type_edits(body)
        edits += _param_edits(doc, body)
        if data_upgrade:
            edits += _transform_edits(doc, body)
    return edits


def _v1_enum(scalar: Scalar) -> str:
    return v1_enum_name(scalar.value) if scalar.kind == "word" else scalar.value


def _type_edits(body: Message) -> list[Edit]:
    return [
        Edit(s.start, s.end, quote_string(V1_TYPE_NAMES.get(_v1_enum(s), _v1_enum(s))))
        for s in body.scalars("type")
        if s.kind == "word"
    ]


def _param_specs(doc: Document, body: Message) -> Block:
    """V1's parallel per-blob lists as one ``param`` block per blob."""
    columns: list[tuple[str, list[Leaf]]] = []
    for v1_name, v2_name in _V1_PARAM_COLUMNS:
        values = [
            _leaf(doc.text, s)
            for f in _scalar_fields(body, v1_name)
            for s in f.values()
            if isinstance(s, Scalar)
        ]
        if v1_name == "blob_share_mode":
            values = [replace(v, raw=_SHARE_MODES.get(v.raw, v.raw)) for v in values]
        columns.append((v2_name, values))
    count = max(len(values) for _, values in columns)
    return tuple(
        ("param", tuple((name, values[i]) for name, values in columns if i < len(values)))
        for i in range(count)
    )


def _param_edits(doc: Document, body: Message) -> list[Edit]:
    fields = [f for v1_name, _ in _V1_PARAM_COLUMNS for f in _scalar_fields(body, v1_name)]
    if not fields:
        return []
    return _replace_fields(doc, fields, _param_specs(doc, body))


def _data_param_name(body: Message) -> str | None:
    """The parameter message of a V1 data layer that once held the transform fields."""
    types = body.scalars("type")
    return _DATA_PARAMS.get(_v1_enum(types[-1])) if types else None


def _moved_transform_fields(body: Message) -> list[Field]:
    param_name = _data_param_name(body)
    if param_name is None:
        return []
    return [
        f
        for message in body.messages(param_name)
        for f in message.fields
        if f.name in _TRANSFORM_FIELDS and isinstance(f.value, Scalar)
    ]


def _transform_edits(doc: Document, body: Message) -> list[Edit]:
    """Caffe's data upgrade, run when any data layer needs it: scale, mean_file, crop_size
    and mirror move to transform_param. Caffe's code takes both messages of every data
    layer as it goes (``mutable_transform_param()``), so each of them ends up present,
    empty if nothing moved into it; the text says so too, to be the same message."""
    param_name = _data_param_name(body)
    if param_name is None:
        return []
    moved = _moved_transform_fields(body)
    edits = _replace_fields(doc, moved, ())
    latest: dict[str, Leaf] = {}
    for f in moved:
        assert isinstance(f.value, Scalar)
        latest[f.name] = _leaf(doc.text, f.value)
    existing = body.messages("transform_param")
    if not existing:
        block: Block = (("transform_param", tuple(latest.items())),)
        params = body.all(param_name)
        if params:
            edits.append(insert_after_field(doc, params[-1], block))
        else:
            edits.append(append_to_message(doc, body, ((param_name, ()), *block)))
        return edits
    transform = existing[-1]
    appended: list[Node] = []
    for name, leaf in latest.items():
        current = transform.scalar(name)
        if current is None:
            appended.append((name, leaf))
        else:
            edits.append(Edit(current.start, current.end, leaf.raw))
    if appended:
        edits.append(append_to_message(doc, transform, tuple(appended)))
    if not body.all(param_name):
        edits.append(append_to_message(doc, body, ((param_name, ()),)))
    return edits


def _v1_layers_as_v2(net: Net) -> dict[Layer, Layer]:
    """Each V1 layer as the V2 layer the edits above write, in memory (to be read, not
    written): the text is not read again."""
    bodies = [x.text.body for x in net.layers if x.format == "v1" and x.text is not None]
    data_upgrade = any(_moved_transform_fields(body) for body in bodies)
    out = {}
    for layer in net.layers:
        if layer.format != "v1" or layer.text is None:
            continue
        # Its values are read from the definition: a bad one is refused here, at its place
        # in the file (fields the schema does not know are kept, as the reader keeps them).
        fill_message(net.document, layer.text.body, caffe_pb2.V1LayerParameter(),
                     f"in layer '{layer.name}': ")  # fmt: skip
        moved = _data_param_name(layer.text.body) if data_upgrade else None
        fields = _v2_fields(text_definition(layer, layer.text).fields, moved)
        out[layer] = Layer.from_definition(
            LayerDef(layer.name, layer.type, layer.bottoms, layer.tops, fields)
        )
    return out


def _v2_fields(fields: Fields, data_param: str | None) -> Fields:
    """A V1 layer's fields as V2's: the per-blob lists as ``param`` blocks where the first
    of them stood; with ``data_param``, the transform fields moved out of it (and both
    messages present, as Caffe's data upgrade leaves them)."""
    columns = dict(_V1_PARAM_COLUMNS)
    found: dict[str, list[Value]] = {v2: [] for v2 in columns.values()}
    out: list[tuple[str, Value]] = []
    params_at: int | None = None
    moved: dict[str, Value] = {}
    for key, value in fields:
        if key in columns:
            found[columns[key]].append(value)
            params_at = len(out) if params_at is None else params_at
        elif key == data_param and isinstance(value, tuple):
            moved.update((k, v) for k, v in value if k in _TRANSFORM_FIELDS)
            out.append((key, tuple((k, v) for k, v in value if k not in _TRANSFORM_FIELDS)))
        else:
            out.append((key, value))
    count = max(len(values) for values in found.values())
    params = [
        ("param", tuple((name, values[i]) for name, values in found.items() if i < len(values)))
        for i in range(count)
    ]
    if params_at is not None:
        out[params_at:params_at] = params
    if data_param is not None:
        out = _with_transform(out, data_param, moved)
    return tuple(out)


def _with_transform(
    fields: list[tuple[str, Value]], data_param: str, moved: dict[str, Value]
) -> list[tuple[str, Value]]:
    if not any(key == data_param for key, _ in fields):
        fields.append((data_param, ()))
    transforms = [i for i, (key, _) in enumerate(fields) if key == "transform_param"]
    if not transforms:
        return [*fields, ("transform_param", tuple(moved.items()))]
    i = transforms[-1]
    current = fields[i][1]
    assert isinstance(current, tuple)
    kept = tuple((k, v) for k, v in current if k not in moved)
    fields[i] = ("transform_param", kept + tuple(moved.items()))
    return fields


# ---------------------------------------------------------------------------------------
# Top-level inputs -> an Input layer


def _input_shapes(doc: Document, input_shape_kept: bool) -> list[list[Scalar]] | None:
    """Each input's dims as written; None when the inputs have none at all.

    Caffe's UpgradeNetInput takes every input's shape from ``input_shape`` when there is
    one, else four ``input_dim`` each; inputs with neither (as old caffemodels carry them)
    are just dropped. Too few shapes for the inputs is a net Caffe crashes on. Of a V0
    net Caffe keeps no ``input_shape`` (``input_shape_kept`` is False).
    """
    root = doc.root
    names = root.scalars("input")
    shapes = root.messages("input_shape") if input_shape_kept else []
    dims = root.scalars("input_dim")
    if shapes:
        if len(shapes) < len(names):
            raise _input_count_error(doc, names, f"{len(shapes)} input_shape")
        return [shape.scalars("dim") for shape in shapes[: len(names)]]
    if dims:
        if len(dims) < 4 * len(names):
            raise _input_count_error(doc, names, f"{len(dims)} input_dim (4 per input)")
        return [dims[4 * i : 4 * i + 4] for i in range(len(names))]
    return None


def _input_count_error(doc: Document, names: Sequence[Scalar], given: str) -> SurgeryError:
    return SurgeryError(
        f"{doc.location(names[0].start)}: {len(names)} top-level inputs but {given};"
        " Caffe cannot upgrade them into an Input layer"
    )


def _inputs_to_layer(net: Net, input_shape_kept: bool) -> None:
    """Top-level inputs as an Input layer before every layer (their fields cut), as
    Caffe's UpgradeNetInput makes them; inputs without dims are dropped, as Caffe does."""
    doc = net.document
    root = doc.root
    names = root.scalars("input")
    if not names:
        return  # Caffe leaves input_dim or input_shape without an input alone
    shapes = _input_shapes(doc, input_shape_kept)
    fields = [f for f in root.fields if f.name in _INPUT_FIELDS]
    net.field_edits += _replace_fields(doc, fields, ())
    net.inputs = []
    if shapes is None:
        drop_graphs(net)
        return
    shape_fields = tuple(("shape", tuple(("dim", Raw(d.raw)) for d in dims)) for dims in shapes)
    tops = tuple(name.value for name in names)
    definition = LayerDef("input", "Input", (), tops, (("input_param", shape_fields),))
    insert_layers(net, None, [Layer.from_definition(definition)])


def _fix_batch_norm(net: Net) -> None:
    """Zero lr_mult and decay_mult of the BatchNorm layers that list three params."""
    fixed = {}
    for layer in net.layers:
        if layer.format == "v2" and layer.text is not None:
            edits = _batch_norm_edits(net.document, layer.text.body)
            if edits:
                fixed[layer] = revised_layer(layer, edits)
    if fixed:
        replace_layers(net, fixed)


def _input_layer(doc: Document, tops: Sequence[Scalar], shapes: Sequence[Sequence[Scalar]]) -> Node:
    """Caffe names the layer "input" even when a layer of that name exists: names need
    not be unique in Caffe, and an Input layer has no blobs to be loaded by name."""
    body: list[Node] = [("name", Leaf('"input"')), ("type", Leaf('"Input"'))]
    body += [("top", _leaf(doc.text, top)) for top in tops]
    shape_nodes = tuple(
        ("shape", tuple(("dim", _leaf(doc.text, dim)) for dim in dims)) for dims in shapes
    )
    body.append(("input_param", shape_nodes))
    return ("layer", tuple(body))


# ---------------------------------------------------------------------------------------
# BatchNorm: the three statistics blobs are never learned


@dataclass(frozen=True)
class _Fix:
    message: Message
    field: str
    scalar: Scalar | None  # None: the field is absent


def _v2_bodies(net: Net) -> Iterable[Message]:
    return (x.text.body for x in net.layers if x.format == "v2" and x.text is not None)


def _batch_norm_params_to_fix(body: Message) -> list[_Fix]:
    """Caffe zeroes lr_mult and decay_mult of a BatchNorm layer that lists three params."""
    if body.string("type") != "BatchNorm":
        return []
    params = body.messages("param")
    if len(params) != 3:
        return []
    fixes = []
    for param in params:
        for name in ("lr_mult", "decay_mult"):
            current = param.scalar(name)
            if current is None or _nonzero(current):
                fixes.append(_Fix(param, name, current))
    return fixes


def _nonzero(scalar: Scalar) -> bool:
    try:
        return scalar.as_float() != 0
    except ValueError:
        return True


def _batch_norm_edits(doc: Document, body: Message) -> list[Edit]:
    fixes = _batch_norm_params_to_fix(body)
    edits = [Edit(f.scalar.start, f.scalar.end, "0") for f in fixes if f.scalar is not None]
    absent: dict[int, list[_Fix]] = {}
    for fix in fixes:
        if fix.scalar is None:
            absent.setdefault(fix.message.open, []).append(fix)
    for group in absent.values():
        block = tuple((fix.field, Leaf("0")) for fix in group)
        edits.append(append_to_message(doc, group[0].message, block))
    return edits
