"""Make batch workers die or hang on chosen models, as a segfault, the OOM killer or an
endless loop would: the worker's ``convert`` is wrapped. Workers are forked, so they run
the wrapper the parent installed; a command run as a subprocess installs it with
:data:`BOOTSTRAP`. Which models: those whose source path holds the value of
``SCNN_SURGERY_TEST_CRASH`` (killed) or ``SCNN_SURGERY_TEST_HANG`` (hang until killed)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from scnn_surgery import batch
from scnn_surgery.report.batchreport import Job, Outcome

CRASH_HOOK = "SCNN_SURGERY_TEST_CRASH"
HANG_HOOK = "SCNN_SURGERY_TEST_HANG"

# ``python -c BOOTSTRAP batch ...``: the command line, with the hooks installed.
BOOTSTRAP = (
    "import tests.batch_hooks as h; h.install(); from scnn_surgery.cli.entry import main; main()"
)


def _hooked(convert: Callable[[Job], Outcome]) -> Callable[[Job], Outcome]:
    def run(job: Job) -> Outcome:
        crash = os.environ.get(CRASH_HOOK)
        if crash and crash in job.source:
            os.kill(os.getpid(), signal.SIGKILL)
        hang = os.environ.get(HANG_HOOK)
        if hang and hang in job.source:
            while True:
                time.sleep(3600)
        return convert(job)

    return run


def install(monkeypatch: pytest.MonkeyPatch | None = None) -> None:
    """Wrap the workers' ``convert`` (undone with the test when ``monkeypatch`` is given)."""
    hooked = _hooked(batch.convert)
    if monkeypatch is None:
        batch.convert = hooked  # type: ignore[assignment]  # a subprocess of its own
    else:
        monkeypatch.setattr(batch, "convert", hooked)
