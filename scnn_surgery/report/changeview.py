"""Pictures of what changed between two nets, made for the HTML reports.

``draw --against A --context N`` as a function: the net after a change, cut down to the
part around it, as SVG that can be put inside a page. For ``diff --html`` the changes are
grouped into places (changes whose surroundings overlap), and each place gets a picture
of both nets.

Graphviz's SVG is parsed and written out again keeping only drawing elements and
attributes, so nothing in a page comes from it unescaped, whatever a layer is called.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ..analysis.compare import LayerChange, ModuleChange, NetDiff, diff_nets
from ..analysis.modules import ModuleSummary
from ..core.graph import PHASES, NetState, graph_of
from ..core.net import Net
from ..errors import SurgeryError
from ..surgery import InsertResult
from .draw import (
    Highlights,
    Picture,
    before_highlights,
    build_picture,
    digraph,
    focus,
    focus_names,
    highlights_from,
    neighbourhood,
    render,
)

__all__ = [
    "PICTURE_CONTEXT",
    "DiffEntry",
    "DiffView",
    "Place",
    "change_svg",
    "diff_entries",
    "diff_view",
    "embeddable_svg",
    "insert_highlights",
    "inserted_svg",
    "missing_dot_note",
    "picture_state",
    "place_pictures",
]

# Layers drawn on each side of a change: enough to see where it sits, small enough that
# a page of hundreds of models stays light.
PICTURE_CONTEXT = 2

# A diff of two unrelated nets changes everything; past this many places the rest are
# only listed.
MAX_PLACES = 40

SVG_NS = "http://www.w3.org/2000/svg"
_KEPT_ELEMENTS = frozenset(
    {"svg", "g", "path", "polygon", "polyline", "ellipse", "circle", "rect", "line", "text",
     "tspan"}
)
_KEPT_ATTRIBUTES = frozenset(
    {"width", "height", "viewBox", "transform", "class", "fill", "fill-opacity", "stroke",
     "stroke-width", "stroke-dasharray", "stroke-opacity", "opacity", "points", "d", "x", "y",
     "cx", "cy", "rx", "ry", "r", "x1", "y1", "x2", "y2", "text-anchor", "font-family",
     "font-size", "font-weight", "font-style", "preserveAspectRatio"}
)
_TEXT_ELEMENTS = frozenset({"text", "tspan"})
_INSTALL_DOT = (
    "install Graphviz (Debian/Ubuntu: 'apt-get install graphviz', macOS: 'brew install"
    " graphviz', Windows: 'winget install graphviz') and run again"
)


def missing_dot_note() -> str | None:
    """Why pictures cannot be made here, or None when Graphviz's ``dot`` is installed."""
    if shutil.which("dot") is None:
        return (
            "Graphviz's 'dot' program was not found, so the pictures are left out;"
            f" {_INSTALL_DOT}"
        )
    return None


def picture_state(net: Net, phase: str | None) -> NetState:
    """The phase to draw: the one asked for; else TEST as Caffe deploys, unless only TRAIN
    makes a whole graph (a file with a TRAIN-only data layer)."""
    if phase is not None:
        return NetState(phase)
    states = [NetState(p) for p in reversed(PHASES)]  # TEST first
    for state in states:
        if not graph_of(net, state).problems:
            return state
    return states[0]


# --- SVG for a page ----------------------------------------------------------------------


def _local(tag: str) -> str:
    namespace, brace, local = tag.rpartition("}")
    return local if brace and namespace == "{" + SVG_NS else ""


def embeddable_svg(data: bytes, label: str) -> str:
    """Graphviz's SVG as an ``<svg>`` element for an HTML page: drawing elements and their
    geometry and style only (no scripts, links, ids or comments), text escaped anew, and
    ``label`` as its accessible name."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise SurgeryError(f"dot wrote SVG that cannot be read: {exc}") from None
    if _local(root.tag) != "svg":
        raise SurgeryError("dot wrote something other than SVG")
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in list(root.iter()):
        name = _local(element.tag)
        if name not in _KEPT_ELEMENTS:
            parents[element].remove(element)
            continue
        element.tag = name
        for key in list(element.attrib):
            if key not in _KEPT_ATTRIBUTES:
                del element.attrib[key]
        element.tail = None
        if name not in _TEXT_ELEMENTS:
            element.text = None
    root.set("xmlns", SVG_NS)
    root.set("role", "img")
    root.set("aria-label", label)
    return ElementTree.tostring(root, encoding="unicode")


def _svg(picture: Picture, label: str) -> str:
    return embeddable_svg(render(digraph(picture), "svg"), label)


# --- batch: one picture of the net after the change -------------------------------------


def change_svg(
    before: Net, after: Net, phase: str | None = None, radius: int = PICTURE_CONTEXT
) -> str:
    """``draw AFTER --against BEFORE --context RADIUS`` as an ``<svg>`` element for a page.

    Raises :class:`SurgeryError` when ``dot`` is missing or fails.
    """
    state = picture_state(after, phase)
    diff = diff_nets(before, after, state.phase)
    return _around(after, state, highlights_from(diff), focus_names(diff), radius)


def insert_highlights(before: Net, result: InsertResult) -> tuple[Highlights, set[str]]:
    """What ``draw --against`` would mark after an insert, and the layers it would centre
    on, read from the insert itself: the module, any layers added with it, the consumers
    rewired, and the layer the module follows. Not for ``--upgrade``, whose rewriting of
    the whole net only a diff can tell apart from the insert."""
    point = result.point
    added = result.net.layer_names - before.layer_names
    rewired = {(c.layer.name, c.bottom_index) for c in point.consumers}
    highlights = Highlights(
        added_layers=frozenset(added),
        rewired=frozenset(rewired),
        added_modules=frozenset({result.spec.prefix}),
    )
    around = added | {name for name, _ in rewired}
    if point.after is not None:  # the layer the module (and any reduction in it) follows
        around.add(point.after.name)
    return highlights, around


def inserted_svg(
    before: Net, result: InsertResult, phase: str | None = None, radius: int = PICTURE_CONTEXT
) -> str:
    """:func:`change_svg` for the result of an insert, without diffing the two nets (most
    of the cost of a picture); the picture is the same."""
    state = picture_state(result.net, phase)
    highlights, around = insert_highlights(before, result)
    return _around(result.net, state, highlights, around, radius)


def _around(
    net: Net, state: NetState, highlights: Highlights, around: set[str], radius: int
) -> str:
    picture = build_picture(net, state, highlights)
    title = f"{picture.title}, phase {state.phase}"
    shown = replace(focus(picture, around, radius), title=title)
    return _svg(shown, f"{title}: around the change")


# --- diff: the listing and the places it changed ----------------------------------------

EntryKind = Literal["module", "fragment", "layer", "rewired", "shape"]
EntryChange = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class DiffEntry:
    """One entry of a diff's listing, and the diff of that entry alone."""

    kind: EntryKind
    change: EntryChange
    text: str
    part: NetDiff
    fields: tuple[tuple[str, str, str], ...] = ()  # (field, before, after) of a changed layer

    @property
    def sign(self) -> str:
        return {"added": "+", "removed": "-", "changed": "~"}[self.change]


def _phase_note(phases: tuple[str, ...], compared: tuple[str, ...]) -> str:
    return "" if set(phases) >= set(compared) else f" [{', '.join(phases)}]"


def _values(values: tuple[str, ...]) -> str:
    if not values:
        return "(absent)"
    return values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"


def diff_entries(diff: NetDiff) -> list[DiffEntry]:
    """The listing in ``diff``'s own order: modules, fragments, layers added, removed and
    changed, rewires, then shapes."""
    phases = diff.phases

    def alone(**what: tuple[object, ...]) -> NetDiff:
        return NetDiff(phases=phases, **what)  # type: ignore[arg-type]

    entries: list[DiffEntry] = [_module_entry(m, alone(modules=(m,))) for m in diff.modules]
    entries += [
        DiffEntry("fragment", f.status, f.describe(), alone(fragments=(f,)))
        for f in diff.fragments
    ]
    entries += [DiffEntry("layer", "added", x.describe(), alone(added=(x,))) for x in diff.added]
    entries += [
        DiffEntry("layer", "removed", x.describe(), alone(removed=(x,))) for x in diff.removed
    ]
    entries += [_layer_change_entry(x, alone(changed=(x,))) for x in diff.changed]
    entries += [
        DiffEntry("rewired", "changed", r.describe() + _phase_note(r.phases, phases),
                  alone(rewired=(r,)))
        for r in diff.rewired
    ]
    entries += [
        DiffEntry("shape", "changed", s.describe() + _phase_note(s.phases, phases),
                  alone(shapes=(s,)))
        for s in diff.shapes
    ]
    return entries


def _module_entry(module: ModuleChange, part: NetDiff) -> DiffEntry:
    return DiffEntry("module", module.status, module.describe(), part)


def _layer_change_entry(change: LayerChange, part: NetDiff) -> DiffEntry:
    fields = tuple((f.path, _values(f.before), _values(f.after)) for f in change.fields)
    return DiffEntry("layer", "changed", f"{change.name} ({change.type})", part, fields)


@dataclass(frozen=True)
class Place:
    """Changes close enough to be seen together, and both nets' pictures around them.

    A picture is None when none of these changes is in that net's graph (a layer only the
    other net has, or a phase the picture does not show).
    """

    entries: tuple[int, ...]  # positions in the listing
    before: str | None = None
    after: str | None = None


def _module_title(module: ModuleChange, side: int) -> str | None:
    summary: ModuleSummary | None = module.after if side else module.before
    return None if summary is None else summary.title


def _sources(picture: Picture, part: NetDiff, side: int) -> set[str]:
    """The nodes of ``picture`` (0: the net before, 1: after) that ``part`` is about."""
    names = focus_names(part)
    titles = {t for m in part.modules if (t := _module_title(m, side)) is not None}
    return {
        node.id
        for node in picture.nodes
        if names & set(node.layers)
        or (node.kind == "module" and node.label.split("\n")[0] in titles)
    }


def _counterparts(pictures: Sequence[Picture], others: set[str], side: int) -> set[str]:
    """Where a layer that only the other net has would be in this one: the nodes holding
    its neighbours there."""
    other = pictures[1 - side]
    near = {e.head for e in other.edges if e.tail in others}
    near |= {e.tail for e in other.edges if e.head in others}
    names = {layer for node in other.nodes if node.id in near - others for layer in node.layers}
    return {node.id for node in pictures[side].nodes if names & set(node.layers)}


def _merged(parts: Iterable[NetDiff], phases: tuple[str, ...]) -> NetDiff:
    """One diff holding every entry of ``parts``."""
    kinds = ("added", "removed", "changed", "rewired", "modules", "shapes", "renamed")
    collected: dict[str, list[object]] = {kind: [] for kind in kinds}
    for part in parts:
        for kind in kinds:
            collected[kind] += getattr(part, kind)
    return NetDiff(phases=phases, **{k: tuple(v) for k, v in collected.items()})  # type: ignore[arg-type]


class _Groups:
    """Union-find over listing positions."""

    def __init__(self, members: Iterable[int]) -> None:
        self.parent = {m: m for m in members}

    def find(self, member: int) -> int:
        root = member
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[member] != root:
            self.parent[member], member = root, self.parent[member]
        return root

    def join(self, a: int, b: int) -> None:
        first, second = sorted((self.find(a), self.find(b)))
        self.parent[second] = first


def _places(
    pictures: Sequence[Picture], entries: Sequence[DiffEntry], radius: int
) -> list[tuple[tuple[int, ...], tuple[set[str], set[str]]]]:
    """Entries whose surroundings overlap in either picture, grouped; each group with its
    source nodes on both sides. Entries in neither picture (shapes, other phases) are left
    out."""
    sources: dict[int, tuple[set[str], set[str]]] = {}
    for index, entry in enumerate(entries):
        if entry.kind == "shape":
            continue  # shapes show on the edges of the pictures
        found = (_sources(pictures[0], entry.part, 0), _sources(pictures[1], entry.part, 1))
        if not found[0] and found[1]:
            found = (_counterparts(pictures, found[1], 0), found[1])
        elif found[0] and not found[1]:
            found = (found[0], _counterparts(pictures, found[0], 1))
        if found[0] or found[1]:
            sources[index] = found
    groups = _Groups(sources)
    for side, picture in enumerate(pictures):
        owner: dict[str, int] = {}
        for index, found in sources.items():
            for node in neighbourhood(picture, found[side], radius):
                if node in owner:
                    groups.join(owner[node], index)
                else:
                    owner[node] = index
    members: dict[int, list[int]] = {}
    for index in sources:
        members.setdefault(groups.find(index), []).append(index)
    places = []
    for group in sorted(members.values()):
        before = set().union(*(sources[i][0] for i in group))
        after = set().union(*(sources[i][1] for i in group))
        places.append((tuple(group), (before, after)))
    return places


def _only(picture: Picture, sources: set[str], removed: tuple[str, ...]) -> Picture:
    """``picture`` with only ``sources`` highlighted, and no title (the page gives it)."""
    nodes = tuple(n if n.id in sources else replace(n, status="same") for n in picture.nodes)
    edges = tuple(e if e.head in sources else replace(e, rewired=False) for e in picture.edges)
    return Picture("", nodes, edges, removed)


def place_pictures(
    before: Net,
    after: Net,
    diff: NetDiff,
    entries: Sequence[DiffEntry],
    state: NetState,
    radius: int = PICTURE_CONTEXT,
    limit: int = MAX_PLACES,
) -> tuple[list[Place], int]:
    """The places ``diff`` changed, in listing order, with both nets' pictures (in
    ``state``) around each of the first ``limit``; and how many places were found in all.

    Raises :class:`SurgeryError` when ``dot`` is missing or fails.
    """
    pictures = (
        build_picture(before, state, before_highlights(diff)),
        build_picture(after, state, highlights_from(diff)),
    )
    found = _places(pictures, entries, radius)
    places: list[Place] = []
    for number, (members, sources) in enumerate(found[:limit], start=1):
        part = _merged((entries[i].part for i in members), diff.phases)
        svgs: list[str | None] = []
        for side, picture in enumerate(pictures):
            if not sources[side]:
                svgs.append(None)
                continue
            removed = highlights_from(part).removed if side else ()
            around = {name for n in picture.nodes if n.id in sources[side] for name in n.layers}
            shown = focus(_only(picture, sources[side], removed), around, radius)
            which = "after" if side else "before"
            svgs.append(_svg(shown, f"{which}: place {number}, phase {state.phase}"))
        places.append(Place(members, svgs[0], svgs[1]))
    return places, len(found)


@dataclass(frozen=True)
class DiffView:
    """What ``diff --html`` shows: the listing, and the pictures of the places changed."""

    before: str  # the nets' names, as given
    after: str
    diff: NetDiff
    entries: tuple[DiffEntry, ...]
    places: tuple[Place, ...] = ()
    places_found: int = 0
    phase: str = "TEST"
    context: int = PICTURE_CONTEXT
    pictures_note: str | None = None  # why there are no pictures, when there are none


def diff_view(
    names: tuple[str, str], nets: tuple[Net, Net], diff: NetDiff, phase: str | None
) -> DiffView:
    """The page's content for ``diff``; without ``dot`` (or when it fails) the listing
    alone, with a note saying why."""
    entries = tuple(diff_entries(diff))
    state = picture_state(nets[1], phase)
    view = DiffView(names[0], names[1], diff, entries, phase=state.phase)
    if not entries:
        return view
    missing = missing_dot_note()
    if missing is not None:
        return replace(view, pictures_note=missing)
    try:
        places, found = place_pictures(nets[0], nets[1], diff, entries, state)
    except SurgeryError as exc:
        return replace(view, pictures_note=f"no pictures: {exc}")
    return replace(view, places=tuple(places), places_found=found)
