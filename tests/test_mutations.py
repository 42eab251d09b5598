"""Every command on broken nets (issue 13): mutations of zoo nets and of generated ones.

Each example mutates a net (truncation, a dropped brace, random bytes, a NUL, a BOM with
CRLF, an undefined bottom, a cycle, a duplicate top, a bad number, a bad enum, deep
nesting; and a dropped, duplicated, swapped or retyped layer, or a phase rule on a random
one) and runs every command on it through ``run_cli``. Each command either succeeds
with a result that reads back, or refuses with exactly one line on stderr, ``scnn-surgery:
error: ...``, naming the place (the file and its line, or a layer), with nothing on stdout
and no output file. No command prints a traceback, hangs, or changes its input.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.core.document import Document
from scnn_surgery.core.net import Net
from scnn_surgery.errors import PrototxtSyntaxError, SurgeryError

from .conftest import RunCli, zoo_files
from .strategies import GenNet, budget, counted, written_nets

# Small zoo nets (a few KB, fast to convert), with the insert options that make each one
# convert when it is not broken.
ZOO_INSERT_ARGS: dict[str, list[str]] = {
    "lenet_train_test": ["--shape", "data=?,1,28,28"],
    "cifar10_full_train_test": ["--shape", "data=?,3,32,32"],
    "bvlc_alexnet_deploy": [],
    "bvlc_alexnet_train_val": [],
    "caffe_v0_lenet_train": ["--upgrade", "--shape", "data=?,1,28,28"],
    "rcnn_v0_caffenet_fc7_deploy": ["--upgrade"],
    "rcnn_v1_vgg16_fc7_deploy": [],
    "caffe_v1_flickr_style_train_val": [],
    "yolo_v1_tiny_deploy": [],
    "vpgnet_novp_deploy": [],
    "squeezenet_v1_1_deploy": [],
    "faster_rcnn_vgg16_voc_end2end_test": [],
}
ZOO = [p for p in zoo_files() if p.stem in ZOO_INSERT_ARGS]

FRAGMENT = b'layer { name: "frag/act" type: "TanH" bottom: "x" top: "frag/out" }\n'
# One error line; only the layers without a shape rule come before it, one line each.
ERROR_LINE = re.compile(
    r"(?:scnn-surgery: error: [^\n]+:\d+:\d+: layer [^\n]+ has no shape rule\n)*"
    r"scnn-surgery: error: (.+)\n"
)
GUARD_SECONDS = 120  # far beyond any example; only a hang reaches it


# ---------------------------------------------------------------------------
# Mutations: each takes the net's bytes and Hypothesis's draw, and returns new bytes


def _offset(draw: st.DrawFn, data: bytes) -> int:
    return draw(st.integers(0, max(len(data) - 1, 0)))


def _positions(data: bytes, pattern: bytes) -> list[re.Match[bytes]]:
    return list(re.finditer(pattern, data))


def _pick(draw: st.DrawFn, matches: list[re.Match[bytes]]) -> re.Match[bytes] | None:
    return draw(st.sampled_from(matches)) if matches else None


def _replace_group(data: bytes, match: re.Match[bytes], group: int, new: bytes) -> bytes:
    return data[: match.start(group)] + new + data[match.end(group) :]


def truncate(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: _offset(draw, data)]


def drop_brace(draw: st.DrawFn, data: bytes) -> bytes:
    brace = _pick(draw, _positions(data, rb"[{}]"))
    return data if brace is None else data[: brace.start()] + data[brace.end() :]


def random_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    at = _offset(draw, data)
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


def nul(draw: st.DrawFn, data: bytes) -> bytes:
    at = _offset(draw, data)
    return data[:at] + b"\0" + data[at:]


def bom_crlf(draw: st.DrawFn, data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


BOTTOM = rb"""bottom\s*:\s*["']([^"'\n]*)["']"""
TOP = rb"""top\s*:\s*["']([^"'\n]*)["']"""


def undefined_bottom(draw: st.DrawFn, data: bytes) -> bytes:
    bottom = _pick(draw, _positions(data, BOTTOM))
    return data if bottom is None else _replace_group(data, bottom, 1, b"no_such_blob")


def cycle(draw: st.DrawFn, data: bytes) -> bytes:
    """A bottom that names a top written only later in the file."""
    bottom = _pick(draw, _positions(data, BOTTOM))
    if bottom is None:
        return data
    later = [m for m in _positions(data, TOP) if m.start() > bottom.end()]
    top = _pick(draw, later)
    return data if top is None else _replace_group(data, bottom, 1, top.group(1))


def duplicate_top(draw: st.DrawFn, data: bytes) -> bytes:
    """A top renamed to a blob an earlier layer writes."""
    tops = _positions(data, TOP)
    if len(tops) < 2:
        return data
    index = draw(st.integers(1, len(tops) - 1))
    earlier = draw(st.integers(0, index - 1))
    return _replace_group(data, tops[index], 1, tops[earlier].group(1))


NUMBER_FIELDS = (
    rb"\b(?:num_output|kernel_size|kernel_[hw]|stride|pad|dim|input_dim|group)\s*:\s*([^\s}#]+)"
)
BAD_NUMBERS = [b"-1", b"0", b"-0", b"99999999999999999999", b"4294967296", b"2147483648",
               b"nan", b"inf", b"-inf", b"0x10", b"1e3", b"2.5", b"1e400", b"010", b"+3", b"3x"]


def bad_number(draw: st.DrawFn, data: bytes) -> bytes:
    found = _pick(draw, _positions(data, NUMBER_FIELDS))
    value = draw(st.sampled_from(BAD_NUMBERS))
    if found is None:
        return data
    return _replace_group(data, found, 1, value)


ENUM_FIELDS = rb"\b(?:pool|phase|operation|type|backend|norm_region)\s*:\s*([A-Za-z_][A-Za-z_0-9]*)"
BAD_ENUMS = [b"FOO", b"max", b"DEPLOY", b"7", b"-1", b"TRAIN_", b"true"]


def bad_enum(draw: st.DrawFn, data: bytes) -> bytes:
    found = _pick(draw, _positions(data, ENUM_FIELDS))
    value = draw(st.sampled_from(BAD_ENUMS))
    if found is not None:
        return _replace_group(data, found, 1, value)
    layer = _pick(draw, _positions(data, rb"layers?\s*\{"))
    if layer is None:
        return data
    return data[: layer.end()] + b" pooling_param { pool: " + value + b" } " + data[layer.end() :]


def deep_nesting(draw: st.DrawFn, data: bytes) -> bytes:
    """Messages nested around 100 levels (protobuf's limit) or far deeper, in a layer."""
    layer = _pick(draw, _positions(data, rb"layers?\s*\{"))
    depth = draw(st.one_of(st.integers(97, 103), st.sampled_from([150, 5000])))
    nest = b"a { " * depth + b"b: 1" + b" }" * depth
    at = 0 if layer is None else layer.end()
    return data[:at] + b" " + nest + b" " + data[at:]


def _layer_blocks(data: bytes) -> list[tuple[int, int]]:
    """The spans of the top-level layer blocks (braces counted; strings and comments in
    generated and zoo nets hold no braces that matter here, a guess is fine for mutating)."""
    spans = []
    for start in (m.start() for m in re.finditer(rb"(?m)^[ \t]*layers?\s*\{", data)):
        depth, at = 0, data.index(b"{", start)
        while at < len(data):
            depth += {ord("{"): 1, ord("}"): -1}.get(data[at], 0)
            at += 1
            if depth == 0:
                spans.append((start, at))
                break
    return spans


def drop_layer(draw: st.DrawFn, data: bytes) -> bytes:
    blocks = _layer_blocks(data)
    if not blocks:
        return data
    start, end = draw(st.sampled_from(blocks))
    return data[:start] + data[end:]


def duplicate_layer(draw: st.DrawFn, data: bytes) -> bytes:
    blocks = _layer_blocks(data)
    if not blocks:
        return data
    start, end = draw(st.sampled_from(blocks))
    return data[:end] + b"\n" + data[start:end] + data[end:]


def swap_layers(draw: st.DrawFn, data: bytes) -> bytes:
    """Two layers trade places: bottoms may now name tops written later."""
    blocks = _layer_blocks(data)
    if len(blocks) < 2:
        return data
    i = draw(st.integers(0, len(blocks) - 2))
    j = draw(st.integers(i + 1, len(blocks) - 1))
    (a0, a1), (b0, b1) = blocks[i], blocks[j]
    return data[:a0] + data[b0:b1] + data[a1:b0] + data[a0:a1] + data[b1:]


def phase_rule(draw: st.DrawFn, data: bytes) -> bytes:
    """A random layer kept to one phase: what reads it in the other phase loses its input."""
    blocks = _layer_blocks(data)
    if not blocks:
        return data
    start, _ = draw(st.sampled_from(blocks))
    at = data.index(b"{", start) + 1
    rule = draw(st.sampled_from([b"include", b"exclude"]))
    phase = draw(st.sampled_from([b"TRAIN", b"TEST"]))
    return data[:at] + b" " + rule + b" { phase: " + phase + b" } " + data[at:]


def retype(draw: st.DrawFn, data: bytes) -> bytes:
    """A layer's type changed: to another known type, an unknown one, or a Python layer."""
    types = _positions(data, rb"""\btype\s*:\s*(["']?[A-Za-z_0-9]+["']?)""")
    found = _pick(draw, types)
    if found is None:
        return data
    v1 = not found.group(1).startswith((b'"', b"'"))
    choices = [b"POOLING", b"CONCAT", b"ELTWISE", b"SLICE", b"SPLIT", b"INNER_PRODUCT", b"FOO"]
    if not v1:
        choices = [b'"Pooling"', b'"Concat"', b'"Eltwise"', b'"Slice"', b'"Reshape"',
                   b'"Crop"', b'"Python"', b'"Input"', b'"Interp"', b'"Foo"', b'""']
    return _replace_group(data, found, 1, draw(st.sampled_from(choices)))


MUTATIONS: dict[str, Callable[[st.DrawFn, bytes], bytes]] = {
    f.__name__: f
    for f in (truncate, drop_brace, random_bytes, nul, bom_crlf, undefined_bottom, cycle,
              duplicate_top, bad_number, bad_enum, deep_nesting, drop_layer, duplicate_layer,
              swap_layers, phase_rule, retype)
}


TWO = "two at random"
KINDS = [*MUTATIONS, TWO]


@st.composite
def mutated(draw: st.DrawFn, data: bytes, kind: str) -> tuple[str, bytes]:
    """``data`` after the mutation ``kind``, or after two drawn at random (``TWO``); the
    name of what was done."""
    names = [kind]
    if kind == TWO:
        names = draw(st.lists(st.sampled_from(list(MUTATIONS)), min_size=2, max_size=2))
    for name in names:
        data = MUTATIONS[name](draw, data)
    return "+".join(names), data


def per_kind(test_name: str) -> int:
    """A test's examples for each kind of mutation (its budget shared out)."""
    return -(-budget(test_name) // len(KINDS))


# ---------------------------------------------------------------------------
# Running every command


@dataclass(frozen=True)
class Base:
    """A net to mutate and what each command is asked to do with it."""

    label: str
    data: bytes
    insert_args: tuple[str, ...] = ()
    splice_args: tuple[str, ...] = ()
    removable: str = "#1"


@dataclass
class Workspace:
    root: Path
    model: Path
    original: Path
    fragment: Path
    inputs: tuple[Path, ...] = field(default=())

    def out(self, name: str) -> Path:
        return self.root / "out" / name


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]
    kind: str  # "net" (-o FILE), "json" (stdout), "diff", "dot", "batch"
    output: Path | None = None


def commands(ws: Workspace, base: Base) -> list[Command]:
    model, out = str(ws.model), ws.out

    def net_verb(name: str, *args: str) -> Command:
        target = out(f"{name}.prototxt")
        return Command((name, *args, "-o", str(target)), "net", target)

    return [
        net_verb("insert", model, *base.insert_args),
        net_verb("splice", model, str(ws.fragment), *base.splice_args),
        net_verb("strip", model),
        net_verb("remove", model, base.removable),
        net_verb("upgrade", model),
        net_verb("retarget", model, "--input", "data=?,?,?,?"),
        Command(("inspect", "--json", model), "json"),
        Command(("check", "--json", model), "json"),
        Command(("diff", str(ws.original), model), "diff"),
        Command(("draw", model, "-o", str(out("picture.dot"))), "dot", out("picture.dot")),
        Command(("batch", model, "-o", str(out("batch")), "-j", "1"), "batch", out("batch")),
    ]


class Hang(BaseException):
    """An example ran past the guard: a BaseException, so no handler under test eats it."""


@contextmanager
def hang_guard(seconds: int = GUARD_SECONDS) -> Iterator[None]:
    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"an example ran for over {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def syntax_error(ws: Workspace) -> SurgeryError | None:
    """What reading the mutated model raises, if anything."""
    try:
        Document.load(ws.model)
    except SurgeryError as exc:
        return exc
    return None


def clean(path: Path) -> bool:
    """Whether a net reads and has no errors by check (as a verb's input or output)."""
    try:
        return not errors_of(check_net(ss.load(path), errors_only=True))
    except SurgeryError:
        return False


def names_a_place(message: str, ws: Workspace) -> bool:
    """The message names a layer, or a file (with its line, for a text error)."""
    if re.search(r"\blayers? '", message):
        return True
    return any(f"{path}:" in message for path in ws.inputs)


def assert_refusal(
    command: Command, code: int, out: str, err: str, ws: Workspace, broken: SurgeryError | None
) -> str:
    where = (command.args, err)
    assert code in (1, 2), where
    assert out == "", where
    match = ERROR_LINE.fullmatch(err)
    assert match is not None, f"not one error line: {where}"
    message = match.group(1)
    assert names_a_place(message, ws), where
    if isinstance(broken, PrototxtSyntaxError):
        assert str(broken) in message, (str(broken), where)  # the same place for every command
    if command.output is not None:
        assert not command.output.exists(), f"output left after a refusal: {where}"
    return message


def assert_result(command: Command, code: int, out: str, err: str, input_clean: bool) -> None:
    where = (command.args, err)
    for line in err.splitlines():
        assert line.startswith(("scnn-surgery: ", "  ")), where
    if command.kind == "net":
        assert code == 0 and out == "", where
        assert command.output is not None and command.output.is_file(), where
        ss.load(command.output)  # reads back
        if input_clean:
            assert clean(command.output), where
    elif command.kind == "json":
        json.loads(out)
    elif command.kind == "diff":
        assert (code == 1) == bool(out.strip()), where
    elif command.kind == "dot":
        assert command.output is not None
        assert command.output.read_text(encoding="utf-8").lstrip().startswith("digraph"), where


def assert_strip_gives_back(run_cli: RunCli, insert: Command, ws: Workspace) -> None:
    """Whatever odd text insert took (the input had no module, or it would have asked for
    --prefix), strip gives it back byte for byte; after ``insert --upgrade``, it gives
    what ``upgrade`` makes of it."""
    assert insert.output is not None
    expected = ws.model
    if "--upgrade" in insert.args:
        expected = ws.out("upgraded.prototxt")
        code, _, err = run_cli("upgrade", str(ws.model), "-o", str(expected))
        assert code == 0, err
    stripped = ws.out("stripped.prototxt")
    code, _, err = run_cli("strip", str(insert.output), "-o", str(stripped))
    assert code == 0, err
    assert stripped.read_bytes() == expected.read_bytes()


def assert_batch(code: int, out: str, err: str, ws: Workspace, broken: SurgeryError | None) -> None:
    """batch: the model converted (its output reads back) or refused with its reason (at
    the line and column of a text error); never 'failed', which is a bug."""
    where = err
    assert code in (0, 1) and out == "", where
    assert re.search(r"^  failed +0$", err, re.MULTILINE), where
    produced = list(ws.out("batch").rglob("*.prototxt")) if ws.out("batch").exists() else []
    if code == 0:
        assert len(produced) == 1, where
        ss.load(produced[0])
        return
    assert not produced, where
    refused = re.search(r"^  refused +\S+ +(.+)$", err, re.MULTILINE)
    assert refused is not None, where
    if isinstance(broken, PrototxtSyntaxError):
        # FILE:LINE:COL whole, as an editor opens it
        place = f"{ws.model}:{broken.line}:{broken.column}: "
        assert refused.group(1).startswith(place), where


def run_every_command(run_cli: RunCli, base: Base, kind: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="mutation") as tmp:
        root = Path(tmp)
        (root / "out").mkdir()
        ws = Workspace(root, root / "model.prototxt", root / "original.prototxt",
                       root / "fragment.prototxt")
        ws.model.write_bytes(data)
        ws.original.write_bytes(base.data)
        ws.fragment.write_bytes(FRAGMENT)
        ws.inputs = (ws.model, ws.original, ws.fragment)
        before = {path: digest(path) for path in ws.inputs}
        broken = syntax_error(ws)
        input_clean = broken is None and clean(ws.model)
        event(f"mutation: {kind}")
        event("model: " + ("unreadable" if broken else "clean" if input_clean else "has errors"))
        with hang_guard():
            for command in commands(ws, base):
                code, out, err = run_cli(*command.args)
                assert "Traceback" not in err, (command.args, err)
                if command.kind == "batch":
                    assert_batch(code, out, err, ws, broken)
                    continue
                refused = (
                    code == 2 or (code == 1 and command.kind not in ("json", "diff"))
                    or (code == 1 and command.kind == "json" and not out)
                )
                if refused:
                    assert_refusal(command, code, out, err, ws, broken)
                    event(f"{command.args[0]}: refused")
                else:
                    assert_result(command, code, out, err, input_clean)
                    event(f"{command.args[0]}: ok")
                    if command.args[0] == "insert":
                        assert_strip_gives_back(run_cli, command, ws)
        after = {path: digest(path) for path in ws.inputs}
        assert after == before, "an input was changed"


# ---------------------------------------------------------------------------
# The suites


def _zoo_base(path: Path) -> Base:
    data = path.read_bytes()
    net = ss.load(path)
    return Base(path.stem, data, tuple(ZOO_INSERT_ARGS[path.stem]), (), _removable(net))


def _removable(net: Net) -> str:
    """An in-place layer's name (the verb's easy case), else the last layer's."""
    for layer in net.layers:
        if layer.tops and layer.tops == layer.bottoms[: len(layer.tops)] and layer.name:
            return layer.name
    return net.layers[-1].name or "#1"


ZOO_BASES = [_zoo_base(p) for p in ZOO]


# run_cli keeps nothing between calls, so one fixture serves every example.
FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.mark.skipif(not ZOO_BASES, reason="../shared/zoo is absent")
@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=per_kind("test_every_command_on_a_mutated_zoo_net"),
    suppress_health_check=FIXTURE_OK,
)
@given(data=st.data())
@counted
def test_every_command_on_a_mutated_zoo_net(
    kind: str, run_cli: RunCli, data: st.DataObject
) -> None:
    base = data.draw(st.sampled_from(ZOO_BASES), label="base")
    done, mutant = data.draw(mutated(base.data, kind), label="mutation")
    run_every_command(run_cli, base, done, mutant)


@st.composite
def generated_bases(draw: st.DrawFn) -> Base:
    """A generated net, or that net with a module inserted (so strip has work to do)."""
    written = draw(written_nets().filter(lambda w: bool(w.net.points)))
    net: GenNet = written.net
    after = draw(st.sampled_from(net.points))
    args = ("--after", after, "--kernel-width", "3")
    removable = next((x.name for x in net.layers if x.in_place), net.layers[-1].name)
    data = written.data
    if draw(st.integers(0, 3)) == 0:
        inserted = ss.insert(ss.loads(written.text), ss.InsertOptions(after=after, kernel_width=3))
        data = ss.dumps(inserted.net).encode()
    return Base("generated", data, args, ("--after", after), removable)


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=per_kind("test_every_command_on_a_mutated_generated_net"),
    suppress_health_check=FIXTURE_OK,
)
@given(data=st.data())
@counted
def test_every_command_on_a_mutated_generated_net(
    kind: str, run_cli: RunCli, data: st.DataObject
) -> None:
    base = data.draw(generated_bases(), label="base")
    done, mutant = data.draw(mutated(base.data, kind), label="mutation")
    run_every_command(run_cli, base, done, mutant)
