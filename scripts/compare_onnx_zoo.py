"""issue 17's 19-net comparison, repeated with ``export``, and 13 nets more (the export
sweep's): each net is exported with random non-degenerate weights, run in onnxruntime,
and compared with OpenCV 4.x's Caffe forward of the same prototxt and caffemodel (within
1e-5 of the output's scale).

OpenCV reads only deploy nets of the layers it knows, so its copy of a net is made
deployable the way Caffe's own deploy files are: data layers become top-level inputs of
the sizes the export used, losses and accuracies are left out, and the forks' BN layer is
written as the BatchNorm + Scale pair that computes the same (PSPNet's BN is
slope * (x - mean) / sqrt(var + eps) + bias). The ONNX side always reads the file as it is.

Run from the repository root: ``python scripts/compare_onnx_zoo.py`` (a few minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scnn_surgery as ss  # noqa: E402
from scnn_surgery.onnx_export import convert  # noqa: E402
from scnn_surgery.options import ExportOptions  # noqa: E402
from tests.onnx_reference import (  # noqa: E402
    opencv_copy,
    opencv_weights,
    random_weights,
    relative_error,
    run_onnx,
)

SHARED = ROOT.parent / "shared"
ONLY = sys.argv[1:]  # labels to run (default: all)
NETS: list[tuple[str, Path, dict[str, tuple[int | None, ...]]]] = [
    ("AlexNet", SHARED / "zoo/deploy/bvlc_alexnet_deploy.prototxt", {}),
    ("GoogLeNet", SHARED / "zoo/deploy/bvlc_googlenet_deploy.prototxt", {}),
    ("SqueezeNet v1.1", SHARED / "zoo/deploy/squeezenet_v1_1_deploy.prototxt", {}),
    ("MobileNet v2", SHARED / "zoo/deploy/mobilenet_v2_deploy.prototxt", {}),
    ("ResNet-50", SHARED / "zoo/deploy/resnet50_deploy.prototxt", {}),
    ("ResNet-50 + SCNN (insert)", SHARED / "zoo/deploy/resnet50_deploy.prototxt", {}),
    ("ResNet-101 (PSPNet BN, Interp)", SHARED / "golden/resnet101.prototxt", {}),
    ("ResNet-101 SCNN (published)", SHARED / "golden/resnet101_SCNN.prototxt", {}),
    ("FCN-8s", SHARED / "zoo/segmentation/fcn8s_voc_deploy.prototxt", {}),
    ("YOLO v1 tiny", SHARED / "zoo/detection/yolo_v1_tiny_deploy.prototxt", {}),
    ("R-CNN V0 (CaffeNet fc7)", SHARED / "zoo/legacy/rcnn_v0_caffenet_fc7_deploy.prototxt", {}),
    ("R-CNN V1 (VGG16 fc7)", SHARED / "zoo/legacy/rcnn_v1_vgg16_fc7_deploy.prototxt", {}),
    ("R-CNN V1 (PASCAL finetune, train)",
     SHARED / "zoo/legacy/rcnn_v1_pascal_finetune_train.prototxt", {"data": (None, 3, 227, 227)}),
    ("Apollo darkSCNN", SHARED / "zoo/lane/apollo_darkscnn_deploy.prototxt", {}),
    ("Apollo denseline", SHARED / "zoo/lane/apollo_denseline_deploy.prototxt", {}),
    ("LeNet", SHARED / "zoo/train_val/lenet_train_test.prototxt", {"data": (None, 1, 28, 28)}),
    ("LeNet V0", SHARED / "zoo/legacy/caffe_v0_lenet_train.prototxt", {"data": (None, 1, 28, 28)}),
    ("CIFAR-10", SHARED / "zoo/train_val/cifar10_full_train_test.prototxt",
     {"data": (None, 3, 32, 32)}),
    ("VGG16 SCNN (our example)", ROOT / "examples/scnn_lane_vgg16_SCNN.prototxt", {}),
    ("DenseNet-121", SHARED / "zoo/deploy/densenet121_deploy.prototxt", {}),
    ("DenseNet-121 + SCNN (insert)", SHARED / "zoo/deploy/densenet121_deploy.prototxt", {}),
    ("AlexNet + SCNN (insert)", SHARED / "zoo/deploy/bvlc_alexnet_deploy.prototxt", {}),
    ("GoogLeNet + SCNN (insert)", SHARED / "zoo/deploy/bvlc_googlenet_deploy.prototxt", {}),
    ("MobileNet v2 + SCNN (insert)", SHARED / "zoo/deploy/mobilenet_v2_deploy.prototxt", {}),
    ("SqueezeNet v1.1 + SCNN (insert)",
     SHARED / "zoo/deploy/squeezenet_v1_1_deploy.prototxt", {}),
    ("FCN-8s + SCNN (insert)", SHARED / "zoo/segmentation/fcn8s_voc_deploy.prototxt", {}),
    ("PSPNet-50 (BN, Interp)", SHARED / "zoo/segmentation/pspnet50_ade20k_473.prototxt", {}),
    ("AlexNet (train_val)", SHARED / "zoo/train_val/bvlc_alexnet_train_val.prototxt",
     {"data": (None, 3, 227, 227)}),
    ("SqueezeNet v1.0 (train_val)", SHARED / "zoo/train_val/squeezenet_v1_0_train_val.prototxt",
     {"data": (None, 3, 227, 227)}),
    ("Flickr style V1 (train_val)",
     SHARED / "zoo/legacy/caffe_v1_flickr_style_train_val.prototxt", {"data": (None, 3, 227, 227)}),
    ("VGG16 lane (our example)", ROOT / "examples/scnn_lane_vgg16.prototxt", {}),
    ("VGG16 lane + SCNN (insert)", ROOT / "examples/scnn_lane_vgg16.prototxt", {}),
]  # fmt: skip


def compare(cv2: object, label: str, path: Path, shapes: dict, folder: Path) -> str:
    net = ss.load(path)
    if "insert" in label:
        net = ss.loads(ss.dumps(ss.insert(net, ss.InsertOptions(reduce_channels=128)).net))
    readable = ss.loads(ss.dumps(net)) if net.format == "v2" else net
    weights = folder / "w.caffemodel"
    from scnn_surgery.passes.upgrade import upgrade_net

    # V2 text, which the OpenCV copy edits (V0 and V1 layers read as V2 keep their own)
    upgraded = ss.loads(ss.dumps(upgrade_net(readable)))
    weights.write_bytes(random_weights(upgraded, 5, shapes=shapes))
    result = convert(readable, weights, ExportOptions(shapes=shapes))
    feeds = {}
    dims = {}
    for info in result.model.graph.input:
        shape = tuple(d.dim_value for d in info.type.tensor_type.shape.dim)
        dims[info.name] = shape
        feeds[info.name] = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    got = run_onnx(result.model, feeds)
    prototxt = folder / "opencv.prototxt"
    prototxt.write_text(opencv_copy(upgraded, dims))
    cv_weights = folder / "opencv.caffemodel"
    cv_weights.write_bytes(opencv_weights(weights.read_bytes(), upgraded))
    engine = cv2.dnn.readNetFromCaffe(str(prototxt), str(cv_weights))  # type: ignore[attr-defined]
    for name, x in feeds.items():
        engine.setInput(x, name)
    producers = {x.tops[0]: x.name for x in upgraded.layers if x.tops}
    want = engine.forward([producers.get(o, o) for o in result.outputs])
    errors = [relative_error(a, b) for a, b in zip(got, want, strict=True)]
    worst = max(errors)
    verdict = "match" if worst <= 1e-5 else "DIFFER"
    return f"{verdict:6} {worst:.1e}  outputs {', '.join(result.outputs)}"


def main() -> int:
    import cv2

    matched = 0
    chosen = [net for net in NETS if not ONLY or net[0] in ONLY]
    for label, path, shapes in chosen:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            try:
                line = compare(cv2, label, path, shapes, Path(folder))
            except Exception as exc:  # one net's failure is that net's line
                first = (str(exc).splitlines() or [""])[0]
                line = f"FAILED {type(exc).__name__}: {first[:160]}"
        matched += line.startswith("match")
        print(f"{label:36} {line}  ({time.perf_counter() - start:.1f} s)", flush=True)
    print(f"{matched} of {len(chosen)} nets export and match OpenCV's Caffe forward")
    return 0 if matched == len(chosen) else 1


if __name__ == "__main__":
    raise SystemExit(main())
