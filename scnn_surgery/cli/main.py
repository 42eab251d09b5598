"""The ``scnn-surgery`` command group.

Each subcommand lives in its own module, imported only when that subcommand runs, so
``scnn-surgery --help`` (which lists them from :data:`SUBCOMMANDS`) loads none of them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, NamedTuple, NoReturn

import click

from .. import __version__
from ..errors import SurgeryError, UsageError


class Subcommand(NamedTuple):  # not a dataclass: importing dataclasses costs --help
    module: str  # under scnn_surgery.cli; it defines ``command``
    summary: str  # the one line --help lists it with


SUBCOMMANDS: dict[str, Subcommand] = {
    "generate": Subcommand("generate", "Print an SCNN module for an H x W x C feature map."),
    "insert": Subcommand(
        "insert", "Put a module into a net, rewire its consumers, check, write."
    ),
    "splice": Subcommand(
        "splice", "Put any fragment of layers into a net after a blob, and rewire."
    ),
    "strip": Subcommand("strip", "Take an SCNN module out again, and rewire its consumers."),
    "remove": Subcommand(
        "remove", "Take layers out of a net, bridging their readers, check, write."
    ),
    "upgrade": Subcommand("upgrade", "Rewrite a V0 or V1 net as V2, by Caffe's upgrade rules."),
    "inspect": Subcommand(
        "inspect", "Shapes, parameters and MACs per layer; modules; suggested point."
    ),
    "check": Subcommand("check", "Caffe's static rules, with a caffemodel or a deployment target."),
    "diff": Subcommand("diff", "Structural diff of two nets (a module is one entry)."),
    "draw": Subcommand("draw", "A picture of the layer graph (Graphviz)."),
    "batch": Subcommand("batch", "Insert into every model of a zoo, in parallel, with a report."),
}


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"scnn-surgery: error: {message}", err=True)
    sys.exit(exit_code)


def _usage_line(error: click.UsageError) -> str:
    """Click's usage error as one line: its message, and where to read more."""
    command = error.ctx.command_path if error.ctx is not None else "scnn-surgery"
    return f"{error.format_message().rstrip('.')}; see '{command} --help'"


class SurgeryGroup(click.Group):
    """Loads subcommands on demand, and turns every error into one line on stderr with its
    exit status: a :class:`SurgeryError` its own, a usage error 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: click.Command = importlib.import_module(f"{__package__}.{entry.module}").command
        command.short_help = entry.summary
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry.summary) for name, entry in SUBCOMMANDS.items()])

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise  # click shows the help
        except click.UsageError as exc:
            _fail(_usage_line(exc), UsageError.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:  # a subcommand's arguments, or an unknown command
            _fail(_usage_line(exc), UsageError.exit_code)
        except SurgeryError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            click.echo("scnn-surgery: interrupted", err=True)
            sys.exit(130)


@click.group(
    "scnn-surgery", cls=SurgeryGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="scnn-surgery")
def cli() -> None:
    """Surgery on Caffe prototxt nets: insert a Spatial CNN (SCNN) module, correctly."""


def main() -> None:
    cli(prog_name="scnn-surgery")
