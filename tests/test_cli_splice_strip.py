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


def test_a_fragment_that_reads_nothing_from_the_net_is_refused(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net = DATA / "phases_inplace.prototxt"
    dummy = tmp_path / "dummy.prototxt"
    dummy.write_text(
        'layer { name: "fake" type: "DummyData" top: "fake"\n'
        "  dummy_data_param { shape { dim: 1 dim: 4 dim: 8 dim: 10 } } }\n"
    )
    for fragment in (dummy, net):  # the second: a net spliced into itself
        code, out, err = run_cli("splice", str(net), str(fragment), "--after", "conv1")
        assert code == 1 and out == "", err
        assert "the fragment reads none of the net's blobs" in err and err.count("\n") == 1


def test_a_bind_given_twice_is_a_usage_error(run_cli: RunCli) -> None:
    net = str(shared_path("zoo", "deploy", "resnet50_deploy.prototxt"))
    se = str(DATA / "se_block.prototxt")
    code, _, err = run_cli("splice", net, se, "--bind", "x=res5c", "--bind", "x=res5b")
    assert code == 2 and "'x' is given twice (x=res5c and x=res5b)" in err


def test_fragment_output_is_the_blob_option_and_output_its_deprecated_alias(
    run_cli: RunCli,
) -> None:
    net = str(shared_path("zoo", "deploy", "resnet50_deploy.prototxt"))
    se = str(DATA / "se_block.prototxt")
    code, new, err = run_cli("splice", net, se, "--after", "res5c", "--fragment-output", "se/out")
    assert code == 0 and "deprecated" not in err, err
    code, old, err = run_cli("splice", net, se, "--after", "res5c", "--output", "se/out")
    assert code == 0 and old == new
    assert "warning: --output is deprecated here" in err and "it is now --fragment-output" in err
    code, _, err = run_cli("splice", net, se, "--fragment-output", "nope")
    assert code == 1 and "--fragment-output nope: the fragment writes no blob" in err
    code, _, err = run_cli("splice", net, se, "--output", "a", "--fragment-output", "b")
    assert code == 2 and "give only --fragment-output" in err
    code, help_text, _ = run_cli("splice", "--help")
    assert "--fragment-output" in help_text and "--output" not in help_text.replace(
        "--fragment-output", ""
    )


def test_strip_of_a_damaged_module_is_refused_naming_what_is_missing(
    tmp_path: Path, run_cli: RunCli
) -> None:
    net, whole, damaged = (tmp_path / name for name in ("n", "whole", "damaged"))
    net.write_bytes((DATA / "phases_inplace.prototxt").read_bytes())
    code, _, err = run_cli("insert", str(net), "--after", "conv1", "--kernel-width", "3",
                           "--prefix", "m_", "-o", str(whole))  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli("remove", str(whole), "m_SCNN_D_1/relu", "-o", str(damaged))
    assert code == 0, err
    code, out, err = run_cli("strip", str(damaged))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "the SCNN module 'm_' is damaged: 43 of its layers ('m_Slice1'," in err
    assert "it lacks 'm_SCNN_D_1/relu'" in err


def test_a_fragment_ending_in_a_loss_is_refused_naming_the_loss(
    tmp_path: Path, run_cli: RunCli
) -> None:
    fragment = tmp_path / "loss.prototxt"
    fragment.write_text(
        'layer { name: "fc" type: "Convolution" bottom: "in" top: "fcx"'
        " convolution_param { num_output: 3 kernel_size: 1 } }\n"
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fcx" bottom: "in" top: "loss" }\n'
    )
    net = str(DATA / "phases_inplace.prototxt")
    code, _, err = run_cli("splice", net, str(fragment), "--after", "conv1")
    assert code == 1 and "axis" not in err and err.count("\n") == 1
    assert "output 'loss' is written by loss layer 'loss' (SoftmaxWithLoss)" in err
