"""Option groups shared by subcommands, so every command spells them the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


class DirectionsType(click.ParamType):
    name = "DIRS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).upper()
        ordered = "".join(d for d in "DULR" if d in text)
        if not text or len(ordered) != len(text) or ordered != text:
            self.fail(f"'{value}' is not a non-empty subset of D, U, R, L in that order", param, ctx)
        return text


def module_options(*, sizes_required: bool) -> Callable[[F], F]:
    """The module's geometry and training options."""
    return _stack(
        click.option("--height", type=int, required=sizes_required,
                     help="Feature-map height H (rows)."),
        click.option("--width", type=int, required=sizes_required,
                     help="Feature-map width W (columns)."),
        click.option("--channel", "channels", type=int, default=None,
                     help="Channels C of the feature map [default: 128 for generate]."),
        click.option("--kernel-width", type=int, default=9, show_default=True,
                     help="Message-passing kernel width k (odd)."),
        click.option("--directions", type=DirectionsType(), default="DULR", show_default=True,
                     help="Directions to pass messages in, a subset of DULR."),
        click.option("--prefix", default=None, help="Namespace every module name with this prefix."),
        click.option("--top", default=None, help="Name of the module's output blob."),
        click.option("--init-std", type=float, default=None,
                     help="Gaussian filler std [default: sqrt(2/(k*C*5))]."),
        click.option("--no-share-weights", "share_weights", is_flag=True, default=True,
                     flag_value=False, help="Give every row/column its own weights."),
        click.option("--lr-mult", type=float, default=1.0, show_default=True,
                     help="lr_mult of the module's weights."),
    )


def output_option() -> Callable[[F], F]:
    return click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
                        default=None, help="Write here instead of standard output.")
