"""Each command reads each input file once: one tokenisation per file, whatever the
options (``insert --upgrade`` once tokenised the file three times). What else is read is
only the block of a layer whose values an edit changed (upgrade's BatchNorm fix), alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import scnn_surgery as ss
from scnn_surgery.core import document

from ..conftest import DATA, REPO_ROOT, RunCli, shared_path

V1 = DATA / "v1_small_deploy.prototxt"
FULLY_CONV_V1 = DATA / "legacy" / "v1_fully_conv.prototxt"
V0 = DATA / "zoo" / "legacy" / "rcnn_v0_caffenet_fc7_deploy.prototxt"
V2_INPUTS_BN = DATA / "legacy" / "v2_inputs_batchnorm.prototxt"
TWO_BRANCHES = DATA / "two_branches.prototxt"
SE_BLOCK = DATA / "se_block.prototxt"


@pytest.fixture
def tokenised(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """The texts tokenised while a test runs, by source name."""
    seen: Counter[str] = Counter()
    parse = document._Parser.parse

    def counted(self: document._Parser) -> document.Message:
        seen[self.source] += 1
        return parse(self)

    monkeypatch.setattr(document._Parser, "parse", counted)
    yield seen


def _commands() -> list[tuple[str, list[str], list[Path]]]:
    """(id, arguments, the input files) of every surgery verb on V1 and V2 nets."""
    resnet = shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
    scnn = REPO_ROOT / "examples" / "scnn_lane_vgg16_SCNN.prototxt"  # shipped
    return [
        ("insert-v1", ["insert", str(V1), "--after", "conv2"], [V1]),
        ("insert-upgrade-v1", ["insert", str(V1), "--after", "conv2", "--upgrade"], [V1]),
        ("insert-upgrade-v2", ["insert", str(V2_INPUTS_BN), "--upgrade"], [V2_INPUTS_BN]),
        ("upgrade-v1", ["upgrade", str(V1)], [V1]),
        ("upgrade-v0", ["upgrade", str(V0)], [V0]),
        ("insert-upgrade-v0", ["insert", str(V0), "--after", "conv5", "--upgrade"], [V0]),
        ("inspect-v0", ["inspect", str(V0)], [V0]),
        ("check-v0", ["check", str(V0)], [V0]),
        ("inspect-v1", ["inspect", str(V1)], [V1]),
        ("check-v1", ["check", str(V1)], [V1]),
        ("diff-v1", ["diff", str(V1), str(V1)], [V1, V1]),
        ("upgrade-v2", ["upgrade", str(V2_INPUTS_BN)], [V2_INPUTS_BN]),
        ("remove", ["remove", str(V1), "relu1"], [V1]),
        ("retarget-v1", ["retarget", str(FULLY_CONV_V1), "--input", "data=1,3,24,24"],
         [FULLY_CONV_V1]),
        ("insert-shape-v1", ["insert", str(FULLY_CONV_V1), "--after", "conv1", "--shape",
                             "data=1,3,24,24"], [FULLY_CONV_V1]),
        ("insert-shape-upgrade-v1", ["insert", str(FULLY_CONV_V1), "--after", "conv1",
                                     "--shape", "data=1,3,24,24", "--upgrade"],
         [FULLY_CONV_V1]),
        ("rename", ["rename", str(TWO_BRANCHES), "left=l", "head_a=a"], [TWO_BRANCHES]),
        ("splice", ["splice", str(resnet), str(SE_BLOCK), "--after", "res5c"], [resnet, SE_BLOCK]),
        ("strip", ["strip", str(scnn)], [scnn]),
    ]


@pytest.mark.parametrize(("arguments", "inputs"), [c[1:] for c in _commands()],
                         ids=[c[0] for c in _commands()])  # fmt: skip
def test_each_input_file_is_tokenised_once(
    arguments: list[str], inputs: list[Path], run_cli: RunCli, tokenised: Counter[str]
) -> None:
    code, _, err = run_cli(*arguments)
    assert code == 0, err
    files = Counter({name: n for name, n in tokenised.items() if not name.endswith("changed)")})
    assert files == Counter(str(path) for path in inputs)
    revised = [name for name in tokenised if name not in files]
    assert all(tokenised[name] == 1 for name in revised)  # each changed block, once
    if V0 in inputs:  # each V0 layer is rebuilt as V2 and its new block read, once
        assert len(revised) >= len(ss.load(V0).layers) - 1
    elif "upgrade" in arguments or "--upgrade" in arguments:
        assert revised in ([], [f"{inputs[0]} (layer 'bn' as changed)"])
