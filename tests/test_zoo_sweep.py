"""Every zoo net either converts cleanly or is refused with one precise sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import text_format

import scnn_surgery as ss
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.document import Document
from scnn_surgery.core.graph import build_graphs
from scnn_surgery.schema import caffe_pb2
from scnn_surgery.surgery import StripOptions, strip

from .conftest import ZooInsert, needs_shared, zoo_files, zoo_ids
from .zoo_expectations import MUST_CONVERT, REFUSED

ZOO = zoo_files()


def _assert_only_module_and_rewiring_changed(
    original: str, result: ss.InsertResult, out_net: ss.Net
) -> None:
    """Cut the module's blocks out and undo the rewiring: the original must come back."""
    names = {layer.name for layer in ss.build_module(result.spec)}
    names.add(f"{result.spec.prefix}SCNN_reduce")
    module = [layer for layer in out_net.layers if layer.name in names]
    indices = [out_net.index_of(layer) for layer in module]
    assert indices == list(range(indices[0], indices[-1] + 1)), "module is not contiguous"
    doc = out_net.document
    first, last = module[0].block, module[-1].block
    assert first is not None and last is not None
    start = doc.text.rfind("\n", 0, first.start) + 1
    end = doc.line_end_after(last.end)
    without = doc.text[:start] + doc.text[end:]
    quoted = re.compile(r"""(bottom\s*:\s*)(["'])""" + re.escape(result.output) + r"\2")
    restored, count = quoted.subn(
        lambda m: m.group(1) + m.group(2) + result.point.blob + m.group(2), without
    )
    assert restored == original
    assert count == len(result.point.consumers)
    # ... and the strip verb undoes it byte for byte
    stripped = strip(out_net, StripOptions(prefix=result.spec.prefix))
    assert ss.dumps(stripped.net) == original
    assert stripped.reads == result.point.blob


def _validate_success(path: Path, result: ss.InsertResult) -> None:
    data = ss.dumps(result.net).encode("utf-8", "surrogateescape")
    # reads back losslessly
    again = Document.from_bytes(data, "out")
    assert again.to_bytes() == data
    net = ss.loads(data.decode("utf-8", "surrogateescape"))
    # valid protobuf text for Caffe's schema (fork fields tolerated)
    text_format.Parse(data.decode(), caffe_pb2.NetParameter(), allow_unknown_field=True)
    # every bottom defined earlier and no duplicate producers, in every phase
    for graph in build_graphs(net):
        assert not graph.problems, [p.message for p in graph.problems]
        shapes = infer_shapes(net, graph)
        assert not shapes.errors, [e.message for e in shapes.errors]
        output = result.output
        if result.point.consumers:
            assert graph.consumers(graph.latest[output]), f"{output} is not consumed"
    # the file's format is kept
    if ss.load(path).format == "v1":
        assert "layer {" not in data.decode() and "layers {" in data.decode()
    original = path.read_bytes().decode("utf-8", "surrogateescape")
    _assert_only_module_and_rewiring_changed(original, result, net)


@pytest.mark.parametrize("path", ZOO, ids=zoo_ids(ZOO))
def test_zoo_net_converts_or_is_refused_precisely(
    path: Path, zoo_inserts: dict[str, ZooInsert]
) -> None:
    done = zoo_inserts[path.stem]
    if done.refusal is not None:
        message = done.refusal
        assert "\n" not in message
        assert path.stem in REFUSED, f"unexpected refusal: {message}"
        assert re.search(REFUSED[path.stem], message), message
        return
    result = done.result
    assert result is not None
    assert path.stem not in REFUSED, f"expected a refusal matching {REFUSED[path.stem]!r}"
    _validate_success(path, result)
    if path.stem in MUST_CONVERT:
        blob, (h, w, c) = MUST_CONVERT[path.stem]
        assert result.point.blob == blob
        assert (result.spec.height, result.spec.width, result.spec.channels) == (h, w, c)


@needs_shared
def test_must_convert_list_is_in_the_zoo() -> None:
    stems = {p.stem for p in ZOO}
    assert set(MUST_CONVERT) <= stems and set(REFUSED) <= stems


@needs_shared
def test_refused_nets_convert_with_what_the_message_asks_for() -> None:
    by_stem = {p.stem: p for p in ZOO}
    v0 = ss.insert(ss.load(by_stem["rcnn_v0_caffenet_fc7_deploy"]), ss.InsertOptions(upgrade=True))
    assert v0.point.blob == "pool5" and (v0.spec.height, v0.spec.width) == (6, 6)
    dark = ss.insert(
        ss.load(by_stem["apollo_darkscnn_deploy"]), ss.InsertOptions(after="conv7_2", prefix="p2_")
    )
    _validate_success(by_stem["apollo_darkscnn_deploy"], dark)
    fcn = ss.insert(
        ss.load(by_stem["fcn32s_voc_train"]),
        ss.InsertOptions(shapes={"data": (1, 3, 500, 500), "label": (1, 1, 500, 500)}),
    )
    _validate_success(by_stem["fcn32s_voc_train"], fcn)


@needs_shared
def test_readme_table_is_current(zoo_inserts: dict[str, ZooInsert]) -> None:
    """The README shows the sweep's result table; it must say what the code does."""
    from scripts.zoo_table import table

    from .conftest import REPO_ROOT

    outcomes = {p: zoo_inserts[p.stem].result or zoo_inserts[p.stem].refusal or "" for p in ZOO}
    assert table(outcomes) in (REPO_ROOT / "README.md").read_text()
