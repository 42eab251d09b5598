"""Properties of the verbs on random valid nets (issue 13), with Hypothesis.

The nets come from :mod:`tests.strategies`: chains and DAGs with in-place chains,
Eltwise/Concat joins, TRAIN/TEST rules, V1 and V2, in the file's own indentation and
newlines. For every one of them:

* ``insert`` gives a net valid by Caffe's wiring rules, with consistent shapes;
* ``strip(insert(x)) == x`` byte for byte;
* ``diff(x, insert(x))`` is one module plus its rewires;
* removing an in-place layer cuts its lines and nothing else; ``upgrade`` equals Caffe's.
"""

from __future__ import annotations

import os
import re

from google.protobuf import text_format
from hypothesis import given, settings

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.analysis.compare import diff_nets
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import build_graphs
from scnn_surgery.core.net import Net
from scnn_surgery.core.text_export import export_bytes
from scnn_surgery.passes.upgrade import upgrade_net
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.surgery import InsertResult, StripOptions, strip

from .caffe_upgrade import upgrade_net_proto_text
from .strategies import (
    BUDGETS,
    PROFILE_ENV,
    InsertCase,
    Written,
    budget,
    counted,
    insert_cases,
    written_nets,
)

SOURCE = "gen.prototxt"


def parsed_by_caffe(text: str) -> caffe_pb2.NetParameter:
    """The text read by protobuf with the real caffe.proto (an error fails the test)."""
    message = caffe_pb2.NetParameter()
    text_format.Parse(text, message)
    return message


def assert_valid(net: Net) -> None:
    """Caffe's wiring rules hold and every blob's shape is known, in every phase."""
    for graph in build_graphs(net):
        assert not graph.problems, graph.problems
        shapes = infer_shapes(net, graph)
        assert not shapes.errors, shapes.errors
        assert not shapes.stopped, shapes.stopped
    assert not errors_of(check_net(net, errors_only=True))


def inserted(case: InsertCase) -> tuple[Net, InsertResult, Net]:
    """The net, the insert's result, and its output read back from its text."""
    net = ss.loads(case.written.text, SOURCE)
    result = ss.insert(net, ss.InsertOptions(**case.options))
    return net, result, ss.loads(ss.dumps(result.net), SOURCE)


@settings(max_examples=budget("test_generated_nets_are_valid_with_the_generators_shapes"))
@given(written_nets())
@counted
def test_generated_nets_are_valid_with_the_generators_shapes(written: Written) -> None:
    """The strategy's nets are what it claims: valid, with the shapes Caffe's formulas
    give (computed again in the strategy, independently of scnn_surgery.analysis.shapes)."""
    parsed_by_caffe(written.text)
    net = ss.loads(written.text, SOURCE)
    assert net.format == written.net.format
    assert_valid(net)
    for graph in build_graphs(net):
        shapes = infer_shapes(net, graph)
        batch = written.net.batch[graph.state.phase]
        for blob, chw in written.net.shapes.items():
            assert shapes.final(blob) == (batch, *chw), (blob, graph.state.phase)


@settings(max_examples=budget("test_insert_output_is_valid_by_caffes_rules"))
@given(insert_cases())
@counted
def test_insert_output_is_valid_by_caffes_rules(case: InsertCase) -> None:
    net, result, out = inserted(case)
    text = ss.dumps(result.net)
    parsed = parsed_by_caffe(text)
    if out.format == "v1":
        assert not parsed.layer and len(parsed.layers) > len(net.layers)
    else:
        assert not parsed.layers and len(parsed.layer) > len(net.layers)
    assert_valid(out)
    # the module's output has the shape of what it reads, in every phase
    assert case.after is not None
    for graph in build_graphs(out):
        shapes = infer_shapes(out, graph)
        assert shapes.final(result.output) == shapes.final(case.after)
        batch = case.written.net.batch[graph.state.phase]
        assert shapes.final(result.output) == (batch, *case.written.net.shapes[case.after])


@settings(max_examples=budget("test_strip_of_insert_gives_the_input_back_byte_for_byte"))
@given(insert_cases())
@counted
def test_strip_of_insert_gives_the_input_back_byte_for_byte(case: InsertCase) -> None:
    _, result, out = inserted(case)
    stripped = strip(out, StripOptions(prefix=result.spec.prefix))
    assert export_bytes(stripped.net) == case.written.data
    assert stripped.reads == result.point.blob


@settings(max_examples=budget("test_diff_of_insert_is_one_module_and_its_rewires"))
@given(insert_cases())
@counted
def test_diff_of_insert_is_one_module_and_its_rewires(case: InsertCase) -> None:
    net, result, out = inserted(case)
    diff = diff_nets(net, out)
    assert [m.status for m in diff.modules] == ["added"], diff.lines()
    assert (diff.added, diff.removed, diff.changed, diff.fragments, diff.shapes) == (
        (), (), (), (), ()
    ), diff.lines()
    consumers = {(c.layer.name, c.bottom_index) for c in result.point.consumers}
    assert {(r.layer, r.bottom_index) for r in diff.rewired} == consumers, diff.lines()
    for rewire in diff.rewired:
        assert rewire.before is not None and rewire.after is not None
        assert (rewire.before.blob, rewire.after.blob) == (result.point.blob, result.output)


@settings(max_examples=budget("test_automatic_point_insert_is_valid"))
@given(insert_cases(automatic=True))
@counted
def test_automatic_point_insert_is_valid(case: InsertCase) -> None:
    """With one head whose classifier reads a spatial map, that map is the point."""
    net, result, out = inserted(case)
    classifier = next(x for x in net.layers if x.name in ("score", "fc"))
    assert result.point.blob == classifier.bottoms[0]
    assert_valid(out)
    assert export_bytes(strip(out, StripOptions(prefix=result.spec.prefix)).net) == (
        case.written.data
    )


@settings(max_examples=budget("test_remove_of_an_in_place_layer_cuts_its_lines_only"))
@given(written_nets().filter(lambda w: any(
    x.in_place and x.name and i not in w.style.fancy for i, x in enumerate(w.net.layers)
)))
@counted
def test_remove_of_an_in_place_layer_cuts_its_lines_only(written: Written) -> None:
    """Removing an in-place layer leaves a valid net whose text is the input with one
    span cut out, holding that layer's block and no other: its whole lines where the block
    has lines of its own, else the block and the blank between it and a neighbour."""
    index = max(
        i for i, x in enumerate(written.net.layers)
        if x.in_place and x.name and i not in written.style.fancy
    )
    name = written.net.layers[index].name
    net = ss.loads(written.text, SOURCE)
    out = export_bytes(ss.remove(net, [name]).net)
    cuts = _cuts(written.data, out, whole_lines=written.style.owns_lines(index))
    block = rb"\s*layers? *\{[^{}]*name: *[\"']%s[\"'].*\}\s*" % re.escape(name.encode())
    assert any(
        cut.count(b"name:") == 1 and re.fullmatch(block, cut, re.DOTALL) for cut in cuts
    ), cuts
    back = ss.loads(out.decode(), SOURCE)
    assert [x.name for x in back.layers] == [x.name for x in net.layers if x.name != name]
    assert_valid(back)


def _common_prefix(a: bytes, b: bytes) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _cuts(data: bytes, out: bytes, whole_lines: bool) -> list[bytes]:
    """Every span whose removal from ``data`` leaves ``out`` (several where text repeats),
    comments blanked; with ``whole_lines`` only spans of whole lines."""
    cut = len(data) - len(out)
    prefix = _common_prefix(data, out)
    suffix = _common_prefix(data[::-1], out[::-1])
    starts = range(max(0, len(out) - suffix), min(prefix, len(out)) + 1)
    return [
        re.sub(rb"#[^\n]*", b"", data[i : i + cut])
        for i in starts
        if cut > 0
        and (
            not whole_lines
            or ((i == 0 or data[i - 1 : i] == b"\n") and data[i + cut - 1 : i + cut] == b"\n")
        )
    ]


@settings(max_examples=budget("test_upgrade_equals_caffes_upgrade"))
@given(written_nets())
@counted
def test_upgrade_equals_caffes_upgrade(written: Written) -> None:
    """``upgrade`` of a V1 net (or of a V2 net's top-level inputs) is what Caffe's
    ``upgrade_net_proto_text`` makes of it, field for field (tests/caffe_upgrade.py)."""
    ours = upgrade_net(ss.loads(written.text, SOURCE))
    assert parsed_by_caffe(ss.dumps(ours)) == upgrade_net_proto_text(written.text)
    assert_valid(ss.loads(ss.dumps(ours), SOURCE))


def test_ci_runs_at_least_1000_examples_the_same_every_time() -> None:
    """Issue 13: >= 1,000 generated cases a run, deterministic (a fixed seed, no database,
    no deadline) unless SCNN_SURGERY_HYPOTHESIS chooses the dev profile."""
    assert sum(BUDGETS.values()) >= 1000
    if os.environ.get(PROFILE_ENV, "ci") == "ci":
        current = settings.default
        assert current.derandomize and current.database is None and current.deadline is None
