"""scnn-surgery: surgery on Caffe prototxt nets, starting with Spatial CNN insertion.

The public names are loaded on first use (PEP 562), so importing the package, as the command
line does before it knows which command runs, costs nothing. Each verb of the registry
(:mod:`scnn_surgery.verbs`) is a function here, with its result and options classes:
``scnn_surgery.rename``, ``RenameResult``, ``RenameOptions``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Not typing's: importing typing costs the command line's start-up, which imports this
# package before it can catch a Ctrl-C (cli/entry.py). Type checkers know this name.
TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ loads them
    from typing import Any

    from .core.document import Document as Document
    from .core.net import Layer as Layer
    from .core.net import Net as Net
    from .errors import PrototxtSyntaxError as PrototxtSyntaxError
    from .errors import SurgeryError as SurgeryError
    from .errors import UsageError as UsageError
    from .onnx_export import export_onnx as export_onnx
    from .options import ExportOptions as ExportOptions
    from .options import InsertOptions as InsertOptions
    from .options import RemoveOptions as RemoveOptions
    from .options import RenameOptions as RenameOptions
    from .options import SpliceOptions as SpliceOptions
    from .options import StripOptions as StripOptions
    from .options import UpgradeOptions as UpgradeOptions
    from .scnn import ScnnSpec as ScnnSpec
    from .scnn import build_module as build_module
    from .scnn import module_output as module_output
    from .surgery import InsertResult as InsertResult
    from .surgery import RemoveResult as RemoveResult
    from .surgery import SpliceResult as SpliceResult
    from .surgery import StripResult as StripResult
    from .surgery import UpgradeResult as UpgradeResult
    from .surgery import dumps as dumps
    from .surgery import generate as generate
    from .surgery import insert as insert
    from .surgery import load as load
    from .surgery import loads as loads
    from .surgery import remove as remove
    from .surgery import save as save
    from .surgery import splice as splice
    from .surgery import strip as strip
    from .surgery import upgrade as upgrade
    from .verbs.export import ExportResult as ExportResult
    from .verbs.export import export as export
    from .verbs.rename import RenameResult as RenameResult
    from .verbs.rename import rename as rename

# Public name -> the module that defines it.
_EXPORTS = {
    "Document": ".core.document",
    "Layer": ".core.net",
    "Net": ".core.net",
    "PrototxtSyntaxError": ".errors",
    "ScnnSpec": ".scnn",
    "SurgeryError": ".errors",
    "UsageError": ".errors",
    "build_module": ".scnn",
    "dumps": ".surgery",
    "export_onnx": ".onnx_export",
    "generate": ".surgery",
    "load": ".surgery",
    "loads": ".surgery",
    "module_output": ".scnn",
    "save": ".surgery",
}



def _verb_names() -> list[str]:
    from .verbs import library_names

    return library_names()


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if name == "__all__":  # made on demand too: the verbs' names come from their registry
        value: Any = ["__version__", *_EXPORTS, *_verb_names()]
    elif module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
    else:
        from .verbs import library_name

        value = library_name(name)
        if value is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_verb_names()})
