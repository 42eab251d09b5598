"""The batch engine: sources, config, workers (crashes, interrupts) and report writers."""

from __future__ import annotations

import csv
import errno
import io
import json
import multiprocessing
import os
import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

import scnn_surgery as ss
import scnn_surgery.batch as batch
from scnn_surgery.batch import (
    BatchConfig,
    BatchReport,
    Job,
    Outcome,
    Skipped,
    Source,
    convert,
    describe_exit,
    discover_sources,
    exception_summary,
    find_sources,
    glob_root,
    options_for,
    parse_config,
    pattern_regex,
    picture_plan,
    plan_jobs,
    render_csv,
    render_json,
    render_markdown,
    report_renderer,
    run_batch,
    unused_patterns,
    write_output,
)
from scnn_surgery.errors import SurgeryError, UsageError
from scnn_surgery.options import FoldBnOptions
from scnn_surgery.report.changeview import PICTURE_CONTEXT
from scnn_surgery.scnn import module_cost
from scnn_surgery.surgery import InsertOptions, insert, load
from scnn_surgery.verbs import VerbSpec

from .batch_hooks import CRASH_HOOK, install
from .conftest import DATA

NET = DATA / "phases_inplace.prototxt"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)
FITS = InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3)


def make_tree(root: Path, *relatives: str) -> list[Path]:
    paths = []
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(NET.read_bytes())
        paths.append(path)
    return paths


def expected_bytes(options: InsertOptions = FITS) -> bytes:
    return ss.dumps(insert(load(NET), options).net).encode()


def leftovers(directory: Path) -> list[Path]:
    """Temporary files an interrupted atomic write would leave (``.name.xxx.tmp``)."""
    return [path for path in directory.rglob(".*") if path.is_file()]


# --- sources ---------------------------------------------------------------------------


def test_directory_is_searched_recursively_and_mirrored(tmp_path: Path) -> None:
    make_tree(tmp_path / "zoo", "a/x.prototxt", "b/c/y.prototxt", "z.prototxt")
    (tmp_path / "zoo" / "notes.txt").write_text("not a model")
    found = discover_sources([str(tmp_path / "zoo")])
    assert [s.relative for s in found] == [
        PurePosixPath("a/x.prototxt"),
        PurePosixPath("b/c/y.prototxt"),
        PurePosixPath("z.prototxt"),
    ]


def test_file_keeps_its_name_and_any_extension(tmp_path: Path) -> None:
    [model] = make_tree(tmp_path, "deep/dir/net.pt")
    assert discover_sources([str(model)]) == [Source(model, PurePosixPath("net.pt"))]


def test_glob_mirrors_below_its_fixed_part(tmp_path: Path) -> None:
    make_tree(tmp_path / "zoo", "lane/a.prototxt", "lane/b.prototxt", "deploy/c.prototxt")
    found = discover_sources([str(tmp_path / "zoo" / "*" / "a.prototxt"), str(tmp_path / "zoo/d*")])
    assert [str(s.relative) for s in found] == ["lane/a.prototxt", "deploy/c.prototxt"]


def test_glob_root() -> None:
    assert glob_root("zoo/**/*.prototxt") == Path("zoo")
    assert glob_root("*.prototxt") == Path(".")
    assert glob_root("/a/b/x*/y.prototxt") == Path("/a/b")


def test_a_file_reached_twice_is_converted_once(tmp_path: Path) -> None:
    [model] = make_tree(tmp_path / "zoo", "a/x.prototxt")
    found = discover_sources([str(tmp_path / "zoo"), str(model)])
    assert found == [Source(model, PurePosixPath("a/x.prototxt"))]


def test_output_directory_is_not_taken_for_sources(tmp_path: Path) -> None:
    make_tree(tmp_path, "x.prototxt", "out/x.prototxt")
    found = discover_sources([str(tmp_path)], exclude=tmp_path / "out")
    assert [str(s.relative) for s in found] == ["x.prototxt"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.prototxt", "no such file"),
        ("empty", "no .prototxt file in this directory"),
        ("*.nothing", "matches no"),
    ],
)
def test_sources_naming_nothing_are_usage_errors(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=message):
        discover_sources([str(tmp_path / spec)])


def _odd_entries(zoo: Path) -> None:
    """A named pipe, a dangling link and a link loop, each named like a model."""
    os.mkfifo(zoo / "fifo.prototxt")
    (zoo / "dangling.prototxt").symlink_to("nowhere.prototxt")
    (zoo / "loop.prototxt").symlink_to("loop.prototxt")


def test_paths_that_are_not_files_are_listed_as_skipped_with_the_reason(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    make_tree(zoo, "a.prototxt")
    _odd_entries(zoo)
    found = find_sources([str(zoo)])
    assert found.sources == [Source(zoo / "a.prototxt", PurePosixPath("a.prototxt"))]
    dangling = "a symbolic link to nowhere.prototxt, which does not exist"
    assert found.skipped == [
        Skipped(zoo / "dangling.prototxt", dangling),
        Skipped(zoo / "fifo.prototxt", "a named pipe (FIFO), not a regular file"),
        Skipped(zoo / "loop.prototxt", "a symbolic link loop"),
    ]  # fmt: skip
    named = find_sources([str(zoo / "fifo.prototxt"), str(zoo / "loop.prototxt")])
    assert [s.reason for s in named.skipped] == [
        "a named pipe (FIFO), not a regular file", "a symbolic link loop"
    ]  # a SRC that exists is named for what it is, never "no such file"
    assert [s.path.name for s in find_sources([str(zoo / "*.prototxt")]).skipped] == [
        "dangling.prototxt", "fifo.prototxt", "loop.prototxt"
    ]


def test_links_to_directories_are_followed_once(tmp_path: Path) -> None:
    make_tree(tmp_path, "zoo/a.prototxt", "elsewhere/b.prototxt")
    (tmp_path / "zoo" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "zoo" / "up").symlink_to("..")  # a way round forever, but for the check
    found = find_sources([str(tmp_path / "zoo")])
    assert [str(s.relative) for s in found.sources] == ["a.prototxt", "linked/b.prototxt"]
    assert found.skipped == []


def test_a_directory_whose_models_are_all_outputs_says_so(tmp_path: Path) -> None:
    make_tree(tmp_path, "zoo/out/x.prototxt")
    with pytest.raises(UsageError) as info:
        find_sources([str(tmp_path / "zoo")], exclude=tmp_path / "zoo" / "out")
    assert str(info.value) == (
        f"{tmp_path}/zoo: every .prototxt file in this directory is under the output"
        f" directory {tmp_path}/zoo/out, whose files are never taken as sources"
    )


def test_a_directory_that_cannot_be_listed_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, "zoo/a.prototxt", "zoo/locked/b.prototxt")
    locked = tmp_path / "zoo" / "locked"
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:  # as chmod 0 does, for everyone but root
        if Path(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = find_sources([str(tmp_path / "zoo")])
    assert found.skipped == [
        Skipped(tmp_path / "zoo" / "locked", "cannot list this directory: Permission denied")
    ]


def test_two_models_sharing_an_output_are_refused(tmp_path: Path) -> None:
    first, second = make_tree(tmp_path, "a/net.prototxt", "b/net.prototxt")
    sources = discover_sources([str(first), str(second)])
    with pytest.raises(UsageError, match="would both be written"):
        plan_jobs(sources, tmp_path / "out", FITS, BatchConfig())


def test_an_output_that_is_a_source_is_refused(tmp_path: Path) -> None:
    make_tree(tmp_path, "zoo/net.prototxt")
    sources = [Source(tmp_path / "zoo/net.prototxt", PurePosixPath("net.prototxt"))]
    with pytest.raises(UsageError, match="overwrite a source"):
        plan_jobs(sources, tmp_path / "zoo", FITS, BatchConfig())


# --- config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("lane/a.prototxt", "lane/a.prototxt", True),
        ("lane/*", "lane/a.prototxt", True),
        ("lane/*", "lane/sub/a.prototxt", False),
        ("*.prototxt", "lane/a.prototxt", False),
        ("**/*.prototxt", "a.prototxt", True),
        ("**/*.prototxt", "lane/sub/a.prototxt", True),
        ("lane/**", "lane/sub/a.prototxt", True),
        ("lane/?.prototxt", "lane/a.prototxt", True),
        ("lane/[ab].prototxt", "lane/b.prototxt", True),
        ("lane/[!ab].prototxt", "lane/b.prototxt", False),
        ("a+b.prototxt", "a+b.prototxt", True),
    ],
)
def test_pattern_matching(pattern: str, path: str, matches: bool) -> None:
    assert (pattern_regex(pattern).fullmatch(path) is not None) is matches


CONFIG = """
[models."**"]
channels = 8
kernel-width = 5

[models."lane/*.prototxt"]
after = "fc7"
directions = "du"
height = 36
width = 100
shapes = { data = [1, 3, 288, 800] }

[models."lane/special.prototxt"]
channel = 16
prefix = "lane_"
share_weights = false
"""


def test_matching_rules_apply_in_file_order_over_the_command_line() -> None:
    config = parse_config(CONFIG)
    base = InsertOptions(after="conv5", channels=128, lr_mult=2.0)
    special = options_for(PurePosixPath("lane/special.prototxt"), base, config)
    assert special == InsertOptions(
        after="fc7",
        height=36,
        width=100,
        channels=16,
        kernel_width=5,
        directions="DU",
        prefix="lane_",
        share_weights=False,
        lr_mult=2.0,
        shapes={"data": (1, 3, 288, 800)},
    )
    other = options_for(PurePosixPath("deploy/x.prototxt"), base, config)
    assert other == InsertOptions(after="conv5", channels=8, kernel_width=5, lr_mult=2.0)


def test_a_table_adds_to_repeatable_options_and_replaces_single_values() -> None:
    """As the flag given again would: the names and entries of both, the table's for a
    name both give; a single value is the table's."""
    config = parse_config(
        '[models."**"]\nlayers = ["drop6", "drop7"]\nshapes = { label = [1, 1, 4, 4] }\n'
        '[models."a/*"]\nlayers = ["fc8"]\nshapes = { data = [2, 3, 8, 8] }\n',
        verb="remove",
    )
    base = ss.RemoveOptions(layers=("drop7", "norm1"), shapes={"data": (1, 3, 8, 8)})
    chosen = options_for(PurePosixPath("a/x.prototxt"), base, config)
    assert chosen.layers == ("drop7", "norm1", "drop6", "fc8")
    assert chosen.shapes == {"data": (2, 3, 8, 8), "label": (1, 1, 4, 4)}
    renames = parse_config('[models."**"]\nrenames = { fc8 = "head" }\n', verb="rename")
    both = options_for(PurePosixPath("x"), ss.RenameOptions({"fc8": "a", "fc7": "b"}), renames)
    assert both.renames == {"fc8": "head", "fc7": "b"}
    single = parse_config('[models."**"]\nafter = "fc7"\nkernel_width = 3\n')
    assert options_for(PurePosixPath("x"), InsertOptions(after="conv5"), single).after == "fc7"


def test_unused_patterns_are_reported() -> None:
    config = parse_config(CONFIG)
    sources = [Source(Path("x"), PurePosixPath("lane/a.prototxt"))]
    assert unused_patterns(config, sources) == ["lane/special.prototxt"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models."a"]\nheigth = 3\n', "unknown setting 'heigth'"),
        ('[models."a"]\nheight = 0\n', "height must be a positive integer"),
        ('[models."a"]\nheight = "7"\n', "height must be a positive integer"),
        ('[models."a"]\nkernel_width = 4\n', "kernel_width must be odd"),
        ('[models."a"]\ndirections = "UUD"\n', "directions must be"),
        ('[models."a"]\nshare_weights = 1\n', "share_weights must be true or false"),
        ('[models."a"]\nshapes = { data = [1, 0] }\n', "positive integer dimensions.*data=1,0"),
        ('[models."a"]\nlr_mult = -1\n', "lr_mult must be a finite number of at least 0"),
        ('[models."a"]\nphase = "VAL"\n', "phase must be TRAIN or TEST"),
        ("[defaults]\nheight = 3\n", "unknown top-level key 'defaults'"),
        ("models = 3\n", "models must be tables"),
        ('[models.""]\n', "pattern is empty"),
        ('[models."a"\n', "invalid TOML"),
        ('[models."[z-a]"]\n', r"\[z-a\]\"\]: the pattern is not a valid glob"),
        ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        ('[models."a"]\nshapes = ' + "{a=" * 3000 + "1" + "}" * 3000, "nested too deeply"),
    ],
)
def test_config_mistakes_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_config(text, "my.toml")


def test_config_phase_is_spelled_as_on_the_command_line() -> None:
    config = parse_config('[models."**"]\nphase = "train"\n')
    assert options_for(PurePosixPath("a.prototxt"), FITS, config).phase == "TRAIN"


def test_config_file_problems_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        batch.load_config(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(UsageError, match="not UTF-8"):
        batch.load_config(binary)


def test_every_config_key_sets_an_insert_option() -> None:
    names = set(InsertOptions.__dataclass_fields__)
    assert {key.option for key in batch.CONFIG_KEYS.values()} <= names


# --- converting one model --------------------------------------------------------------


def test_convert_classifies_refusals_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = Job(str(NET), str(tmp_path / "out.prototxt"), FITS)
    done = convert(job)
    assert done.status == "converted" and done.data == expected_bytes()
    assert done.shape == (4, 8, 10) and done.insertion_point and "conv1" in done.insertion_point
    unknown = InsertOptions(after="nope", height=8, width=10, channels=4)
    refused = convert(Job(str(NET), "x", unknown))
    assert refused.status == "refused" and refused.reason and "nope" in refused.reason

    def explode(*args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("scnn_surgery.verbs.insert.VERB", VerbSpec("insert", explode))
    failed = convert(job)
    assert failed.status == "failed"
    assert failed.reason and failed.reason.startswith("KeyError: 'boom' (at test_batch.py:")


def test_convert_keeps_what_the_html_report_shows(tmp_path: Path) -> None:
    done = convert(Job(str(NET), str(tmp_path / "out.prototxt"), FITS))
    assert done.point_reason == "given: --after conv1" and done.placed_after == "drop1"
    assert done.spec is not None and (done.spec.height, done.spec.width) == (8, 10)
    assert done.cost == module_cost(done.spec)
    assert done.seconds is not None and done.seconds > 0
    assert done.picture is None and done.picture_note is None  # not asked for


@needs_dot
def test_the_workers_draw_the_pictures(tmp_path: Path) -> None:
    jobs = [replace(job, picture_context=1) for job in jobs_for(tmp_path, "a.prototxt")]
    [outcome] = run_batch(jobs, workers=1)
    assert outcome.picture is not None and outcome.picture.startswith("<svg ")
    assert "SCNN module" in outcome.picture and outcome.picture_note is None


def test_a_picture_that_cannot_be_drawn_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    job = Job(str(NET), str(tmp_path / "out.prototxt"), FITS, picture_context=2)
    done = convert(job)
    assert done.status == "converted" and done.picture is None
    assert done.picture_note and done.picture_note.startswith("no picture: Graphviz's 'dot'")


def test_picture_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    assert picture_plan(None) == (None, None)
    assert picture_plan(Path("r.json")) == (None, None)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/dot")
    assert picture_plan(Path("r.HTML")) == (PICTURE_CONTEXT, None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    context, note = picture_plan(Path("r.htm"))
    assert context is None and note and "'dot' program was not found" in note


def test_exception_summary_and_exit_descriptions() -> None:
    assert exception_summary(ValueError("")) == "ValueError"
    assert exception_summary(ValueError("two\nlines")) == "ValueError: two"
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(-11) == "was killed by SIGSEGV"
    assert describe_exit(3) == "exited with status 3"


def test_write_output_failure_is_a_failed_model(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    outcome = Outcome("src", "converted", output=str(tmp_path / "file" / "x.prototxt"), data=b"x")
    written = write_output(outcome)
    assert written.status == "failed" and written.reason and "cannot write" in written.reason


def test_write_output_refused_is_a_failed_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(files: list[tuple[Path, bytes]]) -> None:
        raise SurgeryError(f"{files[-1][0]}: cannot write: Permission denied")

    monkeypatch.setattr(batch, "write_files_atomic", refuse)
    outcome = Outcome("src", "converted", output=str(tmp_path / "x.prototxt"), data=b"x")
    written = write_output(outcome)
    assert written.status == "failed" and written.data is None
    assert written.reason == f"{tmp_path / 'x.prototxt'}: cannot write: Permission denied"


# --- workers ---------------------------------------------------------------------------


def jobs_for(tmp_path: Path, *relatives: str) -> list[Job]:
    make_tree(tmp_path / "src", *relatives)
    sources = discover_sources([str(tmp_path / "src")])
    return plan_jobs(sources, tmp_path / "out", FITS, BatchConfig())


def test_a_crashing_worker_fails_only_its_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = jobs_for(tmp_path, "a.prototxt", "b_KILLME.prototxt", "c.prototxt", "d.prototxt")
    monkeypatch.setenv(CRASH_HOOK, "KILLME")
    install(monkeypatch)
    seen: list[Outcome] = []
    outcomes = run_batch(jobs, workers=2, on_outcome=seen.append)
    assert [o.status for o in outcomes] == ["converted", "failed", "converted", "converted"]
    assert outcomes[1].reason == "worker process was killed by SIGKILL while converting this model"
    assert sorted(o.source for o in seen) == sorted(j.source for j in jobs)
    assert not (tmp_path / "out" / "b_KILLME.prototxt").exists()
    for name in ("a", "c", "d"):
        assert (tmp_path / "out" / f"{name}.prototxt").read_bytes() == expected_bytes()
    assert all(o.data is None for o in outcomes)
    assert multiprocessing.active_children() == []


def test_one_worker_survives_many_crashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = jobs_for(tmp_path, "KILLME1.prototxt", "KILLME2.prototxt", "ok.prototxt")
    monkeypatch.setenv(CRASH_HOOK, "KILLME")
    install(monkeypatch)
    outcomes = run_batch(jobs, workers=1)
    assert [o.status for o in outcomes] == ["failed", "failed", "converted"]


def test_interrupt_kills_workers_and_leaves_only_complete_outputs(tmp_path: Path) -> None:
    jobs = jobs_for(tmp_path, *(f"m{i}.prototxt" for i in range(6)))

    def interrupt(outcome: Outcome) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(jobs, workers=2, on_outcome=interrupt)
    assert multiprocessing.active_children() == []
    written = list((tmp_path / "out").iterdir())
    assert len(written) == 1  # the outcome that triggered the interrupt was written first
    assert written[0].read_bytes() == expected_bytes()
    assert leftovers(tmp_path / "out") == []


def test_no_jobs_start_no_workers() -> None:
    assert run_batch([], workers=4) == []


# --- reports ---------------------------------------------------------------------------

REPORT = BatchReport(
    (
        Outcome(
            "zoo/a.prototxt",
            "converted",
            output="out/a.prototxt",
            insertion_point="blob 'fc7' (fc7), module after 'fc7'; rewires nothing",
            shape=(128, 36, 100),
        ),
        Outcome("zoo/b.prototxt", "refused", reason="zoo/b.prototxt: pipes | in reasons"),
        Outcome("zoo/c.prototxt", "failed", reason="KeyError: 'x' (at graph.py:1)"),
    ),
    workers=2,
    seconds=1.23456,
)


def test_json_report_form() -> None:
    document = json.loads(render_json(REPORT))
    assert set(document) == {"models", "summary"}
    assert [m["status"] for m in document["models"]] == ["converted", "refused", "failed"]
    for model in document["models"]:
        assert set(model) == {
            "source", "status", "output", "reason", "insertion_point", "shape", "verb", "summary",
        }  # fmt: skip
        assert model["verb"] == "insert"
    assert document["models"][0]["shape"] == {"channels": 128, "height": 36, "width": 100}
    assert document["models"][1]["output"] is None and document["models"][1]["shape"] is None
    assert document["summary"] == {
        "total": 3,
        "converted": 1,
        "refused": 1,
        "failed": 1,
        "skipped": 0,
        "interrupted": 0,
        "workers": 2,
        "seconds": 1.235,
    }


def test_csv_report_round_trips() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(REPORT))))
    assert [row["status"] for row in rows] == ["converted", "refused", "failed"]
    assert rows[0]["shape"] == "36x100x128" and rows[0]["reason"] == ""  # HxWxC, as insert says
    assert rows[1]["reason"] == "zoo/b.prototxt: pipes | in reasons"


def test_markdown_report_escapes_cells() -> None:
    text = render_markdown(REPORT)
    assert "3 models: 1 converted, 1 refused, 1 failed (1.2 s, 2 workers)." in text
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3
    assert "pipes \\| in reasons" in table[3]
    assert all(line.replace("\\|", "").count("|") == 9 for line in table)


@pytest.mark.parametrize("name", ["r.json", "r.CSV", "r.md", "r.markdown", "r.html", "r.htm"])
def test_report_format_follows_the_extension(name: str) -> None:
    report_renderer(Path(name))


def test_unknown_report_extension_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown report format '\.txt'"):
        report_renderer(Path("r.txt"))


def test_write_output_writes_the_files_beside_it_with_it_or_none(tmp_path: Path) -> None:
    beside = ((str(tmp_path / "x.caffemodel"), b"weights"),)
    (tmp_path / "x.prototxt").mkdir()  # the output cannot be written
    outcome = Outcome("src", "converted", output=str(tmp_path / "x.prototxt"), data=b"x",
                      beside=beside)  # fmt: skip
    assert write_output(outcome).status == "failed"
    assert not (tmp_path / "x.caffemodel").exists()
    (tmp_path / "x.prototxt").rmdir()
    assert write_output(outcome).status == "converted"
    assert (tmp_path / "x.caffemodel").read_bytes() == b"weights"
    assert (tmp_path / "x.prototxt").read_bytes() == b"x"


def test_a_fold_bn_config_may_name_each_model_s_caffemodel(tmp_path: Path) -> None:
    make_tree(tmp_path / "src", "a.prototxt", "lane/b.prototxt")
    sources = discover_sources([str(tmp_path / "src")])
    config = parse_config('[models."lane/*"]\nweights = "trained/b.caffemodel"\n', verb="fold-bn")
    jobs = plan_jobs(sources, tmp_path / "out", FoldBnOptions(), config)
    beside = str(tmp_path / "src/a.caffemodel")
    assert [job.weights for job in jobs] == [beside, "trained/b.caffemodel"]
    assert [job.weights_output for job in jobs] == [
        str(tmp_path / "out/a.caffemodel"), str(tmp_path / "out/lane/b.caffemodel")
    ]
    with pytest.raises(UsageError, match="weights must be the path of a caffemodel, got 3"):
        parse_config('[models."**"]\nweights = 3\n', verb="fold-bn")
    with pytest.raises(UsageError, match="unknown setting 'weights'"):
        parse_config('[models."**"]\nweights = "w.caffemodel"\n', verb="strip")
    assert plan_jobs(sources, tmp_path / "out", FITS, BatchConfig())[0].weights is None
