"""scnn-surgery: surgery on Caffe prototxt nets, starting with Spatial CNN insertion."""

from __future__ import annotations

__version__ = "0.1.0"

from .document import Document
from .errors import PrototxtSyntaxError, SurgeryError, UsageError
from .net import Layer, Net
from .scnn import ScnnSpec, build_module, module_output
from .surgery import InsertOptions, InsertResult, dumps, generate, insert, load, loads, save

__all__ = [
    "Document",
    "InsertOptions",
    "InsertResult",
    "Layer",
    "Net",
    "PrototxtSyntaxError",
    "ScnnSpec",
    "SurgeryError",
    "UsageError",
    "__version__",
    "build_module",
    "dumps",
    "generate",
    "insert",
    "load",
    "loads",
    "module_output",
    "save",
]
