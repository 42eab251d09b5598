"""The lossless text model of a prototxt file.

A :class:`Document` keeps the exact text it was read from and a tree of
:class:`Message`/:class:`Field`/:class:`Scalar` nodes that point into that
text by offset.  Saving an unmodified document returns the input byte for
byte; surgery is expressed as :class:`Edit` s (replace a span of text) so
that everything the user did not ask to change stays as it was: comments,
blank lines, field order, tabs, CRLF, quoting, and fields no schema knows.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from .errors import PrototxtSyntaxError, SurgeryError
from .files import read_input_bytes

__all__ = [
    "Document",
    "Edit",
    "Field",
    "Message",
    "Scalar",
    "Value",
    "decode_string",
    "quote_string",
]

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f\v]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<word>[A-Za-z0-9_.+\-]+)
  | (?P<punct>[{}<>\[\]:,;/])
    """,
    re.VERBOSE,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?|inf(?:inity)?|nan)\Z",
    re.IGNORECASE,
)
_CLOSING = {"{": "}", "<": ">"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "word" or "punct"
    text: str
    start: int
    end: int


@dataclass
class Scalar:
    """A scalar value: a word (number, identifier, enum) or a string."""

    kind: str  # "string" or "word"
    raw: str  # exactly as written, adjacent strings included
    value: str  # the decoded string, or the word itself
    start: int
    end: int

    def as_int(self) -> int:
        return int(self.value, 0) if self.kind == "word" else int(self.value)

    def as_float(self) -> float:
        return float(self.value.rstrip("fF")) if self.kind == "word" else float(self.value)

    def as_bool(self) -> bool:
        return self.value.lower() in ("true", "t", "1")


@dataclass
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


@dataclass
class Field:
    """One ``name: value`` or ``name { ... }`` occurrence; ``start``..``end`` covers both."""

    name: str
    value: Value | list[Value]
    start: int
    end: int

    def values(self) -> list[Value]:
        return list(self.value) if isinstance(self.value, list) else [self.value]


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``replacement`` (an insertion when start == end)."""

    start: int
    end: int
    replacement: str


_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def decode_string(literal: str) -> str:
    """Decode one quoted protobuf text literal (quotes included) to its value."""
    body = literal[1:-1]
    if "\\" not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[nxt].encode()
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8) & 0xFF)
            i += 1 + len(digits.group())
        elif nxt in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])
            if digits is None:
                raise ValueError("\\x escape without hex digits")
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        elif nxt in "uU":
            width = 4 if nxt == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode()
            i += 2 + width
        else:
            raise ValueError(f"unknown escape '\\{nxt}'")
    return out.decode("utf-8", "surrogateescape")


_QUOTE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_string(value: str, quote: str = '"') -> str:
    """Write a value as a protobuf text literal in ``quote`` (``"`` or ``'``)."""
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


class _Parser:
    def __init__(self, text: str, source: str, line_starts: Sequence[int]) -> None:
        self.text = text
        self.source = source
        self.line_starts = line_starts
        self.tokens = list(self._tokenize())
        self.pos = 0

    def error(self, offset: int, what: str) -> PrototxtSyntaxError:
        line, col = _line_col(self.line_starts, offset)
        return PrototxtSyntaxError(self.source, line, col, what)

    def _tokenize(self) -> Iterator[_Token]:
        text = self.text
        pos = 0
        match = _TOKEN.match
        while pos < len(text):
            m = match(text, pos)
            if m is None:
                ch = text[pos]
                if ch in "\"'":
                    raise self.error(pos, "unterminated string")
                placeholder = re.match(r"\$\{[^}\n]*\}", text[pos:])
                if placeholder:
                    raise self.error(
                        pos, f"unresolved template placeholder '{placeholder.group()}'"
                    )
                shown = ch if ch.isprintable() else repr(ch)
                raise self.error(pos, f"unexpected character '{shown}'")
            kind = m.lastgroup
            assert kind is not None
            if kind not in ("space", "comment"):
                yield _Token(kind, m.group(), pos, m.end())
            pos = m.end()

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse_root(self) -> Message:
        fields = self.parse_fields(None)
        return Message(fields, -1, len(self.text))

    def parse_fields(self, closer: str | None, opener: _Token | None = None) -> list[Field]:
        fields: list[Field] = []
        while True:
            tok = self.peek()
            if tok is None:
                if closer is None:
                    return fields
                assert opener is not None
                line, col = _line_col(self.line_starts, opener.start)
                raise self.error(
                    len(self.text), f"missing '{closer}' for the '{opener.text}' at {line}:{col}"
                )
            if tok.kind == "punct" and tok.text == closer:
                return fields
            fields.append(self.parse_field())

    def parse_field(self) -> Field:
        name_tok = self.take()
        name = name_tok.text
        if name_tok.kind == "punct" and name_tok.text == "[":
            name = self.parse_extension_name(name_tok)
        elif name_tok.kind != "word" or not _IDENTIFIER.match(name_tok.text):
            raise self.error(name_tok.start, f"expected a field name, found {_describe(name_tok)}")
        tok = self.peek()
        value: Value | list[Value]
        if tok is not None and tok.kind == "punct" and tok.text == ":":
            self.take()
            tok = self.peek()
            if tok is None:
                raise self.error(len(self.text), f"missing value for field '{name}'")
            if tok.kind == "punct" and tok.text in _CLOSING:
                value = self.parse_message()
            elif tok.kind == "punct" and tok.text == "[":
                value = self.parse_list(name)
            else:
                value = self.parse_scalar(name)
                after = self.peek()
                if (
                    value.kind == "word"
                    and after is not None
                    and after.kind == "punct"
                    and after.text in (":", *_CLOSING)
                ):
                    # `input_dim:` with nothing after it took the next field's name as its value.
                    raise self.error(name_tok.start, f"missing value for field '{name}'")
        elif tok is not None and tok.kind == "punct" and tok.text in _CLOSING:
            value = self.parse_message()
        else:
            where = tok.start if tok is not None else len(self.text)
            found = _describe(tok) if tok is not None else "end of file"
            raise self.error(where, f"expected ':' or '{{' after field '{name}', found {found}")
        end = self.tokens[self.pos - 1].end  # the value's last token: '}', '>', ']' or itself
        field_ = Field(name, value, name_tok.start, end)
        sep = self.peek()
        if sep is not None and sep.kind == "punct" and sep.text in ",;":
            self.take()
        return field_

    def parse_extension_name(self, open_tok: _Token) -> str:
        parts: list[str] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise self.error(open_tok.start, "unterminated extension name")
            self.take()
            if tok.kind == "punct" and tok.text == "]":
                return "[" + "".join(parts) + "]"
            parts.append(tok.text)

    def parse_message(self) -> Message:
        opener = self.take()
        closer = _CLOSING[opener.text]
        fields = self.parse_fields(closer, opener)
        close = self.take()
        return Message(fields, opener.start, close.start)

    def parse_list(self, name: str) -> list[Value]:
        self.take()
        items: list[Value] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise self.error(len(self.text), f"missing ']' in the list of '{name}'")
            if tok.kind == "punct" and tok.text == "]":
                self.take()
                return items
            if items:
                if not (tok.kind == "punct" and tok.text == ","):
                    raise self.error(tok.start, f"expected ',' or ']', found {_describe(tok)}")
                self.take()
                tok = self.peek()
                if tok is None:
                    raise self.error(len(self.text), f"missing ']' in the list of '{name}'")
            if tok.kind == "punct" and tok.text in _CLOSING:
                items.append(self.parse_message())
            else:
                items.append(self.parse_scalar(name))

    def parse_scalar(self, name: str) -> Scalar:
        tok = self.take()
        if tok.kind == "word":
            if not (_IDENTIFIER.match(tok.text) or _NUMBER.match(tok.text)):
                raise self.error(tok.start, f"invalid value '{tok.text}' for field '{name}'")
            return Scalar("word", tok.text, tok.text, tok.start, tok.end)
        if tok.kind != "string":
            raise self.error(
                tok.start, f"expected a value for field '{name}', found {_describe(tok)}"
            )
        parts = [tok]
        while (nxt := self.peek()) is not None and nxt.kind == "string":
            parts.append(self.take())
        try:
            value = "".join(decode_string(p.text) for p in parts)
        except (ValueError, IndexError) as exc:
            raise self.error(tok.start, f"bad string literal: {exc}") from None
        raw = self.text[parts[0].start : parts[-1].end]
        return Scalar("string", raw, value, parts[0].start, parts[-1].end)


def _describe(tok: _Token) -> str:
    return f"'{tok.text}'" if tok.kind == "punct" else f"{tok.kind} '{tok.text}'"


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _line_col(line_starts: Sequence[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(line_starts, offset) - 1
    return line + 1, offset - line_starts[line] + 1


def _detect_newline(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def _detect_indent(text: str, root: Message, line_starts: Sequence[int]) -> str:
    """The unit of indentation: the most common lead of fields one level deep."""
    leads: Counter[str] = Counter()
    for top in root.fields:
        if not isinstance(top.value, Message):
            continue
        for inner in top.value.fields:
            line = bisect.bisect_right(line_starts, inner.start) - 1
            lead = text[line_starts[line] : inner.start]
            if lead and not lead.strip():
                leads[lead] += 1
    return leads.most_common(1)[0][0] if leads else "  "


@dataclass
class Document:
    """A parsed prototxt that remembers every byte of its text."""

    text: str
    source: str
    root: Message
    line_starts: list[int] = field(repr=False)

    @classmethod
    def parse(cls, text: str, source: str = "<string>") -> Document:
        """Parse protobuf text; syntax errors raise ``PrototxtSyntaxError`` (FILE:LINE:COL)."""
        starts = _line_starts(text)
        root = _Parser(text, source, starts).parse_root()
        return cls(text, source, root, starts)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Document:
        if b"\0" in data:
            raise SurgeryError(f"{source}: binary data, not a prototxt (a .caffemodel?)")
        return cls.parse(data.decode("utf-8", "surrogateescape"), source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Document:
        """Read a file (``-`` for standard input) without any newline translation."""
        source = "<stdin>" if str(path) == "-" else str(path)
        return cls.from_bytes(read_input_bytes(path, "a prototxt"), source)

    def to_bytes(self) -> bytes:
        return self.text.encode("utf-8", "surrogateescape")

    @cached_property
    def newline(self) -> str:
        return _detect_newline(self.text)

    @cached_property
    def indent(self) -> str:
        return _detect_indent(self.text, self.root, self.line_starts)

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
