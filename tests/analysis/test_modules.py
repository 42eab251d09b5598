from __future__ import annotations

from scnn_surgery.analysis.modules import (
    TIMES,
    conv_shapes,
    find_modules,
    producer_name,
    summarise_module,
)
from scnn_surgery.core.graph import build_graphs
from scnn_surgery.core.net import load_net

from ..conftest import needs_shared, shared_path


@needs_shared
def test_published_module_inside_the_golden_net() -> None:
    net = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    ((module, layers),) = find_modules(net)
    assert len(layers) == 544 and layers[0].name == "Slice1" and layers[-1].name == "Concat2"
    summary = summarise_module(module, layers, build_graphs(net))
    assert summary.describe() == (
        f"SCNN module, directions DULR, 46{TIMES}46{TIMES}128, k 9, 544 layers,"
        " after conv5_5/relu, output SCNN"
    )


@needs_shared
def test_conv_shapes_read_kernel_h_w_and_kernel_size() -> None:
    net = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    shapes = conv_shapes(net, net.layers)
    assert shapes["SCNN_D_1"] == (128, 1, 9)
    assert shapes["SCNN_R_3"] == (128, 9, 1)
    assert shapes["conv5_5"] == (128, 1, 1)


@needs_shared
def test_producer_name_of_a_net_input_is_input() -> None:
    net = load_net(str(shared_path("golden", "resnet101.prototxt")))
    (graph,) = build_graphs(net)
    assert producer_name(graph, graph.latest["data"]) == "input"
    assert producer_name(graph, graph.latest["conv5_5"]) == "conv5_5/relu"


def test_the_reduction_insert_put_in_front_belongs_to_the_module() -> None:
    """insert --reduce-channels adds SCNN_reduce + its ReLU before the module: inspect, draw,
    diff and strip all see them as the module's, and its kernel is still the module's."""
    from scnn_surgery.surgery import InsertOptions, dumps, insert, loads

    from ..conftest import shared_path

    net = load_net(str(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt")))
    options = InsertOptions(after="pool5", kernel_width=3, reduce_channels=128)
    inserted = loads(dumps(insert(net, options).net))
    ((module, layers),) = find_modules(inserted)
    assert [x.name for x in layers[:3]] == ["SCNN_reduce", "SCNN_reduce/relu", "Slice1"]
    assert len(layers) == len(inserted.layers) - len(net.layers)
    assert (module.kernel, module.channels) == (3, 128)
