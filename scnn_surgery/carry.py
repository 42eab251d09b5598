"""The caffemodel that goes with a net after surgery, checked the way Caffe will load it.

:mod:`weights` makes and carries blobs; :mod:`check` reads them; this module, above both,
puts them together for a command that writes a net and its weights. Every verb uses
:func:`stage_weights`, saying which layers it added and which it took out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

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
    else:
        rename_entries(source, renamed or {})
        made = carry_over(net, source, added, spec, seed, shapes, phase, destination, removed)
    phases = [phase] if phase else None
    found = check_net(net, phases=phases, weights=made.model, shapes=shapes, proto=proto)
    errors = [f for f in errors_of(found) if f.rule.startswith("weights-")]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SurgeryError(
            f"the weights would not load: {errors[0].format(net.source)}{more}; nothing was written"
        )
    return made


def stage_weights(
    outputs: OutputFiles,
    net: Net,
    weights_in: str | None,
    weights_out: str,
    *,
    added: Iterable[str] = (),
    removed: Iterable[str] = (),
    renamed: Mapping[str, str] | None = None,
    spec: ScnnSpec | None = None,
    seed: int = 0,
    shapes: ShapeOverrides | None = None,
    phase: str | None = None,
    proto: str | None = None,
    adjust: Callable[[Caffemodel], list[str]] | None = None,
) -> list[str]:
    """Make ``--weights-out`` for any verb's ``net`` and stage it in ``outputs``, which
    commits it together with the prototxt; returns the notes. ``added`` and ``removed``
    name the layers the verb added and took out (see :func:`weights_for_net`).
    Caffemodels are read and written with ``proto`` (the user's caffe.proto), else with
    the dialect the net's text uses. A module whose kernels alone would make the file too
    large for protobuf is refused before anything is read. ``adjust`` changes the source's
    values first (a verb that computes weights: fold-bn), returning its notes."""
    if spec is not None:
        check_caffemodel_size(estimate_module(spec).weight_bytes, weights_out, spec)
    schema = schema_for_net(net, proto)
    source = read_caffemodel(weights_in, schema) if weights_in is not None else None
    adjusted = adjust(source) if adjust is not None and source is not None else []
    made = weights_for_net(
        net, source, added=added, removed=removed, renamed=renamed, spec=spec, seed=seed,
        shapes=shapes, phase=phase, proto=proto, destination=weights_out,
    )  # fmt: skip
    outputs.stage(weights_out, made.model.to_bytes())
    return [*adjusted, *made.notes]
