"""``remove`` and ``upgrade`` on the command line, ``--in-place`` for every verb, and the
caffemodel carried along by each of them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.weights import blob_shape, initial_weights, parse_caffemodel

from .caffe_upgrade import upgrade_v1_net
from .conftest import DATA, RunCli, shared_path

ALEXNET = ("zoo", "deploy", "bvlc_alexnet_deploy.prototxt")
PAST = 1_000_000_000  # a time stamp to spot any write, in seconds since the epoch

SMALL = """\
name: "small"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "drop1" type: "Dropout" bottom: "pool1" top: "pool1" }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 4 kernel_size: 1 group: 4 } }
layer { name: "fc" type: "InnerProduct" bottom: "conv2" top: "fc"
        inner_product_param { num_output: 2 } }
"""

SMALL_V1 = """\
name: "small_v1"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 6
input_dim: 6
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
  blobs_lr: 1 blobs_lr: 2 convolution_param { num_output: 2 kernel_size: 3 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers { name: "fc" type: INNER_PRODUCT bottom: "conv1" top: "fc"
  inner_product_param { num_output: 2 } }
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def stamped(path: Path) -> Path:
    """``path`` with an old time stamp, so that any write shows."""
    os.utime(path, (PAST, PAST))
    return path


def untouched(path: Path, text: str) -> bool:
    return path.read_text() == text and path.stat().st_mtime == PAST


def caffemodel(path: Path, prototxt: str) -> Path:
    """A caffemodel for ``prototxt``, every blob from its fillers."""
    path.write_bytes(initial_weights(ss.loads(prototxt), seed=3).model.to_bytes())
    return path


# --- remove ---------------------------------------------------------------------------------


def test_remove_writes_every_other_byte_as_it_was(tmp_path: Path, run_cli: RunCli) -> None:
    model = shared_path(*ALEXNET)
    target = tmp_path / "slim.prototxt"
    code, out, err = run_cli("remove", str(model), "drop6", "norm1", "-o", str(target))
    assert code == 0 and out == "", err
    assert target.read_text() == ss.dumps(ss.remove(ss.load(model), ["drop6", "norm1"]).net)
    assert err.splitlines() == [
        f"scnn-surgery: removed layer 'norm1' ({model}:33:1), layer 'drop6' ({model}:214:1)",
        "scnn-surgery: rewired 'pool1' bottom 0: norm1 -> conv1",
    ]
    code, out, _ = run_cli("remove", str(model), "drop6", "norm1")
    assert code == 0 and out == target.read_text()


def test_remove_reads_standard_input(run_cli: RunCli) -> None:
    code, out, _ = run_cli("remove", "-", "drop1", input=SMALL)
    assert code == 0 and out == SMALL.replace(
        'layer { name: "drop1" type: "Dropout" bottom: "pool1" top: "pool1" }\n', ""
    )


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["nrom1"], "no layer named 'nrom1'; closest: norm1"),
        (["data"], "cannot remove layer 'data' ("),
        (["conv1", "norm1"], "the result would be invalid:"),
    ],
)
def test_a_refused_remove_prints_one_line_and_nothing_else(
    tmp_path: Path, names: list[str], message: str, run_cli: RunCli
) -> None:
    model = write(tmp_path / "small.prototxt", SMALL)
    code, out, err = run_cli("remove", str(model), *names, "-o", str(tmp_path / "o.prototxt"))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o.prototxt").exists()


def test_remove_needs_a_layer_name(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("remove", str(write(tmp_path / "n.prototxt", SMALL)))
    assert code == 2 and "Missing argument 'LAYERS...'" in err


# --- upgrade --------------------------------------------------------------------------------


def test_upgrade_writes_the_net_in_the_current_format(tmp_path: Path, run_cli: RunCli) -> None:
    model = shared_path("zoo", "legacy", "caffe_v1_flickr_style_train_val.prototxt")
    code, out, err = run_cli("upgrade", str(model))
    assert code == 0 and "layers rewritten from V1 to V2" in err
    assert out == ss.dumps(ss.upgrade(ss.load(model)).net)
    assert "layers {" not in out and 'type: "ImageData"' in out


def test_upgrade_of_a_current_net_writes_it_unchanged(tmp_path: Path, run_cli: RunCli) -> None:
    model = shared_path(*ALEXNET)
    code, out, err = run_cli("upgrade", str(model))
    assert code == 0 and out == model.read_text()
    assert err == f"scnn-surgery: {model}: already in the current format\n"


# --- --in-place -------------------------------------------------------------------------------


def test_in_place_remove_replaces_the_model_keeping_its_mode(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model = write(tmp_path / "small.prototxt", SMALL)
    model.chmod(0o640)
    code, out, err = run_cli("remove", str(model), "drop1", "--in-place")
    assert code == 0 and out == ""
    assert model.read_text() == ss.dumps(ss.remove(ss.loads(SMALL), ["drop1"]).net)
    assert stat.S_IMODE(model.stat().st_mode) == 0o640
    assert err.endswith(f"scnn-surgery: replaced {model}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.prototxt"]


def test_in_place_through_a_symbolic_link_replaces_its_target(
    tmp_path: Path, run_cli: RunCli
) -> None:
    target = write(tmp_path / "real.prototxt", SMALL)
    link = tmp_path / "link.prototxt"
    link.symlink_to("real.prototxt")
    code, _, _ = run_cli("remove", str(link), "norm1", "--in-place")
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == "real.prototxt"
    assert 'name: "norm1"' not in target.read_text() and 'bottom: "conv1"' in target.read_text()


def test_in_place_insert_and_upgrade(tmp_path: Path, run_cli: RunCli) -> None:
    net = write(tmp_path / "net.prototxt", (DATA / "phases_inplace.prototxt").read_text())
    code, _, err = run_cli(
        "insert", str(net), "--after", "conv1", "--kernel-width", "3", "--in-place"
    )
    assert code == 0, err
    assert 'name: "Slice1"' in net.read_text()
    legacy = write(tmp_path / "v1.prototxt", SMALL_V1)
    code, _, err = run_cli("upgrade", str(legacy), "--in-place")
    assert code == 0, err
    assert legacy.read_text().startswith('name: "small_v1"\nlayer {\n  name: "input"\n')


def test_in_place_upgrade_of_a_current_net_does_not_touch_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model = stamped(write(tmp_path / "small.prototxt", SMALL))
    code, out, err = run_cli("upgrade", str(model), "--in-place")
    assert code == 0 and out == "" and "already in the current format" in err
    assert untouched(model, SMALL)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("remove", "{model}", "data"), "cannot remove layer 'data'"),
        (("remove", "{model}", "conv1", "norm1"), "the result would be invalid"),
        (("remove", "{model}", "nope"), "no layer named 'nope'"),
        (("insert", "{model}", "--after", "fc", "--kernel-width", "3"), "fc"),
        (("insert", "{model}", "--height", "5", "--kernel-width", "3"), "--height 5"),
        (("remove", "{model}", "fc", "--weights", "{weights}", "--weights-out", "{out}"),
         "cannot be decoded"),
    ],
)  # fmt: skip
def test_a_refused_in_place_verb_leaves_the_model_byte_identical(
    tmp_path: Path, args: tuple[str, ...], message: str, run_cli: RunCli
) -> None:
    model = stamped(write(tmp_path / "small.prototxt", SMALL))
    weights = write(tmp_path / "bad.caffemodel", "not a caffemodel")
    out = tmp_path / "out.caffemodel"
    spelled = [a.format(model=model, weights=weights, out=out) for a in args]
    code, stdout, err = run_cli(*spelled, "--in-place")
    assert code == 1 and stdout == "" and message in err and len(err.splitlines()) == 1
    assert untouched(model, SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.caffemodel", "small.prototxt"]


def test_a_refused_in_place_upgrade_leaves_the_model_byte_identical(
    tmp_path: Path, run_cli: RunCli
) -> None:
    text = 'input: "data"\nlayers { name: "r" type: RELU bottom: "data" top: "r" }\n'
    model = stamped(write(tmp_path / "bare.prototxt", text))
    code, _, err = run_cli("upgrade", str(model), "--in-place")
    assert code == 1 and "the result would be invalid" in err
    assert untouched(model, text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("remove", "{model}", "drop1", "-o", "{dir}/o.prototxt", "--in-place"),
         "-o and --in-place both say where to write; give one of them"),
        (("upgrade", "-", "--in-place"), "--in-place replaces MODEL, so MODEL must be a file"),
        (("insert", "-", "--in-place"), "--in-place replaces MODEL, so MODEL must be a file"),
        (("remove", "{model}", "drop1", "--in-place", "--weights-out", "{model}"),
         "--in-place {model} and --weights-out {model} name the same file"),
        (("remove", "{model}", "drop1", "-o", "{model}"),
         "-o {model} is the same file as MODEL {model}; the input is never written unless you"
         " ask with --in-place"),
        (("upgrade", "{model}", "--in-place", "--weights", "{model}", "--weights-out", "{dir}/w"),
         "--in-place {model} is the same file as --weights {model}; the input is never written"),
    ],
)  # fmt: skip
def test_in_place_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str, run_cli: RunCli
) -> None:
    model = stamped(write(tmp_path / "small.prototxt", SMALL))
    spelled = [a.format(model=model, dir=tmp_path) for a in args]
    code, out, err = run_cli(*spelled, input=SMALL)
    assert code == 2 and out == ""
    assert message.format(model=model) in err and len(err.splitlines()) == 1
    assert untouched(model, SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.prototxt"]


# --- weights ----------------------------------------------------------------------------------


def entries(path: Path) -> dict[str, bytes]:
    model = parse_caffemodel(path.read_bytes())
    return {entry.name: entry.SerializeToString() for entry in model.layers}


def test_remove_carries_the_weights_and_drops_the_removed_layers(
    tmp_path: Path, run_cli: RunCli
) -> None:
    text = SMALL.replace(
        'layer { name: "fc"',
        'layer { name: "extra" type: "Convolution" bottom: "pool1" top: "pool1b"\n'
        "        convolution_param { num_output: 4 kernel_size: 1 } }\n"
        'layer { name: "fc"',
    )
    model = write(tmp_path / "net.prototxt", text)
    weights = caffemodel(tmp_path / "in.caffemodel", text)
    out = tmp_path / "out.caffemodel"
    code, _, err = run_cli(
        "remove", str(model), "drop1", "extra", "-o", str(tmp_path / "o.prototxt"),
        "--weights", str(weights), "--weights-out", str(out),
    )  # fmt: skip
    assert code == 0, err
    before, after = entries(weights), entries(out)
    assert "extra" in before and after == {
        k: v for k, v in before.items() if k not in ("extra", "drop1")
    }
    assert f"the removed layers' blobs are left out of {out}: 'extra'\n" in err  # drop1 had none


def test_a_removal_the_weights_would_not_survive_is_refused(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model = write(tmp_path / "net.prototxt", SMALL)
    weights = caffemodel(tmp_path / "in.caffemodel", SMALL)
    code, _, err = run_cli(
        "remove", str(model), "pool1", "-o", str(tmp_path / "o.prototxt"),
        "--weights", str(weights), "--weights-out", str(tmp_path / "out.caffemodel"),
    )  # fmt: skip
    assert code == 1 and "the weights would not load" in err and "'fc'" in err
    assert f"param 0 in {weights} is " in err and "out.caffemodel" not in err  # the input's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.caffemodel", "net.prototxt"]


def test_remove_without_weights_makes_them_from_fillers(tmp_path: Path, run_cli: RunCli) -> None:
    model = write(tmp_path / "net.prototxt", SMALL)
    out = tmp_path / "out.caffemodel"
    code, _, err = run_cli("remove", str(model), "norm1", "--weights-out", str(out), "-o", "-")
    assert code == 0, err
    assert sorted(entries(out)) == ["conv1", "conv2", "data", "drop1", "fc", "pool1"]


def test_upgrade_upgrades_a_v1_caffemodel_with_the_net(tmp_path: Path, run_cli: RunCli) -> None:
    """The caffemodel of an upgraded net is the V2 one Caffe's upgrade makes of it (the
    oracle's), each blob in the shape its layer has, as Caffe writes it once loaded."""
    model = write(tmp_path / "v1.prototxt", SMALL_V1)
    weights = caffemodel(tmp_path / "in.caffemodel", SMALL_V1)
    before = parse_caffemodel(weights.read_bytes())
    assert before.legacy
    out = tmp_path / "out.caffemodel"
    code, _, err = run_cli(
        "upgrade", str(model), "--in-place", "--weights", str(weights), "--weights-out", str(out)
    )
    assert code == 0, err
    assert f"{weights}: a V1 caffemodel, written as V2 as the net is" in err
    assert ss.load(model).format == "v2"
    after = parse_caffemodel(out.read_bytes())
    assert not after.legacy
    assert [blob_shape(b) for b in after.message.layer[2].blobs] == [(2, 32), (2,)]
    expected = upgrade_v1_net(before.message)
    for entry in [*expected.layer, *after.message.layer]:
        for blob in entry.blobs:
            for dims in ("num", "channels", "height", "width", "shape"):
                blob.ClearField(dims)
    assert after.message == expected
    code, _, err = run_cli("check", str(model), "--weights", str(out))
    assert code == 0 and "no problems" in err, err


def test_a_v0_caffemodel_is_refused(tmp_path: Path, run_cli: RunCli) -> None:
    v0 = caffe_pb2.NetParameter()
    entry = v0.layers.add()
    entry.layer.name = "conv1"
    entry.layer.blobs.add().data.extend([1.0, 2.0])
    weights = tmp_path / "v0.caffemodel"
    weights.write_bytes(v0.SerializeToString())
    model = write(tmp_path / "net.prototxt", SMALL)
    code, _, err = run_cli(
        "remove", str(model), "drop1", "--weights", str(weights),
        "--weights-out", str(tmp_path / "o.caffemodel"),
    )  # fmt: skip
    assert code == 1 and "a V0 (pre-2014) caffemodel" in err
    v1 = write(tmp_path / "v1.prototxt", SMALL_V1)  # upgrading the file does not upgrade V0
    code, _, err = run_cli(
        "upgrade", str(v1), "-o", "-", "--weights", str(weights),
        "--weights-out", str(tmp_path / "o.caffemodel"),
    )  # fmt: skip
    assert code == 1 and "a V0 (pre-2014) caffemodel" in err


@pytest.mark.parametrize("word", ["999", "TICONV"])
def test_every_verb_refuses_a_v1_type_the_enum_lacks_alike(
    tmp_path: Path, run_cli: RunCli, word: str
) -> None:
    text = SMALL_V1.replace("type: RELU", f"type: {word}")
    model = write(tmp_path / "v1.prototxt", text)
    out = tmp_path / "out.prototxt"
    for verb in (["upgrade", "-o", str(out)], ["inspect"], ["check"],
                 ["insert", "--kernel-width", "3", "-o", str(out)]):  # fmt: skip
        code, stdout, err = run_cli(verb[0], str(model), *verb[1:])
        assert code == 1 and stdout == "", (verb, err)
        assert f"v1.prototxt:9:30: in layer 'relu1': V1 layer type {word} is not one" in err
    assert not out.exists()


def test_inspect_check_and_insert_choose_the_same_phase_on_a_train_only_file(
    run_cli: RunCli,
) -> None:
    model = str(DATA / "train_only.prototxt")
    said = "phase TEST is broken in the input already (layer 'conv1'"
    code, out, err = run_cli("inspect", model, "--json")
    assert code == 0 and said in err and '"phase": "TRAIN"' in out
    code, _, err = run_cli("check", model)
    assert code == 0 and said in err and "checked in phase TRAIN (choose with --phase)" in err
    code, _, err = run_cli("insert", model, "--after", "conv1", "--kernel-width", "3")
    assert code == 0 and said in err and "fitted and checked in phase TRAIN" in err
    code, out, _ = run_cli("check", model, "--phase", "TEST")
    assert code == 1 and "bottom 'data' is not produced" in out  # asked: it is checked


V0_HDF5 = """\
name: "v0"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 4
input_dim: 4
layers {
  layer { name: "fc" type: "innerproduct" num_output: 2 dropout_ratio: 0.5 }
  bottom: "data"
  top: "fc"
}
layers {
  layer { name: "out" type: "hdf5_output" hdf5_output_param { file_name: "/tmp/o.h5" } }
  bottom: "fc"
  bottom: "data"
}
"""


def test_v0_hdf5_output_param_is_upgraded_and_a_dropped_parameter_named(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model = write(tmp_path / "v0.prototxt", V0_HDF5)
    code, out, err = run_cli("upgrade", str(model), env={"SCNN_SURGERY_DEBUG": None})
    assert code == 0, err
    assert 'hdf5_output_param {\n    file_name: "/tmp/o.h5"' in out
    assert "layer 'fc': Caffe's upgrade drops parameter dropout_ratio, which layer type" in err
    for verb in (["inspect"], ["check"], ["diff", str(model)]):
        code, _, err = run_cli(verb[0], str(model), *verb[1:], env={"SCNN_SURGERY_DEBUG": None})
        assert code == 0 and "internal error" not in err, (verb, err)
