from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.autopoint import choose_blob, is_spatial
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import NetState, build_graph
from scnn_surgery.core.net import load_net
from scnn_surgery.errors import SurgeryError

from ..conftest import DATA, REPO_ROOT, needs_shared, shared_path


def _choose(
    path: str, phase: str = "TEST", shapes: dict[str, tuple[int, ...]] | None = None
) -> tuple[str, str]:
    net = load_net(path)
    graph = build_graph(net, NetState(phase))
    return choose_blob(net, graph, infer_shapes(net, graph, shapes or {}))


@needs_shared
def test_published_example_chooses_conv5_5() -> None:
    blob, why = _choose(str(shared_path("golden", "resnet101.prototxt")))
    assert blob == "conv5_5"
    assert "classifier 'conv6'" in why


def test_classification_net_walks_back_to_last_spatial_map() -> None:
    # fc8 <- fc7 (4096) <- fc6 (4096) <- pool5 (6x6): the last map with H, W >= 2
    blob, _ = _choose(str(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt")))
    assert blob == "pool5"
    # fc1000 <- pool5 (global 1x1) <- res5c (7x7)
    blob, _ = _choose(str(shared_path("zoo", "deploy", "resnet50_deploy.prototxt")))
    assert blob == "res5c"


def test_head_on_a_probability_map_leads_to_the_classifier_features() -> None:
    # the example's existence branch pools the softmax of fc8: its features are fc7's
    blob, why = _choose(str(REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"))
    assert blob == "fc7"
    assert "classifier 'fc8'" in why


def test_several_heads_share_their_deepest_common_map() -> None:
    # VPGNet's three task heads (L6a/b/c) all branch off L5
    blob, why = _choose(str(shared_path("zoo", "lane", "vpgnet_novp_deploy.prototxt")))
    assert blob == "L5"
    assert "shared by every head" in why


def test_priorbox_reference_bottoms_are_not_heads() -> None:
    blob, _ = _choose(str(shared_path("zoo", "detection", "mobilenet_ssd_deploy.prototxt")))
    assert blob == "conv11"


def test_separate_branches_are_ambiguous_and_listed() -> None:
    with pytest.raises(SurgeryError) as info:
        _choose(str(DATA / "two_branches.prototxt"))
    message = str(info.value)
    assert "ambiguous" in message
    assert (
        "left (feeds head_a -> head_a)" in message and "right (feeds head_b -> head_b)" in message
    )


def test_unknown_input_size_asks_for_shape() -> None:
    path = str(shared_path("zoo", "train_val", "lenet_train_test.prototxt"))
    unknown = r"layer 'mnist' does not state its output size.*--shape"
    with pytest.raises(SurgeryError, match=unknown):
        _choose(path)
    # TRAIN reads batches of 64, TEST of 100: the file states the batch, the rest is open
    blob, _ = _choose(path, shapes={"data": (None, 1, 28, 28)})  # type: ignore[dict-item]
    assert blob == "pool2"


def test_is_spatial() -> None:
    assert is_spatial((1, 8, 2, 2))
    assert not is_spatial((1, 8, 1, 7))
    assert not is_spatial((1, 4096))
    assert not is_spatial((1, 8, None, 4))
    assert not is_spatial(None)


def test_auxiliary_heads_do_not_pull_the_point() -> None:
    """GoogLeNet's train_val: lighter-weighted auxiliary classifiers (and the accuracies
    beside them) are not followed; the point is the main head's, as in the deploy net."""
    path = str(DATA / "aux_heads_train_val.prototxt")
    for phase in ("TRAIN", "TEST"):
        blob, why = _choose(path, phase)
        assert blob == "deep", why
        assert "auxiliary heads aux/loss (0.3), weighted below the main loss's 1" in why
    # Without the weights every head counts, and the deepest shared map is the branch point.
    unweighted = (DATA / "aux_heads_train_val.prototxt").read_text().replace(
        "loss_weight: 0.3", "loss_weight: 1"
    )
    net = ss.loads(unweighted)
    graph = build_graph(net, NetState("TEST"))
    blob, why = choose_blob(net, graph, infer_shapes(net, graph))
    assert blob == "mid" and "all 2 tasks share" in why and "auxiliary" not in why
