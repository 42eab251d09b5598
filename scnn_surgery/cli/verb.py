"""Every surgery verb's command, made from the registry (:mod:`scnn_surgery.verbs`).

What each does around its own step: check every path before any work, then write the net
and its ``--weights-out`` together, and only then say what happened (so that a refusal is
the one line on stderr)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from ..errors import UsageError
from ..files import (
    STDIO,
    Content,
    NamedPath,
    OutputFiles,
    hard_link_note,
    hold_for_update,
    named,
    release,
    signal_name,
    signals_deferred,
)
from .options import (
    build_verb_options,
    check_weights_options,
    output_option,
    output_options,
    read_weights_options,
    verb_options,
    weights_options,
)
from .output import Destination, check_verb_paths, destination, note, write_result

if TYPE_CHECKING:
    from ..carry import Carry
    from ..core.net import Net


class Weights(NamedTuple):
    """``--weights``, ``--weights-out`` and ``--seed`` as given."""

    source: str | None
    out: str | None
    seed: int


def prepare(
    model: str,
    output: str | None,
    in_place: bool,
    weights: Weights,
    *,
    inputs: Sequence[NamedPath] = (),
    proto: str | None = None,
    carried: bool = True,
    offers_in_place: bool = True,
) -> Destination:
    """Where the verb writes, once every path was checked (no output may be an input) and
    ``--proto`` compiled. ``carried`` False: ``--weights`` is the verb's own input;
    ``offers_in_place`` False: a refusal does not suggest --in-place."""
    where = destination(model, output, in_place)
    if carried:
        check_weights_options(weights.source, weights.out)
    check_verb_paths(
        where,
        [*inputs, *named("--weights", weights.source), *named("--proto", proto)],
        named("--weights-out", weights.out),
        offers_in_place=offers_in_place,
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
    files: Sequence[tuple[str, Content]] | None = None,
) -> None:
    """Write ``net`` (or, given, the verb's own ``files``) and ``--weights-out`` together
    or not at all, then the notes."""
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..carry import stage_weights
    from ..core.text_export import export_bytes

    said = list(notes)
    links = hard_link_note(where.model) if where.in_place and changed else None
    with OutputFiles() as outputs:
        if weights.out is not None:
            said += stage_weights(
                outputs, net, weights.source, weights.out, carry, weights.seed
            )
        if files is None:
            write_result(outputs, export_bytes(net), where, unchanged=not changed)
        for path, data in files or ():
            outputs.stage(path, data)
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


def verb_command(verb: str) -> click.Command:
    """The ``scnn-surgery VERB`` command of a registered verb: MODEL, the files the verb
    reads, its options (its positional ones as arguments), -o/--in-place and --weights.
    Made from the registry and the options class alone: the verb's module (and the
    library) is loaded only when the command runs."""
    from ..verbs import REGISTRY, command_help, options_class

    entry = REGISTRY[verb]
    options = options_class(verb)

    def run(
        model: str,
        output: str | None,
        weights: str | None,
        seed: int,
        in_place: bool = False,
        weights_out: str | None = None,
        **params: Any,
    ) -> None:
        given = Weights(weights, weights_out, seed)
        if entry.needs_weights and (weights is None or weights_out is None):
            raise UsageError(
                f"{verb} needs --weights and --weights-out: it computes the weights anew"
            )
        if entry.output_suffix is not None and output == STDIO:
            raise UsageError(
                f"-o -: {verb} writes a binary {entry.output_suffix} file; give it a file"
            )
        inputs = [params.pop(name) for name in entry.inputs]
        chosen = build_verb_options(options, params)
        proto = getattr(chosen, "proto", None)
        named_inputs = [NamedPath(n.upper(), p) for n, p in zip(entry.inputs, inputs, strict=True)]
        if entry.reads_weights:
            named_inputs += named("--weights", weights)
        where = prepare(model, output, in_place, given, inputs=named_inputs, proto=proto,
                        carried=not entry.reads_weights,
                        offers_in_place=entry.output_suffix is None)  # fmt: skip
        # Here rather than at the top: parsing the arguments (or --help) need not load them.
        from ..core.net import load_net
        from ..verbs import run_verb

        before = load_net(model)
        result = run_verb(verb, before, [load_net(p) for p in inputs], chosen, weights, seed)
        done = [result.done] if getattr(result, "done", None) else []
        changed = getattr(result, "changed", True)
        files = result.output_files(output) if entry.output_suffix is not None else None
        from ..carry import Carry, carry_of

        carry = Carry() if entry.reads_weights else carry_of(before, result, chosen)
        finish(where, result.net, [*result.notes, *done], given, carry, changed=changed,
               files=files)  # fmt: skip
        for line in getattr(result, "afterwords", list)():
            note(line)

    if entry.output_suffix is not None:
        where_to = output_option(required=True, help=f"The {entry.output_suffix} file to write.")
    else:
        where_to = output_options(long_flag="output" not in _field_names(options))
    decorators = [
        click.command(verb, help=command_help(verb)),
        click.argument("model", type=click.Path(dir_okay=False, allow_dash=True)),
        *(click.argument(name, type=click.Path(dir_okay=False)) for name in entry.inputs),
        verb_options(options),
        where_to,
        read_weights_options(entry.new_layers)
        if entry.reads_weights
        else weights_options(new_layers=entry.new_layers),
    ]
    command: Any = run
    for decorator in reversed(decorators):
        command = decorator(command)
    assert isinstance(command, click.Command)
    return command


def _field_names(options: Any) -> list[str]:
    from dataclasses import fields

    return [item.name for item in fields(options)]
