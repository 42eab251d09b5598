"""Field-for-field comparison of layers through the real Caffe schema."""

from __future__ import annotations

from google.protobuf import text_format

from scnn_surgery.schema import caffe_pb2


def parse_layers(text: str) -> list[caffe_pb2.LayerParameter]:
    net = caffe_pb2.NetParameter()
    text_format.Parse(text, net)
    return list(net.layer)


def parse_v1_layers(text: str) -> list[caffe_pb2.V1LayerParameter]:
    net = caffe_pb2.NetParameter()
    text_format.Parse(text, net)
    return list(net.layers)
