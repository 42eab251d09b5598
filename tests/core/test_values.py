"""Parameter values in the IR: changed, added and removed fields come out as the fewest
text edits, readers see the new values, and everything else stays byte for byte."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.analysis.params import layer_message
from scnn_surgery.core import ops
from scnn_surgery.core.graph import build_graph, graph_of
from scnn_surgery.core.layerdef import Enum, LayerDef
from scnn_surgery.core.net import Layer
from scnn_surgery.core.values import parse_path, read_path
from scnn_surgery.errors import SurgeryError

from ..conftest import shared_path

TEXT = (
    'name: "t"  # a net\r\n'
    'input: "data"\r\n'
    "input_dim: 1\r\ninput_dim: 3\r\ninput_dim: 8\r\ninput_dim: 8\r\n"
    "layer {\r\n"
    '\tname: "conv1"   # first\r\n'
    '\ttype: "Convolution"\r\n'
    "\tbottom: 'data'\r\n"
    '\ttop: "conv1"\r\n'
    "\tparam { lr_mult: 1 }\r\n"
    "\tconvolution_param {\r\n"
    "\t\tnum_output: 4  # keep me\r\n"
    "\t\tkernel_size: 3\r\n"
    "\t}\r\n"
    "}\r\n"
    'layer { name: "bn" type: "BatchNorm" bottom: "conv1" top: "conv1" }\r\n'
)


def _net() -> ss.Net:
    return ss.loads(TEXT, "t.prototxt").copy()


def test_a_changed_scalar_is_its_token() -> None:
    net = _net()
    ops.set_param(net, net.layers[0], "convolution_param.num_output", 16)
    assert ss.dumps(net) == TEXT.replace("num_output: 4", "num_output: 16")


def test_an_added_field_follows_the_file_style() -> None:
    net = _net()
    conv = ops.set_param(net, net.layers[0], "convolution_param.bias_term", True)
    ops.add_param(net, conv, "param", (("lr_mult", 2), ("decay_mult", 0)))
    out = ss.dumps(net)
    assert "\t\tkernel_size: 3\r\n\t\tbias_term: true\r\n\t}" in out
    added = "\tparam {\r\n\t\tlr_mult: 2\r\n\t\tdecay_mult: 0\r\n\t}\r\n"
    assert "\tparam { lr_mult: 1 }\r\n" + added in out
    # everything else is the input's text
    assert out.replace("\t\tbias_term: true\r\n", "").replace(added, "") == TEXT


def test_a_missing_message_is_added_inline_in_a_one_line_layer() -> None:
    net = _net()
    ops.set_param(net, net.layers[1], "batch_norm_param.eps", 1e-5)
    assert 'top: "conv1" batch_norm_param { eps: 1e-05 } }' in ss.dumps(net)


def test_removing_cuts_the_lines_and_adding_back_restores_the_bytes() -> None:
    net = _net()
    conv = ops.remove_param(net, net.layers[0], "convolution_param.kernel_size")
    out = ss.dumps(net)
    assert out == TEXT.replace("\t\tkernel_size: 3\r\n", "")
    ops.set_param(net, conv, "convolution_param.kernel_size", 3)
    assert ss.dumps(net) == TEXT


def test_readers_see_the_new_values_and_the_graph_follows() -> None:
    net = _net()
    graph_of(net)
    conv = ops.set_param(net, net.layers[0], "convolution_param.num_output", 7)
    assert layer_message(net, conv).convolution_param.num_output == 7
    assert conv in graph_of(net).graph
    assert net.layer_location(conv) == "t.prototxt:7:1"
    assert [x.name for x in build_graph(net).layers] == ["conv1", "bn"]


def test_net_fields_change_and_the_inputs_follow() -> None:
    net = _net()
    ops.set_net_field(net, "input_dim[2]", 16)
    ops.set_net_field(net, "input_dim[3]", 24)
    assert net.inputs[0].dims == (1, 3, 16, 24)
    out = ss.dumps(net)
    assert out == TEXT.replace("input_dim: 8\r\ninput_dim: 8", "input_dim: 16\r\ninput_dim: 24")


def test_a_net_field_removed_and_added() -> None:
    net = _net()
    ops.remove_net_field(net, "input_dim[3]")
    assert ss.dumps(net) == TEXT.replace("input_dim: 8\r\ninput_dim: 8\r\n", "input_dim: 8\r\n")
    ops.add_net_field(net, "input_dim", 12)
    out = ss.dumps(net)
    assert net.inputs[0].dims == (1, 3, 8, 12)
    two_eights = "input_dim: 8\r\ninput_dim: 8\r\n"
    eight_twelve = "input_dim: 8\r\ninput_dim: 12\r\n"
    assert out == TEXT.replace(two_eights, eight_twelve)


def test_set_and_remove_never_make_an_indexed_message_only_add_does() -> None:
    """A set of ``input_shape[0].dim[2]`` on a net that states ``input_dim`` would add a
    shape of one dimension: refused as an index past the last is, the net unchanged."""
    net = _net()
    with pytest.raises(SurgeryError, match=r"there are 0 'input_shape' fields, so "
                       r"input_shape\[0\] does not exist; add it first"):  # fmt: skip
        ops.set_net_field(net, "input_shape[0].dim[2]", 512)
    with pytest.raises(SurgeryError, match=r"there are 4 'input_dim' fields, so input_dim\[7\]"):
        ops.remove_net_field(net, "input_dim[7]")
    with pytest.raises(SurgeryError, match=r"there are 0 'dim' fields, so \[2\] cannot be added"):
        ops.set_net_field(net, "input_shape.dim[2]", 512)  # made unindexed, but not at [2]
    conv = net.layers[0]
    for change in (ops.set_param, ops.remove_param):
        with pytest.raises(SurgeryError, match=r"there is 1 'param' field, so param\[1\]"):
            change(net, conv, "param[1].lr_mult", *([2] if change is ops.set_param else []))
    assert ss.dumps(net) == TEXT
    conv = ops.add_param(net, conv, "param[1].lr_mult", 2)  # add makes the next one
    conv = ops.set_param(net, conv, "param[1].decay_mult", 0)  # which then exists
    first = "\tparam { lr_mult: 1 }\r\n"
    second = "\tparam {\r\n\t\tlr_mult: 2\r\n\t\tdecay_mult: 0\r\n\t}\r\n"
    assert ss.dumps(net) == TEXT.replace(first, first + second)
    added = Layer.from_definition(LayerDef("s", "Scale", ("conv1",), ("conv1",)))
    ops.insert_layers(net, net.layers[-1], [added])
    with pytest.raises(SurgeryError, match=r"there are 0 'param' fields, so param\[0\]"):
        ops.set_param(net, added, "param[0].lr_mult", 0)
    added = ops.add_param(net, added, "param[0].lr_mult", 0)
    assert added.definition is not None
    assert added.definition.fields == (("param", (("lr_mult", 0),)),)


@pytest.mark.parametrize(
    ("net", "path"),
    [
        (("deploy", "resnet50_deploy.prototxt"), "input_dim[2]"),
        (("detection", "mobilenet_ssd_deploy.prototxt"), "input_shape[0].dim[2]"),
    ],
)
def test_the_readme_s_net_field_example_on_shipped_nets(net: tuple[str, str], path: str) -> None:
    """The README's ``set_net_field``, as the net states its input."""
    model = ss.load(shared_path("zoo", *net)).copy()
    ops.set_net_field(model, path, 512)
    assert model.inputs[0].dims[2] == 512
    assert not errors_of(check_net(ss.loads(ss.dumps(model)), errors_only=True))


def test_a_layer_surgery_added_changes_its_definition() -> None:
    net = _net()
    added = Layer.from_definition(LayerDef("s", "Scale", ("conv1",), ("conv1",)))
    ops.insert_layers(net, net.layers[-1], [added])
    new = ops.set_param(net, added, "scale_param.bias_term", True)
    assert new.definition is not None
    assert new.definition.fields == (("scale_param", (("bias_term", True),)),)
    assert "scale_param {\r\n\t\tbias_term: true\r\n\t}" in ss.dumps(net)


def test_strings_keep_their_quote_and_enums_stay_words() -> None:
    net = ss.loads("layer { name: 'p' type: 'Pooling' pooling_param { pool: MAX } }\n").copy()
    pool = ops.set_param(net, net.layers[0], "pooling_param.pool", Enum("AVE"))
    ops.set_param(net, pool, "type", "Pooling")
    assert ss.dumps(net) == "layer { name: 'p' type: 'Pooling' pooling_param { pool: AVE } }\n"


def test_paths_and_reading() -> None:
    assert parse_path("param[1].lr_mult") == (("param", 1), ("lr_mult", None))
    with pytest.raises(SurgeryError, match="bad field path"):
        parse_path("param[x]")
    net = _net()
    body = net.layers[0].body
    assert body is not None
    found = read_path(body, "convolution_param.num_output")
    assert found is not None and getattr(found, "value", None) == "4"
    assert read_path(body, "param[3].lr_mult") is None


def test_a_change_to_an_upgraded_v1_layer_keeps_its_v2_rewrite() -> None:
    from scnn_surgery.passes.upgrade import upgrade_net

    from ..conftest import DATA

    net = upgrade_net(ss.load(DATA / "v1_small_deploy.prototxt"))
    conv = next(x for x in net.layers if x.name == "conv1")
    new = ops.set_param(net, conv, "convolution_param.num_output", 16)
    assert new.format == "v2"
    text = ss.dumps(net)
    assert 'layer {\n  name: "conv1"\n  type: "Convolution"' in text
    assert "convolution_param { num_output: 16 kernel_size: 3 pad: 1 }" in text
    assert "layers" not in text.split("\n", 1)[1]  # past the header comment
