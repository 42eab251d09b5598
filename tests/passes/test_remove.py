"""Removing layers by Caffe's binding rule: in place, bridged, unread, or refused."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.core.graph import NetState, build_graph
from scnn_surgery.core.net import Net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes.remove import passthrough, remove, select_layers

from ..conftest import DATA

PHASES_NET = DATA / "phases_inplace.prototxt"


def _net(text: str) -> Net:
    return ss.loads(text, "n.prototxt")


def _removed(net: Net, *names: str) -> Net:
    work = net.copy()
    remove(work, select_layers(work, names))
    return work


def _wiring(net: Net, phase: str = "TEST") -> list[tuple[str, tuple[str, ...]]]:
    """Each layer of the phase with the producer of each bottom (``layer.top``), by name."""
    graph = build_graph(net, NetState(phase))
    out = []
    for layer in graph.layers:
        sources = []
        for version in graph.bottoms(layer):
            producer = None if version is None else graph.producer(version)
            sources.append("?" if producer is None else f"{producer.name}.{version.name}")
        out.append((layer.name, tuple(sources)))
    return out


CHAIN = """\
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "y" }
layer { name: "b" type: "Sigmoid" bottom: "y" top: "y" }
layer { name: "c" type: "TanH" bottom: "y" top: "z" }
layer { name: "d" type: "Eltwise" bottom: "z" bottom: "y" top: "w" }
"""


def test_an_in_place_layer_simply_goes() -> None:
    net = _removed(_net(CHAIN), "b")
    assert [x.name for x in net.layers] == ["in", "a", "c", "d"]
    assert _wiring(net) == [("in", ()), ("a", ("in.x",)), ("c", ("a.y",)), ("d", ("c.z", "a.y"))]
    assert ss.dumps(net) == CHAIN.replace(
        'layer { name: "b" type: "Sigmoid" bottom: "y" top: "y" }\n', ""
    )


def test_a_one_to_one_layer_is_bridged_in_every_reader() -> None:
    net = _removed(_net(CHAIN), "c")
    assert _wiring(net)[-1] == ("d", ("b.y", "b.y"))
    assert 'layer { name: "d" type: "Eltwise" bottom: "y" bottom: "y" top: "w" }' in ss.dumps(net)


def test_bridging_turns_an_in_place_reader_into_a_plain_one() -> None:
    net = _removed(_net(CHAIN), "a")
    assert [x.bottoms for x in net.layers[1:]] == [("x",), ("y",), ("z", "y")]
    assert _wiring(net) == [("in", ()), ("b", ("in.x",)), ("c", ("b.y",)), ("d", ("c.z", "b.y"))]


def test_a_chain_of_removed_layers_is_followed_to_its_start() -> None:
    net = _removed(_net(CHAIN), "a", "b", "c")
    assert _wiring(net) == [("in", ()), ("d", ("in.x", "in.x"))]


def test_a_layer_nothing_reads_goes_whatever_its_shape() -> None:
    net = _removed(_net(CHAIN), "d")
    assert [x.name for x in net.layers] == ["in", "a", "b", "c"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("in", r"cannot remove layer 'in' \(n.prototxt:1:1\): it has no bottom to read instead,"
               r" and layer 'a' \(n.prototxt:2:1\) reads its output 'x' \(phase TEST\)"),
    ],
)  # fmt: skip
def test_a_layer_without_a_bottom_to_bridge_to_is_refused(name: str, why: str) -> None:
    with pytest.raises(SurgeryError, match=why):
        _removed(_net(CHAIN), name)


def test_several_tops_or_bottoms_are_refused_naming_the_readers() -> None:
    text = """\
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 dim: 2 dim: 2 } } }
layer { name: "s" type: "Slice" bottom: "x" top: "p" top: "q" }
layer { name: "e" type: "Eltwise" bottom: "p" bottom: "q" top: "r" }
layer { name: "f" type: "ReLU" bottom: "r" top: "t" }
"""
    with pytest.raises(
        SurgeryError,
        match=r"'s' .*: it has 2 tops, and layer 'e' .* reads its"
        r" outputs 'p', 'q' \(phase TEST\); remove it too, or rewire it first",
    ):
        _removed(_net(text), "s")
    with pytest.raises(SurgeryError, match=r"'e' .*: it has 2 bottoms, so there is no one blob"):
        _removed(_net(text), "e")
    assert [x.name for x in _removed(_net(text), "s", "e", "f").layers] == ["in"]


def test_a_bridge_caffe_would_bind_to_a_later_rewrite_is_refused() -> None:
    text = """\
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }
layer { name: "n" type: "LRN" bottom: "x" top: "y" }
layer { name: "r" type: "ReLU" bottom: "x" top: "x" }
layer { name: "c" type: "Eltwise" bottom: "y" bottom: "x" top: "z" }
"""
    with pytest.raises(
        SurgeryError,
        match=r"cannot remove 'n': layer 'c' \(n.prototxt:4:1\) would"
        r" read 'x' from the version layer 'r' writes rather than from layer 'in'",
    ):
        _removed(_net(text), "n")


def test_each_phase_is_bridged_by_its_own_graph() -> None:
    net = ss.load(PHASES_NET)
    after = _removed(net, "relu1", "drop1")
    for phase in ("TRAIN", "TEST"):
        wiring = dict(_wiring(after, phase))
        assert wiring["score"] == ("conv1.conv1",)
    assert dict(_wiring(after, "TEST"))["aux"] == ("conv1.conv1", "peek.peek")
    bridged = _removed(net, "score")
    assert dict(_wiring(bridged, "TRAIN"))["loss"] == ("drop1.conv1", "data.label")


def test_a_name_removes_every_layer_so_named_and_a_number_one() -> None:
    net = ss.load(PHASES_NET)
    assert [net.index_of(x) for x in select_layers(net, ["data"])] == [0, 1]
    assert [x.name for x in select_layers(net, ["#3", "peek", "#3"])] == ["conv1", "peek"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("relu", r"no layer named 'relu'; closest: relu1"),
        ("#0", r"no layer #0; the net has 9 layers"),
        ("#10", r"no layer #10; the net has 9 layers"),
        ("", r"an empty name names no layer; give an unnamed layer as #N"),
    ],
)
def test_unknown_names_are_refused_with_the_closest(name: str, message: str) -> None:
    with pytest.raises(SurgeryError, match=message):
        select_layers(ss.load(PHASES_NET), [name])


def test_passthrough_follows_the_rule_for_each_shape_of_layer() -> None:
    net = _net(CHAIN + 'layer { name: "s" type: "Scale" bottom: "w" bottom: "z" top: "w" }\n')
    a, b, _, d, s = net.layers[1:]
    assert passthrough(a, 0) == 0  # one to one
    assert passthrough(b, 0) == 0  # in place
    assert passthrough(d, 0) is None  # two bottoms
    assert passthrough(s, 0) == 0  # in place on its first bottom


def test_a_long_chain_is_removed_without_recursion() -> None:
    lines = ['layer { name: "in" type: "Input" top: "b0" input_param { shape { dim: 1 } } }']
    lines += [
        f'layer {{ name: "l{i}" type: "ReLU" bottom: "b{i}" top: "b{i + 1}" }}' for i in range(3000)
    ]
    lines.append('layer { name: "end" type: "ReLU" bottom: "b3000" top: "out" }')
    net = _net("\n".join(lines) + "\n")
    after = _removed(net, *(f"l{i}" for i in range(3000)))
    assert ss.dumps(after).splitlines()[1] == (
        'layer { name: "end" type: "ReLU" bottom: "b0" top: "out" }'
    )
