"""The layer DAG of one phase, with blob versions, as Caffe's ``Net::Init`` builds it.

* A layer takes part in a phase according to its include/exclude rules
  (Caffe's ``StateMeetsRule``).
* Every top makes a new *version* of its blob; an in-place layer
  (top[i] == bottom[i]) therefore turns version n into n+1.
* A bottom binds to the latest version produced earlier in file order.

Nodes are layer indices (top-level inputs get negative ids); an edge
``producer -> consumer`` carries ``blob``, ``version`` and ``bottom_index``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from .net import Layer, Net, StateRule

PHASES = ("TRAIN", "TEST")


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


@dataclass(frozen=True)
class BlobVersion:
    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Problem:
    """A violation of Caffe's wiring rules found while building the graph."""

    layer: Layer
    message: str


@dataclass
class LayerGraph:
    """One phase's view of a net: which layers run and how blobs flow between them."""

    net: Net
    state: NetState
    graph: nx.MultiDiGraph
    layers: list[Layer]
    producer: dict[BlobVersion, int] = field(default_factory=dict)
    consumers: dict[BlobVersion, list[tuple[int, int]]] = field(default_factory=dict)
    bottom_binding: dict[tuple[int, int], BlobVersion] = field(default_factory=dict)
    top_version: dict[tuple[int, int], BlobVersion] = field(default_factory=dict)
    latest: dict[str, BlobVersion] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def layer(self, node: int) -> Layer:
        return self.net.layers[node]

    def outputs(self) -> list[BlobVersion]:
        """Final versions nobody consumes: the net's outputs, as Caffe reports them."""
        return [v for v in self.latest.values() if not self.consumers.get(v)]

    def versions(self, name: str) -> list[BlobVersion]:
        last = self.latest.get(name)
        return [] if last is None else [BlobVersion(name, i) for i in range(last.version + 1)]


def build_graph(net: Net, state: NetState | None = None) -> LayerGraph:
    """The DAG of the layers that run in ``state`` (TEST by default, as in Caffe)."""
    state = with_declared_state(net, state or NetState())
    g = nx.MultiDiGraph()
    included = [layer for layer in net.layers if layer_included(layer, state)]
    lg = LayerGraph(net, state, g, included)

    for i, net_input in enumerate(net.inputs):
        node = -(i + 1)
        g.add_node(node, input=net_input.name)
        _produce(lg, net_input.name, node)

    for layer in included:
        g.add_node(layer.index, layer=layer)
        for b_index, name in enumerate(layer.bottoms):
            version = lg.latest.get(name)
            if version is None:
                lg.problems.append(
                    Problem(layer, f"bottom '{name}' is not produced by any earlier layer")
                )
                continue
            lg.bottom_binding[(layer.index, b_index)] = version
            lg.consumers.setdefault(version, []).append((layer.index, b_index))
            g.add_edge(
                lg.producer[version],
                layer.index,
                blob=name,
                version=version.version,
                bottom_index=b_index,
            )
        bottoms = layer.bottoms
        for t_index, name in enumerate(layer.tops):
            in_place = t_index < len(bottoms) and bottoms[t_index] == name
            if name in lg.latest and not in_place:
                lg.problems.append(
                    Problem(layer, f"top '{name}' is already produced by an earlier layer")
                )
            lg.top_version[(layer.index, t_index)] = _produce(lg, name, layer.index)
    return lg


def _produce(lg: LayerGraph, name: str, node: int) -> BlobVersion:
    previous = lg.latest.get(name)
    version = BlobVersion(name, 0 if previous is None else previous.version + 1)
    lg.latest[name] = version
    lg.producer[version] = node
    return version


def phase_states(net: Net) -> list[NetState]:
    """The states worth checking: TRAIN and TEST when rules tell them apart, else TEST."""
    if any(layer.include or layer.exclude for layer in net.layers):
        return [NetState(phase) for phase in PHASES]
    return [NetState()]


def build_graphs(net: Net, states: Iterable[NetState] | None = None) -> list[LayerGraph]:
    return [build_graph(net, s) for s in (phase_states(net) if states is None else states)]
