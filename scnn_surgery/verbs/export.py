"""Export MODEL (a prototxt of any Caffe dialect; '-' reads stdin) to ONNX: the deploy
graph of the phase, data layers as inputs, the blobs nothing reads as outputs, the
caffemodel's blobs as initializers. Refused before anything is written: layer types it
does not convert (all named), blobs that do not fit the net.

Needs the onnx package: pip install 'onnx>=1.23' (the ``onnx`` extra).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.net import Net
from ..options import ExportOptions
from . import VerbSpec

if TYPE_CHECKING:
    import onnx

    from ..files import Content
    from ..onnx_export.build import OnnxExport


@dataclass
class ExportResult:
    """The ONNX model of ``net`` (which is not changed) and what the export says of it."""

    net: Net
    converted: OnnxExport
    external_data: bool  # the tensors go to OUTPUT.data beside the model
    notes: list[str] = field(default_factory=list)

    @property
    def model(self) -> onnx.ModelProto:
        return self.converted.model

    @property
    def opset(self) -> int:
        return self.converted.opset

    @property
    def inputs(self) -> list[str]:
        return self.converted.inputs

    @property
    def outputs(self) -> list[str]:
        return self.converted.outputs

    @property
    def done(self) -> str:
        external = "; its weights in external data beside it" if self.external_data else ""
        return (
            f"exported as ONNX opset {self.opset} (inputs {', '.join(self.inputs)};"
            f" outputs {', '.join(self.outputs)}){external}"
        )

    def output_files(self, output: str) -> list[tuple[str, Content]]:
        """The model's bytes at ``output`` and, with external data, its tensors' at
        ``output``.data, each as the pieces to write one after another."""
        from ..onnx_export import to_files

        files = to_files(self.converted, output, self.external_data)
        written: list[tuple[str, Content]] = [(output, files.model)]
        if files.data is not None and files.data_name is not None:
            written.append((os.path.join(os.path.dirname(output), files.data_name), files.data))
        return written


def export(
    net: Net,
    options: ExportOptions | None = None,
    *,
    weights: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> ExportResult:
    """``net`` as an ONNX model, with the blobs of the caffemodel ``weights`` or, without
    it, the fillers' values drawn with ``seed`` (and a warning that the model is for
    structure only); :func:`scnn_surgery.export_onnx` gives the ``onnx.ModelProto`` alone.
    Past protobuf's 2 GiB the tensors go to external data, with a note."""
    from ..onnx_export import EXTERNAL_DATA_LIMIT, convert, model_bytes

    given = options or ExportOptions()
    converted = convert(net, weights, given, seed)
    notes = list(converted.notes)
    external = given.external_data or model_bytes(converted) > EXTERNAL_DATA_LIMIT
    if external and not given.external_data:
        notes.append("the model is over protobuf's 2 GiB, so its weights go to external data")
    return ExportResult(net, converted, external, notes)


VERB = VerbSpec("export", export)
