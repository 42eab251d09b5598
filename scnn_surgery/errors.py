"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations


class SurgeryError(Exception):
    """A problem with the user's input or request; its message is one line."""

    exit_code = 1


class SurgeryErrors(SurgeryError):
    """Several problems found in one pass: the command line shows one line each; as one
    string (a batch report's reason) the first few and the last are joined by '; '."""

    SHOWN = 3  # of the lines before the last, in the one-string form

    def __init__(self, lines: list[str]) -> None:
        self.lines = tuple(lines)
        *first, last = lines
        if len(first) > self.SHOWN:
            first = [*first[: self.SHOWN], f"and {len(first) - self.SHOWN} more"]
        super().__init__("; ".join([*first, last]))

    def __reduce__(self) -> tuple[type[SurgeryErrors], tuple[list[str]]]:
        return (type(self), (list(self.lines),))  # pickled whole, lines and all


class UsageError(SurgeryError):
    """The command line itself is wrong (exit status 2, as click uses)."""

    exit_code = 2


class PrototxtSyntaxError(SurgeryError):
    """Text that is not valid protobuf text format, located as FILE:LINE:COL."""

    def __init__(self, source: str, line: int, column: int, what: str) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.what = what
        super().__init__(f"{source}:{line}:{column}: {what}")
