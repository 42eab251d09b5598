"""The three generations of Caffe's prototxt format and their layer type names.

* V2: ``layer { name type bottom top ... }``, type a string;
* V1: ``layers { name type: ENUM bottom top ... }``;
* V0: ``layers { layer { name type: "conv" ... } bottom top }``.
"""

from __future__ import annotations

from typing import Literal

Format = Literal["v2", "v1", "v0", "empty"]
"""How a net or layer is written; "empty" is a net without layers."""

V1_TYPE_NAMES: dict[str, str] = {
    "NONE": "",
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution",
    "DATA": "Data",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}
V2_TO_V1_TYPE: dict[str, str] = {v: k for k, v in V1_TYPE_NAMES.items() if v}

# Caffe's UpgradeV0LayerType: the V0 lower-case names and their V1 enums.
V0_TYPE_TO_V1: dict[str, str] = {
    "accuracy": "ACCURACY",
    "bnll": "BNLL",
    "concat": "CONCAT",
    "conv": "CONVOLUTION",
    "data": "DATA",
    "dropout": "DROPOUT",
    "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN",
    "hdf5_data": "HDF5_DATA",
    "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL",
    "images": "IMAGE_DATA",
    "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT",
    "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS",
    "pool": "POOLING",
    "relu": "RELU",
    "sigmoid": "SIGMOID",
    "softmax": "SOFTMAX",
    "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT",
    "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}




def v1_enum_name(word: str) -> str:
    """A V1 ``type`` word as its enum name: protobuf text takes the enum's number too
    (``type: 4``, or ``0x4``, is CONVOLUTION). A name, or a number the enum does not have,
    is returned as it is (the schema check reports the latter at its position)."""
    if not word[:1].isdigit() and word[:1] != "-":
        return word
    # Only a type given by its number needs protobuf, which `generate` must not import.
    from google.protobuf import text_format

    from ..schema import caffe_pb2

    try:
        number = text_format.ParseInteger(word, is_signed=True)
    except ValueError:
        return word
    values = caffe_pb2.V1LayerParameter.LayerType.DESCRIPTOR.values_by_number
    return str(values[number].name) if number in values else word
