"""The exporter: the fewest text edits, and removal as the exact inverse of insertion."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.core.document import Edit
from scnn_surgery.core.layerdef import LayerDef
from scnn_surgery.core.net import Layer, Net
from scnn_surgery.core.ops import insert_layers, remove_layers, rewire
from scnn_surgery.core.text_export import apply_edits, export_text

LAYOUTS = {
    "one block per line": (
        'layer { name: "a" type: "Input" top: "x" }\n'
        'layer { name: "b" type: "ReLU" bottom: "x" top: "y" }\n'
    ),
    "crlf and tabs": (
        'layer {\r\n\tname: "a"\r\n\ttype: "Input"\r\n\ttop: "x"\r\n}\r\n'
        "layer {\r\n\tname: 'b'\r\n\ttype: 'ReLU'\r\n\tbottom: 'x'\r\n\ttop: 'y'\r\n}\r\n"
    ),
    "two layers on a line": (
        'layer { name: "a" type: "Input" top: "x" } layer { name: "b" type: "ReLU"'
        ' bottom: "x" top: "y" }\n'
    ),
    "no trailing newline": (
        'layer { name: "a" type: "Input" top: "x" }\nlayer { name: "b" type: "ReLU"'
        ' bottom: "x" top: "y" }'
    ),
    "comment after the block": (
        'layer { name: "a" type: "Input" top: "x" }  # the input\n'
        '# between\nlayer { name: "b" type: "ReLU" bottom: "x" top: "y" }\n'
    ),
    "separator after the block": (
        'layer { name: "a" type: "Input" top: "x" };\n'
        'layer { name: "b" type: "ReLU" bottom: "x" top: "y" };\n'
    ),
}

NEW = [LayerDef("n", "Sigmoid", ("x",), ("z",)), LayerDef("m", "TanH", ("z",), ("w",))]


def _first(net: Net) -> Layer:
    return net.layers[0]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_nothing_changed_is_the_file_itself(layout: str) -> None:
    assert export_text(ss.loads(LAYOUTS[layout])) == LAYOUTS[layout]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_removing_what_was_inserted_gives_the_file_back(layout: str) -> None:
    text = LAYOUTS[layout]
    net = ss.loads(text)
    insert_layers(net, _first(net), [Layer.from_definition(d) for d in NEW])
    inserted = export_text(net)
    assert inserted != text
    read_back = ss.loads(inserted, "out.prototxt")
    assert [x.name for x in read_back.layers] == ["a", "n", "m", "b"]
    remove_layers(read_back, [x for x in read_back.layers if x.name in ("n", "m")])
    assert export_text(read_back) == text


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_new_layers_before_the_first_one(layout: str) -> None:
    text = LAYOUTS[layout]
    net = ss.loads(text)
    insert_layers(net, None, [Layer.from_definition(LayerDef("n", "Input", (), ("q",)))])
    out = ss.loads(export_text(net))
    assert [x.name for x in out.layers] == ["n", "a", "b"]
    remove_layers(out, [out.layers[0]])
    assert export_text(out) == text


def test_new_layers_use_the_files_indentation_newlines_and_format() -> None:
    v1 = "layers {\r\n\tname: 'a'\r\n\ttype: DATA\r\n\ttop: 'x'\r\n}\r\n"
    net = ss.loads(v1)
    insert_layers(net, _first(net), [Layer.from_definition(NEW[0])])
    assert export_text(net) == v1 + (
        'layers {\r\n\tname: "n"\r\n\ttype: SIGMOID\r\n\tbottom: "x"\r\n\ttop: "z"\r\n}\r\n'
    )


def test_a_rewired_bottom_changes_only_its_token_in_its_quotes() -> None:
    text = LAYOUTS["crlf and tabs"]
    net = ss.loads(text)
    rewire(net, [(net.layers[1], 0, 'it"s')])
    assert export_text(net) == text.replace("bottom: 'x'", "bottom: 'it\"s'")


def test_a_removed_layer_takes_its_whole_lines_only() -> None:
    text = '# head\nlayer { name: "a" type: "Input" top: "x" }  # gone too\n# kept\n'
    net = ss.loads(text)
    remove_layers(net, [net.layers[0]])
    assert export_text(net) == "# head\n# kept\n"


def test_edits_apply_in_order_and_never_overlap() -> None:
    assert apply_edits("abc", [Edit(1, 1, "X"), Edit(0, 1, "")]) == "Xbc"
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits("abc", [Edit(0, 2, ""), Edit(1, 3, "")])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_removing_what_was_inserted_at_the_end_gives_the_file_back(layout: str) -> None:
    text = LAYOUTS[layout]
    net = ss.loads(text)
    insert_layers(net, net.layers[-1], [Layer.from_definition(d) for d in NEW])
    read_back = ss.loads(export_text(net), "out.prototxt")
    remove_layers(read_back, [x for x in read_back.layers if x.name in ("n", "m")])
    assert export_text(read_back) == text


def test_a_block_after_another_on_its_line_goes_alone() -> None:
    text = (
        'layer { name: "a" type: "Input" top: "x" } layer { name: "b" type: "ReLU"'
        ' bottom: "x" top: "x" }  # on b\n'
        "# about c\n"
        'layer { name: "c" type: "ReLU" bottom: "x" top: "y" }\n'
    )
    net = ss.loads(text)
    remove_layers(net, [net.layers[1]])
    assert export_text(net) == text.replace(
        ' layer { name: "b" type: "ReLU" bottom: "x" top: "x" }', ""
    )


def test_a_cut_never_takes_in_where_new_layers_go() -> None:
    text = (
        'layer { name: "a" type: "Input" top: "x" }\n'
        'layer { name: "b" type: "ReLU" bottom: "x" top: "x" } layer { name: "c" type:'
        ' "ReLU" bottom: "x" top: "y" }\n'
    )
    net = ss.loads(text)
    insert_layers(net, net.layers[0], [Layer.from_definition(NEW[0])])
    remove_layers(net, [x for x in net.layers if x.name == "b"])
    out = export_text(net)
    assert out.startswith(text.splitlines()[0] + "\nlayer {\n  name: \"n\"")
    assert out.endswith('}\nlayer { name: "c" type: "ReLU" bottom: "x" top: "y" }\n')


_A = 'layer { name: "a" type: "Input" top: "x" }'
_B = 'layer { name: "b" type: "ReLU" bottom: "x" top: "x" }'
_S = 'layer { name: "s" type: "ReLU" bottom: "x" top: "x" }'
_C = 'layer { name: "c" type: "ReLU" bottom: "x" top: "y" }'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A\n\nB\n\nC\n", "A\n\nC\n"),
        ("A\n\nB\n\nS\n\nC\n", "A\n\nC\n"),  # a BatchNorm and its Scale, as fold-bn cuts
        ("A\r\n\t\r\nB\r\n\r\nC\r\n", "A\r\n\t\r\nC\r\n"),
        ("A\n\nB\n\n\nC\n", "A\n\n\nC\n"),  # the wider gap stays
        ("A\n\n\nB\n\nC\n", "A\n\n\nC\n"),
        ("A\nB\n\nC\n", "A\n\nC\n"),
        ("A\n\nB\nC\n", "A\n\nC\n"),
        ("A\n\n# about b\nB\n\nC\n", "A\n\n# about b\n\nC\n"),
        ("A\n\nB\n", "A\n"),
        ("A\n\nB\n\n", "A\n\n"),
    ],
)
def test_a_cut_leaves_the_blank_lines_as_if_the_layers_had_never_been_there(
    text: str, expected: str
) -> None:
    """fold-bn on ResNet-50 left a doubled blank line for each BatchNorm and Scale cut."""
    layers = {"A": _A, "B": _B, "S": _S, "C": _C}
    net = ss.loads("".join(layers.get(ch, ch) for ch in text))
    remove_layers(net, [x for x in net.layers if x.name in ("b", "s")])
    assert export_text(net) == "".join(layers.get(ch, ch) for ch in expected)


def test_a_cut_at_the_start_leaves_no_blank_line_first() -> None:
    net = ss.loads(f"{_B}\n\n{_A}\n")
    remove_layers(net, [net.layers[0]])
    assert export_text(net) == f"{_A}\n"
