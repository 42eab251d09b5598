from __future__ import annotations

import pytest

from scnn_surgery.core.document import Document
from scnn_surgery.core.layerdef import LayerDef
from scnn_surgery.core.net import Layer, Net, StateRule, load_net, param_name_scalars, param_names
from scnn_surgery.errors import SurgeryError

from ..conftest import DATA, needs_shared, shared_path


def test_layers_and_rules_are_read() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    assert net.format == "v2"
    assert [layer.name for layer in net.layers][:3] == ["data", "data", "conv1"]
    first = net.layers[0]
    assert first.tops == ("data", "label")
    assert first.include == (StateRule(phase="TRAIN"),)
    relu = net.layers[4]
    assert relu.bottoms == relu.tops == ("conv1",)
    assert net.layers[7].exclude == (StateRule(phase="TRAIN"),)


def test_v1_types_become_v2_names() -> None:
    net = load_net(str(shared_path("zoo", "legacy", "caffe_v1_flickr_style_train_val.prototxt")))
    assert net.format == "v1"
    assert net.layers[0].type == "ImageData"
    assert {layer.type for layer in net.layers} >= {"Convolution", "ReLU", "Pooling", "LRN"}
    assert net.layers[0].include[0].phase == "TRAIN"


def test_a_v1_type_given_by_its_enum_number_is_read_as_its_name() -> None:
    """Protobuf text takes an enum's number too (``type: 4`` is CONVOLUTION, in hex too)."""
    text = (
        'layers { name: "c" type: 4 bottom: "x" top: "c" }\n'
        'layers { name: "r" type: 0x12 bottom: "c" top: "c" }\n'
        'layers { name: "p" type: RELU bottom: "c" top: "p" }\n'
    )
    net = Net.from_document(Document.parse(text, "v1.prototxt"))
    assert [x.type for x in net.layers] == ["Convolution", "ReLU", "ReLU"]


@pytest.mark.parametrize("word", ["99", "999", "TICONV"])
def test_a_v1_type_the_enum_lacks_is_refused_where_it_is_written(word: str) -> None:
    """Caffe's parser refuses it, so every verb does (issue 19 items 9 and 14)."""
    text = f'layers {{ name: "u" type: {word} bottom: "p" top: "u" }}\n'
    pattern = f"^v1.prototxt:1:26: in layer .u.: V1 layer type {word} is not one"
    with pytest.raises(SurgeryError, match=pattern):
        Net.from_document(Document.parse(text, "v1.prototxt"))


def test_v0_layers_read_inner_layer() -> None:
    net = load_net(str(shared_path("zoo", "legacy", "caffe_v0_lenet_train.prototxt")))
    assert net.format == "v0"
    assert [(x.name, x.type) for x in net.layers[:3]] == [
        ("mnist", "Data"),
        ("conv1", "Convolution"),
        ("pool1", "Pooling"),
    ]
    assert net.layers[1].bottoms == ("data",)


@needs_shared
def test_top_level_inputs_with_input_dim_and_input_shape() -> None:
    psp = load_net(str(shared_path("golden", "resnet101.prototxt")))
    assert [(i.name, i.dims) for i in psp.inputs] == [("data", (1, 3, 361, 361))]
    frcnn = load_net(
        str(shared_path("zoo", "detection", "faster_rcnn_vgg16_voc_end2end_test.prototxt"))
    )
    assert [(i.name, i.dims) for i in frcnn.inputs] == [
        ("data", (1, 3, 224, 224)),
        ("im_info", (1, 3)),
    ]


def test_mixed_layer_and_layers_is_refused() -> None:
    from scnn_surgery.core.document import Document

    doc = Document.parse('layer { name: "a" }\nlayers { name: "b" }\n', "mixed.prototxt")
    with pytest.raises(SurgeryError, match=r"mixed.prototxt:2:1: the net mixes"):
        Net.from_document(doc)


@pytest.mark.parametrize(
    ("text", "at", "what"),
    [
        ('layer { name: "a" top: 5 }', "5", "in layer 'a': 'top' must be a quoted string, not 5"),
        ("layer { bottom { } }", "bottom", "'bottom' must be a quoted string, not a block"),
        ("layer { name: 7 }", "7", "'name' must be a quoted string, not 7"),
        ('layer { name: "a" type: ReLU }', "ReLU", "'type' must be a quoted string, not ReLU"),
        ("layer { include { min_level: x } }", "x", "'min_level' must be an integer, not x"),
        ("layer { include { phase: DEPLOY } }", "DEPLOY", "'phase' must be TRAIN or TEST"),
        ('layer { name: "a" include { stage: 1 } }', "1", "'stage' must be a quoted string, not 1"),
        ('input: "d"\ninput_dim: 1.5\n', "1.5", "'input_dim' must be an integer, not 1.5"),
        ('state { level: "1" }', '"1"', "state 'level' must be an integer, not \"1\""),
        ('input: "d"\ninput_dim: 2147483648\n', "2147483648",
         "'input_dim' is out of range for an int32: 2147483648"),
        ('input: "d"\ninput_shape { dim: 1 dim: 99999999999999999999 }\n', "9999",
         "'dim' is out of range for an int64: 99999999999999999999"),
        ("layer { include { min_level: -2147483649 } }", "-2147483649",
         "'min_level' is out of range for an int32"),
    ],
)
def test_values_caffe_would_refuse_are_one_located_line(text: str, at: str, what: str) -> None:
    from scnn_surgery.core.document import Document

    doc = Document.parse(text, "bad.prototxt")
    with pytest.raises(SurgeryError) as caught:
        Net.from_document(doc)
    message = str(caught.value)
    assert message.startswith(f"{doc.location(text.index(at))}: ") and what in message
    assert "\n" not in message


def test_numeric_phases_unnamed_layers_and_the_declared_state() -> None:
    from scnn_surgery.core.document import Document

    doc = Document.parse(
        'state { level: 2 stage: "deploy" }\n'
        'layer { name: "a" include { phase: 1 } exclude { phase: 0 } }\n'
        'layer { type: "ReLU" bottom: "x" top: "x" }\n',
        "n.prototxt",
    )
    net = Net.from_document(doc)
    first, unnamed = net.layers
    assert first.include == (StateRule(phase="TEST"),)
    assert first.exclude == (StateRule(phase="TRAIN"),)
    assert net.label(unnamed) == "#2"
    assert net.describe(unnamed) == "unnamed layer #2 (n.prototxt:3:1)"
    assert net.declared_state.level == 2 and net.declared_state.stages == ("deploy",)


def test_share_names_are_read_per_blob_from_any_layer() -> None:
    """One reader for V2 blocks, V1 lists and definitions: a name per blob (None: the
    blob is not shared), and the literals that spell them, for renaming."""
    v2 = Net.from_document(Document.parse(
        'layer { name: "c" type: "Convolution" param { name: "w" name: "w2" lr_mult: 1 }'
        ' param { lr_mult: 2 } param { name: "" } }', "v2.prototxt",
    )).layers[0]
    assert param_names(v2) == ["w2", None, None]
    assert [[s.value for s in block] for block in param_name_scalars(v2)] == [["w", "w2"], [], [""]]
    v1 = Net.from_document(Document.parse(
        'layers { name: "c" type: CONVOLUTION param: "a" param: "" blobs_lr: 1 }', "v1.prototxt"
    )).layers[0]
    assert param_names(v1) == ["a", None]
    assert [[s.value for s in block] for block in param_name_scalars(v1)] == [["a"], [""]]
    added = Layer.from_definition(LayerDef(
        "c", "Convolution", ("x",), ("y",),
        (("param", (("name", "w"), ("lr_mult", 1))), ("param", (("lr_mult", 2),))),
    ))
    assert param_names(added) == ["w", None]
    assert param_name_scalars(added) == []  # no text to rename
