from __future__ import annotations

from pathlib import Path

import pytest

from scnn_surgery.errors import SurgeryError
from scnn_surgery.files import read_input_bytes, same_file, stage_file, write_bytes_atomic


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


def test_same_file_sees_through_spellings_and_links(tmp_path: Path) -> None:
    target = tmp_path / "a.prototxt"
    target.write_text("x")
    (tmp_path / "l.prototxt").symlink_to(target)
    assert same_file(target, tmp_path / "." / "a.prototxt")
    assert same_file(tmp_path / "l.prototxt", target)
    assert not same_file(target, tmp_path / "absent")
