"""The BVLC schema: generated modules are current, and key numbers/defaults match Caffe."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest
from google.protobuf import descriptor, text_format
from google.protobuf.message import Message

from scnn_surgery.schema import caffe_pb2

from .conftest import REPO_ROOT, shared_path

GEN_SCRIPT = REPO_ROOT / "scripts" / "gen_proto.py"

FD = descriptor.FieldDescriptor


def _load_gen_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", GEN_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _committed_python_version() -> str:
    text = (REPO_ROOT / "scnn_surgery" / "schema" / "caffe_pb2.py").read_text(encoding="utf-8")
    match = re.search(r"^# Protobuf Python Version: (\S+)$", text, re.MULTILINE)
    assert match
    return match.group(1)


def test_generated_modules_are_current() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is not installed")
    gen = _load_gen_script()
    fresh = gen.expected_files()
    fresh_version = re.search(r"^# Protobuf Python Version: (\S+)$", fresh["caffe_pb2.py"], re.M)
    assert fresh_version
    if fresh_version.group(1) != _committed_python_version():
        pytest.skip(
            f"installed grpcio-tools emits protobuf {fresh_version.group(1)} code, the committed "
            f"modules were made with {_committed_python_version()}: install the pinned grpcio-tools"
        )
    assert gen.stale_files() == [], "run `make proto` (scripts/gen_proto.py)"


def _field(message: type[Message], name: str) -> descriptor.FieldDescriptor:
    return message.DESCRIPTOR.fields_by_name[name]  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("message", "name", "number"),
    [
        (caffe_pb2.NetParameter, "layer", 100),
        (caffe_pb2.NetParameter, "layers", 2),
        (caffe_pb2.NetParameter, "input", 3),
        (caffe_pb2.NetParameter, "input_shape", 8),
        (caffe_pb2.NetParameter, "input_dim", 4),
        (caffe_pb2.LayerParameter, "name", 1),
        (caffe_pb2.LayerParameter, "type", 2),
        (caffe_pb2.LayerParameter, "bottom", 3),
        (caffe_pb2.LayerParameter, "top", 4),
        (caffe_pb2.LayerParameter, "param", 6),
        (caffe_pb2.LayerParameter, "blobs", 7),
        (caffe_pb2.LayerParameter, "include", 8),
        (caffe_pb2.LayerParameter, "transform_param", 100),
        (caffe_pb2.LayerParameter, "convolution_param", 106),
        (caffe_pb2.LayerParameter, "pooling_param", 121),
        (caffe_pb2.LayerParameter, "slice_param", 126),
        (caffe_pb2.LayerParameter, "eltwise_param", 110),
        (caffe_pb2.LayerParameter, "batch_norm_param", 139),
        (caffe_pb2.LayerParameter, "input_param", 143),
        (caffe_pb2.LayerParameter, "recurrent_param", 146),
        (caffe_pb2.LayerParameter, "swish_param", 147),
        (caffe_pb2.LayerParameter, "clip_param", 148),
        (caffe_pb2.V1LayerParameter, "layer", 1),
        (caffe_pb2.V1LayerParameter, "convolution_param", 10),
        (caffe_pb2.V1LayerParameter, "param", 1001),
        (caffe_pb2.V0LayerParameter, "hdf5_output_param", 1001),
        (caffe_pb2.BlobProto, "shape", 7),
        (caffe_pb2.BlobProto, "data", 5),
        (caffe_pb2.ConvolutionParameter, "dilation", 18),
        (caffe_pb2.SolverParameter, "weights", 42),
        (caffe_pb2.SolverParameter, "layer_wise_reduce", 41),
    ],
)
def test_field_numbers(message: type[Message], name: str, number: int) -> None:
    assert _field(message, name).number == number


def test_layer_parameter_is_the_final_bvlc_set() -> None:
    numbers = sorted(f.number for f in caffe_pb2.LayerParameter.DESCRIPTOR.fields)
    params = [n for n in numbers if n >= 100]
    assert params == list(range(100, 149))
    assert [n for n in numbers if n < 100] == list(range(1, 12))


def test_defaults() -> None:
    assert caffe_pb2.ConvolutionParameter().bias_term is True
    assert caffe_pb2.ConvolutionParameter().group == 1
    assert caffe_pb2.InnerProductParameter().bias_term is True
    pool = caffe_pb2.PoolingParameter()
    assert pool.pool == caffe_pb2.PoolingParameter.MAX
    assert pool.stride == 1
    assert pool.round_mode == caffe_pb2.PoolingParameter.CEIL
    assert caffe_pb2.EltwiseParameter().operation == caffe_pb2.EltwiseParameter.SUM
    assert caffe_pb2.ConcatParameter().axis == 1
    assert caffe_pb2.SliceParameter().axis == 1
    assert caffe_pb2.NetState().phase == caffe_pb2.TEST
    assert caffe_pb2.FillerParameter().type == "constant"
    assert caffe_pb2.FillerParameter().std == 1.0
    assert caffe_pb2.FillerParameter().sparse == -1
    assert caffe_pb2.ParamSpec().lr_mult == 1.0
    assert caffe_pb2.ParamSpec().decay_mult == 1.0
    assert caffe_pb2.BatchNormParameter().moving_average_fraction == pytest.approx(0.999)
    assert caffe_pb2.BatchNormParameter().eps == pytest.approx(1e-5)
    assert caffe_pb2.LRNParameter().local_size == 5
    assert caffe_pb2.LRNParameter().beta == pytest.approx(0.75)
    assert caffe_pb2.DropoutParameter().dropout_ratio == pytest.approx(0.5)
    assert caffe_pb2.ReshapeParameter().num_axes == -1
    assert caffe_pb2.ImageDataParameter().batch_size == 1
    assert caffe_pb2.WindowDataParameter().crop_mode == "warp"
    assert caffe_pb2.SolverParameter().type == "SGD"
    assert caffe_pb2.SolverParameter().solver_mode == caffe_pb2.SolverParameter.GPU
    assert caffe_pb2.SolverParameter().delta == pytest.approx(1e-8)
    assert caffe_pb2.LossParameter().normalization == caffe_pb2.LossParameter.VALID
    assert caffe_pb2.V0LayerParameter().biasterm is True


def test_labels_types_and_packing() -> None:
    dim = _field(caffe_pb2.BlobShape, "dim")
    assert dim.type == FD.TYPE_INT64 and dim.is_repeated and dim.is_packed
    data = _field(caffe_pb2.BlobProto, "data")
    assert data.type == FD.TYPE_FLOAT and data.is_packed
    assert _field(caffe_pb2.BlobProto, "num").type == FD.TYPE_INT32
    assert _field(caffe_pb2.ConvolutionParameter, "kernel_size").is_repeated
    assert not _field(caffe_pb2.ConvolutionParameter, "kernel_size").is_packed
    assert not _field(caffe_pb2.PoolingParameter, "kernel_size").is_repeated
    assert _field(caffe_pb2.ClipParameter, "min").is_required
    assert _field(caffe_pb2.SolverParameter, "random_seed").type == FD.TYPE_INT64
    phase = _field(caffe_pb2.LayerParameter, "phase").enum_type
    assert phase is not None and phase.full_name == "caffe.Phase"


def test_v1_layer_type_enum() -> None:
    lt = caffe_pb2.V1LayerParameter.LayerType
    expected = {
        "NONE": 0,
        "ACCURACY": 1,
        "BNLL": 2,
        "CONCAT": 3,
        "CONVOLUTION": 4,
        "DATA": 5,
        "DROPOUT": 6,
        "EUCLIDEAN_LOSS": 7,
        "FLATTEN": 8,
        "HDF5_DATA": 9,
        "HDF5_OUTPUT": 10,
        "IM2COL": 11,
        "IMAGE_DATA": 12,
        "INFOGAIN_LOSS": 13,
        "INNER_PRODUCT": 14,
        "LRN": 15,
        "MULTINOMIAL_LOGISTIC_LOSS": 16,
        "POOLING": 17,
        "RELU": 18,
        "SIGMOID": 19,
        "SOFTMAX": 20,
        "SOFTMAX_LOSS": 21,
        "SPLIT": 22,
        "TANH": 23,
        "WINDOW_DATA": 24,
        "ELTWISE": 25,
        "POWER": 26,
        "SIGMOID_CROSS_ENTROPY_LOSS": 27,
        "HINGE_LOSS": 28,
        "MEMORY_DATA": 29,
        "ARGMAX": 30,
        "THRESHOLD": 31,
        "DUMMY_DATA": 32,
        "SLICE": 33,
        "MVN": 34,
        "ABSVAL": 35,
        "SILENCE": 36,
        "CONTRASTIVE_LOSS": 37,
        "EXP": 38,
        "DECONVOLUTION": 39,
    }
    assert dict(lt.items()) == expected
    assert caffe_pb2.V0LayerParameter.PoolMethod.Value("STOCHASTIC") == 2
    assert caffe_pb2.Phase.Value("TRAIN") == 0


def test_binary_round_trip_uses_caffe_wire_numbers() -> None:
    layer = caffe_pb2.LayerParameter(name="c", type="Convolution")
    layer.convolution_param.num_output = 3
    # Field 106, length-delimited: tag = (106 << 3) | 2 = 850 = 0xd2 0x06.
    assert b"\xd2\x06" in layer.SerializeToString()


BVLC_V2_ZOO = [
    "deploy/bvlc_alexnet_deploy.prototxt",
    "deploy/bvlc_googlenet_deploy.prototxt",
    "deploy/mobilenet_v2_deploy.prototxt",
    "deploy/resnet50_deploy.prototxt",
    "deploy/squeezenet_v1_1_deploy.prototxt",
    "detection/yolo_v1_tiny_deploy.prototxt",
    "lane/apollo_darkscnn_deploy.prototxt",
    "lane/apollo_denseline_deploy.prototxt",
    "segmentation/fcn8s_voc_deploy.prototxt",
    "segmentation/fcn16s_siftflow_trainval.prototxt",
    "segmentation/fcn32s_voc_train.prototxt",
    "train_val/bvlc_alexnet_train_val.prototxt",
    "train_val/cifar10_full_train_test.prototxt",
    "train_val/lenet_train_test.prototxt",
    "train_val/squeezenet_v1_0_train_val.prototxt",
    "detection/faster_rcnn_vgg16_voc_end2end_test.prototxt",
]


@pytest.mark.parametrize("rel", BVLC_V2_ZOO)
def test_zoo_parses_with_bvlc(rel: str) -> None:
    path = shared_path("zoo", rel)
    net = text_format.Parse(
        path.read_text(encoding="utf-8"), caffe_pb2.NetParameter(), allow_unknown_field=True
    )
    assert len(net.layer) > 0


@pytest.mark.parametrize(
    "rel",
    [
        "legacy/caffe_v1_flickr_style_train_val.prototxt",
        "legacy/rcnn_v1_pascal_finetune_train.prototxt",
        "legacy/rcnn_v1_vgg16_fc7_deploy.prototxt",
        "legacy/caffe_v0_lenet_train.prototxt",
        "legacy/rcnn_v0_caffenet_fc7_deploy.prototxt",
    ],
)
def test_legacy_zoo_parses_strictly(rel: str) -> None:
    path = shared_path("zoo", rel)
    net = text_format.Parse(path.read_text(encoding="utf-8"), caffe_pb2.NetParameter())
    assert len(net.layers) > 0
