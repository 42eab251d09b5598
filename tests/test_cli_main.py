"""The command group: subcommands loaded on demand, fast start-up, one-line usage errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from scnn_surgery import __version__
from scnn_surgery.cli.main import DEBUG_ENV, SUBCOMMANDS, cli

from .conftest import DATA, REPO_ROOT, VENDORED_ZOO, RunCli, shallow_stack

HEAVY = ("networkx", "numpy", "google.protobuf", "graphviz", "onnx")


def imported_modules(*args: str) -> tuple[int, set[str]]:
    """Exit status and every module a fresh ``python -m scnn_surgery ARGS`` imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scnn_surgery", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return proc.returncode, names


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--help"], 0),
        (["generate", "--height", "4", "--width", "5", "--channel", "8"], 0),
        (["insert", "net.prototxt", "--kernel-width", "4"], 2),  # a usage error
        (["remove", "net.prototxt", "x", "-o", "o.prototxt", "--in-place"], 2),
        (["upgrade", "-", "--in-place"], 2),
        (["remove", "--help"], 0),
        (["inspect"], 2),
        (["nope"], 2),
    ],
)
def test_start_up_loads_nothing_heavy(args: list[str], status: int) -> None:
    code, modules = imported_modules(*args)
    assert code == status
    assert "scnn_surgery.cli.main" in modules  # the listing is real
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert not heavy, f"{args} imported {heavy}"


ALEXNET = VENDORED_ZOO / "deploy" / "bvlc_alexnet_deploy.prototxt"
RESNET50 = VENDORED_ZOO / "deploy" / "resnet50_deploy.prototxt"
WITH_MODULE = REPO_ROOT / "examples" / "scnn_lane_vgg16_SCNN.prototxt"
# What no verb needs unless asked: numpy only for weights, the HTML report only for
# --report/--html, the drawing only for draw, the batch machinery only for batch.
NOT_UNASKED = ("numpy", "scnn_surgery.report.htmlreport", "scnn_surgery.batch")
DRAW, COMPARE = "scnn_surgery.report.draw", "scnn_surgery.analysis.compare"
CHECK, VERIFY = "scnn_surgery.analysis.check", "scnn_surgery.analysis.verify"


@pytest.mark.parametrize(
    ("args", "must_not_import"),
    [
        (["generate", "--height", "4", "--width", "5"], ("networkx", "google.protobuf")),
        (["insert", str(ALEXNET)], (DRAW, COMPARE)),
        (["splice", str(RESNET50), str(DATA / "se_block.prototxt"), "--after", "res5c"],
         (DRAW, COMPARE)),
        (["strip", str(WITH_MODULE)], (DRAW, COMPARE)),
        (["remove", str(ALEXNET), "drop6"], (DRAW, COMPARE)),
        (["upgrade", str(ALEXNET)], (DRAW, COMPARE)),
        (["check", str(ALEXNET)], (DRAW, COMPARE)),
        (["inspect", str(ALEXNET)], (DRAW, COMPARE)),
        (["diff", str(ALEXNET), str(ALEXNET)], (DRAW, CHECK)),
        (["draw", str(ALEXNET), "-o", "-"], (CHECK, VERIFY)),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_each_verb_imports_only_what_it_needs(
    args: list[str], must_not_import: tuple[str, ...]
) -> None:
    code, modules = imported_modules(*args)
    assert code == 0
    assert "scnn_surgery.cli.main" in modules  # the listing is real
    forbidden = (*NOT_UNASKED, *must_not_import)
    below = tuple(f"{name}." for name in forbidden)
    loaded = sorted(m for m in modules if m in forbidden or m.startswith(below))
    assert not loaded, f"{args[0]} imported {loaded}"


def test_help_lists_every_command_without_loading_it(run_cli: RunCli) -> None:
    code, modules = imported_modules("--help")
    assert code == 0
    assert not {f"scnn_surgery.cli.{entry.module}" for entry in SUBCOMMANDS.values()} & modules
    code, out, _ = run_cli("--help")
    assert code == 0
    listed = re.findall(r"^  ([\w-]+)\s+(.+)$", out.split("Commands:")[1], re.MULTILINE)
    assert [name for name, _ in listed] == list(SUBCOMMANDS)
    for name, summary in listed:
        assert SUBCOMMANDS[name].summary.startswith(summary.strip())


def test_each_command_has_its_summary_as_short_help() -> None:
    with click.Context(cli) as ctx:
        for name, entry in SUBCOMMANDS.items():
            command = cli.get_command(ctx, name)
            assert command is not None and command.name == name
            assert command.get_short_help_str(limit=200) == entry.summary


def test_the_readme_command_table_is_the_registry() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Command reference", 1)[1].split("\n\n", 2)[1]
    assert re.findall(r"^\| `([\w-]+)` \|", table, re.MULTILINE) == list(SUBCOMMANDS)


def test_the_readme_command_table_has_an_example_of_each_on_shipped_files() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Command reference", 1)[1].split("\n\n", 2)[1]
    examples = dict(re.findall(r"^\| `([\w-]+)` \|.*\| `(scnn-surgery .+)` \|$", table, re.M))
    assert list(examples) == list(SUBCOMMANDS)
    for name, example in examples.items():
        assert example.startswith(f"scnn-surgery {name} "), example
        read = [word for word in example.split() if word.startswith(("examples/", "tests/"))]
        assert read or name == "generate", example  # generate reads no net
        assert all((REPO_ROOT / path).exists() for path in read), example


def test_version(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--version")
    assert code == 0 and __version__ in out


def test_no_arguments_shows_the_help(run_cli: RunCli) -> None:
    _, out, err = run_cli()
    assert "Commands:" in out + err
    assert "error" not in err


# --- hostile nesting: every command, at the limit and past it -----------------------------

NEST_NET = """name: "nest"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 }
}
layer {
  name: "relu1"
  type: "ReLU"
  bottom: "conv1"
  top: "conv1"
  @NEST@
}
layer {
  name: "fc"
  type: "Convolution"
  bottom: "conv1"
  top: "fc"
  convolution_param { num_output: 2 kernel_size: 1 }
}
"""


def nested_net(depth: int, leaf: str = "v: 1") -> str:
    """The net with ``depth`` levels of messages in relu1 (its ``layer`` block counts)."""
    inner = depth - 1
    return NEST_NET.replace("@NEST@", "a { " * inner + leaf + " }" * inner)


def nest_commands(tmp_path: Path, depth: int) -> list[list[str]]:
    net = tmp_path / f"nest{depth}.prototxt"
    net.write_text(nested_net(depth))
    other = tmp_path / f"other{depth}.prototxt"
    other.write_text(nested_net(min(depth, 100), leaf="v: 2"))
    out = str(tmp_path / "out")
    host = tmp_path / "host.prototxt"  # a net to splice the nested one into, as a fragment
    host.write_text(nested_net(1))
    return [
        ["insert", str(net), "-o", f"{out}.prototxt"],
        ["splice", str(host), str(net), "--after", "conv1", "-o", f"{out}.prototxt"],
        ["strip", str(net), "-o", f"{out}.prototxt"],
        ["remove", str(net), "fc", "-o", f"{out}.prototxt"],
        ["upgrade", str(net), "-o", f"{out}.prototxt"],
        ["inspect", str(net)],
        ["inspect", "--json", str(net)],
        ["check", str(net)],
        ["check", "--json", str(net)],
        ["diff", str(net), str(other)],
        ["diff", "--json", str(other), str(net)],
        ["draw", str(net), "-o", f"{out}.dot"],
        ["draw", str(net), "--against", str(other), "-o", f"{out}.dot"],
    ]


def test_every_command_takes_nesting_at_the_limit_without_recursion(
    tmp_path: Path, run_cli: RunCli
) -> None:
    for args in nest_commands(tmp_path, 100):
        expected, _, err = run_cli(*args)  # once with the usual limit: imports, caches
        assert expected in (0, 1), err
        with shallow_stack():
            code, _, err = run_cli(*args)
        assert (code, err.count("Traceback")) == (expected, 0), (args, err)
    code, out, _ = run_cli(*nest_commands(tmp_path, 100)[9])
    assert code == 1 and ".a.a.a.v: 1 → 2\n" in out  # diff reached the leaf


@pytest.mark.parametrize("depth", [101, 10_000])
def test_every_command_refuses_nesting_past_the_limit_in_one_line(
    depth: int, tmp_path: Path, run_cli: RunCli
) -> None:
    for args in nest_commands(tmp_path, depth):
        code, out, err = run_cli(*args)
        assert code == (2 if args[0] == "diff" else 1), (args, err)
        assert out == ""
        line = f"scnn-surgery: error: {tmp_path}/nest{depth}.prototxt:20:401: "
        assert err.startswith(line) and err.count("\n") == 1, err
        assert "nesting deeper than 100 levels (protobuf's limit)" in err


# --- errors nobody foresaw, and diff's exit status ------------------------------------------


def test_an_unexpected_error_is_one_line_naming_where_it_was_raised(
    monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("integer modulo by zero")

    monkeypatch.setattr("scnn_surgery.analysis.inspection.inspect_net", broken)
    monkeypatch.setattr("scnn_surgery.analysis.compare.diff_nets", broken)
    net = str(DATA / "phases_inplace.prototxt")
    raised_at = f"test_cli_main.py:{broken.__code__.co_firstlineno + 1}"
    for args, status in ((["inspect", net], 1), (["diff", net, net], 2)):
        code, out, err = run_cli(*args, env={DEBUG_ENV: None})
        assert (code, out) == (status, "")
        assert err == (
            "scnn-surgery: error: internal error: ZeroDivisionError: integer modulo by zero"
            f" (at {raised_at}); this is a bug in scnn-surgery, please report it with the"
            " input (set SCNN_SURGERY_DEBUG=1 for the traceback)\n"
        )
    with pytest.raises(ZeroDivisionError):  # and the traceback, when asked for
        run_cli("inspect", net, env={DEBUG_ENV: "1"})


def test_every_diff_error_exits_2_not_1_which_means_different(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net = str(DATA / "phases_inplace.prototxt")
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layer { name: "a" top "x" }\n')
    cases = [
        ["diff", net],  # a missing argument
        ["diff", net, net, "--bogus"],  # an unknown option
        ["diff", net, net, "--phase", "DEPLOY"],  # a bad value
        ["diff", "-", "-"],  # two standard inputs
        ["diff", net, str(tmp_path / "absent.prototxt")],  # no such file
        ["diff", net, str(bad)],  # a syntax error
        ["diff", net, str(tmp_path)],  # a directory
        ["diff", net, "/dev/zero"],  # a device
    ]
    for args in cases:
        code, out, err = run_cli(*args)
        assert (code, out) == (2, ""), (args, err)
        assert err.startswith("scnn-surgery: error: ") and err.count("\n") == 1, (args, err)


BAD_TEXT = [
    (b"\xef\xbb\xbf" + NEST_NET.encode(), "1:1: UTF-8 byte-order mark at the start of {net}"),
    (NEST_NET.replace("@NEST@", 'a: "x\\400"').encode(),
     "20:8: bad escape '\\400' in a string: an octal escape is one byte, \\0 to \\377"),
    (NEST_NET.replace("@NEST@", 'a: "x\\U00110000"').encode(),
     "20:8: bad escape '\\U00110000' in a string: beyond U+10FFFF"),
    (NEST_NET.replace('name: "relu1"', 'name: "r\xff\xfe"').encode("latin-1"),
     "16:11: invalid UTF-8 in a string: bytes 0xFF 0xFE"),
    (NEST_NET.replace('name: "relu1"', 'name: "r\\xff"').encode(),
     "16:11: invalid UTF-8 in a string: escape '\\xff' (byte 0xFF)"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "message"), BAD_TEXT, ids=["bom", "octal", "U", "raw", "x"])
def test_every_command_names_a_bad_string_at_its_place(
    data: bytes, message: str, tmp_path: Path, run_cli: RunCli
) -> None:
    net = tmp_path / "nest1.prototxt"
    net.write_bytes(data.replace(b"@NEST@", b""))
    good = tmp_path / "good.prototxt"
    good.write_text(nested_net(1))
    out = str(tmp_path / "out")
    commands = [
        ["insert", str(net), "-o", f"{out}.prototxt"],
        ["splice", str(good), str(net), "--after", "conv1", "-o", f"{out}.prototxt"],
        ["strip", str(net), "-o", f"{out}.prototxt"],
        ["remove", str(net), "fc", "-o", f"{out}.prototxt"],
        ["upgrade", str(net), "-o", f"{out}.prototxt"],
        ["inspect", str(net)],
        ["check", str(net)],
        ["diff", str(good), str(net)],
        ["draw", str(net), "-o", f"{out}.svg"],
        ["draw", str(good), "--against", str(net), "-o", f"{out}.dot"],
    ]
    for args in commands:
        code, stdout, err = run_cli(*args)
        assert (code, stdout) == (2 if args[0] == "diff" else 1, ""), (args, err)
        assert err == f"scnn-surgery: error: {net}:{message.format(net=net)}\n"
    assert not list(tmp_path.glob("out*"))


def test_batch_refuses_a_deeply_nested_model_and_goes_on(tmp_path: Path, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "deep.prototxt").write_text(nested_net(10_000))
    (src / "fine.prototxt").write_text(nested_net(1))
    code, out, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"))
    assert (code, out) == (1, "") and "Traceback" not in err
    assert "nesting deeper than 100 levels (protobuf's limit)" in err
    assert (tmp_path / "out" / "fine.prototxt").is_file()


def test_an_error_naming_a_layer_with_a_line_break_is_still_one_line(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net = tmp_path / "nl.prototxt"
    net.write_text(
        'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 } } }\n'
        'layer { name: "c\\nINJECTED: fake" type: "ReLU" bottom: "nope\\u2028more" top: "c" }\n'
    )
    code, out, err = run_cli("check", str(net))
    assert code == 1 and err.count("\n") <= 1
    code, out, err = run_cli("insert", str(net), "-o", str(tmp_path / "o.prototxt"))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "layer 'c\\nINJECTED: fake'" in err and "'nope\\u2028more'" in err


def test_ctrl_c_while_the_arguments_are_read_is_one_line_and_130(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Click's own answer to a KeyboardInterrupt outside a command is "Aborted!" and exit 1.
    def interrupted(*_: object, **__: object) -> click.Context:
        raise KeyboardInterrupt

    monkeypatch.setattr(click.Group, "make_context", interrupted)
    code, out, err = run_cli("inspect", "net.prototxt")
    assert (code, out, err) == (130, "", "scnn-surgery: interrupted\n")


# --- required options left out: a usage error, never a crash -----------------------------

# Each command given only its arguments (the files it reads), so whatever option it
# requires is missing: -o of draw and export, batch's -o, generate's sizes, retarget's
# --input, fold-bn's --weights; and every command given nothing at all.
ONLY_ARGUMENTS = {
    "remove": [str(ALEXNET)],
    "rename": [str(ALEXNET)],
    "retarget": [str(ALEXNET)],
    "fold-bn": [str(ALEXNET)],
    "export": [str(ALEXNET)],
    "diff": [str(ALEXNET)],
    "draw": [str(ALEXNET)],
    "batch": [str(ALEXNET)],
}


def test_every_command_with_a_required_option_left_out_is_a_usage_error(
    run_cli: RunCli,
) -> None:
    runs = [[name] for name in SUBCOMMANDS] + [[name, *a] for name, a in ONLY_ARGUMENTS.items()]
    for args in runs:
        code, out, err = run_cli(*args)
        assert code == 2, (args, err)
        assert "internal error" not in err and "Traceback" not in err, (args, err)
        assert out == "" and err.count("\n") == 1, (args, err)
