"""Graph operations: the small edits every surgery verb is made of.

Each one changes a :class:`~scnn_surgery.core.net.Net` in place, layer list and cached phase
graphs together, so later analyses and the final check read the edited graph without
building it again. Caffe's binding rule is applied exactly as :func:`graph.build_graph`
applies it; an edit that could change how later bottoms bind (new layers writing a blob
the net already has) drops the graphs instead, and they are rebuilt on demand.

* :func:`insert_layers` - new layers after a layer (or before every layer);
* :func:`rewire` - bottoms that read another blob;
* :func:`remove_layers` - layers taken out;
* :func:`add_prefix` - a fragment's names, made unique before it goes in
  (:func:`definition_names` lists them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import networkx as nx

from .graph import BlobVersion, LayerGraph, Problem, cached_graphs, layer_included
from .layerdef import Fields, LayerDef, Value, definition_param_names
from .net import Layer, Net


def insert_layers(net: Net, after: Layer | None, layers: Sequence[Layer]) -> None:
    """Put ``layers`` right after ``after`` (None: before the first layer)."""
    position = 0 if after is None else net.index_of(after) + 1
    existing = net.blob_names
    fresh = all(top not in existing for layer in layers for top in layer.tops)
    graphs = cached_graphs(net)
    net.layers[position:position] = layers
    net.caches.pop("positions", None)
    if not fresh:
        _drop_graphs(net)
        return
    for graph in graphs:
        _insert_into_graph(graph, position, layers)


def _insert_into_graph(graph: LayerGraph, position: int, layers: Sequence[Layer]) -> None:
    included = [layer for layer in layers if layer_included(layer, graph.state)]
    made: dict[str, BlobVersion] = {}
    nodes: list[tuple[Layer, dict[str, list[BlobVersion | None] | list[BlobVersion]]]] = []
    edges: list[tuple[Layer | BlobVersion, Layer | BlobVersion]] = []
    for layer in included:
        bound: list[BlobVersion | None] = []
        for name in layer.bottoms:
            version = made.get(name) or graph.version_before(name, position)
            bound.append(version)
            if version is None:
                graph.problems.append(
                    Problem(layer, f"bottom '{name}' is not produced by any earlier layer")
                )
        tops: list[BlobVersion] = []
        for name in layer.tops:
            previous = made.get(name)
            version = BlobVersion(name, 0 if previous is None else previous.version + 1)
            made[name] = version
            tops.append(version)
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
    after = [graph.version_before(name, position) for name in new.bottoms]
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
    graph.problems += [
        Problem(new, f"bottom '{name}' is not produced by any earlier layer")
        for name, version in zip(new.bottoms, after, strict=True)
        if version is None
    ]


def remove_layers(net: Net, layers: Collection[Layer]) -> None:
    """Take ``layers`` out; the graphs are rebuilt on demand, since the versions of the
    blobs they wrote in place renumber."""
    net.layers = [layer for layer in net.layers if layer not in layers]
    net.caches.pop("positions", None)
    _drop_graphs(net)


def _drop_graphs(net: Net) -> None:
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
            LayerDef(
                renamed.get(layer.name, layer.name),
                layer.type,
                bottoms,
                tuple(renamed.get(t, t) for t in layer.tops),
                _renamed_params(layer.fields, renamed),
            )
        )
    return out


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
