"""Click options derived from the declarations in :mod:`scnn_surgery.options`.

Each option is declared once, on its :class:`~scnn_surgery.options.InsertOptions` field; this
module only spells those declarations as click options, so ``insert``, ``generate``, ``batch``
and the other commands taking ``--phase``, ``--shape`` or ``--proto`` agree with each other and
with batch's config keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field
from typing import Any, TypeVar

import click

from ..options import (
    BOOL,
    BOTTOM,
    SHAPE,
    SHAPES,
    Declaration,
    InsertOptions,
    Kind,
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


def _shapes_dict(
    _ctx: click.Context, _param: click.Parameter, value: tuple[tuple[str, tuple[int, ...]], ...]
) -> dict[str, tuple[int, ...]]:
    return dict(value)


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
    if declared.kind is SHAPES:  # repeatable, one BLOB=N,C,H,W each
        return click.option(
            flag, name, type=KindType(SHAPE), metavar=SHAPE.metavar, multiple=True,
            callback=_shapes_dict, help=text,
        )  # fmt: skip
    # No default at all, rather than default=None: click counts None as a value given.
    defaults: dict[str, Any] = {} if default is None else {"default": default}
    return click.option(
        flag,
        name,
        type=KindType(declared.kind),
        metavar=declared.kind.metavar,
        required=required,
        show_default=declared.show_default,
        help=text,
        **defaults,
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


def output_option() -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default=None,
        help="Write here instead of standard output.",
    )


def build_insert_options(params: Mapping[str, Any]) -> InsertOptions:
    """InsertOptions from the values of the options above (other keys are ignored)."""
    names = {item.name for item, _ in declared_fields()}
    return InsertOptions(**{key: value for key, value in params.items() if key in names})
