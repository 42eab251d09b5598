"""Regenerate the protobuf modules in scnn_surgery/schema from proto/.

    python scripts/gen_proto.py           write the generated modules
    python scripts/gen_proto.py --check   exit 1 when the committed ones are stale

proto/caffe.proto becomes scnn_surgery/schema/caffe_pb2.py(+.pyi) and each
proto/dialects/<name>.proto becomes scnn_surgery/schema/dialects/<name>_pb2.py(+.pyi).
Needs grpcio-tools; its bundled protoc version is part of the output, so the
committed files are only reproducible with the pinned grpcio-tools.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "scnn_surgery" / "schema"
PACKAGE = "scnn_surgery.schema"
DIALECTS_INIT = '"""Generated per-fork schema modules (scripts/gen_proto.py)."""\n'
# protoc's stubs use bare Mapping in __init__ signatures, which strict mypy rejects.
PYI_HEADER = '# mypy: disable-error-code="type-arg"\n'

# protoc writes top-level imports for proto dependencies ("import caffe_pb2");
# inside the package they must name the package or they resolve to nothing.
_TOP_IMPORT = re.compile(r"^import (\w+_pb2) as (\w+)$", re.MULTILINE)
_DIALECT_IMPORT = re.compile(r"^from dialects import ", re.MULTILINE)


def proto_sources(proto_dir: Path = PROTO_DIR) -> list[str]:
    """Proto files relative to ``proto_dir``, caffe.proto first, in a stable order."""
    dialects = (proto_dir / "dialects").glob("*.proto")
    return ["caffe.proto", *sorted(p.relative_to(proto_dir).as_posix() for p in dialects)]


def _localize_imports(text: str) -> str:
    text = _TOP_IMPORT.sub(rf"from {PACKAGE} import \1 as \2", text)
    return _DIALECT_IMPORT.sub(f"from {PACKAGE}.dialects import ", text)


def generate_into(out_dir: Path, proto_dir: Path = PROTO_DIR) -> dict[str, str]:
    """Run protoc into ``out_dir``; return {relative path: final text} of every generated file."""
    sources = proto_sources(proto_dir)
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *sources,
    ]
    result = subprocess.run(cmd, cwd=proto_dir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed ({result.returncode}):\n{result.stderr}")
    files: dict[str, str] = {}
    for source in sources:
        stem = source[: -len(".proto")]
        for suffix in ("_pb2.py", "_pb2.pyi"):
            rel = stem + suffix
            text = _localize_imports((out_dir / rel).read_text(encoding="utf-8"))
            files[rel] = PYI_HEADER + text if suffix.endswith(".pyi") else text
    files["dialects/__init__.py"] = DIALECTS_INIT
    return files


def _generated_on_disk(out_dir: Path) -> set[str]:
    found: set[str] = set()
    for pattern in ("*_pb2.py", "*_pb2.pyi", "dialects/*_pb2.py", "dialects/*_pb2.pyi"):
        found.update(p.relative_to(out_dir).as_posix() for p in out_dir.glob(pattern))
    if (out_dir / "dialects" / "__init__.py").exists():
        found.add("dialects/__init__.py")
    return found


def expected_files() -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix="scnn-proto-") as tmp:
        return generate_into(Path(tmp))


def stale_files(out_dir: Path = OUT_DIR) -> list[str]:
    """Generated files that are missing, differ from a fresh run, or are left over."""
    expected = expected_files()
    problems = []
    for rel, text in sorted(expected.items()):
        path = out_dir / rel
        if not path.exists():
            problems.append(f"missing: {rel}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"stale: {rel}")
    for rel in sorted(_generated_on_disk(out_dir) - expected.keys()):
        problems.append(f"leftover: {rel}")
    return problems


def write(out_dir: Path = OUT_DIR) -> list[str]:
    """Bring ``out_dir`` up to date; return the relative paths that changed."""
    expected = expected_files()
    changed = []
    for rel, text in sorted(expected.items()):
        path = out_dir / rel
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(rel)
    for rel in sorted(_generated_on_disk(out_dir) - expected.keys()):
        (out_dir / rel).unlink()
        changed.append(rel)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("grpc_tools") is None:
        print("grpcio-tools is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    if args.check:
        problems = stale_files()
        for line in problems:
            print(line)
        if problems:
            print("generated schema modules are out of date: run `make proto`", file=sys.stderr)
            return 1
        print("generated schema modules are up to date")
        return 0
    for rel in write():
        print(f"updated {OUT_DIR.relative_to(ROOT) / rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
