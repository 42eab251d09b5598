"""``scnn-surgery export``: a net and its caffemodel as an ONNX model.

All of the verb's glue is here: parse, check the paths, convert (``scnn_surgery.onnx_export``),
then write the model (and its external data) through the staged writer, or nothing.
"""

from __future__ import annotations

from typing import Any

import click

from ..errors import SurgeryError, UsageError
from ..options import ExportOptions
from .options import build_verb_options, export_options, verb_options

EXPORT_SUMMARY = "A net and its caffemodel as ONNX, computing what Caffe does."


def run_export(
    model: str,
    weights: str | None,
    output: str,
    options: ExportOptions,
    seed: int = 0,
) -> list[str]:
    """Export ``model`` to ``output``; returns the notes. Nothing is written on a refusal."""
    from ..files import NamedPath, OutputFiles, check_output_paths, named
    from ..onnx_export import EXTERNAL_DATA_LIMIT, model_bytes, require_onnx, to_files

    if output == "-":
        raise UsageError("-o -: an ONNX model is binary; give it a file")
    inputs = [
        *named("MODEL", model), *named("--weights", weights), *named("--proto", options.proto)
    ]
    check_output_paths(inputs, [NamedPath("-o", output)])  # export has no --in-place
    require_onnx()
    if options.proto is not None:  # a broken .proto is refused before the net is read
        from ..schema.select import user_schema

        user_schema(options.proto)
    from ..onnx_export import convert
    from ..surgery import load

    result = convert(load(model), weights, options, seed)
    notes = list(result.notes)
    external = options.external_data or model_bytes(result.model) > EXTERNAL_DATA_LIMIT
    if external and not options.external_data:
        notes.append("the model is over protobuf's 2 GiB, so its weights go to external data")
    files = to_files(result.model, output, external)
    with OutputFiles() as staged:
        staged.stage(output, files.model)
        if files.data is not None and files.data_name is not None:
            import os

            staged.stage(os.path.join(os.path.dirname(output), files.data_name), files.data)
        staged.commit()
    notes.append(
        f"wrote {output} (opset {result.opset}; inputs {', '.join(result.inputs)};"
        f" outputs {', '.join(result.outputs)})"
        + (f" and its weights to {files.data_name}" if files.data_name else "")
    )
    return notes


@click.command("export", short_help=EXPORT_SUMMARY)
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@export_options()
@verb_options(ExportOptions)
def command(model: str, weights: str | None, output: str, seed: int, **params: Any) -> None:
    """Export MODEL (a prototxt of any Caffe dialect; '-' reads stdin) to ONNX: the deploy
    graph of the phase, data layers as inputs, the blobs nothing reads as outputs, the
    caffemodel's blobs as initializers. Refused before anything is written: layer types it
    does not convert (all named), blobs that do not fit the net."""
    from ..onnx_export import require_onnx
    from .output import note
    from .stdio import one_line

    options = build_verb_options(ExportOptions, params)
    require_onnx()  # one line when onnx is missing; build imports it
    from ..onnx_export.build import UnsupportedLayers

    try:
        notes = run_export(model, weights, output, options, seed)
    except UnsupportedLayers as exc:
        for line in exc.lines:
            click.echo(f"scnn-surgery: error: {one_line(line)}", err=True)
        count = len(exc.lines)
        raise SurgeryError(
            f"{count} layer{'s' * (count != 1)} above cannot be exported to ONNX; nothing was"
            " written"
        ) from None
    for message in notes:
        note(message)
