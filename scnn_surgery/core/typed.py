"""Typed protobuf messages filled from the lossless tree, so a prototxt is parsed once.

:func:`fill_message` fills any generated protobuf message (BVLC's
``LayerParameter``, a fork dialect's, a ``--proto`` schema's) from the
:class:`~scnn_surgery.core.document.Field` nodes :mod:`~scnn_surgery.core.document`
already parsed. protobuf stays the schema and the message classes; only the
second tokenizing pass is gone.

The result is what ``text_format.Parse(text, message, allow_unknown_field=True)``
gives for the same text, and text it refuses is refused here too, as one line
``FILE:LINE:COL: {context}{what}`` at the offending token, with protobuf's own
wording. The rules are those of protobuf's ``text_format.py``:

* fields by name (a group also by its type name), ``[ext.name]`` extensions
  (never skipped as unknown), unknown fields skipped whole but their values
  still checked, ``[a, b]`` lists only for repeated fields, ``{}`` or ``<>``
  around messages and an optional ``:`` before them;
* a singular field, scalar or message, given twice is refused ("should not
  have multiple"), and so is a second member of a oneof;
* values are converted by protobuf's own ``ParseInteger``/``ParseFloat``/
  ``ParseBool``/``ParseEnum`` and ``CUnescape`` (fast paths only where they
  provably agree), so integer syntax and ranges, float spellings, bool words,
  closed enums, string concatenation and UTF-8 checks are protobuf's.

Where protobuf places an error oddly, the location here is the offending token
instead: a ``string`` that is not UTF-8 (protobuf points after it), a bad
value of an unknown field and an ``Any`` of a type protobuf cannot find
(protobuf gives no location).

Nesting is walked with an explicit stack, never recursion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from google.protobuf import text_encoding, text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from ..errors import SurgeryError
from .document import Document, Field, Message, Scalar, Value

__all__ = ["fill_message", "offset_in", "parse_error_reason", "word_value"]

M = TypeVar("M", bound=ProtoMessage)

_ANY = "google.protobuf.Any"

# ---------------------------------------------------------------------------
# Value converters: text of one token -> Python value, ValueError with protobuf's words


def _int_parser(signed: bool, long: bool) -> Callable[[str], int]:
    high = (1 << (63 if long else 31)) - 1 if signed else (1 << (64 if long else 32)) - 1

    def parse(text: str) -> int:
        # A plain decimal (no sign, no leading zero) means the same to int() as to protobuf;
        # a long one goes to protobuf, which words int()'s digit-count limit its own way.
        if len(text) <= 20 and text.isdigit() and (text[0] != "0" or len(text) == 1):
            value = int(text)
            if value > high:
                raise ValueError(f"Value out of range: {value}")
            return value
        return text_format.ParseInteger(text, is_signed=signed, is_long=long)

    return parse


def _parse_float(text: str) -> float:
    first = text[0]
    # Without a leading 0 followed by a digit (protobuf's "octal float" check),
    # protobuf's first try is float() itself.
    if first in "123456789." or (first == "0" and not text[1:2].isdigit()):
        try:
            return float(text)
        except ValueError:
            pass
    return text_format.ParseFloat(text)


def _enum_parser(field: FieldDescriptor) -> Callable[[str], int]:
    enum = field.enum_type
    assert enum is not None
    numbers = {value.name: value.number for value in enum.values}

    def parse(text: str) -> int:
        number = numbers.get(text)
        return number if number is not None else text_format.ParseEnum(field, text)

    return parse


def _not_a_string(text: str) -> Any:
    raise ValueError(f"Expected string but found: {text!r}")


_T = FieldDescriptor
_INT_TYPES = {
    _T.TYPE_INT32: (True, False),
    _T.TYPE_SINT32: (True, False),
    _T.TYPE_SFIXED32: (True, False),
    _T.TYPE_INT64: (True, True),
    _T.TYPE_SINT64: (True, True),
    _T.TYPE_SFIXED64: (True, True),
    _T.TYPE_UINT32: (False, False),
    _T.TYPE_FIXED32: (False, False),
    _T.TYPE_UINT64: (False, True),
    _T.TYPE_FIXED64: (False, True),
}
_INT_PARSERS = {key: _int_parser(*key) for key in set(_INT_TYPES.values())}

# ---------------------------------------------------------------------------
# What we know about each field of a message type, computed once per descriptor

_SCALAR, _MESSAGE, _MAP = 0, 1, 2
_TEXT, _BYTES = 1, 2
# Slots the walk fills inline: not an extension, not in a oneof, with presence.
_PLAIN_SCALAR, _PLAIN_MESSAGE = 1, 2


class _Slot:
    """One field of a message type, with everything filling it needs."""

    __slots__ = (
        "convert",
        "descriptor",
        "extension",
        "fast",
        "has_presence",
        "kind",
        "name",
        "oneof",
        "repeated",
        "strings",
        "table",
    )

    def __init__(self, field: FieldDescriptor) -> None:
        self.descriptor = field
        self.name = field.name
        self.extension = field.is_extension
        self.repeated = field.is_repeated
        self.has_presence = field.has_presence
        self.oneof = field.containing_oneof.name if field.containing_oneof else None
        self.strings = 0
        self.table: dict[str, _Slot] | None = None  # the message type's, filled on first use
        self.convert: Callable[[str], Any] = _not_a_string
        plain = not self.extension and self.oneof is None
        if field.cpp_type == _T.CPPTYPE_MESSAGE:
            kind = field.message_type
            assert kind is not None
            is_map = kind.has_options and kind.GetOptions().map_entry
            self.kind = _MAP if is_map else _MESSAGE
            plain = plain and not is_map and kind.full_name != _ANY
            self.fast = _PLAIN_MESSAGE if plain else 0
            return
        self.kind = _SCALAR
        plain = plain and (self.repeated or self.has_presence)
        self.fast = _PLAIN_SCALAR if plain else 0
        if field.type in _INT_TYPES:
            self.convert = _INT_PARSERS[_INT_TYPES[field.type]]
        elif field.type in (_T.TYPE_FLOAT, _T.TYPE_DOUBLE):
            self.convert = _parse_float
        elif field.type == _T.TYPE_BOOL:
            self.convert = text_format.ParseBool
        elif field.type == _T.TYPE_ENUM:
            self.convert = _enum_parser(field)
        elif field.type == _T.TYPE_STRING:
            self.strings = _TEXT
        elif field.type == _T.TYPE_BYTES:
            self.strings = _BYTES
        else:
            raise TypeError(f"field {field.full_name} has unknown type {field.type}")


_TABLES: dict[Descriptor, dict[str, _Slot]] = {}
_EXTENSION_SLOTS: dict[FieldDescriptor, _Slot] = {}


def _table(descriptor: Descriptor) -> dict[str, _Slot]:
    """Field slots by every name text format accepts for them."""
    table = _TABLES.get(descriptor)
    if table is None:
        table = {field.name: _Slot(field) for field in descriptor.fields}
        for field in descriptor.fields:
            # A group is also written with its type's capitalised name.
            if _is_group_like(field) and field.message_type is not None:
                table.setdefault(field.message_type.name, table[field.name])
        _TABLES[descriptor] = table
    return table


def _is_group_like(field: FieldDescriptor) -> bool:
    kind = field.message_type
    if field.type != _T.TYPE_GROUP or kind is None or field.name != kind.name.lower():
        return False
    if kind.file != cast(Any, field).file:  # the stubs lack FieldDescriptor.file
        return False
    scope = field.extension_scope if field.is_extension else field.containing_type
    return bool(kind.containing_type == scope)


def _message_table(slot: _Slot) -> dict[str, _Slot]:
    kind = slot.descriptor.message_type
    assert kind is not None
    slot.table = _table(kind)
    return slot.table


def _extension_slot(field: FieldDescriptor) -> _Slot:
    slot = _EXTENSION_SLOTS.get(field)
    if slot is None:
        slot = _EXTENSION_SLOTS[field] = _Slot(field)
    return slot


def _is_default(value: Any) -> bool:
    """protobuf's test for an implicit-presence scalar that is still unset (-0.0 is set)."""
    if isinstance(value, (int, float)) and math.copysign(1.0, value) < 0:
        return False
    return not value


# ---------------------------------------------------------------------------
# Tokens of the raw text, read only where the tree does not say enough

_SPACE = re.compile(r"(?:[ \t\r\n\f\v]+|#[^\n]*)+")
_SPACE_OR_COLON = re.compile(r"(?:[ \t\r\n\f\v]+|#[^\n]*|:)+")
# protobuf's tokens: identifier, number, string, or any single character.
_PB_TOKEN = re.compile(
    r"""[A-Za-z_][0-9A-Za-z_+-]*
      | (?:[0-9+-]|\.[0-9])[0-9A-Za-z_.+-]*
      | "(?:[^"\\\n]|\\.)*" | '(?:[^'\\\n]|\\.)*'
      | .""",
    re.VERBOSE | re.DOTALL,
)
_IDENTIFIER_START = re.compile(r"[^\d\W]")
# A string literal, or a comment between the literals of a concatenated string.
_STRING_PART = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|#[^\n]*""")


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    m = pattern.match(text, pos)
    return m.end() if m else pos


def _pb_tokens(text: str, start: int) -> Iterator[tuple[int, str]]:
    """protobuf's tokens from ``start`` on, with their offsets; ``(len, "")`` at the end."""
    pos = start
    while True:
        pos = _skip(_SPACE, text, pos)
        m = _PB_TOKEN.match(text, pos)
        if m is None:
            yield len(text), ""
            return
        yield pos, m.group()
        pos = m.end()


def _string_parts(scalar: Scalar) -> list[tuple[int, str]]:
    """The literals of a (possibly concatenated) string, with their offsets."""
    found = _STRING_PART.finditer(scalar.raw)
    return [(scalar.start + m.start(), m.group()) for m in found if m.group()[0] != "#"]


def _first_token(scalar: Scalar) -> str:
    if scalar.kind == "word":
        return scalar.raw
    return _string_parts(scalar)[0][1]


# ---------------------------------------------------------------------------
# Filling


class _Frame:
    """One message being filled (``message`` None: an unknown one being skipped)."""

    __slots__ = (
        "done",
        "field",
        "fields",
        "index",
        "item_index",
        "items",
        "message",
        "slot",
        "table",
    )
    # Set together with ``items``, when a ``[...]`` list is being filled.
    item_index: int
    field: Field
    slot: _Slot | None

    def __init__(
        self,
        message: Any,
        table: dict[str, _Slot] | None,
        fields: Sequence[Field],
        done: Callable[[], None] | None = None,
    ) -> None:
        self.message = message
        self.table = table
        self.fields = fields
        self.index = 0
        self.items: list[Value] | None = None
        self.done = done


class _Filler:
    def __init__(self, doc: Document, context: str, allow_unknown: bool) -> None:
        self.doc = doc
        self.text = doc.text
        self.context = context
        self.allow_unknown = allow_unknown

    def error(self, offset: int, what: str) -> SurgeryError:
        return SurgeryError(f"{self.doc.location(offset)}: {self.context}{what}")

    # -- the walk ---------------------------------------------------------------------

    def fill(self, fields: Sequence[Field], message: Any) -> None:
        first = self.frame(message, fields, None)
        stack = [first] if first is not None else []
        while stack:
            frame = stack[-1]
            if frame.items is not None:
                child = self.next_item(frame)
            else:
                child = self.run(frame)
                if child is None and frame.items is None:
                    stack.pop()
                    if frame.done is not None:
                        frame.done()
            if child is not None:
                stack.append(child)

    def run(self, frame: _Frame) -> _Frame | None:
        """Fill fields from ``frame.index`` on; stops at a message value (returning its
        frame), at a list (leaving it in ``frame.items``) or at the end."""
        message = frame.message
        table = frame.table
        fields = frame.fields
        count = len(fields)
        i = frame.index
        while i < count:
            field = fields[i]
            i += 1
            value = field.value
            slot = table.get(field.name) if table is not None else None
            if slot is not None:
                fast = slot.fast
                if fast == _PLAIN_SCALAR and type(value) is Scalar:
                    raw = value.raw
                    if value.kind == "word" and not slot.strings:
                        try:
                            converted = slot.convert(raw)
                        except ValueError as exc:
                            raise self.error(value.start, str(exc)) from None
                    elif (
                        slot.strings == _TEXT
                        and value.kind == "string"
                        and "\\" not in raw
                        and raw.isascii()
                        and raw.find(raw[0], 1) == len(raw) - 1
                    ):
                        converted = raw[1:-1]
                    else:
                        converted = self.scalar(slot, value)
                    if slot.repeated:
                        getattr(message, slot.name).append(converted)
                    elif message.HasField(slot.name):
                        raise self.duplicate(message, slot, self.last_token(value))
                    else:
                        setattr(message, slot.name, converted)
                    continue
                if fast == _PLAIN_MESSAGE and type(value) is Message:
                    if slot.repeated:
                        sub = getattr(message, slot.name).add()
                    elif message.HasField(slot.name):
                        raise self.duplicate(message, slot, value.open)
                    else:
                        sub = getattr(message, slot.name)
                        sub.SetInParent()
                    frame.index = i
                    return _Frame(sub, slot.table or _message_table(slot), value.fields)
            frame.index = i
            slot = self.slot(frame, field)
            if isinstance(value, list):
                if slot is not None and not slot.repeated:
                    self.refuse_list(field, slot)
                frame.items = value
                frame.item_index = 0
                frame.field = field
                frame.slot = slot
                return None
            child = self.value(frame, field, slot, value, False)
            if child is not None:
                return child
        frame.index = i
        return None

    def next_item(self, frame: _Frame) -> _Frame | None:
        """The next value of a ``[...]`` list; the list is done when none is left."""
        items = frame.items
        assert items is not None
        j = frame.item_index
        if j == len(items):
            frame.items = None
            return None
        frame.item_index = j + 1
        return self.value(frame, frame.field, frame.slot, items[j], True)

    def frame(
        self, message: Any, fields: Sequence[Field], done: Callable[[], None] | None
    ) -> _Frame | None:
        if message is None:
            return _Frame(None, None, fields)
        descriptor = message.DESCRIPTOR
        if descriptor.full_name == _ANY and any(f.name.startswith("[") for f in fields):
            self.fill_expanded_any(fields, message)
            if done is not None:
                done()
            return None
        return _Frame(message, _table(descriptor), fields, done)

    def slot(self, frame: _Frame, field: Field) -> _Slot | None:
        """The field's slot, or None for a field skipped as unknown."""
        name = field.name
        message = frame.message
        if message is None:
            if name[0] == "[":
                self.skip_extension_name(field)
            return None
        assert frame.table is not None
        slot = frame.table.get(name)
        if slot is None:
            if name[0] == "[":
                slot = self.extension(message, field)
            elif self.allow_unknown:
                return None
            else:
                full_name = message.DESCRIPTOR.full_name
                raise self.error(
                    field.start, f'Message type "{full_name}" has no field named "{name}".'
                )
        if slot.oneof is not None:
            chosen = message.WhichOneof(slot.oneof)
            if chosen is not None and chosen != slot.name:
                full_name = message.DESCRIPTOR.full_name
                raise self.error(
                    field.start,
                    f'Field "{slot.name}" is specified along with field "{chosen}", another'
                    f' member of oneof "{slot.oneof}" for message type "{full_name}".',
                )
        return slot

    def value(
        self, frame: _Frame, field: Field, slot: _Slot | None, value: Value, in_list: bool
    ) -> _Frame | None:
        """Put one value of ``field`` into the frame's message; a frame for a message value."""
        if slot is None:
            if isinstance(value, Message):
                return _Frame(None, None, value.fields)
            self.check_skipped(value)
            return None
        message = frame.message
        if slot.kind == _SCALAR:
            if isinstance(value, Message):
                raise self.scalar_given_message(field, slot, value, in_list)
            converted = self.scalar(slot, value)
            self.store(message, slot, converted, value)
            return None
        if isinstance(value, Scalar):
            raise self.error(value.start, 'Expected "{".')
        return self.sub_message(message, slot, value)

    # -- scalars ----------------------------------------------------------------------

    def scalar(self, slot: _Slot, value: Scalar) -> Any:
        strings = slot.strings
        if value.kind == "word":
            if strings:
                raise self.error(value.start, f"Expected string but found: {value.raw!r}")
            try:
                return slot.convert(value.raw)
            except ValueError as exc:
                raise self.error(value.start, str(exc)) from None
        if not strings:
            try:
                slot.convert(_first_token(value))
            except ValueError as exc:
                raise self.error(value.start, str(exc)) from None
            raise AssertionError("a quoted token converted to a number")  # pragma: no cover
        raw = value.raw
        if "\\" not in raw and raw.isascii() and raw.find(raw[0], 1) == len(raw) - 1:
            body = raw[1:-1]  # one literal with nothing to unescape
            return body if strings == _TEXT else body.encode("ascii")
        data = self.string_bytes(value)
        if strings == _BYTES:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(value.start, f"Couldn't parse string: {exc}") from None

    def string_bytes(self, value: Scalar) -> bytes:
        chunks = []
        for offset, literal in _string_parts(value):
            try:
                chunks.append(text_encoding.CUnescape(literal[1:-1]))
            except ValueError as exc:
                raise self.error(offset, str(exc)) from None
        return b"".join(chunks)

    def store(self, message: Any, slot: _Slot, converted: Any, value: Scalar) -> None:
        name = slot.name
        try:
            if slot.extension:
                extensions = message.Extensions
                if slot.repeated:
                    extensions[slot.descriptor].append(converted)
                    return
                if slot.has_presence and message.HasExtension(slot.descriptor):
                    raise self.duplicate(message, slot, self.last_token(value))
                extensions[slot.descriptor] = converted
            elif slot.repeated:
                getattr(message, name).append(converted)
            else:
                if (
                    message.HasField(name)
                    if slot.has_presence
                    else not _is_default(getattr(message, name))
                ):
                    raise self.duplicate(message, slot, self.last_token(value))
                setattr(message, name, converted)
        except (TypeError, ValueError) as exc:
            raise self.error(value.start, str(exc)) from None

    def last_token(self, value: Scalar) -> int:
        return value.start if value.kind == "word" else _string_parts(value)[-1][0]

    def duplicate(self, message: Any, slot: _Slot, offset: int) -> SurgeryError:
        full_name = message.DESCRIPTOR.full_name
        if slot.extension:
            what = f'"{slot.descriptor.full_name}" extensions'
        else:
            what = f'"{slot.name}" fields'
        return self.error(offset, f'Message type "{full_name}" should not have multiple {what}.')

    def scalar_given_message(
        self, field: Field, slot: _Slot, value: Message, in_list: bool
    ) -> SurgeryError:
        opener = self.text[value.open]
        if not in_list and not self.has_colon(field, value.open):
            return self.error(value.open, 'Expected ":".')
        if slot.strings:
            return self.error(value.open, f"Expected string but found: {opener!r}")
        try:
            slot.convert(opener)
        except ValueError as exc:
            return self.error(value.open, str(exc))
        raise AssertionError(f"{opener!r} converted to a value")  # pragma: no cover

    def refuse_list(self, field: Field, slot: _Slot) -> None:
        """A ``[...]`` list for a singular field: protobuf reads ``[`` as its value."""
        where = _skip(_SPACE_OR_COLON, self.text, self.name_end(field))
        if slot.kind != _SCALAR:
            raise self.error(where, 'Expected "{".')
        if slot.strings:
            raise self.error(where, "Expected string but found: '['")
        try:
            slot.convert("[")
        except ValueError as exc:
            raise self.error(where, str(exc)) from None
        raise AssertionError("'[' converted to a value")  # pragma: no cover

    # -- messages ---------------------------------------------------------------------

    def sub_message(self, message: Any, slot: _Slot, value: Message) -> _Frame | None:
        descriptor = slot.descriptor
        done: Callable[[], None] | None = None
        if slot.kind == _MAP:
            container = getattr(message, slot.name)
            sub = container.GetEntryClass()()
            done = _map_store(container, sub)
        elif slot.repeated:
            if slot.extension:
                sub = message.Extensions[descriptor].add()
            else:
                sub = getattr(message, slot.name).add()
        else:
            if slot.extension:
                if message.HasExtension(descriptor):
                    raise self.duplicate(message, slot, value.open)
                sub = message.Extensions[descriptor]
            else:
                if message.HasField(slot.name):
                    raise self.duplicate(message, slot, value.open)
                sub = getattr(message, slot.name)
            sub.SetInParent()
        table = slot.table
        if table is None or sub.DESCRIPTOR.full_name == _ANY:
            return self.frame(sub, value.fields, done)
        return _Frame(sub, table, value.fields, done)

    def fill_expanded_any(self, fields: Sequence[Field], message: Any) -> None:
        """An ``Any`` written as ``[type.url/Name] {...}``: protobuf itself expands it."""
        start, end = fields[0].start, fields[-1].end
        text = self.text[start:end]
        try:
            text_format.Parse(text, message, allow_unknown_field=self.allow_unknown)
        except text_format.ParseError as exc:
            offset = start + offset_in(text, exc.GetLine(), exc.GetColumn())
            raise self.error(offset, parse_error_reason(exc)) from None

    # -- extensions -------------------------------------------------------------------

    def identifiers(
        self, tokens: Iterator[tuple[int, str]]
    ) -> tuple[list[tuple[int, str]], tuple[int, str]]:
        """``ident(.ident)*``: the parts with their offsets, and the token after them."""
        parts: list[tuple[int, str]] = []
        while True:
            offset, token = next(tokens)
            if not _IDENTIFIER_START.match(token):
                raise self.error(offset, "Expected identifier.")
            parts.append((offset, token))
            after = next(tokens)
            if after[1] != ".":
                return parts, after

    def extension(self, message: Any, field: Field) -> _Slot:
        """The slot of a ``[pkg.ext]`` field, checked as protobuf checks it."""
        tokens = _pb_tokens(self.text, field.start)
        next(tokens)  # "["
        parts, (offset, token) = self.identifiers(tokens)
        name = ".".join(part for _, part in parts)
        last = parts[-1][0]
        descriptor = message.DESCRIPTOR
        if not descriptor.is_extendable:
            raise self.error(
                last, f'Message type "{descriptor.full_name}" does not have extensions.'
            )
        found = message.Extensions._FindExtensionByName(name)
        if not found:
            raise self.error(
                last,
                f'Extension "{name}" not registered. Did you import the _pb2 module which'
                " defines it? If you are trying to place the extension in the MessageSet"
                " field of another message that is in an Any or MessageSet field, that"
                " message's _pb2 module must be imported as well",
            )
        if descriptor != found.containing_type:
            raise self.error(
                last,
                f'Extension "{name}" does not extend message type "{descriptor.full_name}".',
            )
        if token != "]":
            raise self.error(offset, 'Expected "]".')
        slot = _extension_slot(found)
        if slot.table is None and slot.kind != _SCALAR and found.message_type is not None:
            slot.table = _table(found.message_type)
        return slot

    def skip_extension_name(self, field: Field) -> None:
        """An unknown field's ``[a.b]`` or ``[type.url/a.B]`` name, checked as protobuf skips it."""
        tokens = _pb_tokens(self.text, field.start)
        next(tokens)  # "["
        parts, (offset, token) = self.identifiers(tokens)
        if len(parts) == 3 and token == "/":
            _, (offset, token) = self.identifiers(tokens)
        if token != "]":
            raise self.error(offset, 'Expected "]".')

    # -- unknown fields ---------------------------------------------------------------

    def check_skipped(self, value: Scalar) -> None:
        """An unknown field's scalar must still be a string, identifier or number."""
        if value.kind == "word":
            if not _skippable_word(value.raw):
                raise self.error(value.start, f"Invalid field value: {value.raw}")
            return
        raw = value.raw
        if "\\" not in raw and raw.isascii():
            return
        for offset, literal in _string_parts(value):
            try:
                text_encoding.CUnescape(literal[1:-1])
            except ValueError:
                raise self.error(offset, f"Invalid field value: {literal}") from None

    # -- raw text helpers -------------------------------------------------------------

    def name_end(self, field: Field) -> int:
        if not field.name.startswith("["):
            return field.start + len(field.name)
        for offset, token in _pb_tokens(self.text, field.start):
            if token in ("]", ""):
                return offset + 1
        raise AssertionError("unreachable")  # pragma: no cover

    def has_colon(self, field: Field, value_start: int) -> bool:
        between = self.text[self.name_end(field) : value_start]
        return ":" in re.sub(r"#[^\n]*", "", between)


def _skippable_word(word: str) -> bool:
    """protobuf skips a word that reads as an identifier, an integer or a float."""
    if _IDENTIFIER_START.match(word):
        return True
    try:
        _parse_float(word)
        return True
    except ValueError:
        pass
    for signed in (True, False):
        try:
            text_format.ParseInteger(word, is_signed=signed, is_long=True)
            return True
        except ValueError:
            pass
    return False


def _map_store(container: Any, entry: Any) -> Callable[[], None]:
    def store() -> None:
        if entry.DESCRIPTOR.fields_by_name["value"].cpp_type == _T.CPPTYPE_MESSAGE:
            container[entry.key].CopyFrom(entry.value)
        else:
            container[entry.key] = entry.value

    return store


def offset_in(text: str, line: int | None, column: int | None) -> int:
    """The offset of a 1-based (line, column) of a text_format error inside ``text``."""
    if not line or line < 1:
        return 0
    offset = 0
    for _ in range(line - 1):
        nl = text.find("\n", offset)
        if nl < 0:
            return offset
        offset = nl + 1
    return min(offset + max((column or 1) - 1, 0), len(text))


def parse_error_reason(exc: text_format.ParseError) -> str:
    """A text_format error without its "LINE:COL : 'the source line': " prefix."""
    return re.sub(r"^'.*?': ", "", str(exc).split(" : ", 1)[-1])


def word_value(field: FieldDescriptor, text: str) -> Any:
    """A word (number, enum, bool) as protobuf's text parser reads it into ``field``: a
    leading 0 makes an integer octal, an enum may be its name or its number."""
    return _Slot(field).convert(text)


def fill_message(
    doc: Document,
    fields: Message | Sequence[Field],
    message: M,
    context: str = "",
    *,
    allow_unknown_fields: bool = True,
) -> M:
    """Fill ``message`` from ``fields`` (a message body, or the root's fields) of ``doc``.

    Equal to ``text_format.Parse`` of the same text with ``allow_unknown_field``
    (or without, when ``allow_unknown_fields`` is False). Refusals raise
    :class:`SurgeryError` as ``FILE:LINE:COL: {context}{what}``.
    """
    body = fields.fields if isinstance(fields, Message) else fields
    _Filler(doc, context, allow_unknown_fields).fill(body, message)
    return message
