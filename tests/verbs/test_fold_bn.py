"""fold-bn: the folded net computes what the unfolded one did, in OpenCV, on random weights."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from scnn_surgery import load, loads
from scnn_surgery.carry import weights_for_net
from scnn_surgery.core.text_export import export_bytes
from scnn_surgery.errors import SurgeryError
from scnn_surgery.options import FoldBnOptions
from scnn_surgery.verbs.fold_bn import FoldBnResult, channel_affine, fold_bn, folded_weights
from scnn_surgery.weights import (
    Caffemodel,
    WeightsResult,
    blob_array,
    make_blob,
    parse_caffemodel,
    read_caffemodel,
)

from ..conftest import RunCli, needs_shared, shared_available, shared_path, zoo_files
from ..reference_scnn import relative_error
from .enginecheck import input_shape, outputs, random_weights

TOLERANCE = 1e-5

SMALL = """name: "small"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 2 dim: 4 dim: 9 dim: 9 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { eps: 0.001 } }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "up" type: "Deconvolution" bottom: "conv1" top: "up"
  convolution_param { num_output: 4 kernel_size: 2 stride: 2 } }
layer { name: "up_bn" type: "BatchNorm" bottom: "up" top: "up_bn" }
layer { name: "up_scale" type: "Scale" bottom: "up_bn" top: "up_scaled" }
layer { name: "side" type: "Convolution" bottom: "up_scaled" top: "side"
  convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "side_relu" type: "ReLU" bottom: "side" top: "side" }
layer { name: "side_bn" type: "BatchNorm" bottom: "side" top: "side_bn" }
layer { name: "fc" type: "InnerProduct" bottom: "side_bn" top: "fc"
  inner_product_param { num_output: 5 } }
layer { name: "fc_bn" type: "BatchNorm" bottom: "fc" top: "fc_bn" }
layer { name: "branch" type: "Convolution" bottom: "up_scaled" top: "branch"
  convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "peek" type: "ReLU" bottom: "branch" top: "peek" }
layer { name: "branch_bn" type: "BatchNorm" bottom: "branch" top: "branch" }
"""


def carried_weights(result: FoldBnResult, model: Caffemodel) -> WeightsResult:
    """The caffemodel the command line writes: folded, then carried without the folded
    layers' entries, and checked."""
    result.adjust_weights(model)
    return weights_for_net(result.net, model, removed=[x.name for x in result.removed])


def fold_and_compare(cv2: ModuleType, source: Path, seed: int) -> tuple[float, list[str]]:
    """The largest relative difference between the outputs before and after folding."""
    net = load(source)
    trained = random_weights(net, seed)
    result = fold_bn(net)
    folded = carried_weights(result, parse_caffemodel(trained, "trained.caffemodel"))
    x = np.random.default_rng(seed + 1).uniform(-1, 1, input_shape(net)).astype(np.float32)
    before = outputs(cv2, source.read_bytes(), trained, x)
    text = export_bytes(result.net)
    after = outputs(cv2, text, folded.model.to_bytes(), x)
    assert before.keys() == after.keys()
    assert (b"\n\n\n" in text) <= (b"\n\n\n" in source.read_bytes())  # cut cleanly
    worst = max(relative_error(after[k], before[k].astype(np.float64)) for k in before)
    return worst, [result.done, *result.notes]


@pytest.mark.parametrize(
    ("folder", "stem", "folds"),
    [
        ("deploy", "resnet50_deploy", 53),
        ("deploy", "mobilenet_v2_deploy", 53),
        # not shipped (no licence): beside ../shared only
        pytest.param("deploy", "densenet121_deploy", 59, marks=needs_shared),
    ],
    ids=["resnet50", "mobilenet_v2", "densenet121"],
)
def test_folded_zoo_net_equals_the_unfolded_one_in_opencv(
    cv2: ModuleType, folder: str, stem: str, folds: int
) -> None:
    worst, notes = fold_and_compare(cv2, shared_path("zoo", folder, f"{stem}.prototxt"), 3)
    assert notes[0] == (
        f"folded {folds} BatchNorm layers and {folds} Scale layers into the layers before them"
    )
    assert worst <= TOLERANCE


def test_a_deploy_net_with_a_phase_rule_folds_for_test(cv2: ModuleType) -> None:
    """MobileNet-SSD's DetectionOutput is ``include { phase: TEST }``, so the file has a
    TRAIN phase too, where its BatchNorms (use_global_stats unset) would use the batch's
    statistics; fold-bn folds for the deployed phase, TEST, and says what TRAIN loses."""
    source = shared_path("zoo", "detection", "mobilenet_ssd_deploy.prototxt")
    net = load(source)
    trained = random_weights(net, 7)
    result = fold_bn(net)
    assert result.done == (
        "folded 35 BatchNorm layers and 35 Scale layers into the layers before them"
    )
    assert result.kept == [] and len(result.notes) == 1
    assert "phase TRAIN" in result.notes[0] and "--phase TRAIN" in result.notes[0]
    folded = carried_weights(result, parse_caffemodel(trained, "trained.caffemodel"))
    x = np.random.default_rng(8).uniform(-1, 1, input_shape(net)).astype(np.float32)
    heads = ("mbox_loc", "mbox_conf")  # before DetectionOutput's thresholds and sorting
    before = outputs(cv2, source.read_bytes(), trained, x, heads)
    after = outputs(cv2, export_bytes(result.net), folded.model.to_bytes(), x, heads)
    assert max(relative_error(after[k], before[k].astype(np.float64)) for k in heads) <= 1e-4


def test_phase_train_keeps_what_uses_batch_statistics_there() -> None:
    source = shared_path("zoo", "detection", "mobilenet_ssd_deploy.prototxt")
    result = fold_bn(load(source), FoldBnOptions(phase="TRAIN"))
    assert result.folded == [] and len(result.kept) == 35
    assert "batch's own statistics in TRAIN" in result.kept[0].reason


def test_every_zoo_net_with_batch_norm_folds_to_a_valid_net() -> None:
    """Those OpenCV cannot run (fork layer types) included: the folded net passes check,
    and every BatchNorm is folded or kept with a reason."""
    seen = 0
    for path in zoo_files():
        text = path.read_text(errors="replace")
        if "BatchNorm" not in text:
            continue
        net = load(path)
        result = fold_bn(net)
        batch_norms = [x for x in net.layers if x.type == "BatchNorm"]
        assert len(result.folded) + len(result.kept) == len(batch_norms), path
        seen += 1
    assert seen >= (8 if shared_available() else 5)  # 5 of the shipped nets, 8 with ../shared


def test_small_net_folds_convolution_deconvolution_and_inner_product(
    cv2: ModuleType, tmp_path: Path
) -> None:
    """In place and not, with and without a Scale (with and without bias), and two kept."""
    source = tmp_path / "small.prototxt"
    source.write_text(SMALL)
    worst, notes = fold_and_compare(cv2, source, 5)
    assert worst <= TOLERANCE
    assert notes[0] == "folded 3 BatchNorm layers and 2 Scale layers into the layers before them"
    assert any("kept layer 'side_bn'" in n and "a ReLU, not a Convolution" in n for n in notes)
    assert any("kept layer 'branch_bn'" in n and "is also read by 'peek'" in n for n in notes)


def test_only_the_text_of_the_folded_layers_changes(tmp_path: Path) -> None:
    net = loads(SMALL, "small.prototxt")
    model = parse_caffemodel(random_weights(net, 1))
    result = fold_bn(net, FoldBnOptions(only=("conv1",)))
    carried = carried_weights(result, model)
    text = export_bytes(result.net).decode()
    expected = SMALL.replace("bias_term: false", "bias_term: true")
    expected = "".join(
        line for line in expected.splitlines(keepends=True)
        if '"bn1"' not in line and '"scale1"' not in line
    )  # fmt: skip
    assert text == expected
    stored = {e.name: [blob_array(b) for b in e.blobs] for e in carried.model.layers}
    assert "bn1" not in stored and "scale1" not in stored and "up_bn" in stored
    assert [w.shape for w in stored["conv1"]] == [(6, 4, 3, 3), (6,)]


def test_unknown_only_name_is_refused_with_the_closest() -> None:
    net = loads(SMALL, "small.prototxt")
    with pytest.raises(SurgeryError, match="no layer named 'conv_1'; closest: conv1"):
        fold_bn(net, FoldBnOptions(only=("conv_1",)))


def test_only_a_layer_of_no_batch_norm_group_is_refused() -> None:
    net = loads(SMALL, "small.prototxt")
    with pytest.raises(SurgeryError, match="--only 'relu1' names no BatchNorm"):
        fold_bn(net, FoldBnOptions(only=("bn1", "relu1")))


def test_batch_statistics_in_train_are_kept() -> None:
    text = SMALL.replace(
        'top: "conv1" batch_norm_param { eps: 0.001 } }',
        'top: "conv1" batch_norm_param { eps: 0.001 } include { phase: TRAIN } }',
    )
    text = text.replace('"scale1" type: "Scale"', '"scale1" type: "Scale" include { phase: TRAIN }')
    net = loads(text, "train.prototxt")
    result = fold_bn(net, FoldBnOptions(phase="TRAIN"))
    assert result.folded == [] and result.kept[0].layer.name == "bn1"
    assert "batch's own statistics in TRAIN" in result.kept[0].reason
    with pytest.raises(SurgeryError, match=r"cannot fold layer 'bn1' .*: it does not run in phase"
                       r" TEST$"):
        fold_bn(net, FoldBnOptions(only=("bn1",)))
    with pytest.raises(SurgeryError, match="batch's own statistics in TRAIN"):
        fold_bn(net, FoldBnOptions(only=("bn1",), phase="TRAIN"))


def _deconv_reference(x: np.ndarray, w: np.ndarray, group: int) -> np.ndarray:
    """A 2x2 stride-2 grouped deconvolution written out: output o = g * (O / g) + j."""
    n, c, h, wd = x.shape
    per_group = w.shape[1]
    out = np.zeros((n, group * per_group, 2 * h, 2 * wd))
    for ci in range(c):
        g = ci // (c // group)
        for j in range(per_group):
            for ky in range(2):
                for kx in range(2):
                    out[:, g * per_group + j, ky::2, kx::2] += x[:, ci] * w[ci, j, ky, kx]
    return out


def test_grouped_deconvolution_and_transposed_inner_product_fold_exactly() -> None:
    """OpenCV 4.x computes neither as Caffe does (it ignores InnerProduct's transpose and
    misapplies a BatchNorm after a grouped Deconvolution), so these are checked in NumPy."""
    rng = np.random.default_rng(0)
    mean, variance, gamma, beta = (rng.uniform(0.5, 2, 4) for _ in range(4))
    a, c = channel_affine(mean, variance, 2.0, 1e-5, gamma, beta)
    expected_a = gamma / np.sqrt(variance / 2 + 1e-5)
    assert np.allclose(a, expected_a) and np.allclose(c, beta - mean / 2 * expected_a)
    x = rng.normal(size=(1, 6, 3, 3))
    w = rng.normal(size=(6, 2, 2, 2))  # 6 inputs, 2 groups of 2 outputs
    folded = folded_weights("Deconvolution", w.reshape(-1), w.shape, a, group=2)
    after = _deconv_reference(x, folded.reshape(w.shape), 2)
    before = _deconv_reference(x, w, 2) * a.reshape(1, 4, 1, 1)
    assert np.allclose(after, before)
    w_ip = rng.normal(size=(5, 4))  # transposed: (inputs, outputs)
    folded_ip = folded_weights("InnerProduct", w_ip.reshape(-1), w_ip.shape, a, transpose=True)
    v = rng.normal(size=(3, 5))
    assert np.allclose(v @ folded_ip.reshape(5, 4), (v @ w_ip) * a)


def test_a_zero_moving_average_factor_leaves_zero_statistics() -> None:
    a, c = channel_affine(np.array([3.0]), np.array([5.0]), 0.0, 1e-5, None, None)
    assert a[0] == pytest.approx(1 / np.sqrt(1e-5)) and c[0] == 0


def test_a_caffemodel_without_the_statistics_is_refused() -> None:
    net = loads(SMALL, "small.prototxt")
    model = parse_caffemodel(random_weights(net, 1), "w.caffemodel")
    del model.message.layer[[e.name for e in model.message.layer].index("bn1")]
    result: FoldBnResult = fold_bn(net, FoldBnOptions(only=("bn1",)))
    with pytest.raises(SurgeryError, match=r"cannot fold layer 'bn1' \(small.prototxt:6:1\):"
                       " w.caffemodel has no blobs for 'bn1'"):
        result.adjust_weights(model)


def _small_files(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """SMALL and its random weights written out, and where the folded pair goes."""
    source, trained = tmp_path / "small.prototxt", tmp_path / "trained.caffemodel"
    source.write_text(SMALL)
    trained.write_bytes(random_weights(loads(SMALL), 2))
    return source, trained, tmp_path / "folded.prototxt", tmp_path / "folded.caffemodel"


def test_command_line_writes_the_folded_net_and_caffemodel(
    tmp_path: Path, run_cli: RunCli
) -> None:
    source, trained, out, weights = _small_files(tmp_path)
    code, _, err = run_cli(
        "fold-bn", str(source), "--weights", str(trained), "--weights-out", str(weights),
        "-o", str(out), "--only", "bn1", "--only", "up_scale",
    )  # fmt: skip
    assert code == 0, err
    assert "folded 2 BatchNorm layers and 2 Scale layers into the layers before them" in err
    assert '"bn1"' not in out.read_text() and '"up_bn"' not in out.read_text()
    assert {e.name for e in read_caffemodel(weights).layers} >= {"conv1", "up", "fc_bn"}


def test_command_line_needs_weights(tmp_path: Path, run_cli: RunCli) -> None:
    source = tmp_path / "small.prototxt"
    source.write_text(SMALL)
    code, out, err = run_cli("fold-bn", str(source))
    assert code == 2 and out == "" and "fold-bn needs --weights and --weights-out" in err


TINY = """name: "tiny"
input: "data"
input_shape { dim: 1 dim: 3 dim: 6 dim: 6 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
"""


def test_batch_folds_each_model_with_the_caffemodel_beside_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Each output pair is byte for byte what ``fold-bn`` writes for that model alone; a
    model without its caffemodel is refused, naming the file, and the others go on."""
    models = tmp_path / "models"
    (models / "deep").mkdir(parents=True)
    nets = {"small": SMALL, "deep/tiny": TINY, "bare": TINY}
    for seed, (name, text) in enumerate(nets.items()):
        (models / f"{name}.prototxt").write_text(text)
        if name != "bare":
            (models / f"{name}.caffemodel").write_bytes(random_weights(loads(text), seed))
    out = tmp_path / "out"
    code, _, err = run_cli("batch", str(models), "-o", str(out), "--verb", "fold-bn", "-j", "1")
    assert code == 1, err
    missing = models / "bare.caffemodel"
    assert f"refused     {models / 'bare.prototxt'}  {missing}: no such caffemodel;" in err
    assert not (out / "bare.prototxt").exists() and not (out / "bare.caffemodel").exists()
    for name in ("small", "deep/tiny"):
        alone = tmp_path / "alone"
        code, _, err = run_cli(
            "fold-bn", str(models / f"{name}.prototxt"), "--weights",
            str(models / f"{name}.caffemodel"), "--weights-out", str(alone.with_suffix(".w")),
            "-o", str(alone),
        )  # fmt: skip
        assert code == 0, err
        assert (out / f"{name}.prototxt").read_bytes() == alone.read_bytes()
        assert (out / f"{name}.caffemodel").read_bytes() == alone.with_suffix(".w").read_bytes()
    assert '"bn"' not in (out / "deep/tiny.prototxt").read_text()
    config, report = tmp_path / "c.toml", models / "small.md"  # a caffemodel named oddly
    config.write_text(f'[models."small.prototxt"]\nweights = "{report}"\n')
    code, _, err = run_cli("batch", str(models), "-o", str(out), "--verb", "fold-bn",
                           "--config", str(config), "--report", str(report))  # fmt: skip
    assert code == 2 and f"--report {report} is the caffemodel of" in err


def test_the_library_api_is_the_registry_s() -> None:
    import scnn_surgery

    assert scnn_surgery.fold_bn is fold_bn and scnn_surgery.FoldBnOptions is FoldBnOptions
    assert scnn_surgery.FoldBnResult is FoldBnResult


def _tiny_weights(**changes: tuple[str, int, int, float]) -> Caffemodel:
    """TINY's random weights (moving-average factor 1) with value ``index`` of blob
    ``blob`` of ``layer`` changed."""
    model = parse_caffemodel(random_weights(loads(TINY), 4), "t.caffemodel")
    changes = {"factor 1": ("bn", 2, 0, 1.0), **changes}
    for layer, blob, index, value in changes.values():
        entry = next(e for e in model.layers if e.name == layer)
        values = blob_array(entry.blobs[blob]).copy()
        values.reshape(-1)[index] = value
        entry.blobs[blob].CopyFrom(make_blob(values))
    return model


@pytest.mark.parametrize(
    ("changes", "eps", "message"),
    [
        ({"var": ("bn", 1, 2, -1.0)}, None, "channel 2: variance + eps is -0.99999"),
        ({"var": ("bn", 1, 1, 0.0)}, "-0.001", "channel 1: variance + eps is -0.001"),
        ({"var": ("bn", 1, 0, 0.0)}, "0", "channel 0: variance + eps is 0"),
        ({"mean": ("bn", 0, 3, float("nan"))}, None, "channel 3: its mean is nan"),
        ({"var": ("bn", 1, 3, float("nan"))}, None, "channel 3: variance + eps is nan"),
        ({"factor": ("bn", 2, 0, float("nan"))}, None, "channel 0: its mean is nan"),
        ({"gamma": ("scale", 0, 1, float("inf"))}, None,
         "'scale' holds inf as the factor of channel 1"),
        ({"var": ("bn", 1, 0, 0.0), "w": ("conv", 0, 0, 3e38)}, "1e-30",
         "the folded weights of 'conv' exceed float32 (channel 0"),
    ],
    ids=["negative", "eps-negative", "zero", "nan-mean", "nan-var", "nan-factor",
         "inf-gamma", "overflow"],
)  # fmt: skip
def test_statistics_caffe_cannot_normalise_with_are_refused(
    changes: dict[str, tuple[str, int, int, float]], eps: str | None, message: str
) -> None:
    """Caffe would compute NaN or infinity there: refused naming the layer and channel,
    without NumPy's warnings."""
    text = TINY if eps is None else TINY.replace(
        'top: "conv" }', f'top: "conv" batch_norm_param {{ eps: {eps} }} }}', 1
    )  # fmt: skip
    result = fold_bn(loads(text, "t.prototxt"))
    expected = re.escape(f"cannot fold layer 'bn' (t.prototxt:6:1): {message}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SurgeryError, match=expected):
            result.adjust_weights(_tiny_weights(**changes))


def test_folding_gathers_the_caffemodel_entries_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanning the caffemodel for each fold's layers made 6,000 folds take 48 s."""
    net = loads(SMALL, "small.prototxt")
    model = parse_caffemodel(random_weights(net, 1), "w.caffemodel")
    scans = []
    entries = Caffemodel.layers.fget
    assert entries is not None
    monkeypatch.setattr(Caffemodel, "layers", property(lambda m: scans.append(1) or entries(m)))
    result = fold_bn(net)
    result.adjust_weights(model)
    assert len(result.folded) == 3 and len(scans) == 1


def test_a_fork_bn_layer_is_listed_as_kept() -> None:
    """The forks' BN (PSPNet, SegNet, ENet) is not Caffe's BatchNorm; it was passed over
    without a word."""
    text = TINY.replace('type: "BatchNorm"', 'type: "BN"')
    net = loads(text, "fork.prototxt")
    result = fold_bn(net)
    assert result.folded == [] and [k.layer.name for k in result.kept] == ["bn"]
    assert result.notes[0].startswith("kept layer 'bn' (fork.prototxt:6:1): a fork's BN layer")
    with pytest.raises(SurgeryError, match=r"cannot fold layer 'bn' \(fork.prototxt:6:1\): a"
                       " fork's BN layer"):
        fold_bn(net, FoldBnOptions(only=("bn",)))


def test_command_line_only_refuses_a_batch_norm_it_cannot_fold(
    tmp_path: Path, run_cli: RunCli
) -> None:
    source, trained, out, weights = _small_files(tmp_path)
    for phase in ("TEST", "TRAIN"):
        code, _, err = run_cli(
            "fold-bn", str(source), "--weights", str(trained), "--weights-out", str(weights),
            "-o", str(out), "--only", "side_bn", "--phase", phase,
        )  # fmt: skip
        assert code == 1 and err == (
            f"scnn-surgery: error: cannot fold layer 'side_bn' ({source}:16:1): it reads"
            " 'side_relu', a ReLU, not a Convolution, Deconvolution or InnerProduct\n"
        )
    assert not out.exists() and not weights.exists()


def test_a_parsed_caffemodel_with_a_damaged_blob_is_refused_by_the_library() -> None:
    model = _tiny_weights()
    del next(e for e in model.layers if e.name == "conv").blobs[0].data[8:]
    result = fold_bn(loads(TINY, "t.prototxt"))
    with pytest.raises(SurgeryError, match=re.escape(
        "cannot fold layer 'bn' (t.prototxt:6:1): 'conv' param 0 in t.caffemodel holds 8"
        " values, not the 108 its shape has"
    )):  # fmt: skip
        result.adjust_weights(model)
