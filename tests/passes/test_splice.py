from __future__ import annotations

from scnn_surgery.document import Document
from scnn_surgery.graph import build_graphs
from scnn_surgery.net import Net
from scnn_surgery.passes.anchor import find_insertion_point
from scnn_surgery.passes.splice import (
    insert_text_edit,
    insertion_offset,
    replace_string_value,
    rewire_edits,
)

NET = (
    "layer { name: 'in' type: 'Input' top: 'x' }\r\n"
    "layer { name: 'r' type: 'ReLU' bottom: 'x' top: 'x' }  # relu\r\n"
    "layer { name: 'c' type: 'Sigmoid' bottom: 'x' top: 'y' }\r\n"
)


def test_block_goes_after_the_line_and_rewire_keeps_quotes() -> None:
    net = Net.from_document(Document.parse(NET))
    point = find_insertion_point(net, build_graphs(net), "x")
    doc = net.document
    offset = insertion_offset(doc, point, net.layers[0].block.start)
    assert doc.text[offset:].startswith("layer { name: 'c'")
    new = doc.edited(
        [insert_text_edit(doc, offset, "#new\r\n"), *rewire_edits(point.consumers, "z")]
    )
    assert new.text == NET.replace("layer { name: 'c'", "#new\r\nlayer { name: 'c'").replace(
        "bottom: 'x' top: 'y'", "bottom: 'z' top: 'y'"
    )


def test_insertion_mid_line_starts_a_new_line() -> None:
    doc = Document.parse("a { } b { }")
    edit = insert_text_edit(doc, doc.root.fields[0].end, "c { }\n")
    assert doc.edited([edit]).text == "a { }\nc { }\n b { }"


def test_replace_escapes_for_its_quote() -> None:
    scalar = Document.parse('a: "q"').root.scalars("a")[0]
    assert replace_string_value(scalar, 'it"s').replacement == '"it\\"s"'


def test_replace_keeps_single_quotes_and_escapes_what_they_need() -> None:
    scalar = Document.parse("a: 'q'").root.scalars("a")[0]
    edit = replace_string_value(scalar, "it's\ta \"blob\"")
    assert edit.replacement == "'it\\'s\\ta \"blob\"'"
    assert Document.parse(f"a: {edit.replacement}").root.string("a") == "it's\ta \"blob\""
