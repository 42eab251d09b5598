"""``scnn-surgery strip``: take an SCNN module out again."""

from __future__ import annotations

from typing import Any

import click

from ..files import STDIO, OutputFiles, check_output_paths, named
from ..options import StripOptions
from .options import build_verb_options, output_option, verb_options
from .output import note, write_output


@click.command("strip")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@verb_options(StripOptions)
@output_option()
def command(model: str, output: str | None, **params: Any) -> None:
    """Strip the SCNN module from MODEL ('-' reads stdin): ours, the published
    generator's or Apollo's, with the 1x1 reduction insert put before it; its consumers
    read the blob the module read."""
    check_output_paths(
        [*named("MODEL", model), *named("--proto", params["proto"])],
        named("-o", STDIO if output is None else output),
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..export import export_bytes
    from ..surgery import load, strip

    result = strip(load(model), build_verb_options(StripOptions, params))
    for message in result.notes:
        note(message)
    note(
        f"stripped {result.module.describe()}; its consumers read '{result.reads}' again"
    )
    with OutputFiles() as outputs:
        write_output(outputs, export_bytes(result.net), output)
        outputs.commit()
