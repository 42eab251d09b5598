"""The library API: load a net, generate a module, insert it, save the result.

>>> import scnn_surgery as ss
>>> net = ss.load("resnet101.prototxt")
>>> result = ss.insert(net, ss.InsertOptions(after="conv5_5", height=46, width=46, channels=128))
>>> ss.save(result.net, "resnet101_SCNN.prototxt")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .document import Document
from .errors import SurgeryError
from .graph import LayerGraph, build_graphs
from .net import Net
from .passes.anchor import InsertionPoint, find_insertion_point
from .passes.splice import insert_text_edit, insertion_offset, rewire_edits
from .scnn import ScnnSpec, build_module, module_blob_names, module_layer_names, module_output
from .scnn import render_layers as _render_layers


def load(path: str | os.PathLike[str]) -> Net:
    """Read a prototxt file (``"-"`` reads standard input) into a lossless :class:`Net`."""
    return Net.from_document(Document.load(path))


def loads(text: str, source: str = "<string>") -> Net:
    """Parse prototxt text into a :class:`Net`."""
    return Net.from_document(Document.parse(text, source))


def save(net: Net | Document, path: str | os.PathLike[str]) -> None:
    """Write atomically: the file is either the whole new text or untouched."""
    doc = net.document if isinstance(net, Net) else net
    write_bytes_atomic(Path(path), doc.to_bytes())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def generate(spec: ScnnSpec, indent: str = "  ", newline: str = "\n") -> str:
    """The module's layers as prototxt text (a fragment of ``layer`` blocks)."""
    spec.validate()
    return _render_layers(build_module(spec), indent=indent, newline=newline)


@dataclass(frozen=True)
class InsertOptions:
    """What to insert and where; ``None`` sizes are inferred from the net."""

    after: str | None = None
    height: int | None = None
    width: int | None = None
    channels: int | None = None
    kernel_width: int = 9
    directions: str = "DULR"
    prefix: str | None = None
    top: str | None = None
    init_std: float | None = None
    share_weights: bool = True
    lr_mult: float = 1.0
    phase: str | None = None
    shapes: Mapping[str, Sequence[int]] = field(default_factory=dict)


@dataclass
class InsertResult:
    """The new net, and what was decided on the way (for the user's stderr)."""

    net: Net
    point: InsertionPoint
    spec: ScnnSpec
    notes: list[str]

    @property
    def output(self) -> str:
        return module_output(self.spec)


# Later stages (shape inference, automatic insertion point) plug in here, so the
# core stays free of them and each can be tested on its own.
SizeResolver = Callable[[Net, Sequence[LayerGraph], InsertionPoint, InsertOptions, list[str]], tuple[int, int, int]]
PointChooser = Callable[[Net, Sequence[LayerGraph], InsertOptions, list[str]], str]


def _explicit_sizes(
    net: Net,
    graphs: Sequence[LayerGraph],
    point: InsertionPoint,
    options: InsertOptions,
    notes: list[str],
) -> tuple[int, int, int]:
    if options.height is None or options.width is None or options.channels is None:
        raise SurgeryError("--height, --width and --channel are required")
    return options.height, options.width, options.channels


def _require_after(
    net: Net, graphs: Sequence[LayerGraph], options: InsertOptions, notes: list[str]
) -> str:
    raise SurgeryError("--after is required")


def _refuse_broken_input(net: Net, graphs: Sequence[LayerGraph]) -> None:
    for graph in graphs:
        for problem in graph.problems:
            raise SurgeryError(
                f"{net.describe(problem.layer)}: {problem.message} (phase {graph.state.phase});"
                " fix the input net first"
            )


def existing_names(net: Net) -> set[str]:
    """Every layer, blob and shared-param name already in the net."""
    names = net.layer_names | net.blob_names
    for layer in net.layers:
        for param in layer.body.messages("param"):
            names.update(param.strings("name"))
        names.update(layer.body.strings("param"))  # V1 sharing: param: "name"
    return names


def choose_prefix(spec: ScnnSpec, taken: set[str], notes: list[str]) -> ScnnSpec:
    """Keep the published names unless one collides; then take the first free ``scnnN_``."""

    def clashes(candidate: ScnnSpec) -> set[str]:
        return (module_layer_names(candidate) | module_blob_names(candidate)) & taken

    first = clashes(spec)
    if not first:
        return spec
    if spec.prefix:
        shown = ", ".join(sorted(first)[:5])
        raise SurgeryError(f"the module's names collide with the net's even with prefix '{spec.prefix}': {shown}")
    for n in range(1, 1000):
        candidate = replace(spec, prefix=f"scnn{n}_")
        if not clashes(candidate):
            shown = ", ".join(sorted(first)[:3])
            notes.append(
                f"names {shown} already exist in the net; using prefix '{candidate.prefix}'"
            )
            return candidate
    raise SurgeryError("could not find a free name prefix for the module")


def insert(
    net: Net,
    options: InsertOptions,
    *,
    sizes: SizeResolver = _explicit_sizes,
    choose_point: PointChooser = _require_after,
) -> InsertResult:
    """Insert an SCNN module into ``net`` and rewire the consumers of its input blob.

    The module reads the final version of the blob named by ``options.after``
    (a layer or blob name), so it goes right after the last in-place layer on
    that blob; every layer that read that version, in every phase, reads the
    module's output instead.  Nothing else in the text changes.
    """
    if net.format == "v0":
        raise SurgeryError(
            f"{net.source}: V0 (pre-2014) net; insert with --upgrade to rewrite it as V2 first"
        )
    if not net.layers:
        raise SurgeryError(f"{net.source}: the net has no layers")
    graphs = build_graphs(net)
    _refuse_broken_input(net, graphs)
    notes: list[str] = []
    after = options.after or choose_point(net, graphs, options, notes)
    point = find_insertion_point(net, graphs, after)
    height, width, channels = sizes(net, graphs, point, options, notes)
    spec = ScnnSpec(
        height=height,
        width=width,
        channels=channels,
        kernel_width=options.kernel_width,
        bottom=point.blob,
        directions=options.directions,
        prefix=options.prefix or "",
        top=options.top,
        init_std=options.init_std,
        share_weights=options.share_weights,
        lr_mult=options.lr_mult,
    )
    spec.validate()
    spec = choose_prefix(spec, existing_names(net), notes)
    doc = net.document
    block = _render_layers(
        build_module(spec), indent=doc.indent, newline=doc.newline, legacy_v1=net.format == "v1"
    )
    offset = insertion_offset(doc, point, net.layers[0].block.start)
    edits = [insert_text_edit(doc, offset, block), *rewire_edits(point.consumers, module_output(spec))]
    new_net = Net.from_document(doc.edited(edits))
    _verify_result(new_net, spec, point)
    return InsertResult(new_net, point, spec, notes)


def _verify_result(net: Net, spec: ScnnSpec, point: InsertionPoint) -> None:
    graphs = build_graphs(net)
    for graph in graphs:
        for problem in graph.problems:
            raise SurgeryError(
                f"internal error: the result would be invalid: {net.describe(problem.layer)}:"
                f" {problem.message} (phase {graph.state.phase}); nothing was written"
            )
