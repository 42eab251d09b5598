"""Fork layers' shape rules, --shape-rule, rule-less layers named at once, placeholders, and
refusals that blame the --shape that caused them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from types import ModuleType

import numpy as np
import pytest

import scnn_surgery as ss
from scnn_surgery.analysis.forkrules import FORK_RULES, rule_source, ruled
from scnn_surgery.analysis.inspection import inspect_net
from scnn_surgery.analysis.shapes import RULES, ShapeResult, infer_shapes
from scnn_surgery.batch import options_for, parse_config
from scnn_surgery.core.graph import NetState, build_graph
from scnn_surgery.errors import SurgeryError, SurgeryErrors, UsageError

from ..conftest import RunCli


def shapes_of(text: str, rules: dict[str, str] | None = None) -> ShapeResult:
    net = ruled(ss.loads(text, "forks.prototxt"), rules or {})
    graph = build_graph(net, NetState("TEST"))
    return infer_shapes(net, graph)


def top(result: ShapeResult, name: str) -> tuple[int | None, ...] | None:
    return result.final(name)


def layer(name: str, kind: str, bottoms: list[str], tops: list[str], extra: str = "") -> str:
    wiring = "".join(f' bottom: "{b}"' for b in bottoms) + "".join(f' top: "{t}"' for t in tops)
    return f'layer {{ name: "{name}" type: "{kind}"{wiring} {extra} }}\n'


INPUTS = (
    'input: "data"\ninput_shape { dim: 1 dim: 24 dim: 40 dim: 40 }\n'
    'input: "image"\ninput_shape { dim: 1 dim: 3 dim: 320 dim: 320 }\n'
    'input: "rois"\ninput_shape { dim: 4 dim: 5 }\n'
)
# One layer of each built-in fork type, with the shapes their forks' Reshape gives.
FORK_NET = INPUTS + "".join(
    [
        layer("g", "Pooling", ["data"], ["g"], "pooling_param { pool: AVE global_pooling: true }"),
        layer("ax", "Axpy", ["g", "data", "data"], ["ax"]),
        layer("sh", "ShuffleChannel", ["ax"], ["sh"], "shuffle_channel_param { group: 3 }"),
        layer("dw", "DepthwiseConvolution", ["sh"], ["dw"],
              "convolution_param { num_output: 24 kernel_size: 3 pad: 1 group: 24 }"),
        layer("r6", "ReLU6", ["dw"], ["r6"]),
        layer("pm", "Permute", ["r6"], ["pm"],
              "permute_param { order: 0 order: 2 order: 3 order: 1 }"),
        layer("nm", "Normalize", ["r6"], ["nm"], "norm_param { channel_shared: false }"),
        layer("pb", "PriorBox", ["nm", "image"], ["pb"],
              "prior_box_param { min_size: 30 max_size: 60 aspect_ratio: 2 flip: true }"),
        layer("pmf", "Flatten", ["pm"], ["pmf"]),
        layer("det", "DetectionOutput", ["pmf", "pmf", "pb"], ["det"],
              "detection_output_param { num_classes: 2 }"),
        layer("rp", "ROIPooling", ["r6", "rois"], ["rp"],
              "roi_pooling_param { pooled_h: 7 pooled_w: 7 spatial_scale: 0.125 }"),
        layer("ps", "PSROIPooling", ["r6", "rois"], ["ps"],
              "psroi_pooling_param { spatial_scale: 0.125 output_dim: 6 group_size: 2 }"),
        layer("ra", "ROIAlign", ["r6", "rois"], ["ra"],
              "roi_align_param { pooled_h: 5 pooled_w: 5 spatial_scale: 0.125 }"),
        layer("up", "Upsample", ["r6"], ["up"], "upsample_param { scale: 2 }"),
        layer("mp", "Pooling", ["r6"], ["mp", "mask"],
              "pooling_param { pool: MAX kernel_size: 2 stride: 2 }"),
        layer("un", "Upsample", ["mp", "mask"], ["un"], "upsample_param { scale: 2 }"),
        layer("ro", "Reorg", ["r6"], ["ro"], "reorg_param { stride: 2 }"),
        layer("rg", "Region", ["ro"], ["rg"]),
        layer("yd", "YoloDetectionOutput", ["rg"], ["yd"]),
        layer("y3", "Yolov3DetectionOutput", ["r6", "up"], ["y3"]),
        layer("df", "DFMBPSROIAlign", ["r6", "rois"], ["df"],
              "dfmb_psroi_pooling_param { output_dim: 6 group_height: 2 group_width: 2"
              " pooled_height: 3 pooled_width: 3 }"),
        layer("pr", "RPNProposalSSD", ["r6"], ["pr"]),
    ]
)  # fmt: skip
EXPECTED = {
    "ax": (1, 24, 40, 40),
    "sh": (1, 24, 40, 40),
    "dw": (1, 24, 40, 40),
    "r6": (1, 24, 40, 40),
    "pm": (1, 40, 40, 24),
    "nm": (1, 24, 40, 40),
    "pb": (1, 2, 40 * 40 * 4 * 4),  # 4 priors: min, sqrt(min*max), ratio 2 and its flip
    "det": (1, 1, None, 7),
    "rp": (4, 24, 7, 7),
    "ps": (4, 6, 2, 2),
    "ra": (4, 24, 5, 5),
    "up": (1, 24, 80, 80),
    "un": (1, 24, 40, 40),
    "ro": (1, 96, 20, 20),
    "rg": (1, 96, 20, 20),
    "yd": (1, 1, None, 7),
    "y3": (1, 1, None, 7),
    "df": (4, 6, 3, 3),
    "pr": (None, None, 1, 1),
}
UNKNOWN = layer("foo", "FooGate", ["r6"], ["foo"]) + layer("bar", "BarJoin", ["foo", "r6"], ["bar"])
HEAD = (
    'layer { name: "cls" type: "Convolution" bottom: "bar" top: "cls"'
    " convolution_param { num_output: 2 kernel_size: 1 } }\n"
)


def test_each_built_in_fork_type_is_sized_as_its_fork_does() -> None:
    result = shapes_of(FORK_NET)
    assert not result.errors and not result.stopped
    assert {name: top(result, name) for name in EXPECTED} == EXPECTED
    sources = {layer.name: rule_source(result.net, layer) for layer in result.graph.layers}
    assert {sources[name] for name in EXPECTED if name not in ("pmf",)} == {"fork rule"}
    assert sources["g"] == "built-in"


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("group: 3", "group: 5", "24 channels do not divide into 5 groups"),
        ("output_dim: 6", "output_dim: 5",
         "24 input channels, where output_dim x group_size^2 = 20"),
        ('bottom: "g" bottom: "data"', 'bottom: "data" bottom: "data"', "must be 1x1"),
        ("stride: 2 }", "stride: 0 }", "reorg_param needs a positive stride"),
    ],
)  # fmt: skip
def test_fork_rules_refuse_what_their_forks_refuse(old: str, new: str, says: str) -> None:
    assert old in FORK_NET
    messages = [e.message for e in shapes_of(FORK_NET.replace(old, new)).errors]
    assert any(says in m for m in messages), messages


# ---------------------------------------------------------------------------
# Against OpenCV, where it implements the fork type


OPENCV_NET = (
    'input: "data"\ninput_shape { dim: 2 dim: 12 dim: 20 dim: 30 }\n'
    'input: "image"\ninput_shape { dim: 2 dim: 3 dim: 160 dim: 240 }\n'
) + "".join(
    [
        layer("sh", "ShuffleChannel", ["data"], ["sh"], "shuffle_channel_param { group: 3 }"),
        layer("r6", "ReLU6", ["sh"], ["r6"]),
        layer("nm", "Normalize", ["r6"], ["nm"],
              "norm_param { across_spatial: false channel_shared: true }"),
        layer("pm", "Permute", ["nm"], ["pm"],
              "permute_param { order: 0 order: 3 order: 1 order: 2 }"),
        layer("pb", "PriorBox", ["nm", "image"], ["pb"],
              "prior_box_param { min_size: 30 max_size: 60 aspect_ratio: 2 aspect_ratio: 3"
              " flip: true variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 8 }"),
        layer("pc", "PriorBox", ["r6", "image"], ["pc"],
              "prior_box_param { min_size: 20 aspect_ratio: 2 flip: false variance: 0.1 }"),
    ]
)  # fmt: skip


def test_fork_shapes_equal_opencvs(cv2: ModuleType, tmp_path: Path) -> None:
    """OpenCV's own ShuffleChannel, ReLU6, Normalize, Permute and PriorBox, run forward on
    random inputs: every top has the shape inference gives it."""
    path = tmp_path / "forks.prototxt"
    path.write_text(OPENCV_NET, encoding="utf-8")
    net = cv2.dnn.readNetFromCaffe(str(path))
    rng = np.random.default_rng(7)
    net.setInput(rng.standard_normal((2, 12, 20, 30)).astype(np.float32), "data")
    net.setInput(rng.standard_normal((2, 3, 160, 240)).astype(np.float32), "image")
    names = ["sh", "r6", "nm", "pm", "pb", "pc"]
    outputs = net.forward(names)
    result = shapes_of(OPENCV_NET)
    assert not result.errors
    assert {n: top(result, n) for n in names} == {
        n: tuple(o.shape) for n, o in zip(names, outputs, strict=True)
    }


# ---------------------------------------------------------------------------
# Layers without a rule, and the user's rules


def test_every_layer_without_a_rule_is_named_in_one_run(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "forks.prototxt"
    path.write_text(FORK_NET + UNKNOWN + HEAD, encoding="utf-8")
    # the module goes after 'bar', whose size the two rule-less layers decide
    insert = ("insert", str(path), "--after", "bar", "-o", str(tmp_path / "out.prototxt"))
    code, _, err = run_cli(*insert)
    lines = err.splitlines()
    assert code == 1
    foo_line = (FORK_NET + UNKNOWN).count("\n", 0, (FORK_NET + UNKNOWN).index('"foo"')) + 1
    assert lines[0] == (
        f"scnn-surgery: error: {path}:{foo_line}:1: layer 'foo' of type FooGate has no shape rule"
    )
    assert lines[1] == (
        f"scnn-surgery: error: {path}:{foo_line + 1}:1: layer 'bar' of type BarJoin has no"
        " shape rule"
    )
    # then the one refusal they cause, and what to do
    assert lines[2].startswith("scnn-surgery: error: ") and "cannot infer the" in lines[2]
    assert "--shape-rule FooGate=RULE --shape-rule BarJoin=RULE" in lines[2]
    assert lines[2].endswith("or the first layer's output with --shape foo=N,C,H,W")
    assert len(lines) == 3 and not (tmp_path / "out.prototxt").exists()
    # the library raises them together too
    with pytest.raises(SurgeryErrors) as caught:
        ss.insert(ss.load(path), ss.InsertOptions(after="bar"))
    assert len(caught.value.lines) == 3
    # --shape-rule lets the net through; inspect shows which rule sized each layer
    rules = ("--shape-rule", "FooGate=same", "--shape-rule", "BarJoin=concat:1")
    code, _, err = run_cli(*insert, *rules)
    assert code == 0, err
    assert "inferred 40x40x48 (HxWxC) for blob 'bar'" in err
    code, out, _ = run_cli("inspect", str(path), *rules)
    assert code == 0
    assert "sized by: built-in 4; fork rule 19 (Axpy 1, ShuffleChannel 1" in out
    assert "--shape-rule FooGate=same 1 (foo); --shape-rule BarJoin=concat:1 1 (bar)" in out
    assert out.splitlines()[0].endswith("sized by")
    (foo,) = [row for row in out.splitlines() if row.startswith("foo ")]
    assert foo.endswith("--shape-rule FooGate=same")
    code, _, err = run_cli("check", str(path), *rules)
    assert "phase TEST sized by: built-in 4; fork rule 19" in err


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("same", (1, 24, 40, 40)),
        ("same:1", (1, 24, 1, 1)),
        ("concat:0", (2, 24, 40, 40)),
        ("flatten", (1, 24 * 40 * 40)),
        ("?,?,7,7", (1, 24, 7, 7)),
        ("5,?", (5, 24)),
        ("3,100", (3, 100)),
    ],
)
def test_user_rules(rule: str, expected: tuple[int, ...]) -> None:
    pool = "pooling_param { pool: AVE global_pooling: true }"
    text = INPUTS + layer("g", "Pooling", ["data"], ["g"], pool)
    second = "g" if rule == "same:1" else "data"
    text += layer("c", "Custom", ["data", second], ["c"])
    result = shapes_of(text, {"Custom": rule})
    assert top(result, "c") == expected and not result.errors


def test_shape_rule_options_are_checked(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "n.prototxt"
    path.write_text(INPUTS + UNKNOWN.replace('"r6"', '"data"'), encoding="utf-8")
    code, _, err = run_cli("inspect", str(path), "--shape-rule", "FooGate=sideways")
    assert code == 2 and "TYPE=RULE, RULE one of same" in err and "FooGate=sideways" in err
    code, _, err = run_cli("inspect", str(path), "--shape-rule", "Convolution=same")
    assert code == 2 and "Convolution is a BVLC layer type" in err
    with pytest.raises(UsageError, match="Pooling is a BVLC layer type"):
        ruled(ss.loads(INPUTS), {"Pooling": "same"})
    # a fork type's rule may be replaced by the user's (the user's fork may differ)
    assert "Upsample" in FORK_RULES and "Upsample" in RULES
    assert ruled(ss.loads(INPUTS), {"Upsample": "same"}).shape_rules == {"Upsample": "same"}
    table = 'shape_rules = { FooGate = "same", BarJoin = "?,?,1,1" }'
    config = parse_config(f'[models."**"]\n{table}\n')
    assert config.rules[0].settings == {
        "shape_rules": {"FooGate": "same", "BarJoin": "?,?,1,1"}
    }
    with pytest.raises(UsageError, match="shape_rules must give a layer type"):
        parse_config('[models."**"]\nshape_rules = { FooGate = "up" }\n', "my.toml")
    # a top-level [shape_rules] table holds for every model; a model's own add to it
    config = parse_config(
        '[shape_rules]\nFooGate = "same"\nBarJoin = "flatten"\n'
        '[models."a/*"]\nshape_rules = { BarJoin = "same:1" }\n'
    )
    base = ss.InsertOptions(shape_rules={"Cli": "same"})
    chosen = options_for(PurePosixPath("a/x.prototxt"), base, config)
    assert chosen.shape_rules == {"Cli": "same", "FooGate": "same", "BarJoin": "same:1"}
    other = options_for(PurePosixPath("b/x.prototxt"), base, config)
    assert other.shape_rules == {"Cli": "same", "FooGate": "same", "BarJoin": "flatten"}
    with pytest.raises(UsageError, match=r"my.toml: \[shape_rules\]: shape_rules must give"):
        parse_config('[shape_rules]\nFooGate = "up"\n', "my.toml")


# ---------------------------------------------------------------------------
# The user's --shape blamed where it contradicts; placeholder inputs


def test_a_refusal_the_users_shape_caused_names_it() -> None:
    """The file alone does not reach the depthwise convolution with 240 channels: the
    --shape did, so the message names it rather than asking to fix the net."""
    text = (
        layer("in", "Python", [], ["data"], "python_param { module: 'm' layer: 'L' }")
        + layer("dw", "DepthwiseConvolution", ["data"], ["dw"],
                "convolution_param { num_output: 60 kernel_size: 3 }")  # groups: its channels
        + layer("cls", "Convolution", ["dw"], ["cls"],
                "convolution_param { num_output: 2 kernel_size: 1 }")
    )  # fmt: skip
    options = ss.InsertOptions(shapes={"data": (1, 240, 64, 64)})
    with pytest.raises(SurgeryError) as caught:
        ss.insert(ss.loads(text, "dw.prototxt"), options)
    message = str(caught.value)
    assert "num_output 60 does not divide into 240 groups" in message
    assert "its input's sizes come from --shape data=1,240,64,64, which contradicts" in message
    assert "fix the input net first" not in message


RUNTIME = """name: "pose"
input: "image"
# the size is defined at runtime
input_shape { dim: 1 dim: 3 dim: 368 dim: 368 }
layer { name: "c1" type: "Convolution" bottom: "image" top: "c1"
  convolution_param { num_output: 8 kernel_size: 3 stride: 8 pad: 1 } }
layer { name: "heat" type: "Convolution" bottom: "c1" top: "heat"
  convolution_param { num_output: 4 kernel_size: 1 } }
"""


def test_placeholder_inputs_are_warned_about_and_sized_by_shape() -> None:
    result = ss.insert(ss.loads(RUNTIME), ss.InsertOptions())
    (note,) = [n for n in result.notes if "placeholder" in n]
    assert "its comment says 'the size is defined at runtime'" in note
    assert note.endswith("--shape image=1,3,H,W")
    (shown,) = inspect_net(ss.loads(RUNTIME)).placeholders  # inspect says so too
    assert shown == note
    assert inspect_net(ss.loads(RUNTIME), overrides={"image": (1, 3, 64, 64)}).placeholders == []
    resized = ss.insert(ss.loads(RUNTIME), ss.InsertOptions(shapes={"image": (1, 3, 512, 256)}))
    assert (resized.spec.height, resized.spec.width) == (64, 32)
    # its batch and channels stay the file's
    with pytest.raises(SurgeryError, match="contradicts"):
        ss.insert(ss.loads(RUNTIME), ss.InsertOptions(shapes={"image": (1, 4, 512, 256)}))
    # a 12x12 proposal net gives a 2x2 map: no kernel fits, and none below 3 is suggested
    tiny = RUNTIME.replace("# the size is defined at runtime\n", "").replace("368", "12")
    notes = ss.insert(ss.loads(tiny), ss.InsertOptions(kernel_width=3)).notes
    assert any("its stated size 12x12 is at most 32" in n for n in notes)
    (kernel,) = [n for n in notes if "kernel width" in n]
    assert "no kernel of width 3 or more fits" in kernel and "--kernel-width 1" not in kernel
    big = RUNTIME.replace("# the size is defined at runtime\n", "")
    assert not any("placeholder" in n for n in ss.insert(ss.loads(big), ss.InsertOptions()).notes)


def test_a_rule_that_does_not_fit_its_layer_is_named() -> None:
    text = INPUTS + layer("c", "Custom", ["data"], ["c"]) + layer(
        "k", "Convolution", ["c"], ["k"], "convolution_param { num_output: 2 kernel_size: 1 }"
    )
    with pytest.raises(SurgeryError) as caught:
        ss.insert(ss.loads(text, "n.prototxt"), ss.InsertOptions(shape_rules={"Custom": "same:1"}))
    message = str(caught.value)
    assert "(Custom, by --shape-rule Custom=same:1): needs a bottom #2, but has 1" in message
    assert "fix the input net first" not in message


def test_check_of_a_net_of_no_layers_says_no_empty_sizing(
    tmp_path: Path, run_cli: RunCli
) -> None:
    empty = tmp_path / "empty.prototxt"
    empty.write_text('name: "nothing"\n')
    code, _, err = run_cli("check", str(empty))
    assert code == 0 and "sized by" not in err, err
    code, out, _ = run_cli("check", str(empty), "--json")
    assert '"TEST": "built-in 0"' in out
