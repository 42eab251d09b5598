"""retarget: a new input size, the SCNN modules regenerated for it (trained kernels kept),
and refusals where weights or sizes stated for the old map would no longer fit."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest

from scnn_surgery import load, loads
from scnn_surgery.core.text_export import export_bytes
from scnn_surgery.errors import SurgeryError
from scnn_surgery.options import RetargetOptions
from scnn_surgery.verbs.retarget import retarget, stated_sizes
from scnn_surgery.weights import read_caffemodel

from ..conftest import (
    REPO_ROOT,
    SHARED,
    RunCli,
    needs_shared,
    shared_available,
    shared_path,
    zoo_files,
)
from ..test_engine_opencv import kernels, run_module

X = "\u00d7"  # the multiplication sign messages put between dimensions
LANE = """name: "lane"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 24 dim: 32 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 2
    weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "score" type: "Convolution" bottom: "conv1" top: "score"
  convolution_param { num_output: 2 kernel_size: 1 } }
"""


def test_retarget_to_the_stated_size_is_a_no_op_byte_for_byte() -> None:
    """Over every net of the zoo, the examples (and the golden files, beside ../shared)
    that states its input size."""
    checked = 0
    golden = sorted((SHARED / "golden").glob("*.prototxt")) if shared_available() else []
    examples = sorted((REPO_ROOT / "examples").glob("*.prototxt"))
    for path in [*zoo_files(), *examples, *golden]:
        try:
            net = load(path)
        except SurgeryError:
            continue  # a template with placeholders
        sizes = stated_sizes(net)
        if not sizes or net.format == "v0":
            continue
        result = retarget(net, RetargetOptions(inputs={b: s[0].dims for b, s in sizes.items()}))
        assert not result.changed and export_bytes(result.net) == path.read_bytes(), path
        checked += 1
    assert checked >= (19 if golden else 16)  # 14 shipped zoo nets and 2 examples state it


def test_a_module_is_regenerated_and_runs_in_opencv_with_its_trained_kernels(
    cv2: ModuleType, tmp_path: Path, run_cli: RunCli
) -> None:
    source = tmp_path / "lane.prototxt"
    source.write_text(LANE)
    scnn, trained = tmp_path / "scnn.prototxt", tmp_path / "trained.caffemodel"
    code, _, err = run_cli(
        "insert", str(source), "--after", "relu1", "--kernel-width", "3", "-o", str(scnn),
        "--weights-out", str(trained), "--seed", "7",
    )  # fmt: skip
    assert code == 0, err
    out, weights = tmp_path / "big.prototxt", tmp_path / "big.caffemodel"
    code, _, err = run_cli(
        "retarget", str(scnn), "--input", "data=?,?,40,24", "-o", str(out),
        "--weights", str(trained), "--weights-out", str(weights),
    )  # fmt: skip
    assert code == 0, err
    assert f"regenerated the SCNN module 'SCNN' for a 20{X}12 map (was 12{X}16)" in err
    new_kernels, old_kernels = kernels(read_caffemodel(weights)), kernels(read_caffemodel(trained))
    assert new_kernels.keys() == old_kernels.keys() == set("DURL")
    assert all((new_kernels[d] == old_kernels[d]).all() for d in "DURL")
    assert run_module(cv2, out, weights, batch=1, seed=8) <= 1e-5
    code, shown, _ = run_cli("inspect", str(out))
    assert code == 0 and f"existing SCNN module, directions DULR, 20{X}12{X}8, k 3" in shown
    back = tmp_path / "back.prototxt"
    code, _, err = run_cli("retarget", str(out), "--input", "data=1,3,24,32", "-o", str(back))
    assert code == 0, err
    assert back.read_bytes() == scnn.read_bytes()


@needs_shared  # the published pair is not shipped (its repository has no licence)
def test_the_published_module_is_regenerated(tmp_path: Path, run_cli: RunCli) -> None:
    source = shared_path("golden", "resnet101_SCNN.prototxt")
    out = tmp_path / "out.prototxt"
    code, _, err = run_cli(
        "retarget", str(source), "--input", "data=1,3,289,289", "-o", str(out)
    )  # fmt: skip
    assert code == 0, err
    code, shown, _ = run_cli("inspect", str(out))
    assert f"existing SCNN module, directions DULR, 37{X}37{X}128, k 9" in shown
    changed = [
        (a, b)
        for a, b in zip(source.read_text().splitlines()[:8], out.read_text().splitlines()[:8],
                        strict=True)
        if a != b
    ]  # fmt: skip
    assert changed == [("input_dim: 361", "input_dim: 289")] * 2


def test_weights_that_change_shape_are_refused_unless_reshape_weights(run_cli: RunCli) -> None:
    source = str(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt"))
    code, _, err = run_cli("retarget", source, "--input", "data=10,3,300,300")
    assert code == 1
    assert "layer 'fc6' (" in err and f"from 4096{X}9216 to 4096{X}20736" in err
    assert "--reshape-weights" in err and err.count("\n") == 1
    code, out, err = run_cli(
        "retarget", source, "--input", "data=10,3,300,300", "--reshape-weights"
    )  # fmt: skip
    assert code == 0 and "warning: layer 'fc6'" in err and "dim: 3 dim: 300 dim: 300" in out


def test_sizes_stated_for_the_old_map_are_refused_unless_rescale() -> None:
    """PSPNet's pyramid: pooling windows of 60, 30, 20 and 10 over the 60 x 60 map at 473
    become those of its published 713 model (90, 45, 30, 15), and the Interps follow."""
    net = load(shared_path("zoo", "segmentation", "pspnet50_ade20k_473.prototxt"))
    with pytest.raises(SurgeryError, match=rf"'conv5_3_pool1' .*60{X}60 window.*--rescale"):
        retarget(net, RetargetOptions(inputs={"data": (1, 3, 713, 713)}))
    result = retarget(net, RetargetOptions(inputs={"data": (1, 3, 713, 713)}, rescale=True))
    before, after = net.document.text.splitlines(), export_bytes(result.net).decode().splitlines()
    changed = sorted({(a.strip(), b.strip()) for a, b in zip(before, after, strict=True) if a != b})
    assert changed == [
        ("height: 60", "height: 90"), ("input_dim: 473", "input_dim: 713"),
        ("kernel_size: 10", "kernel_size: 15"), ("kernel_size: 20", "kernel_size: 30"),
        ("kernel_size: 30", "kernel_size: 45"), ("kernel_size: 60", "kernel_size: 90"),
        ("stride: 10", "stride: 15"), ("stride: 20", "stride: 30"),
        ("stride: 30", "stride: 45"), ("stride: 60", "stride: 90"), ("width: 60", "width: 90"),
    ]  # fmt: skip


INPUT_SHAPE = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 24 dim: 32 }\n' + LANE.split(
    "\n", 3
)[3]


@pytest.mark.parametrize(
    ("text", "wanted", "old", "new"),
    [
        (LANE, (2, 3, 24, 30), "dim: 1 dim: 3 dim: 24 dim: 32", "dim: 2 dim: 3 dim: 24 dim: 30"),
        (INPUT_SHAPE, (1, 3, 16, None), "dim: 24 dim: 32 }", "dim: 16 dim: 32 }"),
    ],
    ids=["Input layer", "input_shape"],
)
def test_each_changed_dimension_is_its_own_token(
    text: str, wanted: tuple[int | None, ...], old: str, new: str
) -> None:
    result = retarget(loads(text, "net.prototxt"), RetargetOptions(inputs={"data": wanted}))
    assert export_bytes(result.net).decode() == text.replace(old, new, 1)


def test_a_blob_without_a_stated_size_is_refused() -> None:
    with pytest.raises(SurgeryError, match=r"states no size for 'conv1'.*; it states data"):
        retarget(loads(LANE, "lane.prototxt"), RetargetOptions(inputs={"conv1": (1, 8, 2, 2)}))


def test_an_empty_stated_map_gives_no_ratio_and_is_refused() -> None:
    """A stated width of 0 (an empty blob Caffe sets up) was a ZeroDivisionError."""
    text = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 16 dim: 0 }\n'
    with pytest.raises(SurgeryError, match=rf"^net.prototxt: 'data' is stated as 1{X}3{X}16{X}0"):
        retarget(loads(text, "net.prototxt"), RetargetOptions(inputs={"data": (1, 3, 8, 8)}))


def test_batch_retargets_every_net(tmp_path: Path, run_cli: RunCli) -> None:
    """ResNet-50 at 448: its pool5 window (the whole 7 x 7 map) becomes 14 x 14, so fc1000
    still fits; AlexNet's fc6 would not, and is refused."""
    sources = [shared_path("zoo", "deploy", f"{stem}.prototxt")
               for stem in ("resnet50_deploy", "bvlc_alexnet_deploy")]  # fmt: skip
    out = tmp_path / "out"
    code, _, err = run_cli(
        "batch", *map(str, sources), "-o", str(out), "--verb", "retarget",
        "--input", "data=1,3,448,448", "--rescale", "--jobs", "1",
    )  # fmt: skip
    assert code == 1 and "1 converted, 1 refused" in err and "layer 'fc6'" in err
    text = (out / "resnet50_deploy.prototxt").read_text()
    assert "input_dim: 448" in text and "kernel_size: 14" in text


def test_a_module_edited_by_hand_is_refused(tmp_path: Path, run_cli: RunCli) -> None:
    source, scnn = tmp_path / "lane.prototxt", tmp_path / "scnn.prototxt"
    source.write_text(LANE)
    code, _, err = run_cli("insert", str(source), "--after", "relu1", "-o", str(scnn))
    assert code == 0, err
    text = scnn.read_text()
    edited = text.replace("lr_mult: 1", "lr_mult: 2", 1)
    assert edited != text
    net = loads(edited, "edited.prototxt")
    with pytest.raises(SurgeryError, match=r"layer 'SCNN_D_2' .*differs from what the generator"
                       r" makes \(param\)"):
        retarget(net, RetargetOptions(inputs={"data": (1, 3, 40, 40)}))


IP_NET = """name: "ip"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.1 } } }
"""


def test_reshaped_weights_are_refilled_and_the_rest_carried(
    tmp_path: Path, run_cli: RunCli
) -> None:
    source, trained = tmp_path / "ip.prototxt", tmp_path / "ip.caffemodel"
    source.write_text(IP_NET)
    code, _, err = run_cli("upgrade", str(source), "--weights-out", str(trained), "-o", "-")
    assert code == 0, err
    out, weights = tmp_path / "out.prototxt", tmp_path / "out.caffemodel"
    code, _, err = run_cli(
        "retarget", str(source), "--input", "data=1,3,10,10", "--reshape-weights",
        "--weights", str(trained), "--weights-out", str(weights), "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "has no blobs" not in err  # it had them: they no longer fit
    assert (
        f"layer 'fc': its blobs in {trained} no longer fit (its weights changed shape), so"
        " they are left out and it is filled from its fillers; retrain it"
    ) in err
    before = {e.name: list(e.blobs) for e in read_caffemodel(trained).layers}
    after = {e.name: list(e.blobs) for e in read_caffemodel(weights).layers}
    assert after["conv1"] == before["conv1"]
    assert list(after["fc"][0].shape.dim) == [5, 256]


def test_one_shape_for_several_tops_changes_for_all_of_them() -> None:
    text = (
        'layer { name: "data" type: "Input" top: "a" top: "b"\n'
        "  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "s" }\n'
    )
    net = loads(text, "two.prototxt")
    with pytest.raises(SurgeryError, match="states one shape for a, b; give --input for each"):
        retarget(net, RetargetOptions(inputs={"a": (1, 3, 9, 9)}))
    both = retarget(net, RetargetOptions(inputs={"a": (1, 3, 9, 9), "b": (1, 3, 9, 9)}))
    assert export_bytes(both.net).decode() == text.replace("dim: 8 dim: 8", "dim: 9 dim: 9")


def test_the_library_api_is_the_registry_s() -> None:
    import scnn_surgery

    assert scnn_surgery.retarget is retarget and scnn_surgery.RetargetOptions is RetargetOptions
    options = scnn_surgery.RetargetOptions(inputs={"data": (2, 3, 24, 32)})
    result = scnn_surgery.retarget(loads(LANE), options)
    assert result.changed and result.done == f"retargeted data 1{X}3{X}24{X}32 -> 2{X}3{X}24{X}32"


def test_an_explicit_prior_box_image_size_is_rescaled() -> None:
    path = shared_path("zoo", "detection", "ssd300_vgg16_voc0712_deploy.prototxt")
    text = path.read_text().replace("prior_box_param {", "prior_box_param {\n    img_size: 300", 1)
    net = loads(text, "ssd.prototxt")
    wanted = {"data": (1, 3, 600, 450)}
    with pytest.raises(SurgeryError, match=rf"explicit 300{X}300 image.*600{X}450.*--rescale"):
        retarget(net, RetargetOptions(inputs=wanted))
    result = retarget(net, RetargetOptions(inputs=wanted, rescale=True))
    out = export_bytes(result.net).decode()
    assert "img_size" not in out and "img_h: 600\n    img_w: 450\n" in out


def test_a_dimension_is_read_as_protobuf_reads_it() -> None:
    """012 is octal: 10, and stays as written when it does not change."""
    text = LANE.replace("dim: 24 dim: 32", "dim: 24 dim: 012")
    net = loads(text, "octal.prototxt")
    result = retarget(net, RetargetOptions(inputs={"data": (1, 3, 16, 10)}))
    assert export_bytes(result.net).decode() == text.replace("dim: 24", "dim: 16")


@pytest.mark.parametrize("rescale", [False, True], ids=["refused", "rescaled"])
def test_ssd_prior_box_steps_follow_the_map_s_cells(rescale: bool) -> None:
    """SSD300's steps (8, 16, 32, 64, 100, 300) are each its map's cell (300 / 38 = 7.9
    rounded to the net's stride, 300 / 3, 300 / 1): at 512 they become the new maps'
    cells, SSD512's own steps, so every prior's centre stays in the image; min_size and
    max_size, object sizes in pixels, stay, with a warning."""
    path = shared_path("zoo", "detection", "ssd300_vgg16_voc0712_deploy.prototxt")
    net = loads(path.read_text(), "ssd.prototxt")
    options = RetargetOptions(inputs={"data": (1, 3, 512, 512)}, rescale=rescale)
    if not rescale:
        with pytest.raises(SurgeryError, match=r"'conv8_2_mbox_priorbox' .*\(step\).*--rescale"):
            retarget(net, options)
        return
    result = retarget(net, options)
    out = export_bytes(result.net).decode()
    before, after = re.findall(r"step: (\S+)", path.read_text()), re.findall(r"step: (\S+)", out)
    assert (before, after) == (
        ["8", "16", "32", "64", "100", "300"], ["8", "16", "32", "64", "85.3333", "128"]
    )  # fmt: skip
    maps = [64, 32, 16, 8, 6, 4]  # conv4_3 .. conv9_2 at 512
    assert all((n - 0.5) * float(step) <= 512 for n, step in zip(maps, after, strict=True))
    assert "min_size: 30.0" in out and any("min_size and max_size (30 to 315)" in n
                                           for n in result.notes)  # fmt: skip


FCN_LIKE = """name: "fcnish"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 64 dim: 64 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "score" type: "Convolution" bottom: "pool2" top: "score" convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "up" type: "Interp" bottom: "score" top: "up" interp_param { height: 64 width: 64 } }
"""  # noqa: E501


def test_ordinary_poolings_before_an_interp_are_not_pyramid_bins() -> None:
    """Only the Interp's explicit size is stated for the old map; the 2 x 2 poolings
    slide over any map."""
    result = retarget(loads(FCN_LIKE, "fcn.prototxt"),
                      RetargetOptions(inputs={"data": (1, 3, 96, 96)}, rescale=True))  # fmt: skip
    assert export_bytes(result.net).decode() == FCN_LIKE.replace("64", "96")
    assert [f.layer.name for f in result.rescaled] == ["up"]


def test_a_pyramid_on_a_small_map_keeps_its_bins() -> None:
    """PSPNet at 73: its 10 x 10 map still splits into 6 bins (5 wide, stride 1), and the
    Interps resize back to the map (10, not 60 x 73 / 473 = 9)."""
    net = load(shared_path("zoo", "segmentation", "pspnet50_ade20k_473.prototxt"))
    result = retarget(net, RetargetOptions(inputs={"data": (1, 3, 73, 73)}, rescale=True))
    what = {f.layer.name: f.what for f in result.rescaled}
    assert what["conv5_3_pool6"].endswith(f"it would be 5{X}5 with stride 1{X}1")
    assert what["conv5_3_pool6_interp"].endswith(f"would be 10{X}10 for the new map")


SEGNET_LIKE = """name: "unpool"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 6 dim: 10 } } }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" top: "mask"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Upsample" bottom: "pool" bottom: "mask" top: "up"
  upsample_param { scale: 2 upsample_w: 10 upsample_h: 6 } }
"""  # noqa: E501


def test_an_explicit_unpooling_size_is_refused_unless_rescale() -> None:
    """SegNet's Upsample states its output, the size of the map its mask's pooling read
    (upsample_layer.cpp), which is the new one: 7 x 12, not 6 x 10 scaled."""
    net = loads(SEGNET_LIKE, "unpool.prototxt")
    wanted = {"data": (1, 2, 7, 12)}
    with pytest.raises(SurgeryError, match=rf"layer 'up' .*explicit 6{X}10.*7{X}12.*--rescale"):
        retarget(net, RetargetOptions(inputs=wanted))
    result = retarget(net, RetargetOptions(inputs=wanted, rescale=True))
    assert export_bytes(result.net).decode() == SEGNET_LIKE.replace(
        "dim: 6 dim: 10", "dim: 7 dim: 12"
    ).replace("upsample_w: 10 upsample_h: 6", "upsample_w: 12 upsample_h: 7")


@needs_shared  # SegNet is not shipped
def test_segnet_is_retargeted(run_cli: RunCli) -> None:
    source = str(shared_path("zoo", "segmentation", "bayesian_segnet_camvid.prototxt"))
    code, out, err = run_cli("retarget", source, "--input", "data=1,3,720,960", "--rescale")
    assert code == 0, err
    assert "upsample_w: 60\n    upsample_h: 45" in out  # upsample5: was 30 x 23
    assert "upsample_w: 120\n    upsample_h: 90" in out  # upsample4


def test_an_input_given_twice_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    source = tmp_path / "lane.prototxt"
    source.write_text(LANE)
    code, _, err = run_cli(
        "retarget", str(source), "--input", "data=1,3,40,40", "--input", "data=1,3,48,48"
    )  # fmt: skip
    assert code == 2 and "'data' is given twice (data=1,3,40,40 and data=1,3,48,48)" in err


def test_a_regenerated_module_keeps_the_text_of_its_unchanged_layers(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Apollo's darkSCNN writes its fillers on one line: a convolution the new map keeps
    keeps that text; only the slices, the concats and the new steps are written anew,
    and going back gives the file again, byte for byte."""
    source, scnn = tmp_path / "lane.prototxt", tmp_path / "scnn.prototxt"
    source.write_text(LANE)
    code, _, err = run_cli(
        "insert", str(source), "--after", "relu1", "--kernel-width", "3", "-o", str(scnn)
    )  # fmt: skip
    assert code == 0, err
    text = scnn.read_text()
    start = text.index('name: "SCNN_D_1"')
    filler = re.compile(r"weight_filler \{\s+type: \"gaussian\"\s+std: (\S+)\s+\}")
    found = filler.search(text, start)
    assert found is not None
    compact = f'weight_filler {{type: "gaussian" std: {found.group(1)} }}'
    edited = text[: found.start()] + compact + text[found.end() :]
    scnn.write_text(edited)
    big, back = tmp_path / "big.prototxt", tmp_path / "back.prototxt"
    code, _, err = run_cli("retarget", str(scnn), "--input", "data=?,?,40,24", "-o", str(big))
    assert code == 0 and "regenerated the SCNN module" in err, err
    assert compact in big.read_text()
    code, _, err = run_cli("retarget", str(big), "--input", "data=?,?,24,32", "-o", str(back))
    assert code == 0, err
    assert back.read_text() == edited
