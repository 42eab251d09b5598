"""splice: any fragment after a blob's final version, its output read by the consumers."""

from __future__ import annotations

from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.analysis.inspection import inspect_net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.surgery import SpliceOptions, splice, strip

from .conftest import DATA, shared_path

SE = DATA / "se_block.prototxt"


def _resnet50() -> ss.Net:
    return ss.load(shared_path("zoo", "deploy", "resnet50_deploy.prototxt"))


def test_an_se_block_after_res5c() -> None:
    """The issue's example: a squeeze-and-excitation block spliced after res5c, its shapes
    inferred, only its text and pool5's bottom new."""
    net = _resnet50()
    result = splice(net, ss.load(SE), SpliceOptions(after="res5c"))
    assert result.output == "se/out" and result.prefix == ""
    assert result.point.blob == "res5c" and [c.layer.name for c in result.point.consumers] == [
        "pool5"
    ]
    text = ss.dumps(result.net)
    out = ss.loads(text, "out.prototxt")
    assert not errors_of(check_net(out))
    rows = {r.name: r.shapes for r in inspect_net(out).rows}
    assert rows["se/squeeze"] == ((1, 2048, 1, 1),)
    assert rows["se/excite"] == ((1, 2048, 7, 7),)
    assert rows["pool5"] == ((1, 2048, 1, 1),)
    # cutting the fragment and undoing pool5's bottom gives the file back
    original = shared_path("zoo", "deploy", "resnet50_deploy.prototxt").read_text()
    start = text.index('layer {\n\tname: "se/squeeze"')
    end = text.index('\n}\n', text.index('name: "se/excite"')) + 3
    assert text[:start] + text[end:].replace('"se/out"', '"res5c"', 1) == original
    assert ss.dumps(net) == original  # the input net is not changed


def test_the_fragment_is_written_in_the_nets_style_and_format(tmp_path: Path) -> None:
    v1 = shared_path("zoo", "legacy", "rcnn_v1_vgg16_fc7_deploy.prototxt")
    fragment = tmp_path / "f.prototxt"
    fragment.write_text(
        'layer { name: "g" type: "Sigmoid" bottom: "x" top: "g" }\n'
        'layer { name: "m" type: "Eltwise" bottom: "x" bottom: "g" top: "y"'
        " eltwise_param { operation: PROD } }\n"
    )
    result = splice(ss.load(v1), ss.load(fragment), SpliceOptions(after="pool5"))
    text = ss.dumps(result.net)
    assert "layer {" not in text and "  type: SIGMOID\n" in text and "  type: ELTWISE\n" in text
    assert not errors_of(check_net(ss.loads(text)))
    fragment.write_text('layer { name: "s" type: "Scale" bottom: "x" top: "y" }\n')
    with pytest.raises(SurgeryError, match="'Scale' has no Caffe V1 equivalent"):
        splice(ss.load(v1), ss.load(fragment), SpliceOptions(after="pool5"))


def test_colliding_names_get_a_prefix() -> None:
    once = splice(_resnet50(), ss.load(SE), SpliceOptions(after="res5c"))
    twice = splice(once.net, ss.load(SE), SpliceOptions(after="se/out"))
    assert twice.prefix == "scnn1_" and twice.output == "scnn1_se/out"
    assert any("using prefix 'scnn1_'" in n for n in twice.notes)
    names = [x.name for x in twice.added]
    assert names[0] == "scnn1_se/squeeze" and twice.added[-1].bottoms == ("se/out", "scnn1_se/flat")


def test_a_fragment_that_does_not_fit_is_refused_naming_its_layer(tmp_path: Path) -> None:
    fragment = tmp_path / "bad.prototxt"
    fragment.write_text(
        'layer { name: "c" type: "Convolution" bottom: "x" top: "c"\n'
        "  convolution_param { num_output: 1024 kernel_size: 1 } }\n"
        'layer { name: "sum" type: "Eltwise" bottom: "x" bottom: "c" top: "y" }\n'
    )
    with pytest.raises(SurgeryError) as caught:
        splice(_resnet50(), ss.load(fragment), SpliceOptions(after="res5c"))
    message = str(caught.value)
    assert "the result would be invalid" in message and "layer 'sum'" in message
    assert f"{fragment}:3" in message  # located in the fragment's own file


def test_several_inputs_need_binds_and_several_outputs_need_a_choice(tmp_path: Path) -> None:
    fragment = tmp_path / "two.prototxt"
    fragment.write_text(
        'layer { name: "p" type: "Eltwise" bottom: "a" bottom: "b" top: "p" }\n'
        'layer { name: "q" type: "Sigmoid" bottom: "p" top: "q" }\n'
        'layer { name: "r" type: "TanH" bottom: "p" top: "r" }\n'
    )
    net = _resnet50()
    with pytest.raises(SurgeryError, match=r"reads 2 blobs the net must give \(a, b\)"):
        splice(net, ss.load(fragment), SpliceOptions(after="res5c"))
    binds = {"a": "res5c", "b": "res5b"}
    with pytest.raises(SurgeryError, match=r"has 2 outputs \(q, r\); name the one"):
        splice(net, ss.load(fragment), SpliceOptions(after="res5c", binds=binds))
    chosen = splice(net, ss.load(fragment), SpliceOptions(after="res5c", binds=binds, output="r"))
    assert chosen.output == "r"
    p = next(x for x in chosen.net.layers if x.name == "p")
    assert p.bottoms == ("res5c", "res5b")
    with pytest.raises(SurgeryError, match="no layer or blob named 'res9'; closest: res5"):
        splice(net, ss.load(fragment), SpliceOptions(binds={"a": "res9", "b": "res5b"}))
    with pytest.raises(SurgeryError, match="does not read 'zz' from the net"):
        splice(net, ss.load(fragment), SpliceOptions(binds={"zz": "res5c"}))


def test_a_branch_rewires_nothing() -> None:
    head = splice(_resnet50(), ss.load(SE), SpliceOptions(after="res5c", branch=True))
    assert head.output is None
    pool5 = next(x for x in head.net.layers if x.name == "pool5")
    assert pool5.bottoms == ("res5c",)
    assert 'bottom: "se/out"' not in ss.dumps(head.net)


def test_without_after_the_point_is_the_one_insert_chooses() -> None:
    result = splice(_resnet50(), ss.load(SE), SpliceOptions())
    assert result.point.blob == "res5c"
    assert any("chose insertion point 'res5c' automatically" in n for n in result.notes)


def test_strip_after_splice_of_a_module_is_the_identity() -> None:
    """A module spliced as a fragment is recognised and stripped like an inserted one."""
    module = ss.loads(ss.generate(ss.ScnnSpec(7, 7, 2048, 3, bottom="x")), "module.prototxt")
    net = _resnet50()
    spliced = splice(net, module, SpliceOptions(after="res5c"))
    back = strip(ss.loads(ss.dumps(spliced.net)))
    assert ss.dumps(back.net) == ss.dumps(net)


V1_SMALL = DATA / "v1_small_deploy.prototxt"


@pytest.mark.parametrize(
    ("field", "name", "column"),
    [
        ("propagate_down: false", "propagate_down", 3),
        ("phase: TEST", "phase", 3),
        ("flatten_param { axis: 1 }", "flatten_param", 3),
        ("param { lr_mult: 0 } propagate_down: true", "propagate_down", 24),
        ("param { lr_mult: 0 fork_rank: 2 }", "fork_rank", 22),
    ],
)
def test_a_field_a_v1_layer_cannot_have_is_refused_at_the_fragments_line(
    field: str, name: str, column: int
) -> None:
    """V1's ``layers {}`` has no such field (nor its parallel param lists one for a fork's
    ParamSpec field): Caffe could not read the result, or the field would be lost."""
    fragment = ss.loads(
        'layer {\n  name: "f" type: "Convolution" bottom: "x" top: "y"\n'
        f"  {field}\n  convolution_param {{ num_output: 8 kernel_size: 1 }}\n}}\n",
        "frag.prototxt",
    )
    with pytest.raises(SurgeryError) as caught:
        splice(ss.load(V1_SMALL), fragment, SpliceOptions(after="conv2"))
    message = str(caught.value)
    assert message.startswith(f"frag.prototxt:3:{column}: in layer 'f': ")
    assert f"'{name}'" in message and "V1" in message


def test_a_fragments_type_v1_cannot_spell_is_refused_at_its_line() -> None:
    fragment = ss.loads('layer {\n  name: "s"\n  type: "Scale" bottom: "x" top: "y" }\n', "f.txt")
    with pytest.raises(SurgeryError, match=r"^f\.txt:3:3: .*'Scale' has no Caffe V1 equivalent"):
        splice(ss.load(V1_SMALL), fragment, SpliceOptions(after="conv2"))


def test_a_fragment_with_only_v1_fields_is_written_into_a_v1_net() -> None:
    fragment = ss.loads(
        'layer { name: "f" type: "Convolution" bottom: "x" top: "y" loss_weight: 0\n'
        '  exclude { stage: "x" } param { name: "w" lr_mult: 0 decay_mult: 0 }\n'
        "  convolution_param { num_output: 8 kernel_size: 1 } }\n",
        "frag.prototxt",
    )
    text = ss.dumps(splice(ss.load(V1_SMALL), fragment, SpliceOptions(after="conv2")).net)
    assert '  param: "w"\n  blobs_lr: 0\n  weight_decay: 0\n' in text
    assert not errors_of(check_net(ss.loads(text)))


CONV1_NET = (
    'layer { name: "data" type: "Input" top: "data"'
    " input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
    " convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
)
ONE_CONV_FRAGMENT = (
    'layer { name: "f1" type: "Convolution" bottom: "x" top: "y"'
    " convolution_param { num_output: 4 kernel_size: 1 } }\n"
)


def test_a_bind_may_name_a_layer_for_the_blob_it_writes() -> None:
    """``--bind x=relu1`` means the blob relu1 writes (conv1, in place), as --after does."""
    net = ss.loads(
        CONV1_NET
        + 'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
        'layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"'
        " inner_product_param { num_output: 2 } }\n",
        "net.prototxt",
    )
    fragment = ss.loads(ONE_CONV_FRAGMENT, "frag.prototxt")
    result = splice(net, fragment, SpliceOptions(binds={"x": "relu1"}))
    assert result.point.blob == "conv1" and result.added[0].bottoms == ("conv1",)
    assert [x.name for x in result.net.layers] == ["data", "conv1", "relu1", "f1", "fc"]
    fc = result.net.layers[-1]
    assert fc.bottoms == ("y",)


def test_after_a_blob_the_fragment_does_not_read_takes_replace() -> None:
    """--after names where the output goes, --bind what the fragment reads: a pair that
    feeds pool's readers what the fragment makes of conv1 is refused unless asked for."""
    net = ss.loads(
        CONV1_NET
        + 'layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool"'
        " pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n"
        'layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"'
        " inner_product_param { num_output: 2 } }\n",
        "net.prototxt",
    )
    fragment = ss.loads(ONE_CONV_FRAGMENT, "frag.prototxt")
    mixed = SpliceOptions(after="pool", binds={"x": "conv1"})
    with pytest.raises(SurgeryError, match=r"^--after pool names the blob whose readers read"
                       r" the fragment's output, but --bind x=conv1 makes the fragment read"
                       r" 'conv1', not 'pool'; .* give --replace"):
        splice(net, fragment, mixed)
    same = splice(net, fragment, SpliceOptions(after="pool", binds={"x": "pool"}))
    assert same.added[0].bottoms == ("pool",) and not any("--replace" in n for n in same.notes)
    asked = splice(net, fragment, SpliceOptions(after="pool", binds={"x": "conv1"}, replace=True))
    assert asked.added[0].bottoms == ("conv1",)
    fc = next(x for x in asked.net.layers if x.name == "fc")
    assert fc.bottoms == ("y",)
    assert "the fragment reads 'conv1'; the readers of 'pool' read its output (--replace)" in (
        asked.notes
    )
