"""Benchmarks: ratios against baselines measured in the same run (never absolute limits).

1. ``insert`` on the published ResNet-101 in-process (load, automatic point, sizes inferred,
   check, the output text written), against protobuf's own ``text_format.Parse`` of the same
   file; and on SegNet, whose 5,000-layer output is the baseline's text.
2. Loading alone (``Document.parse``) of ResNet-101 and of two large nets with an SCNN
   module (the published ResNet-101 one and our example's), against
   ``text_format.Parse`` of the same text: the load must be a small part of
   ``insert``'s budget.
3. Typed layer messages of the same file: ``fill_message`` from the parsed tree
   against ``text_format.Parse`` of each layer's text (goal: at least 4x faster).
4. Scaling: ``insert`` on synthetic chains of 1,250 and 5,000 layers; a linear pipeline
   takes about 4x as long, a quadratic one about 16x.
5. ``remove`` (load, remove, check, write) of ResNet-101's 108 BN layers and its Dropout,
   against ``text_format.Parse`` of the file; and on chains of N and 4N layers (every
   ReLU), which should scale linearly too.
6. ``upgrade`` (load, upgrade, check, write) of a synthetic V1 net of 2000 layers, against
   ``text_format.Parse`` of the same text.
7. Start-up: ``scnn-surgery --help`` as a whole process, against a process that only
   imports click (what any click program pays); the goal is at most 1.5x.
8. Memory: the peak of ``insert`` on a 10 MB net (ResNet-101's layers, repeated), as a
   multiple of the file's size, in a fresh process (``bench/memory.py``).
9. ``export`` of the zoo's ResNet-50 with an SCNN module (``--reduce-channels 128``) and its
   caffemodel, as the command line runs it (load, weights, graph, check, write), against
   protobuf parsing the same prototxt and caffemodel (goal: at most 3x); and the ONNX
   file's size against the caffemodel's (goal: at most 1.05x).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf import text_format

import scnn_surgery as ss
from scnn_surgery.core.document import Document, Message
from scnn_surgery.core.typed import fill_message
from scnn_surgery.runtime import clear_content_caches, paused_gc
from scnn_surgery.schema import caffe_pb2

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT.parent / "shared" / "golden" / "resnet101.prototxt"
GOLDEN_LARGE = ROOT.parent / "shared" / "golden" / "resnet101_SCNN.prototxt"
SEGNET = ROOT.parent / "shared" / "zoo" / "segmentation" / "segnet_inference.prototxt"
RESNET50 = ROOT.parent / "shared" / "zoo" / "deploy" / "resnet50_deploy.prototxt"
EXAMPLE_LARGE = ROOT / "examples" / "scnn_lane_vgg16_SCNN.prototxt"
LOAD_GOAL = 0.35  # Document.parse / text_format.Parse

Row = tuple[str, float, float, float, str]  # name, ours, baseline, ratio, goal


def best_of(func: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


# Whole-process times are taken as a user's Python runs: with bytecode caching, which
# PYTHONDONTWRITEBYTECODE (set in some CI and sandbox shells) turns off, so that every run
# compiles every module again (about 100 ms of insert's start-up on this machine).
_USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def process_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=_USER_ENV)
    return time.perf_counter() - start


def startup_times(repeat: int = 15) -> tuple[float, float]:
    """Best whole-process times of ``scnn-surgery --help`` and ``python -c "import click"``,
    taken in turn so that both see the same machine load."""
    script = Path(sys.executable).parent / ("scnn-surgery" + (".exe" if os.name == "nt" else ""))
    ours = [str(script)] if script.exists() else [sys.executable, "-m", "scnn_surgery"]
    baseline = [sys.executable, "-c", "import click"]
    process_time(baseline)  # a first run warms the file cache for both
    pairs = [(process_time([*ours, "--help"]), process_time(baseline)) for _ in range(repeat)]
    return min(p[0] for p in pairs), min(p[1] for p in pairs)


def insert_startup_ratio(repeat: int = 9) -> tuple[float, float, float]:
    """Whole-process ``insert`` on the published ResNet-101 against ``python -c "import
    click"``, run in turn: the median of the pairs' ratios, and the median times."""
    script = Path(sys.executable).parent / ("scnn-surgery" + (".exe" if os.name == "nt" else ""))
    ours = [str(script)] if script.exists() else [sys.executable, "-m", "scnn_surgery"]
    baseline = [sys.executable, "-c", "import click"]
    with tempfile.TemporaryDirectory() as tmp:
        insert = [*ours, "insert", str(GOLDEN), "--after", "conv5_5", "-o", f"{tmp}/o.prototxt"]
        process_time(insert)  # warms the file cache
        pairs = [(process_time(insert), process_time(baseline)) for _ in range(repeat)]
    ratio = statistics.median(a / b for a, b in pairs)
    return statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs), ratio


# Runs a command and prints its wall time and the peak resident size of its processes.
_CHILD_PEAK = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def timed_peak(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak bytes (the largest of its processes, dot included) of a command."""
    done = subprocess.run([sys.executable, "-c", _CHILD_PEAK, *command], check=True,
                          capture_output=True, text=True)
    seconds, peak = done.stdout.split()
    return float(seconds), float(peak)


def draw_rows() -> list[Row]:
    """draw --expand of SegNet with its module inserted (5,032 layers): seconds and peak."""
    script = Path(sys.executable).parent / "scnn-surgery"
    with tempfile.TemporaryDirectory() as tmp:
        net = f"{tmp}/segnet_SCNN.prototxt"
        subprocess.run([str(script), "insert", str(SEGNET), "-o", net], check=True,
                       stderr=subprocess.DEVNULL)
        seconds, peak = timed_peak([str(script), "draw", net, "--expand", "-o", f"{tmp}/n.svg"])
    name = "draw --expand SegNet+module (5,032 layers)"
    return [
        (f"{name}: seconds", seconds, 120.0, seconds / 120.0, "<= 1 (120 s)"),
        (f"{name}: peak MiB", peak / 2**20, 2048.0, peak / 2**30 / 2, "<= 1 (2,048 MiB)"),
    ]


def chain_net(n: int) -> str:
    lines = [
        'layer { name: "data" type: "Input" top: "b0"'
        " input_param { shape { dim: 1 dim: 8 dim: 6 dim: 6 } } }"
    ]
    for i in range(1, n + 1):
        lines.append(
            f'layer {{ name: "c{i}" type: "Convolution" bottom: "b{i - 1}" top: "b{i}"'
            " convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }"
        )
        lines.append(f'layer {{ name: "r{i}" type: "ReLU" bottom: "b{i}" top: "b{i}" }}')
    return "\n".join(lines) + "\n"


def v1_chain_net(n: int) -> str:
    """A V1 net of 2n layers with top-level input dims: every upgrade rule but BatchNorm's."""
    lines = ['input: "b0"', *(f"input_dim: {d}" for d in (1, 8, 6, 6))]
    for i in range(1, n + 1):
        lines.append(
            f'layers {{ name: "c{i}" type: CONVOLUTION bottom: "b{i - 1}" top: "b{i}"'
            " blobs_lr: 1 blobs_lr: 2 convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }"
        )
        lines.append(f'layers {{ name: "r{i}" type: RELU bottom: "b{i}" top: "b{i}" }}')
    return "\n".join(lines) + "\n"


def remove_from_text(text: str, types: tuple[str, ...]) -> None:
    clear_content_caches()
    net = ss.loads(text)
    names = sorted({layer.name for layer in net.layers if layer.type in types})
    ss.dumps(ss.remove(net, names).net)


def upgrade_text(text: str) -> None:
    clear_content_caches()
    ss.dumps(ss.upgrade(ss.loads(text)).net)


def insert_into_text(text: str, after: str, h: int, w: int, c: int) -> None:
    clear_content_caches()
    ss.insert(ss.loads(text), ss.InsertOptions(after=after, height=h, width=w, channels=c))


def layer_messages(text: str) -> tuple[Callable[[], object], Callable[[], object]]:
    """Every layer as a LayerParameter: from the tree, and by text_format from its text."""
    doc = Document.parse(text)
    bodies = [f.value for f in doc.root.fields if isinstance(f.value, Message)]

    def from_tree() -> object:
        return [fill_message(doc, body, caffe_pb2.LayerParameter()) for body in bodies]

    def from_text() -> object:
        return [
            text_format.Parse(
                text[body.open + 1 : body.close],
                caffe_pb2.LayerParameter(),
                allow_unknown_field=True,
            )
            for body in bodies
        ]

    return from_tree, from_text


def protobuf_parse(text: str) -> None:
    text_format.Parse(text, caffe_pb2.NetParameter(), allow_unknown_field=True)


def load_row(name: str, path: Path) -> Row:
    """``Document.parse`` against ``text_format.Parse``, alternated so both see the same load.

    Each takes tens of milliseconds, so many rounds are cheap and keep a busy machine's
    noise out of the best time.
    """
    text = path.read_bytes().decode("utf-8")
    ours = base = float("inf")
    for _ in range(6):
        ours = min(ours, best_of(lambda: Document.parse(text)))
        base = min(base, best_of(lambda: protobuf_parse(text)))
    return (name, ours, base, ours / base, f"<= {LOAD_GOAL:.2f}")


def insert_job(text: str, options: ss.InsertOptions) -> None:
    """The whole job in-process, as the command line runs it: load, insert (check
    included), write the text, and free it all, with the cyclic collector paused for the
    command; as for a first net, with nothing learnt from the runs before."""
    clear_content_caches()
    with paused_gc():
        ss.dumps(ss.insert(ss.loads(text), options).net)


def paired(
    ours: Callable[[], object], base: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Best times of both, taken in turn so that both see the same machine load."""
    t_ours = t_base = float("inf")
    for _ in range(rounds):
        t_ours = min(t_ours, best_of(ours, repeat=2))
        t_base = min(t_base, best_of(base, repeat=2))
    return t_ours, t_base


def golden_rows() -> list[Row]:
    text = GOLDEN.read_text()
    rows: list[Row] = []
    t_insert, t_parse = paired(
        lambda: insert_job(text, ss.InsertOptions()), lambda: protobuf_parse(text), rounds=8
    )
    name = "insert resnet101 (auto point) vs text_format.Parse"
    rows.append((name, t_insert, t_parse, t_insert / t_parse, "<= 1.00"))
    rows.append(load_row("load resnet101 vs text_format.Parse", GOLDEN))
    from_tree, from_text = layer_messages(text)
    t_tree, t_text = paired(from_tree, from_text, rounds=3)
    rows.append(("typed layers resnet101 vs text_format.Parse", t_tree, t_text, t_tree / t_text,
                 "<= 0.25"))  # fmt: skip
    t_remove = best_of(lambda: remove_from_text(text, ("BN", "Dropout")))
    name = "remove 109 layers resnet101 vs text_format.Parse"
    rows.append((name, t_remove, t_parse, t_remove / t_parse, "<= 1.00"))
    return rows


def segnet_row() -> Row:
    """The automatic point is a full-resolution decoder map: 5,032 module layers."""
    text = SEGNET.read_text()
    output = ss.dumps(ss.insert(ss.loads(text), ss.InsertOptions()).net)
    t_insert, t_parse = paired(
        lambda: insert_job(text, ss.InsertOptions()), lambda: protobuf_parse(output), rounds=2
    )
    name = "insert segnet (5,000+ layers out) vs parse of it"
    return (name, t_insert, t_parse, t_insert / t_parse, "<= 1.00")


def scaling_rows() -> list[Row]:
    small, large = chain_net(625), chain_net(2500)  # 1,250 and 5,000 layers
    options = ss.InsertOptions(after="b300", height=6, width=6, channels=8, kernel_width=3)
    t_small = best_of(lambda: insert_job(small, options), repeat=3)
    t_large = best_of(lambda: insert_job(large, options), repeat=3)
    rows: list[Row] = [
        ("insert 5,000- vs 1,250-layer chain", t_large, t_small, t_large / t_small, "about 4")
    ]
    small, large = chain_net(250), chain_net(1000)
    t_small = best_of(lambda: remove_from_text(small, ("ReLU",)), repeat=3)
    t_large = best_of(lambda: remove_from_text(large, ("ReLU",)), repeat=3)
    name = "remove every ReLU, 2000- vs 500-layer chain"
    rows.append((name, t_large, t_small, t_large / t_small, "about 4"))
    v1 = v1_chain_net(1000)
    t_upgrade = best_of(lambda: upgrade_text(v1), repeat=3)
    t_parse_v1 = best_of(lambda: protobuf_parse(v1), repeat=3)
    name = "upgrade 2000-layer V1 net vs text_format.Parse"
    rows.append((name, t_upgrade, t_parse_v1, t_upgrade / t_parse_v1, "<= 4.00"))
    return rows


def memory_row(verb: str = "insert") -> Row:
    """Peak memory of insert (or diff) on a 10 MB net, in a fresh process (see
    bench/memory.py)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "memory.py"), verb],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    peak, size = (float(x) for x in done.stdout.split())
    name = f"{verb} 10 MB net: peak memory (MB) vs its size"
    return (name, peak / 1e6, size / 1e6, peak / size, "<= 50")


def export_rows(folder: Path) -> list[Row]:
    """issue 17's two measures: export time against protobuf parsing, and ONNX size."""
    from scnn_surgery.cli.main import cli
    from scnn_surgery.weights import initial_weights

    net = ss.insert(ss.load(RESNET50), ss.InsertOptions(reduce_channels=128)).net
    prototxt, caffemodel = folder / "resnet50_scnn.prototxt", folder / "resnet50_scnn.caffemodel"
    prototxt.write_text(ss.dumps(net))
    caffemodel.write_bytes(initial_weights(net, seed=1).model.to_bytes())
    output = folder / "resnet50_scnn.onnx"
    text = prototxt.read_text()

    def parse_both() -> None:
        text_format.Parse(text, caffe_pb2.NetParameter())
        caffe_pb2.NetParameter.FromString(caffemodel.read_bytes())

    def export() -> None:
        clear_content_caches()
        with paused_gc():
            cli.main(
                ["export", str(prototxt), "--weights", str(caffemodel), "-o", str(output)],
                prog_name="scnn-surgery", standalone_mode=False,
            )  # fmt: skip

    def convert_only() -> None:  # the same, less writing the ~100 MB file
        from scnn_surgery.onnx_export import convert, to_files

        clear_content_caches()
        with paused_gc():
            to_files(convert(ss.load(prototxt), caffemodel), str(output), False)

    export()  # onnx's import, once, as any first use pays it
    t_export, t_parse = paired(export, parse_both, rounds=3)
    t_convert, _ = paired(convert_only, parse_both, rounds=2)
    onnx_size, model_size = output.stat().st_size, caffemodel.stat().st_size
    return [
        ("export resnet50+SCNN vs parse prototxt+caffemodel", t_export, t_parse,
         t_export / t_parse, "<= 3.00"),
        ("  the same without writing the file", t_convert, t_parse, t_convert / t_parse,
         "(the disk's share)"),
        ("export resnet50+SCNN: .onnx size (MB) vs caffemodel", onnx_size / 1e6,
         model_size / 1e6, onnx_size / model_size, "<= 1.05"),
    ]  # fmt: skip


def main() -> int:
    rows: list[Row] = []
    if GOLDEN.exists():
        rows += golden_rows()
    else:
        print(f"skipping the golden benchmarks: {GOLDEN} is absent", file=sys.stderr)
    if SEGNET.exists():
        rows.append(segnet_row())
    if GOLDEN_LARGE.exists():
        rows.append(load_row("load resnet101_SCNN vs text_format.Parse", GOLDEN_LARGE))
    rows.append(load_row("load example SCNN net vs text_format.Parse", EXAMPLE_LARGE))
    rows += scaling_rows()
    if GOLDEN.exists():
        rows.append(memory_row())
        rows.append(memory_row("diff"))
    if SEGNET.exists() and shutil.which("dot"):
        rows += draw_rows()
    else:
        print("skipping the draw benchmark: needs SegNet in ../shared and Graphviz's dot",
              file=sys.stderr)
    if RESNET50.exists():
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            rows += export_rows(Path(folder))
    t_help, t_click = startup_times()
    name = "scnn-surgery --help vs python -c 'import click'"
    rows.append((name, t_help, t_click, t_help / t_click, "<= 1.5"))
    if GOLDEN.exists():
        t_insert, t_click, ratio = insert_startup_ratio()
        name = "insert ResNet-101 process vs 'import click' (median)"
        rows.append((name, t_insert, t_click, ratio, "<= 3"))
    print(f"{'benchmark':52} {'ours':>9} {'baseline':>9} {'ratio':>7}  goal")
    for name, ours, base, ratio, goal in rows:
        print(f"{name:52} {ours:9.4f} {base:9.4f} {ratio:7.2f}  {goal}")
    print("times in seconds (memory in MB); the chains should cost about 4x for 4x the layers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
