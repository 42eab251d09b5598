"""Click options derived from the declarations in :mod:`scnn_surgery.options`.

Each option is declared once, on its :class:`~scnn_surgery.options.InsertOptions` field; this
module only spells those declarations as click options, so ``insert``, ``generate``, ``batch``
and the other commands taking ``--phase``, ``--shape`` or ``--proto`` agree with each other and
with batch's config keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field
from typing import Any, TypeVar

import click

from ..errors import UsageError
from ..options import (
    BIND,
    BINDS,
    BOOL,
    BOTTOM,
    LAYER_NAME,
    NAMES,
    PHASE,
    RENAME,
    RENAMES,
    SHAPE,
    SHAPE_RULE,
    SHAPE_RULES,
    SHAPES,
    TARGETS,
    Declaration,
    Kind,
    OptionsClass,
    OptionValueError,
    command_line_flag,
    declaration,
    declared_fields,
)

F = TypeVar("F", bound=Callable[..., Any])


class KindType(click.ParamType[Any]):
    """A declared kind of value as a click type: the kind's own converter and messages."""

    def __init__(self, kind: Kind[Any]) -> None:
        self.kind = kind
        self.name = kind.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.kind.from_text(value) if isinstance(value, str) else self.kind.check(value)
        except OptionValueError as exc:
            self.fail(str(exc), param, ctx)


def stack(decorators: Iterable[Callable[[F], F]]) -> Callable[[F], F]:
    ordered = list(decorators)

    def apply(func: F) -> F:
        for decorator in reversed(ordered):
            func = decorator(func)
        return func

    return apply


def _as_dict(
    _ctx: click.Context, _param: click.Parameter, value: tuple[tuple[str, Any], ...]
) -> dict[str, Any]:
    """The pairs of a repeatable option where a later one refines an earlier (--shape)."""
    return dict(value)


def _as_unique_dict(
    _ctx: click.Context, param: click.Parameter, value: tuple[tuple[str, Any], ...]
) -> dict[str, Any]:
    """The pairs of a repeatable option whose keys name one thing each (--bind): a key
    given twice would let the last one win silently, so two values for one key are
    refused."""
    pairs: dict[str, Any] = {}
    for key, given in value:
        if key in pairs and pairs[key] != given:
            flag = param.opts[0]
            raise click.BadParameter(
                f"'{key}' is given twice ({_pair_text(key, pairs[key])} and"
                f" {_pair_text(key, given)}); give {flag} once for each",
                param=param,
            )
        pairs[key] = given
    return pairs


def _pair_text(key: str, value: Any) -> str:
    if isinstance(value, (tuple, list)):
        value = ",".join("?" if v is None else str(v) for v in value)
    return f"{key}={value}"




# A table-valued declaration is given as a repeatable option, one pair (or name) each.
_ONE_OF: dict[Kind[Any], Kind[Any]] = {
    SHAPES: SHAPE, BINDS: BIND, RENAMES: RENAME, NAMES: LAYER_NAME, SHAPE_RULES: SHAPE_RULE,
}  # fmt: skip

# Parameters every verb command has; an option field of one of these names reaches the
# command under another keyword (splice's --output, say).
RESERVED = frozenset({"model", "output", "in_place", "weights", "weights_out", "seed"})


def option_keyword(name: str) -> str:
    """The keyword a command receives the option field ``name`` as."""
    return f"option_{name}" if name in RESERVED else name


def _as_tuple(
    _ctx: click.Context, _param: click.Parameter, value: tuple[Any, ...]
) -> tuple[Any, ...]:
    return tuple(value)


# The shape fields where a later pair refines an earlier (--shape); retarget's --input
# states the one new size of each input, so it is refused twice like any other key.
_REFINED = frozenset({"shapes"})


def _collected(kind: Kind[Any], name: str) -> Callable[..., Any]:
    """How the values of a repeatable option (or arguments) become the field's value: a
    later --shape refines an earlier one; a key given twice elsewhere is refused."""
    if kind is NAMES:
        return _as_tuple
    return _as_dict if kind is SHAPES and name in _REFINED else _as_unique_dict


def positional_argument(name: str, declared: Declaration) -> Callable[[F], F]:
    """A field given as the command's arguments: one or more, ``OLD=NEW...``."""
    one = _ONE_OF[declared.kind]
    shown = name.upper() if declared.kind is NAMES else one.metavar  # LAYERS..., OLD=NEW...
    return click.argument(
        option_keyword(name), nargs=-1, required=True, type=KindType(one),
        metavar=f"{shown}...", callback=_collected(declared.kind, name),
    )  # fmt: skip


def declared_option(
    name: str,
    declared: Declaration,
    default: object = None,
    *,
    required: bool = False,
    help: str | None = None,
) -> Callable[[F], F]:
    """The click option for one declaration; its value reaches the command as ``name``."""
    flag = command_line_flag(name, declared, default)
    text = declared.help if help is None else help
    if declared.kind is BOOL:
        return click.option(
            flag, name, is_flag=True, default=default, flag_value=not default, help=text
        )
    one = _ONE_OF.get(declared.kind)
    if one is not None:  # repeatable, one BLOB=N,C,H,W (or FRAG=NET, or NAME) each
        return click.option(
            flag, name, type=KindType(one), metavar=one.metavar, multiple=True,
            callback=_collected(declared.kind, name), help=text,
        )  # fmt: skip
    # No default at all, rather than default=None: click counts None as a value given.
    defaults: dict[str, Any] = {} if default is None else {"default": default}
    option = click.option(
        flag,
        name,
        type=KindType(declared.kind),
        metavar=declared.kind.metavar,
        required=required,
        show_default=declared.show_default,
        help=text,
        callback=None if declared.old_flag is None else _or_old_spelling(name),
        **defaults,
    )
    if declared.old_flag is None:
        return option
    return stack([option, _old_spelling(name, flag, declared)])


OLD_SPELLING = "scnn_surgery.old_spelling"


def old_spellings(ctx: click.Context) -> dict[str, str]:
    """The options given by a former flag: field name to that flag."""
    given: dict[str, str] = ctx.meta.setdefault(OLD_SPELLING, {})
    return given


def _both_spellings(flag: str, old: str) -> click.UsageError:
    return click.UsageError(f"{old} is the former name of {flag}; give only {flag}")


def _or_old_spelling(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """The new flag's value, or else the one given by the old flag (whichever click
    processes first, the other one sees it)."""

    def merged(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        old = ctx.meta.get(f"{OLD_SPELLING}:{name}")
        if old is None:
            return value
        if value is not None:
            raise _both_spellings(param.opts[0], old_spellings(ctx)[name])
        return old

    return merged


def _old_spelling(name: str, flag: str, declared: Declaration) -> Callable[[F], F]:
    """The former flag: hidden from --help, still taken, with a warning naming the new."""
    old = declared.old_flag
    assert old is not None

    def remember(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        if ctx.params.get(name) is not None:
            raise _both_spellings(flag, old)
        click.echo(
            f"scnn-surgery: warning: {old} is deprecated here and will be removed in the next"
            f" release; it is now {flag}",
            err=True,
        )
        ctx.meta[f"{OLD_SPELLING}:{name}"] = value
        old_spellings(ctx)[name] = old

    return click.option(
        old,
        f"{name}__old_spelling",
        type=KindType(declared.kind),
        metavar=declared.kind.metavar,
        hidden=True,
        expose_value=False,
        callback=remember,
    )


def _default(item: Field[Any]) -> object:
    return None if item.default is MISSING else item.default


def insert_option(name: str, *, help: str | None = None) -> Callable[[F], F]:
    """One :class:`InsertOptions` field's option, for commands that take only it."""
    declared = declaration(name)
    default = next(_default(item) for item, _ in declared_fields() if item.name == name)
    return declared_option(name, declared, default, help=help)


def module_options(*, required: Iterable[str], bottom: str) -> Callable[[F], F]:
    """The options that shape the module itself, then ``--bottom`` (default ``bottom``):
    what ``generate`` takes."""
    needed = set(required)
    return stack(
        [
            *(
                declared_option(item.name, declared, _default(item), required=item.name in needed)
                for item, declared in declared_fields()
                if declared.module
            ),
            declared_option("bottom", BOTTOM, bottom),
        ]
    )


def output_option(
    long_flag: bool = True,
    *,
    required: bool = False,
    help: str = "Write here instead of standard output.",
) -> Callable[[F], F]:
    """``-o FILE`` (also ``--output``, unless a verb uses that name for something else)."""
    flags = ("-o", "--output") if long_flag else ("-o",)
    # No default=None: click counts an explicit None as a value given, so a required -o
    # left out would reach the command as None instead of being a usage error.
    return click.option(
        *flags,
        "output",
        type=click.Path(dir_okay=False, allow_dash=True),
        required=required,
        help=help,
    )


def output_options(long_flag: bool = True) -> Callable[[F], F]:
    """Where a verb writes the net it made: ``-o/--output`` (default: standard output) or
    ``--in-place``, which replaces MODEL; the command gets ``output`` and ``in_place``, and
    :func:`scnn_surgery.cli.output.destination` refuses the two together. ``long_flag``
    False leaves ``--output`` to the verb (splice's names a fragment blob)."""
    return stack(
        [
            output_option(long_flag),
            click.option(
                "--in-place",
                "in_place",
                is_flag=True,
                help="Replace MODEL with the result: atomically, only once it passed check,"
                " keeping MODEL's permissions (and a symbolic link to it a link).",
            ),
        ]
    )


def weights_options(*, new_layers: str) -> Callable[[F], F]:
    """``--weights``, ``--weights-out`` and ``--seed``: the caffemodel a verb carries over
    to its net; ``new_layers`` says where the blobs of layers without any come from."""
    return stack(
        [
            click.option(
                "--weights",
                # a missing file is refused when read (exit 1), as a missing MODEL is
                type=click.Path(dir_okay=False),
                default=None,
                help="MODEL's .caffemodel; every layer keeps its blobs (needs --weights-out).",
            ),
            click.option(
                "--weights-out",
                type=click.Path(dir_okay=False),
                default=None,
                help=f"Write the new net's .caffemodel here; {new_layers}.",
            ),
            seed_option(),
        ]
    )


def seed_option() -> Callable[[F], F]:
    return click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Seed for the values drawn from fillers (0 or more).",
    )


def read_weights_options(default: str) -> Callable[[F], F]:
    """``--weights`` a verb reads itself (export's; ``default`` says what it uses
    without) and ``--seed``."""
    return stack(
        [
            click.option(
                "--weights",
                # a missing file is refused when read (exit 1), as a missing MODEL is
                type=click.Path(dir_okay=False),
                default=None,
                help=f"MODEL's .caffemodel [default: {default}].",
            ),
            seed_option(),
        ]
    )


def check_weights_options(weights: str | None, weights_out: str | None) -> None:
    """What ``--weights`` and ``--weights-out`` refuse before the paths are compared."""
    if weights is not None and weights_out is None:
        raise UsageError("--weights needs --weights-out, the caffemodel to write")
    if weights_out == "-":
        raise UsageError("--weights-out -: a caffemodel is binary; give it a file")


def verb_options(
    options: OptionsClass, *, skip: Collection[str] = (), arguments: bool = True
) -> Callable[[F], F]:
    """Every option a verb's options class declares but ``skip``, each received as
    :func:`option_keyword` says; a positional field is the command's arguments (or, with
    ``arguments`` False, as for batch, an option like the others)."""
    return stack(
        positional_argument(item.name, declared)
        if declared.positional and arguments
        else declared_option(option_keyword(item.name), declared, _default(item))
        for item, declared in declared_fields(options)
        if item.name not in skip
    )


def build_verb_options(options: OptionsClass, params: Mapping[str, Any]) -> Any:
    """An instance of ``options`` from the values of :func:`verb_options`."""
    return options(
        **{item.name: params[option_keyword(item.name)] for item, _ in declared_fields(options)}
    )


# --- the options of the commands that are no verb ---------------------------------------


def json_option(what: str) -> Callable[[F], F]:
    """``--json``: print WHAT instead of text; the command gets ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what}.")


def html_option() -> Callable[[F], F]:
    """diff's ``--html``."""
    return click.option(
        "--html", type=click.Path(dir_okay=False), default=None,
        help="Also write the differences as a page, with both nets drawn around each.",
    )  # fmt: skip


def check_options() -> Callable[[F], F]:
    """check's ``--weights`` (read, never written), ``--phase`` (repeatable), ``--target``."""
    return stack(
        [
            click.option(
                "--weights", type=click.Path(dir_okay=False), default=None,
                help="A .caffemodel: check each layer's blob count and shapes against it.",
            ),
            click.option(
                "--phase", "phases", type=KindType(PHASE), metavar=PHASE.metavar, multiple=True,
                help="Check this phase (repeatable) [default: TRAIN and TEST when the net's"
                " include/exclude rules tell them apart, else TEST].",
            ),
            click.option(
                "--target", type=click.Choice(TARGETS), default=None,
                help="Also check what this deployment target refuses or runs on the CPU.",
            ),
        ]
    )  # fmt: skip


def draw_options() -> Callable[[F], F]:
    """draw's ``-o`` (required: a picture), ``--against``, ``--expand``, ``--context``."""
    return stack(
        [
            output_option(
                required=True,
                help="Picture to write: FILE.svg, FILE.png, FILE.pdf or FILE.dot ('-' prints dot"
                " source).",
            ),
            click.option(
                "--against", type=click.Path(dir_okay=False), default=None,
                help="Highlight what MODEL adds, changes and rewires compared with this net.",
            ),
            click.option("--expand", is_flag=True, help="Draw every layer of an SCNN module."),
            click.option(
                "--context", type=click.IntRange(min=0), default=None,
                help="With --against: draw only the layers within this many steps of a change.",
            ),
        ]
    )  # fmt: skip


def batch_options(verbs: Sequence[str]) -> Callable[[F], F]:
    """batch's own options: where, how many workers, the report, the config, the verb."""
    return stack(
        [
            click.option(
                "-o", "--output-dir", required=True, type=click.Path(file_okay=False),
                help="Write the converted models here, mirroring the source tree.",
            ),
            click.option(
                "-j", "--jobs", type=click.IntRange(min=1), default=None,
                help="Worker processes [default: the number of cores].",
            ),
            click.option(
                "--report", "report_path", type=click.Path(dir_okay=False), default=None,
                help="Also write a report: .json, .csv, .md, or .html (a page with pictures),"
                " by the file's extension.",
            ),
            click.option(
                "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
                default=None, help="TOML file of per-model settings (see the README).",
            ),
            click.option(
                "--verb", type=click.Choice(verbs), default="insert", show_default=True,
                help="What to do to every model (any surgery verb; splice takes --fragment).",
            ),
            click.option(
                "--fragment", type=click.Path(dir_okay=False), default=None,
                help="With --verb splice: the prototxt of layers to splice into every model.",
            ),
        ]
    )  # fmt: skip
