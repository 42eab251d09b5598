"""The ``scnn-surgery`` command group; each subcommand lives in its own module."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from ..errors import SurgeryError


class SurgeryGroup(click.Group):
    """Turns a :class:`SurgeryError` into one line on stderr and its exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SurgeryError as exc:
            click.echo(f"scnn-surgery: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("scnn-surgery: interrupted", err=True)
            sys.exit(130)


@click.group(cls=SurgeryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scnn-surgery")
def cli() -> None:
    """Surgery on Caffe prototxt nets: insert a Spatial CNN (SCNN) module, correctly."""


def _register() -> None:
    from . import batch, check, diff, draw, generate, insert, inspect

    for module in (generate, insert, inspect, check, diff, draw, batch):
        cli.add_command(module.command)


_register()


def main() -> None:
    cli(prog_name="scnn-surgery")
