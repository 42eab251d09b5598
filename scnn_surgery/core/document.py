"""The lossless text model of a prototxt file.

A :class:`Document` keeps the exact text it was read from and a tree of
:class:`Message`/:class:`Field`/:class:`Scalar` nodes that point into that
text by offset.  Saving an unmodified document returns the input byte for
byte; surgery is expressed as :class:`Edit` s (replace a span of text) so
that everything the user did not ask to change stays as it was: comments,
blank lines, field order, tabs, CRLF, quoting, and fields no schema knows.

The parser is iterative (an explicit stack, never recursion on the input's
depth) and refuses nesting deeper than protobuf's limit of 100 levels.  Its
common path reads a whole ``name: value``, ``name {`` or ``}`` with one
regular-expression match, the blanks after it included; everything else
(comments, lists, extension names, separators, adjacent strings, and every
error) goes through a token-by-token path that follows protobuf's grammar.
String values are checked as protobuf's Python parser checks them: escapes must
be well formed and the bytes they make, with the raw bytes around them, must be
UTF-8.  Comments may hold any bytes, as Caffe's C++ parser allows.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, repeat
from operator import add
from typing import Any

from ..errors import PrototxtSyntaxError
from ..files import read_input_bytes
from ..runtime import paused_gc

__all__ = [
    "MAX_DEPTH",
    "Document",
    "Edit",
    "Field",
    "Message",
    "Scalar",
    "Value",
    "decode_string",
    "quote_string",
]

MAX_DEPTH = 100
"""Deepest message nesting accepted: protobuf's default recursion limit."""

# Blanks and comments.  Written so that there is only one way to split a run of them
# (a comment runs to the end of its line), which keeps backtracking linear.
_WS = r"[ \t\r\n\f\v]*(?:\#[^\n]*(?![^\n])[ \t\r\n\f\v]*)*"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER = (
    r"[-+]?(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[fF]?"
    r"|(?i:inf(?:inity)?|nan))"
)
_STRING = r""""[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'"""
_WORD_CHAR = r"[A-Za-z0-9_.+\-]"

# One step of the common path.  Groups: name, sep (blanks, colon, blanks), colon,
# word, string, open, close, trail (the blanks after the step).  Comments are left to
# the loop (they are rare next to fields, and allowing them here costs every step).
# When nothing else matches, the empty alternative hands the position to the token path.
_BLANKS = r"[ \t\r\n\f\v]*"
_STEP = re.compile(
    rf"""
    (?:
        ({_NAME})
        ({_BLANKS}(:{_BLANKS})?)
        (?:
            ((?:{_NAME}|{_NUMBER})(?!{_WORD_CHAR}))
          | ({_STRING})
          | ([{{<])
        )
      | ([}}>])
      |
    )
    ({_BLANKS})
    """,
    re.VERBOSE,
)
_SKIP = re.compile(_WS)
_TOKEN = re.compile(
    rf"""
    {_WS}
    (?:
        (?P<string>{_STRING})
      | (?P<word>{_WORD_CHAR}+)
      | (?P<punct>[{{}}<>\[\]:,;/])
      | (?P<end>\Z)
    )
    """,
    re.VERBOSE,
)


def _skip(text: str, pos: int) -> int:
    """The offset after the blanks and comments at ``pos``."""
    blanks = _SKIP.match(text, pos)
    assert blanks is not None  # the pattern matches the empty string too
    return blanks.end()


_IDENTIFIER = re.compile(rf"{_NAME}\Z")
_WORD_VALUE = re.compile(rf"(?:{_NAME}|{_NUMBER})\Z")
_PLACEHOLDER = re.compile(r"\$\{[^}\n]*\}")
_RAW_BYTES = re.compile("[\udc80-\udcff]+")
_CLOSING = {"{": "}", "<": ">"}


@dataclass(slots=True)
class Scalar:
    """A scalar value: a word (number, identifier, enum) or a string."""

    kind: str  # "string" or "word"
    raw: str  # exactly as written, adjacent strings included
    value: str  # the decoded string, or the word itself
    start: int
    end: int

    def as_int(self) -> int:
        """The integer protobuf's text parser reads: a leading 0 makes it octal."""
        if self.kind != "word":
            return int(self.value)
        digits = self.value.lstrip("-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return int(self.value, 8)
        return int(self.value, 0)

    def as_float(self) -> float:
        return float(self.value.rstrip("fF")) if self.kind == "word" else float(self.value)

    def as_bool(self) -> bool:
        return self.value.lower() in ("true", "t", "1")


@dataclass(slots=True)
class Message:
    """A message body: its fields in file order; ``open``/``close`` are brace offsets."""

    fields: list[Field]
    open: int
    close: int

    def all(self, name: str) -> list[Field]:
        return [f for f in self.fields if f.name == name]

    def get(self, name: str) -> Field | None:
        """The last occurrence, as protobuf text format keeps for singular fields."""
        found = None
        for f in self.fields:
            if f.name == name:
                found = f
        return found

    def scalars(self, name: str) -> list[Scalar]:
        """Every scalar given for a (repeated) field, including ``[a, b]`` lists."""
        out: list[Scalar] = []
        for f in self.all(name):
            for v in f.values():
                if isinstance(v, Scalar):
                    out.append(v)
        return out

    def scalar(self, name: str) -> Scalar | None:
        values = self.scalars(name)
        return values[-1] if values else None

    def strings(self, name: str) -> list[str]:
        return [s.value for s in self.scalars(name)]

    def string(self, name: str, default: str | None = None) -> str | None:
        s = self.scalar(name)
        return s.value if s is not None else default

    def message(self, name: str) -> Message | None:
        f = self.get(name)
        if f is None:
            return None
        for v in reversed(f.values()):
            if isinstance(v, Message):
                return v
        return None

    def messages(self, name: str) -> list[Message]:
        return [v for f in self.all(name) for v in f.values() if isinstance(v, Message)]


Value = Scalar | Message


@dataclass(slots=True)
class Field:
    """One ``name: value`` or ``name { ... }`` occurrence; ``start``..``end`` covers both."""

    name: str
    value: Value | list[Value]
    start: int
    end: int

    def values(self) -> Sequence[Value]:
        """The values given (several for a ``[a, b]`` list); read-only."""
        return self.value if isinstance(self.value, list) else (self.value,)


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement`` (an insertion when start == end)."""

    start: int
    end: int
    replacement: str


# ---------------------------------------------------------------------------------------
# String literals


_SIMPLE_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "v": b"\v",
    "\\": b"\\",
    "'": b"'",
    '"': b'"',
    "?": b"?",
}
_ESCAPE = re.compile(
    r"\\(?:([0-7]{1,3})|[xX]([0-9a-fA-F]{0,2})|u([0-9a-fA-F]{0,4})|U([0-9a-fA-F]{0,8})|(.)|\Z)",
    re.DOTALL,
)


class _StringError(ValueError):
    """A bad string literal; ``offset`` is where, counted as the literals were given."""

    def __init__(self, offset: int, what: str, *, utf8: bool = False) -> None:
        super().__init__(what)
        self.offset = offset
        self.what = what
        self.utf8 = utf8  # the escapes are fine, the bytes they make are not UTF-8


def decode_string(literal: str) -> str:
    """Decode one quoted protobuf text literal (quotes included) to its value.

    Escapes follow protobuf's C++ tokenizer, which Caffe uses; a bad escape, or a
    value that is not UTF-8 text, raises ``ValueError`` naming it.
    """
    return _decode_literals([(literal, 0)])


def _decode_literals(parts: Sequence[tuple[str, int]]) -> str:
    """The value of adjacent literals (each with its offset): their bytes, joined, as UTF-8."""
    out = bytearray()
    pieces: list[tuple[int, int, str, bool]] = []  # (byte offset, text offset, text, escape?)
    for literal, offset in parts:
        body = literal[1:-1]
        base = offset + 1
        done = 0
        for m in _ESCAPE.finditer(body):
            at = m.start()
            if at > done:
                pieces.append((len(out), base + done, body[done:at], False))
                out += _raw_bytes(body[done:at], base + done)
            pieces.append((len(out), base + at, m.group(), True))
            out += _escape_bytes(m, base + at)
            done = m.end()
        if done < len(body):
            pieces.append((len(out), base + done, body[done:], False))
            out += _raw_bytes(body[done:], base + done)
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _utf8_error(out, exc.start, pieces) from None


def _raw_bytes(chunk: str, offset: int) -> bytes:
    try:
        return chunk.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:  # a lone surrogate given as text, not read from a file
        what = f"invalid UTF-8 in a string: {_show_char(chunk[exc.start])}"
        raise _StringError(offset + exc.start, what, utf8=True) from None


def _escape_bytes(m: re.Match[str], offset: int) -> bytes:
    octal, hex_digits, u4, u8, other = m.groups()
    shown = f"'{_readable(m.group())}'"
    if octal is not None:
        if int(octal, 8) > 0o377:
            raise _StringError(
                offset, f"bad escape {shown} in a string: an octal escape is one byte, \\0 to \\377"
            )
        return bytes([int(octal, 8)])
    if hex_digits is not None:
        if not hex_digits:
            raise _StringError(offset, f"bad escape {shown} in a string: \\x needs a hex digit")
        return bytes([int(hex_digits, 16)])
    for digits, width, letter in ((u4, 4, "u"), (u8, 8, "U")):
        if digits is None:
            continue
        if len(digits) < width:
            raise _StringError(
                offset, f"bad escape {shown} in a string: \\{letter} needs {width} hex digits"
            )
        code = int(digits, 16)
        if code > 0x10FFFF:
            raise _StringError(offset, f"bad escape {shown} in a string: beyond U+10FFFF")
        if 0xD800 <= code <= 0xDFFF:
            what = f"bad escape {shown} in a string: U+{code:04X} is a surrogate, not a character"
            raise _StringError(offset, what)
        return chr(code).encode()
    if other is None:
        raise _StringError(offset, "bad escape: a string ends in a lone '\\'")
    if other not in _SIMPLE_ESCAPES:
        if not other.isprintable():
            shown = f"'\\' followed by {_show_char(other)}"
        raise _StringError(offset, f"unknown escape {shown} in a string")
    return _SIMPLE_ESCAPES[other]


def _utf8_error(
    out: bytes | bytearray, bad: int, pieces: Sequence[tuple[int, int, str, bool]]
) -> _StringError:
    """Name what made the byte at ``bad`` invalid UTF-8: an escape, or raw bytes in the file."""
    first, offset, text, escape = next(p for p in reversed(pieces) if p[0] <= bad)
    if escape:
        return _StringError(
            offset, f"invalid UTF-8 in a string: escape '{text}' (byte 0x{out[bad]:02X})", utf8=True
        )
    index = 0
    position = first
    while position + len(text[index].encode("utf-8", "surrogateescape")) <= bad:
        position += len(text[index].encode("utf-8", "surrogateescape"))
        index += 1
    raw = _RAW_BYTES.match(text, index)
    shown = _show_bytes(raw.group()) if raw else _show_char(text[index])
    return _StringError(offset + index, f"invalid UTF-8 in a string: {shown}", utf8=True)


_QUOTE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


_NEEDS_ESCAPE = re.compile(r"[\x00-\x1f\x7f\\\"']")


def quote_string(value: str, quote: str = '"') -> str:
    """Write a value as a protobuf text literal in ``quote`` (``"`` or ``'``)."""
    if not _NEEDS_ESCAPE.search(value):
        return quote + value + quote  # the common case: a plain name
    out = []
    for char in value:
        if char in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[char])
        elif char == quote:
            out.append("\\" + quote)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


# ---------------------------------------------------------------------------------------
# Showing input in one-line messages


def _show_char(char: str) -> str:
    """One character for a message: quoted when printable, else its code point and name."""
    if "\udc80" <= char <= "\udcff":
        return _show_bytes(char)
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _show_bytes(escaped: str) -> str:
    """Bytes that were not UTF-8 (decoded with surrogateescape), as ``bytes 0xFF 0xFE``."""
    shown = " ".join(f"0x{ord(c) - 0xDC00:02X}" for c in escaped[:8])
    more = " ..." if len(escaped) > 8 else ""
    return f"{'byte' if len(escaped) == 1 else 'bytes'} {shown}{more}"


def _readable(text: str, limit: int = 60) -> str:
    """Input text for a message: unprintable characters escaped, long text shortened."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif "\udc80" <= char <= "\udcff":
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _describe(kind: str, text: str) -> str:
    """A token for a message; quoted with the quote it does not start with."""
    if kind == "end":
        return "end of file"
    if kind == "punct":
        return f"'{text}'"
    shown = _readable(text)
    quote = '"' if shown.startswith("'") else "'"
    return f"{kind} {quote}{shown}{quote}"


# ---------------------------------------------------------------------------------------
# The parser


# An open container on the parser's stack: its children so far, the text that closes it
# ("}", ">" or "]"; None for the root), the name and start of the field that holds it
# (no name for a message inside a list) and the offset of its opening brace or bracket.
# Nodes are made when their container closes, complete.
_Frame = tuple[list[Any], str | None, str | None, int, int]


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.stack: list[_Frame] = [([], None, None, -1, -1)]
        self.depth = 0  # messages open, the root not counted

    @cached_property
    def line_starts(self) -> list[int]:
        return _line_starts(self.text)  # only an error needs them

    def error(self, offset: int, what: str) -> PrototxtSyntaxError:
        line, col = _line_col(self.line_starts, offset)
        return PrototxtSyntaxError(self.source, line, col, what)

    def parse(self) -> Message:
        """Read the whole text: the common steps inline, the rest through ``token_step``."""
        text = self.text
        stack = self.stack
        step: Callable[[str, int], re.Match[str]] = _STEP.match  # type: ignore[assignment]
        root_fields: list[Field] = stack[0][0]
        append = root_fields.append
        closer: str | None = None
        pos = _skip(text, 0)
        intern = sys.intern  # a net repeats a few dozen field names thousands of times
        while True:
            if closer == "]":
                pos = self.list_step(pos)
            else:
                name, sep, colon, word, string, opener, close, trail = step(text, pos).groups()
                if colon is not None:
                    if word is not None:
                        start = pos + len(name) + len(sep)
                        end = start + len(word)
                        scalar = Scalar("word", word, word, start, end)
                        append(Field(intern(name), scalar, pos, end))
                        pos = end + len(trail)
                        continue
                    if string is not None:
                        start = pos + len(name) + len(sep)
                        end = start + len(string)
                        after = end + len(trail)
                        if string.isascii() and "\\" not in string:
                            value = string[1:-1]
                        else:
                            value = self.string_value(string, start, after)
                        scalar = Scalar("string", string, value, start, end)
                        append(Field(intern(name), scalar, pos, end))
                        pos = after
                        continue
                if opener is not None:
                    brace = pos + len(name) + len(sep)
                    self.open_message(intern(name), pos, brace, opener)
                    pos = brace + 1 + len(trail)
                elif close is not None and close == closer:
                    self.close(pos)
                    pos += 1 + len(trail)
                elif text.startswith("#", pos):
                    pos = _skip(text, pos)
                    continue
                else:
                    pos = self.token_step(pos)
                    if pos < 0:
                        return Message(root_fields, -1, len(text))
            top = stack[-1]
            append = top[0].append
            closer = top[1]

    # -- the containers ---------------------------------------------------------------

    def open_message(self, name: str | None, start: int, brace: int, opener: str) -> None:
        """Open ``name {`` (or a message inside a list, when ``name`` is None)."""
        if self.depth >= MAX_DEPTH:
            raise self.error(brace, f"nesting deeper than {MAX_DEPTH} levels (protobuf's limit)")
        self.depth += 1
        self.stack.append(([], _CLOSING[opener], name, start, brace))

    def open_list(self, name: str, start: int, bracket: int) -> None:
        self.stack.append(([], "]", name, start, bracket))

    def close(self, offset: int) -> None:
        """Close the innermost container at its brace or bracket at ``offset``."""
        children, closer, name, start, brace = self.stack.pop()
        value: Value | list[Value]
        if closer == "]":
            value = children
        else:
            value = Message(children, brace, offset)
            self.depth -= 1
        parent = self.stack[-1][0]
        if name is None:
            parent.append(value)
        else:
            parent.append(Field(name, value, start, offset + 1))

    # -- the token path -----------------------------------------------------------------

    def token(self, pos: int) -> tuple[str, int, int]:
        """The next token at or after ``pos``: (kind, start, end); kind "end" at the end."""
        m = _TOKEN.match(self.text, pos)
        if m is None:
            raise self.bad_character(_skip(self.text, pos))
        kind = m.lastgroup
        assert kind is not None
        return kind, m.start(kind), m.end()

    def bad_character(self, pos: int) -> PrototxtSyntaxError:
        text = self.text
        char = text[pos]
        if char in "\"'":
            return self.error(pos, "unterminated string")
        if pos == 0 and char == "\ufeff":
            return self.error(pos, f"UTF-8 byte-order mark at the start of {self.source}")
        placeholder = _PLACEHOLDER.match(text, pos)
        if placeholder:
            shown = _readable(placeholder.group(), 60)
            return self.error(pos, f"unresolved template placeholder '{shown}'")
        raw = _RAW_BYTES.match(text, pos)
        if raw:
            return self.error(pos, f"invalid UTF-8: {_show_bytes(raw.group())}")
        return self.error(pos, f"unexpected character {_show_char(char)}")

    def skip(self, pos: int) -> int:
        return _skip(self.text, pos)

    def token_step(self, pos: int) -> int:
        """One field, separator or closing brace of the innermost message; -1 at the end."""
        text = self.text
        kind, start, end = self.token(pos)
        fields, closer, _, _, brace = self.stack[-1]
        if kind == "end":
            if closer is None:
                return -1
            line, col = _line_col(self.line_starts, brace)
            what = f"missing '{closer}' for the '{text[brace]}' at {line}:{col}"
            raise self.error(len(text), what)
        tok = text[start:end]
        if kind == "punct" and tok == closer:
            self.close(start)
            return self.skip(end)
        previous = fields[-1] if fields else None
        if previous is not None and self.skip(previous.end) == start:
            follows = self.after_field(previous, kind, tok, start)
            if follows >= 0:
                return follows
        return self.field(kind, start, end)

    def after_field(self, previous: Field, kind: str, tok: str, start: int) -> int:
        """What may come right after a field: its separator, or more adjacent strings."""
        value = previous.value
        if kind == "punct" and tok in (",", ";"):
            return self.skip(start + 1)
        if isinstance(value, Scalar) and value.kind == "word" and tok in (":", "{", "<"):
            # `input_dim:` with nothing after it took the next field's name as its value.
            raise self.error(
                previous.start, f"missing value for field '{_readable(previous.name)}'"
            )
        if isinstance(value, Scalar) and value.kind == "string" and kind == "string":
            previous.value = self.strings([(value.raw, value.start)])
            previous.end = previous.value.end
            return self.skip(previous.end)
        return -1

    def field(self, kind: str, start: int, end: int) -> int:
        """A whole field read token by token (the common path did not take it)."""
        text = self.text
        tok = text[start:end]
        if kind == "punct" and tok == "[":
            name, end = self.extension_name(start)
        elif kind == "word" and _IDENTIFIER.match(tok):
            name = tok
        else:
            raise self.error(start, f"expected a field name, found {_describe(kind, tok)}")
        kind, at, end = self.token(end)
        tok = text[at:end]
        if kind == "punct" and tok in _CLOSING:
            self.open_message(name, start, at, tok)
            return self.skip(end)
        if not (kind == "punct" and tok == ":"):
            found = _describe(kind, tok)
            raise self.error(
                at, f"expected ':' or '{{' after field '{_readable(name)}', found {found}"
            )
        kind, at, end = self.token(end)
        tok = text[at:end]
        if kind == "end":
            raise self.error(len(text), f"missing value for field '{_readable(name)}'")
        if kind == "punct" and tok in _CLOSING:
            self.open_message(name, start, at, tok)
            return self.skip(end)
        if kind == "punct" and tok == "[":
            self.open_list(name, start, at)
            return self.skip(end)
        value = self.scalar(name, kind, at, end)
        if value.kind == "word":
            after, next_at, next_end = self.token(value.end)
            if after == "punct" and text[next_at:next_end] in (":", "{", "<"):
                raise self.error(start, f"missing value for field '{_readable(name)}'")
        self.stack[-1][0].append(Field(name, value, start, value.end))
        return self.skip(value.end)

    def extension_name(self, start: int) -> tuple[str, int]:
        """``[pkg.ext]`` as one name; returns it and the offset after its ']'."""
        parts: list[str] = []
        pos = start + 1
        while True:
            kind, at, end = self.token(pos)
            if kind == "end":
                raise self.error(start, "unterminated extension name")
            tok = self.text[at:end]
            if kind == "punct" and tok == "]":
                return "[" + "".join(parts) + "]", end
            parts.append(tok)
            pos = end

    def list_step(self, pos: int) -> int:
        """One item (or the closing bracket) of the innermost ``[...]`` list."""
        text = self.text
        items, _, name, _, _ = self.stack[-1]
        assert name is not None  # a list is always some field's value
        kind, start, end = self.token(pos)
        if kind == "end":
            raise self.error(len(text), f"missing ']' in the list of '{_readable(name)}'")
        tok = text[start:end]
        if kind == "punct" and tok == "]":
            self.close(start)
            return self.skip(end)
        if items:
            if not (kind == "punct" and tok == ","):
                raise self.error(start, f"expected ',' or ']', found {_describe(kind, tok)}")
            kind, start, end = self.token(end)
            if kind == "end":
                raise self.error(len(text), f"missing ']' in the list of '{_readable(name)}'")
            tok = text[start:end]
        if kind == "punct" and tok in _CLOSING:
            self.open_message(None, start, start, tok)
            return self.skip(end)
        value = self.scalar(name, kind, start, end)
        items.append(value)
        return self.skip(value.end)

    def scalar(self, name: str, kind: str, start: int, end: int) -> Scalar:
        """A value token: a valid word, or a string with any strings adjacent to it."""
        tok = self.text[start:end]
        if kind == "word":
            if not _WORD_VALUE.match(tok):
                raise self.error(
                    start, f"invalid value '{_readable(tok)}' for field '{_readable(name)}'"
                )
            return Scalar("word", tok, tok, start, end)
        if kind != "string":
            raise self.error(
                start,
                f"expected a value for field '{_readable(name)}', found {_describe(kind, tok)}",
            )
        return self.strings([(tok, start)])

    def strings(self, parts: list[tuple[str, int]]) -> Scalar:
        """A string value: the literals read so far (each with its offset) and those after."""
        start = parts[0][1]
        end = parts[-1][1] + len(parts[-1][0])
        while True:
            kind, at, after = self.token(end)
            if kind != "string":
                break
            parts.append((self.text[at:after], at))
            end = after
        try:
            value = _decode_literals(parts)
        except _StringError as exc:
            raise self.error(exc.offset, exc.what) from None
        return Scalar("string", self.text[start:end], value, start, end)

    def string_value(self, literal: str, start: int, after: int) -> str:
        """The value of a literal the common path read; ``after`` is the offset after it."""
        try:
            return _decode_literals([(literal, start)])
        except _StringError as exc:
            follows = self.skip(after)
            if exc.utf8 and self.text[follows : follows + 1] in ("'", '"'):
                # An adjacent string may complete the UTF-8; ``after_field`` decodes them all.
                return ""
            raise self.error(exc.offset, exc.what) from None


# ---------------------------------------------------------------------------------------
# The document


def _line_starts(text: str) -> list[int]:
    # Each line's length plus its newline, summed; the last sum is one past the text.
    starts = list(accumulate(map(add, map(len, text.split("\n")), repeat(1)), initial=0))
    starts.pop()
    return starts


def _line_col(line_starts: Sequence[int], offset: int) -> tuple[int, int]:
    line = bisect_right(line_starts, offset) - 1
    return line + 1, offset - line_starts[line] + 1


def _detect_newline(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


_INDENT_SAMPLE = 200  # fields one level deep: a file's style is settled long before


def _detect_indent(text: str, root: Message) -> str:
    """The unit of indentation: the most common lead of fields one level deep."""
    leads: Counter[str] = Counter()
    rfind = text.rfind
    seen = 0
    for top in root.fields:
        if not isinstance(top.value, Message):
            continue
        for inner in top.value.fields:
            lead = text[rfind("\n", 0, inner.start) + 1 : inner.start]
            if lead and not lead.strip():
                leads[lead] += 1
        seen += len(top.value.fields)
        if seen >= _INDENT_SAMPLE:
            break
    return leads.most_common(1)[0][0] if leads else "  "


def _nul_error(data: bytes, offset: int, source: str) -> PrototxtSyntaxError:
    """A NUL byte: binary data, located at its line and column (in characters, as every
    text error is), decoding only the line it is on."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "surrogateescape")) + 1
    line = data.count(b"\n", 0, offset) + 1
    return PrototxtSyntaxError(
        source, line, column, "a NUL byte: binary data, not a prototxt (a .caffemodel?)"
    )


@dataclass
class Document:
    """A parsed prototxt that remembers every byte of its text."""

    text: str
    source: str
    root: Message

    @classmethod
    def parse(cls, text: str, source: str = "<string>") -> Document:
        """Parse protobuf text; syntax errors raise ``PrototxtSyntaxError`` (FILE:LINE:COL)."""
        with paused_gc():  # the tree has no cycles; collecting while it grows only costs time
            root = _Parser(text, source).parse()
        return cls(text, source, root)

    @cached_property
    def line_starts(self) -> list[int]:
        """Where each line begins: computed when a location is first asked for."""
        return _line_starts(self.text)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Document:
        nul = data.find(b"\0")
        if nul >= 0:
            raise _nul_error(data, nul, source)
        return cls.parse(data.decode("utf-8", "surrogateescape"), source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Document:
        """Read a file (``-`` for standard input) without any newline translation."""
        source = "<stdin>" if str(path) == "-" else str(path)
        return cls.from_bytes(read_input_bytes(path, "a prototxt"), source)

    def to_bytes(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    def __reduce__(self) -> tuple[Any, ...]:
        # The tree is the text's, so pickle and deepcopy carry the text and parse it
        # again, instead of walking the tree recursively (too deep for them at 100 levels).
        return (Document.parse, (self.text, self.source))

    @cached_property
    def newline(self) -> str:
        return _detect_newline(self.text)

    @cached_property
    def indent(self) -> str:
        return _detect_indent(self.text, self.root)

    def line_col(self, offset: int) -> tuple[int, int]:
        return _line_col(self.line_starts, offset)

    def location(self, offset: int) -> str:
        line, col = self.line_col(offset)
        return f"{self.source}:{line}:{col}"

    def edited(self, edits: Iterable[Edit]) -> Document:
        """A new document with the edits applied (they must not overlap)."""
        ordered = sorted(edits, key=lambda e: (e.start, e.end))
        pieces: list[str] = []
        cursor = 0
        for e in ordered:
            if e.start < cursor:
                raise ValueError(f"overlapping edits at offset {e.start}")
            pieces.append(self.text[cursor : e.start])
            pieces.append(e.replacement)
            cursor = e.end
        pieces.append(self.text[cursor:])
        return Document.parse("".join(pieces), self.source)

    def line_end_after(self, offset: int) -> int:
        """Where a new block may start after ``offset``: the start of the next line,
        when nothing but blanks or a comment follows on this one."""
        nl = self.text.find("\n", offset)
        end = nl if nl >= 0 else len(self.text)
        rest = self.text[offset:end]
        separator = rest.lstrip(" \t\r\f\v")
        if separator[:1] in (";", ","):  # the field's own separator stays with it
            offset = end - len(separator) + 1
            rest = self.text[offset:end]
        if rest.strip() and not rest.strip().startswith("#"):
            return offset
        return nl + 1 if nl >= 0 else len(self.text)
