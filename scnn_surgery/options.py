"""The insert and module options, each declared once.

Every field of :class:`InsertOptions` carries its declaration in its metadata: the kind of
value it takes (with the one converter for that kind), its help, its command-line flag when
that is not ``--field-name``, and the other spellings a batch config accepts. The click options
of ``insert``, ``generate`` and ``batch`` (``scnn_surgery.cli.options``), batch's TOML keys
(``scnn_surgery.batch``) and :meth:`ScnnSpec.validate` are all derived from these.

A converter raises :class:`OptionValueError` with a phrase that follows the option's name
(``must be a positive integer, got 0``), so the command line, a config file and a library
caller are told the same thing.

The command line imports this module to parse its arguments, so it imports nothing heavy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar

if TYPE_CHECKING:
    pass

PHASES = ("TRAIN", "TEST")  # Caffe's Phase enum
TARGETS = ("opencv", "vitis")  # deployment targets whose refusals ``check --target`` knows
ALL_DIRECTIONS = "DULR"  # the message-passing directions, in the order the passes run

T = TypeVar("T")


class OptionValueError(ValueError):
    """A value an option refuses. The message follows the option's name:
    ``height must be a positive integer, got 0``."""


# --- kinds of values ------------------------------------------------------------------


def shown(value: object) -> str:
    """A refused value as its user wrote it: a bool as TOML and protobuf spell it (a config's
    ``height = true``), anything else as Python shows it (``'VAL'``, ``0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)



def _as_is(text: str) -> object:
    return text


# Numbers as a prototxt writes them: ASCII digits only (Python's int() would also take
# 1_000 and other scripts' digits), and no leading zero (protobuf reads 012 as octal).
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)


def _digits(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+", text))


def _int_text(text: str) -> object:
    """Command-line text as an integer, or unchanged so the check names what was given."""
    return int(text) if _INTEGER.fullmatch(text) else text


def _float_text(text: str) -> object:
    return float(text) if _FLOAT.fullmatch(text) else text


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of option value and its one converter.

    ``check`` takes a typed value (a config file's, a library caller's, a parsed argument) and
    returns it in canonical form or raises :class:`OptionValueError`; ``parse`` first turns
    command-line text into such a value.
    """

    metavar: str
    check: Callable[[object], T]
    parse: Callable[[str], object] = _as_is

    def from_text(self, text: str) -> T:
        return self.check(self.parse(text))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise OptionValueError(f"must be a string, got {shown(value)}")
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise OptionValueError(f"must be a non-empty name, got {shown(value)}")
    return value


def _is_positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_int(value: object) -> int:
    if not _is_positive_int(value):
        raise OptionValueError(f"must be a positive integer, got {shown(value)}")
    return value


def _odd_positive_int(value: object) -> int:
    number = _positive_int(value)
    if number % 2 == 0:
        raise OptionValueError(f"must be odd, got {number}")
    return number


def _number(value: object, requirement: str, holds: Callable[[float], bool]) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not holds(value)
    ):
        raise OptionValueError(f"must be a finite number {requirement}, got {shown(value)}")
    return float(value)


def _positive_float(value: object) -> float:
    return _number(value, "above 0", lambda x: x > 0)


def _non_negative_float(value: object) -> float:
    return _number(value, "of at least 0", lambda x: x >= 0)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise OptionValueError(f"must be true or false, got {shown(value)}")
    return value


def _directions(value: object) -> str:
    """Any non-empty set of D, U, L, R, in any order and case, spelled in DULR order: the
    passes always run down, up, right, left, so only the set of letters matters."""
    letters = value.strip().upper() if isinstance(value, str) else ""
    if not letters or len(set(letters)) != len(letters) or set(letters) - set(ALL_DIRECTIONS):
        raise OptionValueError(
            "must be a non-empty set of the letters D, U, L, R, each at most once,"
            f" got {shown(value)}"
        )
    return "".join(d for d in ALL_DIRECTIONS if d in letters)


def _phase(value: object) -> str:
    phase = value.upper() if isinstance(value, str) else None
    if phase not in PHASES:
        raise OptionValueError(f"must be {' or '.join(PHASES)}, got {shown(value)}")
    return phase


_SHAPE_RULE = (
    "must give each blob one or more positive integer dimensions (? for one the file gives),"
    " BLOB=N,C,H,W"
)
LEFT_TO_FILE = "?"


def _blob_shape(blob: object, dims: object) -> tuple[str, tuple[int | None, ...]]:
    """One blob's shape: a name and one or more positive dimensions, ``None`` (written
    ``?``) for a dimension the file itself gives."""
    if isinstance(dims, list | tuple):
        dims = tuple(None if d == LEFT_TO_FILE or d is None else d for d in dims)
    if (
        isinstance(blob, str)
        and blob
        and isinstance(dims, tuple)
        and dims
        and all(d is None or _is_positive_int(d) for d in dims)
    ):
        return blob, dims
    shown = (
        ",".join(LEFT_TO_FILE if d is None else str(d) for d in dims)
        if isinstance(dims, list | tuple)
        else repr(dims)
    )
    raise OptionValueError(f"{_SHAPE_RULE}, got {blob}={shown}")


def _shape_text(text: str) -> object:
    """``BLOB=N,C,H,W`` as a (blob, dims) pair, or unchanged when it is not that form."""
    blob, sep, dims = text.rpartition("=")
    if not sep:
        return text
    return blob, tuple(
        LEFT_TO_FILE if d.strip() == LEFT_TO_FILE else _int_text(d.strip()) for d in dims.split(",")
    )


def _one_shape(value: object) -> tuple[str, tuple[int | None, ...]]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise OptionValueError(f"{_SHAPE_RULE}, got {shown(value)}")
    return _blob_shape(*value)


def _shapes(value: object) -> dict[str, tuple[int | None, ...]]:
    if not isinstance(value, Mapping):
        raise OptionValueError(f"{_SHAPE_RULE}, got {shown(value)}")
    return dict(_blob_shape(blob, dims) for blob, dims in value.items())


def _pair_text(text: str) -> object:
    """``A=B`` as a pair, or unchanged when it is not that form."""
    left, sep, right = text.partition("=")
    return (left, right) if sep else text


def _name_pairs(metavar: str, rule: str) -> tuple[Kind[tuple[str, str]], Kind[dict[str, str]]]:
    """The kinds of one ``A=B`` pair of names (a command-line argument) and of a table of
    them (a config's), refused with ``rule``."""

    def pair(left: object, right: object) -> tuple[str, str]:
        if isinstance(left, str) and left and isinstance(right, str) and right:
            return left, right
        raise OptionValueError(f"{rule}, got {left}={right}")

    def one(value: object) -> tuple[str, str]:
        if not isinstance(value, tuple) or len(value) != 2:
            raise OptionValueError(f"{rule}, got {shown(value)}")
        return pair(*value)

    def table(value: object) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise OptionValueError(f"{rule}, got {shown(value)}")
        return dict(pair(k, v) for k, v in value.items())

    return Kind(metavar, one, _pair_text), Kind(metavar, table)


_RULE_RULE = (
    "must give a layer type and how it sizes its tops, TYPE=RULE, RULE one of same, same:K,"
    " concat:AXIS, flatten or N,C,H,W (? for bottom 0's dimension)"
)


def shape_rule_text(rule: object) -> str | None:
    """``rule`` in canonical spelling if it is a RULE of ``--shape-rule``, else None:
    ``same``, ``same:K`` (bottom K), ``concat:AXIS``, ``flatten``, or dimensions with
    ``?`` for bottom 0's."""
    if not isinstance(rule, str):
        return None
    text = rule.strip().replace(" ", "")
    name, sep, arg = text.partition(":")
    if name in ("same", "flatten") and not sep:
        return name
    if name == "same" and sep and _digits(arg):
        return f"same:{int(arg)}"
    if name == "concat" and sep and _digits(arg.removeprefix("-")):
        return f"concat:{int(arg)}"
    dims = text.split(",")
    if all(d == LEFT_TO_FILE or (_digits(d) and int(d) > 0) for d in dims):
        return ",".join(d if d == LEFT_TO_FILE else str(int(d)) for d in dims)
    return None


def _type_rule(layer_type: object, rule: object) -> tuple[str, str]:
    canonical = shape_rule_text(rule)
    if isinstance(layer_type, str) and layer_type and canonical is not None:
        return layer_type, canonical
    raise OptionValueError(f"{_RULE_RULE}, got {layer_type}={rule}")


def _one_type_rule(value: object) -> tuple[str, str]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise OptionValueError(f"{_RULE_RULE}, got {shown(value)}")
    return _type_rule(*value)


def _type_rules(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise OptionValueError(f"{_RULE_RULE}, got {shown(value)}")
    return dict(_type_rule(k, v) for k, v in value.items())


def _proto_file(value: object) -> str:
    if not isinstance(value, str) or not Path(value).is_file():
        raise OptionValueError(f"must name an existing .proto file, got {shown(value)}")
    return value


def _names(value: object) -> tuple[str, ...]:
    """Layer names as given: an empty one is the verb's to refuse, naming the file (an
    unnamed layer is '#N')."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise OptionValueError(f"must be a list of names, got {shown(value)}")
    return tuple(_text(item) for item in value)


TEXT = Kind("TEXT", _text)
NAME = Kind("NAME", _name)
POSITIVE_INT = Kind("N", _positive_int, _int_text)
ODD_POSITIVE_INT = Kind("K", _odd_positive_int, _int_text)
POSITIVE_FLOAT = Kind("X", _positive_float, _float_text)
NON_NEGATIVE_FLOAT = Kind("X", _non_negative_float, _float_text)
BOOL = Kind("BOOL", _bool)
DIRECTIONS = Kind("DIRS", _directions)
PHASE = Kind("TRAIN|TEST", _phase)
SHAPE = Kind("BLOB=N,C,H,W", _one_shape, _shape_text)  # one --shape argument
SHAPES = Kind("BLOB=N,C,H,W", _shapes)  # all of them, a config's table
PROTO_FILE = Kind("FILE", _proto_file)
SHAPE_RULE = Kind("TYPE=RULE", _one_type_rule, _pair_text)  # one --shape-rule argument
SHAPE_RULES = Kind("TYPE=RULE", _type_rules)  # all of them, a config's table
# One --bind FRAG_BLOB=NET_BLOB (one rename OLD=NEW), and all of them, a config's table.
BIND, BINDS = _name_pairs(
    "FRAG_BLOB=NET_BLOB",
    "must map a blob the fragment reads to a blob of the net, FRAG_BLOB=NET_BLOB",
)
RENAME, RENAMES = _name_pairs("OLD=NEW", "must rename a layer to a new name, OLD=NEW")
NAMES = Kind("NAME", _names)  # several layer names, a config's list
LAYER_NAME = Kind("NAME", _text)  # one of them, as given


# --- declarations ---------------------------------------------------------------------

_DECLARATION = "scnn_surgery.option"


@dataclass(frozen=True)
class Declaration:
    """How one option is spelled, explained and checked."""

    kind: Kind[Any]
    help: str
    flag: str | None = None  # the command-line flag, when not --field-name
    aliases: tuple[str, ...] = ()  # other config-file keys for it
    module: bool = False  # shapes the module itself, so ``generate`` takes it too
    show_default: bool = False
    # Given as the command's arguments (``rename OLD=NEW...``); batch takes it as ``flag``.
    positional: bool = False
    # A former flag still accepted, with a warning, for one release after a rename.
    old_flag: str | None = None
    # The verb cannot run without a value (``retarget --input``); positional ones are too.
    # batch asks every model for one, from the command line or a config table.
    required: bool = False

    @property
    def needed(self) -> bool:
        return self.required or self.positional


def declare(
    kind: Kind[Any],
    help: str,
    *,
    flag: str | None = None,
    aliases: tuple[str, ...] = (),
    module: bool = False,
    show_default: bool = False,
    positional: bool = False,
    old_flag: str | None = None,
    required: bool = False,
) -> Mapping[str, Declaration]:
    """Field metadata declaring an option."""
    return {
        _DECLARATION: Declaration(
            kind, help, flag, aliases, module, show_default, positional, old_flag, required
        )
    }


# Options several verbs take, declared once: each class gets its own field from these.


def _phase_field() -> Any:
    return field(
        default=None, metadata=declare(PHASE, "Use this phase's view of a train/test net.")
    )


def _shapes_field() -> Any:
    return field(
        default_factory=dict,
        metadata=declare(
            SHAPES,
            "Shape of a blob the file does not state; ? keeps a dimension it gives"
            " (repeatable).",
            flag="--shape",
        ),
    )


def _shape_rules_field() -> Any:
    return field(
        default_factory=dict,
        metadata=declare(
            SHAPE_RULES,
            "How layers of a type without a shape rule size their tops: same (as bottom 0),"
            " same:K (as bottom K), concat:AXIS, flatten, or N,C,H,W with ? for bottom 0's"
            " dimension (repeatable).",
            flag="--shape-rule",
        ),
    )


def _proto_field() -> Any:
    return field(
        default=None,
        metadata=declare(
            PROTO_FILE,
            "Your fork's caffe.proto: read the net's fields and caffemodels with it"
            " [default: the dialect the net's fields and layer types point to].",
        ),
    )


@dataclass(frozen=True)
class InsertOptions:
    """What to insert and where; ``None`` sizes are inferred from the net."""

    after: str | None = field(
        default=None,
        metadata=declare(
            NAME,
            "Layer or blob after which the module goes [default: the top hidden layer,"
            " chosen automatically].",
        ),
    )
    height: int | None = field(
        default=None,
        metadata=declare(POSITIVE_INT, "Feature-map height H (rows).", module=True),
    )
    width: int | None = field(
        default=None,
        metadata=declare(POSITIVE_INT, "Feature-map width W (columns).", module=True),
    )
    channels: int | None = field(
        default=None,
        metadata=declare(
            POSITIVE_INT,
            "Channels C of the feature map [default: inferred from the net, else 128].",
            flag="--channel",
            aliases=("channel",),
            module=True,
        ),
    )
    kernel_width: int = field(
        default=9,
        metadata=declare(
            ODD_POSITIVE_INT,
            "Message-passing kernel width k (odd).",
            module=True,
            show_default=True,
        ),
    )
    directions: str = field(
        default=ALL_DIRECTIONS,
        metadata=declare(
            DIRECTIONS,
            "Directions to pass messages in, a subset of DULR.",
            module=True,
            show_default=True,
        ),
    )
    prefix: str | None = field(
        default=None,
        metadata=declare(TEXT, "Namespace every module name with this prefix.", module=True),
    )
    top: str | None = field(
        default=None, metadata=declare(NAME, "Name of the module's output blob.", module=True)
    )
    init_std: float | None = field(
        default=None,
        metadata=declare(
            POSITIVE_FLOAT, "Gaussian filler std [default: sqrt(2/(k*C*5))].", module=True
        ),
    )
    share_weights: bool = field(
        default=True,
        metadata=declare(BOOL, "Give every row/column its own weights.", module=True),
    )
    lr_mult: float = field(
        default=1.0,
        metadata=declare(
            NON_NEGATIVE_FLOAT, "lr_mult of the module's weights.", module=True, show_default=True
        ),
    )
    phase: str | None = _phase_field()
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    upgrade: bool = field(
        default=False,
        metadata=declare(BOOL, "Rewrite a V0/V1 net as V2 first; untouched text may change."),
    )
    reduce_channels: int | None = field(
        default=None,
        metadata=declare(
            POSITIVE_INT, "First map the blob to N channels with a 1x1 Convolution + ReLU."
        ),
    )
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class SpliceOptions:
    """Where a fragment goes, what it reads and what reads it."""

    after: str | None = field(
        default=None,
        metadata=declare(
            NAME,
            "Layer or blob after which the fragment goes; its one input reads it"
            " [default: the top hidden layer, chosen as insert chooses].",
        ),
    )
    binds: Mapping[str, str] = field(
        default_factory=dict,
        metadata=declare(
            BINDS,
            "Read the net's blob NET_BLOB where the fragment reads FRAG_BLOB (repeatable;"
            " needed for each input when the fragment has several).",
            flag="--bind",
        ),
    )
    output: str | None = field(
        default=None,
        metadata=declare(
            NAME,
            "The fragment's blob the rewired layers read [default: its one output].",
            flag="--fragment-output",
            aliases=("fragment_output",),
            # --output was this option's name until 0.x; it means the file written elsewhere.
            old_flag="--output",
        ),
    )
    branch: bool = field(
        default=False,
        metadata=declare(BOOL, "Add the fragment beside the net (a new head): rewire nothing."),
    )
    replace: bool = field(
        default=False,
        metadata=declare(
            BOOL,
            "Let the layers reading the --after blob read the fragment's output though"
            " --bind makes the fragment read other blobs (refused without it).",
        ),
    )
    prefix: str | None = field(
        default=None,
        metadata=declare(
            TEXT, "Namespace the fragment's names [default: only when they collide]."
        ),
    )
    phase: str | None = _phase_field()
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class StripOptions:
    """Which module to take out."""

    prefix: str | None = field(
        default=None,
        metadata=declare(
            TEXT, "The prefix of the module to strip, when the net has several."
        ),
    )
    phase: str | None = _phase_field()
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class RemoveOptions:
    """Which layers to take out."""

    layers: tuple[str, ...] = field(
        default=(),
        metadata=declare(
            NAMES,
            "A layer to remove ('#N' names the N-th layer of the file).",
            flag="--layer",
            positional=True,
        ),
    )
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class UpgradeOptions:
    """Upgrade has nothing to choose; the result is checked as these say."""

    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class RenameOptions:
    """Which layers get which names."""

    renames: Mapping[str, str] = field(
        default_factory=dict,
        metadata=declare(
            RENAMES,
            "Rename layer OLD (and the blob of its name it writes) to NEW.",
            flag="--rename",
            positional=True,
        ),
    )
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class RetargetOptions:
    """The input sizes to change to, and what may change with them."""

    inputs: Mapping[str, Sequence[int | None]] = field(
        default_factory=dict,
        metadata=declare(
            SHAPES,
            "New size of an input the file states (Input layer, input_dim, input_shape);"
            " ? keeps a dimension (repeatable).",
            flag="--input",
            required=True,
        ),
    )
    reshape_weights: bool = field(
        default=False,
        metadata=declare(
            BOOL, "Let layers whose weights change shape through (you will retrain them)."
        ),
    )
    rescale: bool = field(
        default=False,
        metadata=declare(
            BOOL,
            "Scale sizes stated for the old map (Interp height/width, Upsample"
            " upsample_h/upsample_w, a pooling window over the whole map or a pyramid's bins,"
            " PriorBox img_size and step).",
        ),
    )
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class FoldBnOptions:
    """Which BatchNorm layers to fold."""

    only: tuple[str, ...] = field(
        default=(),
        metadata=declare(
            NAMES,
            "Fold only this BatchNorm (or its Scale, or the layer it follows); repeatable.",
            flag="--only",
        ),
    )
    phase: str | None = _phase_field()
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


@dataclass(frozen=True)
class ExportOptions:
    """How ``export`` writes the ONNX model."""

    opset: int | None = field(
        default=None,
        metadata=declare(
            POSITIVE_INT, "ONNX opset to write [default: the lowest the graph needs, 13]."
        ),
    )
    dynamic_batch: bool = field(
        default=False,
        metadata=declare(BOOL, "Leave the batch size free (the inputs' first dimension)."),
    )
    external_data: bool = field(
        default=False,
        metadata=declare(
            BOOL,
            "Write the weights to OUT.onnx.data beside the model (ONNX external data;"
            " automatic past protobuf's 2 GiB).",
        ),
    )
    phase: str | None = _phase_field()
    shapes: Mapping[str, Sequence[int | None]] = _shapes_field()
    shape_rules: Mapping[str, str] = _shape_rules_field()
    proto: str | None = _proto_field()


# The blob generate's module reads; insert finds it itself, so it is no InsertOptions field.
BOTTOM = Declaration(NAME, "Blob the module reads.", show_default=True)

OptionsClass = type[Any]  # a verb's options class: a frozen dataclass of declared fields


def declared_fields(
    options: OptionsClass = InsertOptions,
) -> Iterator[tuple[Field[Any], Declaration]]:
    """Every option of ``options`` (a verb's options class) with its declaration, in order."""
    for item in fields(options):
        yield item, item.metadata[_DECLARATION]


def declaration(name: str, options: OptionsClass = InsertOptions) -> Declaration:
    """The declaration of the field ``name`` of ``options``."""
    for item, declared in declared_fields(options):
        if item.name == name:
            return declared
    raise KeyError(name)


def command_line_flag(name: str, declared: Declaration, default: object) -> str:
    """How the option is spelled on the command line: its own flag, or ``--field-name``."""
    if declared.flag is not None:
        return declared.flag
    dashed = name.replace("_", "-")
    if declared.kind is BOOL and default is True:
        return f"--no-{dashed}"  # a flag can only switch a default off
    return f"--{dashed}"


def _argument_text(value: object) -> str:
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def as_arguments(options: Any) -> list[str]:
    """The command-line arguments that ask for ``options``: every option not at its default."""
    arguments: list[str] = []
    for item, declared in declared_fields(type(options)):
        value = getattr(options, item.name)
        default = item.default_factory() if item.default_factory is not MISSING else item.default
        if value == default:
            continue
        flag = command_line_flag(item.name, declared, default)
        if declared.kind is BOOL:
            arguments.append(flag)
        elif declared.kind is SHAPES:
            for blob, dims in value.items():
                shown = ",".join(LEFT_TO_FILE if d is None else str(d) for d in dims)
                arguments += [flag, f"{blob}={shown}"]
        elif declared.kind in (BINDS, RENAMES, SHAPE_RULES):
            for inner, outer in value.items():
                arguments += [flag, f"{inner}={outer}"]
        elif declared.kind is NAMES:
            for name in value:
                arguments += [flag, name]
        else:
            arguments += [flag, _argument_text(value)]
    return arguments


def check_value(what: str, kind: Kind[T], value: object) -> T:
    """``value`` converted by ``kind``; a refusal names ``what`` first."""
    try:
        return kind.check(value)
    except OptionValueError as exc:
        raise OptionValueError(f"{what} {exc}") from None


# --- phases ---------------------------------------------------------------------------


