"""Fragments: what they read and write, and renaming that keeps their lines."""

from __future__ import annotations

import pytest

import scnn_surgery as ss
from scnn_surgery.errors import SurgeryError
from scnn_surgery.passes.fragment import fragment_names, read_fragment, renamed

from ..conftest import DATA

TEXT = (
    "# a two-input fragment\n"
    'layer { name: "a" type: "Convolution" bottom: "x" top: "a"\n'
    '  param { name: "w" } convolution_param { num_output: 2 kernel_size: 1 } }\n'
    "layer { name: 'b' type: 'Eltwise' bottom: 'a' bottom: 'y' top: 'out' }\n"
)


def test_inputs_outputs_and_names() -> None:
    fragment = read_fragment(ss.loads(TEXT, "f.prototxt"))
    assert fragment.inputs == ("x", "y") and fragment.outputs == ("out",)
    assert fragment_names(fragment) == {"a", "b", "w", "out"}


def test_renaming_edits_only_name_tokens_and_keeps_lines() -> None:
    fragment = read_fragment(ss.loads(TEXT, "f.prototxt"))
    new = renamed(fragment, "p_", {"x": "conv1", "y": "y"})
    assert ss.dumps(new.net) == (
        TEXT.replace('"a"', '"p_a"').replace("'a'", "'p_a'").replace('"w"', '"p_w"')
        .replace("'b'", "'p_b'").replace("'out'", "'p_out'").replace('"x"', '"conv1"')
    )
    assert new.inputs == ("conv1", "y") and new.outputs == ("p_out",)
    assert len(new.net.document.line_starts) == len(fragment.net.document.line_starts)


def test_a_fragment_is_only_layers() -> None:
    with pytest.raises(SurgeryError, match=r"f\.prototxt:1:8: a fragment holds only layers"):
        read_fragment(ss.loads('input: "data"\n' + TEXT, "f.prototxt"))
    with pytest.raises(SurgeryError, match="the fragment has no layers"):
        read_fragment(ss.loads("# nothing\n", "f.prototxt"))


def test_a_v1_fragment_is_read_as_v2() -> None:
    v1 = 'layers { name: "r" type: RELU bottom: "x" top: "r" }\n'
    fragment = read_fragment(ss.loads(v1, "f.prototxt"))
    assert [x.format for x in fragment.layers] == ["v2"] and fragment.inputs == ("x",)


def test_the_se_block_in_tests_data() -> None:
    fragment = read_fragment(ss.load(DATA / "se_block.prototxt"))
    assert fragment.inputs == ("x",) and fragment.outputs == ("se/out",)


def test_an_empty_share_name_shares_nothing_and_stays_empty() -> None:
    text = 'layer { name: "c" type: "Convolution" bottom: "x" top: "c" param { name: "" } }\n'
    fragment = read_fragment(ss.loads(text, "f.prototxt"))
    assert fragment_names(fragment) == {"c"}
    new = renamed(fragment, "p_", {})
    assert ss.dumps(new.net) == text.replace('"c"', '"p_c"')
