"""The command line, driven through the run_cli fixture (click's CliRunner)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from scnn_surgery import files as files_module
from scnn_surgery.cli import verb as verb_cli

from .conftest import DATA, REPO_ROOT, RunCli, needs_shared, shared_path
from .protocmp import parse_layers

SIZES = ("--height", "46", "--width", "46", "--channel", "128")
PUBLISHED = ("--after", "conv5_5", *SIZES)


@needs_shared
def test_generate_matches_published_module(run_cli: RunCli) -> None:
    code, out, err = run_cli(
        "generate",
        *SIZES,
        "--kernel-width",
        "9",
        "--bottom",
        "conv5_5",
    )
    assert code == 0
    golden = shared_path("golden", "SCNN.prototxt").read_text()
    assert parse_layers(out) == parse_layers(golden)
    assert "544 layers" in err


def test_generate_to_file(tmp_path: Path, run_cli: RunCli) -> None:
    target = tmp_path / "m.prototxt"
    code, out, _ = run_cli(
        "generate", "--height", "2", "--width", "3", "--channel", "4", "-o", str(target)
    )
    assert code == 0 and out == ""
    assert target.read_text().startswith("layer {\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--kernel-width", "99999", "--height", "2", "--width", "2"],
         "warning: the kernel width 99999 is wider than the 2x2 map: every 1x99999 (D, U) and"
         " 99999x1 (R, L) kernel reaches past the map into zero padding; no kernel of width 3"
         " or more fits (a 1-wide one passes nothing between neighbours): the map is too small"
         " for SCNN\n"),
        (["--kernel-width", "9", "--height", "6", "--width", "20"],
         "warning: the kernel width 9 is wider than the 6x20 map: every 9x1 (R, L) kernel"
         " reaches past the map into zero padding; --kernel-width 5 or less fits\n"),
        (["--kernel-width", "9", "--height", "6", "--width", "20", "--directions", "DU"], None),
    ],
)  # fmt: skip
def test_generate_warns_of_a_kernel_wider_than_the_map_as_insert_does(
    args: list[str], expected: str | None, run_cli: RunCli
) -> None:
    # Caffe runs it (the padding keeps the map's size), so the module is still printed.
    code, out, err = run_cli("generate", "--channel", "4", *args)
    assert code == 0 and out.startswith("layer {\n")
    lines = err.splitlines(keepends=True)
    assert lines[0].startswith("scnn-surgery: module ")
    assert lines[1:] == ([] if expected is None else [f"scnn-surgery: {expected}"])


@needs_shared
def test_insert_published_example(tmp_path: Path, run_cli: RunCli) -> None:
    target = tmp_path / "out.prototxt"
    src = shared_path("golden", "resnet101.prototxt")
    code, out, err = run_cli("insert", str(src), *PUBLISHED, "-o", str(target))
    assert code == 0, err
    assert out == ""
    golden = shared_path("golden", "resnet101_SCNN.prototxt").read_bytes()
    produced = target.read_bytes()
    assert produced[:101833] == golden[:101833]
    assert "after 'conv5_5/relu'" in err and "rewires conv6" in err


def test_insert_reads_stdin_and_writes_stdout(run_cli: RunCli) -> None:
    data = (DATA / "phases_inplace.prototxt").read_bytes()
    code, out, _ = run_cli(
        "insert",
        "-",
        "--after",
        "conv1",
        "--height",
        "8",
        "--width",
        "10",
        "--channel",
        "4",
        "--kernel-width",
        "3",
        input=data,
    )
    assert code == 0
    assert 'name: "Slice1"' in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["generate", "--height", "4", "--width", "4", "--kernel-width", "8"], 2, "odd"),
        (["generate", "--height", "0", "--width", "4"], 2, "'--height': must be a positive"),
        (["generate", "--height", "4", "--width", "-2"], 2, "'--width': must be a positive"),
        (["generate", "--height", "4", "--width", "4", "--top", "slice1_2"], 1, "inside"),
        (["generate", "--height", "4", "--width", "4", "--directions", "DD"], 2, "at most once"),
        (["generate", "--height", "4", "--width", "4", "--directions", "DX"], 2, "letters D, U"),
        (["generate", "--width", "4"], 2, "--height"),
    ],
)
def test_bad_generate_arguments(args: list[str], code: int, message: str, run_cli: RunCli) -> None:
    status, _, err = run_cli(*args)
    assert status == code
    assert message in err
    assert "Traceback" not in err


def _bad_insert(
    run_cli: RunCli, tmp_path: Path, model: Path, *extra: str
) -> tuple[int, str, Path]:
    target = tmp_path / "never.prototxt"
    status, _, err = run_cli(
        "insert",
        str(model),
        *SIZES,
        "-o",
        str(target),
        *extra,
    )
    return status, err, target


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_syntax_error_location(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layer {\n  name: "a"\n  top "x"\n}\n')
    status, err, target = _bad_insert(run_cli, tmp_path, bad, "--after", "a")
    assert status == 1 and not target.exists()
    assert (
        _one_error_line(err)
        == f"scnn-surgery: error: {bad}:3:7: expected ':' or '{{' after field 'top',"
        " found string '\"x\"'"
    )


@needs_shared
def test_unknown_after_lists_closest(tmp_path: Path, run_cli: RunCli) -> None:
    src = shared_path("golden", "resnet101.prototxt")
    status, err, target = _bad_insert(run_cli, tmp_path, src, "--after", "conv5_6")
    assert status == 1 and not target.exists()
    assert "closest: " in _one_error_line(err) and "conv5_5" in err


def test_missing_file(tmp_path: Path, run_cli: RunCli) -> None:
    status, err, target = _bad_insert(run_cli, tmp_path, tmp_path / "nope.prototxt", "--after", "x")
    assert status == 1 and not target.exists()
    assert "no such file" in _one_error_line(err)


def test_a_missing_weights_file_exits_as_a_missing_model_does(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net = str(DATA / "phases_inplace.prototxt")
    out, weights_out = tmp_path / "out.prototxt", tmp_path / "out.caffemodel"
    given = ("-o", str(out), "--weights-out", str(weights_out), "--after", "conv1")
    code, _, err = run_cli("insert", net, *given, "--weights", str(tmp_path / "no.caffemodel"))
    assert code == 1 and "no.caffemodel: no such file" in _one_error_line(err), err
    assert not out.exists() and not weights_out.exists()
    code, _, err = run_cli("insert", net, *given, "--weights", str(tmp_path))
    assert code == 2 and "is a directory" in err  # a usage error, as for MODEL


def test_binary_file(tmp_path: Path, run_cli: RunCli) -> None:
    weights = tmp_path / "w.caffemodel"
    weights.write_bytes(b"\n\x05resnet\x12\x00\x01\x02\xff")
    status, err, target = _bad_insert(run_cli, tmp_path, weights, "--after", "x")
    assert status == 1 and not target.exists()
    assert "binary data" in _one_error_line(err)


def test_empty_file(tmp_path: Path, run_cli: RunCli) -> None:
    empty = tmp_path / "empty.prototxt"
    empty.write_text("")
    status, err, target = _bad_insert(run_cli, tmp_path, empty, "--after", "x")
    assert status == 1 and not target.exists()
    assert "no layers" in _one_error_line(err)


@needs_shared
def test_failed_insert_keeps_existing_output(tmp_path: Path, run_cli: RunCli) -> None:
    target = tmp_path / "keep.prototxt"
    target.write_text("precious")
    src = shared_path("golden", "resnet101.prototxt")
    status, _, _ = run_cli("insert", str(src), "--after", "nope", *SIZES, "-o", str(target))
    assert status == 1
    assert target.read_text() == "precious"


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "scnn_surgery", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "insert" in proc.stdout


@needs_shared
def test_insert_without_options_reproduces_the_golden_run(tmp_path: Path, run_cli: RunCli) -> None:
    src = shared_path("golden", "resnet101.prototxt")
    auto, explicit = tmp_path / "auto.prototxt", tmp_path / "explicit.prototxt"
    code, _, err = run_cli("insert", str(src), "-o", str(auto))
    assert code == 0, err
    assert "chose insertion point 'conv5_5' automatically" in err
    assert "inferred 46x46x128" in err
    run_cli(
        "insert",
        str(src),
        *PUBLISHED,
        "-o",
        str(explicit),
    )
    assert auto.read_bytes() == explicit.read_bytes()


@needs_shared
def test_contradicting_height_is_refused_naming_the_inferred_value(
    tmp_path: Path, run_cli: RunCli
) -> None:
    target = tmp_path / "out.prototxt"
    src = shared_path("golden", "resnet101.prototxt")
    code, _, err = run_cli(
        "insert",
        str(src),
        "--after",
        "conv5_5",
        "--height",
        "45",
        "--width",
        "46",
        "--channel",
        "128",
        "-o",
        str(target),
    )
    assert code == 1 and not target.exists()
    assert "inferred height 46" in _one_error_line(err) and "--height 45" in err


def test_phase_option_and_disagreeing_phases(tmp_path: Path, run_cli: RunCli) -> None:
    src = str(DATA / "two_crops.prototxt")
    code, _, err = run_cli("insert", src, "-o", str(tmp_path / "a.prototxt"))
    assert code == 1 and "--phase" in _one_error_line(err)
    code, out, err = run_cli("insert", src, "--phase", "test")
    assert code == 0, err
    assert "inferred 20x20x16" in err and 'top: "SCNN"' in out


def test_shape_option_unblocks_a_python_data_layer(run_cli: RunCli) -> None:
    src = str(shared_path("zoo", "segmentation", "fcn32s_voc_train.prototxt"))
    code, _, err = run_cli("insert", src)
    assert code == 1 and "--shape data=" in err
    code, _, err = run_cli(
        "insert", src, "--shape", "data=1,3,500,500", "--shape", "label=1,1,500,500"
    )
    assert code == 0, err
    assert "chose insertion point" in err


def test_bad_shape_option_is_a_usage_error(run_cli: RunCli) -> None:
    code, _, err = run_cli("insert", str(DATA / "two_crops.prototxt"), "--shape", "data=1,x")
    assert code == 2 and "BLOB=N,C,H,W" in err


def test_reduce_channels_adds_a_1x1_conv_before_the_module(run_cli: RunCli) -> None:
    src = str(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt"))
    code, out, err = run_cli("insert", src, "--reduce-channels", "64")
    assert code == 0, err
    assert "DULR 6x6x64" in err
    layers = parse_layers(out)
    names = [x.name for x in layers]
    reduce = layers[names.index("SCNN_reduce")]
    assert list(reduce.bottom) == ["pool5"] and reduce.convolution_param.num_output == 64
    assert reduce.convolution_param.kernel_size == [1]
    assert names[names.index("SCNN_reduce") + 1] == "SCNN_reduce/relu"
    assert list(layers[names.index("Slice1")].bottom) == ["SCNN_reduce"]
    assert list(layers[names.index("fc6")].bottom) == ["SCNN"]


def test_large_channel_count_warns(run_cli: RunCli) -> None:
    code, _, err = run_cli("generate", "--height", "3", "--width", "3", "--channel", "512")
    assert code == 0
    assert "warning: 512 channels" in err and "128 fits and 512 is too much" in err
    assert "--reduce-channels 128" in err


def test_committed_example_output_is_current(run_cli: RunCli) -> None:
    from .conftest import REPO_ROOT

    code, out, err = run_cli("insert", str(REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"))
    assert code == 0, err
    assert out == (REPO_ROOT / "examples" / "scnn_lane_vgg16_SCNN.prototxt").read_text()


@needs_shared
def test_generate_reproduces_apollo_darkscnn_module(run_cli: RunCli) -> None:
    code, out, err = run_cli(
        "generate",
        "--height",
        "60",
        "--width",
        "80",
        "--channel",
        "64",
        "--kernel-width",
        "5",
        "--directions",
        "DU",
        "--bottom",
        "reduce2_lane",
    )
    assert code == 0, err
    apollo = parse_layers(
        shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt").read_bytes().decode()
    )
    names = [x.name for x in apollo]
    module = apollo[names.index("Slice1") : names.index("Concat1") + 1]
    assert parse_layers(out) == module


def test_module_options_reach_the_layers(run_cli: RunCli) -> None:
    code, out, _ = run_cli(
        "generate",
        "--height",
        "3",
        "--width",
        "4",
        "--channel",
        "8",
        "--kernel-width",
        "3",
        "--directions",
        "DU",
        "--top",
        "mp_out",
        "--init-std",
        "0.5",
        "--no-share-weights",
        "--lr-mult",
        "2",
        "--prefix",
        "x_",
    )
    assert code == 0
    layers = parse_layers(out)
    convs = [x for x in layers if x.type == "Convolution"]
    assert {c.name for c in convs} == {"x_SCNN_D_1", "x_SCNN_D_2", "x_SCNN_U_3", "x_SCNN_U_2"}
    assert all(c.convolution_param.weight_filler.std == 0.5 for c in convs)
    assert all(not c.param[0].name and c.param[0].lr_mult == 2 for c in convs)
    assert list(layers[-1].top) == ["mp_out"] and layers[-1].type == "Concat"
    assert not any(x.type == "Slice" and x.name == "x_Slice2" for x in layers)


def test_directions_subset_ends_at_the_vertical_concat(run_cli: RunCli) -> None:
    code, out, _ = run_cli("generate", "--height", "3", "--width", "4", "--directions", "D")
    assert code == 0
    layers = parse_layers(out)
    assert layers[-1].name == "Concat1" and list(layers[-1].top) == ["SCNN_D"]


def test_crlf_and_tabs_survive_insert_through_stdin(run_cli: RunCli) -> None:
    src = (DATA / "phases_inplace.prototxt").read_text()
    data = src.replace("\n  ", "\n\t").replace("\n", "\r\n").replace("layer {", "layer{")
    code, out, err = run_cli(
        "insert", "-", "--after", "conv1", "--kernel-width", "3", "--phase", "TEST",
        input=data.encode(),
    )  # fmt: skip
    assert code == 0, err
    head = data[: data.index('layer{\r\n\tname: "score"')]
    assert out.startswith(head)
    assert out.endswith(
        data[data.index('layer{\r\n\tname: "score"') :]
        .replace("bottom: 'conv1'", "bottom: 'SCNN'")
        .replace('bottom: "conv1"\r\n\tbottom: "peek"', 'bottom: "SCNN"\r\n\tbottom: "peek"')
    )


CLI_NET = (
    'layer { name: "data" type: "Input" top: "data"'
    " input_param { shape { dim: 1 dim: 3 dim: 6 dim: 6 } } }\n"
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
    " convolution_param { num_output: 4 kernel_size: 1 } }\n"
    'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
    'layer { name: "fc" type: "Convolution" bottom: "conv1" top: "fc"'
    " convolution_param { num_output: 2 kernel_size: 1 } }\n"
)


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        ('top: "fc"', "top: 5", "5", "in layer 'fc': 'top' must be a quoted string, not 5"),
        ('layer { name: "relu1"', 'layer: "x"\nlayer { name: "relu1"', "layer:", "'layer' must"),
        ('top: "fc"', 'top: "fc" include { min_level: x }', "x }", "in layer 'fc': 'min_level'"),
        ("dim: 6 dim: 6", "dim: x dim: 6", "x", "in layer 'data': Couldn't parse integer: x"),
        ('"relu1" type: "ReLU"', '"relu1" type: 7', "7", "in layer 'relu1': 'type' must be"),
        ('{ name: "relu1" type: "ReLU" bottom: "conv1"', "{ bottom: 5", "5", "'bottom' must be"),
        ('layer { name: "data" type: "Input" top: "data"', 'input_dim: 1.5\nlayer { top: "d"',
         "1.5", "'input_dim' must be an integer, not 1.5"),
    ],
)
def test_bad_values_are_one_located_line(
    tmp_path: Path, old: str, new: str, at: str, message: str, run_cli: RunCli
) -> None:
    from scnn_surgery.core.document import Document

    assert old in CLI_NET
    text = CLI_NET.replace(old, new)
    bad = tmp_path / "bad.prototxt"
    bad.write_text(text)
    target = tmp_path / "never.prototxt"
    status, _, err = run_cli("insert", str(bad), "--kernel-width", "3", "-o", str(target))
    assert status == 1 and not target.exists()
    where = Document.parse(text, str(bad)).location(text.index(at))
    assert _one_error_line(err).startswith(f"scnn-surgery: error: {where}: {message}")


def test_a_conv_with_zero_stride_is_refused_at_its_layer(tmp_path: Path, run_cli: RunCli) -> None:
    bad = tmp_path / "bad.prototxt"
    bad.write_text(CLI_NET.replace("num_output: 4", "num_output: 4 stride: 0"))
    code, _, err = run_cli("insert", str(bad), "--kernel-width", "3", "-o", str(tmp_path / "o"))
    assert code == 1
    assert _one_error_line(err) == (
        f"scnn-surgery: error: layer 'conv1' ({bad}:2:1) (Convolution): stride 0x0 has a zero"
        " dimension (phase TEST); fix the input net first"
    )


def test_unnamed_layers_are_described_by_position(tmp_path: Path, run_cli: RunCli) -> None:
    src = tmp_path / "unnamed.prototxt"
    src.write_text(CLI_NET.replace('name: "relu1" ', ""))
    code, _, err = run_cli("insert", str(src), "--kernel-width", "3", "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert "(conv1 -> #3), module after '#3'; rewires fc" in err


# --- no input is ever written; no output is ever half-written or left behind ---------------


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """net.prototxt, its caffemodel, links to both, and a fork proto, in the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(CLI_NET)
    (tmp_path / "soft.prototxt").symlink_to("net.prototxt")
    os.link(tmp_path / "net.prototxt", tmp_path / "hard.prototxt")
    (tmp_path / "in.caffemodel").write_bytes(_weights_for(CLI_NET))
    (tmp_path / "fork.proto").write_bytes((REPO_ROOT / "proto" / "caffe.proto").read_bytes())
    return tmp_path


def _weights_for(text: str) -> bytes:
    from scnn_surgery import loads
    from scnn_surgery.weights import initial_weights

    return initial_weights(loads(text)).model.to_bytes()


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


INSERT_K3 = ("insert", "net.prototxt", "--kernel-width", "3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*INSERT_K3, "-o", "net.prototxt"), "-o net.prototxt is the same file as MODEL"),
        ((*INSERT_K3, "-o", "./net.prototxt"), "-o ./net.prototxt is the same file as MODEL"),
        ((*INSERT_K3, "-o", "{dir}/net.prototxt"), "is the same file as MODEL net.prototxt"),
        ((*INSERT_K3, "-o", "soft.prototxt"), "-o soft.prototxt is the same file as MODEL"),
        ((*INSERT_K3, "-o", "hard.prototxt"), "-o hard.prototxt is the same file as MODEL"),
        ((*INSERT_K3, "--weights", "in.caffemodel", "--weights-out", "w.caffemodel",
          "-o", "in.caffemodel"), "-o in.caffemodel is the same file as --weights in.caffemodel"),
        ((*INSERT_K3, "--weights", "in.caffemodel", "--weights-out", "./in.caffemodel",
          "-o", "o.prototxt"), "--weights-out ./in.caffemodel is the same file as --weights"),
        ((*INSERT_K3, "--weights-out", "soft.prototxt", "-o", "o.prototxt"),
         "--weights-out soft.prototxt is the same file as MODEL net.prototxt"),
        ((*INSERT_K3, "--weights-out", "o.prototxt", "-o", "./o.prototxt"),
         "-o ./o.prototxt and --weights-out o.prototxt name the same file"),
        ((*INSERT_K3, "--proto", "fork.proto", "-o", "fork.proto"),
         "-o fork.proto is the same file as --proto fork.proto"),
        (("draw", "net.prototxt", "-o", "hard.prototxt"), "-o hard.prototxt is the same file as"),
        (("draw", "soft.prototxt", "--against", "in.caffemodel", "-o", "in.caffemodel"),
         "-o in.caffemodel is the same file as --against in.caffemodel"),
    ],
)  # fmt: skip
def test_an_output_that_is_an_input_is_a_usage_error(
    files: Path, args: tuple[str, ...], message: str, run_cli: RunCli
) -> None:
    before = _snapshot(files)
    code, out, err = run_cli(*(arg.format(dir=files) for arg in args))
    assert code == 2 and out == ""
    line = _one_error_line(err)
    assert message in line
    assert line.endswith(
        (
            "; the input is never written",
            "; the input is never written unless you ask with --in-place",
            "; give each output its own",
        )
    )
    assert _snapshot(files) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*INSERT_K3, "-o", ""), "-o '': an empty path names no file"),
        ((*INSERT_K3, "-o", "o.prototxt", "--weights-out", ""),
         "--weights-out '': an empty path names no file"),
        ((*INSERT_K3, "-o", "o.prototxt", "--weights-out", "-"), "a caffemodel is binary"),
        ((*INSERT_K3, "-o", "sub/"), "-o sub/: names a directory; give a file name"),
        ((*INSERT_K3, "-o", "absent/o.prototxt"), "directory absent does not exist"),
        (("generate", "--height", "3", "--width", "3", "-o", ""), "-o '': an empty path"),
        (("draw", "net.prototxt", "-o", ""), "-o '': an empty path names no file"),
    ],
)  # fmt: skip
def test_outputs_that_cannot_name_a_file_are_usage_errors(
    files: Path, args: tuple[str, ...], message: str, run_cli: RunCli
) -> None:
    before = _snapshot(files)
    code, out, err = run_cli(*args)
    assert code == 2 and out == ""
    assert message in _one_error_line(err)
    assert _snapshot(files) == before and not (files / "sub").exists()
    assert not [p for p in files.parent.iterdir() if p.name.endswith(".tmp")]


def test_prototxt_and_caffemodel_are_committed_together_or_not_at_all(
    files: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    (files / "o.prototxt").write_text("old")
    real_replace = os.replace

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == "o.prototxt":
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    before = _snapshot(files)
    code, _, err = run_cli(*INSERT_K3, "-o", "o.prototxt", "--weights-out", "w.caffemodel")
    assert code == 1 and "o.prototxt: cannot write: Input/output error" in err
    assert _snapshot(files) == before  # the caffemodel was renamed into place, then taken back


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, MemoryError])
def test_an_interrupted_insert_leaves_no_file(
    files: Path,
    monkeypatch: pytest.MonkeyPatch,
    interruption: type[BaseException],
    run_cli: RunCli,
) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise interruption()

    monkeypatch.setattr(verb_cli, "write_result", interrupted)  # after the weights are staged
    before = _snapshot(files)
    args = (*INSERT_K3, "-o", "o.prototxt", "--weights-out", "w.caffemodel")
    if interruption is KeyboardInterrupt:
        code, _, _ = run_cli(*args)
        assert code == 130
    else:  # not the command line's to handle: it reaches the caller, after the cleanup
        with pytest.raises(interruption):
            run_cli(*args)
    assert _snapshot(files) == before
    assert sorted(p.name for p in files.iterdir()) == sorted(
        ["net.prototxt", "soft.prototxt", "hard.prototxt", "in.caffemodel", "fork.proto"]
    )


def _cli(*args: str, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> Any:
    command = [sys.executable, "-m", "scnn_surgery", *args]
    return subprocess.run(
        command, stdin=stdin, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, check=False
    )


def test_stdin_redirected_from_the_output_is_refused(files: Path) -> None:
    with open(files / "net.prototxt", "rb") as stdin:
        proc = _cli("insert", "-", "--kernel-width", "3", "-o", "net.prototxt", stdin=stdin)
    assert proc.returncode == 2
    assert proc.stderr.decode() == (
        "scnn-surgery: error: -o net.prototxt is the same file as MODEL '-' (standard input);"
        " the input is never written\n"
    )
    with open(files / "hard.prototxt", "rb") as stdin:
        proc = _cli("draw", "-", "-o", "soft.prototxt", stdin=stdin)
    assert proc.returncode == 2 and b"the input is never written" in proc.stderr
    assert (files / "net.prototxt").read_text() == CLI_NET


@pytest.mark.parametrize("command", ["insert", "inspect", "check"])
def test_stdout_appended_to_the_model_is_refused(files: Path, command: str) -> None:
    with open(files / "net.prototxt", "ab") as stdout:
        proc = _cli(command, "net.prototxt", stdout=stdout)
    assert proc.returncode == 2
    hint = " unless you ask with --in-place" if command == "insert" else ""
    assert proc.stderr.decode() == (
        "scnn-surgery: error: standard output is the same file as MODEL net.prototxt;"
        f" the input is never written{hint}\n"
    )
    assert (files / "net.prototxt").read_text() == CLI_NET


def test_output_to_dev_stdout_writes_into_the_pipe() -> None:
    proc = _cli("generate", "--height", "2", "--width", "2", "-o", "/dev/stdout")
    assert proc.returncode == 0 and proc.stdout.startswith(b"layer {")


# --- bounded resources ----------------------------------------------------------------------


def test_a_device_or_pipe_is_not_read(files: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("insert", "/dev/zero", "-o", "o.prototxt")
    assert code == 1
    assert _one_error_line(err).startswith("scnn-surgery: error: /dev/zero: not a regular file")
    os.mkfifo(files / "pipe.prototxt")  # nobody writes it: reading it would wait forever
    code, _, err = run_cli("inspect", "pipe.prototxt")
    assert code == 1 and "not a regular file" in _one_error_line(err)


def test_a_device_on_stdin_is_not_read() -> None:
    with open("/dev/zero", "rb") as zero:
        proc = _cli("insert", "-", stdin=zero)
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        "scnn-surgery: error: <stdin>: a device, not a prototxt; redirect a file or a pipe to"
        " standard input\n"
    )


def test_stdin_is_read_up_to_a_stated_limit(
    monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.setattr(files_module, "MAX_TEXT_BYTES", 4096)
    code, _, err = run_cli("inspect", "-", input=b"# padding\n" * 500)
    assert code == 1
    assert _one_error_line(err) == (
        "scnn-surgery: error: <stdin>: more than 4 KiB; scnn-surgery reads at most 4 KiB for a"
        " prototxt"
    )


def test_a_huge_module_is_refused_before_it_is_built(files: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("generate", "--height", "99999999999", "--width", "4")
    assert code == 1 and out == ""
    assert "layers and about" in err and "over the 64 MiB scnn-surgery writes" in err
    # an input whose size the file leaves open, given huge with --shape
    open_input = CLI_NET.replace(' input_param { shape { dim: 1 dim: 3 dim: 6 dim: 6 } }', "")
    (files / "open.prototxt").write_text(open_input)
    tall = "data=1,3,99999999,4"
    code, _, err = run_cli(
        "insert", "open.prototxt", "--kernel-width", "3", "--shape", tall, "-o", "o.prototxt"
    )
    assert code == 1
    assert _one_error_line(err).startswith(
        "scnn-surgery: error: open.prototxt: blob 'conv1' is 99999999x4x4 (HxWxC): a 99999999x4"
        " module would be 600,000,010 layers and"
    )
    assert not (files / "o.prototxt").exists()
    # a map beyond what a Caffe blob holds is refused as the --shape it comes from
    huge = "data=1,3,99999999,99999999"
    code, _, err = run_cli("insert", "open.prototxt", "--shape", huge, "-o", "o.prototxt")
    assert code == 1 and _one_error_line(err) == (
        "scnn-surgery: error: --shape data=1,3,99999999,99999999 makes blob 'data' hold"
        " 29,999,999,400,000,003 values, more than a Caffe blob holds (2,147,483,647, INT_MAX)"
        " (phase TEST)"
    )
    assert not (files / "o.prototxt").exists()
