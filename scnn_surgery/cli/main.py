"""The ``scnn-surgery`` command group.

Each subcommand lives in its own module, imported only when that subcommand runs, so
``scnn-surgery --help`` (which lists them from :data:`SUBCOMMANDS`) loads none of them.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
from typing import Any, NamedTuple, NoReturn

import click

from .. import __version__
from ..errors import SurgeryError, SurgeryErrors, UsageError
from ..runtime import paused_gc
from ..verbs import REGISTRY as VERB_REGISTRY
from .entry import interrupted, outputs_written
from .stdio import flush_stdout, one_line

# Set (to anything but 0) to see the traceback of an unexpected error instead of its line.
DEBUG_ENV = "SCNN_SURGERY_DEBUG"


class Subcommand(NamedTuple):  # not a dataclass: importing dataclasses costs --help
    module: str  # under scnn_surgery.cli; it defines ``command``
    summary: str  # the one line --help lists it with
    # The exit status of every error; diff's 1 means "the nets differ", so its errors exit 2.
    error_status: int = SurgeryError.exit_code


# The surgery verbs come from their registry; their commands are made by ``cli.verb``.
SUBCOMMANDS: dict[str, Subcommand] = {
    "generate": Subcommand("generate", "Print an SCNN module for an H x W x C feature map."),
    **{verb: Subcommand("verb", entry.summary) for verb, entry in VERB_REGISTRY.items()},
    "inspect": Subcommand(
        "inspect", "Shapes, parameters and MACs per layer; modules; suggested point."
    ),
    "check": Subcommand("check", "Caffe's static rules, with a caffemodel or a deployment target."),
    "diff": Subcommand(
        "diff", "Structural diff of two nets (a module is one entry).", UsageError.exit_code
    ),
    "draw": Subcommand("draw", "A picture of the layer graph (Graphviz)."),
    "batch": Subcommand(
        "batch", "Insert (or any verb) over every model of a zoo, in parallel, with a report."
    ),
}


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"scnn-surgery: error: {one_line(message)}", err=True)
    sys.exit(exit_code)


def _error_status(ctx: click.Context, exc: SurgeryError | None = None) -> int:
    entry = SUBCOMMANDS.get(ctx.invoked_subcommand or "")
    if entry is not None and entry.error_status != SurgeryError.exit_code:
        return entry.error_status
    return exc.exit_code if exc is not None else SurgeryError.exit_code


def _quiet_stdout() -> None:
    """Standard output is a closed pipe: point it at nothing, so that the interpreter's
    last flush does not report it either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _os_error_line(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename else reason


def _internal_error_line(exc: Exception) -> str:
    """A bug (or a case nobody foresaw) as one line: what was raised, and where."""
    if isinstance(exc, MemoryError):
        return "out of memory"
    message = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        text += f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})"
    return (
        f"internal error: {text}; this is a bug in scnn-surgery, please report it with the"
        f" input (set {DEBUG_ENV}=1 for the traceback)"
    )


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


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
        command: click.Command
        if cmd_name in VERB_REGISTRY:
            from .verb import verb_command

            command = verb_command(cmd_name)
        else:
            command = importlib.import_module(f"{__package__}.{entry.module}").command
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
        except KeyboardInterrupt:
            interrupted()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            from ..files import COMMITTED  # every command writing a file loads it anyway

            COMMITTED.clear()  # one command per process, but tests run many in one
            try:
                # One command is one pass over a few nets, which reference counting frees
                # (they hold no cycles): the cyclic collector would only walk them.
                with paused_gc():
                    return super().invoke(ctx)
            finally:  # also on sys.exit: a failing write must not pass for success
                flush_stdout()
        except (click.exceptions.NoArgsIsHelpError, click.exceptions.Exit, click.Abort):
            raise  # click's own ways out: the help, ctx.exit(), an aborted prompt
        except click.UsageError as exc:  # a subcommand's arguments, or an unknown command
            _fail(_usage_line(exc), UsageError.exit_code)
        except SurgeryErrors as exc:
            for line in exc.lines[:-1]:
                click.echo(f"scnn-surgery: error: {one_line(line)}", err=True)
            _fail(exc.lines[-1], _error_status(ctx, exc))
        except SurgeryError as exc:
            _fail(str(exc), _error_status(ctx, exc))
        except KeyboardInterrupt:
            interrupted(outputs_written())
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # the reader has gone (| head): nobody to tell
                _quiet_stdout()
                sys.exit(_error_status(ctx))
            _fail(_os_error_line(exc), _error_status(ctx))
        except Exception as exc:
            if _debugging():
                raise
            _fail(_internal_error_line(exc), _error_status(ctx))


@click.group(
    "scnn-surgery", cls=SurgeryGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="scnn-surgery")
def cli() -> None:
    """Surgery on Caffe prototxt nets: insert a Spatial CNN (SCNN) module, correctly."""


def main() -> None:
    cli(prog_name="scnn-surgery")
