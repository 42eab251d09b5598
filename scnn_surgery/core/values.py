"""Parameters as values: read, set, add and remove a field of a layer or of the net.

A field is named by a path of field names from the layer's message (or the net's), each
optionally indexed among the occurrences of that name: ``convolution_param.num_output``,
``param[1].lr_mult``, ``input_param.shape[0].dim[2]``; at the net's level ``input_dim[3]``
or ``input_shape[0].dim[2]``. Without an index a step means the last occurrence, as
protobuf text keeps for a singular field. An index names an occurrence there is; only an
add (and a set of a path's last field) may name the one after the last, which it makes:
a set never makes ``input_shape[0]`` for ``input_shape[0].dim[2]``, it is refused.

A change is made as the fewest text edits of the message it is in
(:mod:`scnn_surgery.core.textedit`):

* a changed scalar: its value token, in its own quote character;
* an added field: a new line after the last field of that name (else before the message's
  closing brace) in the file's indentation and newline style, or inline in a one-line
  message; missing messages on the path are added with it;
* a removed field: its whole line when it owns the line, else its span.

A layer read from a file is *revised*: the edits are applied to the text of its own block
(and the lines it starts on), which is read again alone, so every reader of its
parameters (typed messages, shapes, weights) sees the new values; the exporter writes the
revised block in place of the old one (:func:`scnn_surgery.core.text_export.export_text`). A layer
surgery added has its definition's fields changed instead. Net-level fields are edits of
the net's own document, kept on the net until it is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from ..errors import SurgeryError
from .document import Document, Edit, Field, Message, Scalar, quote_string
from .layerdef import Enum, Fields, LayerDef, Raw, Value, scalar_text
from .textedit import (
    Block,
    Leaf,
    append_to_message,
    field_span,
    insert_after_field,
    line_start,
    render_block,
)

__all__ = [
    "Change",
    "ParamPath",
    "apply_edits",
    "definition_change",
    "message_edits",
    "parse_path",
    "read_path",
]

T = TypeVar("T")
Step = tuple[str, int | None]
ParamPath = str
"""``convolution_param.num_output``, ``param[1].lr_mult``: see the module docstring."""

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?\Z")


def parse_path(path: ParamPath) -> tuple[Step, ...]:
    """A path as its steps; a malformed one is a one-line error."""
    steps = []
    for part in path.split("."):
        m = _STEP.match(part)
        if m is None:
            raise SurgeryError(
                f"bad field path '{path}': each step is a field name, optionally with [N]"
            )
        steps.append((m.group(1), None if m.group(2) is None else int(m.group(2))))
    return tuple(steps)


@dataclass(frozen=True)
class Change:
    """One change of a field: ``set`` (or add when missing, with the unindexed messages on
    its path), ``add`` another occurrence (with the messages on its path), ``remove`` it
    (every occurrence of an unindexed name; nothing when an unindexed step is absent)."""

    kind: Literal["set", "add", "remove"]
    path: ParamPath
    value: Value | None = None


# ---------------------------------------------------------------------------
# Reading


def read_path(message: Message, path: ParamPath) -> Scalar | Message | None:
    """The scalar or message a path names in ``message`` (None when absent)."""
    steps = parse_path(path)
    current = message
    for name, index in steps[:-1]:
        found = _nth(current.messages(name), index)
        if found is None:
            return None
        current = found
    name, index = steps[-1]
    values: list[Scalar | Message] = [v for f in current.all(name) for v in f.values()]
    return _nth(values, index)


def _nth(items: Sequence[T], index: int | None) -> T | None:
    if not items:
        return None
    if index is None:
        return items[-1]
    return items[index] if index < len(items) else None


# ---------------------------------------------------------------------------
# Text edits


def message_edits(doc: Document, message: Message, change: Change) -> list[Edit]:
    """The edits of ``doc`` that make ``change`` in ``message`` (one of its messages)."""
    steps = parse_path(change.path)
    current = message
    for depth, (name, index) in enumerate(steps[:-1]):
        messages = current.messages(name)
        _refuse_missing_occurrence(change, (name, index), len(messages), last=False)
        found = _nth(messages, index)
        if found is None:
            if change.kind == "remove":
                return []  # nothing to remove
            for later, step in enumerate(steps[depth + 1 :], depth + 2):
                _refuse_missing_occurrence(change, step, 0, last=later == len(steps))
            return [_add_edit(doc, current, _nested(steps[depth:], change.value))]
        assert isinstance(found, Message)
        current = found
    name, index = steps[-1]
    values = [v for f in current.all(name) for v in f.values()]
    _refuse_missing_occurrence(change, steps[-1], len(values), last=True)
    if change.kind == "remove":
        return _remove_edits(doc, current, name, index, change.path)
    target = _nth(values, index) if change.kind == "set" else None
    if target is None:
        return [_add_edit(doc, current, _nested(steps[-1:], change.value))]
    if not isinstance(target, Scalar) or isinstance(change.value, tuple):
        raise SurgeryError(f"'{change.path}' is a message: set its fields one by one")
    return [Edit(target.start, target.end, _token(change.value, target))]


def _refuse_missing_occurrence(change: Change, step: Step, count: int, *, last: bool) -> None:
    """A step's index names one of the ``count`` occurrences there are. Only what adds may
    name the one after the last, making it: an ``add``, and a ``set`` of the last step.
    A set never makes the message it sets a field in from an index: ``input_shape[0].dim[2]``
    of a net without ``input_shape`` would be a shape of one dimension."""
    name, index = step
    if index is None or index < count:
        return
    makes = change.kind == "add" or (change.kind == "set" and last)
    if makes and index == count:
        return
    there = f"'{change.path}': {_occurrences(count, name)}"
    if makes:
        raise SurgeryError(f"{there}, so [{index}] cannot be added")
    hint = f"; add it first (an add of '{name}')" if change.kind == "set" else ""
    raise SurgeryError(f"{there}, so {name}[{index}] does not exist{hint}")


def _occurrences(count: int, name: str) -> str:
    return f"there is 1 '{name}' field" if count == 1 else f"there are {count} '{name}' fields"


def _token(value: Value | None, old: Scalar) -> str:
    """The text of a new value in place of ``old``: a string in its quote character; a
    name where the file has a word (an enum) stays a word."""
    if isinstance(value, str) and not isinstance(value, Enum):
        if old.kind == "string":
            return quote_string(value, old.raw[0])
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            return value
    if value is None:
        raise SurgeryError("a field set needs a value")
    return scalar_text(value)


def _nested(steps: Sequence[Step], value: Value | None) -> Block:
    """The block that adds ``value`` at the end of ``steps`` (each step a new message)."""
    if value is None:
        raise SurgeryError("a field added needs a value")
    block: Block = ((steps[-1][0], _leaf_or_block(value)),)
    for name, _ in reversed(steps[:-1]):
        block = ((name, block),)
    return block


def _leaf_or_block(value: Value) -> Leaf | Block:
    if isinstance(value, tuple):
        return tuple((key, _leaf_or_block(inner)) for key, inner in value)
    return Leaf(scalar_text(value))


def _add_edit(doc: Document, message: Message, block: Block) -> Edit:
    """``block`` as new fields of ``message``: after the last field of its name, else
    after the message's last field, else before its closing brace."""
    name = block[0][0]
    same = message.all(name)
    if same:
        return insert_after_field(doc, same[-1], block)
    if message.close < 0:  # the net's own message: before the first layer, or at the end
        return _add_to_root(doc, message, block)
    return append_to_message(doc, message, block)


def _add_to_root(doc: Document, root: Message, block: Block) -> Edit:
    layers = [f for f in root.fields if f.name in ("layer", "layers")]
    others = [f for f in root.fields if f.name not in ("layer", "layers")]
    if others and (not layers or others[-1].start < layers[0].start):
        return insert_after_field(doc, others[-1], block)
    if layers:
        offset = line_start(doc.text, layers[0].start)
        return Edit(offset, offset, render_block(block, "", doc.indent, doc.newline))
    text = doc.text
    prefix = doc.newline if text and not text.endswith("\n") else ""
    return Edit(len(text), len(text), prefix + render_block(block, "", doc.indent, doc.newline))


def _remove_edits(
    doc: Document, message: Message, name: str, index: int | None, path: str
) -> list[Edit]:
    fields = message.all(name)
    if index is None:
        chosen: list[Field] = fields
    else:
        owners = [f for f in fields for _ in f.values()]
        if index >= len(owners):
            return []
        chosen = [owners[index]]
        if len(chosen[0].values()) > 1:
            raise SurgeryError(f"'{path}' is one value of a list [...]: set the list instead")
    return [_cut(doc, f) for f in chosen]


def _cut(doc: Document, field: Field) -> Edit:
    start, end, _ = field_span(doc.text, field)
    return Edit(start, end, "")


def apply_edits(text: str, edits: Sequence[Edit], base: int = 0) -> str:
    """``text`` (which starts at offset ``base`` of the document the edits are for) with
    non-overlapping edits applied; insertions at one offset keep their order."""
    pieces: list[str] = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        start, end = edit.start - base, edit.end - base
        if start < cursor:
            raise ValueError(f"overlapping edits at offset {edit.start}")
        pieces.append(text[cursor:start])
        pieces.append(edit.replacement)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


# ---------------------------------------------------------------------------
# Definitions (layers surgery added)


def definition_change(definition: LayerDef, change: Change) -> LayerDef:
    """``definition`` with ``change`` made to its fields."""
    steps = parse_path(change.path)
    fields = _fields_change(definition.fields, steps, change)
    return LayerDef(definition.name, definition.type, definition.bottoms, definition.tops, fields)


def _fields_change(fields: Fields, steps: Sequence[Step], change: Change) -> Fields:
    (name, index), rest = steps[0], steps[1:]
    positions = [i for i, (key, _) in enumerate(fields) if key == name]
    _refuse_missing_occurrence(change, steps[0], len(positions), last=not rest)
    chosen = _nth(positions, index)
    items = list(fields)
    if rest:
        if chosen is None:
            if change.kind == "remove":
                return fields
            return (*fields, (name, _fields_change((), rest, change)))
        assert isinstance(chosen, int)
        inner = items[chosen][1]
        if not isinstance(inner, tuple):
            raise SurgeryError(f"'{change.path}': '{name}' is not a message")
        items[chosen] = (name, _fields_change(inner, rest, change))
        return tuple(items)
    if change.kind == "remove":
        drop = set(positions) if index is None else {chosen}
        return tuple(item for i, item in enumerate(items) if i not in drop)
    assert change.value is not None
    if change.kind == "set" and chosen is not None:
        assert isinstance(chosen, int)
        items[chosen] = (name, change.value)
        return tuple(items)
    at = (positions[-1] + 1) if positions else len(items)
    items.insert(at, (name, change.value))
    return tuple(items)


__all__ += ["Enum", "Raw"]
