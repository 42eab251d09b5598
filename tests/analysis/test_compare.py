"""The structural diff engine: matching, normalisation, rewiring, modules."""

# The output writes shapes with the multiplication sign; so do the expectations.
# ruff: noqa: RUF001

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.compare import (
    FieldChange,
    diff_nets,
    diff_trees,
    normalised_params,
    render_value,
    same_values,
    shapes_differ,
)
from scnn_surgery.core.net import Net, load_net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes.upgrade import upgrade_net
from scnn_surgery.scnn import ScnnSpec, build_module, render_layers
from scnn_surgery.surgery import dumps, loads

from ..conftest import DATA, needs_shared, shallow_stack, shared_path

V2_NET = """
name: "tiny"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 8
input_dim: 8
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param { name: "conv1_w" lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 16 kernel_size: 3 pad: 1 }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layer {
  name: "cat"
  type: "Concat"
  bottom: "pool1"
  bottom: "pool1"
  top: "cat"
  concat_param { axis: 1 }
}
"""

V1_NET = """
name: "tiny"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 8
input_dim: 8
layers {
  name: "conv1"
  type: CONVOLUTION
  bottom: "data"
  top: "conv1"
  param: "conv1_w"
  param: ""
  blobs_lr: 1.0
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param { num_output: 16 kernel_size: 3 pad: 1 }
}
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers {
  name: "pool1"
  type: POOLING
  bottom: "conv1"
  top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layers {
  name: "cat"
  type: CONCAT
  bottom: "pool1"
  bottom: "pool1"
  top: "cat"
  concat_param { concat_dim: 1 }
}
"""


def _v2(text: str = V2_NET) -> Net:
    return loads(text, "a.prototxt")


def _changed(text: str, old: str, new: str) -> Net:
    assert old in text
    return loads(text.replace(old, new, 1), "b.prototxt")


# --- the published example ------------------------------------------------------------


@needs_shared
def test_published_insertion_is_one_module_and_one_rewire() -> None:
    before = load_net(str(shared_path("golden", "resnet101.prototxt")))
    after = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    diff = diff_nets(before, after)
    assert not diff.added and not diff.removed and not diff.changed and not diff.shapes
    assert len(diff.modules) == 1
    module = diff.modules[0]
    assert module.status == "added" and module.layers == 544
    assert module.describe() == (
        "SCNN module, directions DULR, 46×46×128, k 9, 544 layers,"
        " after conv5_5/relu, output SCNN"
    )
    [rewire] = diff.rewired
    assert (rewire.layer, rewire.bottom_index) == ("conv6", 0)
    assert rewire.before is not None and rewire.after is not None
    assert (rewire.before.blob, rewire.after.blob) == ("conv5_5", "SCNN")
    assert not diff.is_empty


@needs_shared
def test_published_insertion_as_json() -> None:
    before = load_net(str(shared_path("golden", "resnet101.prototxt")))
    after = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    data = json.loads(diff_nets(before, after).to_json())
    assert data["added"] == [] and data["removed"] == [] and data["changed"] == []
    assert [(r["layer"], r["bottom_before"], r["bottom_after"]) for r in data["rewired"]] == [
        ("conv6", "conv5_5", "SCNN")
    ]
    [module] = data["modules"]
    assert module["status"] == "added" and module["layers"] == 544
    assert module["after"]["placed_after"] == "conv5_5/relu"
    assert module["after"]["output"] == "SCNN"


@needs_shared
def test_removing_the_module_is_the_mirror_image() -> None:
    before = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    after = load_net(str(shared_path("golden", "resnet101.prototxt")))
    diff = diff_nets(before, after)
    assert [m.status for m in diff.modules] == ["removed"]
    assert not diff.added and not diff.removed
    assert [(r.layer, r.after.blob if r.after else None) for r in diff.rewired] == [
        ("conv6", "conv5_5")
    ]


@needs_shared
def test_a_net_equals_itself() -> None:
    net = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    assert diff_nets(net, net).is_empty
    assert diff_nets(_v2(), _v2()).is_empty


# --- V1 and V2 spellings --------------------------------------------------------------


def test_v1_and_v2_forms_of_one_net_do_not_differ() -> None:
    v1, v2 = loads(V1_NET, "v1.prototxt"), _v2()
    assert v1.format == "v1" and v2.format == "v2"
    diff = diff_nets(v1, v2)
    assert diff.is_empty, diff.lines()
    assert diff_nets(v2, v1).is_empty


def test_v1_params_normalise_to_v2_param_blocks() -> None:
    conv = loads(V1_NET).layers[0]
    assert normalised_params(conv)["param"] == [
        {"name": ['"conv1_w"'], "lr_mult": ["1"], "decay_mult": ["1"]},
        {"lr_mult": ["2"], "decay_mult": ["0"]},
    ]


def test_v1_data_transform_fields_count_as_transform_param() -> None:
    v1 = loads('layers { name: "d" type: DATA top: "data"\n'
               '  data_param { source: "db" batch_size: 4 scale: 0.5 mirror: true } }')
    v2 = loads('layer { name: "d" type: "Data" top: "data"\n'
               '  data_param { source: "db" batch_size: 4 }\n'
               '  transform_param { mirror: true scale: 0.5 } }')
    assert diff_nets(v1, v2).is_empty


def test_scnn_module_rendered_as_v1_equals_its_v2_rendering() -> None:
    spec = ScnnSpec(4, 5, channels=8, kernel_width=3, bottom="data")
    head = 'input: "data"\ninput_shape { dim: 1 dim: 8 dim: 4 dim: 5 }\n'
    v2 = loads(head + render_layers(build_module(spec)))
    v1 = loads(head + render_layers(build_module(spec), legacy_v1=True))
    assert v1.format == "v1"
    assert diff_nets(v1, v2).is_empty


def test_published_v1_net_equals_its_upgraded_form() -> None:
    v1 = load_net(str(shared_path("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt")))
    # The full upgrade also turns the top-level inputs into an Input layer named "input".
    assert diff_nets(v1, upgrade_net(v1)).is_empty


@pytest.mark.parametrize("name", ["caffe_v0_lenet_train", "rcnn_v0_caffenet_fc7_deploy",
                                  "caffe_v1_flickr_style_train_val",
                                  "rcnn_v1_pascal_finetune_train"])
def test_published_legacy_nets_equal_their_upgraded_forms(name: str) -> None:
    legacy = load_net(str(shared_path("zoo", "legacy", f"{name}.prototxt")))
    assert legacy.format in ("v0", "v1")
    upgraded = upgrade_net(legacy)
    assert upgraded.format == "v2"
    assert diff_nets(legacy, upgraded).is_empty, diff_nets(legacy, upgraded).lines()


def test_number_spellings_do_not_matter() -> None:
    other = _changed(V2_NET, "kernel_size: 3 pad: 1", "pad: 1.0 kernel_size: 3")
    assert diff_nets(_v2(), other).is_empty


def test_top_level_inputs_equal_an_input_layer_named_input() -> None:
    with_layer = V2_NET.replace(
        'input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n',
        'layer { name: "input" type: "Input" top: "data"'
        " input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n",
    )
    assert diff_nets(_v2(), loads(with_layer)).is_empty


# --- parameter changes ----------------------------------------------------------------


def test_a_parameter_change_is_reported_field_by_field() -> None:
    diff = diff_nets(_v2(), _changed(V2_NET, "num_output: 16", "num_output: 32"))
    [change] = diff.changed
    assert (change.name, change.type) == ("conv1", "Convolution")
    assert change.fields == (FieldChange("convolution_param.num_output", ("16",), ("32",)),)
    assert not diff.added and not diff.removed and not diff.rewired
    assert "convolution_param.num_output: 16 → 32" in "\n".join(diff.lines())


def test_repeated_messages_are_compared_by_index() -> None:
    diff = diff_nets(_v2(), _changed(V2_NET, "lr_mult: 2 decay_mult: 0", "lr_mult: 3"))
    [change] = diff.changed
    assert change.fields == (
        FieldChange("param[1].lr_mult", ("2",), ("3",)),
        FieldChange("param[1].decay_mult", ("0",), ()),
    )


def test_type_and_enum_changes() -> None:
    text = V2_NET.replace('type: "ReLU"', 'type: "PReLU"').replace("pool: MAX", "pool: AVE")
    diff = diff_nets(_v2(), loads(text))
    by_name = {c.name: c for c in diff.changed}
    assert by_name["relu1"].fields == (FieldChange("type", ("ReLU",), ("PReLU",)),)
    assert by_name["pool1"].fields == (FieldChange("pooling_param.pool", ("MAX",), ("AVE",)),)


def test_include_rules_are_compared() -> None:
    other = _changed(V2_NET, 'top: "cat"\n', 'top: "cat"\n  include { phase: TEST }\n')
    [change] = diff_nets(_v2(), other).changed
    assert change.fields[0].path == "include"


# --- removed and added layers, rewiring -----------------------------------------------


def test_removed_layer_and_the_rewire_it_causes() -> None:
    without_pool = V2_NET.replace(
        'layer {\n  name: "pool1"\n  type: "Pooling"\n  bottom: "conv1"\n  top: "pool1"\n'
        "  pooling_param { pool: MAX kernel_size: 2 stride: 2 }\n}\n",
        "",
    ).replace('bottom: "pool1"', 'bottom: "conv1"')
    diff = diff_nets(_v2(), loads(without_pool))
    assert [(x.name, x.type) for x in diff.removed] == [("pool1", "Pooling")]
    assert not diff.added and not diff.changed
    assert [(r.layer, r.bottom_index, r.before.blob if r.before else None,
             r.after.blob if r.after else None) for r in diff.rewired] == [
        ("cat", 0, "pool1", "conv1"), ("cat", 1, "pool1", "conv1"),
    ]
    assert "- layer   pool1 (Pooling)" in diff.lines()


def test_added_in_place_layer_rewires_by_producer() -> None:
    with_drop = _changed(
        V2_NET, 'layer {\n  name: "pool1"',
        'layer { name: "drop1" type: "Dropout" bottom: "conv1" top: "conv1" }\n'
        'layer {\n  name: "pool1"',
    )
    diff = diff_nets(_v2(), with_drop)
    assert [x.name for x in diff.added] == ["drop1"]
    [rewire] = diff.rewired
    assert rewire.layer == "pool1"
    assert rewire.before is not None and rewire.after is not None
    assert (rewire.before.producer, rewire.after.producer) == ("relu1", "drop1")
    assert rewire.describe() == "pool1 bottom 0: conv1 (from relu1) → conv1 (from drop1)"


def test_per_phase_layers_with_one_name_match_by_position() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    assert diff_nets(net, net).is_empty
    text = net.document.text
    other = loads(text.replace("dim: 1 dim: 3 dim: 8 dim: 10", "dim: 1 dim: 3 dim: 16 dim: 10"))
    [change] = diff_nets(net, other).changed
    assert change.name == "data"
    assert change.fields[0].path == "input_param.shape.dim"


def test_phase_option_limits_the_comparison() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    renamed = loads(net.document.text.replace('name: "loss"', 'name: "loss2"'))
    assert [x.name for x in diff_nets(net, renamed).added] == ["loss2"]
    assert [x.name for x in diff_nets(net, renamed, "TRAIN").added] == ["loss2"]
    assert diff_nets(net, renamed, "TEST").is_empty


def test_rewires_name_the_phases_they_happen_in() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    # Without drop1, score reads relu1's output in TRAIN too; TEST is unchanged.
    text = net.document.text
    start = text.index('layer {\n  name: "drop1"')
    end = text.index('layer {\n  name: "score"')
    diff = diff_nets(net, loads(text[:start] + text[end:]))
    assert [x.name for x in diff.removed] == ["drop1"]
    [rewire] = diff.rewired
    assert (rewire.layer, rewire.phases) == ("score", ("TRAIN",))
    assert diff.lines()[-1].endswith("[TRAIN]")


# --- modules that change --------------------------------------------------------------


def _module_net(spec: ScnnSpec) -> Net:
    head = 'input: "data"\ninput_shape { dim: 1 dim: 8 dim: 6 dim: 5 }\n'
    tail = f'layer {{ name: "head" type: "Sigmoid" bottom: "{spec.top or "SCNN"}" top: "out" }}\n'
    return loads(head + render_layers(build_module(spec)) + tail)


def test_a_resized_module_is_one_changed_entry() -> None:
    small = _module_net(ScnnSpec(4, 5, channels=8, kernel_width=3, bottom="data"))
    large = _module_net(ScnnSpec(6, 5, channels=8, kernel_width=5, bottom="data"))
    diff = diff_nets(small, large)
    assert not diff.added and not diff.removed and not diff.changed and not diff.rewired
    [module] = diff.modules
    assert module.status == "changed"
    assert module.layers_added > 0 and module.layers_changed > 0
    assert "4×5×8 → 6×5×8" in module.describe()
    assert "k 3 → k 5" in module.describe()


def test_the_reduction_insert_put_before_a_module_is_part_of_it() -> None:
    """insert --reduce-channels adds a 1x1 Convolution + ReLU the module reads: the diff
    counts them in the module (as strip takes them out with it), never as a separate
    fragment 'read by nothing'."""
    from scnn_surgery.surgery import InsertOptions, dumps, insert

    net = load_net(str(DATA / "phases_inplace.prototxt"))
    options = InsertOptions(after="conv1", kernel_width=3, reduce_channels=4)
    inserted = loads(dumps(insert(net, options).net))
    diff = diff_nets(net, inserted)
    assert not (diff.added or diff.fragments or diff.changed or diff.removed)
    [module] = diff.modules
    assert module.status == "added" and "after drop1" in module.describe()  # (TRAIN)
    assert module.layers == len(inserted.layers) - len(net.layers)
    assert {(r.layer, r.bottom_index) for r in diff.rewired} == {("score", 0), ("aux", 0)}


def test_summary_line_counts_each_kind() -> None:
    diff = diff_nets(_v2(), _changed(V2_NET, "lr_mult: 2", "lr_mult: 3"))
    assert diff.counts() == "1 layer changed"
    assert diff_nets(_v2(), _v2()).counts() == "no differences"


# --- shapes ---------------------------------------------------------------------------


def test_changed_blob_shapes_are_reported() -> None:
    diff = diff_nets(_v2(), _changed(V2_NET, "num_output: 16", "num_output: 32"))
    assert [(s.blob, s.before, s.after) for s in diff.shapes] == [
        ("conv1", (1, 16, 8, 8), (1, 32, 8, 8)),
        ("pool1", (1, 16, 4, 4), (1, 32, 4, 4)),
        ("cat", (1, 32, 4, 4), (1, 64, 4, 4)),
    ]
    assert "~ shape   cat: 1x32x4x4 → 1x64x4x4" in diff.lines()


def test_input_dims_count_as_shapes_when_inference_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import scnn_surgery.analysis.compare as compare

    def fail(*args: object) -> None:
        raise SurgeryError("no inference today")

    monkeypatch.setattr(compare, "infer_shapes", fail)
    diff = diff_nets(_v2(), _changed(V2_NET, "input_dim: 8\ninput_dim: 8", "input_dim: 8\n"
                                     "input_dim: 9"))
    assert [(s.blob, s.after) for s in diff.shapes] == [("data", (1, 3, 8, 9))]
    [change] = diff.changed
    assert change.name == "input"


# --- nesting as deep as the parser allows, compared without recursion ----------------------


def _deep_layer(depth: int, leaf: str) -> str:
    inner = depth - 1  # the layer block is the first level
    return (
        'layer { name: "r" type: "ReLU" bottom: "x" top: "x" '
        + "a { " * inner + leaf + " }" * inner + " }\n"
    )  # fmt: skip


def test_trees_nested_to_the_parsers_limit_are_compared_without_recursion() -> None:
    before = loads('input: "x"\n' + _deep_layer(100, "v: 1 w: 3"), "a.prototxt")
    after = loads('input: "x"\n' + _deep_layer(100, "v: 2 w: 3"), "b.prototxt")
    diff_nets(before, after)  # warm: imports and caches
    with shallow_stack():
        params = normalised_params(after.layers[0])
        diff = diff_nets(before, after)
    (change,) = diff.changed
    assert change.fields == (FieldChange("a." * 99 + "v", ("1",), ("2",)),)
    with shallow_stack():
        text = render_value(params)
        assert same_values([params], [normalised_params(after.layers[0])])
        assert not same_values([params], [normalised_params(before.layers[0])])
    assert text == "{ " + "a { " * 99 + "v: 2 w: 3" + " }" * 99 + " }"


def test_a_message_against_a_scalar_is_one_change_with_both_rendered() -> None:
    tree_a = {"a": [{"b": [{"c": ["1"]}]}]}
    tree_b = {"a": [{"b": ["7"]}], "d": [{}]}
    assert diff_trees(tree_a, tree_b) == [
        FieldChange("a.b", ("{ c: 1 }",), ("7",)),
        FieldChange("d", (), ("{ }",)),
    ]
    assert same_values([tree_a], [{"a": [{"b": [{"c": ["1"]}]}]}])
    assert not same_values([tree_a], [{"a": [{"b": [{"c": ["1"], "e": ["2"]}]}]}])


@needs_shared
def test_a_reduction_before_a_module_is_part_of_it() -> None:
    """``insert --reduce-channels`` puts a 1x1 convolution before the module; strip takes
    it out with the module, and diff lists it with the module, not as a fragment."""
    net = ss.load(shared_path("golden", "resnet101.prototxt"))
    result = ss.insert(net, ss.InsertOptions(after="conv5_5", reduce_channels=64))
    diff = diff_nets(net, result.net)
    assert not diff.fragments and not diff.added
    [module] = diff.modules
    assert module.status == "added"
    [rewire] = diff.rewired
    assert rewire.layer == "conv6"


def test_a_dimension_known_on_one_side_only_is_not_a_shape_change() -> None:
    """4x11x?x? against 4x11x360x480 is one blob seen with more stated, not a change
    (issue 19 item 11); a dimension both sides know and disagree on is."""
    assert not shapes_differ((4, 11, None, None), (4, 11, 360, 480))
    assert shapes_differ((4, 11, 360, 480), (4, 11, 360, 240))
    assert shapes_differ((4, 11), (4, 11, 1))
    data = (
        'layer { name: "data" type: "Data" top: "data" data_param { source: "x" batch_size: 4 } }\n'
        'layer { name: "conv_classifier" type: "Convolution" bottom: "data"'
        ' top: "conv_classifier" convolution_param { num_output: 11 kernel_size: 1 } }\n'
    )
    stated = data.replace('data_param {', 'transform_param { crop_size: 360 } data_param {')
    diff = diff_nets(loads(data, "a"), loads(stated, "b"))
    assert diff.shapes == ()


# The V0 and V1 nets shipped. Caffe's upgrade strips a top-level input without dims (a
# legacy caffemodel's), so the bare-input net's upgrade reads a blob nothing makes and
# `upgrade` refuses to write it; the V2 net's upgrade really zeroes its BatchNorm lr_mult.
_SHIPPED_LEGACY = sorted(
    path for path in [*(DATA / "zoo" / "legacy").glob("*.prototxt"),
                      *(DATA / "legacy").glob("*.prototxt")]
    if path.name != "v1_bare_input.prototxt" and not path.name.startswith("v2_")
)


@pytest.mark.parametrize("path", _SHIPPED_LEGACY, ids=lambda p: p.name)
def test_every_shipped_legacy_net_equals_its_upgraded_text(path: Path) -> None:
    # The README's promise, on the text `upgrade` writes (read back, as `diff` reads files).
    net = load_net(str(path))
    upgraded = loads(dumps(upgrade_net(net)))
    found = diff_nets(net, upgraded)
    assert not found.changed and not found.added and not found.removed, found.lines()


@pytest.mark.parametrize(("before", "after"), [
    ("num_output: 010", "num_output: 8"),  # a leading 0 is octal to protobuf
    ("num_output: 0x10", "num_output: 16"),
    ("bias_term: true", "bias_term: 1"),
    ("bias_term: False", "bias_term: f"),
    ("weight_filler { type: \"constant\" value: 0.1 }",
     "weight_filler { type: \"constant\" value: 0.100000001 }"),  # one float32
    ("weight_filler { type: \"constant\" }", "weight_filler { type: 'constant' }"),
    ("engine: CAFFE", "engine: 1"),
    ("kernel_size: 3", "kernel_size: 3 weight_filler { }"),  # only a has-bit differs
])
def test_values_compare_as_protobuf_reads_them_into_their_fields(before: str, after: str) -> None:
    text = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3'
            ' dim: 8 dim: 8 } } }\nlayer { name: "c" type: "Convolution" bottom: "data" top: "c"'
            ' convolution_param { num_output: 8 kernel_size: 3 bias_term: true %s } }\n')
    a, b = loads(text % before), loads(text % after)
    assert diff_nets(a, b).is_empty, diff_nets(a, b).lines()


def test_typed_values_that_differ_still_differ() -> None:
    pool = 'layer { name: "p" type: "Pooling" bottom: "x" top: "p" pooling_param { pool: %s } }'
    a, b = loads(pool % "AVE"), loads(pool % "0")
    (change,) = diff_nets(a, b).changed
    assert [f.describe() for f in change.fields] == ["pooling_param.pool: AVE → MAX"]
    octal = loads('layer { name: "p" type: "Pooling" bottom: "x" top: "p"'
                  ' pooling_param { kernel_size: 010 } }')
    ten = loads('layer { name: "p" type: "Pooling" bottom: "x" top: "p"'
                ' pooling_param { kernel_size: 10 } }')
    (change,) = diff_nets(octal, ten).changed
    assert [f.describe() for f in change.fields] == ["pooling_param.kernel_size: 8 → 10"]


def test_an_empty_repeated_message_still_counts() -> None:
    a = loads('layer { name: "c" type: "Convolution" bottom: "x" top: "c" param { } }')
    b = loads('layer { name: "c" type: "Convolution" bottom: "x" top: "c" }')
    assert not diff_nets(a, b).is_empty
