"""Where a module goes: resolve ``--after NAME`` to a blob and the end of its in-place chain.

Caffe binds a bottom to the latest version of a blob produced earlier in
file order, and in-place layers (ReLU, BatchNorm, Scale, ...) make new
versions.  The module must read the *final* version, so it is written right
after the last in-place layer on the blob, and exactly the consumers of that
final version, in every phase, are rewired to the module's output.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.graph import BlobVersion, LayerGraph
from ..core.net import Layer, Net
from ..errors import SurgeryError


@dataclass(frozen=True)
class Consumer:
    """One bottom that reads the blob the module replaces."""

    layer: Layer
    bottom_index: int


@dataclass(frozen=True)
class InsertionPoint:
    blob: str
    consumers: tuple[Consumer, ...]
    chain: tuple[Layer, ...]  # producer then in-place layers, file order, all phases
    # Phases without the blob: the module has no include rules, so it has no input there.
    missing_phases: tuple[str, ...] = ()
    labels: dict[Layer, str] = field(default_factory=dict, compare=False, repr=False)

    def label(self, layer: Layer) -> str:
        return self.labels.get(layer) or layer.name

    @property
    def after(self) -> Layer | None:
        """The layer the module follows; None for a top-level input (the module goes first)."""
        return self.chain[-1] if self.chain else None

    def describe(self, what: str = "module", rewiring: bool = True) -> str:
        """Where ``what`` goes, and (``rewiring``) which layers will read its output."""
        where = f"after '{self.label(self.after)}'" if self.after else "before the first layer"
        chain = chain_text([self.label(layer) for layer in self.chain])
        placed = f"blob '{self.blob}' ({chain or 'net input'}), {what} {where}"
        if not rewiring:
            return placed
        rewired = ", ".join(sorted({self.label(c.layer) for c in self.consumers})) or "nothing"
        return f"{placed}; rewires {rewired}"


CHAIN_ENDS = 3  # layers shown at each end of a long in-place chain


def chain_text(labels: Sequence[str]) -> str:
    """An in-place chain as ``a -> b -> c``; a long one (thousands of layers in a
    generated net) as its first and last few and how many are between, on one short line."""
    hidden = len(labels) - 2 * CHAIN_ENDS
    if hidden <= 1:
        return " -> ".join(labels)
    return " -> ".join([*labels[:CHAIN_ENDS], f"({hidden} more)", *labels[-CHAIN_ENDS:]])


def closest_names(name: str, candidates: Sequence[str] | set[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(name, sorted(candidates), n=n, cutoff=0.5)


def resolve_blob(net: Net, name: str) -> tuple[str, tuple[Layer, ...]]:
    """The blob ``name`` refers to (a layer's top or a blob), and the layers so named.

    A name that is a layer's whose output is another blob, and a blob too, is refused:
    picking one without a word could put the module where nobody asked."""
    named = tuple(layer for layer in net.layers if layer.name == name)
    tops = {t for layer in named for t in layer.tops}
    if named and name not in tops and name in net.blob_names and tops:
        raise _ambiguous(net, name, named, sorted(tops))
    if named:
        if name in tops or len(tops) == 1:
            return (name if name in tops else tops.pop()), named
        if not tops:
            if name in net.blob_names:
                return name, ()
            raise SurgeryError(f"{net.source}: layer '{name}' has no top blob to attach to")
        listed = ", ".join(sorted(tops))
        raise SurgeryError(
            f"{net.source}: layer '{name}' has several tops ({listed}); name the blob instead"
        )
    if name in net.blob_names:
        return name, ()
    suggestions = closest_names(name, net.layer_names | net.blob_names)
    hint = f"; closest: {', '.join(suggestions)}" if suggestions else ""
    raise SurgeryError(f"{net.source}: no layer or blob named '{name}'{hint}")


def _meanings(net: Net, name: str) -> set[str]:
    """Every blob ``--after name`` could mean."""
    tops = {t for layer in net.layers if layer.name == name for t in layer.tops}
    meant = {name} if name in tops else tops
    return meant | ({name} if name in net.blob_names else set())


def _spelling(net: Net, blob: str, candidates: Sequence[str]) -> str | None:
    """The first candidate that means ``blob`` and nothing else."""
    return next((c for c in candidates if c and _meanings(net, c) == {blob}), None)


def _ambiguous(
    net: Net, name: str, named: Sequence[Layer], tops: Sequence[str]
) -> SurgeryError:
    writers = [layer for layer in net.layers if name in layer.tops]
    layers = " and ".join(net.describe(layer) for layer in named)
    outputs = ", ".join(f"'{top}'" for top in tops)
    written = (
        f"written by {net.describe(writers[0])}" if writers else "one of the net's inputs"
    )
    ways = []
    for top in tops:
        spelled = _spelling(net, top, [top])
        if spelled is not None:
            ways.append(f"--after {spelled} for the output of layer '{name}'")
    spelled = _spelling(net, name, [layer.name for layer in writers])
    if spelled is not None:
        ways.append(f"--after {spelled} for blob '{name}'")
    advice = "; ".join(ways) if ways else "rename the layer or the blob to tell them apart"
    return SurgeryError(
        f"{net.source}: --after {name} is ambiguous: it names {layers}, whose output is"
        f" blob {outputs}, and blob '{name}', {written}; say which: {advice}"
    )


def _start_version(graph: LayerGraph, blob: str, named: tuple[Layer, ...]) -> BlobVersion | None:
    for layer in named:
        if layer in graph.graph:
            for t_index, top in enumerate(layer.tops):
                if top == blob:
                    return graph.top(layer, t_index)
    versions = graph.versions(blob)
    return versions[0] if versions else None


def _chain_in_phase(
    graph: LayerGraph, blob: str, named: tuple[Layer, ...]
) -> list[BlobVersion] | None:
    start = _start_version(graph, blob, named)
    if start is None:
        return None
    final = graph.latest[blob]
    return [BlobVersion(blob, v) for v in range(start.version, final.version + 1)]


def find_insertion_point(
    net: Net, graphs: Sequence[LayerGraph], name: str, *, as_blob: bool = False
) -> InsertionPoint:
    """Resolve NAME (layer or blob; a blob only, with ``as_blob``, as for a point chosen
    automatically) to the final version of its blob in every phase."""
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")
    blob, named = (name, ()) if as_blob else resolve_blob(net, name)
    chain_layers: set[Layer] = set()
    consumers: dict[tuple[Layer, int], Consumer] = {}
    missing: list[str] = []
    for graph in graphs:
        versions = _chain_in_phase(graph, blob, named)
        if versions is None:
            missing.append(graph.state.phase)
            continue
        chain_layers.update(p for v in versions if (p := graph.producer(v)) is not None)
        for layer, b_index in graph.consumers(versions[-1]):
            consumers[(layer, b_index)] = Consumer(layer, b_index)
    if len(missing) == len(graphs):
        raise SurgeryError(f"{net.source}: blob '{blob}' is not produced in any phase")
    chain = tuple(sorted(chain_layers, key=net.index_of))
    ordered = tuple(
        sorted(consumers.values(), key=lambda c: (net.index_of(c.layer), c.bottom_index))
    )
    labels = {x: net.label(x) for x in (*chain, *(c.layer for c in ordered))}
    point = InsertionPoint(blob, ordered, chain, tuple(missing), labels)
    _refuse_early_consumers(net, point)
    return point


def _refuse_early_consumers(net: Net, point: InsertionPoint) -> None:
    """A final-version consumer above the insertion point cannot read the module's output."""
    if point.after is None:
        return
    after = net.index_of(point.after)
    for consumer in point.consumers:
        if net.index_of(consumer.layer) <= after:
            raise SurgeryError(
                f"{net.describe(consumer.layer)} reads '{point.blob}' before the end of its"
                f" in-place chain at '{net.label(point.after)}' in another phase;"
                " cannot insert there"
            )
        if consumer.layer.tops[consumer.bottom_index : consumer.bottom_index + 1] == (point.blob,):
            raise SurgeryError(
                f"{net.describe(consumer.layer)} works in place on '{point.blob}' after the"
                " insertion point; insert after it instead"
            )
