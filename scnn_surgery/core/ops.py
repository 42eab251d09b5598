"""Graph operations: the small edits every surgery verb is made of.

Each one changes a :class:`~scnn_surgery.core.net.Net` in place, layer list and cached phase
graphs together, so later analyses and the final check read the edited graph without
building it again. Caffe's binding rule is applied by the one function
:func:`graph.build_graph` applies it with (:func:`graph.bind_bottoms`); an edit that could
change how later bottoms bind (new layers writing a blob the net already has) drops the
graphs instead, and they are rebuilt on demand.

* :func:`insert_layers` - new layers after a layer (or before every layer);
* :func:`rewire` - bottoms that read another blob;
* :func:`remove_layers` - layers taken out;
* :func:`add_prefix` - a fragment's names, made unique before it goes in
  (:func:`definition_names` lists them);
* :func:`set_param`, :func:`add_param`, :func:`remove_param` - a layer's parameter values
  (:mod:`scnn_surgery.core.values`); :func:`set_net_field`, :func:`add_net_field`,
  :func:`remove_net_field` - the net's own fields (``input_dim``, ``input_shape``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace

import networkx as nx

from .document import Document, Edit, Field, Message, Scalar, quote_string
from .graph import (
    BlobVersion,
    LayerGraph,
    Problem,
    bind_bottoms,
    cached_graphs,
    layer_included,
    write_tops,
)
from .layerdef import Fields, LayerDef, Value, definition_param_names
from .net import Layer, LayerText, Net, NetInput, layer_from_block, net_inputs, param_name_scalars
from .text_export import revision_start
from .textedit import Leaf, append_to_message, insert_before_field
from .values import Change, ParamPath, apply_edits, definition_change, message_edits


def insert_layers(net: Net, after: Layer | None, layers: Sequence[Layer]) -> None:
    """Put ``layers`` right after ``after`` (None: before the first layer)."""
    position = 0 if after is None else net.index_of(after) + 1
    existing = net.blob_names
    fresh = all(top not in existing for layer in layers for top in layer.tops)
    graphs = cached_graphs(net)
    net.layers[position:position] = layers
    net.caches.pop("positions", None)
    if not fresh:
        drop_graphs(net)
        return
    for graph in graphs:
        _insert_into_graph(graph, position, layers)


def _insert_into_graph(graph: LayerGraph, position: int, layers: Sequence[Layer]) -> None:
    included = [layer for layer in layers if layer_included(layer, graph.state)]
    made: dict[str, BlobVersion] = {}
    nodes: list[tuple[Layer, dict[str, list[BlobVersion | None] | list[BlobVersion]]]] = []
    edges: list[tuple[Layer | BlobVersion, Layer | BlobVersion]] = []
    for layer in included:

        def version_of(name: str) -> BlobVersion | None:
            return made.get(name) or graph.version_before(name, position)

        bound = bind_bottoms(layer, version_of, graph.problems)
        tops = write_tops(layer, made, graph.problems)  # the blobs are new: no problem
        nodes.append((layer, {"bottoms": bound, "tops": tops}))
        edges += [(version, layer) for version in bound if version is not None]
        edges += [(layer, version) for version in tops]
    graph.graph.add_nodes_from(nodes)
    graph.graph.add_edges_from(edges)
    graph.latest.update(made)
    members = set(graph.layers).union(included)
    graph.layers = [layer for layer in graph.net.layers if layer in members]


def rewire(net: Net, changes: Iterable[tuple[Layer, int, str]]) -> dict[Layer, Layer]:
    """Make bottom ``index`` of each ``layer`` read blob ``name``; returns old -> new layers.

    The blob binds as Caffe binds it: to its latest version written before the layer.
    """
    wanted: dict[Layer, dict[int, str]] = {}
    for layer, index, name in changes:
        wanted.setdefault(layer, {})[index] = name
    replaced: dict[Layer, Layer] = {}
    for layer, new_names in wanted.items():
        bottoms = [new_names.get(i, b) for i, b in enumerate(layer.bottoms)]
        replaced[layer] = layer.with_bottoms(bottoms)
    _replace_layers(net, replaced)
    return replaced


def _replace_layers(net: Net, replaced: Mapping[Layer, Layer]) -> None:
    positions = {old: net.index_of(old) for old in replaced}
    for old, new in replaced.items():
        net.layers[positions[old]] = new
    net.caches.pop("positions", None)
    for graph in cached_graphs(net):
        for old, new in replaced.items():
            if old in graph.graph:
                _rebind(graph, old, new, positions[old])


def _rebind(graph: LayerGraph, old: Layer, new: Layer, position: int) -> None:
    g = graph.graph
    nx.relabel_nodes(g, {old: new}, copy=False)
    before: list[BlobVersion | None] = g.nodes[new]["bottoms"]
    problems: list[Problem] = []
    after = bind_bottoms(new, lambda name: graph.version_before(name, position), problems)
    for version in set(before) - set(after):
        if version is not None:
            g.remove_edge(version, new)
    g.add_edges_from((version, new) for version in after if version is not None)
    g.nodes[new]["bottoms"] = after
    graph.layers = [new if layer is old else layer for layer in graph.layers]
    graph.problems = [
        Problem(new, p.message) if p.layer is old else p
        for p in graph.problems
        if not (p.layer is old and p.message.startswith("bottom "))
    ]
    graph.problems += problems


def remove_layers(net: Net, layers: Collection[Layer]) -> None:
    """Take ``layers`` out; the graphs are rebuilt on demand, since the versions of the
    blobs they wrote in place renumber."""
    net.layers = [layer for layer in net.layers if layer not in layers]
    net.caches.pop("positions", None)
    drop_graphs(net)


def drop_graphs(net: Net) -> None:
    """Forget the net's graphs: they are rebuilt on demand."""
    for key in [k for k in net.caches if isinstance(k, tuple) and k[0] == "graph"]:
        del net.caches[key]


# ---------------------------------------------------------------------------
# Names


def definition_names(layers: Iterable[LayerDef]) -> set[str]:
    """Every name the definitions bring: their layers, the blobs they write, their share
    names."""
    names: set[str] = set()
    for layer in layers:
        names.add(layer.name)
        names.update(layer.tops)
        names.update(name for name in definition_param_names(layer.fields) if name)
    return names


def add_prefix(
    layers: Sequence[LayerDef], prefix: str, keep: Collection[str] = ()
) -> list[LayerDef]:
    """``prefix`` on every name the fragment brings (its layers, the blobs it writes, its
    shared params), except ``keep``; a bottom is renamed only where it reads a blob the
    fragment wrote before it, so the blobs it reads from the net keep their names."""
    if not prefix:
        return list(layers)
    renamed = {name: prefix + name for name in definition_names(layers) if name not in keep}
    written: set[str] = set()
    out = []
    for layer in layers:
        bottoms = tuple(renamed.get(b, b) if b in written else b for b in layer.bottoms)
        written.update(layer.tops)
        out.append(
            rename_definition(
                layer,
                name=renamed.get(layer.name, layer.name),
                bottoms=bottoms,
                tops=tuple(renamed.get(t, t) for t in layer.tops),
                params=renamed,
            )
        )
    return out


def rename_definition(
    definition: LayerDef,
    *,
    name: str,
    bottoms: Sequence[str],
    tops: Sequence[str],
    params: Mapping[str, str],
) -> LayerDef:
    """``definition`` under another name, reading and writing other blobs, its shared
    params (``param { name }``) renamed as ``params`` says."""
    fields = _renamed_params(definition.fields, params)
    return LayerDef(name, definition.type, tuple(bottoms), tuple(tops), fields)


def rename_layer(
    layer: Layer,
    *,
    name: str | None = None,
    bottoms: Sequence[str] | None = None,
    tops: Sequence[str] | None = None,
    params: Mapping[str, str] | None = None,
) -> Layer:
    """The one way names change (``--prefix``, a fragment's names, ``rename``): the layer
    under another name, reading and writing other blobs, its shared params renamed as
    ``params`` says. A layer read from a file keeps its text; the exporter writes the new
    names as tokens (share names as value edits, :func:`changed_layer`)."""
    name = layer.name if name is None else name
    bottoms = layer.bottoms if bottoms is None else tuple(bottoms)
    tops = layer.tops if tops is None else tuple(tops)
    params = params or {}
    if layer.text is None:
        assert layer.definition is not None
        definition = rename_definition(
            layer.definition, name=name, bottoms=bottoms, tops=tops, params=params
        )
        return layer.with_wiring(name=name, bottoms=bottoms, tops=tops, definition=definition)
    new = layer if layer.text.name_scalar is not None or not name else _named(layer, name)
    for index, scalars in enumerate(param_name_scalars(layer)):
        old = scalars[-1].value if scalars else ""
        if old and params.get(old, old) != old:
            path = f"param[{index}]" if layer.format == "v1" else f"param[{index}].name"
            new = changed_layer(new, Change("set", path, params[old]))
    return new.with_wiring(name=name, bottoms=bottoms, tops=tops)


def _named(layer: Layer, name: str) -> Layer:
    """An unnamed layer of a file with a ``name`` field, its first, written as the layer
    writes its other strings (Caffe allows a layer without a name; ``#N`` labels it)."""
    text = layer.text
    assert text is not None
    body = text.body
    strings = [
        s for f in body.fields for s in f.values()
        if isinstance(s, Scalar) and s.kind == "string"
    ]  # fmt: skip
    quote = strings[0].raw[0] if strings else '"'
    block = (("name", Leaf(quote_string(name, quote))),)
    doc = text.document
    if body.fields:
        return revised_layer(layer, [insert_before_field(doc, body.fields[0], block)])
    return revised_layer(layer, [append_to_message(doc, body, block)])


def rename_input(net: Net, old: str, new: str) -> None:
    """The top-level input ``old`` under the name ``new``: its ``input`` literal's token,
    in its own quote (the layers reading it are the caller's to rewire)."""
    for index, given in enumerate(net.inputs):
        if given.name == old:
            scalar = given.scalar
            token = quote_string(new, scalar.raw[0])
            net.field_edits = [*net.field_edits, Edit(scalar.start, scalar.end, token)]
            net.inputs[index] = NetInput(new, given.dims, scalar)
    drop_graphs(net)


def replace_layers(net: Net, replaced: Mapping[Layer, Layer]) -> None:
    """Put each new layer in its old one's place; the graphs are rebuilt on demand (the
    blobs may have other names now)."""
    positions = {old: net.index_of(old) for old in replaced}
    for old, new in replaced.items():
        net.layers[positions[old]] = new
    net.caches.pop("positions", None)
    drop_graphs(net)


def _renamed_params(fields: Fields, renamed: Mapping[str, str]) -> Fields:
    def param(value: Value) -> Value:
        if isinstance(value, str):
            return renamed.get(value, value)
        if isinstance(value, tuple):
            return tuple(
                (k, renamed.get(v, v) if k == "name" and isinstance(v, str) else v)
                for k, v in value
            )
        return value

    return tuple((key, param(value) if key == "param" else value) for key, value in fields)


# ---------------------------------------------------------------------------
# Values


def set_param(net: Net, layer: Layer, path: ParamPath, value: Value) -> Layer:
    """Set the field ``path`` of ``layer`` (added when missing, but never a message
    ``[i]`` names: ``param[0].lr_mult`` needs a ``param``); returns the new layer, which
    takes the old one's place in the net and its graphs."""
    return change_param(net, layer, Change("set", path, value))


def add_param(net: Net, layer: Layer, path: ParamPath, value: Value) -> Layer:
    """Add another occurrence of the (repeated) field ``path``, after its last one."""
    return change_param(net, layer, Change("add", path, value))


def remove_param(net: Net, layer: Layer, path: ParamPath) -> Layer:
    """Remove the field ``path`` (every occurrence of an unindexed name); nothing when
    it is absent, and an ``[i]`` past the last occurrence is refused."""
    return change_param(net, layer, Change("remove", path))


def change_param(net: Net, layer: Layer, change: Change) -> Layer:
    """``set_param``, ``add_param`` and ``remove_param``; edits the net keeps pending in
    the layer's block (an upgrade's) are made with the change."""
    pending: list[Edit] = []
    text = layer.text
    if text is not None and text.home is None and net.in_document(layer) and net.field_edits:
        inside = [e for e in net.field_edits if _within(e, text.block)]
        if inside:
            net.field_edits = [e for e in net.field_edits if not _within(e, text.block)]
            pending = inside
    new = changed_layer(layer, change, pending)
    if new is not layer:
        _replace_layers(net, {layer: new})
    return new


def _within(edit: Edit, block: Field) -> bool:
    return block.start <= edit.start and edit.end <= block.end


def changed_layer(layer: Layer, change: Change, pending: Sequence[Edit] = ()) -> Layer:
    """``layer`` with ``change`` made: a new definition for a layer surgery added, a
    revised text for one read from a file (with ``pending`` edits of its block)."""
    if layer.text is None:
        assert layer.definition is not None
        return layer.with_wiring(definition=definition_change(layer.definition, change))
    edits = message_edits(layer.text.document, layer.text.body, change)
    if not edits and not pending:
        return layer
    return revised_layer(layer, [*pending, *edits])


def revised_layer(layer: Layer, edits: Sequence[Edit]) -> Layer:
    """``layer`` with text edits of its block made: the block (with the start of its
    line) is read again on its own, so readers of its parameters see the new values."""
    text = layer.text
    assert text is not None
    if text.home is None:
        base = revision_start(text)
        segment = text.document.text[base : text.block.end]
    else:
        base, segment = 0, text.document.text
    read = read_in_place(text, layer.name, apply_edits(segment, edits, base))
    return Layer(
        layer.name, read.type, layer.bottoms, layer.tops, read.include, read.exclude,
        read.format, read.text,
    )  # fmt: skip


def read_in_place(home: LayerText, name: str, block: str) -> Layer:
    """The layer ``block`` (the text of one layer) declares, read on its own, standing in
    the place of ``home``'s block: messages name that block, and the exporter replaces
    just it."""
    what = f"layer '{name}'" if name else "an unnamed layer"
    where = f"{home.original.document.source} ({what} as changed)"
    document = Document.parse(block, where)
    read = layer_from_block(document.root.fields[-1], document)
    assert read.text is not None
    return read.with_wiring(text=replace(read.text, home=home.original))


def set_net_field(net: Net, path: ParamPath, value: Value) -> None:
    """Set a field of the net itself (``input_dim[2]``, ``input_shape[0].dim[3]``): the
    one the file states; a net that states ``input_dim`` has no ``input_shape[0]``."""
    change_net_field(net, Change("set", path, value))


def add_net_field(net: Net, path: ParamPath, value: Value) -> None:
    change_net_field(net, Change("add", path, value))


def remove_net_field(net: Net, path: ParamPath) -> None:
    change_net_field(net, Change("remove", path))


def change_net_field(net: Net, change: Change) -> None:
    """A net-level change, kept as edits of the net's document; the inputs it states are
    read again (a set replaces an earlier set of the same value)."""
    doc = net.document
    edits = message_edits(doc, doc.root, change)
    if not edits:
        return
    spans = {(e.start, e.end) for e in edits if e.start != e.end}
    kept = [e for e in net.field_edits if e.start == e.end or (e.start, e.end) not in spans]
    net.field_edits = [*kept, *edits]
    net.inputs = _restated_inputs(net)
    drop_graphs(net)


def _restated_inputs(net: Net) -> list[NetInput]:
    """The inputs as the edited text states them; each keeps its literal in the file.
    Edits that only change literals are read as they are; only one that adds or cuts a
    field needs the net's text read again."""
    doc = net.document
    literals = {(s.start, s.end) for s in _input_literals(doc.root)}
    tokens = {(e.start, e.end): e.replacement.strip() for e in net.field_edits}
    if set(tokens) <= literals:
        return net_inputs(doc, tokens)
    edited = doc.edited(net.field_edits)
    old = {i.name: i.scalar for i in net_inputs(doc)}
    return [
        NetInput(i.name, i.dims, old.get(i.name, i.scalar)) for i in net_inputs(edited)
    ]


def _input_literals(root: Message) -> list[Scalar]:
    """The literals that state the inputs' sizes."""
    return [
        *root.scalars("input_dim"),
        *(s for shape in root.messages("input_shape") for s in shape.scalars("dim")),
    ]
