"""export as a registered verb: its command, ``batch --verb export`` and the library."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scnn_surgery as ss

from ..conftest import RunCli, shared_path

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Small zoo nets, and the sizes a train/test net's data layer leaves open (a config's).
NETS = {
    "lenet_train_test.prototxt": ("train_val", "?,1,28,28"),
    "cifar10_full_train_test.prototxt": ("train_val", "?,3,32,32"),
    "squeezenet_v1_1_deploy.prototxt": ("deploy", None),
}


def shape_config(dims: str) -> str:
    """A config's shapes table for ``--shape data=DIMS``."""
    return ", ".join(f'"{d}"' if d == "?" else d for d in dims.split(","))


def test_batch_writes_what_the_command_writes(tmp_path: Path, run_cli: RunCli) -> None:
    sources = tmp_path / "zoo"
    sources.mkdir()
    for name, (folder, _) in NETS.items():
        (sources / name).write_bytes(shared_path("zoo", folder, name).read_bytes())
    config = tmp_path / "shapes.toml"
    config.write_text("".join(
        f'[models."{name}"]\nshapes = {{ data = [{shape_config(dims)}] }}\n'
        for name, (_, dims) in NETS.items() if dims is not None
    ))  # fmt: skip
    out = tmp_path / "out"
    code, _, err = run_cli("batch", str(sources), "-o", str(out), "--verb", "export",
                           "--config", str(config), "--opset", "13")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        name.replace(".prototxt", ".onnx") for name in NETS
    )
    for name, (_, dims) in NETS.items():
        single = tmp_path / "single.onnx"
        shape = ["--shape", f"data={dims}"] if dims else []
        code, _, err = run_cli("export", str(sources / name), "-o", str(single), *shape)
        assert code == 0, err
        batched = out / name.replace(".prototxt", ".onnx")
        assert batched.read_bytes() == single.read_bytes()
        session = ort.InferenceSession(str(batched), providers=["CPUExecutionProvider"])
        (given,) = session.get_inputs()
        feed = np.ones([1 if d is None or isinstance(d, str) else d for d in given.shape], "f4")
        (got, *_) = session.run(None, {given.name: feed})
        assert np.isfinite(got).all()


def test_library_and_command_line(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = ss.load(shared_path("zoo", "deploy", "squeezenet_v1_1_deploy.prototxt"))
    result = ss.export(net, ss.ExportOptions(external_data=True), seed=3)
    assert isinstance(result, ss.ExportResult) and result.net is net
    assert result.outputs == ["prob"] and "opset 13" in result.done
    files = result.output_files(str(tmp_path / "m.onnx"))
    assert [Path(p).name for p, _ in files] == ["m.onnx", "m.onnx.data"]
    assert isinstance(result.model, onnx.ModelProto) and result.model.graph.initializer
    monkeypatch.setattr("scnn_surgery.onnx_export.EXTERNAL_DATA_LIMIT", 2**20)
    past = ss.export(net, seed=3)  # the fillers' squeezenet is about 5 MB
    assert past.external_data and any("over protobuf's 2 GiB" in n for n in past.notes)
    assert isinstance(ss.export_onnx(net), onnx.ModelProto)
    code, out, _ = run_cli("--help")
    assert code == 0 and "export" in out
    code, _, err = run_cli("export", str(tmp_path / "x.prototxt"), "-o", "-")
    assert code == 2 and "binary .onnx" in err
    code, _, err = run_cli("batch", str(tmp_path), "-o", str(tmp_path / "o"), "--verb", "export",
                           "--weights-out", "w.caffemodel")  # fmt: skip
    assert code == 2 and "--weights-out" in err
