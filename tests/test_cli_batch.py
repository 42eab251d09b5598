"""``scnn-surgery batch`` end to end: the zoo, config files, reports, exit statuses, Ctrl-C."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import scnn_surgery as ss
from scnn_surgery.batch import STATUSES
from scnn_surgery.cli.batch import progress_bar, tally
from scnn_surgery.core.text_export import export_bytes
from scnn_surgery.surgery import InsertOptions, insert, load

from .batch_hooks import BOOTSTRAP, CRASH_HOOK, HANG_HOOK, install
from .conftest import (
    DATA,
    REPO_ROOT,
    RunCli,
    ZooInsert,
    needs_shared,
    shared_path,
    zoo_files,
    zoo_tree,
)
from .zoo_expectations import NAMED_POINTS, REFUSED

NET = DATA / "phases_inplace.prototxt"
SIZES = (
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
)


def make_tree(root: Path, *relatives: str) -> Path:
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(NET.read_bytes())
    return root


def expected_bytes(**changes: Any) -> bytes:
    options = InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3)
    return ss.dumps(insert(load(NET), replace(options, **changes)).net).encode()


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def zoo_config(path: Path) -> Path:
    """The sweep's named insertion points, as a batch config file."""
    lines = []
    for stem, settings in NAMED_POINTS.items():
        lines.append(f'[models."**/{stem}.prototxt"]')
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the zoo ---------------------------------------------------------------------------


def test_zoo_batch_matches_the_single_file_sweep(
    tmp_path: Path, run_cli: RunCli, zoo_inserts: dict[str, ZooInsert]
) -> None:
    zoo = tmp_path / "zoo"
    zoo_tree(zoo)
    before = tree_digest(zoo)
    out, report = tmp_path / "out", tmp_path / "report.json"
    config = zoo_config(tmp_path / "zoo.toml")
    code, stdout, err = run_cli("batch", str(zoo), "-o", str(out), "--jobs", "2",
                            "--config", str(config), "--report", str(report))
    assert stdout == "" and "Traceback" not in err
    models = json.loads(report.read_text())["models"]
    assert len(models) == len(zoo_files())
    statuses = {Path(m["source"]).stem: m["status"] for m in models}
    # The same expectations the single-file sweep (tests/test_zoo_sweep.py) holds insert to.
    expected = {stem: "refused" if stem in REFUSED else "converted" for stem in statuses}
    assert statuses == expected
    for model in models:
        stem = Path(model["source"]).stem
        if stem in REFUSED:
            assert re.search(REFUSED[stem], model["reason"]), model["reason"]
    assert code == (0 if set(statuses.values()) == {"converted"} else 1)
    for model in models:
        mirrored = out / Path(model["source"]).relative_to(zoo)
        assert mirrored.exists() is (model["status"] == "converted")
        single = zoo_inserts[Path(model["source"]).stem]  # the same net, the same options
        if model["status"] == "converted":
            assert model["output"] == str(mirrored)
            assert single.result is not None
            assert mirrored.read_bytes() == export_bytes(single.result.net)
        else:
            assert single.refusal is not None
            assert model["reason"] == single.refusal.replace(str(single.path), model["source"])
    assert tree_digest(zoo) == before


# --- config, options, outputs ----------------------------------------------------------


def test_config_file_sets_per_model_options(tmp_path: Path, run_cli: RunCli) -> None:
    src = make_tree(tmp_path / "src", "lane/a.prototxt", "lane/b.prototxt", "other/c.prototxt")
    config = tmp_path / "batch.toml"
    config.write_text(
        '[models."lane/*"]\nprefix = "lane_"\ndirections = "DU"\n\n'
        '[models."lane/b.prototxt"]\nafter = "no_such_layer"\n\n'
        '[models."typo/*"]\nheight = 3\n'
    )
    out = tmp_path / "out"
    code, _, err = run_cli("batch", str(src), "-o", str(out), "--config", str(config), *SIZES)
    assert code == 1
    assert (out / "lane/a.prototxt").read_bytes() == expected_bytes(prefix="lane_", directions="DU")
    assert not (out / "lane/b.prototxt").exists()
    assert (out / "other/c.prototxt").read_bytes() == expected_bytes()
    assert "config pattern 'typo/*' matches no model" in err
    assert "no_such_layer" in err


def test_outputs_mirror_each_source_and_sources_stay_untouched(
    tmp_path: Path, run_cli: RunCli
) -> None:
    first = make_tree(tmp_path / "one", "x/a.prototxt")
    second = make_tree(tmp_path / "two", "b.prototxt")
    before = tree_digest(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_cli("batch", str(first), str(second / "b.prototxt"), "-o", str(out), *SIZES)
    assert code == 0, err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.prototxt")) == [
        "b.prototxt",
        "x/a.prototxt",
    ]
    assert {k: v for k, v in tree_digest(tmp_path).items() if not k.startswith("out")} == before


# --- reports ---------------------------------------------------------------------------


@pytest.fixture
def mixed_tree(tmp_path: Path) -> Path:
    src = make_tree(tmp_path / "src", "good.prototxt")
    (src / "broken.prototxt").write_text("layer {\n")
    return src


def test_report_formats(tmp_path: Path, mixed_tree: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    (tmp_path / "reports").mkdir()
    for name in ("r.json", "r.csv", "r.md"):
        code, _, err = run_cli(
            "batch",
            str(mixed_tree),
            "-o",
            str(out),
            "--report",
            str(tmp_path / "reports" / name),
            *SIZES,
        )
        assert code == 1
        assert f"report written to {tmp_path / 'reports' / name}" in err
    document = json.loads((tmp_path / "reports/r.json").read_text())
    assert [(Path(m["source"]).name, m["status"]) for m in document["models"]] == [
        ("broken.prototxt", "refused"),
        ("good.prototxt", "converted"),
    ]
    assert document["summary"]["total"] == 2 and document["summary"]["refused"] == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "reports/r.csv").read_text())))
    assert [row["status"] for row in rows] == ["refused", "converted"]
    assert rows[1]["shape"] == "8x10x4"  # HxWxC, as insert says
    markdown = (tmp_path / "reports/r.md").read_text()
    assert "2 models: 1 converted, 1 refused, 0 failed" in markdown


def test_html_report_pictures_each_converted_model(
    tmp_path: Path, mixed_tree: Path, run_cli: RunCli
) -> None:
    report = tmp_path / "reports" / "r.html"
    report.parent.mkdir()
    code, _, err = run_cli("batch", str(mixed_tree), "-o", str(tmp_path / "out"), "--report",
                           str(report), *SIZES)
    assert code == 1 and f"report written to {report}" in err
    page = report.read_text()
    assert page.count('<tbody class="item"') == 2
    assert "missing &#x27;}&#x27;" in page  # the refusal's reason, escaped
    if shutil.which("dot"):
        assert page.count("<svg") == 1 and "warning" not in err


def test_html_report_without_dot_is_the_table_with_a_note(
    tmp_path: Path, mixed_tree: Path, run_cli: RunCli
) -> None:
    nowhere = tmp_path / "empty"
    nowhere.mkdir()
    report = tmp_path / "r.html"
    code, _, err = run_cli("batch", str(mixed_tree), "-o", str(tmp_path / "out"), "--report",
                           str(report), *SIZES, env={"PATH": str(nowhere)})
    assert code == 1
    assert "warning: Graphviz's 'dot' program was not found, so the pictures are left out" in err
    page = report.read_text()
    assert "<svg" not in page and page.count('<tbody class="item"') == 2
    assert "program was not found, so the pictures are left out" in page
    assert (tmp_path / "out" / "good.prototxt").read_bytes() == expected_bytes()


def test_summary_table_on_stderr(tmp_path: Path, mixed_tree: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("batch", str(mixed_tree), "-o", str(tmp_path / "out"), *SIZES)
    assert code == 1
    assert "batch: 2 models: 1 converted, 1 refused, 0 failed" in err
    rows = [line.split() for line in err.splitlines() if line.startswith("  ")]
    assert rows[:3] == [["converted", "1"], ["refused", "1"], ["failed", "0"]]
    assert rows[3][:2] == ["refused", str(mixed_tree / "broken.prototxt")]
    assert "missing '}'" in err


# --- exit statuses ---------------------------------------------------------------------


def test_exit_zero_when_every_model_converted(tmp_path: Path, run_cli: RunCli) -> None:
    src = make_tree(tmp_path / "src", "a.prototxt", "b.prototxt")
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "-j", "2", *SIZES)
    assert code == 0, err


def test_exit_one_when_any_model_failed(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(monkeypatch)
    src = make_tree(tmp_path / "src", "a.prototxt", "b_KILLME.prototxt", "c.prototxt")
    out = tmp_path / "out"
    code, _, err = run_cli(
        "batch", str(src), "-o", str(out), "-j", "2", *SIZES, env={CRASH_HOOK: "KILLME"}
    )
    assert code == 1
    assert "worker process was killed by SIGKILL while converting this model" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.prototxt", "c.prototxt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{src}/nope.prototxt"], "nope.prototxt: no such file or directory"),
        (["{src}/*.nothing"], "matches no file"),
        (["{src}", "--jobs", "0"], "--jobs"),
        (["{src}", "--report", "{tmp}/r.txt"], "unknown report format '.txt'"),
        (["{src}", "--config", "{tmp}/missing.toml"], "--config"),
        (["{src}", "--config", "{tmp}/bad.toml"], "unknown setting 'hieght'"),
        (
            ["{src}", "--config", "{tmp}/no_proto.toml"],
            "proto must name an existing .proto file, got '{tmp}/nope.proto'",
        ),
        (["{src}", "--directions", "XY"], "--directions"),
        (["{src}/a.prototxt", "{tmp}/other/a.prototxt"], "would both be written"),
        (["{src}", "--report", ""], "--report '': an empty path names no file"),
        (["{src}", "--report", "{tmp}/nodir/r.json"], "directory {tmp}/nodir does not exist"),
        (["{src}", "--report", "{tmp}/dangling.json"], "whose directory {tmp}/gone does not"),
        (["{tmp}/m.md", "--report", "{tmp}/out/./m.md"], "is the output of {tmp}/m.md"),
        (["{src}", "--after", ""], "'--after': must be a non-empty name, got ''"),
        (["{src}", "--config", "{tmp}/empty_after.toml"], "after must be a non-empty name"),
    ],
)
def test_usage_errors_exit_two(
    tmp_path: Path, args: list[str], message: str, run_cli: RunCli
) -> None:
    src = make_tree(tmp_path / "src", "a.prototxt")
    make_tree(tmp_path / "other", "a.prototxt")
    (tmp_path / "bad.toml").write_text('[models."*"]\nhieght = 3\n')
    (tmp_path / "no_proto.toml").write_text(f'[models."*"]\nproto = "{tmp_path}/nope.proto"\n')
    (tmp_path / "empty_after.toml").write_text('[models."*"]\nafter = ""\n')
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone" / "r.json")
    make_tree(tmp_path, "m.md")
    filled = [arg.format(src=src, tmp=tmp_path) for arg in args]
    code, _, err = run_cli("batch", *filled, "-o", str(tmp_path / "out"))
    assert code == 2
    assert message.format(tmp=tmp_path) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_paths_that_are_not_files_are_reported_as_skipped(tmp_path: Path, run_cli: RunCli) -> None:
    src = make_tree(tmp_path / "src", "a.prototxt")
    os.mkfifo(src / "fifo.prototxt")  # read, it would wait for a writer forever
    (src / "dangling.prototxt").symlink_to("gone.prototxt")
    (src / "loop.prototxt").symlink_to("loop.prototxt")
    report = tmp_path / "r.json"
    code, _, err = run_cli(
        "batch", str(src), "-o", str(tmp_path / "out"), "--report", str(report), *SIZES
    )
    assert code == 1
    assert "batch: 4 models: 1 converted, 0 refused, 0 failed, 3 skipped" in err
    assert f"skipped     {src}/fifo.prototxt      a named pipe (FIFO), not a regular file" in err
    assert f"skipped     {src}/loop.prototxt      a symbolic link loop" in err
    models = {Path(m["source"]).name: m for m in json.loads(report.read_text())["models"]}
    assert models["dangling.prototxt"]["status"] == "skipped"
    assert models["dangling.prototxt"]["reason"] == (
        f"{src}/dangling.prototxt: a symbolic link to gone.prototxt, which does not exist"
    )
    assert models["a.prototxt"]["status"] == "converted"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.prototxt"]


def refusals(report: Path) -> dict[str, str]:
    return {
        Path(m["source"]).name: m["reason"]
        for m in json.loads(report.read_text())["models"]
        if m["status"] == "refused"
    }


NO_MAP = "found no spatial feature map feeding a classifier (phase TEST)"


def test_every_refusal_names_the_model_s_file(tmp_path: Path, run_cli: RunCli) -> None:
    """Read alone (a report's reason column), each refusal says which model it is about; the
    table on stderr keeps a FILE:LINE:COL whole and drops only a bare 'FILE: '."""
    src = make_tree(tmp_path / "src", "bare.prototxt", "dir.prototxt", "fifo.prototxt")
    (src / "broken.prototxt").write_text("layer {\n")
    (src / "flat.prototxt").write_text(
        'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }\n'
    )
    (src / "dir.caffemodel").mkdir()
    os.mkfifo(src / "fifo.caffemodel")  # read, it would wait for a writer forever
    report = tmp_path / "r.json"
    code, _, err = run_cli("batch", str(src / "*.prototxt"), "-o", str(tmp_path / "out"),
                           "--report", str(report), "-j", "1")  # fmt: skip
    assert code == 1
    broken = f"{src}/broken.prototxt:2:1: missing '}}' for the '{{' at 1:7"
    reasons = refusals(report)
    assert {name: reasons[name] for name in ("broken.prototxt", "flat.prototxt")} == {
        "broken.prototxt": broken,
        "flat.prototxt": f"{src}/flat.prototxt: {NO_MAP}",
    }
    assert f"refused     {src}/broken.prototxt  {broken}\n" in err
    assert f"refused     {src}/flat.prototxt    {NO_MAP}\n" in err

    code, _, err = run_cli("batch", str(src / "*.prototxt"), "-o", str(tmp_path / "out2"),
                           "--report", str(report), "-j", "1", "--verb", "fold-bn")  # fmt: skip
    assert code == 1
    reasons = refusals(report)
    assert reasons["broken.prototxt"] == broken
    assert reasons["bare.prototxt"].startswith(
        f"{src}/bare.prototxt: {src}/bare.caffemodel: no such caffemodel;"
    )
    # not "no such caffemodel": they are there, but not files to read
    assert reasons["dir.prototxt"] == f"{src}/dir.prototxt: {src}/dir.caffemodel: a directory"
    assert reasons["fifo.prototxt"] == (
        f"{src}/fifo.prototxt: {src}/fifo.caffemodel: a named pipe (FIFO), not a regular file"
    )
    assert f"refused     {src}/dir.prototxt     {src}/dir.caffemodel: a directory\n" in err


def test_a_broken_config_proto_is_one_error_before_any_work(
    tmp_path: Path, run_cli: RunCli
) -> None:
    src = make_tree(tmp_path / "src", "a.prototxt", "b.prototxt")
    broken = tmp_path / "fork.proto"
    broken.write_text("message NetParameter {\n  optional int32 x = ;\n}\n")
    config = tmp_path / "c.toml"
    config.write_text(f'[models."*"]\nproto = "{broken}"\n')
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--config", str(config))
    assert code == 1
    assert err.startswith(f"scnn-surgery: error: {broken}:2:")
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_output_dir_is_required(tmp_path: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("batch", str(make_tree(tmp_path / "src", "a.prototxt")))
    assert code == 2 and "--output-dir" in err


# --- progress --------------------------------------------------------------------------


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path, run_cli: RunCli) -> None:
    src = make_tree(tmp_path / "src", "a.prototxt", "b.prototxt")
    _, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), *SIZES)
    assert "\r" not in err and "[#" not in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal() -> None:
    stream = FakeTerminal()
    counts = dict.fromkeys(STATUSES, 0)
    with progress_bar(2, tally(counts), stream) as bar:
        for status in ("converted", "failed"):
            counts[status] += 1
            bar.label = tally(counts)
            bar.update(1)
    text = re.sub(r"\x1b\[\?25[lh]", "", stream.getvalue())  # click hides the cursor meanwhile
    frames = [frame.rstrip() for frame in text.split("\r")]
    assert frames[1].startswith("[-")
    assert frames[1].endswith("0/2  converted 0  refused 0  failed 0")
    assert frames[-1].startswith("[#") and "2/2  converted 1  refused 0  failed 1" in frames[-1]
    assert text.endswith("\n")  # the finished bar stays, and the summary starts a new line


def test_no_progress_bar_output_at_all_on_a_pipe() -> None:
    stream = io.StringIO()
    with progress_bar(2, "label", stream) as bar:
        bar.update(2)
    assert stream.getvalue() == ""


# --- Ctrl-C ----------------------------------------------------------------------------


def test_ctrl_c_stops_cleanly_and_reports_what_finished(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", "a_HANGME.prototxt", "b.prototxt", "c.prototxt")
    out = tmp_path / "out"
    env = {**os.environ, HANG_HOOK: "HANGME"}
    command = [
        sys.executable,
        "-c",
        BOOTSTRAP,
        "batch",
        str(src),
        "-o",
        str(out),
        "-j",
        "2",
        "--report",
        str(tmp_path / "r.json"),
        *SIZES,
    ]
    # Its own session, so that killpg reaches the workers too, as a terminal's Ctrl-C does.
    proc = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True,
        cwd=REPO_ROOT,  # where BOOTSTRAP finds the tests package
    )
    # Once b and c are written, the batch can only be waiting on the hung model.
    while not ((out / "b.prototxt").exists() and (out / "c.prototxt").exists()):
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)  # a guard against hanging, not a speed limit
    assert proc.returncode == 130, err
    assert "interrupted after 2 of 3 models" in err and "Traceback" not in err
    assert sorted(p.name for p in out.rglob("*")) == ["b.prototxt", "c.prototxt"]
    assert (out / "b.prototxt").read_bytes() == expected_bytes()
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(Path(m["source"]).name, m["status"]) for m in report["models"]] == [
        ("a_HANGME.prototxt", "interrupted"), ("b.prototxt", "converted"),
        ("c.prototxt", "converted"),
    ]  # fmt: skip
    assert report["models"][0]["reason"] == (
        "the batch was interrupted before this model was converted"
    )
    assert report["summary"]["interrupted"] == 1 and report["summary"]["converted"] == 2
    assert "report written to" in err


def test_a_report_that_would_overwrite_an_input_is_a_usage_error(
    tmp_path: Path, run_cli: RunCli
) -> None:
    src = make_tree(tmp_path / "src", "good.prototxt")
    model = tmp_path / "model.md"  # a source given by name may have any extension
    model.write_bytes((src / "good.prototxt").read_bytes())
    config = tmp_path / "settings.md"
    config.write_text('[models."**"]\nkernel_width = 3\n')
    for report in (model, config):
        before = report.read_bytes()
        spelled = str(tmp_path / "." / report.name)
        code, _, err = run_cli("batch", str(model), "-o", str(tmp_path / "out"), "--config",
                           str(config), "--report", spelled, *SIZES)  # fmt: skip
        assert code == 2 and "the input is never written" in err
        assert report.read_bytes() == before and not (tmp_path / "out").exists()


@needs_shared
def test_batch_strips_a_zoo_of_scnn_nets_in_one_command(tmp_path: Path, run_cli: RunCli) -> None:
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "resnet101_SCNN.prototxt").write_bytes(
        shared_path("golden", "resnet101_SCNN.prototxt").read_bytes()
    )
    (zoo / "dark.prototxt").write_bytes(
        shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt").read_bytes()
    )
    (zoo / "plain.prototxt").write_text(
        'layer { name: "d" type: "Input" top: "d" input_param { shape { dim: 1 } } }\n'
    )
    report = tmp_path / "r.json"
    code, _, err = run_cli(
        "batch", str(zoo), "-o", str(tmp_path / "out"), "--verb", "strip", "--report", str(report)
    )
    assert code == 1, err  # plain.prototxt has no module: refused, the others stripped
    out = tmp_path / "out"
    assert (out / "resnet101_SCNN.prototxt").read_bytes() == shared_path(
        "golden", "resnet101.prototxt"
    ).read_bytes()
    records = {Path(r["source"]).name: r for r in json.loads(report.read_text())["models"]}
    assert records["dark.prototxt"]["verb"] == "strip"
    assert "its consumers read 'reduce2_lane'" in records["dark.prototxt"]["summary"]
    assert records["plain.prototxt"]["status"] == "refused"


def test_batch_splices_a_fragment_into_every_model(tmp_path: Path, run_cli: RunCli) -> None:
    net = shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
    fragment = DATA / "se_block.prototxt"
    code, _, err = run_cli(
        "batch", str(net), "-o", str(tmp_path / "out"), "--verb", "splice",
        "--fragment", str(fragment), "--after", "res5c",
    )  # fmt: skip
    assert code == 0, err
    assert 'bottom: "se/out"' in (tmp_path / "out" / net.name).read_text()


def test_batch_refuses_options_of_another_verb(tmp_path: Path, run_cli: RunCli) -> None:
    out = str(tmp_path / "out")
    code, _, err = run_cli("batch", str(DATA), "-o", out, "--verb", "strip", "--height", "3")
    assert code == 2 and "--verb strip takes no --height" in err
    code, _, err = run_cli("batch", str(DATA), "-o", out, "--verb", "splice")
    assert code == 2 and "--fragment FILE goes with --verb splice" in err


def test_ctrl_c_before_the_first_worker_still_writes_the_report(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scnn_surgery.batch as batch

    def interrupted(*_: object, **__: object) -> list[object]:
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "plan_jobs", interrupted)
    src = make_tree(tmp_path / "src", "a.prototxt")
    report = tmp_path / "r.json"
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--report",
                           str(report), *SIZES)
    assert code == 130 and "report written to" in err
    models = json.loads(report.read_text())["models"]
    assert [(Path(m["source"]).name, m["status"]) for m in models] == [
        ("a.prototxt", "interrupted")
    ]


def test_ctrl_c_while_the_request_is_checked_still_writes_the_report(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading the batch code and finding the sources take most of batch's first second.
    import signal

    import scnn_surgery.batch as batch

    found = batch.find_sources

    def ctrl_c_while_finding(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)
        return found(*args, **kwargs)

    monkeypatch.setattr(batch, "find_sources", ctrl_c_while_finding)
    before = signal.getsignal(signal.SIGINT)
    src = make_tree(tmp_path / "src", "a.prototxt")
    report = tmp_path / "r.json"
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--report",
                           str(report), *SIZES)  # fmt: skip
    assert code == 130 and "report written to" in err
    models = json.loads(report.read_text())["models"]
    assert [m["status"] for m in models] == ["interrupted"] and "after 0 of 1 models" in err
    assert signal.getsignal(signal.SIGINT) is before


def test_an_output_dir_that_cannot_be_made_is_refused_up_front(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # '' wrote every output into the current directory; under a file, or in a directory
    # this user may not write, every model failed on its own.
    from scnn_surgery import files

    src = make_tree(tmp_path / "src", "a.prototxt")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("batch", str(src), "-o", "", *SIZES)
    assert code == 2 and "-o '': an empty path names no directory" in err
    (tmp_path / "plain").write_text("")
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "plain" / "out"), *SIZES)
    assert code == 2 and f"{tmp_path / 'plain'} is a file, not a directory" in err
    monkeypatch.setattr(files, "_writable_directory", lambda d: False)
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "new" / "out"), *SIZES)
    assert code == 1 and f"directory {tmp_path} is not writable" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "src"]


def test_jobs_are_capped_at_the_cores_with_a_note(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scnn_surgery.batch as batch

    monkeypatch.setattr(batch, "default_jobs", lambda: 2)
    src = make_tree(tmp_path / "src", "a.prototxt", "b.prototxt", "c.prototxt")
    report = tmp_path / "r.json"
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--jobs", "1000",
                           "--report", str(report), *SIZES)
    assert code == 0, err
    assert "--jobs 1000 is more than the 2 cores this process may use; running 2 workers" in err
    assert json.loads(report.read_text())["summary"]["workers"] == 2


def test_batch_takes_fragment_output_and_its_old_spelling_with_a_warning(
    tmp_path: Path, run_cli: RunCli
) -> None:
    src = make_tree(tmp_path / "src", "a.prototxt")
    se = str(DATA / "se_block.prototxt")
    splice = ["--verb", "splice", "--fragment", se, "--after", "conv1"]
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "o1"), *splice,
                           "--fragment-output", "nope")  # fmt: skip
    assert "--fragment-output nope: the fragment writes no blob" in err and "deprecated" not in err
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "o2"), *splice,
                           "--output", "nope")  # fmt: skip
    assert "warning: --output is deprecated here" in err
    assert "--fragment-output nope: the fragment writes no blob" in err
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "o3"), "--output", "x")
    assert code == 2 and "--verb insert takes no --output" in err
