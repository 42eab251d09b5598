"""Splice FRAGMENT (a prototxt of layers) into MODEL ('-' reads stdin).

The fragment's inputs (blobs it reads but does not write) read the net's blobs; its
output is read by every layer that read the blob it follows, in every phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..analysis.forkrules import ruled
from ..analysis.geometry import PhaseShapes
from ..analysis.verify import Checks, check_fitted
from ..core.graph import LayerGraph, build_graphs
from ..core.net import Layer, Net
from ..errors import SurgeryError, UsageError
from ..options import SpliceOptions
from ..passes.anchor import InsertionPoint, find_insertion_point, resolve_blob
from ..passes.fragment import (
    Fragment,
    fragment_names,
    read_fragment,
    refuse_unwritable_in_v1,
    renamed,
)
from ..passes.splice import choose_prefix, existing_names
from ..passes.splice import splice as splice_layers
from ..runtime import paused_gc
from ..schema.select import descriptor_of, schema_for_net
from . import VerbSpec
from .common import (
    automatic_point,
    refuse_shape_errors,
    refuse_v0,
    rules_first,
    working_phase,
)


@dataclass
class SpliceResult:
    """The new net, the fragment's layers in it, and what was decided on the way."""

    net: Net
    point: InsertionPoint
    output: str | None  # the blob the rewired layers now read (None: spliced as a branch)
    prefix: str
    added: list[Layer]
    notes: list[str]
    fragment_source: str = ""

    @property
    def done(self) -> str:
        where = self.point.describe("fragment", rewiring=self.output is not None)
        reads = f"they read '{self.output}'" if self.output else "a branch, rewiring nothing"
        return f"spliced {len(self.added)} layers from {self.fragment_source} at {where}; {reads}"


def splice(net: Net, fragment: Net, options: SpliceOptions) -> SpliceResult:
    """Splice ``fragment`` (a net of layers only) into ``net``.

    Its inputs (the blobs it reads before writing them) read the net's blobs: with one
    input, the final version of ``options.after`` (or of the point insert would choose);
    with several, each as ``options.binds`` says. Its output (its one unconsumed top, or
    ``options.output``) is read by every layer that read that version, in every phase,
    unless ``options.branch``. Colliding names get a prefix. ``net`` is not changed.
    """
    with paused_gc():
        return _splice(net, fragment, options)


def _splice(net: Net, fragment_net: Net, options: SpliceOptions) -> SpliceResult:
    net = ruled(net, options.shape_rules)
    refuse_v0(net, "splice into it")
    fragment = read_fragment(fragment_net)
    if not fragment.inputs and not options.branch:
        # Its output would replace the net's data at the point, and the point's own
        # output would feed nothing: the net's data path cut, with exit 0.
        raise SurgeryError(
            f"{fragment.source}: the fragment reads none of the net's blobs (every blob it"
            " reads, its own layers write), so splicing it would cut the net's data path;"
            " a fragment must read the blob it follows (add it beside the net with --branch)"
        )
    work = net.copy()
    graphs = build_graphs(work)
    notes: list[str] = []
    phase = working_phase(work, graphs, options.phase, notes)
    broken = {g.state.phase for g in graphs if g.problems}
    shapes = PhaseShapes(work, graphs, options.shapes)
    refuse_shape_errors(shapes, phase)
    binds = _checked_binds(work, fragment, options.binds)
    after = options.after
    unbound = [blob for blob in fragment.inputs if blob not in binds]
    if len(unbound) > 1:
        listed = ", ".join(unbound)
        raise SurgeryError(
            f"{fragment.source}: the fragment reads {len(unbound)} blobs the net must give"
            f" ({listed}); bind each with --bind FRAG_BLOB=NET_BLOB"
        )
    if after is None and not unbound and len(set(binds.values())) > 1:
        raise SurgeryError(
            "the fragment reads several of the net's blobs; say with --after which one's"
            " consumers read its output"
        )
    if after is None and not unbound and binds:
        after = next(iter(binds.values()))
    if after is None:
        with rules_first(shapes, phase):
            after, _ = automatic_point(shapes, phase, notes)
    del shapes  # the input's shapes; the result is inferred again (per layer, memoized)
    point = find_insertion_point(work, graphs, after, as_blob=not options.after)
    if unbound:
        binds[unbound[0]] = point.blob
    elif options.after is not None and not options.branch:
        notes += _unread_after(options, point.blob, binds)
    anchor = _splice_anchor(work, graphs, point, binds)
    output = _fragment_output(fragment, options)
    _refuse_loss_output(fragment, output, point.blob)
    prefix = choose_prefix(
        fragment_names(fragment), existing_names(work), options.prefix, notes=notes
    )
    if work.output_format == "v1":  # refused now, not when the text is written
        v1_layer = schema_for_net(work, options.proto).v1_layer
        refuse_unwritable_in_v1(fragment, descriptor_of(v1_layer).fields_by_name)
    fragment = renamed(fragment, prefix, binds)
    rewired_to = None if output is None else prefix + output
    splice_layers(work, fragment.layers, point, rewired_to, anchor)
    checks = Checks(phase, options.shapes, options.proto, broken, "the spliced fragment")
    notes += check_fitted(net, work, checks, point)
    added = list(fragment.layers)
    return SpliceResult(work, point, rewired_to, prefix, added, notes, fragment_net.source)


def _checked_binds(net: Net, fragment: Fragment, binds: Mapping[str, str]) -> dict[str, str]:
    """Each fragment input with the net blob it reads: a layer's name means the blob it
    writes, as for --after; an unknown name gets the closest ones."""
    resolved: dict[str, str] = {}
    for fragment_blob, net_blob in binds.items():
        if fragment_blob not in fragment.inputs:
            reads = ", ".join(fragment.inputs) or "nothing from the net"
            raise SurgeryError(
                f"--bind {fragment_blob}={net_blob}: the fragment does not read"
                f" '{fragment_blob}' from the net (it reads {reads})"
            )
        resolved[fragment_blob] = resolve_blob(net, net_blob)[0]
    return resolved


def _unread_after(options: SpliceOptions, blob: str, binds: Mapping[str, str]) -> list[str]:
    """--after names where the fragment's output goes, --bind what it reads: when the
    fragment reads none of the --after blob, its readers would get what it makes of another
    blob (``--after pool5 --bind x=conv5``: fc6 fed a 13x13 map), which a user mixing the
    two up would not see. That takes --replace, and is said."""
    if blob in binds.values():
        return []
    reads = ", ".join(f"'{name}'" for name in sorted(set(binds.values())))
    if options.replace:
        return [f"the fragment reads {reads}; the readers of '{blob}' read its output (--replace)"]
    given = " ".join(f"--bind {frag}={net}" for frag, net in options.binds.items())
    raise SurgeryError(
        f"--after {options.after} names the blob whose readers read the fragment's output,"
        f" but {given} makes the fragment read {reads}, not '{blob}'; bind its input to"
        f" '{blob}' (or drop --bind), or give --replace to feed the readers of '{blob}' what"
        f" the fragment makes of {reads}"
    )


def _splice_anchor(
    net: Net, graphs: Sequence[LayerGraph], point: InsertionPoint, binds: Mapping[str, str]
) -> Layer | None:
    """The layer the fragment follows: after the final version of every blob it reads."""
    ends = [point.after]
    ends += [
        find_insertion_point(net, graphs, blob, as_blob=True).after for blob in set(binds.values())
    ]
    known = [layer for layer in ends if layer is not None]
    anchor = max(known, key=net.index_of) if known else None
    if anchor is not None:
        position = net.index_of(anchor)
        early = [c.layer for c in point.consumers if net.index_of(c.layer) <= position]
        if early:
            raise SurgeryError(
                f"{net.describe(early[0])} reads '{point.blob}' before '{net.label(anchor)}',"
                " which the fragment must follow to read every blob it needs; cannot splice"
                " there"
            )
    return anchor


def _refuse_loss_output(fragment: Fragment, output: str | None, blob: str) -> None:
    """A loss writes a scalar: the layers that read the point's blob cannot read it, and
    the check of the result would only name one of them (its axis, say), not the cause."""
    writers = [layer for layer in fragment.layers if output is not None and output in layer.tops]
    if not writers or not writers[-1].type.endswith("Loss"):
        return
    loss = writers[-1]
    raise SurgeryError(
        f"{fragment.source}: the fragment's output '{output}' is written by loss layer"
        f" '{loss.name}' ({loss.type}), a scalar the layers reading '{blob}' cannot read;"
        " name the feature map they should read with --fragment-output, or add the"
        " fragment beside the net with --branch"
    )


def _fragment_output(fragment: Fragment, options: SpliceOptions) -> str | None:
    """The fragment blob the rewired layers read; None for a branch."""
    if options.output is not None:
        written = {top for layer in fragment.layers for top in layer.tops}
        if options.output not in written:
            raise SurgeryError(
                f"--fragment-output {options.output}: the fragment writes no blob of that name"
                f" (its outputs: {', '.join(fragment.outputs) or 'none'})"
            )
        if options.branch:
            raise UsageError(
                "--fragment-output names what rewired layers read; --branch rewires nothing"
            )
        return options.output
    if options.branch:
        return None
    if len(fragment.outputs) != 1:
        listed = ", ".join(fragment.outputs) or "none"
        raise SurgeryError(
            f"{fragment.source}: the fragment has {len(fragment.outputs)} outputs ({listed});"
            " name the one the net reads with --fragment-output, or splice it beside the net"
            " with --branch"
        )
    return fragment.outputs[0]


def _report(result: SpliceResult) -> dict[str, Any]:
    return {"insertion_point": result.point.describe("fragment", result.output is not None)}


VERB = VerbSpec("splice", splice, report=_report)
