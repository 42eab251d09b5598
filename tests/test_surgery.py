"""The library API, and the published example as the first acceptance test."""

from __future__ import annotations

from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.errors import SurgeryError
from scnn_surgery.scnn import ScnnSpec

from .conftest import DATA, needs_shared, shared_path
from .protocmp import parse_layers

PUBLISHED = dict(after="conv5_5", height=46, width=46, channels=128)
# resnet101_SCNN.prototxt == resnet101.prototxt[:101833] + SCNN.prototxt + rewired rest
SPLICE_OFFSET = 101833


def _golden(name: str) -> bytes:
    return shared_path("golden", name).read_bytes()


@needs_shared
def test_published_example_is_reproduced() -> None:
    net = ss.load(shared_path("golden", "resnet101.prototxt"))
    result = ss.insert(net, ss.InsertOptions(**PUBLISHED))
    out = ss.dumps(result.net).encode("utf-8", "surrogateescape")
    golden = _golden("resnet101_SCNN.prototxt")
    module_len = len(_golden("SCNN.prototxt"))
    head, tail = golden[:SPLICE_OFFSET], golden[SPLICE_OFFSET + module_len :]
    # (a) byte-identical outside the module, including conv6's rewired bottom
    assert out.startswith(head)
    assert out.endswith(tail)
    assert b'bottom: "SCNN"' in tail
    # (b) the inserted layers equal the published module field for field
    ours = out[len(head) : len(out) - len(tail)].decode()
    assert parse_layers(ours) == parse_layers(_golden("SCNN.prototxt").decode())
    assert result.output == "SCNN"
    assert result.point.after is not None and result.point.after.name == "conv5_5/relu"


@needs_shared
def test_generate_equals_published_module() -> None:
    text = ss.generate(
        ScnnSpec(height=46, width=46, channels=128, kernel_width=9, bottom="conv5_5")
    )
    assert parse_layers(text) == parse_layers(_golden("SCNN.prototxt").decode())


@needs_shared
def test_input_document_is_not_modified() -> None:
    path = shared_path("golden", "resnet101.prototxt")
    net = ss.load(path)
    before = net.document.text
    ss.insert(net, ss.InsertOptions(**PUBLISHED))
    assert net.document.text == before
    assert path.read_bytes() == _golden("resnet101.prototxt")


def test_insert_in_every_phase_rewires_final_version_consumers() -> None:
    net = ss.load(DATA / "phases_inplace.prototxt")
    result = ss.insert(
        net, ss.InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3)
    )
    text = ss.dumps(result.net)
    assert "bottom: 'SCNN'" in text  # score kept its single quotes
    aux = next(x for x in result.net.layers if x.name == "aux")
    peek = next(x for x in result.net.layers if x.name == "peek")
    assert aux.bottoms == ("SCNN", "peek") and peek.bottoms == ("conv1",)
    drop = next(x for x in result.net.layers if x.name == "drop1")
    assert result.net.layers[result.net.index_of(drop) + 1].name == "Slice1"


def test_new_layers_follow_file_indentation_and_newlines(tmp_path: Path) -> None:
    src = (DATA / "phases_inplace.prototxt").read_text()
    crlf_tabs = src.replace("\n  ", "\n\t").replace("\n", "\r\n")
    path = tmp_path / "tabs.prototxt"
    path.write_bytes(crlf_tabs.encode())
    result = ss.insert(
        ss.load(path),
        ss.InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3),
    )
    text = ss.dumps(result.net)
    assert "\n" not in text.replace("\r\n", "")
    assert '\r\n\tname: "Slice1"\r\n' in text


def test_name_collision_gets_a_prefix() -> None:
    text = (DATA / "phases_inplace.prototxt").read_text().replace('name: "aux"', 'name: "Concat1"')
    result = ss.insert(
        ss.loads(text),
        ss.InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3),
    )
    assert result.spec.prefix == "scnn1_"
    assert result.output == "scnn1_SCNN"
    assert any("Concat1" in n and "scnn1_" in n for n in result.notes)
    original = {x.name for x in ss.loads(text).layers}
    added = [x.name for x in result.net.layers if x.name.startswith("scnn1_")]
    assert len(added) == 3 * 8 + 3 * 8 + 3 * 10 + 3 * 10 - 4 * 3 + 4
    assert not original & set(added)


def test_v0_needs_upgrade() -> None:
    net = ss.load(shared_path("zoo", "legacy", "caffe_v0_lenet_train.prototxt"))
    with pytest.raises(SurgeryError, match="--upgrade"):
        ss.insert(net, ss.InsertOptions(after="conv1", height=8, width=8, channels=20))


@needs_shared
def test_save_is_atomic_and_exact(tmp_path: Path) -> None:
    net = ss.load(shared_path("golden", "resnet101.prototxt"))
    out = tmp_path / "copy.prototxt"
    ss.save(net, out)
    assert out.read_bytes() == _golden("resnet101.prototxt")
    assert [p.name for p in tmp_path.iterdir()] == ["copy.prototxt"]


SMALL = (
    'name: "small"\n'
    'layer { name: "data" type: "Input" top: "data"'
    " input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n"
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
    " convolution_param { num_output: 2 kernel_size: 1 } }\n"
    'layer { name: "fc" type: "Convolution" bottom: "conv1" top: "fc"'
    " convolution_param { num_output: 2 kernel_size: 1 } }\n"
)
READS = 'bottom: "conv1" top: "fc"'
REWIRED = 'bottom: "SCNN" top: "fc"'


def _variant(old: str, new: str, text: str = SMALL) -> str:
    assert old in text
    return text.replace(old, new)


LOSSLESS_CASES = {
    "no trailing newline": (SMALL[:-1], READS, REWIRED),
    "comment after the block": (
        _variant('} }\nlayer { name: "fc"', '} }  # conv1 } done\nlayer { name: "fc"'),
        READS,
        REWIRED,
    ),
    "layer{ without spaces": (SMALL.replace("layer {", "layer{"), READS, REWIRED),
    "CRLF": (SMALL.replace("\n", "\r\n"), READS, REWIRED),
    "# inside strings": (
        _variant('name: "fc"', 'name: "f#c # not a comment"'),
        READS,
        REWIRED,
    ),
    "single quotes": (
        _variant(READS, "bottom: 'conv1' top: 'fc'"),
        "bottom: 'conv1' top: 'fc'",
        "bottom: 'SCNN' top: 'fc'",
    ),
    "list syntax": (
        _variant(READS, 'bottom: ["data", \'conv1\'] top: "fc"').replace(
            'type: "Convolution" bottom: ["data"', 'type: "Concat" bottom: ["data"'
        ),
        "bottom: [\"data\", 'conv1']",
        "bottom: [\"data\", 'SCNN']",
    ),
    "separator after the block": (
        _variant('} }\nlayer { name: "fc"', "} };\nlayer { name: 'fc'"),
        READS,
        REWIRED,
    ),
    "two layers on a line": (
        _variant('} }\nlayer { name: "fc"', '} } layer { name: "fc"'),
        READS,
        REWIRED,
    ),
    "bottom and a comment split over lines": (
        _variant(READS, 'bottom: # reads conv1\n    "conv1"\n  top: "fc"'),
        '"conv1"\n  top',
        '"SCNN"\n  top',
    ),
}


@pytest.mark.parametrize("case", sorted(LOSSLESS_CASES))
def test_only_the_module_and_the_rewired_values_change(case: str) -> None:
    text, old, new = LOSSLESS_CASES[case]
    result = ss.insert(ss.loads(text), ss.InsertOptions(after="conv1", kernel_width=3))
    out = ss.dumps(result.net)
    expected = _variant(old, new, text)
    # The output is the expected text with one run of module layers (and the newlines
    # that end them, and start them when the anchor's line goes on) added.
    before = {x.name for x in ss.loads(text).layers}
    read_back = ss.loads(out)
    module = [x for x in read_back.layers if x.name not in before]
    assert module[0].name == "Slice1" and module[-1].tops == ("SCNN",)
    positions = [read_back.index_of(x) for x in module]
    assert positions == list(range(positions[0], positions[-1] + 1))
    newline = read_back.document.newline
    first, last = module[0].block, module[-1].block
    assert first is not None and last is not None
    start = first.start
    # The module ends its own line, or (when the anchor's line went on) the line goes on
    # after it, so that cutting the module out gives the input back.
    ends_line = out[last.end : last.end + len(newline)] == newline
    end = last.end + (len(newline) if ends_line else 0)
    assert expected in (out[:start] + out[end:], out[: start - len(newline)] + out[end:])


def test_a_blob_missing_in_a_phase_says_so() -> None:
    text = SMALL + (
        'layer { name: "aux" type: "ReLU" bottom: "conv1" top: "aux" include { phase: TRAIN } }\n'
        'layer { name: "aux_fc" type: "Convolution" bottom: "aux" top: "aux_fc"'
        " include { phase: TRAIN } convolution_param { num_output: 2 kernel_size: 1 } }\n"
    )
    net = ss.loads(text, "phased.prototxt")
    with pytest.raises(SurgeryError) as caught:
        ss.insert(net, ss.InsertOptions(after="aux", kernel_width=3))
    message = str(caught.value)
    assert "(in the inserted module)" in message
    assert "blob 'aux' is not produced in phase TEST" in message and "--phase" in message
    result = ss.insert(net, ss.InsertOptions(after="aux", kernel_width=3, phase="TRAIN"))
    assert any("not produced in phase TEST" in n for n in result.notes)


def test_an_error_the_input_had_is_warned_at_the_inputs_line() -> None:
    text = SMALL + (
        'layer { name: "odd" type: "ReLU" bottom: "data" top: "odd"\n'
        "  include { phase: TEST } exclude { phase: TRAIN } }\n"
    )
    options = ss.InsertOptions(after="conv1", kernel_width=3)
    result = ss.insert(ss.loads(text, "odd.prototxt"), options)
    line = text[: text.index("exclude")].count("\n") + 1  # the input's line, not the result's
    [warning] = [n for n in result.notes if "has this error already" in n]
    assert f"odd.prototxt:{line}: error: layer 'odd'" in warning


def test_a_shape_caffe_refuses_is_named_in_the_input() -> None:
    text = _variant("kernel_size: 1 } }\nlayer { name: \"fc\"", (
        "kernel_size: 1 stride: 0 } }\nlayer { name: \"fc\""
    ))
    with pytest.raises(SurgeryError) as caught:
        ss.insert(ss.loads(text, "s.prototxt"), ss.InsertOptions(after="data", kernel_width=3))
    message = str(caught.value)
    where = "layer 'conv1' (s.prototxt:3:1) (Convolution)"
    assert message.startswith(f"{where}: stride 0x0 has a zero dimension")
    assert "fix the input net first" in message


def test_a_top_name_the_net_already_uses_is_refused_at_once() -> None:
    with pytest.raises(SurgeryError, match=r"^--top 'fc' is already a name in the net"):
        ss.insert(ss.loads(SMALL), ss.InsertOptions(after="conv1", kernel_width=3, top="fc"))


def test_a_shape_for_a_blob_the_net_lacks_is_refused_with_the_closest_names() -> None:
    options = ss.InsertOptions(after="conv1", kernel_width=3, shapes={"dta": (1, 2, 3, 4)})
    with pytest.raises(
        SurgeryError, match=r"^--shape names blob 'dta', which the net does not have; closest: data"
    ):
        ss.insert(ss.loads(SMALL), options)


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        ((1, 3, 8), "blob 'data' has 4 dimensions, and --shape gives 3"),
        ((1, 2, 4, 4), "the file states all of it, and --shape only states what the file"
                       " leaves open; to change it, change the file"),
        ((1, 2, 50, 50), "the file states all of it"),  # a new area, but new channels too
    ],
)  # fmt: skip
def test_a_shape_the_file_states_otherwise_says_what_to_do(
    shape: tuple[int, ...], says: str
) -> None:
    """A --shape that gives a stated input a new height and width is written into the file
    (tests/verbs/test_insert.py); other dimensions are the file's."""
    options = ss.InsertOptions(after="conv1", kernel_width=3, shapes={"data": shape})
    with pytest.raises(SurgeryError) as caught:
        ss.insert(ss.loads(SMALL), options)
    assert says in str(caught.value)


def test_a_placeholder_input_takes_its_real_size_from_shape() -> None:
    """A 4x4 input is a placeholder: --shape gives the size the net runs at (H and W only)."""
    options = ss.InsertOptions(after="conv1", kernel_width=3, shapes={"data": (1, 3, 40, 40)})
    result = ss.insert(ss.loads(SMALL), options)
    assert (result.spec.height, result.spec.width) == (40, 40)
    assert not any("placeholder" in note for note in result.notes)
    # The written file states 40x40, where Caffe sets the net up and the module fits.
    assert result.notes[0].startswith("retargeted data 1\u00d73\u00d74\u00d74 ->")
    assert "dim: 1 dim: 3 dim: 40 dim: 40" in ss.dumps(result.net)
    assert not errors_of(check_net(ss.loads(ss.dumps(result.net))))  # without the --shape
    warned = ss.insert(ss.loads(SMALL), ss.InsertOptions(after="conv1", kernel_width=3))
    (note,) = [n for n in warned.notes if "placeholder" in n]
    assert "input 'data' is 1x3x4x4, and its stated size 4x4 is at most 32" in note
    assert note.endswith("--shape data=1,3,H,W")


def test_a_train_only_file_converts_in_train_and_says_test_was_broken() -> None:
    """SSD's and R-CNN's *_train files: TEST has no data layer as written."""
    net = ss.load(DATA / "train_only.prototxt")
    for phase in ("TRAIN", None):
        result = ss.insert(net, ss.InsertOptions(phase=phase))
        assert result.point.blob == "conv1"
        warning = [n for n in result.notes if n.startswith("warning: phase TEST is broken")]
        assert len(warning) == 1 and "bottom 'data' is not produced" in warning[0]
        assert ("choose with --phase" in warning[0]) == (phase is None)
    with pytest.raises(SurgeryError, match=r"bottom 'data' is not produced .*\(phase TEST\)"):
        ss.insert(net, ss.InsertOptions(phase="TEST"))


def test_a_shape_the_file_states_cannot_be_overridden() -> None:
    """--shape states only what the file leaves open; a contradiction is refused, naming
    both, and never becomes the size of the module."""
    text = SMALL
    for given in ((1, 2, 9, 9), (1, 2, 4)):
        with pytest.raises(SurgeryError, match=r"--shape conv1=.* contradicts .*layer 'conv1'"):
            ss.insert(ss.loads(text), ss.InsertOptions(after="conv1", shapes={"conv1": given}))
    # What the file leaves open (here nothing) may be given; ? keeps the file's value.
    agreeing = ss.InsertOptions(after="conv1", shapes={"conv1": (1, 2, 4, 4)})
    assert ss.insert(ss.loads(text), agreeing).spec.height == 4
    partial = ss.InsertOptions(after="conv1", shapes={"conv1": (None, 2, 4, 4)})  # type: ignore[dict-item]
    assert ss.insert(ss.loads(text), partial).spec.width == 4


@needs_shared
def test_the_result_says_why_the_point_is_where_it_is() -> None:
    net = ss.load(DATA / "phases_inplace.prototxt")
    given = ss.insert(net, ss.InsertOptions(after="conv1", height=8, width=10, channels=4))
    assert given.point_reason == "given: --after conv1"
    chosen = ss.insert(ss.load(shared_path("golden", "resnet101.prototxt")), ss.InsertOptions())
    assert chosen.point_reason and "'conv6'" in chosen.point_reason
    assert f"automatically: {chosen.point_reason}" in chosen.notes[0]


def test_an_automatic_point_is_a_blob_even_when_a_layer_has_its_name() -> None:
    from .passes.test_anchor import CROSSED

    result = ss.insert(ss.loads(CROSSED, "crossed.prototxt"), ss.InsertOptions(kernel_width=3))
    assert result.point.blob == "a"  # the classifier's input, not layer a's output 'x'
    assert [c.layer.name for c in result.point.consumers] == ["fc"]


def test_reducing_channels_warns_that_what_follows_needs_retraining() -> None:
    net = ss.load(shared_path("zoo", "deploy", "resnet50_deploy.prototxt"))
    result = ss.insert(net, ss.InsertOptions(reduce_channels=128, kernel_width=5))
    assert (
        "warning: --reduce-channels 128: the module's output has 128 channels where 'res5c'"
        " had 2048, so what learned weights for 2048 after it (from pool5 on) needs"
        " retraining: a caffemodel's blobs for it no longer fit"
    ) in result.notes


def test_reducing_a_map_to_the_channels_it_has_adds_nothing_and_says_so() -> None:
    net = ss.load(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt"))  # pool5: 256
    plain = ss.insert(net, ss.InsertOptions(after="pool5"))
    same = ss.insert(net, ss.InsertOptions(after="pool5", reduce_channels=256))
    assert ss.dumps(same.net) == ss.dumps(plain.net)  # no 256 -> 256 convolution
    assert any("already has 256 channels" in note for note in same.notes)
    reduced = ss.insert(net, ss.InsertOptions(after="pool5", reduce_channels=128))
    assert "SCNN_reduce" in ss.dumps(reduced.net)
