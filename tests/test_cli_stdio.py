"""Standard output that cannot be written: a full disk is one line, a closed pipe is quiet.

Real processes: the point is what a shell sees (``> /dev/full``, ``| head``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DATA, RunCli

NET = str(DATA / "phases_inplace.prototxt")
SMALL = ("--height", "4", "--width", "4", "--channel", "4", "--kernel-width", "3")
FULL = "scnn-surgery: error: standard output: cannot write: No space left on device\n"


def commands(tmp_path: Path) -> list[list[str]]:
    other = tmp_path / "other.prototxt"  # a renamed layer, and a field no schema knows
    text = Path(NET).read_text().replace('name: "conv1"', 'name: "conv1x"\n  stray: 1', 1)
    other.write_text(text)
    return [
        ["generate", *SMALL],
        ["insert", NET, "--after", "conv1", "--kernel-width", "3"],
        ["inspect", NET],
        ["inspect", "--json", NET],
        ["check", str(other)],  # a warning, printed on standard output
        ["check", "--json", NET],
        ["diff", NET, str(other)],
        ["diff", "--json", NET, str(other)],
        ["draw", NET, "-o", "-"],
    ]


def run(args: list[str], stdout: int | object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "scnn_surgery", *args],
        stdout=stdout,  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        check=False,
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_on_standard_output_is_one_line(tmp_path: Path) -> None:
    for args in commands(tmp_path):
        with open("/dev/full", "wb") as full:
            proc = run(args, full)
        err = proc.stderr.decode()
        assert proc.returncode == (2 if args[0] == "diff" else 1), (args, err)
        assert err.endswith(FULL) and "Traceback" not in err, (args, err)


def test_a_reader_that_went_away_ends_the_command_quietly(tmp_path: Path) -> None:
    for args in commands(tmp_path):
        proc = subprocess.Popen(
            [sys.executable, "-m", "scnn_surgery", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # as `| head -0` would
        err = proc.stderr.read().decode()
        status = proc.wait()
        assert "Traceback" not in err and "Broken pipe" not in err, (args, err)
        assert status == (2 if args[0] == "diff" else 1), (args, err)


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED"])
def test_a_reader_that_reads_part_and_goes_is_no_success(unbuffered: str) -> None:
    """Unbuffered, standard output is a raw file whose write may take only part of a large
    text; what it did not take must not be dropped as if written."""
    import os

    big = ("--height", "120", "--width", "120", "--channel", "4", "--kernel-width", "3")
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scnn_surgery", "generate", *big],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(10)) == 10  # as `| head -c 10` would
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait() == 1 and "Traceback" not in err, err


TITLE_SETTER = 'name: "t"\nlayer { name: "in" type: "Input" top: "x\\033]0;owned\\007"\n' \
    "  input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }\n" \
    'layer { name: "r\\302\\233" type: "ReLU" bottom: "x\\033]0;owned\\007" top: "y" }\n'


def test_no_raw_control_byte_reaches_the_terminal(tmp_path: Path, run_cli: RunCli) -> None:
    """ESC ] 0 ; ... BEL in a name would set the terminal's title; C1 CSI (U+009B) too."""
    model = tmp_path / "title.prototxt"
    model.write_text(TITLE_SETTER)
    other = tmp_path / "other.prototxt"
    other.write_text(TITLE_SETTER.replace('top: "y"', 'top: "z"'))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.prototxt").write_text(TITLE_SETTER)
    runs = [
        run_cli("inspect", str(model)),
        run_cli("diff", str(model), str(other)),
        run_cli("diff", str(model), str(other), "--json"),
        run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--report",
                str(tmp_path / "r.md"), "--after", "x\x1b]0;owned\x07"),
    ]  # fmt: skip
    for _, out, err in runs:
        for text in (out, err, (tmp_path / "r.md").read_text()):
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
    assert "x\\x1b]0;owned\\x07" in runs[0][1]
    json.loads(runs[2][1])  # still JSON
    assert "\\u009b" in runs[2][1]


def test_bidi_controls_in_a_name_are_escaped_on_the_terminal(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A right-to-left override (U+202E) would reverse the rest of the line as shown."""
    model = tmp_path / "rlo.prototxt"
    model.write_text(TITLE_SETTER.replace("r\\302\\233", "r\\342\\200\\256evil"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "r\u202ex.prototxt").write_text(model.read_text())  # a source path shown in a row
    report = tmp_path / "r.md"
    for code, out, err in (
        run_cli("inspect", str(model)),
        run_cli("remove", str(model), "revil"),
        run_cli("inspect", str(model), "--json"),
    ):
        assert "\u202e" not in out + err and "\\u202e" in out + err, (code, out, err)
    run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--report", str(report),
            "--after", "nowhere")  # fmt: skip
    assert "\u202e" not in report.read_text() and "\\u202e" in report.read_text()


def test_a_name_with_a_line_break_keeps_the_inspect_table_whole(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Each row one line (its name's newline and tab escaped); the suggested --shape is
    quoted for the shell, as a blob named 'x y' needs."""
    model = tmp_path / "odd.prototxt"
    model.write_text(
        'layer { name: "a\\nb\\t" type: "Input" top: "x y" input_param { shape {'
        " dim: 1 dim: 3 dim: 8 dim: 8 } } }\n"
        'layer { name: "c" type: "Convolution" bottom: "x y" top: "c"'
        " convolution_param { num_output: 2 kernel_size: 3 } }\n"
        'layer { name: "fc" type: "InnerProduct" bottom: "c" top: "fc"'
        " inner_product_param { num_output: 2 } }\n"
    )
    code, out, _ = run_cli("inspect", str(model))
    assert code == 0 and "\t" not in out
    rows = out.splitlines()
    assert rows[2].startswith("a\\nb\\t  Input ") and rows[3].startswith("c ")
    assert "with --shape 'x y=1,3,H,W'" in out
