"""Caffemodels in a fork's dialect: binary field numbers follow the fork's caffe.proto.

PSPNet gives ``interp_param`` the number BVLC gives ``input_param`` (143) and puts
``bn_param`` at 152, so a PSPNet caffemodel must be read and written with PSPNet's
schema; the dialect is guessed from the prototxt, or given with ``--proto``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import text_format

from scnn_surgery import loads
from scnn_surgery.schema import DIALECTS, caffe_pb2
from scnn_surgery.schema.select import dialect_schema, user_schema
from scnn_surgery.weights import initial_weights, make_blob, parse_caffemodel, read_caffemodel

from .conftest import RunCli
from .forkproto import MY_PARAM_NET, MY_PARAM_NUMBER, write_fork_proto

pspnet_pb2 = DIALECTS["pspnet"]

# PSPNet's schema has no Input layer parameters (it gave 143 to interp_param), so the
# input is declared at the top, as PSPNet's own nets do.
PSP_NET = """name: "psp_small"
input: "data"
input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 bias_term: false }
}
layer {
  name: "conv1/bn"
  type: "BN"
  bottom: "conv1"
  top: "conv1"
  param { lr_mult: 1 decay_mult: 0 }
  param { lr_mult: 1 decay_mult: 0 }
  param { lr_mult: 0 decay_mult: 0 }
  param { lr_mult: 0 decay_mult: 0 }
  bn_param {
    slope_filler { type: "constant" value: 1 }
    bias_filler { type: "constant" value: 0 }
    frozen: true
    momentum: 0.95
  }
}
layer { name: "conv1/relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "up" type: "Interp" bottom: "conv1" top: "up" interp_param { zoom_factor: 2 } }
"""


def by_name(message: Any) -> dict[str, Any]:
    return {entry.name: entry for entry in message.layer}


def trained_pspnet_caffemodel() -> bytes:
    """What PSPNet's Caffe writes for PSP_NET: its BN keeps scale, shift, mean and variance,
    each 1 x C x 1 x 1."""
    made = by_name(initial_weights(loads(PSP_NET, "psp.prototxt"), seed=5).model.message)
    message = text_format.Parse(PSP_NET, pspnet_pb2.NetParameter())
    layers = list(message.layer)
    del message.layer[:]
    for layer in layers:
        entry = message.layer.add()
        entry.CopyFrom(made.get(layer.name, layer))
    bn = by_name(message)["conv1/bn"]
    for k in range(4):
        values = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1) * (k + 1) + 0.5
        bn.blobs.append(make_blob(values))
    data: bytes = message.SerializeToString()
    return data


def test_new_weights_are_written_in_the_guessed_dialect() -> None:
    made = initial_weights(loads(PSP_NET, "psp.prototxt"), seed=5)
    message = made.model.message
    assert isinstance(message, pspnet_pb2.NetParameter)
    layers = by_name(message)
    assert layers["up"].interp_param.zoom_factor == 2
    assert [tuple(b.shape.dim) for b in layers["conv1"].blobs] == [(8, 3, 3, 3)]
    # PSPNet's BN holds blobs scnn-surgery cannot size: it is left for Caffe to fill, as
    # an entry without them would stop the load.
    assert "conv1/bn" not in layers
    assert any("(BN: 'conv1/bn')" in note for note in made.notes)

    data = message.SerializeToString()
    # Read with BVLC's schema, PSPNet's interp_param (143) is taken for input_param:
    # the reason caffemodels are read in the net's dialect.
    bvlc = by_name(parse_caffemodel(data).message)
    assert bvlc["up"].HasField("input_param")
    again = parse_caffemodel(data, "psp.caffemodel", dialect_schema("pspnet")).message
    assert again == message


def test_a_pspnet_caffemodel_round_trips_through_insert(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "psp.prototxt"
    net.write_text(PSP_NET)
    source = tmp_path / "psp.caffemodel"
    source.write_bytes(trained_pspnet_caffemodel())
    out = tmp_path / "psp_SCNN.caffemodel"
    code, _, err = run_cli(
        "insert", str(net), "--after", "conv1/relu", "--kernel-width", "3",
        "--weights", str(source), "--weights-out", str(out), "-o", str(tmp_path / "o.prototxt"),
    )  # fmt: skip
    assert code == 0, err

    before = pspnet_pb2.NetParameter.FromString(source.read_bytes())
    after = read_caffemodel(out, dialect_schema("pspnet")).message
    assert isinstance(after, pspnet_pb2.NetParameter)
    # every source layer is kept byte for byte: BN's four blobs, bn_param and interp_param
    for old, new in zip(before.layer, after.layer, strict=False):
        assert new.SerializeToString() == old.SerializeToString()
    layers = by_name(after)
    bn = layers["conv1/bn"]
    assert len(bn.blobs) == 4
    assert list(bn.blobs[3].data) == [float(v) * 4 + 0.5 for v in range(8)]
    assert bn.bn_param.frozen and layers["up"].interp_param.zoom_factor == 2
    added = [entry for entry in after.layer if entry.name not in by_name(before)]
    assert added and all(len(entry.blobs) for entry in added if entry.type == "Convolution")

    code, out_text, err = run_cli("check", str(tmp_path / "o.prototxt"), "--weights", str(out))
    assert code == 0, out_text + err
    assert "weights-" not in out_text


def test_check_accepts_a_pspnet_caffemodel(tmp_path: Path, run_cli: RunCli) -> None:
    net = tmp_path / "psp.prototxt"
    net.write_text(PSP_NET)
    weights = tmp_path / "psp.caffemodel"
    weights.write_bytes(trained_pspnet_caffemodel())
    code, out, err = run_cli("check", str(net), "--weights", str(weights))
    assert (code, out) == (0, ""), err


def test_a_users_proto_encodes_its_fields_with_its_numbers(tmp_path: Path, run_cli: RunCli) -> None:
    proto = write_fork_proto(tmp_path)
    net = tmp_path / "net.prototxt"
    net.write_text(MY_PARAM_NET)
    out = tmp_path / "net.caffemodel"
    code, _, err = run_cli(
        "insert", str(net), "--kernel-width", "3", "--proto", str(proto),
        "--weights-out", str(out), "-o", str(tmp_path / "o.prototxt"),
    )  # fmt: skip
    assert code == 0, err
    data = out.read_bytes()

    schema = user_schema(proto)
    mine = by_name(read_caffemodel(out, schema).message)
    assert mine["conv1"].my_param.value == 2.5
    assert list(mine["conv1"].my_param.size) == [3, 4]
    assert len(mine["conv1"].blobs) == 2

    # BVLC does not know field 999: it keeps it, unread, and writes it back unchanged
    bvlc = parse_caffemodel(data)
    assert parse_caffemodel(bvlc.to_bytes(), schema=schema).message == read_caffemodel(
        out, schema
    ).message
    conv1 = by_name(bvlc.message)["conv1"]
    assert isinstance(conv1, caffe_pb2.LayerParameter)
    assert MY_PARAM_NUMBER not in {f.number for f in conv1.DESCRIPTOR.fields}

    # carried over under the same proto, the source's my_param survives
    again = tmp_path / "again.caffemodel"
    code, _, err = run_cli(
        "insert", str(tmp_path / "o.prototxt"), "--kernel-width", "3", "--prefix", "second_",
        "--proto", str(proto), "--weights", str(out), "--weights-out", str(again),
        "-o", str(tmp_path / "o2.prototxt"),
    )  # fmt: skip
    assert code == 0, err
    carried = by_name(read_caffemodel(again, schema).message)
    assert carried["conv1"].SerializeToString() == mine["conv1"].SerializeToString()
