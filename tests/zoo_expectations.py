"""What each zoo net should give under ``insert`` with no options, and why.

Shared by the single-file sweep and the batch tests, so both hold every
model to the same outcome.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_ZOO = ROOT.parent / "shared" / "zoo"
SHIPPED_ZOO = ROOT / "tests" / "data" / "zoo"


def default_zoo(script: str) -> Path:
    """The zoo a script runs over when none is named: the 34 nets of ../shared/zoo beside
    the clone, else the ones the repository ships; a note on stderr says which."""
    zoo = SHARED_ZOO if SHARED_ZOO.is_dir() else SHIPPED_ZOO
    print(f"{script}: zoo {zoo} (give a directory to use another)", file=sys.stderr)
    return zoo

# Nets whose automatic point is not wanted (or not possible) get a named one.
NAMED_POINTS: dict[str, dict[str, object]] = {
    # It already has Apollo's DU module; a second one needs --prefix.
    "apollo_darkscnn_deploy": {"after": "conv7_2"},
}

# Refusals: a regular expression the one-line message must match.
REFUSED: dict[str, str] = {
    "deeplabv2_vgg16_test_template": r":381:17: unresolved template placeholder '\$\{NUM_LABELS\}'",
    "caffe_v0_lenet_train": r"V0 .* --upgrade",
    "rcnn_v0_caffenet_fc7_deploy": r"V0 .* --upgrade",
    "fcn16s_siftflow_trainval": r"Python \(siftflow_layers.SIFTFlowSegDataLayer\) .* --shape data=",
    "fcn32s_voc_train": r"Python \(voc_layers.SBDDSegDataLayer\) .* --shape data=",
    "enet_train_encoder_decoder": r"Python \(spatial_dropout.SpatialDropoutLayer\) .* --shape",
    "cifar10_full_train_test": r"layer 'cifar' does not state its output size.*--shape",
    "lenet_train_test": r"layer 'mnist' does not state its output size.*--shape",
    "apollo_darkscnn_deploy": r"already has an SCNN module .*--prefix",
}

# The list of nets that must convert, with the point and HxWxC we expect.
MUST_CONVERT: dict[str, tuple[str, tuple[int, int, int]]] = {
    "pspnet50_ade20k_473": ("conv5_4", (60, 60, 512)),
    "enet_deploy_final": ("prelu5_1_4", (256, 512, 16)),
    "bayesian_segnet_camvid": ("conv1_1_D", (360, 480, 64)),
    # the top hidden layer (500 -> fc7 16x16), not the fused class scores; the frozen
    # upscore Deconvolutions only upsample, and pool4/pool3 feed skips
    "fcn8s_voc_deploy": ("fc7", (16, 16, 4096)),
    "apollo_denseline_deploy": ("conv_out_final", (80, 192, 48)),
    "mobilenet_yolov3_lite_tusimple_lane_deploy": ("conv15", (128, 128, 128)),
    "resnet50_deploy": ("res5c", (7, 7, 2048)),
    "bvlc_alexnet_deploy": ("pool5", (6, 6, 256)),
    "densenet121_deploy": ("conv5_blk/bn", (7, 7, 1024)),
    "rcnn_v1_vgg16_fc7_deploy": ("pool5", (7, 7, 512)),
    "caffe_v1_flickr_style_train_val": ("pool5", (6, 6, 256)),
    "bvlc_alexnet_train_val": ("pool5", (6, 6, 256)),
    "squeezenet_v1_0_train_val": ("fire9/concat", (13, 13, 512)),
}
