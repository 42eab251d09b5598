"""A verb's result is checked against its input: new errors refuse it, old ones are warned."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.verify import check_result
from scnn_surgery.core.ops import rewire
from scnn_surgery.errors import SurgeryError

from ..conftest import DATA

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


PROPAGATE = """\
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" propagate_down: true
        propagate_down: false convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
        inner_product_param { num_output: 2 } }
"""


def test_a_fitted_result_keeps_the_inputs_errors_as_warnings() -> None:
    """insert, splice and strip blame only what they brought in, as remove does."""
    net = ss.loads(PROPAGATE, "pd.prototxt")
    result = ss.insert(net, ss.InsertOptions(after="conv1", kernel_width=3))
    [warning] = [n for n in result.notes if "has this error already" in n]
    assert "pd.prototxt:3: error: layer 'conv1': propagate_down is given 2 times" in warning
    # A shape error is refused at once: the module's sizes cannot be known past it.
    bad = ss.loads(PROPAGATE.replace("kernel_size: 3 pad: 1", "kernel_size: 3 pad: 1 group: 3"))
    with pytest.raises(SurgeryError, match=r"does not divide into 3 groups.*fix the input net"):
        ss.insert(bad, ss.InsertOptions(after="conv1", kernel_width=3))


MISMATCHED = """\
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "drop" type: "Dropout" bottom: "data" top: "d" }
layer { name: "p" type: "Pooling" bottom: "data" top: "p"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "e" type: "Eltwise" bottom: "d" bottom: "p" top: "e" }
"""


def test_an_error_the_input_had_is_its_own_whatever_blob_and_size_it_now_names() -> None:
    """Removing the Dropout makes 'e' read 'data' for 'd'; retargeting changes every size:
    the Eltwise's mismatch is the input's either way, so neither verb is refused."""
    net = ss.loads(MISMATCHED, "m.prototxt")
    removed = ss.remove(net, ["drop"])
    assert "'data' 1x3x8x8, 'p' 1x3x4x4" in removed.notes[-1]
    retargeted = ss.retarget(net, ss.RetargetOptions({"data": (1, 3, 16, 16)}))
    assert "'d' 1x3x16x16, 'p' 1x3x8x8" in retargeted.notes[-1]
    edited = net.copy()
    rewire(edited, [(edited.layers[3], 1, "drop")])  # a fault of another kind is new
    with pytest.raises(SurgeryError, match="the result would be invalid"):
        check_result(net, edited)
