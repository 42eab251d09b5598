"""Draw the README's before/after picture of the example net.

    python scripts/make_picture.py [OUTPUT]     default: docs/example_before_after.png

The "after" net is what ``make demo``,

    scnn-surgery insert examples/scnn_lane_vgg16.prototxt

writes (the point, fc7, and its 36x100x128 map are found, not given). Both nets are cut
down to the part around the change, side by side, with the added module and the rewired
edge highlighted. SVG and PNG need Graphviz's ``dot``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scnn_surgery.analysis.compare import diff_nets
from scnn_surgery.errors import SurgeryError
from scnn_surgery.files import write_bytes_atomic
from scnn_surgery.report.draw import (
    add_to_graph,
    build_picture,
    focus,
    focus_names,
    highlights_from,
    new_digraph,
    output_format,
    render,
)
from scnn_surgery.surgery import InsertOptions, insert, load

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "scnn_lane_vgg16.prototxt"
DEFAULT_OUTPUT = ROOT / "docs" / "example_before_after.png"
OPTIONS = InsertOptions()  # as make demo inserts: no options
RADIUS = 3  # layers shown on each side of the change


def make_picture(fmt: str) -> bytes:
    before = load(EXAMPLE)
    after = insert(before, OPTIONS).net
    diff = diff_nets(before, after)
    around = focus_names(diff)
    sides = {
        "before": focus(build_picture(before), around, RADIUS),
        "after": focus(build_picture(after, highlights=highlights_from(diff)), around, RADIUS),
    }
    graph = new_digraph("example")
    graph.attr(label=f"scnn-surgery insert {EXAMPLE.name}", labelloc="t", fontsize="13")
    for side, picture in sides.items():
        with graph.subgraph(name=f"cluster_{side}") as cluster:
            cluster.attr(label=side, fontsize="13", style="rounded", color="#bbbbbb")
            add_to_graph(cluster, picture, id_prefix=f"{side}_")
    return render(graph, fmt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        data = make_picture(output_format(str(args.output)))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(args.output, data)
    except SurgeryError as exc:
        print(f"make_picture: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"make_picture: error: {args.output}: cannot write: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
