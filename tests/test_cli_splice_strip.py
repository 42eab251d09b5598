"""The splice and strip commands: one line per problem, exit 1 refused, 2 usage."""

from __future__ import annotations

from pathlib import Path

from .conftest import DATA, REPO_ROOT, RunCli, needs_shared, shared_path


def test_splice_writes_the_net_with_the_fragment(tmp_path: Path, run_cli: RunCli) -> None:
    net = shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
    out = tmp_path / "se.prototxt"
    code, stdout, err = run_cli(
        "splice", str(net), str(DATA / "se_block.prototxt"), "--after", "res5c", "-o", str(out)
    )
    assert code == 0, err
    assert stdout == ""
    assert "spliced 7 layers" in err and "rewires pool5; they read 'se/out'" in err
    assert '\tbottom: "se/out"\n' in out.read_text()
    code, listing, _ = run_cli("diff", str(net), str(out))
    assert code == 1
    assert "+ fragment 7 layers se/squeeze..se/excite, after res5c_relu, output se/out" in listing
    assert "1 fragment added, 1 bottom rewired" in listing


def test_splice_usage_and_refusals(tmp_path: Path, run_cli: RunCli) -> None:
    net = str(shared_path("zoo", "deploy", "resnet50_deploy.prototxt"))
    se = str(DATA / "se_block.prototxt")
    code, _, err = run_cli("splice", net, se, "--bind", "x")
    assert code == 2 and "FRAG_BLOB=NET_BLOB" in err
    code, _, err = run_cli("splice", net, se, "--after", "nosuch")
    assert code == 1 and err.count("\n") == 1 and "no layer or blob named 'nosuch'" in err
    code, _, err = run_cli("splice", net, se, "--after", "res5c", "-o", se)
    assert code == 2 and "the same file as FRAGMENT" in err


@needs_shared
def test_strip_gives_the_published_net_back(tmp_path: Path, run_cli: RunCli) -> None:
    pasted = shared_path("golden", "resnet101_SCNN.prototxt")
    code, out, err = run_cli("strip", str(pasted))
    assert code == 0, err
    assert out == shared_path("golden", "resnet101.prototxt").read_text()
    assert "its consumers read 'conv5_5' again" in err
    code, _, err = run_cli("strip", str(DATA / "phases_inplace.prototxt"))
    assert code == 1 and "has no SCNN module to strip" in err


def test_strip_gives_the_shipped_example_back(run_cli: RunCli) -> None:
    """As the published pair does beside ../shared, with the example the repository ships."""
    examples = REPO_ROOT / "examples"
    code, out, err = run_cli("strip", str(examples / "scnn_lane_vgg16_SCNN.prototxt"))
    assert code == 0, err
    assert out == (examples / "scnn_lane_vgg16.prototxt").read_text()
    assert "its consumers read 'fc7' again" in err


def test_a_branch_is_said_to_rewire_nothing(run_cli: RunCli) -> None:
    net = shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
    code, _, err = run_cli("splice", str(net), str(DATA / "se_block.prototxt"), "--after",
                           "res5c", "--branch", "-o", "-")  # fmt: skip
    assert code == 0, err
    [said] = [line for line in err.splitlines() if "spliced" in line]
    assert said.endswith("fragment after 'res5c_relu'; a branch, rewiring nothing")
    assert "rewires pool5" not in said
