"""Standard output for the commands: a write that fails (a full disk, ``> /dev/full``) is a
one-line error naming standard output, never a traceback.

A closed pipe (``| head``) is left as the ``BrokenPipeError`` it is: the reader has gone,
so the command group stops quietly instead of reporting it.
"""

from __future__ import annotations

import errno
import re
import sys
from typing import BinaryIO

import click

from ..errors import SurgeryError

STDOUT_NAME = "standard output"


# Bidi controls: a right-to-left override in a name reverses the rest of the line on a
# terminal that applies bidi, so what the line says is not what it shows.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Line breaks and other controls a message can carry from the input (a layer named
# "a\nb"), written as escapes so that one message stays one line.
_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def one_line(message: str) -> str:
    """``message`` with the controls it carries written as escapes."""
    return _CONTROLS.sub(_escaped, message)


# What a terminal acts on (ESC ] 0 ; title BEL sets its title): every control but the
# line breaks and tabs the output's own layout uses.
_TERMINAL_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")


def terminal_text(text: str) -> str:
    """``text`` of several lines with the controls names carry written as escapes."""
    return _TERMINAL_CONTROLS.sub(_escaped, text)


def json_text(text: str) -> str:
    """JSON text whose every control is a JSON escape: ``json.dumps`` escapes only those
    below U+0020, and a terminal acts on C1 controls too."""
    return _TERMINAL_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _failed(exc: OSError) -> BaseException:
    if exc.errno == errno.EPIPE:
        return exc
    return SurgeryError(f"{STDOUT_NAME}: cannot write: {exc.strerror or exc}")


def write_stdout(data: bytes) -> None:
    """Write ``data`` to standard output and flush it."""
    try:
        _write_all(sys.stdout.buffer, data)
        sys.stdout.buffer.flush()
    except OSError as exc:
        raise _failed(exc) from None


def _write_all(stream: BinaryIO, data: bytes) -> None:
    """Every byte of ``data``: unbuffered (``PYTHONUNBUFFERED``), standard output is a raw
    file whose write may take only part of it, and the rest would be lost in silence."""
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking stream that would block: try again
            continue
        view = view[written:]


def echo(text: str = "") -> None:
    """``click.echo`` to standard output (which flushes each line), with the controls a
    name from the input may carry written as escapes."""
    try:
        click.echo(terminal_text(text))
    except OSError as exc:
        raise _failed(exc) from None


def flush_stdout() -> None:
    """What is still buffered, written now, while an error can still be reported."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        raise _failed(exc) from None
    except ValueError:  # already closed (an embedding application)
        pass
