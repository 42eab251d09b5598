"""Caffe protobuf schemas: BVLC's, the fork dialects, and user-supplied forks.

``caffe_pb2`` is the final BVLC master schema. Forks reuse field numbers (and
even names) for unrelated messages -- PSPNet's ``bn_param`` is 152 and SegNet's
is 45, with different contents -- so each fork gets its own generated module in
its own proto package (``scnn_surgery.dialect.<name>``), which lets all of
them live in the default descriptor pool next to ``caffe``.
"""

from __future__ import annotations

import math
import re
import struct
import types
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar, cast

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal import enum_type_wrapper
from google.protobuf.message import Message

from . import caffe_pb2
from .dialects import (
    deeplab_pb2,
    densenet_pb2,
    enet_pb2,
    fast_rcnn_pb2,
    mobilenet_yolo_pb2,
    pspnet_pb2,
    segnet_pb2,
    ssd_pb2,
    vpgnet_pb2,
)

__all__ = [
    "CUSTOM_LAYER_TYPES",
    "DIALECTS",
    "ProtoParseError",
    "caffe_pb2",
    "dialect_for_layer_types",
    "guess_dialect",
    "guess_dialect_for_text",
    "known_field_names",
    "layer_message_class",
    "load_user_proto",
    "net_message_class",
    "text_field_names",
    "text_layer_types",
]

# Order doubles as the tie-break preference of guess_dialect.
DIALECTS: dict[str, types.ModuleType] = {
    "bvlc": caffe_pb2,
    "ssd": ssd_pb2,
    "fast_rcnn": fast_rcnn_pb2,
    "segnet": segnet_pb2,
    "enet": enet_pb2,
    "deeplab": deeplab_pb2,
    "pspnet": pspnet_pb2,
    "mobilenet_yolo": mobilenet_yolo_pb2,
    "densenet": densenet_pb2,
    "vpgnet": vpgnet_pb2,
}

_DEEPLAB_TYPES = frozenset(
    {
        "AdaptiveBiasChannel",
        "BiasChannel",
        "DenseCRF",
        "DomainTransform",
        "ImageSegData",
        "Interp",
        "MatRead",
        "MatWrite",
        "SegAccuracy",
        "UniqueLabel",
    }
)
_SSD_TYPES = frozenset(
    {
        "AnnotatedData",
        "DetectionEvaluate",
        "DetectionOutput",
        "MultiBoxLoss",
        "Normalize",
        "Permute",
        "PriorBox",
    }
)
_SEGNET_TYPES = frozenset({"BN", "DenseImageData", "Upsample"})

# Layer types a dialect adds to BVLC's registry.
CUSTOM_LAYER_TYPES: dict[str, frozenset[str]] = {
    "bvlc": frozenset(),
    "ssd": _SSD_TYPES | {"VideoData"},
    "fast_rcnn": frozenset({"ROIPooling", "SmoothL1Loss"}),
    "segnet": _SEGNET_TYPES,
    "enet": _SEGNET_TYPES,
    "deeplab": _DEEPLAB_TYPES,
    "pspnet": _DEEPLAB_TYPES | {"BN"},
    "mobilenet_yolo": _SSD_TYPES
    | {
        "DepthwiseConvolution",
        "RegionLoss",
        "ReLU6",
        "Reorg",
        "Upsample",
        "YoloDetectionOutput",
        "Yolov3",
        "Yolov3DetectionOutput",
    },
    "densenet": frozenset(),
    "vpgnet": frozenset({"DriveData", "Tiling"}),
}


def _module(dialect: str) -> types.ModuleType:
    try:
        return DIALECTS[dialect]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise KeyError(f"unknown Caffe dialect {dialect!r} (known: {known})") from None


def layer_message_class(dialect: str) -> type[Message]:
    return cast(type[Message], _module(dialect).LayerParameter)


def net_message_class(dialect: str) -> type[Message]:
    return cast(type[Message], _module(dialect).NetParameter)


@cache
def known_field_names(dialect: str) -> frozenset[str]:
    """Every field name reachable from the dialect's NetParameter (V0/V1 included)."""
    names: set[str] = set()
    seen: set[str] = set()
    stack = [net_message_class(dialect).DESCRIPTOR]
    while stack:
        desc = stack.pop()
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        for fd in desc.fields:
            names.add(fd.name)
            if fd.message_type is not None:
                stack.append(fd.message_type)
    return frozenset(names)


def guess_dialect(layer_types: Iterable[str], param_field_names: Iterable[str] = ()) -> str:
    """Pick the dialect that best explains a net.

    Field names decide first: a dialect that cannot parse some field the text
    uses loses to one that can (that is how PSPNet's ``bn_param { slope_filler }``
    beats SegNet's ``bn_param { bn_mode }``, and ``ceil_mode`` picks densenet).
    Then the dialect registering more of the custom layer types wins, then the
    order of ``DIALECTS``.
    """
    wanted_types = set(layer_types)
    wanted_fields = set(param_field_names)

    def score(item: tuple[int, str]) -> tuple[int, int, int]:
        rank, name = item
        unknown = len(wanted_fields - known_field_names(name))
        covered = len(wanted_types & CUSTOM_LAYER_TYPES[name])
        return (unknown, -covered, rank)

    return min(enumerate(DIALECTS), key=score)[1]


def dialect_for_layer_types(
    types_: Iterable[str], param_field_names: Iterable[str] = ()
) -> str:
    """The dialect that knows the custom layer types (see :func:`guess_dialect`)."""
    return guess_dialect(types_, param_field_names)


# Strings and comments are skipped so that their contents are never taken for names.
_TEXT_TOKEN = re.compile(
    r"""
      (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<comment>\#[^\n]*)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<sep>:\s*[{<]|[:{<])
    | (?P<close>[}>])
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_TYPE_VALUE = re.compile(r"""\s*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|([A-Za-z_]\w*))""")
_LAYER_BLOCKS = frozenset({"layer", "layers"})


def _text_names(text: str) -> Iterator[tuple[str, int, str | None]]:
    """(field name, end offset, enclosing block name) for every field in a prototxt."""
    blocks: list[str] = []
    for match in _TEXT_TOKEN.finditer(text):
        name = match.group("name")
        if name:
            yield name, match.end(), blocks[-1] if blocks else None
            if match.group("sep")[-1] in "{<":
                blocks.append(name)
        elif match.group("close") and blocks:
            blocks.pop()


def text_field_names(text: str) -> set[str]:
    """Field names used in a prototxt (any nesting level), ignoring comments."""
    return {name for name, _, _ in _text_names(text)}


def text_layer_types(text: str) -> set[str]:
    """The layers' ``type:`` values (V2 strings, V1 enum names, V0 strings)."""
    found = set()
    for name, end, block in _text_names(text):
        if name != "type" or block not in _LAYER_BLOCKS:
            continue
        value = _TYPE_VALUE.match(text, end)
        if value:
            found.add(next(g for g in value.groups() if g is not None))
    return found


def guess_dialect_for_text(text: str) -> str:
    return guess_dialect(text_layer_types(text), text_field_names(text))


# ---------------------------------------------------------------------------
# Run-time compilation of a user's fork caffe.proto (proto2 subset, no protoc).


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


def _tokenize(source: str, filename: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos, line = 0, 1
    while pos < len(source):
        match = _PROTO_TOKEN.match(source, pos)
        if match is None:
            raise ProtoParseError(f"{filename}:{line}: unexpected character {source[pos]!r}")
        kind = match.lastgroup
        assert kind is not None
        text = match.group()
        if kind not in ("ws", "line_comment", "block_comment"):
            tokens.append(_Token(kind, text, line))
        line += text.count("\n")
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


@dataclass
class _PendingType:
    """A field whose message/enum type is resolved once every file is parsed."""

    field: descriptor_pb2.FieldDescriptorProto
    type_name: str
    scope: str
    token: _Token


class _Parser:
    def __init__(self, source: str, filename: str) -> None:
        self.filename = filename
        self.tokens = _tokenize(source, filename)
        self.pos = 0
        self.file = descriptor_pb2.FileDescriptorProto(name=filename)
        self.scopes: list[_Scope] = []
        self.imports: list[str] = []
        self.pending: list[_PendingType] = []
        self.defaults: list[tuple[descriptor_pb2.FieldDescriptorProto, _Token]] = []

    # token helpers
    def _error(self, msg: str, token: _Token | None = None) -> ProtoParseError:
        tok = token or (self.tokens[self.pos] if self.pos < len(self.tokens) else None)
        line = tok.line if tok else (self.tokens[-1].line if self.tokens else 1)
        return ProtoParseError(f"{self.filename}:{line}: {msg}")

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
        value = _unescape(tok.text)
        while self._peek_kind() == "str":  # adjacent literals concatenate
            value += _unescape(self._next().text)
        return value

    def _integer(self) -> int:
        negative = self._accept("-")
        tok = self._next()
        if tok.kind != "num" or not re.fullmatch(r"0[xX][0-9A-Fa-f]+|\d+", tok.text):
            raise self._error(f"expected an integer, found {tok.text!r}", tok)
        text = tok.text
        if text.lower().startswith("0x"):
            value = int(text, 16)
        elif len(text) > 1 and text.startswith("0"):
            value = int(text, 8)
        else:
            value = int(text)
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
            return _Token(tok.kind, ("-" if sign == "-" else "") + tok.text, tok.line)
        if tok.kind == "str":
            self.pos -= 1
            value = self._string()
            return _Token("str", value.decode("latin-1"), tok.line)
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
                self.imports.append(self._string().decode())
                self._expect(";")
            elif word == "option":
                self._skip_option_name()
                self._expect("=")
                self._constant()
                self._expect(";")
            elif word == "message":
                self._message(self.file.message_type, self.file.package)
            elif word == "enum":
                self._enum(self.file.enum_type)
            else:
                raise self._error(f"unsupported top-level statement {word!r}")
        return self.file

    # Children are created in place with add(): append() would copy them and
    # orphan the field references kept in self.pending.
    def _message(self, container: _Container[descriptor_pb2.DescriptorProto], parent: str) -> None:
        name = self._ident()
        proto = container.add(name=name)
        scope = _Scope(proto, f"{parent}.{name}" if parent else name)
        self.scopes.append(scope)
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
                self._enum(proto.enum_type)
            elif word == "option":
                self._skip_option_name()
                self._expect("=")
                self._constant()
                self._expect(";")
            elif word == "reserved":
                self._reserved(proto)
            elif word == "extensions":
                for start, end in self._ranges():
                    proto.extension_range.add(start=start, end=end)
            else:
                raise self._error(f"unsupported statement {word!r} in message {name}")
        self.scopes.pop()

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

    def _reserved(self, proto: descriptor_pb2.DescriptorProto) -> None:
        tok = self._peek()
        if tok is not None and tok.kind == "str":
            while True:
                proto.reserved_name.append(self._string().decode())
                if not self._accept(","):
                    break
            self._expect(";")
            return
        for start, end in self._ranges():
            proto.reserved_range.add(start=start, end=end)

    def _field(self, scope: _Scope, label: str) -> None:
        type_tok = self._peek()
        assert type_tok is not None
        if type_tok.text in ("group", "map"):
            raise self._error(f"{type_tok.text} fields are not supported", type_tok)
        type_name = self._dotted()
        fd = scope.proto.field.add(name=self._ident(), label=_LABELS[label])
        self._expect("=")
        number_tok = self._peek()
        number = self._integer()
        if not 1 <= number <= _MAX_FIELD_NUMBER:
            raise self._error(f"field number {number} out of range", number_tok)
        fd.number = number
        if type_name in _SCALAR_TYPES:
            fd.type = _SCALAR_TYPES[type_name]
        else:
            self.pending.append(_PendingType(fd, type_name, scope.full_name, type_tok))
        default: _Token | None = None
        if self._accept("["):
            while True:
                opt_tok = self._peek()
                opt = self._skip_option_name()
                self._expect("=")
                value = self._constant()
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
                if not self._accept(","):
                    break
            self._expect("]")
        self._expect(";")
        if default is not None:
            if fd.label == _FDP.LABEL_REPEATED:
                raise self._error("repeated fields cannot have a default", default)
            self.defaults.append((fd, default))

    def _enum(self, container: _Container[descriptor_pb2.EnumDescriptorProto]) -> None:
        proto = container.add(name=self._ident())
        self._expect("{")
        while not self._accept("}"):
            if self._accept(";"):
                continue
            # "option"/"reserved" followed by "=" are enum values with those names.
            if self._peek_text() == "option" and self._peek_text(1) != "=":
                self._next()
                opt = self._skip_option_name()
                self._expect("=")
                value = self._constant()
                if opt == "allow_alias":
                    proto.options.allow_alias = value.text == "true"
                self._expect(";")
                continue
            if self._peek_text() == "reserved" and self._peek_text(1) != "=":
                self._next()
                if self._peek_kind() == "str":
                    while True:
                        proto.reserved_name.append(self._string().decode())
                        if not self._accept(","):
                            break
                    self._expect(";")
                else:
                    for start, end in self._ranges():
                        proto.reserved_range.add(start=start, end=end - 1)
                continue
            value_proto = proto.value.add(name=self._ident())
            self._expect("=")
            value_proto.number = self._integer()
            if self._accept("["):
                while True:
                    opt = self._skip_option_name()
                    self._expect("=")
                    val = self._constant()
                    if opt == "deprecated":
                        value_proto.options.deprecated = val.text == "true"
                    if not self._accept(","):
                        break
                self._expect("]")
            self._expect(";")


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
    kind = fd.type
    text = tok.text
    if kind == _FDP.TYPE_STRING:
        if tok.kind != "str":
            raise ProtoParseError(f"line {tok.line}: string default expected for {fd.name}")
        return text.encode("latin-1").decode("utf-8")
    if kind == _FDP.TYPE_BYTES:
        if tok.kind != "str":
            raise ProtoParseError(f"line {tok.line}: bytes default expected for {fd.name}")
        return _c_escape(text.encode("latin-1"))
    if kind == _FDP.TYPE_BOOL:
        if text not in ("true", "false"):
            raise ProtoParseError(f"line {tok.line}: bool default must be true/false")
        return text
    if kind == _FDP.TYPE_ENUM:
        if text not in enum_values.get(fd.type_name, []):
            raise ProtoParseError(f"line {tok.line}: {text} is not a value of {fd.type_name}")
        return text
    if kind in (_FDP.TYPE_FLOAT, _FDP.TYPE_DOUBLE):
        lowered = text.lower()
        if lowered in ("inf", "-inf", "nan", "-nan"):
            value = float(lowered)
        elif tok.kind == "num":
            value = float(int(text, 16)) if "x" in lowered else float(text)
        else:
            raise ProtoParseError(f"line {tok.line}: bad float default {text!r}")
        return _format_float(value, kind == _FDP.TYPE_FLOAT)
    if kind in _INT_RANGES:
        if tok.kind != "num":
            raise ProtoParseError(f"line {tok.line}: integer default expected for {fd.name}")
        digits = text.lstrip("-")
        if digits.lower().startswith("0x"):
            value_int = int(digits, 16)
        elif len(digits) > 1 and digits.startswith("0") and digits.isdigit():
            value_int = int(digits, 8)
        elif digits.isdigit():
            value_int = int(digits)
        else:
            raise ProtoParseError(f"line {tok.line}: integer default expected for {fd.name}")
        value_int = -value_int if text.startswith("-") else value_int
        low, high = _INT_RANGES[kind]
        if not low <= value_int <= high:
            raise ProtoParseError(f"line {tok.line}: default {text} out of range for {fd.name}")
        return str(value_int)
    raise ProtoParseError(f"line {tok.line}: {fd.name} cannot have a default")


def _parse_file(path: Path, name: str) -> _Parser:
    parser = _Parser(path.read_text(encoding="utf-8"), name)
    parser.parse()
    return parser


def _find_import(name: str, search: Sequence[Path]) -> Path:
    for base in search:
        candidate = base / name
        if candidate.is_file():
            return candidate
    raise ProtoParseError(f"import {name!r} not found in {[str(p) for p in search]}")


def _build_files(
    path: Path, include_paths: Sequence[Path]
) -> list[descriptor_pb2.FileDescriptorProto]:
    """Parse ``path`` and its imports; return them dependencies first."""
    search = [path.parent, *include_paths]
    ordered: list[_Parser] = []
    by_name: dict[str, _Parser] = {}
    visiting: set[str] = set()

    def visit(file_path: Path, name: str) -> None:
        if name in by_name:
            return
        if name in visiting:
            raise ProtoParseError(f"import cycle through {name}")
        visiting.add(name)
        parser = _parse_file(file_path, name)
        for dep in parser.imports:
            visit(_find_import(dep, search), dep)
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

    symbols: dict[str, _TypeValue] = {}
    namespaces: set[str] = set()
    files = [p.file for p in ordered]
    for fdp in files:
        syms, spaces = _collect_symbols(fdp)
        symbols.update(syms)
        namespaces |= spaces
    enum_values = _enum_values(files)
    for parser in ordered:
        for item in parser.pending:
            full = _resolve(item.type_name, item.scope, symbols, namespaces)
            if full is None:
                raise ProtoParseError(
                    f"{parser.filename}:{item.token.line}: unknown type {item.type_name!r}"
                )
            item.field.type_name = full
            item.field.type = symbols[full]
        for fd, tok in parser.defaults:
            fd.default_value = _default_text(fd, tok, enum_values)
    return files


def load_user_proto(
    path: str | Path, include_paths: Iterable[str | Path] = ()
) -> types.ModuleType:
    """Compile a fork's ``caffe.proto`` at run time, without protoc.

    Returns a module-like object shaped like a generated ``*_pb2`` module:
    message classes (``mod.NetParameter``, nested ones as class attributes),
    top-level enums and their values, and ``mod.DESCRIPTOR``. The descriptors
    live in a private pool, so a user file declaring ``package caffe`` does
    not clash with :mod:`caffe_pb2`. ``import`` statements are looked up next
    to ``path`` and then in ``include_paths``.
    """
    path = Path(path)
    files = _build_files(path, [Path(p) for p in include_paths])
    pool = descriptor_pool.DescriptorPool()
    file_desc: descriptor.FileDescriptor | None = None
    for fdp in files:
        try:
            file_desc = pool.AddSerializedFile(fdp.SerializeToString())
        except (TypeError, ValueError) as exc:
            raise ProtoParseError(f"{fdp.name}: {exc}") from exc
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
