"""``rename``: a layer and the blob of its name, everywhere, and nothing else; weights too."""

from __future__ import annotations

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
    assert (out / "b.prototxt").read_text() == _renamed(NET, {"fc": "head"})
    code, _, err = run_cli("batch", str(src), "-o", str(out), "--verb", "rename")
    assert code == 2 and "--verb rename needs --rename" in err
