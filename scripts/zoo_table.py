"""Print the README's zoo table: what ``insert`` with no options does to each zoo net.

Usage: python scripts/zoo_table.py [ZOO_DIR]
(default: ../shared/zoo when it is beside the clone, else the shipped tests/data/zoo)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_in_project_venv() -> None:
    """Without an active venv the interpreter lacks scnn_surgery and its dependencies: run
    this script again under the clone's own .venv (``make install`` makes it)."""
    try:
        import scnn_surgery  # noqa: F401
    except ModuleNotFoundError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if not venv_python.exists() or Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
            sys.exit("zoo_table.py: scnn_surgery is not installed here; run `make install` first")
        os.execv(venv_python, [str(venv_python), *sys.argv])


run_in_project_venv()
import scnn_surgery as ss  # noqa: E402
from scnn_surgery.errors import SurgeryError  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.zoo_expectations import NAMED_POINTS, default_zoo  # noqa: E402


def outcome(path: Path) -> ss.InsertResult | str:
    """What insert with the sweep's options makes of ``path``: its result, or its refusal."""
    options = ss.InsertOptions(**NAMED_POINTS.get(path.stem, {}))  # type: ignore[arg-type]
    try:
        return ss.insert(ss.load(path), options)
    except SurgeryError as exc:
        return str(exc)


def row(path: Path, done: ss.InsertResult | str) -> str:
    named = NAMED_POINTS.get(path.stem, {})
    name = f"{path.parent.name}/{path.name}"  # the zoo's layout: category/net
    how = f"`--after {named['after']}`" if "after" in named else "automatic"
    if isinstance(done, str):
        reason = done.replace(str(path), "FILE").replace("|", "\\|")
        return f"| {name} | refused | {how} | {reason} |"
    spec = done.spec
    after = done.point.after.name if done.point.after else "(input)"
    return (
        f"| {name} | converted | {how} | `{done.point.blob}` after `{after}`,"
        f" {spec.height}x{spec.width}x{spec.channels} |"
    )


def table(outcomes: Mapping[Path, ss.InsertResult | str]) -> str:
    """The Markdown table, one row per net in category/name order (the nets may come from
    more than one copy of the zoo: the shipped one and ../shared)."""
    lines = ["| net | result | point | where, HxWxC / reason |", "|---|---|---|---|"]
    order = sorted(outcomes, key=lambda path: (path.parent.name, path.name))
    lines += [row(path, outcomes[path]) for path in order]
    return "".join(line + "\n" for line in lines)


def main() -> int:
    zoo = Path(sys.argv[1]) if len(sys.argv) > 1 else default_zoo("zoo_table.py")
    if not zoo.is_dir():
        print(f"zoo_table.py: error: {zoo}: no such directory", file=sys.stderr)
        return 1
    paths = sorted(zoo.rglob("*.prototxt"))
    if not paths:
        print(f"zoo_table.py: error: {zoo}: no .prototxt files under it", file=sys.stderr)
        return 1
    sys.stdout.write(table({path: outcome(path) for path in paths}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
