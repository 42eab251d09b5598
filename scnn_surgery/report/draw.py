"""A picture of one phase of a net: layers as nodes, blobs as edges labelled with shapes.

The picture is first built as a small pure model (:class:`Picture`), then turned into a
Graphviz graph.  In-place layers (ReLU, BatchNorm, ...) fold into the node of the layer
whose output they rewrite, and a recognised SCNN module is one node unless expanded.
Given a diff against another net, added layers and rewired edges are highlighted.

Rendering to SVG or PNG needs Graphviz's ``dot`` program; dot source does not.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from ..analysis.compare import NetDiff, blob_shapes
from ..analysis.modules import ModuleSummary, find_modules, summarise_module
from ..analysis.shapes import Shape, format_shape
from ..core.graph import BlobVersion, LayerGraph, NetState, graph_of
from ..core.net import Layer, Net
from ..errors import SurgeryError, UsageError

GraphNode = Layer | BlobVersion

__all__ = [
    "DOT_EDGE_BUDGET",
    "FORMATS",
    "SFDP_EDGE_BUDGET",
    "Edge",
    "Highlights",
    "Layout",
    "Node",
    "Picture",
    "add_to_graph",
    "before_highlights",
    "build_picture",
    "check_renderer",
    "choose_layout",
    "digraph",
    "focus",
    "focus_names",
    "highlights_from",
    "node_places",
    "output_format",
    "render",
    "size_warning",
]

FORMATS = ("svg", "png", "pdf", "dot")

INSTALL_DOT_HINT = (
    "install Graphviz (Debian/Ubuntu: 'apt-get install graphviz', macOS: 'brew install graphviz',"
    " Windows: 'winget install graphviz'), or write a .dot file instead"
)

NodeKind = Literal["layer", "input", "module", "output", "elided"]
Status = Literal["same", "added", "changed", "removed"]

_FONT = "Helvetica"
_NODE_STYLE: dict[NodeKind, dict[str, str]] = {
    "layer": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#eeeeee"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#dbe8fb", "penwidth": "1.5",
               "margin": "0.2,0.08"},
    "output": {"shape": "plaintext"},
    "elided": {"shape": "plaintext", "fontcolor": "#777777"},
}
_STATUS_STYLE: dict[Status, dict[str, str]] = {
    "same": {},
    "added": {"fillcolor": "#c9efc4", "color": "#2e7d32", "penwidth": "2"},
    "changed": {"fillcolor": "#fff1b3", "color": "#b58900", "penwidth": "2"},
    # Only in a picture of the net before: what the other net no longer has.
    "removed": {"fillcolor": "#f8d7da", "color": "#a12622", "penwidth": "2"},
}
# dot's spline routing and crossing minimisation take minutes on an expanded SCNN module (a
# Slice fanning out to every row of a long chain); straight edges and short searches take
# seconds, so pictures with more edges than this get them.
LARGE_PICTURE_EDGES = 400
_LARGE_LAYOUT = {"splines": "line", "mclimit": "0.01", "nslimit": "1", "nslimit1": "1"}
# dot's layered layout grows much faster than the edge count: an expanded 808-layer module
# (about 970 edges) took 49 s and 0.3 GB on two busy cores, and SegNet's 5,032-layer module
# (5,900 edges) ran 159 s to 3 GB and failed. Beyond this many edges (about two minutes)
# the picture is laid out by sfdp, a force-directed layout that scales (that SegNet: 30 s,
# 55 MB), and beyond the second even sfdp takes minutes: draw says so before it starts.
DOT_EDGE_BUDGET = 1_500
SFDP_EDGE_BUDGET = 30_000
_SCALABLE_LAYOUT = {
    "layout": "sfdp", "splines": "line", "overlap": "prism", "outputorder": "edgesfirst"
}
Engine = Literal["dot", "sfdp"]

_REWIRED_STYLE = {"color": "#d62728", "fontcolor": "#d62728", "penwidth": "2.5"}


@dataclass(frozen=True)
class Highlights:
    """What to mark, from a diff of another net (before) against the one drawn (after), or,
    for a picture of the net before, what the diff takes away from it."""

    added_layers: frozenset[str] = frozenset()
    changed_layers: frozenset[str] = frozenset()
    rewired: frozenset[tuple[str, int]] = frozenset()  # (layer name or #N, bottom index)
    added_modules: frozenset[str] = frozenset()  # module prefixes
    changed_modules: frozenset[str] = frozenset()
    removed: tuple[str, ...] = ()  # descriptions: they are not in the picture
    removed_layers: frozenset[str] = frozenset()  # in the picture: it is of the net before
    removed_modules: frozenset[str] = frozenset()


def highlights_from(diff: NetDiff) -> Highlights:
    def prefixes(status: str) -> frozenset[str]:
        return frozenset(m.after.prefix for m in diff.modules if m.status == status and m.after)

    removed_modules = [m.describe() for m in diff.modules if m.status == "removed"]
    return Highlights(
        added_layers=frozenset(x.name for x in diff.added) | _fragment_layers(diff, "added"),
        changed_layers=frozenset(x.name for x in diff.changed),
        rewired=frozenset((r.layer, r.bottom_index) for r in diff.rewired),
        added_modules=prefixes("added"),
        changed_modules=prefixes("changed"),
        removed=tuple(
            removed_modules
            + [x.describe() for x in diff.removed]
            + [f.describe() for f in diff.fragments if f.status == "removed"]
        ),
    )


def _fragment_layers(diff: NetDiff, status: str) -> frozenset[str]:
    """The layers of the runs a diff reports as one entry (spliced fragments)."""
    return frozenset(x.name for f in diff.fragments if f.status == status for x in f.layers)


def before_highlights(diff: NetDiff) -> Highlights:
    """What to mark in a picture of the net a diff starts from: removed layers and modules,
    changed ones, and the bottoms that will read something else."""

    def prefixes(status: str) -> frozenset[str]:
        return frozenset(m.before.prefix for m in diff.modules if m.status == status and m.before)

    return Highlights(
        changed_layers=frozenset(x.name for x in diff.changed),
        rewired=frozenset((r.layer, r.bottom_index) for r in diff.rewired),
        changed_modules=prefixes("changed"),
        removed_layers=frozenset(x.name for x in diff.removed) | _fragment_layers(diff, "removed"),
        removed_modules=prefixes("removed"),
    )


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: NodeKind
    status: Status = "same"
    layers: tuple[str, ...] = ()  # the names of the layers it stands for


@dataclass(frozen=True)
class Edge:
    tail: str
    head: str
    label: str
    rewired: bool = False


@dataclass(frozen=True)
class Picture:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    removed: tuple[str, ...] = ()


@dataclass
class _Group:
    """The layers one node stands for: a head layer and the in-place layers folded into it."""

    head: Layer
    folded: list[Layer] = field(default_factory=list)

    @property
    def members(self) -> list[Layer]:
        return [self.head, *self.folded]


def _fold_target(graph: LayerGraph, layer: Layer) -> GraphNode | None:
    """The graph node an in-place layer folds into: the writer of the blob it rewrites
    (the version itself, for a net input)."""
    tops = layer.tops
    if not tops or tops != layer.bottoms[: len(tops)]:
        return None
    version = graph.bottom(layer, 0)
    if version is None:
        return None
    return graph.producer(version) or version


# Characters a label cannot hold as they are: controls (dot stops at a NUL and acts on a
# newline), the line and paragraph separators, and the lone surrogates that stand for the
# bytes of a file name that is not UTF-8.
_UNSHOWABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for a byte
        return f"\\x{code - 0xDC00:02x}"
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _shown(text: str) -> str:
    """A name as one line of a label, with what a label cannot show written as an escape."""
    return _UNSHOWABLE.sub(lambda match: _escape(match.group()), text)


def _module_label(summary: ModuleSummary) -> str:
    lines = [summary.title, ", ".join(summary.geometry()), f"{summary.layers} layers"]
    return "\n".join(map(_shown, lines))


def _layer_label(group: _Group) -> str:
    lines = [group.head.name, group.head.type]
    if group.folded:
        lines.append("+ " + ", ".join(layer.type for layer in group.folded))
    return "\n".join(map(_shown, lines))


def _shape_text(version: BlobVersion, shapes: Mapping[BlobVersion, Shape]) -> str:
    shape = shapes.get(version)
    return "" if shape is None else format_shape(shape)


def _edge_label(blob: str, version: BlobVersion, shapes: Mapping[BlobVersion, Shape]) -> str:
    return "\n".join(filter(None, (_shown(blob), _shape_text(version, shapes))))


class _Builder:
    """Groups one phase's layers into nodes and their bindings into edges."""

    def __init__(self, graph: LayerGraph, highlights: Highlights, expand: bool) -> None:
        self.graph = graph
        self.highlights = highlights
        self.node_of: dict[GraphNode, str] = {}  # graph node (layer, or input version) -> id
        self.groups: dict[str, _Group] = {}
        self.modules: dict[str, tuple[ModuleSummary, list[Layer]]] = {}
        if not expand:
            self._collapse_modules()

    def _collapse_modules(self) -> None:
        net = self.graph.net
        for number, (module, members) in enumerate(find_modules(net, self.graph.layers)):
            node_id = f"M{number}"
            self.modules[node_id] = (summarise_module(module, members, [self.graph]), members)
            self.node_of.update((layer, node_id) for layer in members)

    def _inputs(self) -> list[tuple[str, BlobVersion]]:
        return [
            (f"I{i}", version)
            for i, version in enumerate(
                v for v in self.graph.blob_versions() if self.graph.net_input(v) is not None
            )
        ]

    def group_layers(self) -> None:
        for node_id, version in self._inputs():
            self.node_of[version] = node_id
        net = self.graph.net
        for layer in self.graph.layers:
            if layer in self.node_of:
                continue
            target = _fold_target(self.graph, layer)
            host = None if target is None else self.node_of.get(target)
            # Only a layer's node takes in-place followers; inputs and modules stay as drawn.
            if host in self.groups:
                self.groups[host].folded.append(layer)
                node_id = host
            else:
                node_id = f"L{net.index_of(layer)}"
                self.groups[node_id] = _Group(layer)
            self.node_of[layer] = node_id

    def nodes(self) -> list[Node]:
        """One node per input, module and group, in the order the net first uses them."""
        nodes: dict[str, Node] = {}
        for node_id, version in self._inputs():
            nodes[node_id] = Node(node_id, _shown(version.name), "input")
        for layer in self.graph.layers:
            node_id = self.node_of[layer]
            if node_id in nodes:
                continue
            if node_id in self.modules:
                summary, members = self.modules[node_id]
                nodes[node_id] = Node(
                    node_id, _module_label(summary), "module", self._module_status(summary),
                    tuple(x.name for x in members),
                )
            else:
                group = self.groups[node_id]
                kind: NodeKind = "layer" if layer.bottoms else "input"
                nodes[node_id] = Node(
                    node_id, _layer_label(group), kind, self._group_status(group),
                    tuple(x.name for x in group.members),
                )
        return list(nodes.values())

    def _module_status(self, summary: ModuleSummary) -> Status:
        if summary.prefix in self.highlights.added_modules:
            return "added"
        if summary.prefix in self.highlights.removed_modules:
            return "removed"
        return "changed" if summary.prefix in self.highlights.changed_modules else "same"

    def _group_status(self, group: _Group) -> Status:
        added, changed = self.highlights.added_layers, self.highlights.changed_layers
        if group.head.name in added:
            return "added"
        if group.head.name in self.highlights.removed_layers:
            return "removed"
        changed = changed | self.highlights.removed_layers  # a removed in-place member
        touched = any(m.name in added or m.name in changed for m in group.members)
        return "changed" if touched else "same"

    def edges(self, shapes: Mapping[BlobVersion, Shape]) -> tuple[list[Edge], list[Node]]:
        edges: list[Edge] = []
        for layer in self.graph.layers:
            head = self.node_of[layer]
            versions = self.graph.bottoms(layer)
            for i, (blob, version) in enumerate(zip(layer.bottoms, versions, strict=True)):
                if version is None:
                    continue
                tail = self.node_of[self.graph.producer(version) or version]
                if tail != head:
                    rewired = (self.graph.net.label(layer), i) in self.highlights.rewired
                    edges.append(Edge(tail, head, _edge_label(blob, version, shapes), rewired))
        outputs: list[Node] = []
        for number, version in enumerate(self.graph.outputs()):
            producer = self.graph.producer(version)
            if producer is None:
                continue
            node_id = f"O{number}"
            outputs.append(Node(node_id, _shown(version.name), "output"))
            edges.append(Edge(self.node_of[producer], node_id, _shape_text(version, shapes)))
        return edges, outputs


def build_picture(
    net: Net,
    state: NetState | None = None,
    highlights: Highlights | None = None,
    expand: bool = False,
) -> Picture:
    """The picture of ``net`` in ``state`` (TEST by default, as in Caffe)."""
    graph = graph_of(net, state or NetState())
    builder = _Builder(graph, highlights or Highlights(), expand)
    builder.group_layers()
    edges, outputs = builder.edges(blob_shapes(net, graph))
    title = _shown(net.name or Path(net.source).name)
    return Picture(
        title, tuple(builder.nodes() + outputs), tuple(edges),
        tuple(map(_shown, (highlights or Highlights()).removed)),
    )


def focus_names(diff: NetDiff) -> set[str]:
    """The layers a picture of a diff should centre on, in either net."""
    names = {x.name for x in (*diff.added, *diff.removed)}
    names |= {x.name for f in diff.fragments for x in f.layers}
    names |= {x.name for x in diff.changed} | {r.layer for r in diff.rewired}
    for module in diff.modules:
        names |= {s.placed_after for s in (module.before, module.after) if s is not None}
    return names


def _distances(picture: Picture, sources: set[str], radius: int) -> dict[str, int]:
    """Hops from the nearest of ``sources`` over the picture's edges, either way, up to
    ``radius`` (a source the picture lacks is at 0 from itself)."""
    hops = nx.Graph()
    hops.add_nodes_from(n.id for n in picture.nodes)
    hops.add_edges_from((edge.tail, edge.head) for edge in picture.edges)
    hops.add_nodes_from(sources)
    found: dict[str, int] = nx.multi_source_dijkstra_path_length(hops, sources, cutoff=radius)
    return found


def neighbourhood(picture: Picture, sources: set[str], radius: int) -> set[str]:
    """``sources`` and every node within ``radius`` edges of them, either way."""
    return set(_distances(picture, sources, radius)) if sources else set()


def focus(picture: Picture, around: set[str], radius: int) -> Picture:
    """Only the nodes within ``radius`` edges of those holding a layer named in ``around``.

    A cut edge keeps its label and ends in a small "..." node, so the shapes flowing in
    and out of the shown part stay visible.
    """
    sources = {n.id for n in picture.nodes if around & set(n.layers) or n.status != "same"}
    if not sources:
        return picture
    kept = set(_distances(picture, sources, radius))
    nodes = [n for n in picture.nodes if n.id in kept]
    edges: list[Edge] = []
    elided: dict[str, Node] = {}
    for edge in picture.edges:
        if edge.tail in kept and edge.head in kept:
            edges.append(edge)
        elif edge.tail in kept or edge.head in kept:
            inside = edge.tail if edge.tail in kept else edge.head
            stub = f"{inside}_{'out' if edge.tail in kept else 'in'}"
            elided.setdefault(stub, Node(stub, "\u22ee", "elided"))
            pair = (inside, stub) if edge.tail in kept else (stub, inside)
            edges.append(Edge(*pair, edge.label, edge.rewired))
    return Picture(picture.title, tuple(nodes + list(elided.values())), tuple(edges),
                   picture.removed)


# ---------------------------------------------------------------------------
# Graphviz


def _graphviz() -> Any:
    try:
        return importlib.import_module("graphviz")
    except ImportError:
        raise SurgeryError(
            "drawing needs the 'graphviz' Python package: pip install graphviz"
        ) from None


def _node_attrs(node: Node) -> dict[str, str]:
    return {**_NODE_STYLE[node.kind], **_STATUS_STYLE[node.status]}


def _dot_text(text: str) -> Any:
    """Text for a dot label: the graphviz package passes backslash escapes through, and
    would take a label in angle brackets (a blob named '<out>') for HTML."""
    return _graphviz().nohtml(text.replace("\\", "\\\\").replace("\n", "\\n"))


def add_to_graph(target: Any, picture: Picture, id_prefix: str = "") -> None:
    """Draw ``picture`` into a graphviz graph or subgraph; ids get ``id_prefix``."""
    for node in picture.nodes:
        target.node(id_prefix + node.id, _dot_text(node.label), **_node_attrs(node))
    for edge in picture.edges:
        attrs = _REWIRED_STYLE if edge.rewired else {}
        target.edge(id_prefix + edge.tail, id_prefix + edge.head, _dot_text(edge.label), **attrs)
    if picture.removed:
        note = "removed:\n" + "\n".join(_shorten(text) for text in picture.removed)
        target.node(id_prefix + "removed", _dot_text(note), shape="note", style="filled",
                    fillcolor="#f8d7da", color="#a12622", fontcolor="#a12622")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def new_digraph(name: str = "net") -> Any:
    """An empty graph with the house style."""
    graph = _graphviz().Digraph(name)
    graph.attr(rankdir="TB", fontname=_FONT, nodesep="0.25", ranksep="0.35")
    graph.attr("node", fontname=_FONT, fontsize="10", margin="0.12,0.04")
    graph.attr("edge", fontname=_FONT, fontsize="8", color="#555555", arrowsize="0.7")
    return graph


@dataclass(frozen=True)
class Layout:
    """The Graphviz program that lays a picture out, and what to tell the user first."""

    engine: Engine
    notes: tuple[str, ...] = ()


def choose_layout(picture: Picture, expanded: bool = False) -> Layout:
    """dot where it lays the picture out in about two minutes, sfdp beyond, with a note
    saying so (and, for a picture larger than even sfdp lays out quickly, a warning)."""
    edges = len(picture.edges)
    if edges <= DOT_EDGE_BUDGET:
        return Layout("dot")
    smaller = "; without --expand each SCNN module is one node" if expanded else ""
    return Layout("sfdp", (
        f"the picture has {edges:,} edges, more than dot lays out in about two minutes"
        f" ({DOT_EDGE_BUDGET:,}); using sfdp, a layout that scales, instead{smaller}",
    ))


def size_warning(layers: int) -> str | None:
    """Said as soon as the net is read, before the minutes a very large picture takes to
    build and lay out (a 100,000-layer chain: 24 s to its dot source alone)."""
    if layers <= SFDP_EDGE_BUDGET:
        return None
    return (
        f"warning: {layers:,} layers: building and laying out a picture this large takes"
        " minutes, even with sfdp; --against OTHER --context N draws only the part around"
        " the changes, and a .dot file (-o FILE.dot) skips the layout"
    )


def digraph(picture: Picture, engine: Engine = "dot") -> Any:
    graph = new_digraph()
    graph.attr(label=_dot_text(picture.title), labelloc="t", fontsize="14")
    if engine == "sfdp":
        graph.attr(**_SCALABLE_LAYOUT)
    elif len(picture.edges) > LARGE_PICTURE_EDGES:
        graph.attr(**_LARGE_LAYOUT)
    add_to_graph(graph, picture)
    return graph


def output_format(path: str) -> str:
    """The output format named by the file's suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(
            f"{path}: cannot tell the picture format; use a .svg, .png, .pdf or .dot file name"
        )
    return suffix


def check_renderer(fmt: str, engine: Engine = "dot") -> None:
    """Fail early, with a way out, when ``fmt`` needs a Graphviz program that is missing."""
    if fmt != "dot" and shutil.which(engine) is None:
        raise SurgeryError(
            f"Graphviz's '{engine}' program was not found (needed for .{fmt}); {INSTALL_DOT_HINT}"
        )


def node_places(picture: Picture, net: Net) -> dict[str, str]:
    """For each node id, the first layer it stands for and where that is written, to name
    the layer when dot refuses a node."""
    by_name = {layer.name: layer for layer in net.layers}
    places: dict[str, str] = {}
    for node in picture.nodes:
        layer = by_name.get(node.layers[0]) if node.layers else None
        if layer is not None:
            where = net.layer_location(layer) or "added"
            places[node.id] = f"layer '{_shorten(_shown(layer.name))}' ({where})"
    return places


_STATEMENT_IDS = re.compile(r"^\s*(\w+)(?:\s*->\s*(\w+))?")
_DOT_LINE = re.compile(r"\bline (\d+)\b")


def _dot_failure(stderr: bytes, source: str, places: Mapping[str, str]) -> str:
    """dot's error as one line, with the layer of the statement it names, if any."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    errors = [line for line in lines if line.startswith("Error:")] or [x for x in lines if x]
    if not errors:
        return "dot failed without a message"
    message = re.sub(r"^Error:\s*(<stdin>:\s*)?", "", errors[0])
    number = _DOT_LINE.search(message)
    statement = source.splitlines()[int(number.group(1)) - 1] if number else ""
    ids = _STATEMENT_IDS.match(statement)
    if ids is not None:
        tail, head = ids.groups()
        if head is not None and head in places:
            return f"dot failed on an edge into {places[head]}: {message}"
        if tail in places:
            return f"dot failed on {places[tail]}: {message}"
    return f"dot failed: {message}"


def render(
    graph: Any, fmt: str, places: Mapping[str, str] | None = None, engine: Engine = "dot"
) -> bytes:
    """The picture in ``fmt``: dot source as is, SVG, PNG and PDF through Graphviz's
    ``engine`` (dot, or sfdp for large pictures). ``places`` (from :func:`node_places`)
    names the layer of a node dot refuses."""
    source = str(graph.source)
    if fmt == "dot":
        return source.encode()
    check_renderer(fmt, engine)
    program = shutil.which(engine) or engine
    try:
        proc = subprocess.run(
            [program, f"-T{fmt}"], input=source.encode(), capture_output=True, check=False
        )
    except OSError as exc:
        raise SurgeryError(f"Graphviz's '{engine}' program could not run: {exc.strerror}") from None
    if proc.returncode != 0 or not proc.stdout:
        raise SurgeryError(_dot_failure(proc.stderr, source, places or {}))
    return proc.stdout
