"""HTML pages for people to look at: batch's report of a whole zoo, and diff's changes.

Each page is one self-contained file: its style sheet and its few lines of script are
inlined (from ``htmlassets/``), and its pictures are ``<svg>`` elements cleaned by
:func:`scnn_surgery.report.changeview.embeddable_svg`. It fetches nothing, so it opens from disk
and from a mail attachment alike. All text from nets, paths and messages is escaped here.

Only strings are built here; the parts that need the nets (pictures, the diff) are made
before, in the batch workers or by ``diff``.
"""

from __future__ import annotations

import datetime
import html
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePath
from typing import TYPE_CHECKING

from .. import __version__
from ..options import (
    BOOL,
    NAME,
    TEXT,
    as_arguments,
    command_line_flag,
    declared_fields,
)
from .batchreport import AnyOptions, BatchReport, Job, Outcome, RunInfo, shown_counts

if TYPE_CHECKING:
    from .changeview import DiffView

__all__ = ["asked_flags", "batch_page", "diff_page", "display_reason"]

TIMES = "\u00d7"


# Bidi formatting characters: a right-to-left override in a name would reverse the rest
# of its line, so they are shown as escapes (the page's CSS isolates each name as well).
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute value; bidi controls as escapes."""
    shown = _BIDI_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
    return html.escape(shown, quote=True)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("htmlassets", name).read_text(encoding="utf-8")


def _page(title: str, body_class: str, body: Iterable[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="scnn-surgery {esc(__version__)}">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{_asset('report.css')}</style>",
        # Details start closed only where the script can open them.
        '<script>document.documentElement.classList.add("js");</script>',
        "</head>",
        f'<body class="{body_class}">',
        *body,
        f"<script>\n{_asset('report.js')}</script>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _written() -> str:
    now = datetime.datetime.now().astimezone()
    return f"{now:%Y-%m-%d %H:%M %Z} by scnn-surgery {esc(__version__)}"


def _code(text: object) -> str:
    return f"<code>{esc(text)}</code>"


def _facts(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already."""
    items = "".join(f"<dt>{esc(key)}</dt><dd>{value}</dd>" for key, value in rows)
    return f'<dl class="facts">{items}</dl>'


def _options_html(options: AnyOptions) -> str:
    arguments = as_arguments(options)
    if not arguments:
        return "none: each model's insertion point and sizes are found from the model"
    return _code(" ".join(arguments))


def _legend(removed: bool) -> str:
    items = [
        '<span><span class="swatch added" style="border-color:var(--added-ink)"></span>'
        "added</span>",
        '<span><span class="swatch changed" style="border-color:var(--changed-ink)"></span>'
        "changed</span>",
    ]
    if removed:
        items.append(
            '<span><span class="swatch removed" style="border-color:var(--removed-ink)"></span>'
            "removed (in the net before)</span>"
        )
    items.append('<span><span class="edge"></span>a rewired bottom</span>')
    items.append("<span>an SCNN module is one box; in-place layers fold into the layer"
                 " they follow; edges show blob shapes</span>")
    return f'<div class="legend" aria-label="Legend">{"".join(items)}</div>'


def _chip(value: str, count: int, label: str) -> str:
    return (
        f'<label class="chip {esc(value)}"><input type="checkbox" data-filter checked'
        f' value="{esc(value)}"> {esc(label)} <b>{count}</b></label>'
    )


def _toolbar(chips: Sequence[str], total: int, what: str, openers: bool) -> str:
    parts = ['<div class="toolbar" role="toolbar" aria-label="Filter">', *chips]
    parts.append(
        f'<input type="search" id="filter-text" placeholder="Filter by {esc(what)}"'
        f' aria-label="Filter by {esc(what)}">'
    )
    if openers:
        parts.append('<button type="button" data-open="all">Open all</button>')
        parts.append('<button type="button" data-open="none">Close all</button>')
    parts.append(f'<span class="shown" id="shown" aria-live="polite">{total} of {total} shown'
                 "</span></div>")
    return "".join(parts)


# --- numbers ---------------------------------------------------------------------------


def _si(value: float) -> str:
    """2.08 G: three significant digits, for MACs."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {suffix}"
    return f"{value:g}"


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _num_cell(value: float | None, shown: str = "", title: str = "") -> str:
    if value is None:
        return '<td class="num" data-value=""></td>'
    tip = f' title="{esc(title)}"' if title else ""
    return f'<td class="num" data-value="{value}"{tip}>{esc(shown)}</td>'


# --- refusals --------------------------------------------------------------------------


def _flags() -> dict[str, tuple[bool, str, bool]]:
    """Each flag insert knows: (takes a value, its metavar, the value is free text)."""
    known: dict[str, tuple[bool, str, bool]] = {}
    for item, declared in declared_fields():
        default = item.default
        flag = command_line_flag(item.name, declared, default)
        free = declared.kind in (NAME, TEXT)
        known[flag] = (declared.kind is not BOOL, declared.kind.metavar, free)
    known["--upgrade"] = (False, "", False)
    return known


_FLAG_RE = re.compile(r"(--[a-z][a-z-]*)(?:\s+(\S+))?")


def asked_flags(reason: str) -> list[str]:
    """The insert options a refusal asks for, as they would be typed:
    ``--shape data=N,C,H,W``, ``--upgrade``, ``--prefix TEXT``."""
    known = _flags()
    found: list[str] = []
    for match in _FLAG_RE.finditer(reason):
        flag, value = match.group(1), (match.group(2) or "").rstrip(".,;:)")
        if flag not in known:
            continue
        takes_value, metavar, free = known[flag]
        if not takes_value:
            asked = flag
        elif value and not value.startswith("-") and ("=" in value or (not free and
                                                         _plain_value(value))):
            asked = f"{flag} {value}"
        else:
            asked = f"{flag} {metavar}"
        if asked not in found:
            found.append(asked)
    return found


def _plain_value(value: str) -> bool:
    """A number or a phase: a value, not a word of the sentence around the flag."""
    return value.replace(".", "", 1).isdigit() or value in ("TRAIN", "TEST")


def display_reason(reason: str, source: str, name: str) -> str:
    """The reason as the page shows it: without a leading ``SOURCE:`` (the row names the
    model), and with the model's path shortened to ``name`` where it names a line."""
    text = reason
    if text.startswith(f"{source}: "):
        text = text[len(source) + 2 :]
    return text.replace(source, name) if source else text


# --- the batch page --------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One model, as the page shows it."""

    index: int
    outcome: Outcome
    name: str
    job: Job | None


def _display_names(report: BatchReport) -> list[str]:
    """Each model's path as under the output directory, which mirrors its source tree; else
    relative to the sources' common folder."""
    run = report.run
    by_source = {job.source: job for job in run.jobs} if run else {}
    sources = [o.source for o in report.outcomes]
    common = _common_folder(sources)
    names = []
    for outcome in report.outcomes:
        job = by_source.get(outcome.source)
        if job is not None and run is not None:
            names.append(PurePath(os.path.relpath(job.output, run.output_dir)).as_posix())
        else:
            names.append(PurePath(os.path.relpath(outcome.source, common)).as_posix())
    return names


def _common_folder(paths: Sequence[str]) -> str:
    if not paths:
        return "."
    try:
        return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # different drives
        return "."


def _rows(report: BatchReport) -> list[_Row]:
    jobs = {job.source: job for job in report.run.jobs} if report.run else {}
    names = _display_names(report)
    return [
        _Row(index, outcome, name, jobs.get(outcome.source))
        for index, (outcome, name) in enumerate(zip(report.outcomes, names, strict=True))
    ]


_STATUS_ORDER = {"converted": 0, "refused": 1, "failed": 2, "skipped": 3, "interrupted": 4}
_COLUMNS = (
    ("Model", "text", ""),
    ("Status", "number", ""),
    ("Insertion point, or why not", "text", ""),
    (f"H{TIMES}W{TIMES}C", "number", "num"),
    ("Layers", "number", "num"),
    ("Parameters", "number", "num"),
    ("MACs", "number", "num"),
    ("Activations", "number", "num"),
    ("Time", "number", "num"),
)


def _head() -> str:
    cells = "".join(
        f'<th scope="col" class="{cls}" data-type="{kind}" aria-sort="none">'
        f'<button type="button">{esc(title)}</button></th>'
        for title, kind, cls in _COLUMNS
    )
    return f"<thead><tr>{cells}</tr></thead>"


def _point_cell(row: _Row) -> str:
    outcome = row.outcome
    if outcome.status == "converted" and outcome.spec is None:  # splice, strip
        done = outcome.summary or ""
        return f'<td data-value="{esc(done)}">{esc(done)}</td>'
    if outcome.status == "converted":
        blob = outcome.spec.bottom if outcome.spec else ""
        after = outcome.placed_after
        where = f" after {_code(after)}" if after else " before the first layer"
        why = f'<div class="why">{esc(outcome.point_reason)}</div>' if outcome.point_reason else ""
        return f'<td data-value="{esc(blob)}">{_code(blob)}{where}{why}</td>'
    reason = display_reason(outcome.reason or "", outcome.source, PurePath(row.name).name)
    asks = asked_flags(reason)
    wanted = (
        '<div class="asks">asks for ' + " ".join(_code(flag) for flag in asks) + "</div>"
        if asks
        else ""
    )
    return f'<td class="reason" data-value="{esc(reason)}">{esc(reason)}{wanted}</td>'


def _cost_cells(outcome: Outcome) -> str:
    spec, cost = outcome.spec, outcome.cost
    if spec is None or cost is None:
        return _num_cell(None) * 5
    size = f"{spec.height}{TIMES}{spec.width}{TIMES}{spec.channels}"
    return "".join(
        [
            _num_cell(spec.height * spec.width * spec.channels, size),
            _num_cell(cost.layers, f"{cost.layers:,}"),
            _num_cell(cost.parameters, f"{cost.parameters:,}"),
            _num_cell(cost.macs, _si(cost.macs), f"{cost.macs:,} multiply-accumulates"),
            _num_cell(cost.activation_bytes, _mib(cost.activation_bytes),
                      f"{cost.activation_bytes:,} bytes, float32, per image"),
        ]
    )


def _head_row(row: _Row) -> str:
    outcome = row.outcome
    seconds = outcome.seconds
    time_cell = _num_cell(None) if seconds is None else _num_cell(round(seconds, 4),
                                                                  f"{seconds:.2f} s")
    folder, slash, file = row.name.rpartition("/")
    above = f'<span class="folder">{esc(folder + slash)}</span>' if slash else ""
    return (
        '<tr class="head-row">'
        f'<td data-value="{esc(row.name)}">{above}<button type="button" class="toggle"'
        f' aria-expanded="false" aria-controls="detail-{row.index}"'
        f' aria-label="details of {esc(row.name)}"></button>'
        f'<span class="name">{_breakable(file)}</span></td>'
        f'<td data-value="{_STATUS_ORDER[outcome.status]}">'
        f'<span class="status {outcome.status}">{outcome.status}</span></td>'
        f"{_point_cell(row)}{_cost_cells(outcome)}{time_cell}</tr>"
    )


def _breakable(name: str) -> str:
    """A long file name that may wrap after its ``_``, ``-`` and ``.``."""
    return re.sub(r"([_.-])", r"\1<wbr>", esc(name))


def _module_text(outcome: Outcome) -> str:
    spec = outcome.spec
    if spec is None:
        return ""
    parts = [f"directions {spec.directions}", f"kernel width {spec.kernel_width}"]
    if spec.prefix:
        parts.append(f"prefix {spec.prefix}")
    if outcome.cost is not None:
        parts.append(f"{outcome.cost.activation_bytes / 2**20:.1f} MiB activations")
    return esc(", ".join(parts))


def _model_options(row: _Row, run: RunInfo | None) -> str | None:
    """This model's options when the config changed them from the command line's."""
    if row.job is None or run is None or row.job.options == run.options:
        return None
    return _code(" ".join(as_arguments(row.job.options))) + " (from the config)"


def _detail(row: _Row, report: BatchReport) -> str:
    outcome = row.outcome
    facts: list[tuple[str, str]] = [("Source", _code(outcome.source))]
    if outcome.status == "converted":
        if outcome.insertion_point:
            where = "Inserted at" if outcome.verb == "insert" else "Spliced at"
            facts.append((where, esc(outcome.insertion_point)))
        if outcome.point_reason:
            facts.append(("Why there", esc(outcome.point_reason)))
        if outcome.summary:
            facts.append(("Done", esc(outcome.summary)))
        if outcome.spec is not None:
            facts.append(("Module", _module_text(outcome)))
        facts.append(("Written to", _code(outcome.output or "")))
    else:
        facts.append(("Reason", f'<span class="reason">{esc(outcome.reason or "")}</span>'))
        asks = asked_flags(outcome.reason or "")
        if asks:
            facts.append(("Asks for", " ".join(_code(flag) for flag in asks)))
    options = _model_options(row, report.run)
    if options:
        facts.append(("Options", options))
    shown_notes = [n for n in outcome.notes if not _is_point_note(n, outcome)]
    if shown_notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in shown_notes)
        facts.append(("Notes", f"<ul>{items}</ul>"))
    body = [_facts(facts)]
    if outcome.picture is not None:
        what = "the module" if outcome.verb == "insert" else "what was added"
        body.append(
            f"<figure>{outcome.picture}<figcaption>Around the change: {what} (green) and"
            " the bottoms it rewires (red).</figcaption></figure>"
        )
    elif outcome.picture_note:
        body.append(f'<p class="note">{esc(outcome.picture_note)}</p>')
    columns = len(_COLUMNS)
    return (
        f'<tr class="detail" id="detail-{row.index}"><td colspan="{columns}">'
        f'<div class="detail-body">{"".join(body)}</div></td></tr>'
    )


def _is_point_note(note: str, outcome: Outcome) -> bool:
    """insert's note on the automatic choice, which the page shows as "Why there"."""
    blob = outcome.spec.bottom if outcome.spec else None
    return note == f"chose insertion point '{blob}' automatically: {outcome.point_reason}"


def _batch_header(report: BatchReport) -> list[str]:

    counts = shown_counts(report.counts())
    total = len(report.outcomes)
    badges = " ".join(
        f'<span class="status {status}">{n} {status}</span>' for status, n in counts.items()
    )
    workers = "worker" if report.workers == 1 else "workers"
    lines = [
        "<header>",
        f'<h1>Batch report<span class="tool">scnn-surgery {_verb_of(report)}</span></h1>',
        f'<p class="counts">{badges} <span class="of">of {total} models in'
        f" {report.seconds:.1f} s with {report.workers} {workers}</span></p>",
    ]
    facts: list[tuple[str, str]] = []
    run = report.run
    if run is not None:
        facts.append(("Sources", " ".join(_code(s) for s in run.sources)))
        facts.append(("Output", _code(run.output_dir)))
        facts.append(("Options", _options_html(run.options)))
        if run.config is not None:
            facts.append(("Config", _code(run.config) + _rules_html(run)))
        planned = len(run.jobs)
        if planned > total:
            facts.append(("Finished", f"{total} of {planned} models (the run was stopped)"))
    facts.append(("Pictures", _pictures_fact(report)))
    facts.append(("Written", _written()))
    lines.append(_facts(facts))
    if run is not None and run.pictures_note:
        lines.append(f'<p class="note">{esc(run.pictures_note)}</p>')
    lines.append("</header>")
    return lines


def _verb_of(report: BatchReport) -> str:
    if report.run is not None and report.run.jobs:
        return report.run.jobs[0].verb
    return next((o.verb for o in report.outcomes), "insert")


def _pictures_fact(report: BatchReport) -> str:
    run = report.run
    if run is not None and run.pictures_note:
        return "none (see the note below)"
    context = next((job.picture_context for job in run.jobs), None) if run else None
    if context is None:
        return "open a converted model's row to see the net around its change"
    return (
        f"open a converted model's row to see the net around its change, {context} layers"
        " either side, as <code>scnn-surgery draw OUTPUT --against SOURCE --context"
        f" {context}</code> draws it"
    )


def _rules_html(run: RunInfo) -> str:
    if not run.rules:
        return ""
    items = "".join(
        f"<li>{_code(rule.pattern)}: "
        + ", ".join(f"{esc(key)} = {esc(value)}" for key, value in rule.settings.items())
        + "</li>"
        for rule in run.rules
    )
    return f"<ul>{items}</ul>"


def batch_page(report: BatchReport) -> str:
    """The batch report as one HTML page: a summary, then a row per model that opens on
    its details and the picture of its change."""

    rows = _rows(report)
    counts = shown_counts(report.counts())
    chips = [_chip(status, n, status) for status, n in counts.items()]
    body = [*_batch_header(report), "<main>"]
    body.append(_toolbar(chips, len(rows), "model name", openers=True))
    body.append('<table class="report" id="models" data-sortable>')
    body.append(_head())
    for row in rows:
        body.append(
            f'<tbody class="item" id="model-{row.index}" data-filter-key="{row.outcome.status}"'
            f' data-name="{esc(row.name)}">{_head_row(row)}{_detail(row, report)}</tbody>'
        )
    body.append("</table>")
    body.append(_legend(removed=False))
    body.append("</main>")
    body.append(f"<footer>Written {_written()}.</footer>")
    total = len(rows)
    title = f"scnn-surgery batch: {counts['converted']} of {total} models converted"
    return _page(title, "batch", body)


# --- the diff page ---------------------------------------------------------------------

_KIND_LABELS = {
    "module": "modules",
    "fragment": "fragments",
    "layer": "layers",
    "rewired": "rewired",
    "shape": "shapes",
}


def _fields_table(fields: Sequence[tuple[str, str, str]]) -> str:
    if not fields:
        return ""
    rows = "".join(
        f"<tr><td>{_code(path)}</td><td>{esc(before)}</td><td>{esc(after)}</td></tr>"
        for path, before, after in fields
    )
    return (
        '<table class="fields"><thead><tr><th>field</th><th>before (A)</th><th>after (B)</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _entry_rows(view: DiffView) -> list[str]:
    place_of = {i: n for n, place in enumerate(view.places, start=1) for i in place.entries}
    rows = []
    for index, entry in enumerate(view.entries):
        number = place_of.get(index)
        where = (
            f'<a href="#place-{number}">place {number}</a>'
            if number is not None
            else '<span class="absent">not drawn</span>'
        )
        if view.pictures_note or entry.kind == "shape":
            where = ""
        rows.append(
            f'<tbody class="item" id="entry-{index}" data-filter-key="{entry.kind}"'
            f' data-name="{esc(entry.text)}"><tr>'
            f'<td><span class="chip {entry.change}">{esc(entry.sign)} {esc(entry.change)}'
            f"</span></td>"
            f'<td><span class="chip {entry.kind}">{esc(entry.kind)}</span></td>'
            f"<td>{esc(entry.text)}{_fields_table(entry.fields)}</td>"
            f"<td>{where}</td></tr></tbody>"
        )
    return rows


def _place_section(view: DiffView, number: int) -> str:
    place = view.places[number - 1]
    texts = [view.entries[i] for i in place.entries]
    listed = "".join(f"<li>{esc(e.sign)} {esc(e.text)}</li>" for e in texts)
    figures = []
    for side, svg, path in (("A", place.before, view.before), ("B", place.after, view.after)):
        caption = f"<figcaption>{side}: {esc(path)}</figcaption>"
        content = svg if svg is not None else (
            f'<p class="absent">nothing of this change is in {side}'
            f" (phase {esc(view.phase)})</p>"
        )
        figures.append(f"<figure>{caption}{content}</figure>")
    return (
        f'<section class="place" id="place-{number}"><h3>Place {number}</h3>'
        f'<ul>{listed}</ul><div class="pair">{"".join(figures)}</div></section>'
    )


def diff_page(view: DiffView) -> str:
    """``diff A B`` as one HTML page: the listing, then both nets around each place that
    changed, side by side."""
    diff = view.diff
    body = [
        "<header>",
        '<h1>Differences<span class="tool">scnn-surgery diff</span></h1>',
        f'<p class="counts">{esc(diff.counts())}</p>',
        _facts(
            [
                ("A", _code(view.before)),
                ("B", _code(view.after)),
                ("Phases", esc(", ".join(diff.phases))),
                ("Pictures", _diff_pictures_fact(view)),
                ("Written", _written()),
            ]
        ),
    ]
    if view.pictures_note:
        body.append(f'<p class="note">{esc(view.pictures_note)}</p>')
    body += ["</header>", "<main>"]
    if not view.entries:
        body.append("<p>The nets do not differ.</p>")
    else:
        kinds: dict[str, int] = {}
        for entry in view.entries:
            kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
        chips = [_chip(kind, n, _KIND_LABELS[kind]) for kind, n in kinds.items()]
        body.append('<h2 id="changes">Changes</h2>')
        body.append(_toolbar(chips, len(view.entries), "text", openers=False))
        body.append(
            '<table class="report" id="entries"><thead><tr><th scope="col">change</th>'
            '<th scope="col">kind</th><th scope="col">entry</th><th scope="col">picture</th>'
            "</tr></thead>"
        )
        body += _entry_rows(view)
        body.append("</table>")
    if view.places:
        body.append('<h2 id="places">Around each change</h2>')
        body += [_place_section(view, n) for n in range(1, len(view.places) + 1)]
        if view.places_found > len(view.places):
            more = view.places_found - len(view.places)
            body.append(
                f'<p class="note">{more} more places changed; draw them with'
                f" <code>scnn-surgery draw B --against A</code>.</p>"
            )
        body.append(_legend(removed=True))
    body += ["</main>", f"<footer>Written {_written()}.</footer>"]
    title = f"scnn-surgery diff: {PurePath(view.before).name} vs {PurePath(view.after).name}"
    return _page(title, "diff", body)


def _diff_pictures_fact(view: DiffView) -> str:
    if view.pictures_note:
        return "none (see the note below)"
    return (
        f"phase {esc(view.phase)}, {view.context} layers either side of each place that"
        " changed; A on the left, B on the right"
    )
