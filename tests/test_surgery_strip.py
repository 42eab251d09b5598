"""strip: an SCNN module out again, byte for byte what was there before it."""

# The descriptions write sizes with the multiplication sign; so do the expectations.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.check import check_net, errors_of
from scnn_surgery.errors import SurgeryError
from scnn_surgery.surgery import StripOptions, strip

from .conftest import DATA, needs_shared, shared_path


@needs_shared
def test_strip_undoes_the_published_paste() -> None:
    """strip(resnet101_SCNN) == resnet101, byte for byte."""
    pasted = ss.load(shared_path("golden", "resnet101_SCNN.prototxt"))
    result = strip(pasted)
    assert ss.dumps(result.net) == shared_path("golden", "resnet101.prototxt").read_text()
    assert result.reads == "conv5_5" and len(result.removed) == 544
    assert result.module.directions == "DULR" and result.module.height == 46


@needs_shared
def test_apollo_darkscnn_stripped_reads_reduce2_lane() -> None:
    result = strip(ss.load(shared_path("zoo", "lane", "apollo_darkscnn_deploy.prototxt")))
    out = ss.loads(ss.dumps(result.net))
    assert not errors_of(check_net(out))
    conv6 = next(x for x in out.layers if x.name == "conv6")
    assert conv6.bottoms == ("reduce2_lane",)
    assert not any(x.name.startswith(("Slice", "SCNN_", "Concat")) for x in out.layers)
    assert "directions DU, 60×80×64," in result.done  # as inspect measures it


def test_a_down_up_module_is_described_with_the_width_it_was_measured_at() -> None:
    """A D/U module's layout gives no width; strip measures it from the module's input."""
    net = ss.load(DATA / "phases_inplace.prototxt")
    inserted = ss.insert(net, ss.InsertOptions(after="conv1", kernel_width=3, directions="DU"))
    result = strip(ss.loads(ss.dumps(inserted.net)))
    assert result.module.width == 10 and "directions DU, 8×10×4, k 3" in result.done


def test_a_reduction_insert_added_goes_too() -> None:
    net = ss.load(shared_path("zoo", "deploy", "bvlc_alexnet_deploy.prototxt"))  # pool5: 256
    text = ss.dumps(net)
    inserted = ss.insert(net, ss.InsertOptions(after="pool5", kernel_width=3, reduce_channels=128))
    back = ss.loads(ss.dumps(inserted.net))
    result = strip(back)
    assert [x.name for x in result.removed[:2]] == ["SCNN_reduce", "SCNN_reduce/relu"]
    assert ss.dumps(result.net) == text


def test_several_modules_need_a_prefix() -> None:
    net = ss.load(DATA / "phases_inplace.prototxt")
    text = ss.dumps(net)
    once = ss.insert(net, ss.InsertOptions(after="conv1", kernel_width=3))
    twice = ss.insert(once.net, ss.InsertOptions(after="SCNN", kernel_width=3, prefix="b_"))
    both = ss.loads(ss.dumps(twice.net))
    with pytest.raises(SurgeryError, match=r"2 SCNN modules \('' \(output SCNN\), 'b_'"):
        strip(both)
    with pytest.raises(SurgeryError, match=r"no SCNN module has prefix 'c_'"):
        strip(both, StripOptions(prefix="c_"))
    inner = strip(both, StripOptions(prefix="b_"))
    assert ss.dumps(inner.net) == ss.dumps(once.net)
    assert ss.dumps(strip(ss.loads(ss.dumps(inner.net))).net) == text


def test_what_strip_cannot_undo_is_refused() -> None:
    with pytest.raises(SurgeryError, match="has no SCNN module to strip"):
        strip(ss.load(DATA / "phases_inplace.prototxt"))
    net = ss.load(DATA / "phases_inplace.prototxt")
    result = ss.insert(net, ss.InsertOptions(after="conv1", kernel_width=3))
    inserted = ss.loads(ss.dumps(result.net))
    # a layer that works in place on the module's output after it: its blob would change
    text = ss.dumps(inserted).replace(
        'layer {\n  name: "score"',
        'layer { name: "extra" type: "ReLU" bottom: "SCNN" top: "SCNN" }\nlayer {\n  name: "score"',
    )
    with pytest.raises(SurgeryError, match="works in place on the module's 'SCNN'"):
        strip(ss.loads(text, "edited.prototxt"))
