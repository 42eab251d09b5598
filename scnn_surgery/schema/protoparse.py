"""A pure-Python compiler for the proto2 subset forks' ``caffe.proto`` files use.

``--proto FILE`` must work without protoc, so this parses the ``.proto`` text
into ``FileDescriptorProto`` s itself and builds message classes in a private
descriptor pool (a user file declaring ``package caffe`` must not clash with
:mod:`~scnn_surgery.schema.caffe_pb2`). Every error names FILE:LINE:COL.
"""

from __future__ import annotations

import math
import re
import struct
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal import enum_type_wrapper
from google.protobuf.message import Message

from ..errors import SurgeryError
from ..files import read_input_bytes

__all__ = ["ProtoParseError", "load_user_proto"]


class ProtoParseError(ValueError):
    """A .proto file outside the supported proto2 subset, or malformed."""


_FDP = descriptor_pb2.FieldDescriptorProto
_TypeValue: TypeAlias = "descriptor_pb2.FieldDescriptorProto.Type.ValueType"
_M_co = TypeVar("_M_co", bound=Message, covariant=True)


class _Container(Protocol[_M_co]):
    """The bit of a repeated message field the parser uses."""

    def add(self, **kwargs: Any) -> _M_co: ...


_SCALAR_TYPES = {
    "double": _FDP.TYPE_DOUBLE,
    "float": _FDP.TYPE_FLOAT,
    "int64": _FDP.TYPE_INT64,
    "uint64": _FDP.TYPE_UINT64,
    "int32": _FDP.TYPE_INT32,
    "fixed64": _FDP.TYPE_FIXED64,
    "fixed32": _FDP.TYPE_FIXED32,
    "bool": _FDP.TYPE_BOOL,
    "string": _FDP.TYPE_STRING,
    "bytes": _FDP.TYPE_BYTES,
    "uint32": _FDP.TYPE_UINT32,
    "sfixed32": _FDP.TYPE_SFIXED32,
    "sfixed64": _FDP.TYPE_SFIXED64,
    "sint32": _FDP.TYPE_SINT32,
    "sint64": _FDP.TYPE_SINT64,
}
_LABELS = {
    "optional": _FDP.LABEL_OPTIONAL,
    "required": _FDP.LABEL_REQUIRED,
    "repeated": _FDP.LABEL_REPEATED,
}
_INT_RANGES = {
    _FDP.TYPE_INT32: (-(2**31), 2**31 - 1),
    _FDP.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _FDP.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _FDP.TYPE_INT64: (-(2**63), 2**63 - 1),
    _FDP.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _FDP.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _FDP.TYPE_UINT32: (0, 2**32 - 1),
    _FDP.TYPE_FIXED32: (0, 2**32 - 1),
    _FDP.TYPE_UINT64: (0, 2**64 - 1),
    _FDP.TYPE_FIXED64: (0, 2**64 - 1),
}
_MAX_FIELD_NUMBER = 2**29 - 1

_PROTO_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<line_comment>//[^\n]*)
    | (?P<block_comment>/\*.*?\*/)
    | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<num>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<sym>[{}\[\]();=,.<>+-])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int
    col: int  # 1-based


def _located(filename: str, token: _Token, msg: str) -> ProtoParseError:
    return ProtoParseError(f"{filename}:{token.line}:{token.col}: {msg}")


def _tokenize(source: str, filename: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        match = _PROTO_TOKEN.match(source, pos)
        if match is None:
            here = _Token("", "", line, pos - line_start + 1)
            raise _located(filename, here, f"unexpected character {source[pos]!r}")
        kind = match.lastgroup
        assert kind is not None
        text = match.group()
        if kind not in ("ws", "line_comment", "block_comment"):
            tokens.append(_Token(kind, text, line, pos - line_start + 1))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = pos + text.rindex("\n") + 1
        pos = match.end()
    return tokens


_ESCAPES = {
    "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
    "\\": 92, "'": 39, '"': 34, "?": 63,
}


def _unescape(literal: str) -> bytes:
    body = literal[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xX":
            digits = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :])
            if not digits:
                raise ProtoParseError(f"bad hex escape in {literal}")
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert digits
            out.append(int(digits.group(), 8) & 0xFF)
            i += 1 + len(digits.group())
        else:
            raise ProtoParseError(f"unknown escape \\{nxt} in {literal}")
    return bytes(out)


def _c_escape(data: bytes) -> str:
    """Bytes defaults are stored C-escaped in descriptors, as protoc does."""
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


def _format_float(value: float, single: bool) -> str:
    """protoc's SimpleFtoa/SimpleDtoa: short %g form unless it fails to round-trip."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    if single:
        value = struct.unpack("<f", struct.pack("<f", value))[0]
        short = f"{value:.6g}"
        if struct.unpack("<f", struct.pack("<f", float(short)))[0] == value:
            return short
        return f"{value:.9g}"
    short = f"{value:.15g}"
    return short if float(short) == value else f"{value:.17g}"


@dataclass
class _Scope:
    proto: descriptor_pb2.DescriptorProto
    full_name: str
    numbers: dict[int, _Token] = field(default_factory=dict)  # field number -> its name


@dataclass
class _PendingType:
    """A field whose message/enum type is resolved once every file is parsed."""

    field: descriptor_pb2.FieldDescriptorProto
    type_name: str
    scope: str
    token: _Token


class _Parser:
    """One file; ``filename`` (the path as the user gave it) locates errors, ``name``
    (the import name) is the descriptor's file name."""

    def __init__(self, source: str, filename: str, name: str) -> None:
        self.filename = filename
        self.tokens = _tokenize(source, filename)
        self.end = _end_token(source)
        self.pos = 0
        self.file = descriptor_pb2.FileDescriptorProto(name=name)
        self.imports: list[tuple[str, _Token]] = []
        self.pending: list[_PendingType] = []
        self.defaults: list[tuple[descriptor_pb2.FieldDescriptorProto, _Token]] = []
        # Where each symbol (message, enum, enum value, field) is defined, so the
        # descriptor pool's complaints about duplicates can be located.
        self.symbols: dict[str, _Token] = {}

    # token helpers
    def _error(self, msg: str, token: _Token | None = None) -> ProtoParseError:
        tok = token or (self.tokens[self.pos] if self.pos < len(self.tokens) else self.end)
        return _located(self.filename, tok, msg)

    def _define(self, full_name: str, token: _Token) -> None:
        """Protobuf scopes like C++: fields, nested types and enum values share a namespace."""
        first = self.symbols.get(full_name)
        if first is not None:
            raise self._error(f"{full_name!r} is already defined (line {first.line})", token)
        self.symbols[full_name] = token

    def _peek(self, offset: int = 0) -> _Token | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def _next(self) -> _Token:
        tok = self._peek()
        if tok is None:
            raise self._error("unexpected end of file")
        self.pos += 1
        return tok

    def _peek_text(self, offset: int = 0) -> str | None:
        tok = self._peek(offset)
        return None if tok is None else tok.text

    def _peek_kind(self) -> str | None:
        tok = self._peek()
        return None if tok is None else tok.kind

    def _accept(self, text: str) -> bool:
        tok = self._peek()
        if tok is not None and tok.text == text and tok.kind in ("sym", "ident"):
            self.pos += 1
            return True
        return False

    def _expect(self, text: str) -> _Token:
        tok = self._next()
        if tok.text != text or tok.kind not in ("sym", "ident"):
            raise self._error(f"expected {text!r}, found {tok.text!r}", tok)
        return tok

    def _ident(self) -> str:
        tok = self._next()
        if tok.kind != "ident":
            raise self._error(f"expected a name, found {tok.text!r}", tok)
        return tok.text

    def _dotted(self) -> str:
        parts = ["." if self._accept(".") else ""]
        parts.append(self._ident())
        while self._accept("."):
            parts.append("." + self._ident())
        return "".join(parts)

    def _string(self) -> bytes:
        tok = self._next()
        if tok.kind != "str":
            raise self._error(f"expected a string, found {tok.text!r}", tok)
        value = self._unescape(tok)
        while self._peek_kind() == "str":  # adjacent literals concatenate
            value += self._unescape(self._next())
        return value

    def _unescape(self, tok: _Token) -> bytes:
        try:
            return _unescape(tok.text)
        except ProtoParseError as exc:
            raise self._error(str(exc), tok) from None

    def _integer(self) -> int:
        negative = self._accept("-")
        tok = self._next()
        value = _int_literal(tok.text) if tok.kind == "num" else None
        if value is None:
            raise self._error(f"expected an integer, found {tok.text!r}", tok)
        return -value if negative else value

    def _constant(self) -> _Token:
        """A constant's raw token; a leading sign is folded into the token text."""
        sign = ""
        if self._peek_text() in ("-", "+"):
            sign = self._next().text
        tok = self._next()
        if sign:
            if tok.kind not in ("num", "ident"):
                raise self._error(f"bad constant {sign}{tok.text}", tok)
            return _Token(tok.kind, ("-" if sign == "-" else "") + tok.text, tok.line, tok.col)
        if tok.kind == "str":
            self.pos -= 1
            value = self._string()
            return _Token("str", value.decode("latin-1"), tok.line, tok.col)
        if tok.kind == "sym":
            raise self._error(f"expected a constant, found {tok.text!r}", tok)
        return tok

    def _skip_option_name(self) -> str:
        if self._accept("("):
            name = "(" + self._dotted() + ")"
            self._expect(")")
        else:
            name = self._ident()
        while self._accept("."):
            name += "." + self._ident()
        return name

    def _option_statement(self) -> tuple[str, _Token]:
        """``NAME = CONSTANT ;`` after the word ``option``: the name and the value."""
        name = self._skip_option_name()
        self._expect("=")
        value = self._constant()
        self._expect(";")
        return name, value

    def _bracket_options(self) -> list[tuple[_Token, str, _Token]]:
        """``[NAME = CONSTANT, ...]`` after a field or enum value, if present: each option's
        first token, name and value."""
        options: list[tuple[_Token, str, _Token]] = []
        if not self._accept("["):
            return options
        while True:
            first = self._peek()
            name = self._skip_option_name()
            assert first is not None
            self._expect("=")
            options.append((first, name, self._constant()))
            if not self._accept(","):
                break
        self._expect("]")
        return options

    # grammar
    def parse(self) -> descriptor_pb2.FileDescriptorProto:
        while self._peek() is not None:
            if self._accept(";"):
                continue
            word = self._ident()
            if word == "syntax":
                self._expect("=")
                syntax = self._string().decode()
                if syntax != "proto2":
                    raise self._error(f"only proto2 is supported, not {syntax!r}")
                self._expect(";")
            elif word == "package":
                self.file.package = self._dotted().lstrip(".")
                self._expect(";")
            elif word == "import":
                if self._peek_text() in ("public", "weak"):
                    self._next()
                import_tok = self._peek()
                assert import_tok is not None
                self.imports.append((self._string().decode(), import_tok))
                self._expect(";")
            elif word == "option":
                self._option_statement()
            elif word == "message":
                self._message(self.file.message_type, self.file.package)
            elif word == "enum":
                self._enum(self.file.enum_type, self.file.package)
            else:
                raise self._error(f"unsupported top-level statement {word!r}")
        return self.file

    # Children are created in place with add(): append() would copy them and
    # orphan the field references kept in self.pending.
    def _message(self, container: _Container[descriptor_pb2.DescriptorProto], parent: str) -> None:
        name_tok = self._peek()
        name = self._ident()
        assert name_tok is not None
        proto = container.add(name=name)
        scope = _Scope(proto, _join(parent, name))
        self._define(scope.full_name, name_tok)
        self._expect("{")
        while not self._accept("}"):
            if self._accept(";"):
                continue
            word = self._ident()
            if word in _LABELS:
                self._field(scope, word)
            elif word == "message":
                self._message(proto.nested_type, scope.full_name)
            elif word == "enum":
                self._enum(proto.enum_type, scope.full_name)
            elif word == "option":
                self._option_statement()
            elif word == "reserved":
                self._reserved(proto)
            elif word == "extensions":
                for start, end in self._ranges():
                    proto.extension_range.add(start=start, end=end)
            else:
                raise self._error(f"unsupported statement {word!r} in message {name}")
        self._check_numbers(scope)

    def _check_numbers(self, scope: _Scope) -> None:
        """What protoc refuses and the descriptor pool lets through."""
        proto = scope.proto
        reserved_names = set(proto.reserved_name)
        for number, tok in scope.numbers.items():
            if tok.text in reserved_names:
                raise self._error(f"field name {tok.text!r} is reserved in {proto.name}", tok)
            if any(r.start <= number < r.end for r in proto.reserved_range):
                raise self._error(f"field number {number} is reserved in {proto.name}", tok)
            if any(r.start <= number < r.end for r in proto.extension_range):
                raise self._error(
                    f"field number {number} is in an extension range of {proto.name}", tok
                )

    def _ranges(self) -> list[tuple[int, int]]:
        ranges = []
        while True:
            start = self._integer()
            end = start
            if self._accept("to"):
                end = _MAX_FIELD_NUMBER if self._accept("max") else self._integer()
            ranges.append((start, end + 1))
            if not self._accept(","):
                break
        self._expect(";")
        return ranges

    def _reserved(
        self, proto: descriptor_pb2.DescriptorProto | descriptor_pb2.EnumDescriptorProto
    ) -> None:
        """Reserved names, or reserved number ranges (inclusive in an enum's descriptor,
        end-exclusive in a message's)."""
        if self._peek_kind() == "str":
            while True:
                proto.reserved_name.append(self._string().decode())
                if not self._accept(","):
                    break
            self._expect(";")
            return
        inclusive = isinstance(proto, descriptor_pb2.EnumDescriptorProto)
        for start, end in self._ranges():
            proto.reserved_range.add(start=start, end=end - 1 if inclusive else end)

    def _field(self, scope: _Scope, label: str) -> None:
        type_tok = self._peek()
        assert type_tok is not None
        if type_tok.text in ("group", "map"):
            raise self._error(f"{type_tok.text} fields are not supported", type_tok)
        type_name = self._dotted()
        name_tok = self._peek()
        fd = scope.proto.field.add(name=self._ident(), label=_LABELS[label])
        assert name_tok is not None
        self._define(_join(scope.full_name, fd.name), name_tok)
        self._expect("=")
        number_tok = self._peek()
        number = self._integer()
        if not 1 <= number <= _MAX_FIELD_NUMBER:
            raise self._error(f"field number {number} out of range", number_tok)
        first = scope.numbers.get(number)
        if first is not None:
            used = f"already used by {first.text!r} on line {first.line}"
            raise self._error(f"duplicate field number {number} ({used})", number_tok)
        scope.numbers[number] = name_tok
        fd.number = number
        if type_name in _SCALAR_TYPES:
            fd.type = _SCALAR_TYPES[type_name]
        else:
            self.pending.append(_PendingType(fd, type_name, scope.full_name, type_tok))
        default: _Token | None = None
        for opt_tok, opt, value in self._bracket_options():
            if opt == "default":
                default = value
            elif opt in ("packed", "deprecated", "lazy"):
                if value.text not in ("true", "false"):
                    raise self._error(f"{opt} must be true or false", value)
                setattr(fd.options, opt, value.text == "true")
            elif opt == "json_name":
                fd.json_name = value.text
            elif not opt.startswith("("):
                raise self._error(f"unsupported field option {opt!r}", opt_tok)
        self._expect(";")
        if default is not None:
            if fd.label == _FDP.LABEL_REPEATED:
                raise self._error("repeated fields cannot have a default", default)
            self.defaults.append((fd, default))

    def _enum(
        self, container: _Container[descriptor_pb2.EnumDescriptorProto], parent: str
    ) -> None:
        name_tok = self._peek()
        proto = container.add(name=self._ident())
        assert name_tok is not None
        self._define(_join(parent, proto.name), name_tok)
        self._expect("{")
        while not self._accept("}"):
            if self._accept(";"):
                continue
            # "option"/"reserved" followed by "=" are enum values with those names.
            if self._peek_text() == "option" and self._peek_text(1) != "=":
                self._next()
                opt, value = self._option_statement()
                if opt == "allow_alias":
                    proto.options.allow_alias = value.text == "true"
                continue
            if self._peek_text() == "reserved" and self._peek_text(1) != "=":
                self._next()
                self._reserved(proto)
                continue
            value_tok = self._peek()
            value_proto = proto.value.add(name=self._ident())
            assert value_tok is not None
            # Enum values are siblings of their enum, not its children (C++ scoping).
            self._define(_join(parent, value_proto.name), value_tok)
            self._expect("=")
            value_proto.number = self._integer()
            for _, opt, val in self._bracket_options():
                if opt == "deprecated":
                    value_proto.options.deprecated = val.text == "true"
            self._expect(";")
        if not proto.value:
            raise self._error(f"enum {proto.name} has no values", name_tok)


def _int_literal(text: str) -> int | None:
    """An unsigned decimal, octal (leading 0) or hex (0x) integer, as protoc reads them."""
    if re.fullmatch(r"0[xX][0-9A-Fa-f]+", text):
        return int(text, 16)
    if re.fullmatch(r"0[0-7]*", text):
        return int(text, 8)
    return int(text) if re.fullmatch(r"[1-9]\d*", text) else None


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _end_token(source: str) -> _Token:
    """Where "unexpected end of file" points: just past the last character."""
    line = source.count("\n") + 1
    return _Token("", "", line, len(source) - (source.rfind("\n") + 1) + 1)


def _collect_symbols(
    fdp: descriptor_pb2.FileDescriptorProto,
) -> tuple[dict[str, _TypeValue], set[str]]:
    """Full names (with leading dot) of messages/enums, and the package namespaces."""
    symbols: dict[str, _TypeValue] = {}

    def walk_msg(msg: descriptor_pb2.DescriptorProto, prefix: str) -> None:
        name = f"{prefix}.{msg.name}"
        symbols[name] = _FDP.TYPE_MESSAGE
        for nested in msg.nested_type:
            walk_msg(nested, name)
        for enum in msg.enum_type:
            symbols[f"{name}.{enum.name}"] = _FDP.TYPE_ENUM

    root = f".{fdp.package}" if fdp.package else ""
    for msg in fdp.message_type:
        walk_msg(msg, root)
    for enum in fdp.enum_type:
        symbols[f"{root}.{enum.name}"] = _FDP.TYPE_ENUM
    namespaces = set()
    parts = fdp.package.split(".") if fdp.package else []
    for i in range(1, len(parts) + 1):
        namespaces.add("." + ".".join(parts[:i]))
    return symbols, namespaces


def _resolve(
    name: str, scope: str, symbols: dict[str, _TypeValue], namespaces: set[str]
) -> str | None:
    """C++-like lookup: the innermost scope defining the first component wins."""
    if name.startswith("."):
        return name if name in symbols else None
    first = name.split(".", 1)[0]
    parts = scope.split(".") if scope else []
    for i in range(len(parts), -1, -1):
        base = "." + ".".join(parts[:i]) if i else ""
        head = f"{base}.{first}"
        if head in symbols or head in namespaces:
            full = f"{base}.{name}"
            return full if full in symbols else None
    return None


def _enum_values(fdp_list: Sequence[descriptor_pb2.FileDescriptorProto]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}

    def walk(msg: descriptor_pb2.DescriptorProto, prefix: str) -> None:
        name = f"{prefix}.{msg.name}"
        for nested in msg.nested_type:
            walk(nested, name)
        for enum in msg.enum_type:
            values[f"{name}.{enum.name}"] = [v.name for v in enum.value]

    for fdp in fdp_list:
        root = f".{fdp.package}" if fdp.package else ""
        for msg in fdp.message_type:
            walk(msg, root)
        for enum in fdp.enum_type:
            values[f"{root}.{enum.name}"] = [v.name for v in enum.value]
    return values


def _default_text(
    fd: descriptor_pb2.FieldDescriptorProto, tok: _Token, enum_values: dict[str, list[str]]
) -> str:
    """The default as descriptors store it; errors are located by the caller."""
    kind = fd.type
    text = tok.text
    if kind == _FDP.TYPE_STRING:
        if tok.kind != "str":
            raise ProtoParseError(f"string default expected for {fd.name}")
        return text.encode("latin-1").decode("utf-8")
    if kind == _FDP.TYPE_BYTES:
        if tok.kind != "str":
            raise ProtoParseError(f"bytes default expected for {fd.name}")
        return _c_escape(text.encode("latin-1"))
    if kind == _FDP.TYPE_BOOL:
        if text not in ("true", "false"):
            raise ProtoParseError("bool default must be true/false")
        return text
    if kind == _FDP.TYPE_ENUM:
        if text not in enum_values.get(fd.type_name, []):
            raise ProtoParseError(f"{text} is not a value of {fd.type_name}")
        return text
    if kind in (_FDP.TYPE_FLOAT, _FDP.TYPE_DOUBLE):
        lowered = text.lower()
        if lowered in ("inf", "-inf", "nan", "-nan"):
            value = float(lowered)
        elif tok.kind == "num":
            value = float(int(text, 16)) if "x" in lowered else float(text)
        else:
            raise ProtoParseError(f"bad float default {text!r}")
        return _format_float(value, kind == _FDP.TYPE_FLOAT)
    if kind in _INT_RANGES:
        if tok.kind != "num":
            raise ProtoParseError(f"integer default expected for {fd.name}")
        magnitude = _int_literal(text.removeprefix("-"))
        if magnitude is None:
            raise ProtoParseError(f"integer default expected for {fd.name}")
        value_int = -magnitude if text.startswith("-") else magnitude
        low, high = _INT_RANGES[kind]
        if not low <= value_int <= high:
            raise ProtoParseError(f"default {text} out of range for {fd.name}")
        return str(value_int)
    raise ProtoParseError(f"{fd.name} cannot have a default")


def _parse_file(path: Path, name: str) -> _Parser:
    try:
        source = read_input_bytes(path, "a .proto file").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoParseError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except SurgeryError as exc:  # missing, unreadable, not a regular file, too large
        raise ProtoParseError(str(exc)) from None
    parser = _Parser(source, str(path), name)
    parser.parse()
    return parser


def _find_import(name: str, search: Sequence[Path]) -> Path | None:
    for base in search:
        candidate = base / name
        if candidate.is_file():
            return candidate
    return None


def _parse_all(path: Path, include_paths: Sequence[Path]) -> list[_Parser]:
    """Parse ``path`` and its imports, dependencies first, with every type resolved."""
    search = [path.parent, *include_paths]
    ordered: list[_Parser] = []
    by_name: dict[str, _Parser] = {}
    visiting: set[str] = set()

    def visit(file_path: Path, name: str) -> None:
        visiting.add(name)
        parser = _parse_file(file_path, name)
        for dep, tok in parser.imports:
            if dep in visiting:
                raise parser._error(f"import cycle through {dep!r}", tok)
            if dep not in by_name:
                found = _find_import(dep, search)
                if found is None:
                    where = ", ".join(str(p) for p in search)
                    raise parser._error(f"import {dep!r} not found (looked in {where})", tok)
                visit(found, dep)
            parser.file.dependency.append(dep)
        visiting.discard(name)
        by_name[name] = parser
        ordered.append(parser)

    main_name = path.name
    for base in include_paths:
        try:
            main_name = path.resolve().relative_to(base.resolve()).as_posix()
            break
        except ValueError:
            continue
    visit(path, main_name)
    _resolve_types(ordered)
    return ordered


def _resolve_types(parsers: Sequence[_Parser]) -> None:
    symbols: dict[str, _TypeValue] = {}
    namespaces: set[str] = set()
    files = [p.file for p in parsers]
    for fdp in files:
        syms, spaces = _collect_symbols(fdp)
        symbols.update(syms)
        namespaces |= spaces
    enum_values = _enum_values(files)
    for parser in parsers:
        for item in parser.pending:
            full = _resolve(item.type_name, item.scope, symbols, namespaces)
            if full is None:
                raise parser._error(f"unknown type {item.type_name!r}", item.token)
            item.field.type_name = full
            item.field.type = symbols[full]
        for fd, tok in parser.defaults:
            try:
                fd.default_value = _default_text(fd, tok, enum_values)
            except ProtoParseError as exc:
                raise parser._error(str(exc), tok) from None


def _build_files(
    path: Path, include_paths: Sequence[Path]
) -> list[descriptor_pb2.FileDescriptorProto]:
    """Parse ``path`` and its imports; return them dependencies first."""
    return [parser.file for parser in _parse_all(path, include_paths)]


_POOL_PREFIX = "Couldn't build proto file into descriptor pool: "


def _pool_error(parser: _Parser, exc: Exception) -> ProtoParseError:
    """The pool names the symbol it refuses; point at its definition when we know it."""
    message = str(exc).removeprefix(_POOL_PREFIX)
    for name in re.findall(r"'([\w.]+)'", message):
        qualified = _join(parser.file.package, name)
        token = parser.symbols.get(name) or parser.symbols.get(qualified)
        if token is not None:
            return parser._error(message, token)
    return ProtoParseError(f"{parser.filename}: {message}")


def load_user_proto(
    path: str | Path, include_paths: Iterable[str | Path] = ()
) -> types.ModuleType:
    """Compile a fork's ``caffe.proto`` at run time, without protoc.

    Returns a module-like object shaped like a generated ``*_pb2`` module:
    message classes (``mod.NetParameter``, nested ones as class attributes),
    top-level enums and their values, and ``mod.DESCRIPTOR``. The descriptors
    live in a private pool, so a user file declaring ``package caffe`` does
    not clash with :mod:`caffe_pb2`. ``import`` statements are looked up next
    to ``path`` and then in ``include_paths``. Errors raise
    :class:`ProtoParseError` located as FILE:LINE:COL.
    """
    path = Path(path)
    parsers = _parse_all(path, [Path(p) for p in include_paths])
    pool = descriptor_pool.DescriptorPool()
    file_desc: descriptor.FileDescriptor | None = None
    for parser in parsers:
        try:
            file_desc = pool.AddSerializedFile(parser.file.SerializeToString())
        except (TypeError, ValueError) as exc:
            raise _pool_error(parser, exc) from None
    assert file_desc is not None
    module = types.ModuleType(Path(file_desc.name).stem.replace("-", "_") + "_pb2")
    module.DESCRIPTOR = file_desc  # type: ignore[attr-defined]
    for name, msg_desc in file_desc.message_types_by_name.items():
        setattr(module, name, message_factory.GetMessageClass(msg_desc))
    for name, enum_desc in file_desc.enum_types_by_name.items():
        setattr(module, name, enum_type_wrapper.EnumTypeWrapper(enum_desc))
        for value in enum_desc.values:
            setattr(module, value.name, value.number)
    return module
