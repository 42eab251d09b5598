"""``rename``: a layer and the blob of its name, everywhere, and nothing else; weights too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings

import scnn_surgery as ss
from scnn_surgery.core.text_export import export_bytes
from scnn_surgery.errors import SurgeryError
from scnn_surgery.weights import initial_weights, parse_caffemodel

from ..conftest import RunCli
from ..strategies import Written, budget, counted, written_nets

NET = """\
name: "small"  # a comment
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer {
  name: 'conv1'
  type: "Convolution"
  bottom: "data"
  top: 'conv1'
  param { name: "w1" }
  convolution_param { num_output: 4 kernel_size: 3 }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pooled"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pooled" top: "fc"
        inner_product_param { num_output: 5 } }
"""


def _renamed(text: str, renames: dict[str, str]) -> str:
    return ss.dumps(ss.rename(ss.loads(text, "n.prototxt"), renames).net)


def test_the_layer_and_its_blob_are_renamed_in_every_reader_and_writer() -> None:
    out = _renamed(NET, {"conv1": "stem"})
    assert out == (
        NET.replace("'conv1'", "'stem'")
        .replace('bottom: "conv1" top: "conv1"', 'bottom: "stem" top: "stem"')
        .replace('bottom: "conv1" top: "pooled"', 'bottom: "stem" top: "pooled"')
    )
    assert "w1" in out  # a share name is not the layer's


def test_a_layer_whose_output_has_another_name_keeps_the_blob() -> None:
    out = _renamed(NET, {"pool": "pool1"})
    assert out == NET.replace('name: "pool"', 'name: "pool1"')


def test_the_result_says_what_was_renamed() -> None:
    result = ss.rename(ss.loads(NET), ss.RenameOptions({"conv1": "stem", "fc": "head"}))
    assert result.renamed == {"conv1": "stem", "fc": "head"}
    assert result.blobs == {"conv1": "stem", "fc": "head"}
    assert result.done.startswith("renamed 'conv1' -> 'stem', 'fc' -> 'head'")


@pytest.mark.parametrize(
    ("renames", "message"),
    [
        ({"nope": "x"}, "no layer named 'nope'"),
        ({"conv1": "fc"}, "layer 'fc' (n.prototxt:15:1) has that name already"),
        ({"pool": "conv1"}, "layer 'conv1' (n.prototxt:4:1) has that name already"),
        ({"fc": "pooled"}, "the net already has a blob 'pooled'"),
        ({"conv1": "x", "fc": "x"}, "cannot rename both 'conv1' and 'fc' to 'x'"),
    ],
)
def test_refusals_are_one_line(renames: dict[str, str], message: str) -> None:
    with pytest.raises(SurgeryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _renamed(NET, renames)


def test_renaming_one_of_two_layers_sharing_a_param_is_refused() -> None:
    text = NET.replace(
        'layer { name: "relu1"',
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "c2"\n'
        '        include { phase: TRAIN } param { name: "w1" }\n'
        "        convolution_param { num_output: 4 kernel_size: 3 } }\n"
        'layer { name: "relu1"',
    )
    with pytest.raises(SurgeryError, match="splits their weights"):
        _renamed(text, {"#2": "stem"})
    assert "stem" in _renamed(text, {"conv1": "stem"})  # both of them: nothing splits


def test_swapping_two_names_is_allowed() -> None:
    out = _renamed(NET, {"pool": "fc", "fc": "pool"})
    assert 'name: "fc" type: "Pooling"' in out and 'name: "pool" type: "InnerProduct"' in out


def test_the_command_carries_the_caffemodel_entry(tmp_path: Path, run_cli: RunCli) -> None:
    model = tmp_path / "n.prototxt"
    model.write_text(NET)
    weights = tmp_path / "in.caffemodel"
    weights.write_bytes(initial_weights(ss.loads(NET), seed=3).model.to_bytes())
    out = tmp_path / "out.caffemodel"
    code, stdout, err = run_cli(
        "rename", str(model), "conv1=stem", "--weights", str(weights), "--weights-out",
        str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "renamed 'conv1' -> 'stem'" in err
    before = {e.name: e for e in parse_caffemodel(weights.read_bytes()).layers}
    after = {e.name: e for e in parse_caffemodel(out.read_bytes()).layers}
    assert set(after) == set(before) - {"conv1"} | {"stem"}
    assert after["stem"].blobs == before["conv1"].blobs
    assert stdout == _renamed(NET, {"conv1": "stem"})


def test_the_command_refuses_a_missing_layer(tmp_path: Path, run_cli: RunCli) -> None:
    model = tmp_path / "n.prototxt"
    model.write_text(NET)
    code, _, err = run_cli("rename", str(model), "conv=stem")
    assert code == 1 and err.count("\n") == 1
    assert "no layer named 'conv'; closest: conv1" in err


def test_diff_shows_a_rename_as_a_rename() -> None:
    from scnn_surgery.analysis.compare import diff_nets

    net = ss.loads(NET, "n.prototxt")
    changes = diff_nets(net, ss.rename(net, {"conv1": "stem"}).net)
    assert changes.lines() == ["~ renamed conv1 -> stem (Convolution), and its blob"]
    assert changes.counts() == "1 layer renamed"
    assert changes.to_dict()["renamed"] == [
        {"before": "conv1", "after": "stem", "type": "Convolution", "blob": True}
    ]


@pytest.mark.parametrize(
    ("renames", "lines"),
    [
        ({"pool": "fc", "fc": "pool"},
         ["~ renamed pool -> fc (Pooling)", "~ renamed fc -> pool (InnerProduct), and its blob"]),
        ({"conv1": "relu1", "relu1": "conv1"},
         ["~ renamed conv1 -> relu1 (Convolution), and its blob",
          "~ renamed relu1 -> conv1 (ReLU)"]),
        ({"pool": "fc", "fc": "conv1", "conv1": "pool"},
         ["~ renamed conv1 -> pool (Convolution), and its blob",
          "~ renamed pool -> fc (Pooling)",
          "~ renamed fc -> conv1 (InnerProduct), and its blob"]),
    ],
)  # fmt: skip
def test_diff_shows_swapped_names_as_renames(renames: dict[str, str], lines: list[str]) -> None:
    from scnn_surgery.analysis.compare import diff_nets

    net = ss.loads(NET, "n.prototxt")
    changes = diff_nets(net, ss.rename(net, renames).net)
    assert changes.lines() == lines
    assert changes.counts() == f"{len(lines)} layers renamed"


def test_diff_names_an_unnamed_layer_by_its_label() -> None:
    """By ``#N``, in the net it is in: renamed, or rewired after a layer above it went."""
    from scnn_surgery.analysis.compare import diff_nets

    net = ss.loads(UNNAMED, "u.prototxt")
    changes = diff_nets(net, ss.rename(net, {"#2": "conv", "#3": "relu"}).net)
    assert changes.lines() == ["~ renamed #2 -> conv (Convolution)", "~ renamed #3 -> relu (ReLU)"]
    dropout = 'layer { name: "d" type: "Dropout" bottom: "data" top: "d" }\n'
    text = UNNAMED.replace('layer { type: "Convolution" bottom: "data"', dropout + "layer {"
                           ' type: "Convolution" bottom: "d"')  # fmt: skip
    before = ss.loads(text, "u.prototxt")
    changes = diff_nets(before, ss.remove(before, ["d"]).net)
    assert changes.lines()[1:] == ["~ rewired #2 bottom 0: d → data"]


def test_diff_takes_a_swap_as_renames_only_when_both_layers_are_only_renamed() -> None:
    from scnn_surgery.analysis.compare import diff_nets

    net = ss.loads(NET, "n.prototxt")
    swapped = ss.dumps(ss.rename(net, {"pool": "fc", "fc": "pool"}).net)
    changes = diff_nets(net, ss.loads(swapped.replace("num_output: 5", "num_output: 6")))
    assert not changes.renamed
    assert [x.name for x in changes.changed] == ["pool", "fc"]


def _renamable(written: Written) -> list[int]:
    """Layers whose name and blob are spelled plainly everywhere (an escaped spelling is
    written plainly once renamed), and which a rename can name alone."""
    fancy = {written.net.layers[i].name for i in written.style.fancy}
    fancy |= {t for i in written.style.fancy for t in written.net.layers[i].tops}
    names = [x.name for x in written.net.layers]
    return [
        i for i, x in enumerate(written.net.layers)
        if x.name and x.name not in fancy and names.count(x.name) == 1
    ]  # fmt: skip


@settings(max_examples=budget("test_rename_then_its_inverse_gives_the_input_back"))
@given(written_nets().filter(lambda w: bool(_renamable(w))))
@counted
def test_rename_then_its_inverse_gives_the_input_back(written: Written) -> None:
    """Byte for byte; and the renamed text differs from the input in name tokens only."""
    index = _renamable(written)[-1]
    old = written.net.layers[index].name
    net = ss.loads(written.text, "gen.prototxt")
    new = "renamed_" + old
    assert new not in net.layer_names | net.blob_names
    there = export_bytes(ss.rename(net, {old: new}).net)
    assert there.count(new.encode()) >= 1
    back = export_bytes(ss.rename(ss.loads(there.decode(), "gen.prototxt"), {new: old}).net)
    assert back == written.data


def test_batch_renames_every_model(tmp_path: Path, run_cli: RunCli) -> None:
    """The registry gives batch the verb: --rename OLD=NEW, and the config's table."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b"):
        (src / f"{name}.prototxt").write_text(NET)
    config = tmp_path / "c.toml"
    config.write_text('[models."b.prototxt"]\nrenames = { fc = "head" }\n')
    out = tmp_path / "out"
    code, _, err = run_cli(
        "batch", str(src), "-o", str(out), "-j", "1", "--verb", "rename", "--rename",
        "conv1=stem", "--config", str(config),
    )  # fmt: skip
    assert code == 0, err
    assert (out / "a.prototxt").read_text() == _renamed(NET, {"conv1": "stem"})
    # the table's renames add to the command line's, as --rename given again would
    assert (out / "b.prototxt").read_text() == _renamed(NET, {"conv1": "stem", "fc": "head"})
    code, _, err = run_cli("batch", str(src), "-o", str(out), "--verb", "rename")
    assert code == 2 and "--verb rename needs --rename" in err


UNNAMED = """\
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 5 dim: 5 } } }
layer { type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 3
  kernel_size: 1 } }
layer {
\ttype: 'ReLU'  # in place
\tbottom: 'c'
\ttop: 'c'
}
"""


def test_an_unnamed_layer_gets_a_name_field_in_the_file_s_style() -> None:
    result = ss.rename(ss.loads(UNNAMED, "u.prototxt"), {"#2": "conv", "#3": "relu"})
    assert ss.dumps(result.net) == UNNAMED.replace(
        "layer { type", 'layer { name: "conv" type'
    ).replace("layer {\n\ttype", "layer {\n\tname: 'relu'\n\ttype")
    assert result.done == "renamed #2 -> 'conv', #3 -> 'relu'"
    assert [x.name for x in result.net.layers] == ["data", "conv", "relu"]


def test_naming_one_of_two_unnamed_layers_sharing_a_param_splits_nothing() -> None:
    """Caffe gives unnamed entries to the first unnamed layer; the other shares its blobs
    by the param name, named or not."""
    shared = (
        'layer { type: "Convolution" bottom: "data" top: "d" param { name: "w" }\n'
        "  convolution_param { num_output: 3 kernel_size: 1 } }\n"
    )
    text = UNNAMED + shared + shared.replace('top: "d"', 'top: "e"')
    result = ss.rename(ss.loads(text, "u.prototxt"), {"#4": "first"})
    assert result.done == "renamed #4 -> 'first'" and not result.notes


def test_an_empty_unnamed_layer_gets_its_name_inside_its_braces() -> None:
    text = UNNAMED + "layer {}\n"
    result = ss.rename(ss.loads(text, "u.prototxt"), {"#4": "odd"})
    assert ss.dumps(result.net) == UNNAMED + 'layer { name: "odd" }\n'
    assert "already" in result.notes[0]  # it had no type before either


def test_the_caffemodel_s_unnamed_entries_follow_their_layers(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A snapshot of a net writes an entry per layer, in order: the unnamed ones (which
    Caffe would all copy into the first unnamed layer) go to the layers they stand for."""
    model = tmp_path / "u.prototxt"
    model.write_text(UNNAMED)
    weights = tmp_path / "in.caffemodel"
    weights.write_bytes(initial_weights(ss.loads(UNNAMED), seed=3).model.to_bytes())
    before = parse_caffemodel(weights.read_bytes()).layers
    assert [(e.name, len(e.blobs)) for e in before] == [("data", 0), ("", 2), ("", 0)]
    for renames, names in (
        (["#2=conv", "#3=relu"], ["data", "conv", "relu"]),
        (["#3=relu"], ["data", "", "relu"]),
    ):
        out = tmp_path / "out.caffemodel"
        code, _, err = run_cli(
            "rename", str(model), *renames, "--weights", str(weights), "--weights-out",
            str(out), "-o", str(tmp_path / "out.prototxt"),
        )  # fmt: skip
        assert code == 0, err
        after = parse_caffemodel(out.read_bytes()).layers
        assert [e.name for e in after] == names
        assert after[1].blobs == before[1].blobs


def test_an_error_the_input_had_is_not_the_rename_s() -> None:
    text = NET.replace("kernel_size: 3", "kernel_size: 0")
    result = ss.rename(ss.loads(text, "n.prototxt"), {"conv1": "stem", "relu1": "r"})
    assert len(result.notes) == 1
    assert "input has this error already" in result.notes[0]
    assert "layer 'stem': kernel 0x0" in result.notes[0]
    unnamed = UNNAMED.replace("kernel_size: 1", "kernel_size: 0")
    assert ss.rename(ss.loads(unnamed), {"#2": "conv"}).notes


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("a=b", "a new name cannot hold '=' ('a=b'): OLD=NEW splits at the first '='"),
        ("#3", "'#3' cannot be a new name: #N names the N-th layer"),
    ],
)
def test_a_name_no_rename_could_give_back_is_refused(new: str, message: str) -> None:
    with pytest.raises(SurgeryError, match=re.escape(message)):
        _renamed(NET, {"conv1": new})


def test_a_top_level_input_is_renamed_with_its_blob() -> None:
    body = NET.split("\n", 3)[3]
    text = "input: 'data'  # the image\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n" + body
    result = ss.rename(ss.loads(text, "n.prototxt"), {"data": "img", "conv1": "stem"})
    assert ss.dumps(result.net) == _renamed(text, {"conv1": "stem"}).replace(
        "'data'", "'img'"
    ).replace('bottom: "data"', 'bottom: "img"')
    assert result.done == "renamed 'data' -> 'img', 'conv1' -> 'stem' (and 1 blob of its name)"
    assert result.renamed == {"conv1": "stem"}  # a caffemodel holds no entry for an input
    with pytest.raises(SurgeryError, match="the net already has a blob 'pooled'"):
        _renamed(text, {"data": "pooled"})
