"""What the commit of a verb's outputs promises (issue 19, items 1-4): concurrent
``--in-place`` edits all land or fail, read-only files are refused, a signal during the
commit leaves the outputs all new (exit 0), and a hard link broken by ``--in-place`` is
named."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery import files
from scnn_surgery.cli.main import cli

from .conftest import RunCli
from .test_cli_verbs import SMALL, caffemodel, write

RELUS = 8
CHAIN = "\n".join(
    [
        'name: "chain"',
        'layer { name: "data" type: "Input" top: "data"'
        " input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }",
        *(
            f'layer {{ name: "r{i}" type: "ReLU" bottom: "data" top: "data" }}'
            for i in range(RELUS)
        ),
        'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"'
        " inner_product_param { num_output: 2 } }",
        "",
    ]
)


def _remove_in_place(model: str, layer: str) -> None:
    """One concurrent ``remove LAYER --in-place`` (a forked child: no interpreter start)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        cli.main(["remove", model, layer, "--in-place"], prog_name="scnn-surgery")
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    os._exit(0)


def test_concurrent_in_place_edits_all_land_or_fail(tmp_path: Path) -> None:
    model = write(tmp_path / "chain.prototxt", CHAIN)
    ss.remove(ss.loads(CHAIN), ["r0"])  # the verb's modules are loaded before the fork
    context = multiprocessing.get_context("fork")
    runs = [
        context.Process(target=_remove_in_place, args=(str(model), f"r{i}")) for i in range(RELUS)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join(60)
    landed = [f"r{i}" for i, run in enumerate(runs) if run.exitcode == 0]
    assert all(run.exitcode in (0, 1) for run in runs)
    text = model.read_text()
    assert [name for name in landed if f'name: "{name}"' in text] == []
    assert len(landed) == RELUS  # they waited for each other: none had to fail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.prototxt"]


def test_a_model_changed_by_another_program_since_it_was_read_is_not_replaced(
    tmp_path: Path,
) -> None:
    model = write(tmp_path / "net.prototxt", SMALL)
    files.hold_for_update(str(model))
    try:
        model.write_text(SMALL + "# an editor saved this\n")
        with pytest.raises(ss.SurgeryError, match="changed by another program"):
            files.write_bytes_atomic(model, b"ours")
    finally:
        files.release(str(model))
    assert model.read_text().endswith("# an editor saved this\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.prototxt"]


@pytest.mark.parametrize("in_place", [False, True])
def test_a_read_only_output_is_refused_naming_it(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, in_place: bool
) -> None:
    # Root may write any file, so the permission probe answers as for an ordinary user.
    monkeypatch.setattr(files, "_writable", lambda path: False)
    model = write(tmp_path / "net.prototxt", SMALL)
    target = write(tmp_path / "out.prototxt", "keep")
    where = ["--in-place"] if in_place else ["-o", str(target)]
    code, out, err = run_cli("remove", str(model), "drop1", *where)
    named = model if in_place else target
    assert code == 1 and out == ""
    assert f"{named}: permission denied (the file is read-only)" in err
    assert model.read_text() == SMALL and target.read_text() == "keep"


def test_an_unwritable_directory_is_refused_before_any_work(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outputs are staged beside their destination, so a directory this user may not write
    # fails every output; batch's report found that only after converting every model.
    unwritable = tmp_path / "theirs"
    unwritable.mkdir()
    monkeypatch.setattr(files, "_writable_directory", lambda d: Path(d) != unwritable)
    model = write(tmp_path / "net.prototxt", SMALL)
    code, _, err = run_cli("remove", str(model), "drop1", "-o", str(unwritable / "x.prototxt"))
    assert code == 1 and f"its directory {unwritable} is not writable" in err
    report = unwritable / "r.json"
    code, _, err = run_cli(
        "batch", str(model), "-o", str(tmp_path / "out"), "--report", str(report)
    )
    assert code == 1 and err.count("\n") == 1 and f"--report {report}: permission denied" in err
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(files, "_writable_directory", lambda d: False)
    code, _, _ = run_cli("remove", str(model), "drop1", "-o", os.devnull)
    assert code == 0  # a device is written, not replaced


def test_the_permission_probe_uses_the_effective_ids(tmp_path: Path) -> None:
    target = write(tmp_path / "ro.prototxt", "x")
    target.chmod(0o444)
    assert files._writable(str(target)) == os.access(target, os.W_OK, effective_ids=True)


def _signal_at(step: int, signum: int) -> files.Callable[[str], None]:
    steps = iter(range(1, 1000))

    def hook(_: str) -> None:
        if next(steps) == step:
            os.kill(os.getpid(), signum)

    return hook


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_at_any_commit_step_leaves_both_outputs_new_and_exits_0(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    model = write(tmp_path / "small.prototxt", SMALL)
    weights = caffemodel(tmp_path / "small.caffemodel", SMALL)
    out, weights_out = tmp_path / "out.prototxt", tmp_path / "out.caffemodel"
    args = ["remove", str(model), "conv2", "-o", str(out)]
    args += ["--weights", str(weights), "--weights-out", str(weights_out)]
    steps = 0
    for step in range(1, 8):
        out.write_text("old"), weights_out.write_text("old")
        monkeypatch.setattr(files, "commit_step_hook", _signal_at(step, signum))
        code, _, err = run_cli(*args)
        assert code == 0, err
        assert 'name: "conv2"' not in out.read_text()
        assert weights_out.read_bytes() != b"old"
        names = sorted(p.name for p in tmp_path.iterdir())
        assert names == ["out.caffemodel", "out.prototxt", "small.caffemodel", "small.prototxt"]
        delivered = f"{signal.Signals(signum).name} arrived while the outputs were written"
        if delivered in err:
            steps = step
    assert steps >= 3  # link, rename, link, rename: each step was hit


def test_the_commit_defers_signals_and_restores_the_handlers(tmp_path: Path) -> None:
    handler = signal.getsignal(signal.SIGINT)
    with files.signals_deferred() as arrived:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
    assert sorted(arrived) == [signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_a_temporary_left_by_a_killed_commit_is_named_by_the_next_run(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model = write(tmp_path / "net.prototxt", SMALL)
    out = tmp_path / "out.prototxt"
    stale = write(tmp_path / ".out.prototxt.0123abcd.previous.tmp", "old")
    code, _, err = run_cli("remove", str(model), "drop1", "-o", str(out))
    assert code == 0
    assert f"warning: {stale} was left by a run killed while committing" in err


def test_in_place_names_the_hard_links_it_breaks(tmp_path: Path, run_cli: RunCli) -> None:
    model = write(tmp_path / "net.prototxt", SMALL)
    os.link(model, tmp_path / "other.prototxt")
    os.link(model, tmp_path / "third.prototxt")
    code, _, err = run_cli("remove", str(model), "drop1", "--in-place")
    assert code == 0
    assert f"warning: {model} had 2 other hard links; --in-place replaced the file" in err
    assert (tmp_path / "other.prototxt").read_text() == SMALL


def test_output_through_a_dangling_link_names_the_missing_directory(
    tmp_path: Path, run_cli: RunCli
) -> None:
    model = write(tmp_path / "net.prototxt", SMALL)
    link = tmp_path / "out.prototxt"
    link.symlink_to(tmp_path / "gone" / "x.prototxt")
    code, _, err = run_cli("remove", str(model), "drop1", "-o", str(link))
    assert code == 2
    assert f"a symbolic link to {tmp_path}/gone/x.prototxt, whose directory {tmp_path}/gone" in err


def test_a_sticky_directory_refusal_names_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path / "theirs.prototxt", "x")
    tmp_path.chmod(0o1777)
    monkeypatch.setattr(os, "geteuid", lambda: 4242)  # neither root nor an owner
    refusal = files._sticky_owner_refusal(str(target))
    assert refusal is not None and "its directory is sticky (like /tmp)" in refusal
    assert "belongs to user 0" in refusal


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an ordinary user")
def test_an_ordinary_user_is_refused_a_read_only_output() -> None:
    """As the shell's '>' would be: a forked child gives up root for 'nobody'."""
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="scnn-surgery-ro-"))
    try:
        directory.chmod(0o755)
        target = write(directory / "ro.prototxt", "keep")
        target.chmod(0o444)
        pid = os.fork()
        if pid == 0:  # the child: exit 3 when refused as read-only, 4 otherwise
            code = 4
            try:
                os.setgid(65534)
                os.setuid(65534)
                files.check_output_paths([], [files.NamedPath("-o", str(target))])
            except ss.SurgeryError as exc:
                code = 3 if "permission denied (the file is read-only)" in str(exc) else 5
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()


def test_ctrl_c_after_the_outputs_were_written_exits_0(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """insert says what its module costs after writing; a Ctrl-C then changes nothing."""
    from scnn_surgery.verbs import VerbSpec, insert

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(insert.InsertResult, "afterwords", interrupted)
    model = write(tmp_path / "net.prototxt", SMALL)
    out = tmp_path / "out.prototxt"
    code, _, err = run_cli("insert", str(model), "--after", "conv1", "--kernel-width", "3",
                           "-o", str(out))  # fmt: skip
    assert code == 0 and "interrupted after the outputs were written" in err
    assert 'name: "Slice1"' in out.read_text()
    # before anything was written
    monkeypatch.setattr(insert, "VERB", VerbSpec("insert", interrupted))
    code, _, err = run_cli("insert", str(model), "--after", "conv1", "-o", str(tmp_path / "x"))
    assert code == 130 and err.endswith("scnn-surgery: interrupted\n")


def _strace_can_trace() -> bool:
    """strace present, and allowed to trace here (a container may forbid ptrace)."""
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-o", os.devnull, "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _strace_can_trace(), reason="no strace that may trace here")
@pytest.mark.parametrize("when", [1, 2])
def test_sigint_injected_by_strace_at_a_rename_or_link_of_the_commit(
    tmp_path: Path, when: int
) -> None:
    """The issue's own reproduction: the first or second rename/link of a commit."""
    model = write(tmp_path / "small.prototxt", SMALL)
    weights = caffemodel(tmp_path / "small.caffemodel", SMALL)
    out, weights_out = write(tmp_path / "out.prototxt", "old"), tmp_path / "out.caffemodel"
    weights_out.write_text("old")
    calls = "rename,renameat,renameat2,linkat"
    proc = subprocess.run(
        ["strace", "-f", "-o", os.devnull, "-e", f"trace={calls}",
         "-e", f"inject={calls}:signal=INT:when={when}",
         sys.executable, "-m", "scnn_surgery", "remove", str(model), "conv2", "-o", str(out),
         "--weights", str(weights), "--weights-out", str(weights_out)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "SIGINT arrived while the outputs were written; they are complete" in proc.stderr
    assert 'name: "conv2"' not in out.read_text() and weights_out.read_bytes() != b"old"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_commit_holds_its_directory_so_two_runs_do_not_interleave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs writing one prototxt and caffemodel could end with one's prototxt and the
    other's caffemodel; while a commit renames, the directory's lock is held."""
    import fcntl

    seen: list[bool] = []

    def probe(step: str) -> None:
        fd = os.open(tmp_path, os.O_RDONLY)  # another open file: flock conflicts with it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            seen.append(False)
        except BlockingIOError:
            seen.append(True)
        finally:
            os.close(fd)

    monkeypatch.setattr(files, "commit_step_hook", probe)
    with files.OutputFiles() as outputs:
        outputs.stage(tmp_path / "net.prototxt", b"new")
        outputs.stage(tmp_path / "net.caffemodel", b"new")
        outputs.commit()
    assert seen and all(seen)
    assert files.stale_temporaries(tmp_path / "net.prototxt") == []  # the lock is free again
