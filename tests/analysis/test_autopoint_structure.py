"""The automatic point by structure: SE gates, region layers, upsamplers, auxiliary heads
and tasks.

Each net is built here, small, with the structure of a published one; the names are
deliberately unhelpful where a rule must not read them.
"""

from __future__ import annotations

import scnn_surgery as ss
from scnn_surgery.analysis.autopoint import choose_blob
from scnn_surgery.analysis.shapes import infer_shapes
from scnn_surgery.core.graph import NetState, build_graph

from ..conftest import shared_path


def conv(name: str, bottom: str, out: int, kernel: int = 3, top: str | None = None) -> str:
    pad = kernel // 2
    return (
        f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top or name}"'
        f" convolution_param {{ num_output: {out} kernel_size: {kernel} pad: {pad} }} }}\n"
    )


def layer(name: str, kind: str, bottoms: list[str], tops: list[str], extra: str = "") -> str:
    wiring = "".join(f' bottom: "{b}"' for b in bottoms) + "".join(f' top: "{t}"' for t in tops)
    return f'layer {{ name: "{name}" type: "{kind}"{wiring} {extra} }}\n'


def choose(
    text: str, phase: str = "TEST", shapes: dict[str, tuple[int | None, ...]] | None = None
) -> tuple[str, str]:
    net = ss.loads(text, "net.prototxt")
    graph = build_graph(net, NetState(phase))
    return choose_blob(net, graph, infer_shapes(net, graph, shapes or {}))


INPUT = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 64 dim: 64 }\n'


def se_gate(x: str, channels: int = 16) -> str:
    """Global pool, 1x1 down, ReLU, 1x1 up, Sigmoid: the gate 'u' (N x C x 1 x 1)."""
    return (
        layer("p", "Pooling", [x], ["p"], "pooling_param { pool: AVE global_pooling: true }")
        + conv("d", "p", channels // 4, kernel=1)
        + layer("dr", "ReLU", ["d"], ["d"])
        + conv("u", "d", channels, kernel=1)
        + layer("us", "Sigmoid", ["u"], ["u"])
    )


TRUNK = INPUT + conv("c1", "data", 16) + layer("r1", "ReLU", ["c1"], ["c1"]) + conv("c2", "c1", 16)


def test_an_axpy_gate_is_part_of_its_block() -> None:
    """SENet's Axpy(gate, residual, shortcut): the block's output, not inside the block."""
    text = TRUNK + se_gate("c2") + layer("ax", "Axpy", ["u", "c2", "c1"], ["b"])
    text += layer("br", "ReLU", ["b"], ["b"])
    blob, why = choose(text)
    assert blob == "b", why
    assert "gated by 'u' (Axpy 'ax')" in why and "not a classifier" in why
    # with a classifier on top, the gate's convolutions are still not followed
    head = conv("cls", "b", 5, kernel=1) + layer("prob", "Softmax", ["cls"], ["prob"])
    blob, why = choose(text + head)
    assert blob == "b" and "classifier 'cls'" in why


def test_scale_and_eltwise_prod_gates_are_part_of_their_block() -> None:
    # SENet's Caffe models: the gate flattened to N x C, then Scale along axis 0
    flat = layer("uf", "Flatten", ["u"], ["uf"])
    scale = layer("g", "Scale", ["c2", "uf"], ["b"], "scale_param { axis: 0 }")
    blob, why = choose(TRUNK + se_gate("c2") + flat + scale)
    assert blob == "b" and "gated by 'uf' (Scale 'g')" in why, why
    # the gate spread over the map by two Tiles, then multiplied in an Eltwise PROD
    tiles = layer("t1", "Tile", ["u"], ["t1"], "tile_param { axis: 2 tiles: 64 }") + layer(
        "t2", "Tile", ["t1"], ["t2"], "tile_param { axis: 3 tiles: 64 }"
    )
    prod = layer("m", "Eltwise", ["c2", "t2"], ["b"], "eltwise_param { operation: PROD }")
    blob, why = choose(TRUNK + se_gate("c2") + tiles + prod)
    assert blob == "b" and "gated by 't2' (Eltwise 'm')" in why, why
    # SE-ResNet: the gated map joins the shortcut in an Eltwise SUM, then a ReLU
    along_n_c = "scale_param { axis: 0 }"
    residual = TRUNK + se_gate("c2") + flat + layer("g", "Scale", ["c2", "uf"], ["s"], along_n_c)
    residual += layer("sum", "Eltwise", ["s", "c1"], ["b"]) + layer("br", "ReLU", ["b"], ["b"])
    blob, why = choose(residual)
    assert blob == "b" and "(Scale 'g')" in why, why
    # a product of two maps is no gate: the point is found as before
    plain = TRUNK + layer("m", "Eltwise", ["c2", "c1"], ["b"], "eltwise_param { operation: PROD }")
    plain += conv("cls", "b", 5, kernel=1)
    assert choose(plain)[0] == "b"


RESHAPE = "reshape_param {{ shape {{ dim: 0 dim: {} dim: -1 dim: 0 }} }}"
FASTER_RCNN_DEPLOY = (
    'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 64 dim: 64 }\n'
    'input: "im_info"\ninput_shape { dim: 1 dim: 3 }\n'
    + conv("x1", "data", 8)
    + layer("q1", "Pooling", ["x1"], ["q1"], "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")
    + conv("x5", "q1", 16)
    + layer("x5r", "ReLU", ["x5"], ["x5"])
    + conv("a", "x5", 16)  # the RPN's own conv
    + layer("ar", "ReLU", ["a"], ["a"])
    + conv("ac", "a", 18, kernel=1)
    + conv("ab", "a", 36, kernel=1)
    + layer("acr", "Reshape", ["ac"], ["acr"], RESHAPE.format(2))
    + layer("acp", "Softmax", ["acr"], ["acp"])
    + layer("acq", "Reshape", ["acp"], ["acq"], RESHAPE.format(18))
    + layer(
        "prop", "Python", ["acq", "ab", "im_info"], ["rois"],
        "python_param { module: 'rpn.proposal_layer' layer: 'ProposalLayer' }",
    )
    + layer("rp", "ROIPooling", ["x5", "rois"], ["rp"],
            "roi_pooling_param { pooled_w: 7 pooled_h: 7 spatial_scale: 0.5 }")
    + layer("f6", "InnerProduct", ["rp"], ["f6"], "inner_product_param { num_output: 32 }")
    + layer("f7", "InnerProduct", ["f6"], ["f7"], "inner_product_param { num_output: 32 }")
    + layer("cs", "InnerProduct", ["f7"], ["cs"], "inner_product_param { num_output: 21 }")
    + layer("bp", "InnerProduct", ["f7"], ["bp"], "inner_product_param { num_output: 84 }")
    + layer("cp", "Softmax", ["cs"], ["cp"])
)  # fmt: skip


def test_a_region_pooled_map_gives_way_to_the_scene_map() -> None:
    """Faster R-CNN deploy: the ROI-pooled 7x7 map is per region; the scene map the
    ROIPooling and the RPN read is the point."""
    blob, why = choose(FASTER_RCNN_DEPLOY)
    assert blob == "x5", why
    assert "'rp' is per region (ROIPooling 'rp')" in why and "'a' reads" in why


def test_a_train_net_with_a_python_proposal_layer_given_by_shape() -> None:
    """The end-to-end train net: the losses of the RPN and of the detector all weigh 1;
    the point is the scene map, not the RPN's own conv."""
    data = layer(
        "in", "Python", [], ["data", "im_info", "gt"],
        "python_param { module: 'roi_data_layer.layer' layer: 'RoIDataLayer' }",
    )  # fmt: skip
    body = FASTER_RCNN_DEPLOY.split("\n", 4)[4]  # without the two inputs
    # the proposal target layer also reads the ground truth and writes the targets
    body = body.replace(
        'bottom: "im_info" top: "rois"',
        'bottom: "im_info" bottom: "gt" top: "rois" top: "labels" top: "targets"',
    )
    losses = (
        layer("rpn_data", "Python", ["ac", "gt", "im_info"], ["rl", "rt"],
              "python_param { module: 'rpn.anchor_target_layer' layer: 'AnchorTargetLayer' }")
        + layer("rpn_cls_loss", "SoftmaxWithLoss", ["acr", "rl"], ["rpn_cls_loss"])
        + layer("rpn_box_loss", "SmoothL1Loss", ["ab", "rt"], ["rpn_box_loss"])
        + layer("cls_loss", "SoftmaxWithLoss", ["cs", "labels"], ["cls_loss"])
        + layer("box_loss", "SmoothL1Loss", ["bp", "targets"], ["box_loss"])
    )  # fmt: skip
    text = data + body.replace(layer("cp", "Softmax", ["cs"], ["cp"]), "") + losses
    shapes: dict[str, tuple[int | None, ...]] = {
        "data": (1, 3, 64, 64), "im_info": (1, 3), "gt": (1, 5), "rois": (16, 5),
        "labels": (16,), "targets": (16, 84),
    }  # fmt: skip
    blob, why = choose(text, "TRAIN", shapes)
    assert blob == "x5", why
    assert "all 4 tasks share" in why and "per region" in why


def test_three_tasks_weighted_1_1_3_share_the_trunk() -> None:
    trunk = (
        layer("in", "Input", [], ["data", "label"],
              "input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 }"
              " shape { dim: 1 dim: 4 dim: 32 dim: 32 } }")
        + conv("t1", "data", 8) + layer("t1r", "ReLU", ["t1"], ["t1"])
        + conv("t2", "t1", 8) + layer("t2r", "ReLU", ["t2"], ["t2"])
    )  # fmt: skip
    # each task has a conv of its own before its classifier
    text = trunk
    for i, weight in enumerate((1, 1, 3)):
        text += conv(f"b{i}", "t2", 8) + conv(f"h{i}", f"b{i}", 4, kernel=1)
        text += layer(
            f"loss{i}", "EuclideanLoss", [f"h{i}", "label"], [f"loss{i}"], f"loss_weight: {weight}"
        )
    blob, why = choose(text)
    assert blob == "t2", why
    assert "all 3 tasks share" in why and "loss0 (1), loss1 (1), loss2 (3)" in why
    assert "auxiliary" not in why


def test_googlenet_style_heads_of_weight_0_3_stay_auxiliary() -> None:
    stages = (
        'layer { name: "in" type: "Input" top: "data" top: "label" input_param {'
        " shape { dim: 2 dim: 3 dim: 64 dim: 64 } shape { dim: 2 } } }\n"
    )
    for i in range(3):
        stages += conv(f"s{i}", "data" if i == 0 else f"q{i - 1}", 8)
        stages += layer(
            f"q{i}", "Pooling", [f"s{i}"], [f"q{i}"],
            "pooling_param { pool: MAX kernel_size: 2 stride: 2 }",
        )  # fmt: skip
    for i, at in enumerate(("q0", "q1")):  # two auxiliary classifiers, 0.3 each
        stages += layer(f"a{i}p", "Pooling", [at], [f"a{i}p"],
                        "pooling_param { pool: AVE kernel_size: 5 stride: 3 }")  # fmt: skip
        stages += conv(f"a{i}c", f"a{i}p", 8, kernel=1)
        stages += layer(f"a{i}f", "InnerProduct", [f"a{i}c"], [f"a{i}f"],
                        "inner_product_param { num_output: 10 }")  # fmt: skip
        stages += layer(f"a{i}l", "SoftmaxWithLoss", [f"a{i}f", "label"], [f"a{i}l"],
                        "loss_weight: 0.3")  # fmt: skip
    global_pool = "pooling_param { pool: AVE global_pooling: true }"
    stages += layer("gp", "Pooling", ["q2"], ["gp"], global_pool)
    stages += layer("fc", "InnerProduct", ["gp"], ["fc"], "inner_product_param { num_output: 10 }")
    stages += layer("loss", "SoftmaxWithLoss", ["fc", "label"], ["loss"])
    blob, why = choose(stages)
    assert blob == "q2", why
    assert "auxiliary heads a0l (0.3), a1l (0.3), weighted below the main loss's 1" in why
    assert "deep supervision" in why


def deconv(
    name: str, bottom: str, out: int, stride: int, frozen: bool = False, group: str = ""
) -> str:
    """A strided Deconvolution, its weights frozen (``lr_mult: 0``) or learned, with an
    optional ``group: N``."""
    return layer(
        name, "Deconvolution", [bottom], [name],
        ("param { lr_mult: 0 } " if frozen else "")
        + f"convolution_param {{ num_output: {out} bias_term: false {group}"
        f" kernel_size: {2 * stride} stride: {stride} }}",
    )  # fmt: skip


POOL2 = "pooling_param { pool: MAX kernel_size: 2 stride: 2 }"
# FCN's trunk: x3 at 1/2, x4 at 1/4, x7 at 1/8 (each after its ReLU); the names say nothing
FCN_TRUNK = (
    INPUT
    + conv("x3", "data", 8) + layer("x3r", "ReLU", ["x3"], ["x3"])
    + layer("p3", "Pooling", ["x3"], ["p3"], POOL2)
    + conv("x4", "p3", 8) + layer("x4r", "ReLU", ["x4"], ["x4"])
    + layer("p4", "Pooling", ["x4"], ["p4"], POOL2)
    + conv("x7", "p4", 16) + layer("x7r", "ReLU", ["x7"], ["x7"])
    + layer("p7", "Pooling", ["x7"], ["p7"], POOL2)
)  # fmt: skip
CROP = "crop_param { axis: 2 offset: 1 }"


def test_a_frozen_deconvolution_only_upsamples_the_scores() -> None:
    """FCN-32s: the 1x1 classifier's 5 scores upsampled x8 by frozen (bilinear) weights;
    the point is the features the classifier reads, not its scores."""
    text = FCN_TRUNK + conv("s", "p7", 5, kernel=1) + deconv("u", "s", 5, 8, frozen=True)
    blob, why = choose(text + layer("c", "Crop", ["u", "data"], ["c"], "crop_param { axis: 2 }"))
    assert blob == "p7", why
    assert "classifier 's'" in why and "'u' only upsamples class scores" in why
    # per channel (group = num_output) it cannot mix the scores either, frozen or not
    per_channel = (
        FCN_TRUNK + conv("s", "p7", 5, kernel=1) + deconv("u", "s", 5, 8, group="group: 5")
    )
    assert choose(per_channel)[0] == "p7"
    # a V1 net says it with blobs_lr
    v1 = (
        INPUT + 'layers { name: "s" type: CONVOLUTION bottom: "data" top: "s"'
        " convolution_param { num_output: 5 kernel_size: 3 stride: 2 } }\n"
        'layers { name: "u" type: DECONVOLUTION bottom: "s" top: "u" blobs_lr: 0'
        " convolution_param { num_output: 5 kernel_size: 4 stride: 2 } }\n"
    )
    assert choose(v1)[0] == "data"


def test_a_deconvolution_that_learns_or_reads_features_stays_the_classifier() -> None:
    scores = FCN_TRUNK + conv("s", "p7", 5, kernel=1)
    # a learned full Deconvolution classifies (ENet's last layer), even after scores
    assert choose(scores + deconv("u", "s", 5, 2))[0] == "s"
    # stride 1: nothing is upsampled
    assert choose(scores + deconv("u", "s", 5, 1, frozen=True))[0] == "s"
    # a bilinear upsampling of features (after their ReLU) ends a feature extractor
    features = FCN_TRUNK + deconv("u", "p7", 16, 2, frozen=True, group="group: 16")
    assert choose(features)[0] == "p7"
    # the scores through a ReLU are features again
    relu = scores + layer("sr", "ReLU", ["s"], ["s"]) + deconv("u", "s", 5, 2, frozen=True)
    assert choose(relu)[0] == "s"


def test_skip_scores_fused_into_upsampled_ones_leave_the_deepest_map() -> None:
    """FCN-8s: the scores of x7 upsampled x2, plus x4's; that upsampled x2, plus x3's;
    then x2 again. x4 and x3 are skips of the one trunk, so the point is x7 as on FCN-32s."""
    text = (
        FCN_TRUNK
        + conv("s7", "p7", 5, kernel=1) + deconv("u7", "s7", 5, 2, frozen=True)
        + conv("s4", "p4", 5, kernel=1) + layer("c4", "Crop", ["s4", "u7"], ["c4"], CROP)
        + layer("f4", "Eltwise", ["u7", "c4"], ["f4"])
        + deconv("u4", "f4", 5, 2, frozen=True)
        + conv("s3", "p3", 5, kernel=1) + layer("c3", "Crop", ["s3", "u4"], ["c3"], CROP)
        + layer("f3", "Eltwise", ["u4", "c3"], ["f3"])
        + deconv("u3", "f3", 5, 2, frozen=True)
    )  # fmt: skip
    blob, why = choose(text)
    assert blob == "p7", why
    assert "'u3', 'u4', 'u7' only upsample class scores" in why
    assert "'p4' (s4) and 'p3' (s3) are skips" in why and "upsampled scores of 'p7'" in why


def test_scores_of_separate_branches_are_no_skips() -> None:
    """Two branches of the trunk, neither computed from the other: their fused scores
    share the map both come from, as any two heads do."""
    text = (
        FCN_TRUNK
        + conv("ba", "p7", 8) + layer("bar", "ReLU", ["ba"], ["ba"])
        + conv("bb", "p7", 8) + layer("bbr", "ReLU", ["bb"], ["bb"])
        + conv("sa", "ba", 5, kernel=1) + conv("sb", "bb", 5, kernel=1)
        + layer("f", "Eltwise", ["sa", "sb"], ["f"]) + deconv("u", "f", 5, 2, frozen=True)
    )  # fmt: skip
    blob, why = choose(text)
    assert blob == "p7", why
    assert "shared by every head" in why and "skip" not in why


def test_the_zoos_fcns_get_their_top_hidden_layer() -> None:
    """fcn32s gets fc7, not the 21-channel score_fr; fcn8s and fcn16s get fc7 too, not the
    fused scores fuse_pool3 (the pool4 and pool3 scores are skips)."""
    fcn8s_path = shared_path("zoo", "segmentation", "fcn8s_voc_deploy.prototxt")
    fcn8s = ss.insert(ss.load(fcn8s_path), ss.InsertOptions())
    assert fcn8s.point.blob == "fc7"
    assert (fcn8s.spec.height, fcn8s.spec.width, fcn8s.spec.channels) == (16, 16, 4096)
    (note,) = [n for n in fcn8s.notes if "chose insertion point" in n]
    assert "'pool4' (score_pool4) and 'pool3' (score_pool3) are skips" in note
    path = shared_path("zoo", "segmentation", "fcn32s_voc_train.prototxt")
    shapes = {"data": (1, 3, 500, 500), "label": (1, 1, 500, 500)}
    for phase in ("TEST", "TRAIN"):
        blob, why = choose(path.read_text(), phase, shapes)
        assert blob == "fc7" and "'upscore' only upsamples class scores" in why, why
    # fcn16s on SIFT Flow: two tasks, each fusing pool4's scores into fc7's
    path = shared_path("zoo", "segmentation", "fcn16s_siftflow_trainval.prototxt")
    sizes = {"data": (1, 3, 256, 256), "sem": (1, 1, 256, 256), "geo": (1, 1, 256, 256)}
    blob, why = choose(path.read_text(), "TEST", sizes)
    assert blob == "fc7" and "'pool4' (score_pool4_sem) is a skip" in why, why
