from __future__ import annotations

from pathlib import Path

import pytest

from scnn_surgery.document import Document, Edit, decode_string, quote_string
from scnn_surgery.errors import PrototxtSyntaxError, SurgeryError

from .conftest import SHARED, shared_path, zoo_files, zoo_ids

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


def test_zoo_is_present_when_required() -> None:
    if not (SHARED / "zoo").exists():
        pytest.skip("../shared/zoo is absent")
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
