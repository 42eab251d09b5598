"""What every surgery verb does around its own step: check every path before any work,
then write the net and its ``--weights-out`` together, and only then say what happened
(so that a refusal is the one line on stderr)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from ..files import (
    NamedPath,
    OutputFiles,
    hard_link_note,
    hold_for_update,
    named,
    release,
    signal_name,
    signals_deferred,
)
from .options import check_weights_options
from .output import Destination, check_verb_paths, destination, note, write_result

if TYPE_CHECKING:
    from ..analysis.shapes import ShapeOverrides
    from ..core.net import Net
    from ..scnn import ScnnSpec


class Weights(NamedTuple):
    """``--weights``, ``--weights-out`` and ``--seed`` as given."""

    source: str | None
    out: str | None
    seed: int


class Carry(NamedTuple):  # not a dataclass: importing dataclasses costs --help
    """What the caffemodel needs to know of the verb's change (see ``carry.stage_weights``)."""

    added: Iterable[str] = ()
    removed: Iterable[str] = ()
    spec: ScnnSpec | None = None
    shapes: ShapeOverrides | None = None
    phase: str | None = None
    proto: str | None = None


def prepare(
    model: str,
    output: str | None,
    in_place: bool,
    weights: Weights,
    *,
    inputs: Sequence[NamedPath] = (),
    proto: str | None = None,
) -> Destination:
    """Where the verb writes, once every path was checked (no output may be an input) and
    ``--proto`` compiled."""
    where = destination(model, output, in_place)
    check_weights_options(weights.source, weights.out)
    check_verb_paths(
        where,
        [*inputs, *named("--weights", weights.source), *named("--proto", proto)],
        named("--weights-out", weights.out),
    )
    if in_place:  # held from before the read until the replace (or the process's end)
        hold_for_update(model)
    if proto is not None:  # a broken .proto is refused before the net is read
        from ..schema.select import user_schema

        user_schema(proto)
    return where


def finish(
    where: Destination,
    net: Net,
    notes: Iterable[str],
    weights: Weights,
    carry: Carry,
    *,
    changed: bool = True,
) -> None:
    """Write ``net`` (and ``--weights-out``) together or not at all, then the notes."""
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_weights
    from ..core.text_export import export_bytes

    said = list(notes)
    links = hard_link_note(where.model) if where.in_place and changed else None
    with OutputFiles() as outputs:
        if weights.out is not None:
            said += stage_weights(
                outputs, net, weights.source, weights.out, added=carry.added,
                removed=carry.removed, spec=carry.spec, seed=weights.seed, shapes=carry.shapes,
                phase=carry.phase, proto=carry.proto,
            )  # fmt: skip
        write_result(outputs, export_bytes(net), where, unchanged=not changed)
        said += outputs.notes
        # From the commit to the last note a signal only waits: once the outputs are
        # written the command has succeeded, and says so with exit status 0.
        with signals_deferred() as arrived:
            outputs.commit()
            if where.in_place:
                release(where.model)
            say_done(said, where, weights, changed, links)
    if arrived:
        names = ", ".join(sorted({signal_name(signum) for signum in arrived}))
        note(f"{names} arrived while the outputs were written; they are complete")


def say_done(
    said: list[str], where: Destination, weights: Weights, changed: bool, links: str | None
) -> None:
    if weights.out is not None:
        said.append(f"wrote weights to {weights.out}")
    if where.in_place and changed:
        said.append(f"replaced {where.model}")
    if links is not None:
        said.append(links)
    for message in said:
        note(message)
