from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.geometry import PhaseShapes, resolve_sizes
from scnn_surgery.core.graph import build_graphs
from scnn_surgery.core.net import load_net
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes.anchor import find_insertion_point

from ..conftest import DATA, needs_shared, shared_path

NONE = {"height": None, "width": None, "channel": None}


def _resolve(
    path: str,
    after: str,
    given: dict[str, int | None],
    phase: str | None = None,
    notes: list[str] | None = None,
) -> tuple[int, int, int]:
    net = load_net(path)
    graphs = build_graphs(net)
    point = find_insertion_point(net, graphs, after)
    return resolve_sizes(
        PhaseShapes(net, graphs), point, given, phase, notes if notes is not None else []
    )


@needs_shared
def test_inferred_sizes_of_published_example() -> None:
    notes: list[str] = []
    path = str(shared_path("golden", "resnet101.prototxt"))
    assert _resolve(path, "conv5_5", NONE, notes=notes) == (46, 46, 128)
    assert notes == ["inferred 46x46x128 (HxWxC) for blob 'conv5_5'"]


@needs_shared
def test_agreeing_values_pass_and_contradictions_name_both() -> None:
    path = str(shared_path("golden", "resnet101.prototxt"))
    assert _resolve(path, "conv5_5", {"height": 46, "width": 46, "channel": 128}) == (46, 46, 128)
    with pytest.raises(
        SurgeryError, match="--height 45 contradicts the inferred height 46 of blob 'conv5_5'"
    ):
        _resolve(path, "conv5_5", {"height": 45, "width": 46, "channel": 128})


def test_phases_that_disagree_are_refused_unless_one_is_chosen() -> None:
    path = str(DATA / "two_crops.prototxt")
    with pytest.raises(
        SurgeryError,
        match=r"phases disagree on the height of 'conv1' \(TRAIN 16, TEST 20\).*--phase",
    ):
        _resolve(path, "conv1", {"height": None, "width": None, "channel": None})
    assert _resolve(path, "conv1", NONE, phase="TEST") == (20, 20, 16)
    assert _resolve(path, "conv1", NONE, phase="TRAIN") == (16, 16, 16)


def test_unknown_dimension_can_be_supplied() -> None:
    path = str(shared_path("zoo", "train_val", "lenet_train_test.prototxt"))
    with pytest.raises(SurgeryError, match="cannot infer the height of blob 'pool2'"):
        _resolve(path, "pool2", NONE)
    assert _resolve(path, "pool2", {"height": 4, "width": 4, "channel": None}) == (4, 4, 50)


@needs_shared
def test_a_channel_count_the_blob_does_not_have_points_to_reduce_channels() -> None:
    net = ss.load(shared_path("golden", "resnet101.prototxt"))
    with pytest.raises(SurgeryError) as caught:
        ss.insert(net, ss.InsertOptions(after="conv5_5", channels=64))
    message = str(caught.value)
    assert message.startswith("--channel 64 contradicts the inferred channel 128 of blob")
    assert "use --reduce-channels 64 (in a batch config, reduce_channels = 64)" in message
