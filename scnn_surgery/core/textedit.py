"""Minimal text edits inside a document's messages, in the file's own style.

The one place that knows how a field is cut (its whole line when it owns the line, else
its span and separator), where a new field goes (after a sibling, before the first one
when it leads its message as a layer's ``name`` does, or before a message's closing
brace) and how a block of new fields is indented (the sibling's lead, one unit deeper
than the parent's). Upgrade's rewrites and the value edits of
:mod:`scnn_surgery.core.values` are made of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias, Union

from .document import Document, Edit, Field, Message


@dataclass(frozen=True)
class Leaf:
    """A scalar as written, with the comment that followed it on its line (if any)."""

    raw: str
    comment: str = ""


# A block of new text: (field name, scalar or nested block).
Node: TypeAlias = tuple[str, Union[Leaf, "Block"]]
Block: TypeAlias = tuple[Node, ...]


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def line_lead(text: str, offset: int) -> str | None:
    """The indentation before ``offset``, or None when other text precedes it on its line."""
    before = text[line_start(text, offset) : offset]
    return before if not before.strip() else None


def owns_line(text: str, field: Field) -> bool:
    """Whether ``field`` is the only thing on its line(s), apart from a trailing comment."""
    if line_lead(text, field.start) is None:
        return False
    nl = text.find("\n", field.end)
    rest = text[field.end : nl if nl >= 0 else len(text)].strip()
    return not rest or rest[0] in ",;#"


def line_after(text: str, offset: int) -> int:
    nl = text.find("\n", offset)
    return nl + 1 if nl >= 0 else len(text)


def field_span(text: str, field: Field) -> tuple[int, int, str | None]:
    """What removing ``field`` removes, and the indentation a replacement line should take.

    A field alone on its line takes the whole line with it; an inline one takes the blanks
    and separator that follow it.
    """
    if owns_line(text, field):
        lead = line_lead(text, field.start)
        return line_start(text, field.start), line_after(text, field.end), lead
    end = field.end
    while end < len(text) and text[end] in " \t":
        end += 1
    if end < len(text) and text[end] in ",;":
        end += 1
        while end < len(text) and text[end] in " \t":
            end += 1
    return field.start, end, None


def render_block(block: Block, lead: str | None, unit: str, newline: str) -> str:
    """``block`` as whole lines indented from ``lead``, or inline (ending in a blank) if None."""
    if lead is None:
        return "".join(f"{part} " for part in _inline_parts(block))
    return "".join(f"{line}{newline}" for line in _lines(block, lead, unit))


def _lines(block: Block, lead: str, unit: str) -> list[str]:
    out: list[str] = []
    for name, value in block:
        if isinstance(value, Leaf):
            out.append(f"{lead}{name}: {value.raw}{value.comment}")
        else:
            out += [f"{lead}{name} {{", *_lines(value, lead + unit, unit), f"{lead}}}"]
    return out


def _inline_parts(block: Block) -> list[str]:
    parts: list[str] = []
    for name, value in block:
        if isinstance(value, Leaf):
            parts.append(f"{name}: {value.raw}")
        else:
            parts.append(f"{name} {{ {' '.join(_inline_parts(value))} }}")
    return parts


def append_to_message(doc: Document, message: Message, block: Block) -> Edit:
    """Insert ``block`` as the last fields of ``message``."""
    brace_lead = line_lead(doc.text, message.close)
    if brace_lead is not None:
        offset = line_start(doc.text, message.close)
        lines = render_block(block, brace_lead + doc.indent, doc.indent, doc.newline)
        return Edit(offset, offset, lines)
    inline = render_block(block, None, doc.indent, doc.newline)
    if doc.text[message.close - 1 : message.close] not in (" ", "\t", "\n"):
        inline = " " + inline  # "{}" or "{ x: 1}": a blank before the new fields too
    return Edit(message.close, message.close, inline)


def insert_before_field(doc: Document, field: Field, block: Block) -> Edit:
    """Insert ``block`` as siblings right before ``field``: whole lines in its lead when
    it starts its line, else inline."""
    lead = line_lead(doc.text, field.start)
    if lead is not None:
        offset = line_start(doc.text, field.start)
        return Edit(offset, offset, render_block(block, lead, doc.indent, doc.newline))
    return Edit(field.start, field.start, render_block(block, None, doc.indent, doc.newline))


def insert_after_field(doc: Document, field: Field, block: Block) -> Edit:
    """Insert ``block`` as siblings right after ``field``."""
    text = doc.text
    if owns_line(text, field):
        offset = line_after(text, field.end)
        prefix = "" if offset == 0 or text[offset - 1] == "\n" else doc.newline
        lead = line_lead(text, field.start) or ""
        return Edit(offset, offset, prefix + render_block(block, lead, doc.indent, doc.newline))
    inline = render_block(block, None, doc.indent, doc.newline).rstrip()
    return Edit(field.end, field.end, " " + inline)


