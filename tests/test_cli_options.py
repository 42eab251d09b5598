"""The click options derived from the declarations: spellings, messages, the README's lists."""

from __future__ import annotations

import re
from dataclasses import fields

import click
import pytest

from scnn_surgery.batch import parse_config
from scnn_surgery.cli.main import SUBCOMMANDS, cli
from scnn_surgery.cli.options import build_verb_options
from scnn_surgery.errors import UsageError
from scnn_surgery.options import InsertOptions, declared_fields

from .conftest import DATA, REPO_ROOT, RunCli

NET = str(DATA / "phases_inplace.prototxt")


def spellings(name: str) -> list[list[str]]:
    """Each option of a subcommand, as its flags (``["-o", "--output"]``)."""
    with click.Context(cli) as ctx:
        command = cli.get_command(ctx, name)
    assert command is not None
    return [
        param.opts
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden  # hidden: a former spelling
    ]


def readme_synopsis(command: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"```\nscnn-surgery {command} (.+?)```", readme, re.DOTALL)
    assert match, f"the README has a synopsis of {command}"
    return match.group(1)


def test_insert_and_batch_take_one_option_per_field() -> None:
    declared = {item.name for item, _ in declared_fields()}
    for name in ("insert", "batch"):
        with click.Context(cli) as ctx:
            command = cli.get_command(ctx, name)
        assert command is not None
        assert declared <= {param.name for param in command.params}


# What --help lists for a command appears in its README synopsis (insert's module options
# in generate's; batch's verb options in the verbs').
VERBS = ["insert", "splice", "strip", "remove", "upgrade", "rename", "retarget", "fold-bn",
         "export"]  # fmt: skip
DOCUMENTED_IN = {
    "insert": ["insert", "generate"],
    "batch": ["batch", "generate", *VERBS],
}


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_the_readme_synopses_list_every_flag(command: str) -> None:
    documented_in = DOCUMENTED_IN.get(command, [command])
    text = " ".join(readme_synopsis(name) for name in documented_in)
    missing = [
        flags
        for flags in spellings(command)
        if not any(re.search(rf"(?<![\w-]){flag}\b", text) for flag in flags)
    ]
    assert not missing, f"the README's synopsis of {command} lacks {sorted(missing)}"


def test_generate_needs_only_the_sizes(run_cli: RunCli) -> None:
    code, out, err = run_cli("generate", "--height", "2", "--width", "2", "--channel", "4")
    assert code == 0 and 'name: "Slice1"' in out and "k9" in err
    code, _, err = run_cli("generate", "--width", "2")
    assert code == 2 and "Missing option '--height'" in err


def test_a_bad_value_gets_the_message_a_config_file_gets(run_cli: RunCli) -> None:
    code, _, err = run_cli("insert", NET, "--kernel-width", "4")
    assert code == 2
    with pytest.raises(UsageError) as config:
        parse_config('[models."a"]\nkernel_width = 4\n', "c.toml")
    message = str(config.value).split("kernel_width ", 1)[1]
    assert message == "must be odd, got 4"
    assert err == (
        f"scnn-surgery: error: Invalid value for '--kernel-width': {message};"
        " see 'scnn-surgery insert --help'\n"
    )


def test_usage_errors_are_one_line_with_status_2(run_cli: RunCli) -> None:
    for args in (["insert"], ["nope"], ["--nope"], ["generate", "--height", "x", "--width", "2"]):
        code, out, err = run_cli(*args)
        assert code == 2 and out == "", args
        assert err.count("\n") == 1 and err.startswith("scnn-surgery: error: "), err


def test_repeated_shapes_become_one_mapping(run_cli: RunCli) -> None:
    # the last one counts: the first alone would contradict the file's batch of 1
    code, out, err = run_cli(
        "inspect", NET, "--shape", "data=2,3,8,10", "--shape", "data=?,3,8,?", "--json"
    )
    assert code == 0, err
    assert '"data": [\n      1,\n      3,\n      8,\n      10\n    ]' in out
    code, out, _ = run_cli("inspect", NET, "--shape", "data=2,3,8,10")
    assert code == 1 and "--shape data=2,3,8,10 contradicts 1x3x8x10" in out


def test_bad_shapes_name_the_form(run_cli: RunCli) -> None:
    code, _, err = run_cli("inspect", NET, "--shape", "data=1,x")
    assert code == 2 and "BLOB=N,C,H,W, got data=1,x" in err
    code, _, err = run_cli("inspect", NET, "--shape", "data=?,3,0,8")
    assert code == 2 and "got data=?,3,0,8;" in err  # as typed, not Python's None


def test_options_reach_insert_options_as_declared() -> None:
    defaults = {item.name: getattr(InsertOptions(), item.name) for item in fields(InsertOptions)}
    params = {
        **defaults,
        "after": "conv1",
        "channels": 4,
        "directions": "DU",
        "shapes": {"data": (1, 3, 8, 8)},
        "share_weights": False,
        "output": "ignored.prototxt",
    }
    assert build_verb_options(InsertOptions, params) == InsertOptions(
        after="conv1",
        channels=4,
        directions="DU",
        shapes={"data": (1, 3, 8, 8)},
        share_weights=False,
    )


def test_phase_is_spelled_in_any_case_everywhere(run_cli: RunCli) -> None:
    assert run_cli("inspect", NET, "--phase", "train")[0] == 0
    assert run_cli("check", NET, "--phase", "train", "--phase", "Test")[0] == 0
    code, _, err = run_cli("check", NET, "--phase", "VAL")
    assert code == 2 and "must be TRAIN or TEST, got 'VAL'" in err


@pytest.mark.parametrize("name", ["after", "top"])
def test_an_empty_name_is_refused_not_taken_as_absent(name: str, run_cli: RunCli) -> None:
    net = str(DATA / "phases_inplace.prototxt")
    code, out, err = run_cli("insert", net, f"--{name}", "", "--kernel-width", "3")
    assert (code, out) == (2, "")
    assert err == (
        f"scnn-surgery: error: Invalid value for '--{name}': must be a non-empty name, got '';"
        " see 'scnn-surgery insert --help'\n"
    )


def test_every_option_is_declared_in_an_options_module() -> None:
    """No ``click.option`` outside ``cli/options.py``: each option is declared once."""
    package = REPO_ROOT / "scnn_surgery"
    declaring = {package / "cli" / "options.py"}
    outside = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if path not in declaring and "click.option(" in path.read_text(encoding="utf-8")
    ]
    assert outside == []
