from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from scnn_surgery.core.document import (
    MAX_DEPTH,
    Document,
    Edit,
    Message,
    Scalar,
    decode_string,
    quote_string,
)
from scnn_surgery.errors import PrototxtSyntaxError, SurgeryError

from ..conftest import (
    DATA,
    REPO_ROOT,
    VENDORED_ZOO,
    needs_shared,
    shared_available,
    shared_path,
    zoo_files,
    zoo_ids,
)

TEMPLATE = "deeplabv2_vgg16_test_template.prototxt"
ROUND_TRIP = [p for p in zoo_files() if p.name != TEMPLATE]


@pytest.mark.parametrize("path", ROUND_TRIP, ids=zoo_ids(ROUND_TRIP))
def test_zoo_round_trip_is_byte_identical(path: Path) -> None:
    data = path.read_bytes()
    assert Document.from_bytes(data, str(path)).to_bytes() == data


@pytest.mark.parametrize("name", ["resnet101.prototxt", "SCNN.prototxt", "resnet101_SCNN.prototxt"])
def test_golden_round_trip_is_byte_identical(name: str) -> None:
    path = shared_path("golden", name)
    assert Document.load(path).to_bytes() == path.read_bytes()


def test_the_shipped_zoo_is_the_permissive_part_of_the_shared_one() -> None:
    shipped = [p for p in zoo_files() if p.is_relative_to(VENDORED_ZOO)]
    assert len(shipped) == 25
    if shared_available():
        assert len(zoo_files()) == 34


def test_deeplab_template_points_at_the_placeholder() -> None:
    path = shared_path("zoo", "segmentation", TEMPLATE)
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.load(path)
    err = info.value
    assert (err.line, err.column) == (381, 17)
    assert str(err) == f"{path}:381:17: unresolved template placeholder '${{NUM_LABELS}}'"


LOSSLESS_FORMS = (
    "# leading comment\r\n"
    "name: 'single'  # trailing\r\n"
    "layer{\r\n"
    '\tname: "a"\ttype: "Input"\r\n'
    '\ttop: "a"\r\n'
    "\tinput_param: { shape: { dim: [1, 3, 4, 4] } }\r\n"
    "\tfork_only_field < nested: 1.5e-3 ; other: -inf >\r\n"
    "}\r\n"
    "\r\n"
)


def test_every_lexical_form_round_trips_and_is_understood() -> None:
    doc = Document.parse(LOSSLESS_FORMS, "forms.prototxt")
    assert doc.to_bytes() == LOSSLESS_FORMS.encode()
    assert doc.newline == "\r\n"
    assert doc.indent == "\t"
    assert doc.root.string("name") == "single"
    layer = doc.root.message("layer")
    assert layer is not None
    shape = layer.message("input_param")
    assert shape is not None
    dims = shape.message("shape")
    assert dims is not None
    assert [s.as_int() for s in dims.scalars("dim")] == [1, 3, 4, 4]
    fork = layer.message("fork_only_field")
    assert fork is not None
    assert fork.string("other") == "-inf"


def test_adjacent_strings_concatenate_and_escapes_decode() -> None:
    doc = Document.parse('a: "x" \'y\' "\\n\\101\\x42"')
    assert doc.root.string("a") == "xy\nAB"
    assert decode_string('"\\u00e9"') == "é"
    assert quote_string('say "hi"\n') == '"say \\"hi\\"\\n"'


@pytest.mark.parametrize(
    ("text", "line", "col", "what"),
    [
        ('layer {\n  name: "a"\n', 3, 1, "missing '}' for the '{' at 1:7"),
        ('layer {\n  name "a"\n}\n', 2, 8, "expected ':' or '{' after field 'name'"),
        ('name: "unterminated\n', 1, 7, "unterminated string"),
        ("layer { 3: 4 }", 1, 9, "expected a field name"),
        ("a: @", 1, 4, "unexpected character '@'"),
        ("a: [1, 2", 1, 9, "missing ']'"),
        ("a: 1x2", 1, 4, "invalid value '1x2'"),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, line: int, col: int, what: str) -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.parse(text, "bad.prototxt")
    assert (info.value.line, info.value.column) == (line, col)
    assert str(info.value).startswith(f"bad.prototxt:{line}:{col}: {what}")
    assert "\n" not in str(info.value)


def test_binary_input_is_refused() -> None:
    with pytest.raises(SurgeryError, match="binary data"):
        Document.from_bytes(b"\n\x05conv1\x00\x12", "w.caffemodel")


def test_a_nul_byte_is_refused_at_its_line_and_column() -> None:
    """Found by the mutation suite: the refusal named only the file."""
    data = "layer {\n  name: 'é' # \x00\n}\n".encode()
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.from_bytes(data, "net.prototxt")
    assert str(info.value) == (
        "net.prototxt:2:15: a NUL byte: binary data, not a prototxt (a .caffemodel?)"
    )


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SurgeryError, match="no such file"):
        Document.load(tmp_path / "absent.prototxt")


def test_edits_change_only_their_spans() -> None:
    text = "layer {\n  bottom: 'x'  # keep\n}\n"
    doc = Document.parse(text)
    layer = doc.root.message("layer")
    assert layer is not None
    scalar = layer.scalars("bottom")[0]
    edited = doc.edited(
        [Edit(scalar.start, scalar.end, "'y'"), Edit(len(text), len(text), "z: 1\n")]
    )
    assert edited.text == "layer {\n  bottom: 'y'  # keep\n}\nz: 1\n"
    with pytest.raises(ValueError, match="overlapping"):
        doc.edited([Edit(0, 5, ""), Edit(3, 4, "")])


def test_line_end_after_skips_trailing_comment_only() -> None:
    doc = Document.parse("a { } # note\nb { } c { }\n")
    first, second, _ = doc.root.fields
    assert doc.line_end_after(first.end) == doc.text.index("b")
    assert doc.line_end_after(second.end) == second.end


def test_line_end_after_keeps_a_fields_separator_with_it() -> None:
    doc = Document.parse("a { };  # note\nb { } ; c { }\n")
    first, second, _ = doc.root.fields
    assert doc.line_end_after(first.end) == doc.text.index("b")
    assert doc.line_end_after(second.end) == doc.text.index(";", second.end) + 1


@pytest.mark.parametrize("value", ['say "hi"', "it's", "tab\there", "nl\r\n", "\x01\x7f", "é"])
@pytest.mark.parametrize("quote", ['"', "'"])
def test_quote_string_reads_back_in_either_quote(value: str, quote: str) -> None:
    literal = quote_string(value, quote)
    assert literal[0] == literal[-1] == quote
    assert decode_string(literal) == value
    assert Document.parse(f"a: {literal}").root.string("a") == value


@pytest.mark.parametrize(
    "text",
    ['input: "d"\ninput_dim:\nlayer { name: "a" }\n', 'input: "d"\ninput_dim:\nname: "n"\n'],
)
def test_an_empty_value_is_named_at_its_field(text: str) -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.parse(text, "bad.prototxt")
    assert str(info.value) == "bad.prototxt:2:1: missing value for field 'input_dim'"


# The shipped zoo is in ROUND_TRIP (less the DeepLab template, which is not protobuf text).
REPOSITORY_NETS = sorted((REPO_ROOT / "examples").glob("*.prototxt")) + sorted(
    p for p in DATA.rglob("*.prototxt") if VENDORED_ZOO not in p.parents
)


@pytest.mark.parametrize("path", REPOSITORY_NETS, ids=[p.name for p in REPOSITORY_NETS])
def test_repository_nets_round_trip(path: Path) -> None:
    data = path.read_bytes()
    assert Document.from_bytes(data, str(path)).to_bytes() == data


@needs_shared
def test_every_golden_net_round_trips() -> None:
    paths = sorted(shared_path("golden").glob("*.prototxt"))
    assert len(paths) >= 3
    for path in paths:
        assert Document.load(path).to_bytes() == path.read_bytes()


def test_rare_forms_build_the_tree_with_offsets() -> None:
    text = "dim: [1, 2] ; [pkg.ext/x]: 3, s: \"a\" # between\n 'b'\nm: [{ k: 1 }, < k: 2 >] n < >"
    doc = Document.parse(text)
    dims, ext, s, m, n = doc.root.fields
    assert [v.value for v in dims.values() if isinstance(v, Scalar)] == ["1", "2"]
    assert text[dims.start : dims.end] == "dim: [1, 2]"
    assert (ext.name, text[ext.start : ext.end]) == ("[pkg.ext/x]", "[pkg.ext/x]: 3")
    string = s.value
    assert isinstance(string, Scalar)
    assert string.value == "ab"
    assert string.raw == text[string.start : string.end] == "\"a\" # between\n 'b'"
    assert s.end == string.end
    items = m.values()
    assert all(isinstance(v, Message) for v in items)
    assert [text[v.open] + text[v.close] for v in items if isinstance(v, Message)] == ["{}", "<>"]
    assert isinstance(n.value, Message) and n.value.fields == []
    assert doc.to_bytes() == text.encode()


def _nested(depth: int) -> str:
    return "a {\n" * depth + "}\n" * depth


def test_nesting_to_protobufs_limit_is_accepted() -> None:
    doc = Document.parse(_nested(MAX_DEPTH))
    message, depth = doc.root, 0
    while message.fields:
        inner = message.fields[0].value
        assert isinstance(inner, Message)
        message, depth = inner, depth + 1
    assert depth == MAX_DEPTH == 100
    # the dataclass-made repr and == recurse, but only as deep as the limit allows
    assert Document.parse(_nested(MAX_DEPTH)).root == doc.root
    assert repr(doc.root).count("Message(") == MAX_DEPTH + 1


def test_documents_at_the_limit_pickle_and_copy() -> None:
    doc = Document.parse(_nested(MAX_DEPTH) + "b: 'x'\n", "deep.prototxt")
    for twin in (pickle.loads(pickle.dumps(doc)), copy.deepcopy(doc)):
        assert twin == doc and twin is not doc


def test_nesting_past_the_limit_is_refused_at_its_brace() -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.parse(_nested(MAX_DEPTH + 1), "deep.prototxt")
    assert (
        str(info.value) == "deep.prototxt:101:3: nesting deeper than 100 levels (protobuf's limit)"
    )


def test_messages_inside_lists_count_as_levels() -> None:
    Document.parse("a: [{" + " b {" * (MAX_DEPTH - 1) + " }" * (MAX_DEPTH - 1) + "}]")
    with pytest.raises(PrototxtSyntaxError, match=r"^<string>:1:405: nesting deeper"):
        Document.parse("a: [{" + " b {" * MAX_DEPTH)


@pytest.mark.parametrize("depth", [400, 10_000])
def test_hostile_nesting_is_one_line(depth: int) -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.parse("a {" * depth, "deep.prototxt")
    assert (
        str(info.value) == "deep.prototxt:1:303: nesting deeper than 100 levels (protobuf's limit)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "1" * 200_000 + "x",  # a long word that is no number
        "a: 1" + "." * 200_000,
        "#" * 200_000 + "\n@",  # a long comment, then an error
        "a " + "#" * 200_000 + "\n @",
        "a" * 200_000 + " @",
        " " * 200_000 + "@",
    ],
    ids=["digits", "dots", "comment", "name-comment", "name", "blanks"],
)
def test_long_runs_fail_in_one_pass(text: str) -> None:
    # Each pattern has one way to split its input, so these end at once instead of
    # backtracking for ever; the message stays short.
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.parse(text)
    assert len(str(info.value)) < 200


def test_byte_order_mark_is_named() -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.from_bytes(b'\xef\xbb\xbfname: "a"\n', "bom.prototxt")
    assert str(info.value) == "bom.prototxt:1:1: UTF-8 byte-order mark at the start of bom.prototxt"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        (
            'name: "a\\400"',
            "1:9",
            "bad escape '\\400' in a string: an octal escape is one byte, \\0 to \\377",
        ),
        (
            'layer {\n  name: "a\\U00110000"\n}',
            "2:11",
            "bad escape '\\U00110000' in a string: beyond U+10FFFF",
        ),
        ('name: "ab\\u12"', "1:10", "bad escape '\\u12' in a string: \\u needs 4 hex digits"),
        ('name: "\\U1F600"', "1:8", "bad escape '\\U1F600' in a string: \\U needs 8 hex digits"),
        ('name: "a\\x"', "1:9", "bad escape '\\x' in a string: \\x needs a hex digit"),
        (
            'name: "\\ud83d\\ude00"',
            "1:8",
            "bad escape '\\ud83d' in a string: U+D83D is a surrogate, not a character",
        ),
        ('name: "a\\q"', "1:9", "unknown escape '\\q' in a string"),
        ("name: 'a\\\a'", "1:9", "unknown escape '\\' followed by U+0007 in a string"),
        ('a: [1, "\\400"]', "1:9", "bad escape '\\400'"),
    ],
)
def test_bad_escapes_are_named_where_they_are(text: str, where: str, what: str) -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.parse(text, "esc.prototxt")
    assert str(info.value).startswith(f"esc.prototxt:{where}: {what}")


@pytest.mark.parametrize(
    ("literal", "what"),
    [
        ('"a\\400"', "bad escape '\\400' in a string"),
        ("'\\x'", "bad escape '\\x' in a string"),
        ('"\\xff"', "invalid UTF-8 in a string: escape '\\xff' (byte 0xFF)"),
        ('"a\\"', "bad escape: a string ends in a lone '\\'"),
    ],
)
def test_decode_string_names_what_is_wrong(literal: str, what: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_string(literal)
    assert str(info.value).startswith(what)


@pytest.mark.parametrize(
    ("data", "where", "what"),
    [
        (b'layer { name: "a\xff\xfeb" }', "1:17", "invalid UTF-8 in a string: bytes 0xFF 0xFE"),
        (b"name: 'caf\xe9'", "1:11", "invalid UTF-8 in a string: byte 0xE9"),
        (b'name: "ok\\xff"', "1:10", "invalid UTF-8 in a string: escape '\\xff' (byte 0xFF)"),
        (b'name: "ok\\303"', "1:10", "invalid UTF-8 in a string: escape '\\303' (byte 0xC3)"),
        (b'name: "\\303" "x"', "1:8", "invalid UTF-8 in a string: escape '\\303' (byte 0xC3)"),
        (b'name\xff: "a"', "1:5", "invalid UTF-8: byte 0xFF"),
        (b'name: "a"\xc2\xa0', "1:10", "unexpected character U+00A0 (NO-BREAK SPACE)"),
        (b"name: 'a' \x07", "1:11", "unexpected character U+0007"),
        (b"'abc': 1", "1:1", "expected a field name, found string \"'abc'\""),
    ],
)
def test_bad_bytes_and_characters_are_named_readably(data: bytes, where: str, what: str) -> None:
    with pytest.raises(PrototxtSyntaxError) as info:
        Document.from_bytes(data, "bytes.prototxt")
    assert str(info.value) == f"bytes.prototxt:{where}: {what}"


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b'name: "\\303\\251"', "é"),
        (b'name: "\\303" "\\251"', "é"),  # adjacent literals are joined as bytes, as protobuf does
        (b'name: "\\303" # split\n  "\\251"', "é"),
        (b'name: "caf\xc3\xa9"', "café"),
        (b'name: "\\u00e9\\U0001F600\\x4"', "é😀\x04"),
    ],
)
def test_escapes_and_utf8_decode_to_text(data: bytes, value: str) -> None:
    assert Document.from_bytes(data).root.string("name") == value


def test_comments_keep_any_bytes() -> None:
    data = b"# caf\xe9 \xff\xfe\r\nname: 'a'  # \x80\n"
    doc = Document.from_bytes(data)
    assert doc.root.string("name") == "a"
    assert doc.to_bytes() == data
