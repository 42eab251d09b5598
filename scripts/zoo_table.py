"""Print the README's zoo table: what ``insert`` with no options does to each zoo net.

Usage: python scripts/zoo_table.py [ZOO_DIR]   (default: ../shared/zoo)
"""

from __future__ import annotations

import sys
from pathlib import Path

import scnn_surgery as ss
from scnn_surgery.errors import SurgeryError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.zoo_expectations import NAMED_POINTS  # noqa: E402


def row(path: Path, zoo: Path) -> str:
    named = NAMED_POINTS.get(path.stem, {})
    options = ss.InsertOptions(**named)  # type: ignore[arg-type]
    name = path.relative_to(zoo).as_posix()
    how = f"`--after {named['after']}`" if "after" in named else "automatic"
    try:
        result = ss.insert(ss.load(path), options)
    except SurgeryError as exc:
        reason = str(exc).replace(str(path), "FILE").replace("|", "\\|")
        return f"| {name} | refused | {how} | {reason} |"
    spec = result.spec
    after = result.point.after.name if result.point.after else "(input)"
    return (
        f"| {name} | converted | {how} | `{result.point.blob}` after `{after}`,"
        f" {spec.height}x{spec.width}x{spec.channels} |"
    )


def main() -> int:
    zoo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "zoo"
    print("| net | result | point | where, HxWxC / reason |")
    print("|---|---|---|---|")
    for path in sorted(zoo.rglob("*.prototxt")):
        print(row(path, zoo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
