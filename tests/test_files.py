from __future__ import annotations

import errno
import io
import os
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from scnn_surgery import files
from scnn_surgery.errors import SurgeryError, UsageError
from scnn_surgery.files import (
    NamedPath,
    OutputFiles,
    check_output_paths,
    format_bytes,
    named,
    read_input_bytes,
    stage_file,
    write_bytes_atomic,
)

from .conftest import DATA, RunCli


def test_read_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(SurgeryError, match=r"absent: no such file$"):
        read_input_bytes(tmp_path / "absent", "a prototxt file")
    with pytest.raises(SurgeryError, match="is a directory, not a caffemodel"):
        read_input_bytes(tmp_path, "a caffemodel")


def test_atomic_write_keeps_mode_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "out.prototxt"
    target.write_text("old")
    target.chmod(0o640)
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.prototxt"]


def test_staged_file_is_invisible_until_commit(tmp_path: Path) -> None:
    target = tmp_path / "w.caffemodel"
    staged = stage_file(target, b"x")
    assert not target.exists()
    staged.discard()
    assert list(tmp_path.iterdir()) == []
    stage_file(target, b"y").commit()
    assert target.read_bytes() == b"y"


def test_writing_through_a_link_replaces_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.prototxt"
    target.write_text("old")
    link = tmp_path / "link.prototxt"
    link.symlink_to(target.name)
    write_bytes_atomic(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"


# ---------------------------------------------------------------------------
# Reading: regular files and standard input only, up to a stated limit


def test_devices_and_pipes_are_refused_without_reading_them(tmp_path: Path) -> None:
    with pytest.raises(SurgeryError, match=r"^/dev/zero: not a regular file"):
        read_input_bytes("/dev/zero", "a prototxt")
    fifo = tmp_path / "net.prototxt"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(SurgeryError, match="not a regular file"):
        read_input_bytes(fifo, "a prototxt")


def test_a_file_over_the_limit_is_refused_naming_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.prototxt"
    big.write_bytes(b"#" * 2049)
    with pytest.raises(SurgeryError) as refused:
        read_input_bytes(big, "a prototxt", limit=2048)
    assert str(refused.value) == (
        f"{big}: 2,049 bytes; scnn-surgery reads at most 2 KiB for a prototxt"
    )
    assert read_input_bytes(big, "a prototxt", limit=4096) == b"#" * 2049


def test_stdin_is_read_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_TEXT_BYTES", 1024)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 1024)))
    assert read_input_bytes("-", "a prototxt") == b"x" * 1024
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 1025)))
    with pytest.raises(SurgeryError, match=r"^<stdin>: more than 1 KiB; .* at most 1 KiB"):
        read_input_bytes("-", "a prototxt")


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (7, 2048, 256 * 2**20, 3_623_878_656)] == [
        "7 bytes", "2 KiB", "256 MiB", "3.4 GiB",
    ]


# ---------------------------------------------------------------------------
# Output paths: never an input, never a directory, never empty


def _refusal(inputs: list[NamedPath], outputs: list[NamedPath]) -> str:
    with pytest.raises(UsageError) as refused:
        check_output_paths(inputs, outputs)
    assert refused.value.exit_code == 2
    return str(refused.value)


def test_an_output_that_is_an_input_is_refused_however_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "net.prototxt"
    model.write_text("x")
    (tmp_path / "soft.prototxt").symlink_to(model)
    os.link(model, tmp_path / "hard.prototxt")
    monkeypatch.chdir(tmp_path)
    spellings = ["net.prototxt", "./net.prototxt", str(model), "soft.prototxt", "hard.prototxt",
                 f"../{tmp_path.name}/net.prototxt"]  # fmt: skip
    for spelling in spellings:
        message = _refusal(named("MODEL", "net.prototxt"), named("-o", spelling))
        assert message == (
            f"-o {spelling} is the same file as MODEL net.prototxt; the input is never written"
        )
    check_output_paths(named("MODEL", model), named("-o", "other.prototxt"))


def test_a_command_with_in_place_says_how_to_ask_for_model_to_be_written(tmp_path: Path) -> None:
    model = tmp_path / "net.prototxt"
    model.write_text("x")
    weights = tmp_path / "w.caffemodel"
    weights.write_text("w")
    with pytest.raises(UsageError, match=r"; the input is never written unless you ask with"
                       r" --in-place$"):  # fmt: skip
        check_output_paths(named("MODEL", model), named("-o", model), in_place=True)
    with pytest.raises(UsageError, match=r"--weights .*; the input is never written$"):
        check_output_paths(named("--weights", weights), named("-o", weights), in_place=True)


def test_a_replaced_file_keeps_its_owner_and_group(tmp_path: Path) -> None:
    target = tmp_path / "net.prototxt"
    target.write_text("old")
    owner = (4242, 4343) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(target, *owner)
    target.chmod(0o604)
    write_bytes_atomic(target, b"new")
    info = target.stat()
    assert target.read_bytes() == b"new"
    assert (info.st_uid, info.st_gid) == owner and stat.S_IMODE(info.st_mode) == 0o604


def test_two_outputs_naming_one_file_are_refused(tmp_path: Path) -> None:
    new = tmp_path / "new.prototxt"
    message = _refusal([], [*named("-o", new), *named("--weights-out", tmp_path / "." / new.name)])
    assert message.endswith("name the same file; give each output its own")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "-o '': an empty path names no file"),
        ("{tmp}", "-o {tmp}: names a directory; give a file name"),
        ("{tmp}/new/", "-o {tmp}/new/: names a directory; give a file name"),
        ("{tmp}/absent/out.prototxt", "-o {tmp}/absent/out.prototxt: directory {tmp}/absent does"
         " not exist"),
    ],
)  # fmt: skip
def test_outputs_that_cannot_name_a_file_are_usage_errors(
    tmp_path: Path, path: str, message: str
) -> None:
    output = path.format(tmp=tmp_path)
    assert _refusal([], named("-o", output)) == message.format(tmp=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Staging and committing


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_outputs_are_committed_together(tmp_path: Path) -> None:
    text, weights = tmp_path / "net.prototxt", tmp_path / "net.caffemodel"
    with OutputFiles() as outputs:
        outputs.stage(weights, b"blobs")
        outputs.stage(text, b"layers")
        assert _names(tmp_path) == []  # staged files are not even visible by name
        outputs.commit()
    assert (text.read_bytes(), weights.read_bytes()) == (b"layers", b"blobs")
    assert _names(tmp_path) == ["net.caffemodel", "net.prototxt"]


def test_a_failed_commit_puts_back_what_was_already_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, weights = tmp_path / "net.prototxt", tmp_path / "net.caffemodel"
    text.write_bytes(b"old layers")
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == text:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with (
        pytest.raises(SurgeryError, match=r"net\.prototxt: cannot write: No space left"),
        OutputFiles() as outputs,
    ):
        outputs.stage(weights, b"blobs")
        outputs.stage(text, b"new layers")
        outputs.commit()
    assert not weights.exists()  # committed first, then taken back
    assert text.read_bytes() == b"old layers"
    assert _names(tmp_path) == ["net.prototxt"]


def test_a_failed_commit_restores_a_replaced_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, weights = tmp_path / "net.prototxt", tmp_path / "net.caffemodel"
    weights.write_bytes(b"old blobs")
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == text:
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(SurgeryError), OutputFiles() as outputs:
        outputs.stage(weights, b"new blobs")
        outputs.stage(text, b"layers")
        outputs.commit()
    assert weights.read_bytes() == b"old blobs"
    assert _names(tmp_path) == ["net.caffemodel"]


@pytest.mark.parametrize("anonymous", [True, False])
@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_nothing_staged_survives_an_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anonymous: bool,
    interruption: type[BaseException],
) -> None:  # fmt: skip
    if not anonymous:  # where O_TMPFILE is missing, a hidden named file is used
        monkeypatch.setattr(files, "_anonymous_file", lambda directory: None)
    target = tmp_path / "net.prototxt"
    target.write_bytes(b"old")
    with pytest.raises(interruption), OutputFiles() as outputs:
        outputs.stage(target, b"new")
        outputs.stage(tmp_path / "net.caffemodel", b"blobs")
        raise interruption()
    assert _names(tmp_path) == ["net.prototxt"] and target.read_bytes() == b"old"


def test_sigterm_unwinds_and_removes_staged_files(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped, OutputFiles() as outputs:
        outputs.stage(tmp_path / "net.prototxt", b"new")
        signal.raise_signal(signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert _names(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_pipe_or_device_is_written_to_not_replaced(tmp_path: Path) -> None:
    """Renaming over /dev/null would replace the device with a regular file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_bytes_atomic(fifo, b"streamed")
    reader.join()
    assert received == [b"streamed"]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and _names(tmp_path) == ["pipe"]


def test_pieces_are_written_one_after_another(tmp_path: Path) -> None:
    """A large output given as pieces (an ONNX model's tensors) is written piece by piece,
    never joined, to a file and to a pipe alike; wide items count by their bytes."""
    wide = memoryview(bytearray(range(256)) * 3).cast("I")  # 4-byte items
    pieces = [b"head", wide, b"", memoryview(b"tail")]
    expected = b"head" + bytes(wide) + b"tail"
    target = tmp_path / "out"
    target.write_bytes(b"old")
    write_bytes_atomic(target, pieces)
    assert target.read_bytes() == expected and _names(tmp_path) == ["out"]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_bytes_atomic(fifo, pieces)
    reader.join()
    assert received == [expected]


def test_a_proc_that_refuses_links_falls_back_to_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link

    def link(src: str, dst: str, **kwargs: Any) -> None:
        if str(src).startswith("/proc/"):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)
    target = tmp_path / "w.caffemodel"
    write_bytes_atomic(target, b"blobs" * 1000)
    assert target.read_bytes() == b"blobs" * 1000 and _names(tmp_path) == ["w.caffemodel"]


# --- a full disk ----------------------------------------------------------------------------


def _disk_full(*_: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_one_line_and_leaves_the_target_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.prototxt"
    target.write_bytes(b"old")
    monkeypatch.setattr(files, "_write_all", _disk_full)
    with pytest.raises(SurgeryError) as info:
        write_bytes_atomic(target, b"new")
    assert str(info.value) == f"{target}: cannot write: No space left on device"
    assert [p.name for p in tmp_path.iterdir()] == ["out.prototxt"]
    assert target.read_bytes() == b"old"


def test_every_command_writing_a_file_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    net = DATA / "phases_inplace.prototxt"
    monkeypatch.setattr(files, "_write_all", _disk_full)
    out = tmp_path / "out"
    cases = [
        ["generate", "--height", "2", "--width", "2", "-o", f"{out}.prototxt"],
        ["insert", str(net), "--after", "conv1", "--kernel-width", "3", "-o", f"{out}.prototxt"],
        ["insert", str(net), "--after", "conv1", "--kernel-width", "3", "-o", "-",
         "--weights-out", f"{out}.caffemodel"],
        ["draw", str(net), "-o", f"{out}.dot"],
        ["batch", str(net), "-o", str(tmp_path / "zoo"), "--after", "conv1", "--kernel-width",
         "3", "--report", f"{out}.json"],
    ]  # fmt: skip
    for args in cases:
        code, _, err = run_cli(*args)
        assert code == 1, (args, err)
        assert "No space left on device" in err and "Traceback" not in err, err
        assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*")), args
    code, _, err = run_cli(*cases[0])
    assert err == f"scnn-surgery: error: {out}.prototxt: cannot write: No space left on device\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_to_dev_full_is_one_line(tmp_path: Path) -> None:
    import subprocess

    net = str(DATA / "phases_inplace.prototxt")
    for args in (
        ["generate", "--height", "2", "--width", "2"],
        ["insert", net, "--after", "conv1", "--kernel-width", "3"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "scnn_surgery", *args, "-o", "/dev/full"],
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 1
        assert proc.stderr.decode().splitlines()[-1] == (
            "scnn-surgery: error: /dev/full: cannot write: No space left on device"
        )
