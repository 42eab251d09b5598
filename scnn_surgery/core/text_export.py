"""From the IR back to text: the document with the fewest edits that say what changed.

Only three kinds of change are made, so every other byte of the file stays as it was:

* new layers are inserted as whole lines at the start of the line after the layer they
  follow (or above the first layer), rendered in the file's indentation, newline style
  and format (V1 ``layers`` into a V1 file);
* removed layers are cut, on whole-line boundaries where they own their lines;
* a changed ``bottom`` (or ``top``, or ``name``) has just its value token replaced, in its
  own quote character;
* a layer whose parameters changed (:mod:`scnn_surgery.core.values`) has its block replaced by
  its revised text, which differs from the old only by the value edits; the net's own
  fields changed are the edits the net keeps (``Net.field_edits``).

Insertion and removal are inverses: cutting what was inserted gives the original back
byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence, Set

from .document import Document, Edit, Field, Message, Scalar, quote_string
from .layerdef import Fields, LayerDef, Raw, Renderer, Value
from .net import Layer, LayerText, Net
from .values import apply_edits


def export_text(net: Net) -> str:
    """The net's text: its document with the net's changes applied."""
    edits = _joined_cuts(net_edits(net))
    if not edits:
        return net.document.text
    return apply_edits(net.document.text, edits)


def export_bytes(net: Net) -> bytes:
    return export_text(net).encode("utf-8", "surrogateescape")


def net_edits(net: Net) -> Iterator[Edit]:
    """The edits that turn the net's document into the net."""
    doc = net.document
    blocks = [f for f in doc.root.fields if f.name in ("layer", "layers")]
    present = {
        id(x.text.original.block): x for x in net.layers if x.text and net.in_document(x)
    }
    insertions = list(_insertions(net, blocks))
    kept = {edit.start for edit in insertions}
    removed = [b for b in blocks if id(b) not in present]
    yield from _removals(doc, removed, kept)
    for layer in present.values():
        yield from _layer_edits(layer)
    yield from insertions
    # the net's own edits, less those inside a removed layer (an upgrade's rewrite of it)
    yield from (
        e for e in net.field_edits
        if not any(b.start <= e.start and e.end <= b.end for b in removed)
    )  # fmt: skip


def _joined_cuts(edits: Iterator[Edit]) -> list[Edit]:
    """The edits, with cuts that overlap joined into one: a removed layer's cut may take
    the blanks a removed net field's cut takes too (both on one line)."""
    out: list[Edit] = []
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        last = out[-1] if out else None
        if last is not None and not last.replacement and not edit.replacement and (
            edit.start < last.end
        ):
            out[-1] = Edit(last.start, max(last.end, edit.end), "")
        else:
            out.append(edit)
    return out


# ---------------------------------------------------------------------------
# New layers


def _insertions(net: Net, blocks: Sequence[Field]) -> Iterator[Edit]:
    doc = net.document
    renderer = Renderer(doc.indent, doc.newline, legacy_v1=net.output_format == "v1")
    anchor: Layer | None = None
    run: list[Layer] = []
    for layer in [*net.layers, None]:
        if layer is not None and not net.in_document(layer):
            run.append(layer)
            continue
        if run:
            text = "".join(renderer.layer(definition_of(x)) for x in run)
            yield _insertion(doc, anchor, blocks, text)
            run = []
        anchor = layer


def _insertion(doc: Document, anchor: Layer | None, blocks: Sequence[Field], text: str) -> Edit:
    if anchor is None:
        first = blocks[0].start if blocks else len(doc.text)
        offset = doc.text.rfind("\n", 0, first) + 1
        if offset == 0 and not blocks and doc.text and not doc.text.endswith("\n"):
            return Edit(len(doc.text), len(doc.text), doc.newline + text)
        return Edit(offset, offset, text)
    assert anchor.text is not None
    offset = doc.line_end_after(anchor.text.original.block.end)
    if offset == 0 or doc.text[offset - 1] == "\n":
        return Edit(offset, offset, text)
    # The anchor shares its line with what follows: break the line before the new layers
    # and let the rest of the line follow their closing brace, so removal is the inverse.
    return Edit(offset, offset, doc.newline + text[: -len(doc.newline)])


def definition_of(layer: Layer) -> LayerDef:
    """What to render for a layer: its definition, or its text read as one."""
    if layer.definition is not None:
        return layer.definition
    assert layer.text is not None
    return text_definition(layer, layer.text)


def text_definition(layer: Layer, text: LayerText) -> LayerDef:
    """A layer read from another file (a spliced fragment) as a definition to render."""
    skip = {"name", "type", "bottom", "top"}
    outer = text.block.value
    assert isinstance(outer, Message)
    fields = tuple((f.name, v) for f in outer.fields if f.name not in skip for v in field_values(f))
    return LayerDef(layer.name, layer.type, layer.bottoms, layer.tops, fields)


def field_values(field: Field) -> list[Value]:
    """A field's values as definition values (strings decoded, words as written)."""
    return [
        _message_fields(value) if isinstance(value, Message) else _scalar_value(value)
        for value in field.values()
    ]


def _scalar_value(scalar: Scalar) -> Value:
    return scalar.value if scalar.kind == "string" else Raw(scalar.raw)


def _message_fields(message: Message) -> Fields:
    """A message's fields as definition values, innermost first, with a stack (never
    recursion on the file's nesting)."""
    done: dict[int, Fields] = {}
    stack: list[tuple[Message, bool]] = [(message, False)]
    while stack:
        current, expanded = stack.pop()
        if expanded:
            done[id(current)] = tuple(
                (f.name, done[id(v)] if isinstance(v, Message) else _scalar_value(v))
                for f in current.fields
                for v in f.values()
            )
            continue
        stack.append((current, True))
        stack.extend(
            (v, False) for f in current.fields for v in f.values() if isinstance(v, Message)
        )
    return done[id(message)]


# ---------------------------------------------------------------------------
# Removed layers


def _removals(doc: Document, removed: Sequence[Field], kept: Set[int]) -> Iterator[Edit]:
    """One cut per run of removed blocks that are neighbours in the file; ``kept`` are
    the offsets where new layers go, which no cut may take in."""
    if not removed:
        return
    siblings = doc.root.fields
    index = {id(f): i for i, f in enumerate(siblings)}
    runs: list[list[Field]] = []
    for block in sorted(removed, key=lambda f: f.start):
        if runs and index[id(runs[-1][-1])] + 1 == index[id(block)]:
            runs[-1].append(block)
        else:
            runs.append([block])
    for run in runs:
        previous = siblings[index[id(run[0])] - 1] if index[id(run[0])] else None
        yield _cut(doc, run, previous, kept)


_BLANKS = re.compile(r"[ \t\f\v]*")


def _cut(doc: Document, run: Sequence[Field], previous: Field | None, kept: Set[int]) -> Edit:
    text = doc.text
    start, end = run[0].start, run[-1].end
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip(" \t\f\v"):
        # Something else starts the line: take the run and the blanks before it, and
        # leave the line's end (and a comment on it) where it is.
        if previous is not None and not text[previous.end : start].strip(" \t\f\v"):
            start = previous.end
        return Edit(start, end, "")
    start = line_start
    end = doc.line_end_after(end)
    ends_line = text[end - 1] == "\n"  # at the end of a file without one, it does not
    if not ends_line and previous is not None:
        # What follows shares the run's last line (or the file ends there): join it to
        # the line before, as it was before a run of new layers was inserted there (see
        # _insertion), unless new layers go in between.
        gap = text[previous.end : start]
        if gap in ("\n", "\r\n") and not any(previous.end <= k <= start for k in kept):
            return Edit(previous.end, end, "")
    if not ends_line:  # what follows on the line moves to its start
        end = _BLANKS.match(text, end).end()  # type: ignore[union-attr]
        return Edit(start, end, "")
    return _without_doubled_blanks(text, start, end, kept)


_BLANK_LINE = re.compile(r"[ \t\f\v]*\r?\n")


def _without_doubled_blanks(text: str, start: int, end: int, kept: Set[int]) -> Edit:
    """The cut of whole lines [start, end), widened so that the blank lines around it do
    not add up, as if the layers had never been there: a file that sets its blocks apart
    with a blank line keeps one (the wider of the two gaps), one that starts or ends with
    the cut gets none there. Not across a place where new layers go."""
    after = [end]
    while (blank := _BLANK_LINE.match(text, after[-1])) is not None:
        after.append(blank.end())
    before = [start]
    while before[-1] > 0:
        line = text.rfind("\n", 0, before[-1] - 1) + 1
        if _BLANK_LINE.fullmatch(text, line, before[-1]) is None:
            break
        before.append(line)
    gaps_before, gaps_after = len(before) - 1, len(after) - 1
    if before[-1] == 0 and gaps_after:  # nothing before the cut but blanks
        wider = Edit(before[-1], after[-1], "")
    elif after[-1] == len(text) and gaps_before:  # nothing after it but blanks
        wider = Edit(before[-1], end, "")
    else:
        wider = Edit(start, after[min(gaps_before, gaps_after)], "")
    if any(wider.start <= k <= wider.end for k in kept):
        return Edit(start, end, "")
    return wider


# ---------------------------------------------------------------------------
# Changed tokens


def _layer_edits(layer: Layer) -> Iterator[Edit]:
    """A layer's changed tokens; a revised layer's whole block, as revised."""
    text = layer.text
    assert text is not None
    if text.home is None:
        yield from _token_edits(layer, text)
        return
    start = revision_start(text.home)
    revised = apply_edits(text.document.text, list(_token_edits(layer, text)))
    yield Edit(start, text.home.block.end, revised)


def revision_start(text: LayerText) -> int:
    """Where a layer's revised text starts in its file: the start of its block's line,
    when only blanks come before it there (so the revision keeps the lines' leads)."""
    doc_text = text.document.text
    line = doc_text.rfind("\n", 0, text.block.start) + 1
    return line if not doc_text[line : text.block.start].strip() else text.block.start


def _token_edits(layer: Layer, text: LayerText) -> Iterator[Edit]:
    if text.name_scalar is not None and text.name_scalar.value != layer.name:
        scalar = text.name_scalar
        yield Edit(scalar.start, scalar.end, quote_string(layer.name, scalar.raw[0]))
    yield from _changed(text.bottom_scalars, layer.bottoms)
    yield from _changed(text.top_scalars, layer.tops)


def _changed(scalars: Sequence[Scalar], values: Sequence[str]) -> Iterator[Edit]:
    if len(scalars) != len(values):
        raise ValueError("a layer read from text cannot change how many bottoms or tops it has")
    for scalar, value in zip(scalars, values, strict=True):
        if scalar.value != value:
            yield Edit(scalar.start, scalar.end, quote_string(value, scalar.raw[0]))
