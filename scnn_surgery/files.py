"""Reading inputs and writing outputs: one-line errors, and no half-written files."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SurgeryError


def read_input_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """The file's bytes; a missing or unreadable file is a one-line SurgeryError."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SurgeryError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SurgeryError(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise SurgeryError(f"{path}: cannot read: {exc.strerror}") from None


@dataclass
class StagedFile:
    """Bytes already written next to their destination; ``commit`` renames them into place.

    Writing a large file can fail (a full disk); staging it first means the only step
    left afterwards is a rename, which either happens whole or not at all.
    """

    path: Path
    temp: Path | None

    def commit(self) -> None:
        if self.temp is not None:
            os.replace(self.temp, self.path)
            self.temp = None

    def discard(self) -> None:
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


def stage_file(path: str | os.PathLike[str], data: bytes) -> StagedFile:
    """Write ``data`` to a temporary file beside ``path``, with the mode ``path`` would get.

    A symbolic link is followed: its target is replaced and the link stays a link.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise SurgeryError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return StagedFile(target, Path(tmp))


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether both paths name one existing file, however spelled or linked."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """The file is either the whole new content or untouched."""
    stage_file(path, data).commit()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
