"""typed.fill_message: protobuf messages from our tree, equal to text_format.Parse."""

from __future__ import annotations

import math
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, text_format

from scnn_surgery.core.document import Document, Field, Message
from scnn_surgery.core.net import Net
from scnn_surgery.core.typed import fill_message, offset_in, parse_error_reason
from scnn_surgery.errors import SurgeryError
from scnn_surgery.schema import DIALECTS, caffe_pb2
from scnn_surgery.schema import dialects as dialect_package

from ..conftest import DATA, REPO_ROOT, SHARED, shared_available, zoo_files

# ---------------------------------------------------------------------------
# A schema with what Caffe's lack: every scalar type, groups, oneofs, maps,
# extensions, Any, recursion, and a proto3 file (implicit presence, open enum).

_KINDS = """
name: "typed_kinds.proto" package: "typedtest" syntax: "proto2"
dependency: "google/protobuf/any.proto"
message_type {
  name: "Kinds"
  field { name: "i32" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
  field { name: "i64" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "u32" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT32 }
  field { name: "u64" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "s32" number: 5 label: LABEL_OPTIONAL type: TYPE_SINT32 }
  field { name: "f32" number: 6 label: LABEL_OPTIONAL type: TYPE_FIXED32 }
  field { name: "sf64" number: 7 label: LABEL_OPTIONAL type: TYPE_SFIXED64 }
  field { name: "fl" number: 8 label: LABEL_OPTIONAL type: TYPE_FLOAT }
  field { name: "db" number: 9 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
  field { name: "flag" number: 10 label: LABEL_OPTIONAL type: TYPE_BOOL }
  field { name: "s" number: 11 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "by" number: 12 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "color" number: 13 label: LABEL_OPTIONAL type: TYPE_ENUM
          type_name: ".typedtest.Color" }
  field { name: "ints" number: 14 label: LABEL_REPEATED type: TYPE_INT32 }
  field { name: "strs" number: 15 label: LABEL_REPEATED type: TYPE_STRING }
  field { name: "child" number: 16 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".typedtest.Kinds" }
  field { name: "children" number: 17 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".typedtest.Kinds" }
  field { name: "mygroup" number: 18 label: LABEL_OPTIONAL type: TYPE_GROUP
          type_name: ".typedtest.Kinds.MyGroup" }
  field { name: "a" number: 19 label: LABEL_OPTIONAL type: TYPE_INT32 oneof_index: 0 }
  field { name: "b" number: 20 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".typedtest.Kinds" oneof_index: 0 }
  field { name: "counts" number: 21 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".typedtest.Kinds.CountsEntry" }
  field { name: "nodes" number: 22 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".typedtest.Kinds.NodesEntry" }
  field { name: "any" number: 23 label: LABEL_OPTIONAL type: TYPE_MESSAGE
          type_name: ".google.protobuf.Any" }
  field { name: "colors" number: 24 label: LABEL_REPEATED type: TYPE_ENUM
          type_name: ".typedtest.Color" }
  field { name: "blobs" number: 25 label: LABEL_REPEATED type: TYPE_BYTES }
  nested_type { name: "MyGroup"
                field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 } }
  nested_type {
    name: "CountsEntry"
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT32 }
    options { map_entry: true }
  }
  nested_type {
    name: "NodesEntry"
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
            type_name: ".typedtest.Kinds" }
    options { map_entry: true }
  }
  oneof_decl { name: "choice" }
  extension_range { start: 100 end: 200 }
}
message_type { name: "Other" extension_range { start: 100 end: 200 } }
enum_type {
  name: "Color"
  value { name: "RED" number: 0 } value { name: "GREEN" number: 1 } value { name: "BLUE" number: 5 }
}
extension { name: "ext_int" number: 100 label: LABEL_OPTIONAL type: TYPE_INT32
            extendee: ".typedtest.Kinds" }
extension { name: "ext_list" number: 101 label: LABEL_REPEATED type: TYPE_STRING
            extendee: ".typedtest.Kinds" }
extension { name: "ext_child" number: 102 label: LABEL_OPTIONAL type: TYPE_MESSAGE
            type_name: ".typedtest.Kinds" extendee: ".typedtest.Kinds" }
extension { name: "ext_children" number: 103 label: LABEL_REPEATED type: TYPE_MESSAGE
            type_name: ".typedtest.Kinds" extendee: ".typedtest.Kinds" }
extension { name: "other_int" number: 100 label: LABEL_OPTIONAL type: TYPE_INT32
            extendee: ".typedtest.Other" }
"""

_THREE = """
name: "typed_three.proto" package: "typedtest3" syntax: "proto3"
message_type {
  name: "Three"
  field { name: "n" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
  field { name: "x" number: 2 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
  field { name: "shade" number: 3 label: LABEL_OPTIONAL type: TYPE_ENUM
          type_name: ".typedtest3.Shade" }
  field { name: "word" number: 4 label: LABEL_OPTIONAL type: TYPE_STRING }
}
enum_type { name: "Shade" value { name: "DARK" number: 0 } value { name: "LIGHT" number: 1 } }
"""


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto()
    any_pb2.DESCRIPTOR.CopyToProto(any_file)
    pool.Add(any_file)
    for source in (_KINDS, _THREE):
        pool.Add(text_format.Parse(source, descriptor_pb2.FileDescriptorProto()))
    return pool


_POOL = _pool()
Kinds: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("typedtest.Kinds"))
Three: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("typedtest3.Three"))
Layer: Any = caffe_pb2.LayerParameter


def ours(text: str, cls: Any = Kinds, strict: bool = False, context: str = "") -> Any:
    doc = Document.parse(text, "t.prototxt")
    return fill_message(doc, doc.root, cls(), context, allow_unknown_fields=not strict)


def theirs(text: str, cls: Any = Kinds, strict: bool = False) -> Any:
    return text_format.Parse(text, cls(), allow_unknown_field=not strict)


def same(text: str, cls: Any = Kinds, strict: bool = False) -> Any:
    """Our message for ``text``, after checking that protobuf gives the same."""
    mine = ours(text, cls, strict)
    assert mine == theirs(text, cls, strict)
    return mine


def protobuf_says(text: str, cls: Any = Kinds, strict: bool = False) -> str:
    """protobuf's refusal as we would word it: t.prototxt:LINE:COL: what."""
    with pytest.raises(text_format.ParseError) as info:
        theirs(text, cls, strict)
    doc = Document.parse(text, "t.prototxt")
    offset = offset_in(text, info.value.GetLine(), info.value.GetColumn())
    return f"{doc.location(offset)}: {parse_error_reason(info.value)}"


def refusal(text: str, cls: Any = Kinds, strict: bool = False, as_protobuf: bool = True) -> str:
    """Our one-line refusal; both refuse, and (unless told) at protobuf's place and words."""
    expected = protobuf_says(text, cls, strict)
    with pytest.raises(SurgeryError) as info:
        ours(text, cls, strict)
    message = str(info.value)
    if as_protobuf:
        assert message == expected
    return message


# ---------------------------------------------------------------------------
# Every net we have, in every dialect, equals text_format's reading


def _every_net() -> list[Path]:
    golden = sorted((SHARED / "golden").glob("*.prototxt")) if shared_available() else []
    local = sorted((REPO_ROOT / "examples").glob("*.prototxt")) + sorted(DATA.glob("*.prototxt"))
    return zoo_files() + golden + local


_NETS = _every_net()


def test_every_dialect_module_is_compared() -> None:
    modules = {info.name for info in pkgutil.iter_modules(dialect_package.__path__)}
    assert {f"{m.__name__.rsplit('.', 1)[-1]}" for m in DIALECTS.values()} >= modules


@pytest.mark.parametrize("path", _NETS, ids=[str(p.relative_to(p.parents[1])) for p in _NETS])
def test_every_net_in_every_dialect(path: Path) -> None:
    try:
        doc = Document.load(path)
    except SurgeryError:
        # Our parser refuses the file (a template placeholder, say); so must protobuf.
        for module in DIALECTS.values():
            with pytest.raises(text_format.ParseError):
                text_format.Parse(path.read_text(), module.NetParameter(), allow_unknown_field=True)
        return
    for dialect, module in DIALECTS.items():
        reference = module.NetParameter()
        try:
            text_format.Parse(doc.text, reference, allow_unknown_field=True)
        except text_format.ParseError as exc:
            offset = offset_in(doc.text, exc.GetLine(), exc.GetColumn())
            with pytest.raises(SurgeryError, match=f"^{re.escape(doc.location(offset))}: "):
                fill_message(doc, doc.root, module.NetParameter())
            _compare_layer_by_layer(doc, module)
            continue
        assert fill_message(doc, doc.root, module.NetParameter()) == reference, dialect


def _block_classes(module: Any) -> dict[str, Any]:
    """The dialect's class of each layer block (forks keep BVLC's V1 and V0 messages)."""
    v1 = module.NetParameter().layers.add()
    return {"v2": type(module.NetParameter().layer.add()), "v1": type(v1), "v0": type(v1.layer)}


def _compare_layer_by_layer(doc: Document, module: Any) -> None:
    classes = _block_classes(module)
    for layer in Net.from_document(doc).layers:
        cls = classes[layer.format]
        span = doc.text[layer.body.open + 1 : layer.body.close]
        try:
            reference = text_format.Parse(span, cls(), allow_unknown_field=True)
        except text_format.ParseError as exc:
            offset = layer.body.open + 1 + offset_in(span, exc.GetLine(), exc.GetColumn())
            with pytest.raises(SurgeryError, match=f"^{re.escape(doc.location(offset))}: "):
                fill_message(doc, layer.body, cls())
            continue
        assert fill_message(doc, layer.body, cls()) == reference, layer.name


@pytest.mark.parametrize(
    "path", [p for p in _NETS if p.parent.name == "legacy"], ids=lambda p: p.stem
)
def test_legacy_layers_in_their_block_classes(path: Path) -> None:
    """V1 ``layers`` as V1LayerParameter and V0's inner ``layer`` as V0LayerParameter, as
    params.layer_message reads them, in every dialect."""
    doc = Document.load(path)
    assert {layer.format for layer in Net.from_document(doc).layers} <= {"v0", "v1"}
    for module in DIALECTS.values():
        _compare_layer_by_layer(doc, module)


def test_a_refused_net_is_compared_layer_by_layer() -> None:
    text = (
        'layer { name: "a" type: "ReLU" relu_param { negative_slope: 0.5 } }\n'
        'layer { name: "b" type: "Pooling" pooling_param { pool: MEDIAN } }\n'
        "layer { name: 'c' type: 'ReLU' relu_param { negative_slope: x } }\n"
    )
    doc = Document.parse(text, "t.prototxt")
    with pytest.raises(SurgeryError, match=r"^t\.prototxt:2:57: "):
        fill_message(doc, doc.root, caffe_pb2.NetParameter())
    _compare_layer_by_layer(doc, caffe_pb2)


def test_zoo_refusals_without_unknown_fields_match_protobuf_exactly() -> None:
    """Strict reading (as the V0 upgrade does) refuses fork nets in BVLC's schema at the
    first unknown field: same place, same words as protobuf."""
    paths = [p for p in zoo_files() if p.parent.name in ("segmentation", "detection")]
    assert paths  # the shipped zoo has both
    refused = 0
    for path in paths:
        try:
            doc = Document.load(path)
        except SurgeryError:
            continue
        try:
            text_format.Parse(doc.text, caffe_pb2.NetParameter())
            continue
        except text_format.ParseError as exc:
            offset = offset_in(doc.text, exc.GetLine(), exc.GetColumn())
            expected = f"{doc.location(offset)}: {parse_error_reason(exc)}"
        with pytest.raises(SurgeryError) as info:
            fill_message(doc, doc.root, caffe_pb2.NetParameter(), allow_unknown_fields=False)
        assert str(info.value) == expected
        refused += 1
    assert refused > 0


# ---------------------------------------------------------------------------
# Field lookup


def test_fields_by_name_nested_messages_and_repeated_values() -> None:
    msg = same(
        'i32: 1 s: "x" ints: 1 ints: 2 child { i32: 2 child < s: "deep" > } '
        "children { i32: 3 } children: { i32: 4 } children: < i32: 5 >"
    )
    assert msg.child.child.s == "deep"
    assert [c.i32 for c in msg.children] == [3, 4, 5]


def test_separators_and_comments_between_fields() -> None:
    assert same("i32: 1, s: 'a'; # comment\n ints: 3,\n ints: 4;").ints == [3, 4]


def test_unknown_fields_are_skipped_whole() -> None:
    msg = same(
        "zz: 1 i32: 2 zz { a: 1 b { c: 'x' } [x.y.z]: 3 } zz: [1, 'a', {q: 1}, <r: 2>] "
        "zz: { } zz < > zz: -inf zz: 0x1F zz: 017 zz: 'a' \"b\" zz { [a.b.c/d.E] { f: 1 } }"
    )
    assert msg.i32 == 2
    assert same("type: 'ReLU' bn_param { slope_filler { type: 'constant' } }", Layer).type == "ReLU"


def test_unknown_field_refused_without_allow_unknown() -> None:
    assert (
        refusal("i32: 1\n  nope: 2", strict=True)
        == 't.prototxt:2:3: Message type "typedtest.Kinds" has no field named "nope".'
    )
    assert same("i32: 1", strict=True).i32 == 1


def test_group_by_type_name_and_by_field_name() -> None:
    assert same("MyGroup { x: 1 }").mygroup.x == 1
    assert same("mygroup { x: 2 }").mygroup.x == 2
    assert not same("MYGROUP { x: 3 }").HasField("mygroup")  # unknown, skipped


def test_extensions() -> None:
    ext = Kinds.DESCRIPTOR.file.extensions_by_name
    msg = same(
        "[typedtest.ext_int]: 7 [typedtest.ext_list]: ['a', 'b'] [ typedtest . ext_list ]: 'c' "
        "[typedtest.ext_child] { i32: 1 } [typedtest.ext_children] { i32: 2 } "
        "[typedtest.ext_children] < i32: 3 >"
    )
    assert msg.Extensions[ext["ext_int"]] == 7
    assert list(msg.Extensions[ext["ext_list"]]) == ["a", "b", "c"]
    assert msg.Extensions[ext["ext_child"]].i32 == 1
    assert [c.i32 for c in msg.Extensions[ext["ext_children"]]] == [2, 3]


@pytest.mark.parametrize(
    ("text", "cls", "what"),
    [
        (
            "i32: 1 [caffe.x]: 1",
            Layer,
            '1:15: Message type "caffe.LayerParameter" does not have extensions.',
        ),
        ("[typedtest.nope]: 1", Kinds, '1:12: Extension "typedtest.nope" not registered.'),
        (
            "[typedtest.other_int]: 1",
            Kinds,
            '1:12: Extension "typedtest.other_int" does not extend message type "typedtest.Kinds".',
        ),
        ("[typedtest.ext_int x]: 1", Kinds, '1:20: Expected "]".'),
        ("[typedtest.ext_int.]: 1", Kinds, "1:20: Expected identifier."),
        ("[typedtest.1]: 1", Kinds, '1:2: Extension "typedtest" not registered.'),
        (
            "[typedtest.ext_int]: 1\n[typedtest.ext_int]: 2",
            Kinds,
            '2:22: Message type "typedtest.Kinds" should not have multiple'
            ' "typedtest.ext_int" extensions.',
        ),
        (
            "[typedtest.ext_child] {}\n[typedtest.ext_child] {}",
            Kinds,
            '2:23: Message type "typedtest.Kinds" should not have multiple'
            ' "typedtest.ext_child" extensions.',
        ),
        ("zz { [a b] : 1 }", Kinds, '1:9: Expected "]".'),
        ("zz { [a.b/c] : 1 }", Kinds, '1:10: Expected "]".'),
        ("zz { [a.b.c/1] : 1 }", Kinds, "1:13: Expected identifier."),
    ],
)
def test_extension_refusals(text: str, cls: Any, what: str) -> None:
    assert refusal(text, cls).startswith(f"t.prototxt:{what}")


def test_any_written_expanded() -> None:
    msg = same("any { [type.googleapis.com/caffe.BlobShape] { dim: 2 dim: 3 } } i32: 1")
    shape = caffe_pb2.BlobShape()
    assert msg.any.Unpack(shape) and list(shape.dim) == [2, 3]
    assert same('any { type_url: "x/y" value: "\\001" }').any.type_url == "x/y"
    assert (
        refusal("i32: 1\nany { [type.googleapis.com/caffe.BlobShape] { dim: x } }")
        == "t.prototxt:2:52: Couldn't parse integer: x"
    )


def test_maps() -> None:
    msg = same(
        'counts { key: "a" value: 1 } counts: [{ key: "b" value: 2 }, < key: "a" value: 3 >] '
        "nodes { key: 1 value { i32: 5 } } nodes { key: 2 }"
    )
    assert dict(msg.counts) == {"a": 3, "b": 2}
    assert msg.nodes[1].i32 == 5 and 2 in msg.nodes


def test_oneof_second_member_refused_at_its_name() -> None:
    assert same("a: 1").a == 1
    assert (
        refusal("a: 1\n  b { }")
        == 't.prototxt:2:3: Field "b" is specified along with field "a", another member of'
        ' oneof "choice" for message type "typedtest.Kinds".'
    )
    assert refusal("b { } a: 2").startswith("t.prototxt:1:7: ")


# ---------------------------------------------------------------------------
# Singular fields given twice


def test_singular_scalar_twice_refused_at_the_second_value() -> None:
    assert (
        refusal("i32: 1\ni32:   2")
        == 't.prototxt:2:8: Message type "typedtest.Kinds" should not have multiple "i32" fields.'
    )
    assert refusal("s: 'a'\ns: 'b'  'c'").startswith("t.prototxt:2:9: ")  # its last literal


def test_singular_message_twice_refused_at_its_brace() -> None:
    assert (
        refusal("child { }\nchild: < i32: 1 >")
        == 't.prototxt:2:8: Message type "typedtest.Kinds" should not have multiple'
        ' "child" fields.'
    )
    assert (
        refusal('name: "a" convolution_param { } convolution_param { }', Layer)
        == 't.prototxt:1:51: Message type "caffe.LayerParameter" should not have multiple'
        ' "convolution_param" fields.'
    )


def test_a_field_already_set_in_the_message_counts() -> None:
    doc = Document.parse("i32: 2", "t.prototxt")
    with pytest.raises(SurgeryError, match="should not have multiple"):
        fill_message(doc, doc.root, Kinds(i32=1))


def test_proto3_implicit_presence_counts_only_non_default_values() -> None:
    assert same("n: 0 n: 5", Three).n == 5
    assert same("shade: DARK shade: LIGHT", Three).shade == 1
    assert refusal("n: 5 n: 6", Three).startswith("t.prototxt:1:9: ")
    assert refusal("x: -0.0 x: 1", Three).startswith("t.prototxt:1:12: ")  # -0.0 is set
    assert refusal("word: 'a' word: ''", Three).startswith("t.prototxt:1:17: ")


# ---------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("i32: 0", 0),
        ("i32: 42", 42),
        ("i32: -7", -7),
        ("i32: +5", 5),
        ("i32: 0x1F", 31),
        ("i32: -0X10", -16),
        ("i32: 010", 8),
        ("i32: -010", -8),
        ("i32: 2147483647", 2**31 - 1),
        ("i32: -2147483648", -(2**31)),
        ("u32: 4294967295", 2**32 - 1),
        ("i64: -9223372036854775808", -(2**63)),
        ("u64: 18446744073709551615", 2**64 - 1),
        ("u64: 0xFFFFFFFFFFFFFFFF", 2**64 - 1),
        ("s32: -3", -3),
        ("f32: 7", 7),
        ("sf64: -9", -9),
    ],
)
def test_integers(text: str, value: int) -> None:
    msg = same(text)
    assert getattr(msg, text.split(":")[0]) == value


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("i32: 2147483648", "1:6: Value out of range: 2147483648"),
        ("i32: -2147483649", "1:6: Value out of range: -2147483649"),
        ("u32: 4294967296", "1:6: Value out of range: 4294967296"),
        ("u32: -1", "1:6: Value out of range: -1"),
        ("u64: 18446744073709551616", "1:6: Value out of range: 18446744073709551616"),
        ("i64: 9223372036854775808", "1:6: Value out of range: 9223372036854775808"),
        ("i32: 09", "1:6: Couldn't parse integer: 09"),
        ("i32: +010", "1:6: Couldn't parse integer: +010"),
        ("i32: 1.5", "1:6: Couldn't parse integer: 1.5"),
        ("i32: 1e3", "1:6: Couldn't parse integer: 1e3"),
        ("i32: abc", "1:6: Couldn't parse integer: abc"),
        ("i32: '5'", "1:6: Couldn't parse integer: '5'"),
        ('i32: "5" "6"', '1:6: Couldn\'t parse integer: "5"'),
        ("ints: [1, x]", "1:11: Couldn't parse integer: x"),
    ],
)
def test_integer_refusals(text: str, what: str) -> None:
    assert refusal(text) == f"t.prototxt:{what}"


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("1", 1.0),
        ("-2", -2.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-1.5E-2", -0.015),
        ("2.5f", 2.5),
        ("1e2F", 100.0),
        ("0.25", 0.25),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("Infinity", math.inf),
        ("-INFINITY", -math.inf),
        ("INF", math.inf),
        ("inff", math.inf),
        ("+inf", math.inf),
        ("1e400", math.inf),
    ],
)
def test_floats(word: str, value: float) -> None:
    assert same(f"db: {word}").db == value
    assert same(f"fl: {word}").fl == pytest.approx(value)


@pytest.mark.parametrize("word", ["nan", "NaN", "-nan", "nanf", "NAN"])
def test_float_nan(word: str) -> None:
    assert math.isnan(ours(f"db: {word}").db)
    assert math.isnan(theirs(f"db: {word}").db)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("db: 012.5", "1:5: Invalid octal float: 012.5"),
        ("db: 00", "1:5: Invalid octal float: 00"),
        ("fl: abc", "1:5: Couldn't parse float: abc"),
        ("fl: 0x10", "1:5: Couldn't parse float: 0x10"),
        ("fl: '1.5'", "1:5: Couldn't parse float: '1.5'"),
        ("fl: true", "1:5: Couldn't parse float: true"),
    ],
)
def test_float_refusals(text: str, what: str) -> None:
    assert refusal(text) == f"t.prototxt:{what}"


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("true", True),
        ("True", True),
        ("t", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("f", False),
        ("0", False),
    ],
)
def test_bools(word: str, value: bool) -> None:
    msg = same(f"flag: {word}")
    assert msg.HasField("flag") and msg.flag is value


@pytest.mark.parametrize("word", ["TRUE", "yes", "2", "'true'", "T", "0x1"])
def test_bool_refusals(word: str) -> None:
    assert refusal(f"flag: {word}") == 't.prototxt:1:7: Expected "true" or "false".'


def test_enums_by_name_or_number() -> None:
    assert same("color: GREEN").color == 1
    assert same("color: 5").color == 5
    assert same("color: 0x5").color == 5
    assert same("colors: [RED, 1, BLUE]").colors == [0, 1, 5]
    assert same("pooling_param { pool: AVE }", Layer).pooling_param.pool == 1


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("color: PURPLE", 'Enum type "typedtest.Color" has no value named PURPLE.'),
        ("color: 3", 'Enum type "typedtest.Color" has no value with number 3.'),
        ("color: -1", 'Enum type "typedtest.Color" has no value with number -1.'),
        ("color: 'RED'", "Enum type \"typedtest.Color\" has no value named 'RED'."),
        ("color: 05", 'Enum type "typedtest.Color" has no value named 05.'),
        ("color: green", 'Enum type "typedtest.Color" has no value named green.'),
    ],
)
def test_enum_refusals(text: str, what: str) -> None:
    assert refusal(text) == f"t.prototxt:1:8: {what}"


def test_open_enum_takes_any_number() -> None:
    assert same("shade: 7", Three).shade == 7


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
def test_strings() -> None:
    assert same("s: 'it''s'").s == "its"
    assert same('s: "a" \'b\'\n  # between\n  "c"').s == "abc"
    assert same('s: "a\\tb\\n\\"q\\" \\\\ \\x41\\101\\u00e9"').s == 'a\tb\n"q" \\ AAé'
    assert same('s: "a" # it\'s "odd"\n "b"').s == "ab"
    assert same("s: 'x\"y'").s == 'x"y'
    assert same('s: "é" "\\303\\251"').s == "éé"
    assert same('s: "\\?"').s == theirs('s: "\\?"').s
    assert same("strs: ['a', \"b\"] strs: 'c'").strs == ["a", "b", "c"]
    assert same('s: ""').HasField("s")


def test_bytes_fields_take_escapes_and_strings_must_be_utf8() -> None:
    assert same('by: "\\000a" "\\303\\251"').by == b"\x00a\xc3\xa9"
    assert same("by: 'plain'").by == b"plain"
    assert same("blobs: ['a', 'b\\001']").blobs == [b"a", b"b\x01"]
    # Our parser refuses a literal that is not UTF-8 whatever its field (Caffe's nets have
    # no bytes fields), where protobuf would refuse it only in a string field.
    with pytest.raises(SurgeryError, match=r"^t\.prototxt:2:5: invalid UTF-8 in a string"):
        Document.parse('s: "ok"\ns: "\\377"', "t.prototxt")


def test_strings_from_a_file_that_is_not_utf8() -> None:
    # refused where the bad byte is, before any message is filled (protobuf refuses too)
    with pytest.raises(SurgeryError, match=r"^t\.prototxt:1:8: invalid UTF-8 in a string"):
        Document.from_bytes(b's: "caf\xe9"\n', "t.prototxt")
    with pytest.raises(text_format.ParseError):
        text_format.Parse(b's: "caf\xe9"\n', Kinds())


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("s: abc", "1:4: Expected string but found: 'abc'"),
        ("by: 12", "1:5: Expected string but found: '12'"),
    ],
)
def test_string_refusals(text: str, what: str) -> None:
    assert refusal(text).startswith(f"t.prototxt:{what}")


def test_lists() -> None:
    assert same("ints: [1, 2] ints: [] ints: [3]").ints == [1, 2, 3]
    msg = same("children: [{ i32: 1 }, < i32: 2 >] children: []")
    assert [c.i32 for c in msg.children] == [1, 2]
    msg = same("param: [{ lr_mult: 1 }, { lr_mult: 2 name: 'w' }]", Layer)
    assert [p.lr_mult for p in msg.param] == [1, 2]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("i32: [1]", "1:6: Couldn't parse integer: ["),
        ("i32: # c [\n [1]", "2:2: Couldn't parse integer: ["),
        ("s: []", "1:4: Expected string but found: '['"),
        ("color: [RED]", '1:8: Enum type "typedtest.Color" has no value named [.'),
        ("child: [{ }]", '1:8: Expected "{".'),
        ("[typedtest.ext_int]: [1]", "1:22: Couldn't parse integer: ["),
        ("ints: [1, { }]", "1:11: Couldn't parse integer: {"),
        ("strs: [< >]", "1:8: Expected string but found: '<'"),
        ("children: [{ }, 5]", '1:17: Expected "{".'),
    ],
)
def test_list_refusals(text: str, what: str) -> None:
    assert refusal(text) == f"t.prototxt:{what}"


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("i32 { }", '1:5: Expected ":".'),
        ("i32 # a comment with a colon:\n { }", '2:2: Expected ":".'),
        ("i32: { }", "1:6: Couldn't parse integer: {"),
        ("flag: < >", '1:7: Expected "true" or "false".'),
        ("s { }", '1:3: Expected ":".'),
        ("s: { }", "1:4: Expected string but found: '{'"),
        ("fl: { }", "1:5: Couldn't parse float: {"),
        ("color: { }", 'Enum type "typedtest.Color" has no value named {.'),
        ("[typedtest.ext_int] { }", '1:21: Expected ":".'),
        ("child: 5", '1:8: Expected "{".'),
        ("child: 'x' 'y'", '1:8: Expected "{".'),
        ("children: RED", '1:11: Expected "{".'),
    ],
)
def test_scalar_for_message_and_message_for_scalar(text: str, what: str) -> None:
    message = refusal(text)
    assert message.startswith(f"t.prototxt:{what}") or message.endswith(what)


def test_unknown_field_values_must_still_be_values() -> None:
    # protobuf gives no location here; ours is the value.
    assert refusal("i32: 1\nzz: 012.5", as_protobuf=False) == (
        "t.prototxt:2:5: Invalid field value: 012.5"
    )
    assert refusal("zz: [1, 09]", as_protobuf=False) == "t.prototxt:1:9: Invalid field value: 09"
    # a bad escape is the parser's refusal, at the escape, whatever the field
    with pytest.raises(SurgeryError, match=r"1:10: bad escape '\\u1'"):
        Document.parse("zz: 'a' '\\u1'", "t.prototxt")
    assert same("zz: 0xFFFFFFFFFFFFFFFF zz: 99999999999999999999999 zz: -017 zz: +012").i32 == 0
    assert (
        refusal("zz: 0xFFFFFFFFFFFFFFFFF1", as_protobuf=False)
        == "t.prototxt:1:5: Invalid field value: 0xFFFFFFFFFFFFFFFFF1"
    )


def test_context_prefixes_the_reason() -> None:
    doc = Document.parse("a: 1\n  num_output: x", "n.prototxt")
    body = doc.root.fields
    with pytest.raises(SurgeryError) as info:
        fill_message(doc, body[1:], caffe_pb2.ConvolutionParameter(), "in layer 'c': ")
    assert str(info.value) == "n.prototxt:2:15: in layer 'c': Couldn't parse integer: x"


def test_a_message_node_or_its_fields() -> None:
    doc = Document.parse('layer { name: "a" top: "x" }', "t.prototxt")
    node = doc.root.fields[0].value
    assert isinstance(node, Message)
    by_node = fill_message(doc, node, caffe_pb2.LayerParameter())
    assert by_node == fill_message(doc, node.fields, caffe_pb2.LayerParameter())
    assert by_node.name == "a" and list(by_node.top) == ["x"]


# ---------------------------------------------------------------------------
# No recursion on the input's depth


def _nested(name: str, depth: int) -> Document:
    """``name { name { ... } }`` built node by node (our parser is itself depth-limited)."""
    opener = f"{name} {{ "
    text = opener * depth + "}" * depth
    close = len(opener) * depth
    inner: list[Field] = []
    for level in reversed(range(depth)):
        start = len(opener) * level
        end = close + (depth - 1 - level)
        body = Message(inner, start + len(name) + 1, end)
        inner = [Field(name, body, start, end + 1)]
    return Document(text, "deep.prototxt", Message(inner, -1, len(text)))


def test_deep_nesting_uses_no_recursion() -> None:
    depth = 5000
    doc = _nested("child", depth)
    msg = fill_message(doc, doc.root, Kinds())
    levels = 0
    while msg.HasField("child"):
        msg = msg.child
        levels += 1
    assert levels == depth
    doc = _nested("zz", depth)
    assert fill_message(doc, doc.root, Kinds()) == Kinds()


def test_huge_numbers_are_refused_in_protobuf_words() -> None:
    digits = "9" * 5000  # beyond int()'s default digit limit
    assert refusal(f"i32: {digits}") == f"t.prototxt:1:6: Couldn't parse integer: {digits}"
    assert same(f"zz: {digits} i32: 1").i32 == 1  # a float to the skipper
    assert same(f"db: {digits}").db == math.inf
