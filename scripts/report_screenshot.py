"""Take the README's screenshot of an HTML report with headless Chromium.

    python scripts/report_screenshot.py [PAGE] [OUTPUT]
        defaults: build/zoo_report.html (made by `make report`), docs/zoo_report.png

The first row is opened, so the picture of its change shows under the summary and the
table. Needs Debian's ``chromium`` (or Chrome) on the PATH.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGE = ROOT / "build" / "zoo_report.html"
DEFAULT_OUTPUT = ROOT / "docs" / "zoo_report.png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# No network, no first-run work, no profile of the user's: a reproducible picture.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = "1280,1700"
OPENED = "#open=model-0"  # the page's own way to open rows without scrolling to them


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def screenshot(browser: str, page: Path, output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="scnn-surgery-chromium-") as profile:
        subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW}",
             f"--screenshot={output}", page.resolve().as_uri() + OPENED],
            check=True, capture_output=True, timeout=180,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", type=Path, default=DEFAULT_PAGE)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("report_screenshot: error: no Chromium found (apt-get install chromium)",
              file=sys.stderr)
        return 1
    if not args.page.is_file():
        print(f"report_screenshot: error: {args.page} does not exist (run make report)",
              file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        screenshot(browser, args.page, args.output)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"report_screenshot: error: {browser} failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
