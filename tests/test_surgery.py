"""The library API, and the published example as the first acceptance test."""

from __future__ import annotations

from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.errors import SurgeryError
from scnn_surgery.scnn import ScnnSpec

from .conftest import DATA, shared_path
from .protocmp import parse_layers

PUBLISHED = dict(after="conv5_5", height=46, width=46, channels=128)
# resnet101_SCNN.prototxt == resnet101.prototxt[:101833] + SCNN.prototxt + rewired rest
SPLICE_OFFSET = 101833


def _golden(name: str) -> bytes:
    return shared_path("golden", name).read_bytes()


def test_published_example_is_reproduced() -> None:
    net = ss.load(shared_path("golden", "resnet101.prototxt"))
    result = ss.insert(net, ss.InsertOptions(**PUBLISHED))
    out = result.net.document.to_bytes()
    golden = _golden("resnet101_SCNN.prototxt")
    module_len = len(_golden("SCNN.prototxt"))
    head, tail = golden[:SPLICE_OFFSET], golden[SPLICE_OFFSET + module_len :]
    # (a) byte-identical outside the module, including conv6's rewired bottom
    assert out.startswith(head)
    assert out.endswith(tail)
    assert b'bottom: "SCNN"' in tail
    # (b) the inserted layers equal the published module field for field
    ours = out[len(head) : len(out) - len(tail)].decode()
    assert parse_layers(ours) == parse_layers(_golden("SCNN.prototxt").decode())
    assert result.output == "SCNN"
    assert result.point.after is not None and result.point.after.name == "conv5_5/relu"


def test_generate_equals_published_module() -> None:
    text = ss.generate(
        ScnnSpec(height=46, width=46, channels=128, kernel_width=9, bottom="conv5_5")
    )
    assert parse_layers(text) == parse_layers(_golden("SCNN.prototxt").decode())


def test_input_document_is_not_modified() -> None:
    path = shared_path("golden", "resnet101.prototxt")
    net = ss.load(path)
    before = net.document.text
    ss.insert(net, ss.InsertOptions(**PUBLISHED))
    assert net.document.text == before
    assert path.read_bytes() == _golden("resnet101.prototxt")


def test_insert_in_every_phase_rewires_final_version_consumers() -> None:
    net = ss.load(DATA / "phases_inplace.prototxt")
    result = ss.insert(
        net, ss.InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3)
    )
    text = result.net.document.text
    assert "bottom: 'SCNN'" in text  # score kept its single quotes
    aux = next(x for x in result.net.layers if x.name == "aux")
    peek = next(x for x in result.net.layers if x.name == "peek")
    assert aux.bottoms == ["SCNN", "peek"] and peek.bottoms == ["conv1"]
    drop = next(x for x in result.net.layers if x.name == "drop1")
    assert result.net.layers[drop.index + 1].name == "Slice1"


def test_new_layers_follow_file_indentation_and_newlines(tmp_path: Path) -> None:
    src = (DATA / "phases_inplace.prototxt").read_text()
    crlf_tabs = src.replace("\n  ", "\n\t").replace("\n", "\r\n")
    path = tmp_path / "tabs.prototxt"
    path.write_bytes(crlf_tabs.encode())
    result = ss.insert(
        ss.load(path),
        ss.InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3),
    )
    text = result.net.document.text
    assert "\n" not in text.replace("\r\n", "")
    assert '\r\n\tname: "Slice1"\r\n' in text


def test_name_collision_gets_a_prefix() -> None:
    text = (DATA / "phases_inplace.prototxt").read_text().replace('name: "aux"', 'name: "Concat1"')
    result = ss.insert(
        ss.loads(text),
        ss.InsertOptions(after="conv1", height=8, width=10, channels=4, kernel_width=3),
    )
    assert result.spec.prefix == "scnn1_"
    assert result.output == "scnn1_SCNN"
    assert any("Concat1" in n and "scnn1_" in n for n in result.notes)
    original = {x.name for x in ss.loads(text).layers}
    added = [x.name for x in result.net.layers if x.name.startswith("scnn1_")]
    assert len(added) == 3 * 8 + 3 * 8 + 3 * 10 + 3 * 10 - 4 * 3 + 4
    assert not original & set(added)


def test_v0_needs_upgrade() -> None:
    net = ss.load(shared_path("zoo", "legacy", "caffe_v0_lenet_train.prototxt"))
    with pytest.raises(SurgeryError, match="--upgrade"):
        ss.insert(net, ss.InsertOptions(after="conv1", height=8, width=8, channels=20))


def test_save_is_atomic_and_exact(tmp_path: Path) -> None:
    net = ss.load(shared_path("golden", "resnet101.prototxt"))
    out = tmp_path / "copy.prototxt"
    ss.save(net, out)
    assert out.read_bytes() == _golden("resnet101.prototxt")
    assert [p.name for p in tmp_path.iterdir()] == ["copy.prototxt"]
