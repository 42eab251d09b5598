"""The library API: load a net, generate a module, run a verb on it, save the result.

The verbs themselves live in :mod:`scnn_surgery.verbs`, one module each; their functions
and results are importable from here too.

>>> import scnn_surgery as ss
>>> net = ss.load("resnet101.prototxt")
>>> result = ss.insert(net, ss.InsertOptions(after="conv5_5", height=46, width=46, channels=128))
>>> ss.save(result.net, "resnet101_SCNN.prototxt")
"""

from __future__ import annotations

import os
from pathlib import Path

from .core.document import Document
from .core.layerdef import render_layers as _render_layers
from .core.net import Net, load_net
from .core.text_export import export_bytes, export_text
from .files import write_bytes_atomic
from .options import InsertOptions as InsertOptions  # still importable from here
from .options import SpliceOptions as SpliceOptions
from .options import StripOptions as StripOptions
from .scnn import (
    ScnnSpec,
    build_module,
)

load = load_net


def loads(text: str, source: str = "<string>") -> Net:
    """Parse prototxt text into a :class:`Net`."""
    return Net.from_document(Document.parse(text, source))


def dumps(net: Net) -> str:
    """The net's prototxt: its file's text with the net's changes applied."""
    return export_text(net)


def save(net: Net | Document, path: str | os.PathLike[str]) -> None:
    """Write atomically: the file is either the whole new text or untouched."""
    data = net.to_bytes() if isinstance(net, Document) else export_bytes(net)
    write_bytes_atomic(Path(path), data)


def generate(spec: ScnnSpec, indent: str = "  ", newline: str = "\n") -> str:
    """The module's layers as prototxt text (a fragment of ``layer`` blocks)."""
    spec.validate()
    return _render_layers(build_module(spec), indent=indent, newline=newline)


from .verbs.insert import InsertResult as InsertResult  # noqa: E402
from .verbs.insert import insert as insert  # noqa: E402
from .verbs.insert import reduction_layers as reduction_layers  # noqa: E402
from .verbs.remove import RemoveResult as RemoveResult  # noqa: E402
from .verbs.remove import remove as remove  # noqa: E402
from .verbs.rename import RenameResult as RenameResult  # noqa: E402
from .verbs.rename import rename as rename  # noqa: E402
from .verbs.splice import SpliceResult as SpliceResult  # noqa: E402
from .verbs.splice import splice as splice  # noqa: E402
from .verbs.strip import StripResult as StripResult  # noqa: E402
from .verbs.strip import strip as strip  # noqa: E402
from .verbs.upgrade import UpgradeResult as UpgradeResult  # noqa: E402
from .verbs.upgrade import upgrade as upgrade  # noqa: E402
