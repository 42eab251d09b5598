"""The HTML pages: what they hold, that every name is escaped, and how they look and behave
in a real browser (headless Chromium; skipped, with the reason, where it is absent)."""

# The pages write shapes with the multiplication sign; so do the expectations.
# ruff: noqa: RUF001

from __future__ import annotations

import fnmatch
import html
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from scnn_surgery.analysis.compare import diff_nets
from scnn_surgery.batch import BatchReport, Job, Outcome, RunInfo, parse_config
from scnn_surgery.options import InsertOptions
from scnn_surgery.report.changeview import DiffView, diff_view
from scnn_surgery.report.htmlreport import asked_flags, batch_page, diff_page, display_reason
from scnn_surgery.scnn import ScnnSpec, module_cost
from scnn_surgery.surgery import dumps, insert, loads

from ..browser import dump_dom, needs_browser, screenshot
from ..conftest import DATA, REPO_ROOT, RunCli, needs_shared, shared_path, zoo_files, zoo_tree

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot program is not installed"
)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Elements(HTMLParser):
    """Every element of a page with its attributes and the text directly inside it."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.all: list[Element] = []
        self._open: list[Element] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.all.append(element)
        if tag not in ("meta", "input", "wbr", "br", "polygon", "path", "polyline", "ellipse"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[Element]:
        return [e for e in self.all if e.tag == tag and (cls is None or cls in e.classes)]


class Text(HTMLParser):
    """The page's text as a reader sees it, in order (no style sheet, no script)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _texts(page: str) -> str:
    return re.sub(r"\s+", " ", "".join(Text(page).parts))


# --- the batch page, built from outcomes -------------------------------------------------

SPEC = ScnnSpec(36, 100, channels=128, kernel_width=9, bottom="fc7")
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="pic" width="20pt"'
    ' height="10pt" viewBox="0 0 20 10"><g class="graph"><text x="1" y="9">pic</text></g></svg>'
)
WHY = "'fc7' is the last spatial feature map feeding the classifier 'fc8' of output 'prob'"
HOSTILE = 'zoo/<b>&"x\'.prototxt'
SHAPES_REASON = (
    "zoo/seg/fcn.prototxt: found no spatial feature map feeding a classifier (phase TEST):"
    " layer 'data' (zoo/seg/fcn.prototxt:1:1) of type Python (voc_layers.X) has no shape rule,"
    " so shape inference stops there; give their shapes with --shape data=N,C,H,W"
    " --shape label=N,C,H,W"
)
CONVERTED = Outcome(
    "zoo/lane/a.prototxt", "converted", output="out/lane/a.prototxt",
    insertion_point="blob 'fc7' (fc7 -> relu7), module after 'relu7'; rewires fc8",
    shape=(128, 36, 100), point_reason=WHY, placed_after="relu7", spec=SPEC,
    cost=module_cost(SPEC),
    notes=(f"chose insertion point 'fc7' automatically: {WHY}", "inferred 36x100x128"),
    seconds=0.25, picture=SVG,
)
OUTCOMES = (
    CONVERTED,
    Outcome(HOSTILE, "refused", seconds=0.01,
            reason=f"{HOSTILE}: V0 (pre-2014) net; insert with --upgrade to rewrite it as V2"),
    Outcome("zoo/seg/fcn.prototxt", "refused", reason=SHAPES_REASON),
    Outcome("zoo/c.prototxt", "failed", reason="KeyError: '<x>' (at graph.py:1)"),
    Outcome("zoo/d.prototxt", "converted", output="out/d.prototxt", spec=SPEC,
            cost=module_cost(SPEC), placed_after="fc7", picture_note="no picture: dot failed"),
)
BASE = InsertOptions(kernel_width=5)
RULES = parse_config('[models."lane/*"]\ndirections = "DU"\n').rules


def _job(outcome: Outcome, options: InsertOptions = BASE) -> Job:
    output = outcome.source.replace("zoo/", "out/", 1)
    return Job(outcome.source, output, options, picture_context=2)


JOBS = (_job(CONVERTED, InsertOptions(kernel_width=5, directions="DU")),
        *(_job(o) for o in OUTCOMES[1:]))
RUN = RunInfo(("zoo",), "out", BASE, "batch.toml", RULES, JOBS)
REPORT = BatchReport(OUTCOMES, workers=2, seconds=3.5, run=RUN)


def _models(page: str) -> list[Element]:
    return Elements(page).find("tbody", "item")


def test_one_self_contained_page() -> None:
    page = batch_page(REPORT)
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    elements = Elements(page)
    assert len(elements.find("style")) == 1
    assert [e.attrs for e in elements.find("script")] == [{}, {}]  # inline, both
    assert not elements.find("link") and not elements.find("img") and not elements.find("iframe")
    assert not [e for e in elements.all if "src" in e.attrs]
    # The only address is the SVG namespace, which is a name, never fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}


def test_summary_counts_time_and_options() -> None:
    text = _texts(batch_page(REPORT))
    assert "2 converted" in text and "2 refused" in text and "1 failed" in text
    assert "of 5 models in 3.5 s with 2 workers" in text
    assert "--kernel-width 5" in text
    assert "lane/*" in text and "directions = DU" in text  # the config's rule
    assert "--kernel-width 5 --directions DU (from the config)" in text  # a model's own


def test_a_row_per_model_with_its_status() -> None:
    models = _models(batch_page(REPORT))
    assert [m.attrs["data-filter-key"] for m in models] == [o.status for o in OUTCOMES]
    assert [m.attrs["data-name"] for m in models] == [
        "lane/a.prototxt", '<b>&"x\'.prototxt', "seg/fcn.prototxt", "c.prototxt", "d.prototxt",
    ]


def test_a_converted_row_holds_the_point_the_module_and_its_picture() -> None:
    page = batch_page(REPORT)
    elements = Elements(page)
    first = page[page.index('id="model-0"') : page.index('id="model-1"')]
    cells = [e for e in Elements(first).find("td")]
    values = [c.attrs.get("data-value") for c in cells[:9]]
    assert values[:4] == ["lane/a.prototxt", "0", "fc7", str(36 * 100 * 128)]
    text = _texts(first)
    assert "fc7 after relu7" in text and WHY in text
    assert "36×100×128" in text and "808" in text and "589,824" in text
    assert "2.08 G" in text and "20.8 MiB" in text and "0.25 s" in text
    assert "inferred 36x100x128" in text and "automatically" not in text  # no repeated note
    assert len(elements.find("svg")) == 1  # the one model with a picture
    assert "no picture: dot failed" in _texts(page)


def test_a_refusal_shows_its_reason_and_the_flags_it_asks_for() -> None:
    page = batch_page(REPORT)
    text = _texts(page)
    assert "V0 (pre-2014) net; insert with --upgrade" in text
    assert "(fcn.prototxt:1:1)" in text  # the path shortened where it names a line
    codes = ["".join(e.text) for e in Elements(page).find("code")]
    assert "--upgrade" in codes
    assert "--shape data=N,C,H,W" in codes and "--shape label=N,C,H,W" in codes
    assert "KeyError: '<x>' (at graph.py:1)" in text


def test_every_name_is_escaped() -> None:
    page = batch_page(REPORT)
    assert '<b>&"x' not in page and "'<x>'" not in page
    assert "&lt;b&gt;&amp;&quot;x&#x27;.prototxt" in page
    assert '<b>&"x\'.prototxt' in _texts(page)  # and reads back as it was


def test_an_interrupted_run_says_how_far_it_got() -> None:
    report = BatchReport(OUTCOMES[:2], workers=1, seconds=1.0, run=RUN)
    assert "2 of 5 models (the run was stopped)" in _texts(batch_page(report))


def test_without_dot_the_page_is_the_table_with_a_note() -> None:
    note = "Graphviz's 'dot' program was not found, so the pictures are left out"
    run = RunInfo(("zoo",), "out", BASE, jobs=JOBS, pictures_note=note)
    outcomes = tuple(Outcome(o.source, o.status, reason=o.reason) for o in OUTCOMES)
    page = batch_page(BatchReport(outcomes, workers=2, seconds=1.0, run=run))
    assert "<svg" not in page and note in _texts(page)
    assert len(_models(page)) == len(OUTCOMES)


def test_a_report_without_run_details_still_renders() -> None:
    page = batch_page(BatchReport(OUTCOMES, workers=1, seconds=0.5))
    assert _models(page)[0].attrs["data-name"] == "lane/a.prototxt"


@pytest.mark.parametrize(
    ("reason", "flags"),
    [
        ("X: V0 (pre-2014) net; insert with --upgrade to rewrite it as V2 first", ["--upgrade"]),
        ("X: the net already has an SCNN module (...); give --prefix to add another",
         ["--prefix TEXT"]),
        ("give it with --shape data=N,C,H,W", ["--shape data=N,C,H,W"]),
        (SHAPES_REASON, ["--shape data=N,C,H,W", "--shape label=N,C,H,W"]),
        ("insert --reduce-channels 128 maps the blob", ["--reduce-channels 128"]),
        ("choose a blob every phase produces, or one phase with --phase", ["--phase TRAIN|TEST"]),
        ("--height 45 where inference says 46", ["--height 45"]),
        ("no flag here; --frobnicate is not ours", []),
    ],
)
def test_asked_flags(reason: str, flags: list[str]) -> None:
    assert asked_flags(reason) == flags


def test_display_reason() -> None:
    assert display_reason("a/b.prototxt: V0 net", "a/b.prototxt", "b.prototxt") == "V0 net"
    assert display_reason("a/b.prototxt:3:4: bad", "a/b.prototxt", "b.prototxt") == (
        "b.prototxt:3:4: bad"
    )
    assert display_reason("KeyError: 'x'", "a/b.prototxt", "b.prototxt") == "KeyError: 'x'"


# --- the diff page ---------------------------------------------------------------------

NET = """name: "n"
input: "data"
input_shape { dim: 1 dim: 8 dim: 6 dim: 5 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "feat"
        convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "relu" type: "ReLU" bottom: "feat" top: "feat" }
layer { name: "head<&>" type: "Convolution" bottom: "feat" top: "out"
        convolution_param { num_output: 2 kernel_size: 1 } }
"""


def _diff_view() -> DiffView:
    """A module inserted, and the head's width changed too."""
    before = loads(NET, "a.prototxt")
    inserted = dumps(insert(before, InsertOptions(kernel_width=3)).net)
    after = loads(inserted.replace("num_output: 2", "num_output: 3"), "b.prototxt")
    names = ("a.prototxt", "<b>.prototxt")
    return diff_view(names, (before, after), diff_nets(before, after), None)


def test_diff_page_lists_every_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    page = diff_page(_diff_view())
    entries = Elements(page).find("tbody", "item")
    assert [e.attrs["data-filter-key"] for e in entries] == ["module", "layer", "rewired", "shape"]
    text = _texts(page)
    assert "1 module added, 1 layer changed, 1 bottom rewired, 1 blob shape changed" in text
    assert "convolution_param.num_output" in text and "head<&> (Convolution)" in text
    assert "&lt;b&gt;.prototxt" in page and "<b>.prototxt" not in page
    assert "'dot' program was not found" in text and "<svg" not in page


@needs_dot
def test_diff_page_draws_both_nets_around_each_place() -> None:
    view = _diff_view()
    page = diff_page(view)
    places = Elements(page).find("section", "place")
    assert len(places) == len(view.places) == 1
    assert page.count("<svg") == 2
    links = [e.attrs["href"] for e in Elements(page).find("a")]
    assert links == ["#place-1"] * 3  # module, layer and rewire: the shape has no picture


def test_diff_page_of_equal_nets() -> None:
    net = loads(NET)
    page = diff_page(diff_view(("a", "b"), (net, net), diff_nets(net, net), None))
    assert "The nets do not differ." in _texts(page) and "<svg" not in page


# --- in a real browser -------------------------------------------------------------------


def _make_batch_tree(root: Path) -> tuple[Path, Path]:
    """Three converted models of different sizes, one without the layer asked for, and one
    that does not parse."""
    src = root / "src"
    net = (DATA / "phases_inplace.prototxt").read_text()
    for name in ("d/one.prototxt", "du/two.prototxt", "dulr/three.prototxt"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(net)
    (src / "no_conv1.prototxt").write_text(NET)
    (src / "broken <&>.prototxt").write_text("layer {\n")
    config = root / "batch.toml"
    config.write_text('[models."d/*"]\ndirections = "D"\n[models."du/*"]\ndirections = "DU"\n')
    return src, config


def _batch_page(tmp_path: Path, run_cli: RunCli) -> Path:
    src, config = _make_batch_tree(tmp_path)
    report = tmp_path / "report.html"
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--report",
                           str(report), "--config", str(config), "--after", "conv1",
                           "--kernel-width", "3")
    assert code == 1 and report.is_file(), err
    return report


def _colours(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    return len(colours)


def _has_colour(png: Path, rgb: tuple[int, int, int]) -> bool:
    from PIL import Image

    with Image.open(png) as image:
        return any(c == rgb for _, c in image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


@needs_browser
def test_batch_page_in_a_browser(tmp_path: Path, run_cli: RunCli) -> None:
    page = _batch_page(tmp_path, run_cli)
    dom = Elements(dump_dom(page))
    models = dom.find("tbody", "item")
    statuses = [m.attrs["data-filter-key"] for m in models]
    assert sorted(statuses) == ["converted"] * 3 + ["refused"] * 2
    assert [e.attrs["value"] for e in dom.find("input") if "data-filter" in e.attrs] == [
        "converted", "refused", "failed",
    ]
    assert "".join(next(e for e in dom.all if e.attrs.get("id") == "shown").text) == (
        "5 of 5 shown"  # written by the page's script: it ran
    )
    svgs = len(dom.find("svg"))
    assert svgs == (3 if shutil.which("dot") else 0)
    png = screenshot(page, tmp_path / "batch.png", fragment="#open=model-0")
    assert _colours(png) > 50  # text, badges, a picture: not a blank page
    assert _has_colour(png, (0xC9, 0xEF, 0xC4))  # a "converted" badge's green


SCRIPTED = """<script>
(function () {
  function ids() {
    return Array.prototype.map.call(document.querySelectorAll("#models tbody.item"),
      function (item) { return item.getAttribute("data-name"); });
  }
  var out = {};
  var headers = document.querySelectorAll("#models thead th button");
  headers[4].click();  out.layersUp = ids();
  headers[4].click();  out.layersDown = ids();
  headers[0].click();  out.byName = ids();
  document.querySelector('input[data-filter][value="refused"]').click();
  out.afterStatus = document.getElementById("shown").textContent;
  var search = document.getElementById("filter-text");
  search.value = "THR";  search.dispatchEvent(new Event("input"));
  out.afterSearch = document.getElementById("shown").textContent;
  var first = document.querySelector("#models tbody.item:not([hidden]) tr.head-row td");
  first.click();
  out.opened = Array.prototype.map.call(document.querySelectorAll("tbody.item.open"),
    function (item) { return item.getAttribute("data-name"); });
  document.body.setAttribute("data-result", JSON.stringify(out));
})();
</script>
</body>"""


@needs_browser
def test_batch_page_sorts_filters_and_opens_in_a_browser(tmp_path: Path, run_cli: RunCli) -> None:
    page = _batch_page(tmp_path, run_cli)
    scripted = tmp_path / "scripted.html"
    scripted.write_text(page.read_text().replace("</body>", SCRIPTED))
    body = next(e for e in Elements(dump_dom(scripted)).all if e.tag == "body")
    result = json.loads(html.unescape(body.attrs["data-result"]))
    converted = ["d/one.prototxt", "du/two.prototxt", "dulr/three.prototxt"]  # D < DU < DULR
    assert result["layersUp"][:3] == converted  # refusals have no layers: last either way
    assert result["layersDown"][:3] == converted[::-1]
    assert result["byName"] == sorted(result["byName"], key=str.lower)
    assert result["afterStatus"] == "3 of 5 shown"
    assert result["afterSearch"] == "1 of 5 shown"  # "three": names match in any case
    assert result["opened"] == ["dulr/three.prototxt"]


@needs_browser
@needs_shared
def test_diff_page_in_a_browser(tmp_path: Path, run_cli: RunCli) -> None:
    before = shared_path("golden", "resnet101.prototxt")
    after = shared_path("golden", "resnet101_SCNN.prototxt")
    page = tmp_path / "diff.html"
    code, _, err = run_cli("diff", str(before), str(after), "--html", str(page))
    assert code == 1, err
    dom = Elements(dump_dom(page))
    assert [e.attrs["data-filter-key"] for e in dom.find("tbody", "item")] == [
        "module", "rewired",
    ]
    if shutil.which("dot"):
        assert len(dom.find("div", "pair")) == 1
        assert len(dom.find("figure")) == 2 and len(dom.find("svg")) == 2
    png = screenshot(page, tmp_path / "diff.png", size="1280,1400")
    assert _colours(png) > 50


@needs_browser
@needs_dot
def test_the_zoo_on_one_page(tmp_path: Path, run_cli: RunCli) -> None:
    page = tmp_path / "zoo.html"
    code, _, err = run_cli("batch", str(zoo_tree(tmp_path / "zoo")), "-o", str(tmp_path / "out"),
                           "--report", str(page))
    assert code == 1 and "Traceback" not in err
    assert page.stat().st_size < 3 * 2**20  # "under a few MB"; about 0.4 MB today
    dom = Elements(dump_dom(page))
    models = dom.find("tbody", "item")
    assert len(models) == len(zoo_files())
    converted = [m for m in models if m.attrs["data-filter-key"] == "converted"]
    assert len(dom.find("svg")) == len(converted) > len(models) // 2


@needs_browser
def test_the_readme_screenshot_script(tmp_path: Path) -> None:
    import runpy

    page = tmp_path / "report.html"
    page.write_text(batch_page(REPORT), encoding="utf-8")
    script = runpy.run_path(str(REPO_ROOT / "scripts" / "report_screenshot.py"))
    target = tmp_path / "shot.png"
    assert script["main"]([str(page), str(target)]) == 0
    assert _colours(target) > 50 and _has_colour(target, (0xC9, 0xEF, 0xC4))


def test_the_page_assets_are_package_data() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["scnn_surgery"]
    assets = sorted((REPO_ROOT / "scnn_surgery" / "report" / "htmlassets").iterdir())
    assert [a.name for a in assets] == ["report.css", "report.js"]
    for asset in assets:
        relative = asset.relative_to(REPO_ROOT / "scnn_surgery").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


@needs_dot
@pytest.mark.parametrize("verb", ["splice", "strip"])
def test_batch_page_of_another_verb(tmp_path: Path, run_cli: RunCli, verb: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    model = (
        shared_path("zoo", "deploy", "resnet50_deploy.prototxt")
        if verb == "splice"
        else REPO_ROOT / "examples" / "scnn_lane_vgg16_SCNN.prototxt"
    )
    (src / "net.prototxt").write_bytes(model.read_bytes())
    report = tmp_path / "report.html"
    extra = ["--fragment", str(DATA / "se_block.prototxt"), "--after", "res5c"]
    code, _, err = run_cli("batch", str(src), "-o", str(tmp_path / "out"), "--verb", verb,
                           "--report", str(report), *(extra if verb == "splice" else []))
    assert code == 0, err
    page = report.read_text()
    text = _texts(page)
    assert f"scnn-surgery {verb}" in text
    assert ("spliced 7 layers" if verb == "splice" else "stripped SCNN module") in text
    assert len(Elements(page).find("svg")) == 1
    if verb == "splice":  # the fragment's layers are drawn as added
        assert "se/excite" in html.unescape(page) and "#c9efc4" in page
    assert "no picture" not in text


@needs_dot
def test_diff_page_lists_a_spliced_fragment_and_draws_it() -> None:
    from scnn_surgery.surgery import SpliceOptions, splice

    before = loads(shared_path("zoo", "deploy", "resnet50_deploy.prototxt").read_text(), "a")
    fragment = loads((DATA / "se_block.prototxt").read_text(), "se_block.prototxt")
    after = loads(dumps(splice(before, fragment, SpliceOptions(after="res5c")).net), "b")
    page = diff_page(diff_view(("a", "b"), (before, after), diff_nets(before, after), None))
    entries = Elements(page).find("tbody", "item")
    assert [e.attrs["data-filter-key"] for e in entries] == ["fragment", "rewired"]
    text = _texts(page)
    assert "7 layers se/squeeze..se/excite, after res5c_relu, output se/out" in text
    assert len(Elements(page).find("svg")) >= 2 and "#c9efc4" in page  # drawn, added green


LONG_NAME = "n" * 5000
RLO = "evil\u202eabc"
HOSTILE_BEFORE = """\
name: "hostile"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"
        inner_product_param { num_output: 2 } }
"""
HOSTILE_AFTER = HOSTILE_BEFORE.replace(
    'layer { name: "fc"',
    f'layer {{ name: "{LONG_NAME}" type: "ReLU" bottom: "conv" top: "conv" }}\n'
    f'layer {{ name: "{RLO}" type: "ReLU" bottom: "conv" top: "conv" }}\nlayer {{ name: "fc"',
)


def _hostile_page() -> str:
    before, after = loads(HOSTILE_BEFORE, "a"), loads(HOSTILE_AFTER, "b")
    return diff_page(diff_view(("a", "b"), (before, after), diff_nets(before, after), None))


MEASURE = """<script>
window.addEventListener("load", () => {
  const svgs = [...document.querySelectorAll("figure svg")]
    .map(s => s.getBoundingClientRect().width);
  document.body.setAttribute("data-measure", JSON.stringify({
    page: document.documentElement.scrollWidth, view: window.innerWidth, svgs: svgs}));
});
</script></body>"""


def test_long_and_right_to_left_names_neither_push_nor_reverse_the_page() -> None:
    """Bidi controls are shown as escapes, and the stylesheet wraps and isolates names."""
    page = _hostile_page()
    assert "\u202e" not in page and "evil\\u202eabc" in page
    css = (REPO_ROOT / "scnn_surgery" / "report" / "htmlassets" / "report.css").read_text()
    assert "overflow-wrap: anywhere" in css and "unicode-bidi: isolate" in css
    assert "grid-template-columns: minmax(0, 1fr) minmax(0, 1fr)" in css


@needs_browser
@pytest.mark.skipif(shutil.which("dot") is None, reason="no Graphviz dot for the pictures")
def test_a_5000_character_name_keeps_the_diff_page_and_its_pictures_in_a_browser(
    tmp_path: Path,
) -> None:
    page = tmp_path / "diff.html"
    page.write_text(_hostile_page().replace("</body>", MEASURE, 1))
    dom = dump_dom(page)
    [measured] = re.findall(r'data-measure="([^"]*)"', dom)
    sizes = json.loads(html.unescape(measured))
    assert sizes["page"] <= sizes["view"] + 1, sizes  # nothing pushed off-screen
    assert sizes["svgs"] and min(sizes["svgs"]) > 100, sizes  # no picture shrunk to a line
