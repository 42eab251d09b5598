"""A user's fork ``caffe.proto`` for ``--proto`` tests: BVLC's, plus ``my_param``."""

from __future__ import annotations

from pathlib import Path

from .conftest import REPO_ROOT

BVLC_PROTO = REPO_ROOT / "proto" / "caffe.proto"
MY_PARAM_NUMBER = 999

_MY_PARAM = """
message MyParameter {
  optional float value = 1 [default = 0.5];
  repeated int32 size = 2;
}
"""


def write_fork_proto(directory: Path, name: str = "fork_caffe.proto") -> Path:
    """BVLC's caffe.proto with ``optional MyParameter my_param = 999`` in LayerParameter."""
    text = BVLC_PROTO.read_text(encoding="utf-8")
    anchor = "message LayerParameter {\n"
    assert text.count(anchor) == 1
    text = text.replace(
        anchor, f"{anchor}  optional MyParameter my_param = {MY_PARAM_NUMBER};\n"
    )
    path = directory / name
    path.write_text(text + _MY_PARAM, encoding="utf-8")
    return path


# A BVLC net but for one fork field in its convolution (no dialect knows it).
MY_PARAM_NET = """name: "mine"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 }
  my_param { value: 2.5 size: 3 size: 4 }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
"""
