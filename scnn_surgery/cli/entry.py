"""The ``scnn-surgery`` console script and ``python -m scnn_surgery``.

Ctrl-C may come at any moment, also in the first tenth of a second while Python imports
click and the command group. This module imports nothing but :mod:`sys`, so that the guard
is in place before that work starts: an early Ctrl-C is the same one line and status as a
late one, never a traceback.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself costs the start-up; type checkers know this name
if TYPE_CHECKING:
    from typing import NoReturn

INTERRUPTED = "scnn-surgery: interrupted"
INTERRUPTED_STATUS = 130  # 128 + SIGINT: what a shell reports for a command Ctrl-C stopped


def outputs_written() -> bool:
    """Whether the running command committed its outputs (files not loaded: it wrote none)."""
    files = sys.modules.get("scnn_surgery.files")
    return bool(files is not None and getattr(files, "COMMITTED", None))


def interrupted(outputs_written: bool = False) -> NoReturn:
    """Ctrl-C as one line: exit 0 once the command's outputs are complete (it did what was
    asked), else 130. Click's own answer would be "Aborted!" and 1."""
    if outputs_written:
        _say(f"{INTERRUPTED} after the outputs were written; they are complete")
        sys.exit(0)
    _say(INTERRUPTED)
    sys.exit(INTERRUPTED_STATUS)


def _say(line: str) -> None:
    """The line on stderr, unless stderr has gone (the pipe's reader was stopped by the
    same Ctrl-C) or a second Ctrl-C comes while it is written: the exit status still says
    what happened, and neither may end in a traceback."""
    try:
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, KeyboardInterrupt):
        pass


def main() -> None:
    try:
        from .main import main as run_command_line

        run_command_line()
    except KeyboardInterrupt:
        interrupted(outputs_written())
