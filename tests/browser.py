"""A real browser for the HTML report tests: Debian's chromium, headless.

Like Graphviz's ``dot`` for the drawing tests, the browser is optional: ``.ci/run`` installs
it where it can, and the tests that need it are skipped, with the reason, where it is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
TIMEOUT = 180  # seconds: two shared cores can be slow to start a browser


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


needs_browser = pytest.mark.skipif(
    find_browser() is None, reason="no Chromium to open the pages in (apt-get install chromium)"
)


def _run(url: str, *flags: str) -> str:
    browser = find_browser()
    assert browser is not None
    with tempfile.TemporaryDirectory(prefix="scnn-surgery-chromium-") as profile:
        proc = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", *flags, url],
            capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dump_dom(page: Path, fragment: str = "") -> str:
    """The page's DOM once it has loaded and its scripts have run, as HTML."""
    return _run(page.resolve().as_uri() + fragment, "--dump-dom")


def screenshot(page: Path, target: Path, size: str = "1280,1000", fragment: str = "") -> Path:
    _run(page.resolve().as_uri() + fragment, f"--screenshot={target}", f"--window-size={size}",
         "--hide-scrollbars")
    assert target.is_file(), f"{target} was not written"
    return target
