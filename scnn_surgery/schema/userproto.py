"""Compile a user's fork ``caffe.proto`` (``--proto``) with protoc.

protoc is the one that ``grpcio-tools`` ships (``pip install 'grpcio-tools>=1.85'``, the
optional ``proto`` extra). It writes a descriptor set of the file and its
imports; the descriptors go into a private descriptor pool, so a fork that declares
``package caffe`` cannot clash with :mod:`~scnn_surgery.schema.caffe_pb2`, and protobuf's
message factory makes the classes. protoc's own error becomes one line ``FILE:LINE:COL:
message`` in the .proto.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor

from ..errors import SurgeryError

# The package itself, which works wherever scnn-surgery came from; the extra pins it.
PROTO_EXTRA = (
    "pip install 'grpcio-tools>=1.85' (or, in a clone, the proto extra: pip install -e '.[proto]')"
)

# protoc's located diagnostics: "path/to/file.proto:3:22: Expected field number."
_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$")


def compile_proto(path: Path) -> FileDescriptor:
    """``path``'s file descriptor, in a pool of its own with its imports (found next to it).

    Raises :class:`SurgeryError` naming the extra when protoc is not installed, and with
    protoc's first error, located in the .proto, when the file does not compile.
    """
    if importlib.util.find_spec("grpc_tools") is None:
        raise SurgeryError(f"{path}: --proto needs protoc from grpcio-tools: {PROTO_EXTRA}")
    source = path.resolve()
    with tempfile.TemporaryDirectory(prefix="scnn-surgery-proto-") as scratch:
        descriptor_set = Path(scratch) / "descriptors.pb"
        command = [
            sys.executable, "-m", "grpc_tools.protoc",
            f"--proto_path={source.parent}",
            "--include_imports",
            f"--descriptor_set_out={descriptor_set}",
            str(source),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SurgeryError(protoc_error(done.stderr, path, done.returncode))
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:  # dependencies come first
        pool.Add(file)
    return pool.FindFileByName(files.file[-1].name)


def protoc_error(stderr: str, path: Path, status: int) -> str:
    """protoc's first error as one line, the user's own spelling of ``path`` in it."""
    located: list[str] = []
    other: list[str] = []
    for line in filter(None, (raw.strip() for raw in stderr.splitlines())):
        match = _LOCATED.match(line)
        if (match and match["message"].startswith("warning:")) or _is_log_noise(line):
            continue
        if match:
            located.append(_spelled(match["file"], path) + line[len(match["file"]) :])
        else:
            other.append(line)
    errors = located or other
    if not errors:
        return f"{path}: protoc failed (exit status {status})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    first = errors[0] if located else f"{path}: {errors[0]}"
    return first.rstrip(".") + more


def _spelled(file: str, path: Path) -> str:
    """The file as the user named it, when protoc names the file the user gave."""
    try:
        return str(path) if Path(file).resolve() == path.resolve() else file
    except OSError:
        return file


def _is_log_noise(line: str) -> bool:
    """protoc's logging (absl and libprotobuf), such as its note that no syntax is given."""
    return (
        line.startswith(("WARNING:", "[libprotobuf WARNING", "[libprotobuf INFO"))
        or re.match(r"^[WI]\d{4} ", line) is not None
    )
