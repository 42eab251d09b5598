"""The insert options, declared once: kinds, their messages, and what is derived from them."""

from __future__ import annotations

import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import pytest

import scnn_surgery as ss
from scnn_surgery import surgery
from scnn_surgery.batch import CONFIG_KEYS, parse_config
from scnn_surgery.cli.options import build_verb_options, verb_options
from scnn_surgery.errors import UsageError
from scnn_surgery.options import (
    DIRECTIONS,
    NON_NEGATIVE_FLOAT,
    ODD_POSITIVE_INT,
    PHASE,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    PROTO_FILE,
    SHAPE,
    SHAPE_RULE,
    SHAPES,
    InsertOptions,
    OptionValueError,
    as_arguments,
    declaration,
    declared_fields,
)
from scnn_surgery.verbs import REGISTRY, options_class

from .conftest import REPO_ROOT

# --- kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (POSITIVE_INT, "46", 46),
        (ODD_POSITIVE_INT, "9", 9),
        (POSITIVE_FLOAT, "0.5", 0.5),
        (NON_NEGATIVE_FLOAT, "0", 0.0),
        (DIRECTIONS, " rl ", "LR"),
        (DIRECTIONS, "ULDR", "DULR"),
        (PHASE, "train", "TRAIN"),
        (SHAPE, "data=1,3,8,8", ("data", (1, 3, 8, 8))),
        (SHAPE, "a=b=2,3", ("a=b", (2, 3))),
    ],
)
def test_text_converts_as_the_typed_value_does(kind: Any, text: str, value: Any) -> None:
    assert kind.from_text(text) == value
    assert kind.check(value) == value


@pytest.mark.parametrize(
    ("kind", "text", "typed", "message"),
    [
        (POSITIVE_INT, "0", 0, "must be a positive integer, got 0"),
        (POSITIVE_INT, "-2", -2, "must be a positive integer, got -2"),
        (ODD_POSITIVE_INT, "8", 8, "must be odd, got 8"),
        (POSITIVE_FLOAT, "0", 0.0, "must be a finite number above 0, got 0.0"),
        (POSITIVE_FLOAT, "nan", math.nan, "must be a finite number above 0, got nan"),
        (NON_NEGATIVE_FLOAT, "-1", -1.0, "must be a finite number of at least 0, got -1.0"),
        (DIRECTIONS, "DD", "DD", "each at most once, got 'DD'"),
        (PHASE, "VAL", "VAL", "must be TRAIN or TEST, got 'VAL'"),
    ],
)
def test_command_line_and_config_values_get_the_same_message(
    kind: Any, text: str, typed: Any, message: str
) -> None:
    with pytest.raises(OptionValueError) as from_text:
        kind.from_text(text)
    with pytest.raises(OptionValueError) as from_value:
        kind.check(typed)
    assert message in str(from_text.value)
    assert str(from_text.value) == str(from_value.value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (POSITIVE_INT, True),
        (POSITIVE_INT, 4.0),
        (POSITIVE_INT, "7"),  # a config's string is not a number
        (POSITIVE_FLOAT, math.nan),
        (POSITIVE_FLOAT, math.inf),
        (NON_NEGATIVE_FLOAT, False),
        (DIRECTIONS, ""),
        (DIRECTIONS, "DUX"),
        (SHAPES, {"data": [1, 0]}),
        (SHAPES, {"data": []}),
        (SHAPES, {"data": "1,3"}),
        (SHAPES, [1, 2]),
    ],
)
def test_typed_values_are_checked_strictly(kind: Any, value: Any) -> None:
    with pytest.raises(OptionValueError):
        kind.check(value)


@pytest.mark.parametrize(
    "text", ["abc", "x=1,0", "=1,2", "x=1,a", "x=", "x=1,1_000", "x=1,\u0661\u0662", "x=1,012"]
)
def test_bad_shape_text_names_the_form(text: str) -> None:
    """Only a number as a prototxt writes it: ASCII digits, no 1_000 (Python's int() takes
    it), no other script's digits, no leading zero (protobuf reads 012 as octal 10)."""
    with pytest.raises(OptionValueError, match="BLOB=N,C,H,W"):
        SHAPE.from_text(text)


@pytest.mark.parametrize(
    ("kind", "text"),
    [(POSITIVE_INT, "1_0"), (POSITIVE_INT, "\u0661\u0662"), (POSITIVE_INT, "\uff11"),
     (POSITIVE_FLOAT, "1_0.5"), (POSITIVE_FLOAT, "\u0661.5")],
)  # fmt: skip
def test_numbers_are_ascii_digits_only(kind: Any, text: str) -> None:
    with pytest.raises(OptionValueError, match=f"got '{text}'"):
        kind.from_text(text)


def test_a_shape_rule_with_other_digits_is_refused_not_a_crash() -> None:
    with pytest.raises(OptionValueError, match="TYPE=RULE"):
        SHAPE_RULE.from_text("Foo=same:\u00b2")


def test_shapes_table_keeps_every_blob() -> None:
    assert SHAPES.check({"data": [1, 3, 8, 8], "label": (1, 1)}) == {
        "data": (1, 3, 8, 8),
        "label": (1, 1),
    }


def test_proto_file_must_exist(tmp_path: Path) -> None:
    proto = tmp_path / "fork.proto"
    proto.write_text("")
    assert PROTO_FILE.from_text(str(proto)) == str(proto)
    with pytest.raises(OptionValueError, match=r"must name an existing \.proto file"):
        PROTO_FILE.from_text(str(tmp_path))


# --- declarations ---------------------------------------------------------------------


def test_insert_options_is_one_class_under_every_name() -> None:
    assert ss.InsertOptions is surgery.InsertOptions is InsertOptions


def test_every_field_is_declared_and_its_default_passes_its_own_check() -> None:
    declared = list(declared_fields())
    assert [item.name for item, _ in declared] == [item.name for item in fields(InsertOptions)]
    defaults = InsertOptions()
    for item, how in declared:
        value = getattr(defaults, item.name)
        if value is not None:
            assert how.kind.check(value) == value, item.name


def test_module_options_are_the_scnn_spec_fields() -> None:
    module = {item.name for item, how in declared_fields() if how.module}
    spec_fields = {item.name for item in fields(ss.ScnnSpec)}
    assert module == spec_fields - {"bottom"}


def test_an_unknown_declaration_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        declaration("nope")


# --- batch config keys ----------------------------------------------------------------


def test_config_keys_are_the_fields_and_their_aliases() -> None:
    expected = {item.name: item.name for item, _ in declared_fields()}
    expected |= {alias: item.name for item, how in declared_fields() for alias in how.aliases}
    assert {key: spec.option for key, spec in CONFIG_KEYS.items()} == expected
    assert CONFIG_KEYS["channel"].option == "channels"


def test_the_readme_lists_every_config_key() -> None:
    """insert's keys with their aliases, then each other registered verb's, in order."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8").replace("\n", " ")
    match = re.search(r"Keys: (.+?)\. With (`--verb .+?)\. An unknown key", readme)
    assert match, "the README's batch section lists each verb's config keys"
    listed, others = match.groups()
    primary = re.findall(r"`(\w+)`", re.sub(r"\(or [^)]*\)", "", listed))
    aliases = re.findall(r"\(or `(\w+)`\)", listed)
    assert primary == [item.name for item, _ in declared_fields()]
    assert sorted(aliases) == sorted(a for _, how in declared_fields() for a in how.aliases)
    per_verb = re.findall(r"`--verb ([\w-]+)` (?:the keys are )?([\w-]+)'s \((.+?)\)", others)
    assert [verb for verb, _, _ in per_verb] == [verb for verb in REGISTRY if verb != "insert"]
    for verb, owner, keys in per_verb:
        expected = [item.name for item, _ in declared_fields(options_class(verb))]
        expected += ["weights"] if REGISTRY[verb].needs_weights else []
        assert owner == verb and re.findall(r"`(\w+)`", keys) == expected, verb


def test_a_config_value_is_refused_with_the_option_message() -> None:
    with pytest.raises(UsageError) as caught:
        parse_config('[models."a"]\nkernel-width = 4\n', "my.toml")
    assert str(caught.value) == 'my.toml: [models."a"]: kernel-width must be odd, got 4'


def test_a_refused_config_bool_is_spelled_as_toml_spells_it() -> None:
    with pytest.raises(UsageError) as caught:
        parse_config('[models."a"]\nheight = true\n', "my.toml")
    assert str(caught.value) == 'my.toml: [models."a"]: height must be a positive integer, got true'


def test_a_config_shape_table_becomes_the_option_value() -> None:
    config = parse_config('[models."**"]\nshapes = { data = [1, 3, 8, 8] }\nchannel = 16\n')
    assert config.rules[0].settings == {"shapes": {"data": (1, 3, 8, 8)}, "channels": 16}


# --- the options as a command line ----------------------------------------------------


def test_defaults_need_no_arguments() -> None:
    assert as_arguments(InsertOptions()) == []


def test_options_spelled_as_typed() -> None:
    options = InsertOptions(
        after="fc7", channels=64, kernel_width=5, share_weights=False, upgrade=True,
        init_std=0.25, shapes={"data": (1, 3, None, None)}, phase="TEST",
    )
    assert as_arguments(options) == [
        "--after", "fc7", "--channel", "64", "--kernel-width", "5", "--init-std", "0.25",
        "--no-share-weights", "--phase", "TEST", "--shape", "data=1,3,?,?", "--upgrade",
    ]


def test_arguments_parse_back_to_the_options() -> None:
    """What as_arguments writes, insert reads as the same options."""
    seen: list[InsertOptions] = []

    @verb_options(InsertOptions)
    def command(**params: Any) -> None:
        seen.append(build_verb_options(InsertOptions, params))

    options = InsertOptions(after="fc7", directions="DU", lr_mult=2.0, share_weights=False,
                            shapes={"data": (1, 3, 8, 8)}, reduce_channels=32)
    click.command()(command).main(as_arguments(options), standalone_mode=False)
    assert seen == [options]
