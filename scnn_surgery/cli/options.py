"""Option groups shared by subcommands, so every command spells them the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

import click

from ..scnn import ScnnSpecError, parse_directions
from ..surgery import InsertOptions

F = TypeVar("F", bound=Callable[..., Any])


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


class DirectionsType(click.ParamType[str]):
    name = "DIRS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return parse_directions(str(value))
        except ScnnSpecError as exc:
            self.fail(str(exc), param, ctx)


def module_options(*, sizes_required: bool) -> Callable[[F], F]:
    """The module's geometry and training options."""
    return _stack(
        click.option(
            "--height", type=int, required=sizes_required, help="Feature-map height H (rows)."
        ),
        click.option(
            "--width", type=int, required=sizes_required, help="Feature-map width W (columns)."
        ),
        click.option(
            "--channel",
            "channels",
            type=int,
            default=None,
            help="Channels C of the feature map [generate: 128; insert: inferred].",
        ),
        click.option(
            "--kernel-width",
            type=int,
            default=9,
            show_default=True,
            help="Message-passing kernel width k (odd).",
        ),
        click.option(
            "--directions",
            type=DirectionsType(),
            default="DULR",
            show_default=True,
            help="Directions to pass messages in, a subset of DULR.",
        ),
        click.option(
            "--prefix", default=None, help="Namespace every module name with this prefix."
        ),
        click.option("--top", default=None, help="Name of the module's output blob."),
        click.option(
            "--init-std",
            type=float,
            default=None,
            help="Gaussian filler std [default: sqrt(2/(k*C*5))].",
        ),
        click.option(
            "--no-share-weights",
            "share_weights",
            is_flag=True,
            default=True,
            flag_value=False,
            help="Give every row/column its own weights.",
        ),
        click.option(
            "--lr-mult",
            type=float,
            default=1.0,
            show_default=True,
            help="lr_mult of the module's weights.",
        ),
    )


def output_option() -> Callable[[F], F]:
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True),
        default=None,
        help="Write here instead of standard output.",
    )


class ShapeType(click.ParamType[tuple[str, tuple[int, ...]]]):
    """``BLOB=N,C,H,W``: a blob's shape, for nets whose files do not state it."""

    name = "BLOB=N,C,H,W"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, tuple[int, ...]]:
        if isinstance(value, tuple):
            return value
        blob, sep, dims = str(value).rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not sep or not blob or not shape or any(d <= 0 for d in shape):
            self.fail(f"'{value}' is not BLOB=N,C,H,W with positive integers", param, ctx)
        return blob, shape


def phase_option() -> Callable[[F], F]:
    return click.option(
        "--phase",
        type=click.Choice(["TRAIN", "TEST"], case_sensitive=False),
        default=None,
        callback=lambda _c, _p, v: v.upper() if v else None,
        help="Use this phase's view of a train/test net.",
    )


def shape_options() -> Callable[[F], F]:
    """--shape (repeatable) and --phase, for every command that infers shapes."""
    return _stack(
        click.option(
            "--shape",
            "shapes",
            type=ShapeType(),
            multiple=True,
            help="Shape of a blob the file does not state (repeatable).",
        ),
        phase_option(),
    )


def proto_option() -> Callable[[F], F]:
    """--proto: the user's fork caffe.proto, compiled at run time (no protoc needed)."""
    return click.option(
        "--proto",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="Your fork's caffe.proto: read the net's fields and caffemodels with it"
        " [default: the dialect the net's fields and layer types point to].",
    )


def insert_options() -> Callable[[F], F]:
    """Everything that decides what ``insert`` does; ``batch`` takes the same options."""
    return _stack(
        click.option(
            "--after",
            default=None,
            help="Layer or blob after which the module goes [default: the top hidden"
            " layer, chosen automatically].",
        ),
        module_options(sizes_required=False),
        click.option(
            "--reduce-channels",
            type=click.IntRange(min=1),
            default=None,
            help="First map the blob to N channels with a 1x1 Convolution + ReLU.",
        ),
        shape_options(),
        click.option(
            "--upgrade",
            is_flag=True,
            default=False,
            help="Rewrite a V0/V1 net as V2 first; untouched text may change.",
        ),
        proto_option(),
    )


def build_insert_options(params: Mapping[str, Any]) -> InsertOptions:
    """InsertOptions from the values of the options above (other keys are ignored)."""
    names = {f.name for f in fields(InsertOptions)}
    values = {key: value for key, value in params.items() if key in names}
    if "shapes" in values:
        values["shapes"] = dict(values["shapes"])
    return InsertOptions(**values)
