"""The layer DAG of one phase, with blob versions, as Caffe's ``Net::Init`` builds it.

* A layer takes part in a phase according to its include/exclude rules
  (Caffe's ``StateMeetsRule``).
* Every top makes a new *version* of its blob; an in-place layer
  (top[i] == bottom[i]) therefore turns version n into n+1.
* A bottom binds to the latest version produced earlier in file order.

The graph is a ``networkx.DiGraph`` with two kinds of node: :class:`~scnn_surgery.core.net.Layer`
objects and :class:`BlobVersion` s. An edge ``version -> layer`` is a bottom, ``layer ->
version`` a top; a layer node's ``bottoms`` and ``tops`` attributes list its versions by
position (``None`` for a bottom nothing produced). Top-level inputs are versions without a
producer, with an ``input`` attribute. Caffe's binding rule lives in one place,
:func:`bind_bottoms` (with :func:`write_tops`), which :func:`build_graph` and the edits
of :mod:`scnn_surgery.core.ops` both apply; every question about wiring is answered from this
graph.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Any, NamedTuple

import networkx as nx

from ..errors import SurgeryError
from ..options import PHASES as PHASES
from .net import Layer, Net, NetInput, StateRule


@dataclass(frozen=True)
class NetState:
    """Caffe's ``NetState``: the phase, level and stages a net is built for."""

    phase: str = "TEST"
    level: int = 0
    stages: frozenset[str] = frozenset()


def with_declared_state(net: Net, state: NetState) -> NetState:
    """The state Caffe builds ``net`` in: the file's own ``state {}`` adds its stages and,
    unless the caller chose a level, gives the level (as the solver merges them)."""
    declared = net.declared_state
    if not declared.stages and declared.level is None:
        return state
    level = state.level if state.level or declared.level is None else declared.level
    return NetState(state.phase, level, state.stages | frozenset(declared.stages))


def rule_met(rule: StateRule, state: NetState) -> bool:
    if rule.phase is not None and rule.phase != state.phase:
        return False
    if rule.min_level is not None and state.level < rule.min_level:
        return False
    if rule.max_level is not None and state.level > rule.max_level:
        return False
    if any(stage not in state.stages for stage in rule.stages):
        return False
    return not any(stage in state.stages for stage in rule.not_stages)


def layer_included(layer: Layer, state: NetState) -> bool:
    """Caffe's ``FilterNet``: include rules win when present, else exclude rules."""
    if layer.include:
        return any(rule_met(r, state) for r in layer.include)
    return not any(rule_met(r, state) for r in layer.exclude)


class BlobVersion(NamedTuple):
    """One version of a blob: version n+1 is what an in-place layer makes of version n."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Problem:
    """A violation of Caffe's wiring rules found while building the graph."""

    layer: Layer
    message: str


Node = Layer | BlobVersion


@dataclass(eq=False)
class LayerGraph:
    """One phase's view of a net: which layers run and how blobs flow between them."""

    owner: InitVar[Net]
    state: NetState
    graph: nx.DiGraph
    layers: list[Layer]  # the layers of this phase, in file order
    latest: dict[str, BlobVersion] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _net: Callable[[], Net | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self, owner: Net) -> None:
        self._net = lambda: owner

    @property
    def net(self) -> Net:
        net = self._net()
        if net is None:
            raise SurgeryError(
                "this graph's net is gone (a net's graphs refer to it weakly); keep a"
                " reference to the net while its graph is in use"
            )
        return net

    def cache_in(self, net: Net, key: object) -> None:
        """Keep this graph in ``net``'s caches without a reference cycle, so that a net
        nobody refers to is freed at once, by reference counting: its graph refers back
        to it weakly, and the networkx graph (whose views refer to it, a cycle of its own)
        is emptied when this graph goes, letting go of the layers and through them the
        text. Otherwise each net waited for the cyclic collector, which then walked
        every object of every net still waiting."""
        self._net = weakref.ref(net)
        weakref.finalize(self, self.graph.clear)
        net.caches[key] = self

    # -- the questions every analysis asks, answered from the graph

    def bottoms(self, layer: Layer) -> list[BlobVersion | None]:
        """The version each bottom reads (None: nothing earlier produces it)."""
        return list(self.graph.nodes[layer]["bottoms"])

    def bottom(self, layer: Layer, index: int) -> BlobVersion | None:
        versions: list[BlobVersion | None] = self.graph.nodes[layer]["bottoms"]
        return versions[index] if index < len(versions) else None

    def tops(self, layer: Layer) -> list[BlobVersion]:
        return list(self.graph.nodes[layer]["tops"])

    def top(self, layer: Layer, index: int) -> BlobVersion | None:
        versions: list[BlobVersion] = self.graph.nodes[layer]["tops"]
        return versions[index] if index < len(versions) else None

    def position(self, version: BlobVersion) -> tuple[int, int]:
        """Where a version is made: its producer's place in the file (-1 for an input),
        then its version; later positions sort after earlier ones."""
        producer = self.producer(version)
        return (-1 if producer is None else self.net.index_of(producer), version.version)

    def producer(self, version: BlobVersion) -> Layer | None:
        """The layer that wrote this version; None for a top-level input."""
        for node in self.graph.pred[version]:
            return node  # type: ignore[no-any-return]
        return None

    def net_input(self, version: BlobVersion) -> NetInput | None:
        value: NetInput | None = self.graph.nodes[version].get("input")
        return value

    def consumers(self, version: BlobVersion) -> list[tuple[Layer, int]]:
        """(layer, bottom index) of every bottom that reads this version, in file order."""
        found = [
            (layer, i)
            for layer in self.graph.succ[version]
            for i, bound in enumerate(self.graph.nodes[layer]["bottoms"])
            if bound == version
        ]
        if len(found) > 1:
            found.sort(key=lambda item: (self.net.index_of(item[0]), item[1]))
        return found

    def outputs(self) -> list[BlobVersion]:
        """Final versions nobody consumes: the net's outputs, as Caffe reports them."""
        return [v for v in self.latest.values() if not self.graph.succ[v]]

    def versions(self, name: str) -> list[BlobVersion]:
        last = self.latest.get(name)
        return [] if last is None else [BlobVersion(name, i) for i in range(last.version + 1)]

    def version_before(self, name: str, position: int) -> BlobVersion | None:
        """The version a bottom at file position ``position`` binds to (Caffe's rule)."""
        for version in reversed(self.versions(name)):
            producer = self.producer(version)
            if producer is None or self.net.index_of(producer) < position:
                return version
        return None

    def blob_versions(self) -> Iterator[BlobVersion]:
        return (node for node in self.graph if isinstance(node, BlobVersion))


def bind_bottoms(
    layer: Layer,
    version_of: Callable[[str], BlobVersion | None],
    problems: list[Problem],
) -> list[BlobVersion | None]:
    """Caffe's binding rule, the one place it is applied: each bottom reads the latest
    version of its blob written before the layer, which ``version_of`` names (while
    building, the latest so far; in a built graph, :meth:`LayerGraph.version_before`).
    A bottom nothing wrote is a problem."""
    bound: list[BlobVersion | None] = []
    for name in layer.bottoms:
        version = version_of(name)
        bound.append(version)
        if version is None:
            problems.append(Problem(layer, f"bottom '{name}' is not produced by any earlier layer"))
    return bound


def write_tops(
    layer: Layer, latest: dict[str, BlobVersion], problems: list[Problem]
) -> list[BlobVersion]:
    """Each top makes the next version of its blob (``latest`` is updated); writing a blob
    an earlier layer wrote is a problem unless in place (top i is bottom i)."""
    made: list[BlobVersion] = []
    for index, name in enumerate(layer.tops):
        in_place = index < len(layer.bottoms) and layer.bottoms[index] == name
        if name in latest and not in_place:
            problems.append(Problem(layer, f"top '{name}' is already produced by an earlier layer"))
        made.append(_next_version(latest, name))
    return made


def build_graph(net: Net, state: NetState | None = None) -> LayerGraph:
    """The DAG of the layers that run in ``state`` (TEST by default, as in Caffe)."""
    state = with_declared_state(net, state or NetState())
    included = [layer for layer in net.layers if layer_included(layer, state)]
    lg = LayerGraph(net, state, nx.DiGraph(), included)
    nodes: list[tuple[Node, dict[str, Any]]] = []
    edges: list[tuple[Node, Node]] = []
    latest = lg.latest
    for net_input in net.inputs:
        nodes.append((_next_version(latest, net_input.name), {"input": net_input}))
    for layer in included:
        bound = bind_bottoms(layer, latest.get, lg.problems)
        made = write_tops(layer, latest, lg.problems)
        edges += [(bottom, layer) for bottom in bound if bottom is not None]
        edges += [(layer, version) for version in made]
        nodes.append((layer, {"bottoms": bound, "tops": made}))
    lg.graph.add_nodes_from(nodes)
    lg.graph.add_edges_from(edges)
    return lg


def _next_version(latest: dict[str, BlobVersion], name: str) -> BlobVersion:
    previous = latest.get(name)
    version = BlobVersion(name, 0 if previous is None else previous.version + 1)
    latest[name] = version
    return version


def phase_states(net: Net) -> list[NetState]:
    """The states worth checking: TRAIN and TEST when rules tell them apart, else TEST."""
    if any(layer.include or layer.exclude for layer in net.layers):
        return [NetState(phase) for phase in PHASES]
    return [NetState()]


def graph_of(net: Net, state: NetState | None = None) -> LayerGraph:
    """The net's graph for ``state``, built once and kept up to date by the edits in
    :mod:`scnn_surgery.core.ops`."""
    key = ("graph", state or NetState())
    graph: LayerGraph | None = net.caches.get(key)
    if graph is None:
        graph = build_graph(net, state)
        graph.cache_in(net, key)
    return graph


def build_graphs(net: Net, states: Iterable[NetState] | None = None) -> list[LayerGraph]:
    """The net's graph for each state (by default each phase its rules tell apart)."""
    return [graph_of(net, s) for s in (phase_states(net) if states is None else states)]


def cached_graphs(net: Net) -> list[LayerGraph]:
    """The graphs built so far, which an edit must update."""
    return [g for key, g in net.caches.items() if isinstance(key, tuple) and key[0] == "graph"]


def selected_states(nets: Sequence[Net], phases: Sequence[str] | None) -> list[NetState]:
    """The states a phase selection means: each phase given (TRAIN, TEST, once each), or by
    default the states worth looking at in any of ``nets`` (TRAIN and TEST when their
    include/exclude rules tell them apart, else TEST)."""
    if phases is not None:
        unknown = [p for p in phases if p not in PHASES]
        if unknown:
            raise SurgeryError(f"unknown phase '{unknown[0]}'; use TRAIN or TEST")
        return [NetState(p) for p in dict.fromkeys(phases)]
    states: list[NetState] = []
    for net in nets:
        states.extend(s for s in phase_states(net) if s not in states)
    return states
