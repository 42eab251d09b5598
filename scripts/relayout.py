"""Move the package's modules into core/, analysis/ and report/, and rewrite every import.

Run from the repository root: ``python scripts/relayout.py`` moves what is still at its old
place (``git mv``) and rewrites imports in every tracked or new Python file; it is idempotent,
so running it again after merging a branch written against the old layout fixes that branch's
new files too (``python scripts/relayout.py FILE...`` rewrites just those).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "scnn_surgery"

# old module (relative to the package) -> new module
MOVES = {
    "document": "core.document",
    "net": "core.net",
    "graph": "core.graph",
    "ops": "core.ops",
    "export": "core.text_export",
    "formats": "core.formats",
    "layerdef": "core.layerdef",
    "typed": "core.typed",
    "shapes": "analysis.shapes",
    "layerrules": "analysis.layerrules",
    "params": "analysis.params",
    "check": "analysis.check",
    "compare": "analysis.compare",
    "inspection": "analysis.inspection",
    "modules": "analysis.modules",
    "verify": "analysis.verify",
    "passes.autopoint": "analysis.autopoint",
    "passes.advice": "analysis.advice",
    "passes.geometry": "analysis.geometry",
    "htmlreport": "report.htmlreport",
    "changeview": "report.changeview",
    "draw": "report.draw",
    "values": "core.values",
    "textedit": "core.textedit",
    "batchreport": "report.batchreport",
}
DIRECTORIES = {"htmlassets": "report/htmlassets"}
TEST_MOVES = {
    "tests/test_document.py": "tests/core/test_document.py",
    "tests/test_net.py": "tests/core/test_net.py",
    "tests/test_graph.py": "tests/core/test_graph.py",
    "tests/test_ops.py": "tests/core/test_ops.py",
    "tests/test_export.py": "tests/core/test_text_export.py",
    "tests/test_typed.py": "tests/core/test_typed.py",
    "tests/test_shapes.py": "tests/analysis/test_shapes.py",
    "tests/test_layerrules.py": "tests/analysis/test_layerrules.py",
    "tests/test_params.py": "tests/analysis/test_params.py",
    "tests/test_check.py": "tests/analysis/test_check.py",
    "tests/test_check_unknown_fields.py": "tests/analysis/test_check_unknown_fields.py",
    "tests/test_compare.py": "tests/analysis/test_compare.py",
    "tests/test_inspection.py": "tests/analysis/test_inspection.py",
    "tests/test_modules.py": "tests/analysis/test_modules.py",
    "tests/test_verify.py": "tests/analysis/test_verify.py",
    "tests/passes/test_autopoint.py": "tests/analysis/test_autopoint.py",
    "tests/passes/test_advice.py": "tests/analysis/test_advice.py",
    "tests/passes/test_geometry.py": "tests/analysis/test_geometry.py",
    "tests/test_htmlreport.py": "tests/report/test_htmlreport.py",
    "tests/test_changeview.py": "tests/report/test_changeview.py",
    "tests/test_draw.py": "tests/report/test_draw.py",
    "tests/test_values.py": "tests/core/test_values.py",
}
NEW_PACKAGES = (
    "scnn_surgery/core",
    "scnn_surgery/analysis",
    "scnn_surgery/report",
    "tests/core",
    "tests/analysis",
    "tests/report",
)
PACKAGE_DOCS = {
    "scnn_surgery/core": "The model: the lossless document, the net and its per-phase graphs, the "
    "graph operations, and the text they are written back as.",
    "scnn_surgery/analysis": "What is read off the model: shapes, parameters, Caffe's checks, "
    "comparisons, modules, the automatic point and its advice.",
    "scnn_surgery/report": "What is shown to a person: HTML pages, pictures of graphs and changes.",
}

FROM_IMPORT = re.compile(r"^(?P<indent>[ \t]*)from (?P<dots>\.+)(?P<module>[\w.]*) import ", re.M)


def absolute_moves() -> dict[str, str]:
    return {f"{PACKAGE}.{old}": f"{PACKAGE}.{new}" for old, new in MOVES.items()}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = [*parts[:-1], "__init__"]
    return ".".join(parts)


def package_of(module: str) -> str:
    """The package a module's relative imports start from (an __init__'s own package)."""
    return module.rsplit(".", 1)[0]


def resolve(package: str, dots: str, name: str) -> str:
    base = package.split(".")
    if len(dots) > 1:
        base = base[: len(base) - (len(dots) - 1)]
    return ".".join([*base, name] if name else base)


def relative(from_package: str, target: str) -> str:
    here, there = from_package.split("."), target.split(".")
    common = 0
    while common < min(len(here), len(there)) and here[common] == there[common]:
        common += 1
    ups = len(here) - common
    return "." * (ups + 1) + ".".join(there[common:])


def rewrite_relative(text: str, old_package: str, new_package: str, moves: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        target = resolve(new_package, match["dots"], match["module"])
        if not exists(target):  # written against the old layout: resolve it from there
            target = resolve(old_package, match["dots"], match["module"])
            target = moves.get(target, target)
        if not target.startswith((PACKAGE, "tests")):
            return match[0]
        return f"{match['indent']}from {relative(new_package, target)} import "

    return FROM_IMPORT.sub(replace, text)


def exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def rewrite_absolute(text: str, moves: dict[str, str]) -> str:
    for old in sorted(moves, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", moves[old], text)
        old_path, new_path = old.replace(".", "/"), moves[old].replace(".", "/")
        text = re.sub(rf"(?<![\w/]){re.escape(old_path)}\.py\b", f"{new_path}.py", text)
    return text


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def move_files() -> dict[Path, Path]:
    """git mv what is still at its old place; returns new path -> old path."""
    moved: dict[Path, Path] = {}
    for package in NEW_PACKAGES:
        init = ROOT / package / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            doc = PACKAGE_DOCS.get(package, "Tests of the package of the same name.")
            init.write_text(f'"""{doc}"""\n' if package.startswith(PACKAGE) else "")
            git("add", str(init.relative_to(ROOT)))
    pairs = {
        f"{PACKAGE}/{old.replace('.', '/')}.py": f"{PACKAGE}/{new.replace('.', '/')}.py"
        for old, new in MOVES.items()
    }
    pairs.update({f"{PACKAGE}/{o}": f"{PACKAGE}/{n}" for o, n in DIRECTORIES.items()})
    pairs.update(TEST_MOVES)
    for old, new in pairs.items():
        if (ROOT / old).exists() and not (ROOT / new).exists():
            git("mv", old, new)
            moved[ROOT / new] = ROOT / old
    return moved


def python_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).exists()]


def rewrite(path: Path, old_path: Path, moves: dict[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    old_module, new_module = module_of(old_path), module_of(path)
    new = text
    if old_module.startswith((PACKAGE, "tests")):
        new = rewrite_relative(new, package_of(old_module), package_of(new_module), moves)
    new = rewrite_absolute(new, moves)
    if new != text:
        path.write_text(new, encoding="utf-8")


def old_place(path: Path) -> Path:
    """Where a file now at a new place stood in the old layout (itself if it did not move)."""
    for old, new in MOVES.items():
        if path == ROOT / PACKAGE / f"{new.replace('.', '/')}.py":
            return ROOT / PACKAGE / f"{old.replace('.', '/')}.py"
    return path


def main(argv: list[str]) -> int:
    moves = absolute_moves()
    if argv:
        for name in argv:
            path = Path(name).resolve()
            rewrite(path, old_place(path), moves)
        return 0
    moved = move_files()
    for path in python_files():
        rewrite(path, moved.get(path, old_place(path)), moves)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
