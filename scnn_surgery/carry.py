"""The caffemodel that goes with a net after surgery, checked the way Caffe will load it.

:mod:`weights` makes and carries blobs; :mod:`check` reads them; this module, above both,
puts them together for a command that writes a net and its weights. Every verb uses
:func:`stage_weights` (or, to write it elsewhere, :func:`carried_caffemodel`) with the
:class:`Carry` of its change: which layers it added, took out and renamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from .analysis.check import check_net, errors_of
from .analysis.shapes import ShapeOverrides
from .core.net import Net
from .errors import SurgeryError
from .files import OutputFiles
from .schema.select import schema_for_net
from .scnn import ScnnSpec, estimate_module
from .weights import (
    Caffemodel,
    WeightsResult,
    carry_over,
    check_caffemodel_size,
    initial_weights,
    read_caffemodel,
    rename_entries,
    restate_legacy_dims,
)


def weights_for_net(
    net: Net,
    source: Caffemodel | None,
    *,
    added: Iterable[str] = (),
    removed: Iterable[str] = (),
    renamed: Mapping[str, str] | None = None,
    spec: ScnnSpec | None = None,
    seed: int = 0,
    shapes: ShapeOverrides | None = None,
    phase: str | None = None,
    proto: str | None = None,
    destination: str = "the new caffemodel",
) -> WeightsResult:
    """The caffemodel to go with ``net`` after any verb, checked the way Caffe will load it:
    ``source``'s layers by name, less the ``removed`` layers' (when no layer of that name is
    left), plus the ``added`` layers' blobs from their fillers (``spec``: the SCNN module
    among them, so its kernels are sized even where the net's shapes are not), the
    ``renamed`` layers' (old -> new name) under their new names; without a
    source, everything from fillers. Only the weights rules decide here; the verb has
    checked the net itself. A new caffemodel uses ``proto`` (the user's caffe.proto), else
    the net's guessed dialect; a source keeps the schema it was read with, and its format
    (V1 stays V1). ``destination`` names it in messages."""
    if source is None:
        schema = schema_for_net(net, proto)
        made = initial_weights(net, seed, spec, shapes, phase, schema, destination)
        made.notes.insert(
            0,
            f"warning: no --weights, so {destination} holds the fillers' values: it is for"
            " structure only (trying a deployment), not for inference",
        )
    else:
        rename_entries(source, renamed or {})
        made = carry_over(net, source, added, spec, seed, shapes, phase, destination, removed)
    phases = [phase] if phase else None
    # Blobs that would not load came from the source (the added ones are made to fit):
    # the messages name the file the user gave, not the one not written.
    named = made.model if source is None else Caffemodel(made.model.message, source.source)
    found = check_net(net, phases=phases, weights=named, shapes=shapes, proto=proto)
    errors = [f for f in errors_of(found) if f.rule.startswith("weights-")]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SurgeryError(
            f"the weights would not load: {errors[0].format(net.source)}{more}; nothing was written"
        )
    return made


class Carry(NamedTuple):
    """What the caffemodel needs to know of the verb's change (see :func:`carried_caffemodel`)."""

    added: Iterable[str] = ()
    removed: Iterable[str] = ()
    renamed: Mapping[str, str] | None = None
    # Changes the source caffemodel's values first (a verb that computes weights).
    adjust: Callable[[Caffemodel], list[str]] | None = None
    spec: ScnnSpec | None = None
    shapes: ShapeOverrides | None = None
    phase: str | None = None
    proto: str | None = None
    # The net was upgraded to V2: a V1 source caffemodel is upgraded with it.
    upgraded: bool = False


def carry_of(before: Net, result: Any, options: Any) -> Carry:
    """What the caffemodel needs to know of a verb's change: the layers it added and took
    out (its own lists, else the names that came and went; the Input layer an upgrade
    makes of the file's top-level inputs is not a new layer) and renamed, and whether the
    net was upgraded (``upgrade``, ``--upgrade``, or a V0 or V1 net written as V2)."""
    renamed: Mapping[str, str] = getattr(result, "renamed", None) or {}
    after_names, before_names = result.net.layer_names, before.layer_names
    added = getattr(result, "added", None)
    removed = getattr(result, "removed", None)
    upgraded = (
        bool(getattr(options, "upgrade", False))
        or bool(getattr(result, "upgrades_weights", False))
        or before.output_format != result.net.output_format
    )
    return Carry(
        added={x.name for x in added} if added is not None
        else after_names - before_names - set(renamed.values()) - _input_layers(before, result.net),
        removed={x.name for x in removed} if removed is not None
        else before_names - after_names - set(renamed),
        renamed=renamed,
        adjust=getattr(result, "adjust_weights", None),
        spec=getattr(result, "spec", None),
        shapes=getattr(options, "shapes", None),
        phase=getattr(options, "phase", None),
        proto=getattr(options, "proto", None),
        upgraded=upgraded,
    )  # fmt: skip


def _input_layers(before: Net, after: Net) -> set[str]:
    """The names of the Input layers an upgrade made of ``before``'s top-level inputs."""
    inputs = {blob.name for blob in before.inputs}
    if not inputs or after.inputs:
        return set()
    return {x.name for x in after.layers if x.type == "Input" and set(x.tops) <= inputs}


def carried_caffemodel(
    net: Net, weights_in: str | None, weights_out: str, carry: Carry, seed: int = 0
) -> tuple[bytes, list[str]]:
    """The bytes of ``weights_out`` for any verb's ``net``, and the notes: ``weights_in``
    carried over as ``carry`` says (see :func:`weights_for_net`), or from the fillers.
    Caffemodels are read and written with ``carry.proto`` (the user's caffe.proto), else
    with the dialect the net's text uses. A module whose kernels alone would make the file
    too large for protobuf is refused before anything is read. ``carry.adjust`` changes
    the source's values first (a verb that computes weights: fold-bn), returning its notes."""
    if carry.spec is not None:
        check_caffemodel_size(estimate_module(carry.spec).weight_bytes, weights_out, carry.spec)
    schema = schema_for_net(net, carry.proto)
    as_v2 = carry.upgraded and net.output_format == "v2"
    source = read_caffemodel(weights_in, schema, as_v2=as_v2) if weights_in is not None else None
    adjusted = carry.adjust(source) if carry.adjust is not None and source is not None else []
    if source is not None and source.upgraded:
        restate_legacy_dims(net, source, carry.shapes, carry.phase)
        adjusted.append(f"{source.source}: a V1 caffemodel, written as V2 as the net is")
    made = weights_for_net(
        net, source, added=carry.added, removed=carry.removed, renamed=carry.renamed,
        spec=carry.spec, seed=seed, shapes=carry.shapes, phase=carry.phase,
        proto=carry.proto, destination=weights_out,
    )  # fmt: skip
    return made.model.to_bytes(), [*adjusted, *made.notes]


def stage_weights(
    outputs: OutputFiles,
    net: Net,
    weights_in: str | None,
    weights_out: str,
    carry: Carry,
    seed: int = 0,
) -> list[str]:
    """Make ``--weights-out`` for any verb's ``net`` (see :func:`carried_caffemodel`) and
    stage it in ``outputs``, which commits it together with the prototxt; returns the
    notes."""
    data, notes = carried_caffemodel(net, weights_in, weights_out, carry, seed)
    outputs.stage(weights_out, data)
    return notes
