"""Batch throughput over the zoo (../shared/zoo, else the shipped tests/data/zoo), against
a baseline measured in the same run.

The baseline loads and writes every zoo file without surgery, in this process.
The batch runs go through the engine that ``scnn-surgery batch`` uses, with 1 and
2 worker processes and the command line's default options. So worker start-up
and the transfer of results back to the parent are counted too. Every figure is
the best of a few runs, each into a fresh output directory.

With Graphviz's dot, the HTML report's cost is measured too: the batch with the workers
drawing every change, plus writing the page, against the same batch without pictures.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from scnn_surgery.batch import (
    BatchConfig,
    BatchReport,
    Outcome,
    Source,
    discover_sources,
    plan_jobs,
    run_batch,
)
from scnn_surgery.errors import SurgeryError
from scnn_surgery.files import write_bytes_atomic
from scnn_surgery.report.changeview import PICTURE_CONTEXT
from scnn_surgery.surgery import InsertOptions, load

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.zoo_expectations import default_zoo  # noqa: E402

REPEAT = 2  # each batch run over the zoo takes seconds; the best of two is steady enough
JOBS = (1, 2)
THROUGHPUT_GOAL = 10.0  # models/s for the zoo with --jobs 2 (issue 10)
HTML_GOAL = 2.5  # batch with pictures and the page / batch alone, with the most workers
PAGE_GOAL_MIB = 3.0  # the zoo's page: "under a few MB"


def best_time(run: Callable[[Path], T], repeat: int = REPEAT) -> tuple[float, T]:
    """The fastest of ``repeat`` runs, and what the last one returned."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="scnn-bench-") as out:
            start = time.perf_counter()
            result = run(Path(out))
            times.append(time.perf_counter() - start)
    return min(times), result


def load_and_write(sources: Sequence[Source], out: Path) -> None:
    for source in sources:
        try:
            data = load(source.path).document.to_bytes()
        except SurgeryError:  # unparsable (a template): batch refuses it at the same point
            continue
        target = out.joinpath(*source.relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)


def batch(
    sources: Sequence[Source], out: Path, jobs: int, pictures: int | None = None
) -> list[Outcome]:
    planned = plan_jobs(sources, out, InsertOptions(), BatchConfig(), picture_context=pictures)
    return run_batch(planned, jobs)


def html_report(sources: Sequence[Source], out: Path, jobs: int) -> str:
    """What ``batch --report zoo.html`` does: pictures in the workers, then the page."""
    from scnn_surgery.report.htmlreport import batch_page

    outcomes = batch(sources, out, jobs, PICTURE_CONTEXT)
    return batch_page(BatchReport(tuple(outcomes), jobs, 0.0))


def html_row(sources: Sequence[Source], plain: float) -> None:
    if shutil.which("dot") is None:
        print("HTML report: skipped, Graphviz's dot is not installed")
        return
    seconds, page = best_time(partial(html_report, sources, jobs=JOBS[-1]))
    size = len(page.encode()) / 2**20
    print(
        f"HTML report, --jobs {JOBS[-1]}: {seconds:.3f} s, {seconds / plain:.2f}x the batch"
        f" without pictures (goal <= {HTML_GOAL}x); page {size:.2f} MiB"
        f" (goal < {PAGE_GOAL_MIB} MiB)"
    )


def main() -> int:
    zoo = default_zoo("bench/batch.py")
    sources = discover_sources([str(zoo)])
    rows = [("load+write, no surgery", best_time(lambda out: load_and_write(sources, out))[0])]
    outcomes: list[Outcome] = []
    for jobs in JOBS:
        seconds, outcomes = best_time(partial(batch, sources, jobs=jobs))
        rows.append((f"batch --jobs {jobs}", seconds))
    counts = BatchReport(tuple(outcomes), JOBS[-1], 0.0).shown_counts()
    tally = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"batch over {zoo}: {len(sources)} models ({tally}; default options)")
    baseline = rows[0][1]
    print(f"{'run':28} {'seconds':>9} {'models/s':>10} {'x baseline time':>16}")
    for name, seconds in rows:
        print(f"{name:28} {seconds:9.3f} {len(sources) / seconds:10.1f} {seconds / baseline:16.2f}")
    print(f"--jobs 2 speed-up over --jobs 1: {rows[1][1] / rows[2][1]:.2f}x")
    with_two = len(sources) / dict(rows)["batch --jobs 2"]
    print(f"batch --jobs 2: {with_two:.1f} models/s (goal >= {THROUGHPUT_GOAL:.0f} models/s)")
    html_row(sources, rows[-1][1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
