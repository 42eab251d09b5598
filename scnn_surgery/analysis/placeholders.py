"""Inputs whose stated size is a placeholder for the size the net runs at.

Deploy files often state a tiny input and resize the net at run time: a pose net's 16x16
"defined at runtime", a face detector's 12x12 proposal net. A module sized from such a
shape is sized for the placeholder. An input is taken for one when its height and width
are at most :data:`PLACEHOLDER_SIZE`, or when a comment in or just above its declaration
says the size is set at run time. ``--shape`` may give such an input its real size.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..core.document import Document
from ..core.net import Net

__all__ = ["PLACEHOLDER_SIZE", "placeholder_reason"]

PLACEHOLDER_SIZE = 32  # a stated H and W at most this are taken for a placeholder

_RUNTIME = re.compile(
    r"run[\s_-]*time|at\s+run\b|dynamic|placeholder|(?:re)?set\s+(?:later|by|in|at)\b"
    r"|(?:re)?shaped?\s+(?:later|by|in|at)\b|will\s+be\s+(?:re)?(?:set|shaped|changed)",
    re.IGNORECASE,
)
_COMMENT = re.compile(r"#[^\r\n]*")
_CACHE = "document:placeholders"


def _spans(net: Net) -> dict[str, tuple[int, int]]:
    """Each input blob's declaration: its text span in the document."""
    spans: dict[str, tuple[int, int]] = {}
    root = net.document.root
    top_level = [f for f in root.fields if f.name in ("input", "input_shape", "input_dim")]
    if top_level:
        span = (min(f.start for f in top_level), max(f.end for f in top_level))
        for net_input in net.inputs:
            spans[net_input.name] = span
    for layer in net.layers:
        if layer.type == "Input" and layer.block is not None:
            for top in layer.tops:
                spans.setdefault(top, (layer.block.start, layer.block.end))
    return spans


def _comment_says_runtime(document: Document, start: int, end: int) -> str | None:
    """A comment in the span, on its last line, or in the comment lines right above it,
    that says the size is set at run time (the comment's text, quoted)."""
    text = document.text
    first = text.rfind("\n", 0, start) + 1
    while first > 0:  # the comment-only lines right above
        above = text.rfind("\n", 0, first - 1) + 1
        line = text[above : first - 1].strip()
        if not line.startswith("#"):
            break
        first = above
    last = text.find("\n", end)
    region = text[first : len(text) if last < 0 else last]
    for comment in _COMMENT.findall(region):
        if _RUNTIME.search(comment):
            said: str = comment.lstrip("#").strip()
            return said
    return None


def _declarations(net: Net) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    """The inputs' spans, and the reasons their comments give (read once per document)."""
    cached: tuple[dict[str, tuple[int, int]], dict[str, str]] | None = net.caches.get(_CACHE)
    if cached is None:
        spans = _spans(net)
        reasons = {}
        for name, (start, end) in spans.items():
            said = _comment_says_runtime(net.document, start, end)
            if said is not None:
                reasons[name] = f"its comment says '{said}'"
        cached = net.caches[_CACHE] = (spans, reasons)
    return cached


def placeholder_reason(net: Net, name: str, dims: Sequence[int | None] | None) -> str | None:
    """Why the input ``name`` of stated shape ``dims`` is taken for a placeholder, or
    None when it is not one."""
    spans, reasons = _declarations(net)
    if name in reasons:
        return reasons[name]
    if name not in spans or dims is None or len(dims) != 4:
        return None
    height, width = dims[2], dims[3]
    if height is None or width is None or max(height, width) > PLACEHOLDER_SIZE:
        return None
    return f"its stated size {height}x{width} is at most {PLACEHOLDER_SIZE}"
