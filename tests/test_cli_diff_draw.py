"""``scnn-surgery diff`` and ``scnn-surgery draw`` through click's CliRunner."""

# The output writes shapes with the multiplication sign; so do the expectations.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, RunCli, needs_shared, shared_path

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)

TINY = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 4 dim: 4 }\n' \
    'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"\n' \
    "  convolution_param { num_output: 2 kernel_size: 1 } }\n"


def _golden() -> tuple[str, str]:
    return (str(shared_path("golden", "resnet101.prototxt")),
            str(shared_path("golden", "resnet101_SCNN.prototxt")))


# --- diff -----------------------------------------------------------------------------


@needs_shared
def test_diff_of_the_published_pair(run_cli: RunCli) -> None:
    before, after = _golden()
    code, out, err = run_cli("diff", before, after)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[:2] == [f"--- {before}", f"+++ {after}"]
    assert lines[2:] == [
        "+ module  SCNN module, directions DULR, 46×46×128, k 9, 544 layers,"
        " after conv5_5/relu, output SCNN",
        "~ rewired conv6 bottom 0: conv5_5 → SCNN",
        "1 module added, 1 bottom rewired",
    ]


def test_diff_of_the_shipped_example_pair(run_cli: RunCli) -> None:
    before, after = (str(REPO_ROOT / "examples" / f"scnn_lane_vgg16{s}.prototxt")
                      for s in ("", "_SCNN"))
    code, out, err = run_cli("diff", before, after)
    assert code == 1, err
    assert out.splitlines()[2:] == [
        "+ module  SCNN module, directions DULR, 36×100×128, k 9, 808 layers,"
        " after drop7, output SCNN",
        "~ rewired fc8 bottom 0: fc7 → SCNN",
        "1 module added, 1 bottom rewired",
    ]


@needs_shared
def test_diff_json_of_the_published_pair(run_cli: RunCli) -> None:
    code, out, _ = run_cli("diff", *_golden(), "--json")
    assert code == 1
    data = json.loads(out)
    assert set(data) >= {"added", "removed", "changed", "rewired", "modules"}
    assert data["added"] == data["removed"] == data["changed"] == []
    assert [(r["layer"], r["bottom_before"], r["bottom_after"]) for r in data["rewired"]] == [
        ("conv6", "conv5_5", "SCNN")
    ]
    assert [(m["status"], m["layers"]) for m in data["modules"]] == [("added", 544)]


@needs_shared
def test_a_file_diffed_with_itself_exits_0_silently(run_cli: RunCli) -> None:
    path = _golden()[1]
    assert run_cli("diff", path, path) == (0, "", "")
    code, out, _ = run_cli("diff", path, path, "--json")
    assert code == 0 and json.loads(out)["modules"] == []


def test_diff_reads_one_side_from_stdin(tmp_path: Path, run_cli: RunCli) -> None:
    a = tmp_path / "a.prototxt"
    a.write_text(TINY)
    changed = TINY.replace("num_output: 2", "num_output: 5").encode()
    code, out, _ = run_cli("diff", str(a), "-", input=changed)
    assert code == 1
    assert "convolution_param.num_output: 2 → 5" in out


def test_diff_errors_exit_2(tmp_path: Path, run_cli: RunCli) -> None:
    a = tmp_path / "a.prototxt"
    a.write_text(TINY)
    code, out, err = run_cli("diff", str(a), str(tmp_path / "missing.prototxt"))
    assert code == 2 and out == ""
    assert err.startswith("scnn-surgery: error: ") and "no such file" in err
    assert err.count("\n") == 1
    bad = tmp_path / "bad.prototxt"
    bad.write_text("layer { name: \n")
    assert run_cli("diff", str(a), str(bad))[0] == 2
    assert run_cli("diff", "-", "-")[0] == 2
    assert run_cli("diff", str(a), str(a), "--phase", "VAL")[0] == 2


@needs_shared
def test_diff_html_writes_a_page_and_still_lists(tmp_path: Path, run_cli: RunCli) -> None:
    before, after = _golden()
    page = tmp_path / "pages" / "diff.html"
    page.parent.mkdir()
    code, out, err = run_cli("diff", before, after, "--html", str(page))
    assert code == 1, err
    assert out.splitlines()[-1] == "1 module added, 1 bottom rewired"  # the listing, as ever
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count('<tbody class="item"') == 2
    if shutil.which("dot"):
        assert text.count("<svg") == 2 and err == ""


def test_diff_html_without_dot_is_the_listing_with_a_note(
    tmp_path: Path, run_cli: RunCli
) -> None:
    a, b = tmp_path / "a.prototxt", tmp_path / "b.prototxt"
    a.write_text(TINY)
    b.write_text(TINY.replace("num_output: 2", "num_output: 5"))
    nowhere = tmp_path / "empty"
    nowhere.mkdir()
    page = tmp_path / "d.html"
    code, _, err = run_cli("diff", str(a), str(b), "--html", str(page),
                           env={"PATH": str(nowhere)})
    assert code == 1
    assert err.count("\n") == 1 and "'dot' program was not found" in err
    text = page.read_text()
    assert "<svg" not in text and "convolution_param.num_output" in text


def test_diff_html_of_equal_nets_exits_0(tmp_path: Path, run_cli: RunCli) -> None:
    a = tmp_path / "a.prototxt"
    a.write_text(TINY)
    page = tmp_path / "same.html"
    assert run_cli("diff", str(a), str(a), "--html", str(page)) == (0, "", "")
    assert "The nets do not differ." in page.read_text()


@pytest.mark.parametrize("which", ["A", "B"])
def test_diff_html_never_replaces_a_net(tmp_path: Path, which: str, run_cli: RunCli) -> None:
    a, b = tmp_path / "a.prototxt", tmp_path / "b.prototxt"
    a.write_text(TINY)
    b.write_text(TINY)
    target = a if which == "A" else b
    code, _, err = run_cli("diff", str(a), str(b), "--html", str(target))
    assert code == 2 and f"is the same file as {which}" in err
    assert target.read_text() == TINY


def test_diff_phase_option(tmp_path: Path, run_cli: RunCli) -> None:
    a = tmp_path / "a.prototxt"
    b = tmp_path / "b.prototxt"
    a.write_text(TINY)
    b.write_text(TINY + 'layer { name: "loss" type: "Sigmoid" bottom: "conv" top: "p"'
                 " include { phase: TRAIN } }\n")
    assert run_cli("diff", str(a), str(b))[0] == 1
    assert run_cli("diff", str(a), str(b), "--phase", "test")[0] == 0
    code, out, _ = run_cli("diff", str(a), str(b), "--phase", "TRAIN")
    assert code == 1 and "+ layer   loss (Sigmoid)" in out


# --- draw -----------------------------------------------------------------------------


@needs_shared
def test_draw_dot_of_the_published_pair(tmp_path: Path, run_cli: RunCli) -> None:
    before, after = _golden()
    target = tmp_path / "pair.dot"
    code, _, err = run_cli("draw", after, "--against", before, "-o", str(target))
    assert code == 0, err
    source = target.read_text()
    assert source.startswith("digraph")
    assert source.count("SCNN module") == 1
    assert "SCNN_D_1" not in source  # collapsed
    assert "#d62728" in source  # the rewired edge into conv6


@needs_shared
def test_draw_expand_shows_every_module_layer(run_cli: RunCli) -> None:
    code, out, _ = run_cli("draw", _golden()[1], "--expand", "-o", "-")
    assert code == 0
    assert "SCNN_D_1/sum" in out and "SCNN module" not in out


@needs_shared
def test_draw_context_needs_against(run_cli: RunCli) -> None:
    code, _, err = run_cli("draw", _golden()[1], "--context", "2", "-o", "-")
    assert code == 2 and "--against" in err


@needs_shared
def test_draw_context_cuts_the_picture_down(run_cli: RunCli) -> None:
    before, after = _golden()
    code, out, _ = run_cli("draw", after, "--against", before, "--context", "1", "-o", "-")
    assert code == 0
    assert "conv6" in out and "conv1_1_3x3_s2" not in out


@needs_shared
def test_draw_rejects_unknown_formats(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("draw", _golden()[1], "-o", str(tmp_path / "x.jpg"))
    assert code == 2 and ".svg, .png, .pdf or .dot" in err
    assert not (tmp_path / "x.jpg").exists()


def test_draw_without_dot_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    model = tmp_path / "m.prototxt"
    model.write_text(TINY)
    code, _, err = run_cli("draw", str(model), "-o", str(tmp_path / "m.svg"))
    assert code == 1
    assert err.count("\n") == 1 and "'dot' program was not found" in err
    assert "apt-get install graphviz" in err
    assert run_cli("draw", str(model), "-o", str(tmp_path / "m.dot"))[0] == 0


@needs_dot
@pytest.mark.parametrize("suffix, magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_draw_renders_svg_and_png(
    tmp_path: Path, suffix: str, magic: bytes, run_cli: RunCli
) -> None:
    target = tmp_path / f"tiny.{suffix}"
    model = tmp_path / "m.prototxt"
    model.write_text(TINY)
    code, _, err = run_cli("draw", str(model), "-o", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(magic)


@needs_dot
def test_the_readme_picture_script(tmp_path: Path) -> None:
    import runpy

    script = runpy.run_path(str(REPO_ROOT / "scripts" / "make_picture.py"))
    target = tmp_path / "picture.svg"
    assert script["main"]([str(target)]) == 0
    text = target.read_text()
    assert "SCNN module" in text and "before" in text and "after" in text


@pytest.mark.parametrize("suffix", [".dot", ".svg", ".png"])
def test_draw_never_replaces_a_net_with_its_picture(
    tmp_path: Path, suffix: str, run_cli: RunCli
) -> None:
    model = tmp_path / f"net{suffix}"  # a prototxt may have any name
    model.write_text(TINY)
    other = tmp_path / f"other{suffix}"
    other.write_text(TINY)
    for args in (
        [str(model), "-o", str(model)],
        [str(model), "-o", str(tmp_path / "." / model.name)],
        [str(model), "--against", str(other), "-o", str(other)],
    ):
        code, out, err = run_cli("draw", *args)
        assert code == 2 and out == ""
        assert err.endswith("is the same file as"
                            f" {'MODEL' if '--against' not in args else '--against'}"
                            f" {args[0] if '--against' not in args else other};"
                            " the input is never written\n")  # fmt: skip
    assert model.read_text() == other.read_text() == TINY
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([model.name, other.name])


def test_diff_refuses_stdout_appended_to_a_net(tmp_path: Path) -> None:
    a = tmp_path / "a.prototxt"
    a.write_text(TINY)
    with open(a, "ab") as stdout:
        proc = subprocess.run([sys.executable, "-m", "scnn_surgery", "diff", str(a), str(a)],
                              stdout=stdout, stderr=subprocess.PIPE, check=False)  # fmt: skip
    assert proc.returncode == 2 and b"the input is never written" in proc.stderr
    assert a.read_text() == TINY


@needs_dot
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_a_name_dot_cannot_take_is_one_line_naming_the_layer(
    tmp_path: Path, suffix: str, run_cli: RunCli
) -> None:
    huge = "r" * 100_000  # over the 16,384 bytes dot 2.x reads in one quoted string
    model = tmp_path / "m.prototxt"
    model.write_text(TINY.replace('name: "conv"', f'name: "{huge}"'))
    target = tmp_path / f"m.{suffix}"
    code, out, err = run_cli("draw", str(model), "-o", str(target))
    if code == 0:  # a dot without that limit draws it
        assert target.stat().st_size > 0
        return
    assert (code, out, err.count("\n")) == (1, "", 1), err
    assert err.startswith(f"scnn-surgery: error: dot failed on layer '{'r' * 59}…' ({model}:3:1): ")
    assert not target.exists()


@pytest.mark.parametrize("where", ["MODEL", "--against"])
def test_raw_bytes_in_a_name_never_reach_graphviz(
    tmp_path: Path, where: str, run_cli: RunCli
) -> None:
    good = tmp_path / "good.prototxt"
    good.write_text(TINY)
    bad = tmp_path / "bad.prototxt"
    bad.write_bytes(TINY.encode().replace(b'name: "conv"', b'name: "c\xff\xfe"'))
    model, against = (bad, good) if where == "MODEL" else (good, bad)
    for suffix in ("svg", "dot"):
        code, out, err = run_cli("draw", str(model), "--against", str(against),
                                 "-o", str(tmp_path / f"x.{suffix}"))  # fmt: skip
        assert (code, out) == (1, "")
        assert err == (
            f"scnn-surgery: error: {bad}:3:17: invalid UTF-8 in a string: bytes 0xFF 0xFE\n"
        )
    assert not list(tmp_path.glob("x.*"))
