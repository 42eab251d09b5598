"""The caffemodel that goes with an upgraded net (carry.py): V2 entries, blobs in their
V2 shapes, loadable by the weights check and by OpenCV; the upgrade's Input layer is the
file's own inputs, not a layer that clashes with a caffemodel's blobless 'input' entry."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.carry import carried_caffemodel, carry_of
from scnn_surgery.core.net import Net
from scnn_surgery.weights import (
    Caffemodel,
    blob_array,
    blob_shape,
    initial_weights,
    make_blob,
    parse_caffemodel,
)

from .caffe_upgrade import upgrade_net_proto_text
from .conftest import DATA, RunCli, zoo_files

V1_NETS = [
    *(p for p in zoo_files() if p.parent.name == "legacy" and "_v1_" in p.name),
    DATA / "legacy" / "v1_data_layers.prototxt",
    DATA / "legacy" / "v1_fully_conv.prototxt",
]
V0_DEPLOY = next(p for p in zoo_files() if p.name == "rcnn_v0_caffenet_fc7_deploy.prototxt")
V1_DEPLOY = next(p for p in zoo_files() if p.name == "rcnn_v1_vgg16_fc7_deploy.prototxt")


def narrowed(path: Path, tmp_path: Path) -> Path:
    """The net with at most 8 outputs a layer and a batch of 1, every V0/V1 construct kept,
    so that its caffemodel takes kilobytes instead of VGG16's half a gigabyte."""
    text = re.sub(r"(num_output:\s*)(\d+)", lambda m: f"{m[1]}{min(int(m[2]), 8)}",
                  path.read_text())  # fmt: skip
    text = re.sub(r"(input_dim:\s*)\d+", r"\g<1>1", text, count=1)
    out = tmp_path / path.name
    out.write_text(text)
    return out


def upgraded_weights(path: Path, weights: Path | None = None) -> tuple[Net, Caffemodel, list[str]]:
    """``upgrade --weights-out`` (with ``--weights``, given) as the command makes it."""
    before = ss.load(path)
    result = ss.upgrade(before)
    data, notes = carried_caffemodel(
        result.net, None if weights is None else str(weights), "out.caffemodel",
        carry_of(before, result, None),
    )  # fmt: skip
    written = ss.loads(ss.dumps(result.net), str(path))  # the prototxt as written, read back
    return written, parse_caffemodel(data), notes


def randomised_v1(net: Net) -> bytes:
    """A V1 caffemodel for the V1 ``net``, every blob random (fillers default to 0)."""
    model = initial_weights(net, seed=1).model
    assert model.legacy
    rng = np.random.default_rng(5)
    for entry in model.layers:
        blobs = [rng.standard_normal(blob_shape(b)).astype(np.float32) for b in entry.blobs]
        del entry.blobs[:]
        entry.blobs.extend(make_blob(values, legacy=True) for values in blobs)
    return model.to_bytes()


def assert_oracle_layers(model: Caffemodel, oracle: Any) -> None:
    """Each entry, less its blobs, is a layer of that name in the oracle's upgraded net."""
    layers: dict[str, list[object]] = {}
    for layer in oracle.layer:
        layers.setdefault(layer.name, []).append(layer)
    for entry in model.layers:
        stripped = type(entry)()
        stripped.CopyFrom(entry)
        del stripped.blobs[:]
        assert stripped in layers[entry.name]


@pytest.mark.parametrize("path", V1_NETS, ids=[p.stem for p in V1_NETS])
def test_an_upgraded_v1_net_gets_a_v2_caffemodel(path: Path, tmp_path: Path) -> None:
    """Without --weights: V2 entries, each the layer Caffe's upgrade makes (the oracle's)
    with blobs in their V2 shapes, which the weights check accepts. With a V1 --weights:
    the same V2 file, holding the V1 file's values."""
    small = narrowed(path, tmp_path)
    net, made, _ = upgraded_weights(small)
    assert not made.legacy and made.layers
    assert not errors_of(check_net(net, weights=made))
    oracle = upgrade_net_proto_text(small.read_text())
    assert_oracle_layers(made, oracle)
    v1 = tmp_path / "v1.caffemodel"
    v1.write_bytes(randomised_v1(ss.load(small)))
    _, carried, notes = upgraded_weights(small, v1)
    assert f"{v1}: a V1 caffemodel, written as V2 as the net is" in notes
    assert not carried.legacy
    assert not errors_of(check_net(net, weights=carried))
    assert_oracle_layers(carried, oracle)
    shapes = {e.name: [blob_shape(b) for b in e.blobs] for e in made.layers}
    source = parse_caffemodel(v1.read_bytes())
    values = {e.name: [blob_array(b) for b in e.blobs] for e in source.layers}
    for entry in carried.layers:
        if entry.blobs:
            assert [blob_shape(b) for b in entry.blobs] == shapes[entry.name]
            for blob, old in zip(entry.blobs, values[entry.name], strict=True):
                assert np.array_equal(blob_array(blob).reshape(-1), old.reshape(-1))


@pytest.mark.parametrize("path", [V1_DEPLOY, DATA / "legacy" / "v1_fully_conv.prototxt"],
                         ids=["vgg16", "fully_conv"])  # fmt: skip
def test_opencv_runs_the_upgraded_net_with_the_upgraded_weights(
    path: Path, tmp_path: Path, cv2: ModuleType
) -> None:
    """The upgraded pair computes what the V1 pair computes (OpenCV reads both)."""
    small = narrowed(path, tmp_path)
    v1 = tmp_path / "v1.caffemodel"
    v1.write_bytes(randomised_v1(ss.load(small)))
    net, carried, _ = upgraded_weights(small, v1)
    upgraded = tmp_path / "up.prototxt"
    upgraded.write_text(ss.dumps(net))
    weights = tmp_path / "up.caffemodel"
    weights.write_bytes(carried.to_bytes())
    side = 224 if path == V1_DEPLOY else 16
    x = np.random.default_rng(2).standard_normal((1, 3, side, side)).astype(np.float32)
    found = []
    for model, caffemodel in ((small, v1), (upgraded, weights)):
        engine = cv2.dnn.readNetFromCaffe(str(model), str(caffemodel))
        engine.setInput(x)
        found.append(engine.forward())
    assert found[0].std() > 0
    np.testing.assert_allclose(found[1], found[0], rtol=1e-5, atol=1e-5)


def test_insert_upgrade_takes_the_caffemodel_of_upgrade(tmp_path: Path, run_cli: RunCli) -> None:
    """upgrade --weights-out writes a blobless 'input' entry for the Input layer it makes;
    insert --upgrade with that file makes the same Input layer, which is no new layer."""
    small = narrowed(V0_DEPLOY, tmp_path)
    first = tmp_path / "up.caffemodel"
    code, _, err = run_cli("upgrade", str(small), "-o", "-", "--weights-out", str(first))
    assert code == 0, err
    made = parse_caffemodel(first.read_bytes())
    assert [len(e.blobs) for e in made.layers if e.name == "input"] == [0]
    out, weights = tmp_path / "x.prototxt", tmp_path / "x.caffemodel"
    code, _, err = run_cli("insert", str(small), "--upgrade", "--weights", str(first),
                           "--weights-out", str(weights), "-o", str(out))  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli("check", str(out), "--weights", str(weights))
    assert code == 0 and "no problems found" in err, err


def test_insert_upgrade_with_a_v1_caffemodel(tmp_path: Path, run_cli: RunCli) -> None:
    """As upgrade --weights takes a V1 caffemodel, so does insert --upgrade: the upgrade's
    Input layer is not an added layer to be written into a V1 file; the file is upgraded."""
    small = narrowed(V1_DEPLOY, tmp_path)
    v1 = tmp_path / "v1.caffemodel"
    v1.write_bytes(randomised_v1(ss.load(small)))
    out, weights = tmp_path / "x.prototxt", tmp_path / "x.caffemodel"
    code, _, err = run_cli("insert", str(small), "--upgrade", "--weights", str(v1),
                           "--weights-out", str(weights), "-o", str(out))  # fmt: skip
    assert code == 0, err
    assert not parse_caffemodel(weights.read_bytes()).legacy
    code, _, err = run_cli("check", str(out), "--weights", str(weights))
    assert code == 0 and "no problems found" in err, err
