"""A verb's result is checked against its input: new errors refuse it, old ones are warned."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.errors import SurgeryError
from scnn_surgery.ops import rewire
from scnn_surgery.verify import check_result

from .conftest import DATA

NET = """\
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "y" }
layer { name: "b" type: "Eltwise" bottom: "x" bottom: "y" top: "z" }
"""


def test_a_valid_result_has_nothing_to_say() -> None:
    net = ss.loads(NET)
    assert check_result(net, net.copy()) == []


def test_an_error_the_edit_brought_in_refuses_the_result() -> None:
    net = ss.loads(NET, "n.prototxt")
    edited = net.copy()
    rewire(edited, [(edited.layers[2], 1, "nowhere")])
    with pytest.raises(
        SurgeryError,
        match=r"^the result would be invalid: n.prototxt:3: error: .*'nowhere'.*; nothing was"
        r" written$",
    ):
        check_result(net, edited)


def test_an_error_the_input_had_is_only_a_warning() -> None:
    net = ss.load(DATA / "train_only.prototxt")
    notes = check_result(net, net.copy())
    assert len(notes) == 1
    assert notes[0].startswith("warning: the input has this error already, and so has the result:")
    assert "(and 1 more)" in notes[0]


def test_the_input_s_kind_of_error_in_another_layer_is_new() -> None:
    text = NET + 'layer { name: "c" type: "ReLU" bottom: "gone" top: "c" }\n'
    net = ss.loads(text, "n.prototxt")
    edited = net.copy()
    rewire(edited, [(edited.layers[2], 1, "gone")])
    with pytest.raises(SurgeryError, match=r"'gone'"):
        check_result(net, edited)
