"""``scnn-surgery splice``: put any fragment of layers into a net, and rewire."""

from __future__ import annotations

from typing import Any

import click

from ..files import STDIO, OutputFiles, check_output_paths, named
from ..options import SpliceOptions
from .options import build_verb_options, output_option, verb_options
from .output import note, write_output

# The fragment's --output is an option of the verb; the file written is -o only.
RENAMED = {"output": "fragment_output"}


@click.command("splice")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@click.argument("fragment", type=click.Path(dir_okay=False))
@verb_options(SpliceOptions, rename=RENAMED)
@output_option(long_flag=False)
def command(model: str, fragment: str, output: str | None, **params: Any) -> None:
    """Splice FRAGMENT (a prototxt of layers) into MODEL ('-' reads stdin).

    The fragment's inputs (blobs it reads but does not write) read the net's blobs; its
    output is read by every layer that read the blob it follows, in every phase.
    """
    check_output_paths(
        [*named("MODEL", model), *named("FRAGMENT", fragment), *named("--proto", params["proto"])],
        named("-o", STDIO if output is None else output),
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..export import export_bytes
    from ..surgery import load, splice

    options = build_verb_options(SpliceOptions, params, rename=RENAMED)
    result = splice(load(model), load(fragment), options)
    for message in result.notes:
        note(message)
    what = f"rewires to '{result.output}'" if result.output else "as a branch, rewiring nothing"
    note(
        f"spliced {len(result.added)} layers from {fragment} at {result.point.describe()};"
        f" {what}"
    )
    with OutputFiles() as outputs:
        write_output(outputs, export_bytes(result.net), output)
        outputs.commit()
