"""Text edits that put a block of layers into a document and rewire its consumers.

Only two kinds of change are made: the module text is inserted at the start
of the line after the anchor layer's closing brace, and each rewired
``bottom`` has just its value token replaced (keeping its quote character).
Every other byte of the file is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..document import Document, Edit, Scalar, quote_string
from .anchor import Consumer, InsertionPoint


def insertion_offset(doc: Document, point: InsertionPoint, first_block_start: int) -> int:
    """Where the module text starts: the line after the anchor, or above the first layer."""
    if point.after is None:
        return doc.text.rfind("\n", 0, first_block_start) + 1
    return doc.line_end_after(point.after.block.end)


def insert_text_edit(doc: Document, offset: int, block_text: str) -> Edit:
    """Insert ``block_text`` at ``offset``, which is at a line start or right after a '}'."""
    newline = doc.newline
    at_line_start = offset == 0 or doc.text[offset - 1] == "\n"
    prefix = "" if at_line_start else newline
    return Edit(offset, offset, prefix + block_text)


def replace_string_value(scalar: Scalar, value: str) -> Edit:
    """The new value in the literal's own quote character."""
    return Edit(scalar.start, scalar.end, quote_string(value, scalar.raw[0]))


def rewire_edits(consumers: Iterable[Consumer], new_blob: str) -> list[Edit]:
    return [
        replace_string_value(c.layer.bottom_scalars[c.bottom_index], new_blob) for c in consumers
    ]
