"""Reading inputs and writing outputs: one-line errors, bounded reads, and no file that is
half-written, left behind, or an input overwritten.

* Inputs are regular files or standard input, read up to a stated limit, so a device
  (``/dev/zero``), a pipe or a runaway file is refused instead of filling the memory.
* :func:`check_output_paths` refuses, before any work, an output that is an input however
  it is spelled (relative, ``./``, symbolic or hard link, standard input or output
  redirected from or to the file), two outputs naming one file, and paths that cannot name
  a file (empty, a directory, a missing directory).
* :class:`OutputFiles` stages every output beside its destination and then renames them
  all into place, or none: a prototxt and its caffemodel are committed together, with
  SIGINT, SIGTERM and SIGHUP waiting until the renames are done.
* :func:`hold_for_update` makes ``--in-place`` one read-modify-replace at a time: an
  advisory lock on MODEL from before it is read, and a refusal when another program
  changed it since.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import secrets
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from .errors import SurgeryError, UsageError

MiB = 2**20
GiB = 2**30

# Far above any real net (ResNet-152, one of the longest published prototxts, is about
# 0.2 MiB), and low enough that a runaway input is refused before it costs gigabytes.
MAX_TEXT_BYTES = 256 * MiB
# Protobuf cannot parse a message of 2 GiB or more, so neither can Caffe nor OpenCV.
MAX_CAFFEMODEL_BYTES = 2 * GiB - 1

STDIO = "-"
_READ_CHUNK = 4 * MiB


def format_bytes(size: int) -> str:
    """A size for messages: ``3.4 GiB``, ``256 MiB``, ``12 KiB``, ``7 bytes``."""
    for unit, scale in (("TiB", 2**40), ("GiB", GiB), ("MiB", MiB), ("KiB", 2**10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


# ---------------------------------------------------------------------------
# Reading


def _too_large(name: str, what: str, size: int | None, limit: int) -> SurgeryError:
    found = f"more than {format_bytes(limit)}" if size is None else f"{size:,} bytes"
    return SurgeryError(
        f"{name}: {found}; scnn-surgery reads at most {format_bytes(limit)} for {what}"
    )


def _refuse_device_stdin(what: str) -> None:
    """``- < /dev/zero`` would be read up to the limit; a terminal is a device too, but
    one a person types a net into."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return  # not a real descriptor (an embedding application, a test runner)
    if stat.S_ISCHR(mode) and not sys.stdin.isatty():
        raise SurgeryError(
            f"<stdin>: a device, not {what}; redirect a file or a pipe to standard input"
        )


def _read_stdin(what: str, limit: int) -> bytes:
    _refuse_device_stdin(what)
    stream = sys.stdin.buffer
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(min(_READ_CHUNK, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _too_large("<stdin>", what, None, limit)
    return b"".join(chunks)


def _open_regular(path: str | os.PathLike[str], what: str) -> int:
    """A descriptor for a regular file. O_NONBLOCK keeps a FIFO from blocking the open
    until a writer comes; such a file is refused right after, by its type."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SurgeryError(f"{path}: no such file") from None
    except OSError as exc:
        if os.path.isdir(path):
            raise SurgeryError(f"{path}: is a directory, not {what}") from None
        raise SurgeryError(f"{path}: cannot read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise SurgeryError(f"{path}: is a directory, not {what}")
    raise SurgeryError(
        f"{path}: not a regular file (a device, pipe or socket), so not read as {what};"
        " scnn-surgery reads regular files, and a prototxt from standard input as '-'"
    )


def read_input_bytes(
    path: str | os.PathLike[str], what: str, limit: int | None = None
) -> bytes:
    """The bytes of a regular file, or of standard input for ``-``, at most ``limit`` of
    them (default: ``MAX_TEXT_BYTES``); anything else is a one-line SurgeryError."""
    limit = MAX_TEXT_BYTES if limit is None else limit
    if str(path) == STDIO:
        return _read_stdin(what, limit)
    fd = _open_regular(path, what)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _too_large(str(path), what, size, limit)
        try:
            data = handle.read(limit + 1)  # the file may grow while it is read
        except OSError as exc:
            raise SurgeryError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise _too_large(str(path), what, None, limit)
    return data


# ---------------------------------------------------------------------------
# Which files a command reads and writes


@dataclass(frozen=True)
class NamedPath:
    """A path as the user gave it, with the option or argument that gave it ('-o',
    'MODEL', '--weights'); ``-`` is standard input or output."""

    label: str
    path: str

    def as_input(self) -> str:
        if self.path == STDIO:
            return f"{self.label} '-' (standard input)"
        return f"{self.label} {self.path}"

    def as_output(self) -> str:
        return "standard output" if self.path == STDIO else f"{self.label} {self.path}"


STDOUT = NamedPath("standard output", STDIO)


def named(label: str, path: str | os.PathLike[str] | None) -> list[NamedPath]:
    """``[NamedPath]`` for a given path, ``[]`` for an option not given."""
    return [] if path is None else [NamedPath(label, os.fspath(path))]


FileKey = tuple[object, ...]


def _stdio_key(fd: int) -> FileKey | None:
    """Standard input or output redirected from or to a regular file is that file."""
    try:
        info = os.fstat(fd)
    except (OSError, ValueError):
        return None
    return ("inode", info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _file_key(path: str, stdio_fd: int) -> FileKey | None:
    """What makes two spellings one file: its inode when it exists (so links and hard
    links match), else its absolute path with every link resolved."""
    if path == STDIO:
        return _stdio_key(stdio_fd)
    try:
        info = os.stat(path)
    except OSError:
        return ("new", os.path.realpath(path))
    return ("inode", info.st_dev, info.st_ino)


def _writable(path: str) -> bool:
    """Whether this process may write ``path`` (effective ids, as the shell's ``>``)."""
    try:
        return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)
    except OSError:
        return True  # undecidable here; the write itself will say


def _writable_directory(directory: str) -> bool:
    """Whether this process may create files in ``directory``, where outputs are staged."""
    try:
        wanted = os.W_OK | os.X_OK
        return os.access(directory, wanted, effective_ids=os.access in os.supports_effective_ids)
    except OSError:
        return True  # undecidable here; the write itself will say


def _sticky_owner_refusal(path: str) -> str | None:
    """In a sticky directory (``/tmp``) only the owner of a file, of the directory, or root
    may replace the file, although they may be allowed to write it."""
    try:
        info = os.stat(path)
        parent = os.stat(os.path.dirname(os.path.realpath(path)))
    except OSError:
        return None
    euid = os.geteuid()
    if not parent.st_mode & stat.S_ISVTX or euid in (0, info.st_uid, parent.st_uid):
        return None
    return (
        f"{path}: cannot be replaced: its directory is sticky (like /tmp) and the file"
        f" belongs to user {info.st_uid}, so only that user may replace it; write to another"
        " path, or ask its owner"
    )


def _missing_directory(output: NamedPath) -> str:
    """Where the missing directory is: a dangling symbolic link's target directory is
    named, not the link's (which exists)."""
    path = output.path
    if os.path.islink(path):
        target = os.path.realpath(path)
        return (
            f"{output.as_output()}: a symbolic link to {target}, whose directory"
            f" {os.path.dirname(target)} does not exist"
        )
    directory = os.path.dirname(path) or "."
    return f"{output.as_output()}: directory {directory} does not exist"


def file_key(path: str) -> FileKey | None:
    """What one file is, however its path is spelled (see :func:`_file_key`)."""
    return _file_key(path, 1)


def _check_output_path(output: NamedPath, creates_directories: bool) -> None:
    path = output.path
    if path == "":
        raise UsageError(f"{output.label} '': an empty path names no file")
    if path == STDIO:
        return
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise UsageError(f"{output.as_output()}: names a directory; give a file name")
    parent = os.path.dirname(os.path.realpath(path))
    if not creates_directories and not os.path.isdir(parent):
        raise UsageError(_missing_directory(output))
    if os.path.exists(path):
        if not _writable(path):
            raise SurgeryError(
                f"{output.as_output()}: permission denied (the file is read-only);"
                " nothing was written"
            )
        refusal = _sticky_owner_refusal(path)
        if refusal is not None:
            raise SurgeryError(refusal)
    staged_beside = not os.path.exists(path) or os.path.isfile(path)  # a device is not
    if staged_beside and os.path.isdir(parent) and not _writable_directory(parent):
        raise SurgeryError(
            f"{output.as_output()}: permission denied (its directory {parent} is not"
            " writable, and an output is written there before it replaces the file);"
            " nothing was written"
        )


def check_output_directory(output: NamedPath) -> None:
    """An output directory a command creates (batch's OUTPUT_DIR): refused up front when it
    is empty (not the current directory), lies under a file, or would be made in, or is, a
    directory this user may not write; else every model would fail on its own."""
    if output.path == "":
        raise UsageError(f"{output.label} '': an empty path names no directory")
    existing = Path(os.path.abspath(output.path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{output.as_output()}: {existing} is a file, not a directory")
    if not _writable_directory(str(existing)):
        raise SurgeryError(
            f"{output.as_output()}: permission denied (directory {existing} is not"
            " writable); nothing was written"
        )


def _stdout_note(output: NamedPath) -> str:
    """Said when the shell has already truncated the input to redirect into it."""
    if output.path != STDIO:
        return ""
    try:
        empty = os.fstat(1).st_size == 0
    except (OSError, ValueError):
        return ""
    return " (the shell's '>' has already emptied it)" if empty else ""


def _never_written(item: NamedPath, in_place: bool) -> str:
    """Why an input may not be an output, and, where the command offers it, how to ask."""
    if in_place and item.label == "MODEL" and item.path != STDIO:
        return "the input is never written unless you ask with --in-place"
    return "the input is never written"


def check_output_paths(
    inputs: Sequence[NamedPath],
    outputs: Sequence[NamedPath],
    creates_directories: bool = False,
    *,
    in_place: bool = False,
) -> None:
    """Refuse, as usage errors, outputs that cannot name a file, outputs that are one of
    the inputs however spelled or linked, and two outputs naming one file. An output
    ``-`` is standard output, which matters when it is redirected to a file. A missing
    directory is refused too, unless the command ``creates_directories``. A command that
    offers ``--in-place`` says so when an output is its MODEL (``in_place``); the option
    itself names MODEL as an output, and MODEL is then not among ``inputs``."""
    for output in outputs:
        _check_output_path(output, creates_directories)
    input_keys = [(item, _file_key(item.path, 0)) for item in inputs]
    claimed: list[tuple[NamedPath, FileKey]] = []
    for output in outputs:
        key = _file_key(output.path, 1)
        if key is None:
            continue
        for item, item_key in input_keys:
            if item_key == key:
                raise UsageError(
                    f"{output.as_output()} is the same file as {item.as_input()}"
                    f"{_stdout_note(output)}; {_never_written(item, in_place)}"
                )
        for other, other_key in claimed:
            if other_key == key:
                raise UsageError(
                    f"{other.as_output()} and {output.as_output()} name the same file;"
                    " give each output its own"
                )
        claimed.append((output, key))


# ---------------------------------------------------------------------------
# Writing


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _anonymous_file(directory: Path) -> int | None:
    """An unnamed file in ``directory`` (Linux O_TMPFILE): nothing is left behind even if
    the process is killed while writing. None where the system or file system lacks it."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_RDWR, 0o600)
    except OSError:
        return None


def _temporary_name(directory: Path, name: str, kind: str = "") -> Path:
    return directory / f".{name}.{secrets.token_hex(4)}{kind}.tmp"


# Called with "link" or "rename" after each step of a commit; tests deliver signals there.
commit_step_hook: Callable[[str], None] | None = None


def _stepped(step: str) -> None:
    if commit_step_hook is not None:
        commit_step_hook(step)


@contextlib.contextmanager
def directories_locked(directories: Iterable[Path], exclusive: bool = True) -> Iterator[None]:
    """Commits into one directory, by any run, one at a time (an advisory ``flock`` on the
    directory, taken in path order): two runs writing the same outputs would otherwise
    interleave their renames, leaving one's prototxt with the other's caffemodel, and one
    run's backup copy would look left behind to the other. A shared lock lets scans wait
    for a commit in progress."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here
        yield
        return
    held: list[int] = []
    try:
        for directory in sorted(set(directories)):
            try:
                fd = os.open(directory, os.O_RDONLY)
            except OSError:
                continue  # the commit itself will say
            held.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        for fd in held:
            os.close(fd)


def stale_temporaries(path: Path) -> list[Path]:
    """Temporary files an earlier run left beside ``path``: only a run killed (SIGKILL,
    a power cut) during its commit leaves one, so it is named for the user to delete."""
    try:
        with directories_locked([path.parent], exclusive=False):
            return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return []


# What an output holds: its bytes, or pieces of them written one after another (a large
# file made of pieces, an ONNX model's tensors say, is then never joined in memory).
Pieces = Sequence[bytes | memoryview]
Content = bytes | Pieces


def pieces_of(data: Content) -> Pieces:
    return (data,) if isinstance(data, bytes) else data


def joined(data: Content) -> bytes:
    return data if isinstance(data, bytes) else b"".join(data)


def _write_all(fd: int, data: Content) -> None:
    for piece in pieces_of(data):
        view = memoryview(piece).cast("B")
        while view:
            view = view[os.write(fd, view) :]


@dataclass
class StagedFile:
    """Bytes written beside their destination; ``commit`` renames them into place.

    Writing a large file can fail (a full disk); staging it first means the only step
    left afterwards is a rename, which either happens whole or not at all. The bytes sit
    in an unnamed file where the system allows it, else in a hidden temporary file. A
    destination that is a device or a pipe (``/dev/null``) is written at commit instead,
    since renaming over it would replace the device.
    """

    path: Path
    fd: int | None = None
    temp: Path | None = None
    stream: Content | None = None

    @property
    def pending(self) -> bool:
        return self.fd is not None or self.temp is not None or self.stream is not None

    def _named(self) -> Path:
        """The staged bytes under a temporary name beside the destination."""
        if self.temp is None:
            assert self.fd is not None
            # A directory descriptor makes os.link call linkat(AT_SYMLINK_FOLLOW), which
            # follows /proc/self/fd/N to the unnamed file; plain link(2) would not.
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                while self.temp is None:
                    name = _temporary_name(self.path.parent, self.path.name)
                    with contextlib.suppress(FileExistsError):
                        os.link(f"/proc/self/fd/{self.fd}", name.name, dst_dir_fd=directory)
                        self.temp = name
                        _stepped("link")
            except OSError:  # a /proc that does not allow it: copy the bytes out instead
                self.temp = self._copied()
            finally:
                os.close(directory)
        return self.temp

    def _copied(self) -> Path:
        assert self.fd is not None
        fd, temp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            info = os.fstat(self.fd)
            offset = 0
            while offset < info.st_size:
                offset += os.sendfile(fd, self.fd, offset, info.st_size - offset)
            os.fchmod(fd, stat.S_IMODE(info.st_mode))
        except BaseException:
            os.unlink(temp)
            raise
        finally:
            os.close(fd)
        return Path(temp)

    def commit(self) -> None:
        try:
            if self.stream is not None:
                with open(self.path, "wb") as handle:
                    for piece in pieces_of(self.stream):
                        handle.write(piece)
            elif self.pending:
                os.replace(self._named(), self.path)
                self.temp = None
                _stepped("rename")
        except OSError as exc:
            raise SurgeryError(f"{self.path}: cannot write: {exc.strerror}") from None
        finally:
            self.discard()

    def discard(self) -> None:
        self.stream = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


def _existing_mode(target: Path) -> int | None:
    try:
        return target.stat().st_mode
    except OSError:
        return None


def _keep_owner(fd: int, owner: tuple[int, int] | None) -> None:
    """Give the new file the replaced file's owner and group where the system lets us (a
    user may give a file only to a group they are in); the mode is set after, since a
    change of owner clears set-user-ID bits."""
    if owner is None or not hasattr(os, "fchown"):
        return
    with contextlib.suppress(OSError):
        os.fchown(fd, *owner)


def _existing_owner(target: Path) -> tuple[int, int] | None:
    try:
        info = target.stat()
    except OSError:
        return None
    return info.st_uid, info.st_gid


def _write_staged(
    staged: StagedFile, data: Content, mode: int, owner: tuple[int, int] | None = None
) -> None:
    staged.fd = _anonymous_file(staged.path.parent)
    if staged.fd is not None:
        _write_all(staged.fd, data)
        _keep_owner(staged.fd, owner)
        os.fchmod(staged.fd, mode)
        return
    fd, temp = tempfile.mkstemp(
        prefix=f".{staged.path.name}.", suffix=".tmp", dir=staged.path.parent
    )
    staged.temp = Path(temp)
    try:
        _write_all(fd, data)
        _keep_owner(fd, owner)
    finally:
        os.close(fd)
    os.chmod(temp, mode)


def stage_file(path: str | os.PathLike[str], data: Content) -> StagedFile:
    """Write ``data`` beside ``path``, with the mode ``path`` would get; nothing is visible
    at ``path`` until ``commit``. A symbolic link is followed: its target is replaced and
    the link stays a link. A file replaced keeps its mode, and its owner and group where
    the system allows."""
    existing = _existing_mode(Path(path))
    if existing is not None and not stat.S_ISREG(existing):
        return StagedFile(Path(path), stream=data)  # /dev/stdout is a link /proc resolves
    target = Path(os.path.realpath(path))
    mode = existing & 0o7777 if existing is not None else 0o666 & ~_umask()
    staged = StagedFile(target)
    try:
        _write_staged(staged, data, mode, _existing_owner(target))
    except OSError as exc:
        staged.discard()
        raise SurgeryError(f"{path}: cannot write: {exc.strerror}") from None
    except BaseException:
        staged.discard()
        raise
    return staged


def _backup(path: Path) -> Path | None:
    """A hard link to the file ``path`` holds now, to put back if a later commit fails."""
    mode = _existing_mode(path)
    if mode is None or not stat.S_ISREG(mode):
        return None
    name = _temporary_name(path.parent, path.name, ".previous")
    try:
        os.link(path, name)
    except OSError:
        return None
    _stepped("link")
    return name


def _restore(path: Path, backup: Path | None, existed: bool) -> None:
    with contextlib.suppress(OSError):
        if backup is not None:
            os.replace(backup, path)
        elif not existed:
            path.unlink()


def _raise_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _termination_unwinds() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C (so staged files are removed) instead of
    killing the process on the spot; only the main thread can set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) == signal.SIG_DFL:
            saved[signum] = signal.signal(signum, _raise_exit)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


# The outputs this command has written: a Ctrl-C after them does not make it a failure.
COMMITTED: list[Path] = []

DEFERRED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_deferring: list[list[int]] = []


def _take_pending(arrived: list[int]) -> None:
    """Signals that came while blocked, taken off the queue so that none acts later."""
    if not hasattr(signal, "sigtimedwait"):
        return
    while signal.sigpending() & set(DEFERRED_SIGNALS):
        taken = signal.sigtimedwait(DEFERRED_SIGNALS, 0)
        if taken is None:
            return
        arrived.append(taken.si_signo)


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """SIGINT, SIGTERM and SIGHUP wait until the block ends and are then only listed (the
    yielded list), so that a commit is never cut between two renames and its outputs are
    all new or all old. Nested blocks share the outermost list."""
    if _deferring:
        yield _deferring[-1]
        return
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def record(signum: int, _frame: FrameType | None) -> None:
        arrived.append(signum)

    saved = {signum: signal.signal(signum, record) for signum in DEFERRED_SIGNALS}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)
    _deferring.append(arrived)
    try:
        yield arrived
    finally:
        _deferring.pop()
        _take_pending(arrived)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def note_first_ctrl_c() -> tuple[list[int], Callable[[], None]]:
    """While a command checks its request (a moment), the first Ctrl-C is noted instead of
    raised, so that the command still ends as it promises once the checks are done (batch
    writes its report, every model interrupted); a second one is raised at once. Returns the
    list it notes into, and the function that puts the previous handler back."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return arrived, lambda: None

    def record(signum: int, _frame: FrameType | None) -> None:
        if arrived:
            raise KeyboardInterrupt
        arrived.append(signum)

    previous = signal.signal(signal.SIGINT, record)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    return arrived, restore


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass
class OutputFiles:
    """Outputs written together: ``stage`` each, then ``commit`` renames all of them into
    place, or, if one rename fails, puts back what the others replaced. Leaving the
    ``with`` block without committing (an error, Ctrl-C, SIGTERM) removes every staged
    file."""

    staged: list[StagedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _signals: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def __enter__(self) -> OutputFiles:
        self._signals.enter_context(_termination_unwinds())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.discard()
        finally:
            self._signals.close()

    def stage(self, path: str | os.PathLike[str], data: Content) -> None:
        staged = stage_file(path, data)
        self.staged.append(staged)
        if staged.stream is None:
            self.notes += [
                f"warning: {stale} was left by a run killed while committing (it holds"
                " an earlier version of the file); delete it once not needed"
                for stale in stale_temporaries(staged.path)
                if staged.temp is None or stale != staged.temp
            ]

    def discard(self) -> None:
        for staged in self.staged:
            staged.discard()

    def commit(self) -> None:
        """Rename every staged file into place with SIGINT, SIGTERM and SIGHUP deferred
        (see :func:`signals_deferred`): the outputs are all new, or, if a rename fails,
        all old again. A file held for ``--in-place`` that another program changed since
        it was read is refused before anything is renamed. Only SIGKILL can stop the
        commit midway; the replaced files' ``.NAME.*.previous.tmp`` copies then stay, and
        the next run writing there names them."""
        for staged in self.staged:
            check_unchanged(staged.path)
        renamed = [staged.path.parent for staged in self.staged if staged.stream is None]
        with directories_locked(renamed), signals_deferred():
            self._commit_all()
            if self.staged:
                COMMITTED.append(self.staged[-1].path)

    def _commit_all(self) -> None:
        undo: list[tuple[Path, Path | None, bool]] = []
        complete = False
        try:
            for index, staged in enumerate(self.staged):
                if index < len(self.staged) - 1:
                    existed = staged.path.exists()
                    undo.append((staged.path, _backup(staged.path), existed))
                staged.commit()
            complete = True
        finally:
            for path, backup, existed in reversed(undo):
                if not complete:
                    _restore(path, backup, existed)
                if backup is not None:
                    backup.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: Content) -> None:
    """The file is either the whole new content or untouched."""
    write_files_atomic([(path, data)])


def write_files_atomic(files: Iterable[tuple[str | os.PathLike[str], Content]]) -> None:
    """Every file is its whole new content, or none changed; committed in the order given."""
    with OutputFiles() as outputs:
        for path, data in files:
            outputs.stage(path, data)
        outputs.commit()


# ---------------------------------------------------------------------------
# --in-place: one read-modify-replace at a time, and nothing lost to another writer

LOCK_WAIT_SECONDS = 120.0
_LOCK_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class FileState:
    """What a file held when it was read: a change to any of these since means another
    program wrote it."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    digest: str


def file_state(path: str | os.PathLike[str]) -> FileState | None:
    try:
        info = os.stat(path)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    return FileState(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, digest)


@dataclass
class _Held:
    fd: int
    state: FileState | None


_held: dict[str, _Held] = {}


def _lock_file(path: str, label: str) -> int:
    """An exclusive ``flock`` on the file ``path`` names now. A run that replaced the
    file while we waited leaves our lock on the old inode, so the name is opened again
    until the lock and the name agree."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: the changed-since-read check remains
        return _open_regular(path, "a prototxt")

    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        fd = _open_regular(path, "a prototxt")
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SurgeryError(
                            f"{label} {path}: another program has held it for"
                            f" {LOCK_WAIT_SECONDS:.0f} s (an --in-place edit); nothing written"
                        ) from None
                    time.sleep(_LOCK_POLL_SECONDS)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def hold_for_update(path: str, label: str = "--in-place") -> None:
    """Lock ``path`` for a read-modify-replace (released by :func:`release` or at exit)
    and remember its state, which the commit compares just before renaming: other
    ``--in-place`` runs wait for the lock, and any other writer's change is refused
    instead of lost."""
    key = os.path.realpath(path)
    if key not in _held:
        _held[key] = _Held(_lock_file(path, label), None)
    _held[key].state = file_state(path)


def release(path: str) -> None:
    held = _held.pop(os.path.realpath(path), None)
    if held is not None:
        os.close(held.fd)


def check_unchanged(path: Path) -> None:
    held = _held.get(os.path.realpath(path))
    if held is None or held.state is None:
        return
    if file_state(path) != held.state:
        raise SurgeryError(
            f"{path}: changed by another program since it was read; nothing written"
            " (run the command again on the new content)"
        )


def hard_link_note(path: str) -> str | None:
    """Replacing a file breaks its hard links: the other names keep the old content."""
    try:
        links = os.stat(path).st_nlink
    except OSError:
        return None
    if links <= 1:
        return None
    others = links - 1
    return (
        f"warning: {path} had {others} other hard link{'s' if others > 1 else ''};"
        f" --in-place replaced the file, so {'they keep' if others > 1 else 'it keeps'}"
        " the old content"
    )
