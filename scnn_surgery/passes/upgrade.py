"""Rewrite a V0 or V1 net in the current (V2) format, by the rules Caffe's loader applies.

Caffe upgrades old nets in memory every time it reads them, in this order: V0 layers to V1
(padding layers folded into the next convolution or pooling), data-layer transform fields
into ``transform_param``, V1 ``layers`` to V2 ``layer``, top-level inputs to an ``Input``
layer, and BatchNorm ``param`` blocks to fixed statistics.  This pass writes the result as
text, so the user gets a file Caffe no longer needs to upgrade; read back, it is the message
Caffe's ``upgrade_net_proto_text`` writes, field for field (``tests/caffe_upgrade.py``, a
transcription of Caffe's rules, is the oracle the tests compare it with).

Only V0 goes through the protobuf schema (its layers are rebuilt field by field anyway).
Every later stage is a set of text edits on the lossless document: a V1 or V2 file keeps
its comments, layout, number spellings and fields the schema does not know, and only the
parts an upgrade rule names change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from ..core.document import Document, Edit, Field, Message, Scalar, quote_string
from ..core.formats import v1_enum_name
from ..core.layerdef import LayerDef, Raw
from ..core.net import ORIGINS, V0_TYPE_TO_V1, V1_TYPE_NAMES, Layer, Net
from ..core.ops import drop_graphs, insert_layers, replace_layers, revised_layer
from ..core.textedit import (
    Block,
    Leaf,
    Node,
    append_to_message,
    field_span,
    insert_after_field,
    line_start,
    render_block,
)
from ..core.typed import fill_message
from ..errors import SurgeryError
from ..schema import caffe_pb2

__all__ = ["needs_upgrade", "net_for_reading", "upgrade_document", "upgrade_net"]

UPGRADED_SUFFIX = " (upgraded to V2)"

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


def needs_upgrade(net: Net) -> bool:
    """Whether any of Caffe's upgrade rules would change this net."""
    return (
        net.format in ("v0", "v1")
        or bool(net.inputs)
        or any(_batch_norm_params_to_fix(body) for body in _v2_bodies(net))
    )


def upgrade_document(doc: Document) -> Document:
    """The net as Caffe would hold it after upgrading, as V2 text in the file's own style."""
    return _upgrade_batch_norm(_upgrade_inputs(_upgrade_layers(doc)))


def upgrade_net(net: Net) -> Net:
    """``net`` in the current format; the same object when nothing needs upgrading.

    A pass over the model, which reads the file once: V1 layers keep the text they were
    read from (their meaning is V2's) and carry the edits that write them as V2; top-level
    inputs become an Input layer; BatchNorm statistics are fixed as value edits. Messages
    name the file's own lines. A V0 net is rebuilt through the schema instead, and its new
    text, labelled ``FILE (upgraded to V2)``, is read once more.
    """
    if not needs_upgrade(net):
        return net
    if net.format == "v0":
        upgraded = Net.from_document(_relabelled(upgrade_document(net.document)))
        upgraded.shape_rules = net.shape_rules  # the user's rules for its types still hold
        return upgraded
    work = net.copy()  # keeps net.shape_rules
    if work.format == "v1":
        work.field_edits += _v1_to_v2_edits(work)
        work.format = "v2"
    _inputs_to_layer(work)
    _fix_batch_norm(work)
    return work


def net_for_reading(net: Net) -> Net:
    """For read-only commands: V0 and V1 layers as V2, in memory; V2 nets as they are.

    Top-level inputs stay net inputs (as in a V2 file that has them), so a V1 deploy net
    reads like its V2 twin.
    """
    if net.format not in ("v0", "v1"):
        return net
    readable = Net.from_document(_relabelled(_upgrade_layers(net.document)))
    readable.caches[ORIGINS] = _origins(net.layers, readable.layers)
    readable.shape_rules = net.shape_rules
    return readable


def _origins(written: Sequence[Layer], upgraded: Sequence[Layer]) -> dict[Layer, Layer]:
    """Each upgraded layer's layer in the file, by name and order among equal names (V0's
    padding layers, folded away, have no upgraded layer)."""
    def keyed(layers: Sequence[Layer]) -> dict[tuple[str, int], Layer]:
        seen: dict[str, int] = {}
        out = {}
        for layer in layers:
            seen[layer.name] = seen.get(layer.name, -1) + 1
            out[(layer.name, seen[layer.name])] = layer
        return out

    files = keyed(written)
    return {layer: files[key] for key, layer in keyed(upgraded).items() if key in files}


def _relabelled(doc: Document) -> Document:
    if doc.source.endswith(UPGRADED_SUFFIX):
        return doc
    return replace(doc, source=doc.source + UPGRADED_SUFFIX)


def _upgrade_layers(doc: Document) -> Document:
    net = Net.from_document(doc)
    if net.format == "v0":
        doc = _v0_to_v1(doc)
        net = Net.from_document(doc)
    if net.format == "v1":
        doc = _v1_to_v2(net)
    return doc


def _replace_fields(doc: Document, fields: Sequence[Field], block: Block) -> list[Edit]:
    """Remove ``fields``; ``block`` takes the place of the first of them."""
    ordered = sorted(fields, key=lambda f: f.start)
    edits = []
    for i, field in enumerate(ordered):
        start, end, lead = field_span(doc.text, field)
        new = render_block(block, lead, doc.indent, doc.newline) if i == 0 and block else ""
        edits.append(Edit(start, end, new))
    return edits


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
# V0 -> V1 (through the schema)


def _v0_to_v1(doc: Document) -> Document:
    # Strict: a field the schema does not know would be lost in the round trip.
    net = fill_message(
        doc,
        doc.root,
        caffe_pb2.NetParameter(),
        "cannot upgrade this V0 net: ",
        allow_unknown_fields=False,
    )
    upgraded = _upgrade_v0_net(net, doc.source)
    text = _reindent(text_format.MessageToString(upgraded), doc.indent, doc.newline)
    return Document.parse(text, doc.source)


def _reindent(text: str, unit: str, newline: str) -> str:
    """protobuf prints two spaces a level; use the file's unit and line ending instead."""
    out = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        out.append(unit * ((len(line) - len(body)) // 2) + body + newline)
    return "".join(out)


def _upgrade_v0_net(net: caffe_pb2.NetParameter, source: str) -> caffe_pb2.NetParameter:
    """Caffe's UpgradeV0Net starts from an empty net: only the name, the layers, the inputs
    with their dims and force_backward survive (V0 predates every other net-level field)."""
    folded = _fold_padding_layers(net, source)
    out = caffe_pb2.NetParameter()
    if folded.HasField("name"):
        out.name = folded.name
    for connection in folded.layers:
        out.layers.add().CopyFrom(_upgrade_v0_layer(connection, source))
    out.input.extend(folded.input)
    out.input_dim.extend(folded.input_dim)
    if folded.HasField("force_backward"):
        out.force_backward = folded.force_backward
    return out


def _fold_padding_layers(net: caffe_pb2.NetParameter, source: str) -> caffe_pb2.NetParameter:
    """V0 'padding' layers become the ``pad`` of the convolution or pooling they feed."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    del out.layers[:]
    producer: dict[str, int] = {name: -1 for name in net.input}
    for index, connection in enumerate(net.layers):
        kind = connection.layer.type
        if kind != "padding":
            out.layers.add().CopyFrom(connection)
        for j, blob in enumerate(connection.bottom):
            if blob not in producer:
                raise SurgeryError(
                    f"{source}: layer '{connection.layer.name}' reads blob '{blob}',"
                    " which no earlier layer or input produces"
                )
            if producer[blob] < 0:
                continue
            padding = net.layers[producer[blob]]
            if padding.layer.type != "padding":
                continue
            _check_padding_use(connection, padding, source)
            target = out.layers[-1]
            target.layer.pad = padding.layer.pad
            target.bottom[j] = padding.bottom[0]
        for blob in connection.top:
            producer[blob] = index
    return out


def _check_padding_use(
    connection: caffe_pb2.V1LayerParameter, padding: caffe_pb2.V1LayerParameter, source: str
) -> None:
    if connection.layer.type not in ("conv", "pool"):
        problem = f"is a '{connection.layer.type}' layer, not conv or pool"
    elif len(connection.bottom) != 1:
        problem = "has more than one bottom"
    elif len(padding.bottom) != 1 or len(padding.top) != 1:
        problem = f"reads padding layer '{padding.layer.name}', which has several bottoms or tops"
    else:
        return
    raise SurgeryError(
        f"{source}: layer '{connection.layer.name}' follows a padding layer but {problem};"
        " Caffe cannot upgrade that"
    )


def _upgrade_v0_layer(
    connection: caffe_pb2.V1LayerParameter, source: str
) -> caffe_pb2.V1LayerParameter:
    out = caffe_pb2.V1LayerParameter()
    out.bottom.extend(connection.bottom)
    out.top.extend(connection.top)
    if not connection.HasField("layer"):
        # A V1 entry in a V0 file: Caffe keeps only its blobs, so say so rather than
        # write a layer without a name or type.
        raise SurgeryError(
            f"{source}: layer '{connection.name}' is written as V1 in a V0 net; Caffe's"
            " upgrade keeps only its bottoms and tops, so write it as V0 (or the whole net"
            " as V1) first"
        )
    v0 = connection.layer
    if v0.HasField("name"):
        out.name = v0.name
    if v0.HasField("type"):
        out.type = getattr(caffe_pb2.V1LayerParameter, _v1_enum_of_v0(v0, source))
    out.blobs.extend(v0.blobs)
    out.blobs_lr.extend(v0.blobs_lr)
    out.weight_decay.extend(v0.weight_decay)
    for descriptor, value in v0.ListFields():
        target = _v0_target(descriptor.name, v0.type)
        if target is not None:
            message_name, field_name = target
            into = getattr(out, message_name) if message_name else out
            _assign(into, field_name, descriptor, value)
    return out


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


def _v1_enum_of_v0(v0: caffe_pb2.V0LayerParameter, source: str) -> str:
    try:
        return V0_TYPE_TO_V1[v0.type]
    except KeyError:
        raise SurgeryError(
            f"{source}: layer '{v0.name}' has V0 type '{v0.type}', which Caffe cannot upgrade"
        ) from None


def _v0_target(v0_field: str, v0_type: str) -> tuple[str, str] | None:
    if v0_field in _V0_TRANSFORM_FIELDS:
        return "transform_param", _V0_TRANSFORM_FIELDS[v0_field]
    route = _V0_ROUTES.get(v0_field)
    if route is None or v0_type not in route[1]:
        return None
    return route[1][v0_type], route[0]


def _assign(message: ProtoMessage, name: str, source_field: FieldDescriptor, value: Any) -> None:
    target = message.DESCRIPTOR.fields_by_name[name]
    if source_field.enum_type is not None and target.enum_type is not None:
        # Same enum names (MAX, AVE, ...) in a different enum type.
        enum_name = source_field.enum_type.values_by_number[value].name
        value = target.enum_type.values_by_name[enum_name].number
    if target.message_type is not None:
        getattr(message, name).CopyFrom(value)
    elif target.is_repeated:
        getattr(message, name).append(value)
    else:
        setattr(message, name, value)


# ---------------------------------------------------------------------------------------
# V1 -> V2 (text edits), with the data-layer transform fields moved on the way


def _v1_to_v2(net: Net) -> Document:
    return net.document.edited(_v1_to_v2_edits(net))


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


# ---------------------------------------------------------------------------------------
# Top-level inputs -> an Input layer


def _input_shapes(doc: Document) -> list[list[Scalar]] | None:
    """Each input's dims as written; None when the inputs have none at all.

    Caffe's UpgradeNetInput takes every input's shape from ``input_shape`` when there is
    one, else four ``input_dim`` each; inputs with neither (as old caffemodels carry them)
    are just dropped. Too few shapes for the inputs is a net Caffe crashes on.
    """
    root = doc.root
    names = root.scalars("input")
    shapes = root.messages("input_shape")
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


def _upgrade_inputs(doc: Document) -> Document:
    root = doc.root
    if not root.scalars("input"):
        return doc  # Caffe leaves input_dim or input_shape without an input alone
    shapes = _input_shapes(doc)
    fields = [f for f in root.fields if f.name in _INPUT_FIELDS]
    edits = _replace_fields(doc, fields, ())
    if shapes is not None:
        layer_block = _input_layer(doc, root.scalars("input"), shapes)
        layers = [f for f in root.fields if f.name in ("layer", "layers")]
        first = min(f.start for f in fields)
        anchor = first if not layers or first < layers[0].start else layers[0].start
        offset = line_start(doc.text, anchor)
        new = render_block((layer_block,), "", doc.indent, doc.newline)
        edits.append(Edit(offset, offset, new))
    return doc.edited(edits)


def _inputs_to_layer(net: Net) -> None:
    """Top-level inputs as an Input layer before every layer (their fields cut), as
    Caffe's UpgradeNetInput makes them; inputs without dims are dropped, as Caffe does."""
    doc = net.document
    root = doc.root
    names = root.scalars("input")
    if not names:
        return  # Caffe leaves input_dim or input_shape without an input alone
    shapes = _input_shapes(doc)
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


def _upgrade_batch_norm(doc: Document) -> Document:
    edits: list[Edit] = []
    layers = [f.value for f in doc.root.fields if f.name == "layer"]
    for body in (x for x in layers if isinstance(x, Message)):
        edits += _batch_norm_edits(doc, body)
    return doc.edited(edits) if edits else doc


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
