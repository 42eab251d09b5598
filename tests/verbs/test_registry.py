"""The registry: each verb is its module, its options class and one entry, and the
command line, batch and the library are made from them."""

from __future__ import annotations

from dataclasses import MISSING, Field
from typing import Any

import pytest

from scnn_surgery.cli.main import SUBCOMMANDS
from scnn_surgery.options import command_line_flag, declared_fields
from scnn_surgery.verbs import REGISTRY, command_help, options_class, verb_of_options, verb_spec

from ..conftest import RunCli


@pytest.mark.parametrize("verb", list(REGISTRY))
def test_each_verb_is_one_module_with_its_options(verb: str, run_cli: RunCli) -> None:
    spec = verb_spec(verb)
    assert spec.name == verb
    assert verb_of_options(options_class(verb)()) == verb
    assert SUBCOMMANDS[verb].summary == REGISTRY[verb].summary
    code, out, err = run_cli(verb, "--help")
    assert code == 0, err
    assert command_help(verb).split("\n", 1)[0] in " ".join(out.split())
    fields = list(declared_fields(options_class(verb)))
    for item, declared in fields:
        if not declared.positional:
            assert _flag(item) in out, (verb, item.name)
    code, out, _ = run_cli("batch", "--help")
    assert all(_flag(item) in out for item, _ in fields)  # batch takes every verb's options


def _flag(item: Field[Any]) -> str:
    declared = item.metadata["scnn_surgery.option"]
    default = item.default_factory() if item.default_factory is not MISSING else item.default
    return command_line_flag(item.name, declared, default)
