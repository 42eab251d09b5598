"""Click options derived from the declarations in :mod:`scnn_surgery.options`.

Each option is declared once, on its :class:`~scnn_surgery.options.InsertOptions` field; this
module only spells those declarations as click options, so ``insert``, ``generate``, ``batch``
and the other commands taking ``--phase``, ``--shape`` or ``--proto`` agree with each other and
with batch's config keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import MISSING, Field
from typing import Any, TypeVar

import click

from ..errors import UsageError
from ..options import (
    BIND,
    BINDS,
    BOOL,
    BOTTOM,
    SHAPE,
    SHAPE_RULE,
    SHAPE_RULES,
    SHAPES,
    Declaration,
    InsertOptions,
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


def _stack(decorators: Iterable[Callable[[F], F]]) -> Callable[[F], F]:
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


# A table-valued declaration is given as a repeatable option, one pair each.
_ONE_OF: dict[Kind[Any], Kind[Any]] = {SHAPES: SHAPE, BINDS: BIND, SHAPE_RULES: SHAPE_RULE}


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
    if one is not None:  # repeatable, one BLOB=N,C,H,W (or FRAG=NET) each
        return click.option(
            flag, name, type=KindType(one), metavar=one.metavar, multiple=True,
            callback=_as_dict if one is SHAPE else _as_unique_dict, help=text,
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
    return _stack([option, _old_spelling(name, flag, declared)])


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


def insert_options() -> Callable[[F], F]:
    """Every :class:`InsertOptions` field; ``insert`` and ``batch`` take them all."""
    return _stack(
        declared_option(item.name, declared, _default(item))
        for item, declared in declared_fields()
    )


def module_options(*, required: Iterable[str], bottom: str) -> Callable[[F], F]:
    """The options that shape the module itself, then ``--bottom`` (default ``bottom``):
    what ``generate`` takes."""
    needed = set(required)
    return _stack(
        [
            *(
                declared_option(item.name, declared, _default(item), required=item.name in needed)
                for item, declared in declared_fields()
                if declared.module
            ),
            declared_option("bottom", BOTTOM, bottom),
        ]
    )


def output_option(long_flag: bool = True) -> Callable[[F], F]:
    """``-o FILE`` (also ``--output``, unless a verb uses that name for something else)."""
    flags = ("-o", "--output") if long_flag else ("-o",)
    return click.option(
        *flags,
        "output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default=None,
        help="Write here instead of standard output.",
    )


def output_options(long_flag: bool = True) -> Callable[[F], F]:
    """Where a verb writes the net it made: ``-o/--output`` (default: standard output) or
    ``--in-place``, which replaces MODEL; the command gets ``output`` and ``in_place``, and
    :func:`scnn_surgery.cli.output.destination` refuses the two together. ``long_flag``
    False leaves ``--output`` to the verb (splice's names a fragment blob)."""
    return _stack(
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
    return _stack(
        [
            click.option(
                "--weights",
                type=click.Path(exists=True, dir_okay=False),
                default=None,
                help="MODEL's .caffemodel; every layer keeps its blobs (needs --weights-out).",
            ),
            click.option(
                "--weights-out",
                type=click.Path(dir_okay=False),
                default=None,
                help=f"Write the new net's .caffemodel here; {new_layers}.",
            ),
            click.option(
                "--seed",
                type=click.IntRange(min=0),
                default=0,
                show_default=True,
                help="Seed for the values drawn from fillers (0 or more).",
            ),
        ]
    )


def check_weights_options(weights: str | None, weights_out: str | None) -> None:
    """What ``--weights`` and ``--weights-out`` refuse before the paths are compared."""
    if weights is not None and weights_out is None:
        raise UsageError("--weights needs --weights-out, the caffemodel to write")
    if weights_out == "-":
        raise UsageError("--weights-out -: a caffemodel is binary; give it a file")


def build_insert_options(params: Mapping[str, Any]) -> InsertOptions:
    """InsertOptions from the values of the options above (other keys are ignored)."""
    names = {item.name for item, _ in declared_fields()}
    return InsertOptions(**{key: value for key, value in params.items() if key in names})


def verb_options(
    options: OptionsClass,
    *,
    rename: Mapping[str, str] | None = None,
    skip: Collection[str] = (),
) -> Callable[[F], F]:
    """Every option a verb's options class declares but ``skip``; ``rename`` maps a field to
    the keyword the command receives it as (when its name is taken by another option)."""
    names = rename or {}
    return _stack(
        declared_option(names.get(item.name, item.name), declared, _default(item))
        for item, declared in declared_fields(options)
        if item.name not in skip
    )


def build_verb_options(
    options: OptionsClass, params: Mapping[str, Any], *, rename: Mapping[str, str] | None = None
) -> Any:
    """An instance of ``options`` from the values of :func:`verb_options`."""
    names = rename or {}
    values = {
        item.name: params[names.get(item.name, item.name)]
        for item, _ in declared_fields(options)
    }
    return options(**values)
