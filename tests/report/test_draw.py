"""Pictures: folding, module collapse, highlights, focus, and rendering."""

# The output writes shapes with the multiplication sign; so do the expectations.
# ruff: noqa: RUF001

from __future__ import annotations

import shutil
import subprocess

import pytest

from scnn_surgery.analysis.compare import diff_nets
from scnn_surgery.core.graph import NetState
from scnn_surgery.core.net import Net, load_net
from scnn_surgery.errors import SurgeryError, UsageError
from scnn_surgery.report.draw import (
    DOT_EDGE_BUDGET,
    SFDP_EDGE_BUDGET,
    Picture,
    before_highlights,
    build_picture,
    check_renderer,
    choose_layout,
    digraph,
    focus,
    focus_names,
    highlights_from,
    node_places,
    output_format,
    render,
    size_warning,
)
from scnn_surgery.scnn import ScnnSpec, build_module, render_layers
from scnn_surgery.surgery import loads

from ..conftest import DATA, REPO_ROOT, RunCli, needs_shared, shared_path

pytest.importorskip("graphviz")

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)

BEFORE = """
input: "data"
input_shape { dim: 1 dim: 8 dim: 4 dim: 5 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "feat"
        convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "feat" top: "feat" }
layer { name: "relu" type: "ReLU" bottom: "feat" top: "feat" }
"""
AFTER_TAIL = 'layer { name: "head" type: "Sigmoid" bottom: "SCNN" top: "out" }\n'
BEFORE_TAIL = 'layer { name: "head" type: "Sigmoid" bottom: "feat" top: "out" }\n'
SPEC = ScnnSpec(4, 5, channels=8, kernel_width=3, bottom="feat")


def _before() -> Net:
    return loads(BEFORE + BEFORE_TAIL, "before.prototxt")


def _after() -> Net:
    return loads(BEFORE + render_layers(build_module(SPEC)) + AFTER_TAIL, "after.prototxt")


def _labels(picture: Picture, kind: str) -> list[str]:
    return [n.label for n in picture.nodes if n.kind == kind]


def test_in_place_chains_fold_into_their_layer() -> None:
    picture = build_picture(_before())
    assert _labels(picture, "layer") == ["conv\nConvolution\n+ BatchNorm, ReLU", "head\nSigmoid"]
    assert _labels(picture, "input") == ["data"]
    assert next(n.layers for n in picture.nodes if n.kind == "layer") == ("conv", "bn", "relu")
    # Blobs are edges; the in-place steps inside a node are not.
    assert [(e.tail, e.head) for e in picture.edges if e.head != "O0"] == [
        ("I0", "L0"), ("L0", "L3"),
    ]


def test_edges_carry_blob_names_and_shapes() -> None:
    picture = build_picture(_before())
    assert [e.label for e in picture.edges] == ["data\n1x8x4x5", "feat\n1x8x4x5", "1x8x4x5"]


def test_a_module_is_one_node_unless_expanded() -> None:
    collapsed = build_picture(_after())
    [module] = [n for n in collapsed.nodes if n.kind == "module"]
    assert module.label.startswith("SCNN module\ndirections DULR, 4×5×8, k 3\n")
    assert len(module.layers) == len(build_module(SPEC))
    assert len(collapsed.nodes) == 5  # data, conv(+bn, relu), module, head, output
    expanded = build_picture(_after(), expand=True)
    assert not _labels(expanded, "module")
    assert len(expanded.nodes) > len(build_module(SPEC)) // 2


def test_against_highlights_added_module_and_rewired_edge() -> None:
    diff = diff_nets(_before(), _after())
    picture = build_picture(_after(), highlights=highlights_from(diff))
    [module] = [n for n in picture.nodes if n.kind == "module"]
    assert module.status == "added"
    assert [n.status for n in picture.nodes if n.kind != "module"] == ["same"] * 4
    rewired = [e for e in picture.edges if e.rewired]
    assert [(e.tail, e.label.split("\n")[0]) for e in rewired] == [(module.id, "SCNN")]
    source = digraph(picture).source
    assert "#d62728" in source and "#c9efc4" in source


def test_removed_layers_are_listed_in_a_note() -> None:
    diff = diff_nets(_after(), _before())
    picture = build_picture(_before(), highlights=highlights_from(diff))
    assert picture.removed and picture.removed[0].startswith("SCNN module")
    assert "removed:" in digraph(picture).source


def test_the_net_before_shows_what_goes_away() -> None:
    removing = diff_nets(_after(), _before())  # the module is removed, head rewired back
    picture = build_picture(_after(), highlights=before_highlights(removing))
    [module] = [n for n in picture.nodes if n.kind == "module"]
    assert module.status == "removed" and not picture.removed
    assert [e.label.split("\n")[0] for e in picture.edges if e.rewired] == ["SCNN"]
    assert "#f8d7da" in digraph(picture).source
    adding = diff_nets(_before(), _after())  # in the net before, only the rewired edge shows
    before = build_picture(_before(), highlights=before_highlights(adding))
    assert {n.status for n in before.nodes} == {"same"}
    assert [e.label.split("\n")[0] for e in before.edges if e.rewired] == ["feat"]


def test_a_removed_in_place_layer_changes_the_layer_it_folds_into() -> None:
    without_relu = loads(BEFORE.replace(
        'layer { name: "relu" type: "ReLU" bottom: "feat" top: "feat" }\n', ""
    ) + BEFORE_TAIL, "b.prototxt")
    diff = diff_nets(_before(), without_relu)
    picture = build_picture(_before(), highlights=before_highlights(diff))
    [conv] = [n for n in picture.nodes if n.label.startswith("conv")]
    assert conv.status == "changed" and "ReLU" in conv.label


def test_focus_keeps_the_neighbourhood_of_a_change() -> None:
    diff = diff_nets(_before(), _after())
    full = build_picture(_after(), highlights=highlights_from(diff))
    near = focus(full, focus_names(diff), 0)
    # The module (added), the layer it follows and the layer rewired to it stay; the input
    # and the output become "..." stubs whose edges keep their labels.
    assert [n.kind for n in near.nodes] == ["layer", "module", "layer", "elided", "elided"]
    assert any(e.rewired for e in near.edges)
    assert [e.label.split("\n")[0] for e in near.edges if e.tail.endswith("_in")] == ["data"]


def test_phase_decides_which_layers_are_drawn() -> None:
    net = load_net(str(DATA / "phases_inplace.prototxt"))
    train = build_picture(net, NetState("TRAIN"))
    test = build_picture(net, NetState("TEST"))
    assert any("Dropout" in label for label in _labels(train, "layer"))
    assert not any("Dropout" in label for label in _labels(test, "layer"))


@needs_shared
def test_published_pair_collapses_the_module() -> None:
    before = load_net(str(shared_path("golden", "resnet101.prototxt")))
    after = load_net(str(shared_path("golden", "resnet101_SCNN.prototxt")))
    picture = build_picture(after, highlights=highlights_from(diff_nets(before, after)))
    assert len(_labels(picture, "module")) == 1
    assert len(picture.nodes) < len(build_picture(before).nodes) + 3
    assert sum(e.rewired for e in picture.edges) == 1


def test_shipped_example_pair_collapses_the_module() -> None:
    before = load_net(str(REPO_ROOT / "examples" / "scnn_lane_vgg16.prototxt"))
    after = load_net(str(REPO_ROOT / "examples" / "scnn_lane_vgg16_SCNN.prototxt"))
    picture = build_picture(after, highlights=highlights_from(diff_nets(before, after)))
    assert len(_labels(picture, "module")) == 1
    assert len(picture.nodes) < len(build_picture(before).nodes) + 3
    assert sum(e.rewired for e in picture.edges) == 1


def test_dot_source_needs_no_dot_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    data = render(digraph(build_picture(_before())), "dot")
    assert data.startswith(b"digraph")


def test_missing_dot_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SurgeryError, match=r"'dot' program was not found.*apt-get install"):
        check_renderer("svg")
    with pytest.raises(SurgeryError, match="not found"):
        render(digraph(build_picture(_before())), "png")


def test_output_format_comes_from_the_suffix() -> None:
    assert [output_format(p) for p in ("a.svg", "b.PNG", "c.dot")] == ["svg", "png", "dot"]
    with pytest.raises(UsageError):
        output_format("picture.jpg")


@needs_dot
def test_svg_png_and_pdf_render_through_dot() -> None:
    graph = digraph(build_picture(_after()))
    assert b"<svg" in render(graph, "svg")
    assert render(graph, "png").startswith(b"\x89PNG")
    assert render(graph, "pdf").startswith(b"%PDF")


def test_a_spliced_fragment_is_drawn_added_and_removed() -> None:
    from scnn_surgery.surgery import SpliceOptions, splice

    fragment = loads(
        'layer { name: "mix" type: "Convolution" bottom: "x" top: "mix"\n'
        "        convolution_param { num_output: 8 kernel_size: 1 } }\n"
        'layer { name: "mix/relu" type: "ReLU" bottom: "mix" top: "mix" }\n',
        "fragment.prototxt",
    )
    spliced = splice(_before(), fragment, SpliceOptions(after="feat")).net
    names = {layer.name for layer in spliced.layers} - {layer.name for layer in _before().layers}
    adding = diff_nets(_before(), spliced)
    assert not adding.added and adding.fragments  # the diff lists the run as one entry
    after = build_picture(spliced, highlights=highlights_from(adding))
    drawn = {name for n in after.nodes if n.status == "added" for name in n.layers}
    assert drawn == names
    removing = diff_nets(spliced, _before())
    before = build_picture(spliced, highlights=before_highlights(removing))
    assert {name for n in before.nodes if n.status == "removed" for name in n.layers} == names


# --- names a label cannot hold as they are ------------------------------------------------

ODD = [
    ("quote", 'a\\"b'),  # as written in the prototxt
    ("backslash", "a\\\\b\\\\"),
    ("html", "<b>x</b>"),
    ("braces and bars", "{a|b} [c]"),
    ("non-ASCII", "конв1 — é"),
    ("newline", "a\\nb"),
    ("controls", "a\\000b\\001\\t\\177"),
    ("separator", "a\\u2028b"),
]


def _odd_net(name: str) -> Net:
    return loads(
        f'name: "{name}"\ninput: "{name}"\ninput_shape {{ dim: 1 dim: 2 dim: 4 dim: 4 }}\n'
        f'layer {{ name: "{name}" type: "Convolution" bottom: "{name}" top: "<{name}>"\n'
        "  convolution_param { num_output: 2 kernel_size: 1 } }\n",
        "odd.prototxt",
    )


@pytest.mark.parametrize(("case", "name"), ODD, ids=[case for case, _ in ODD])
def test_every_name_is_shown_as_text_in_every_part_of_the_picture(case: str, name: str) -> None:
    net = _odd_net(name)
    actual = net.layers[0].name
    picture = build_picture(net)
    labels = [n.label for n in picture.nodes] + [e.label for e in picture.edges]
    shown = picture.title
    assert "\n" not in shown and "\x00" not in shown
    assert all("\x00" not in label and "\u2028" not in label for label in labels)
    if actual.isprintable():
        assert shown == actual and f"<{actual}>" in labels
    source = render(digraph(picture), "dot").decode()
    assert f"label={_quoted(shown)}" in source  # quoted: never HTML, never cut


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_control_characters_are_written_as_escapes() -> None:
    picture = build_picture(_odd_net("a\\000b\\001\\n\\t\\177\\u2028c"))
    assert picture.title == "a\\x00b\\x01\\n\\t\\x7f\\u2028c"


@needs_dot
@pytest.mark.parametrize(("case", "name"), ODD, ids=[case for case, _ in ODD])
def test_odd_names_render_through_dot(case: str, name: str) -> None:
    graph = digraph(build_picture(_odd_net(name)))
    assert b"<svg" in render(graph, "svg")
    assert render(graph, "png").startswith(b"\x89PNG")


def test_dots_error_names_the_layer_of_the_line_it_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = _before()
    picture = build_picture(net)
    graph = digraph(picture)
    source = str(graph.source).splitlines()
    line = next(i for i, text in enumerate(source, 1) if "label=\"conv\\n" in text)
    stderr = (
        f"Warning: something harmless\nError: <stdin>: syntax error in line {line} scanning a"
        ' quoted string (missing endquote? longer than 16384?)\nString starting:"conv'
    ).encode()

    def failing_dot(*_: object, **__: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess([], 1, b"", stderr)

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(subprocess, "run", failing_dot)
    with pytest.raises(SurgeryError) as info:
        render(graph, "svg", node_places(picture, net))
    assert str(info.value) == (
        "dot failed on layer 'conv' (before.prototxt:4:1): syntax error in line"
        f" {line} scanning a quoted string (missing endquote? longer than 16384?)"
    )
    with pytest.raises(SurgeryError, match=r"^dot failed: syntax error in line"):
        render(graph, "svg")  # without places, dot's own words


def _chain(layers: int) -> Net:
    """A net of ``layers`` Sigmoids in a row: one edge each, nothing folded."""
    text = ['input: "s0"\ninput_shape { dim: 1 dim: 1 dim: 2 dim: 2 }\n']
    text += [
        f'layer {{ name: "s{i}" type: "Sigmoid" bottom: "s{i - 1}" top: "s{i}" }}\n'
        for i in range(1, layers + 1)
    ]
    return loads("".join(text), "chain.prototxt")


def test_a_picture_dot_lays_out_in_budget_stays_with_dot() -> None:
    layout = choose_layout(build_picture(_after(), expand=True), expanded=True)
    assert (layout.engine, layout.notes) == ("dot", ())


def test_a_picture_beyond_dots_budget_is_laid_out_by_sfdp_with_a_note() -> None:
    picture = build_picture(_chain(DOT_EDGE_BUDGET + 10))
    layout = choose_layout(picture, expanded=True)
    assert layout.engine == "sfdp"
    (note,) = layout.notes
    assert f"{len(picture.edges):,} edges" in note and "sfdp" in note
    assert "without --expand each SCNN module is one node" in note
    source = str(digraph(picture, layout.engine).source)
    assert "layout=sfdp" in source and "nslimit" not in source


def test_a_net_too_large_for_any_layout_in_minutes_is_warned_of_when_read() -> None:
    assert size_warning(SFDP_EDGE_BUDGET) is None
    warning = size_warning(SFDP_EDGE_BUDGET + 1)
    assert warning is not None and f"{SFDP_EDGE_BUDGET + 1:,} layers" in warning
    assert "--context" in warning and "minutes" in warning


def test_a_v0_net_is_drawn_as_caffe_upgrades_it(run_cli: RunCli) -> None:
    """Its padding layers fold into the layers they feed, as Caffe's upgrade folds them."""
    code, out, err = run_cli("draw", str(DATA / "legacy" / "v0_padding.prototxt"), "-o", "-")
    assert code == 0, err
    assert "padding" not in out and "pad1" not in out
    assert "Convolution" in out
