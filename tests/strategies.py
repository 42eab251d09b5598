"""Hypothesis strategies: random valid Caffe nets written as prototxt text, and the
profiles the suites run under.

A net is built as a list of :class:`GenLayer` values while the generator tracks every
blob's shape with Caffe's formulas (written out again here, independently of
``scnn_surgery.analysis.shapes``), then rendered to text in a drawn :class:`Style`: V1 or V2,
indentation of 2 or 4 spaces or a tab, LF or CRLF, comments, blank lines, quotes, one-line
or expanded layers. The blobs ``insert`` can take (a spatial map every phase produces with
the same C, H and W) are listed as the net's ``points``.

Profiles: ``ci`` (the default) is derandomized (a fixed seed), has no deadline and no
example database, so ``make test`` and CI run the same examples every time; ``dev``
(``SCNN_SURGERY_HYPOTHESIS=dev``) draws new examples each run and keeps failures in
``.hypothesis/`` for local exploration; ``SCNN_SURGERY_HYPOTHESIS_SCALE=10`` runs ten times
as many examples.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE_ENV = "SCNN_SURGERY_HYPOTHESIS"
PROFILES = ("ci", "dev")


def register_profiles() -> str:
    """Register the profiles and load the one ``SCNN_SURGERY_HYPOTHESIS`` names."""
    # too_slow is a timing check, and this machine's load is nobody's test result
    quiet = [HealthCheck.too_slow]
    settings.register_profile(
        "ci", derandomize=True, deadline=None, print_blob=True, database=None,
        suppress_health_check=quiet,
    )
    settings.register_profile(
        "dev", derandomize=False, deadline=None, print_blob=True, suppress_health_check=quiet
    )
    chosen = os.environ.get(PROFILE_ENV) or "ci"
    if chosen not in PROFILES:
        raise RuntimeError(f"{PROFILE_ENV}={chosen!r}: use one of {', '.join(PROFILES)}")
    settings.load_profile(chosen)
    return chosen


# How many examples each Hypothesis test asks for; the issue asks for >= 1,000 a run.
BUDGETS: dict[str, int] = {
    "test_generated_nets_are_valid_with_the_generators_shapes": 120,
    "test_insert_output_is_valid_by_caffes_rules": 150,
    "test_strip_of_insert_gives_the_input_back_byte_for_byte": 120,
    "test_diff_of_insert_is_one_module_and_its_rewires": 120,
    "test_automatic_point_insert_is_valid": 60,
    "test_remove_of_an_in_place_layer_cuts_its_lines_only": 100,
    "test_upgrade_equals_caffes_upgrade": 100,
    "test_every_command_on_a_mutated_zoo_net": 150,
    "test_every_command_on_a_mutated_generated_net": 150,
    "test_generated_nets_export_and_match_opencv": 25,
    "test_rename_then_its_inverse_gives_the_input_back": 60,
}

# Examples that ran to the end, per test: conftest's terminal summary prints them.
EXAMPLES_RUN: Counter[str] = Counter()

P = ParamSpec("P")
R = TypeVar("R")


def counted(test: Callable[P, R]) -> Callable[P, R]:
    """Count the examples of ``test`` that passed (put it under ``@given``)."""

    @wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        result = test(*args, **kwargs)
        EXAMPLES_RUN[test.__name__] += 1
        return result

    return run


SCALE_ENV = "SCNN_SURGERY_HYPOTHESIS_SCALE"


def budget(test_name: str) -> int:
    """The test's examples, times ``SCNN_SURGERY_HYPOTHESIS_SCALE`` (default 1) for a
    longer local search."""
    return max(1, round(BUDGETS[test_name] * float(os.environ.get(SCALE_ENV) or 1)))


# ---------------------------------------------------------------------------
# The net model


class Enum(str):
    """An enum word, written without quotes."""


class Raw(str):
    """A number written exactly so (``1.0``, ``1e0``)."""


Value = Any  # str (a quoted string), int, float, Enum, Raw, or a nested Block
Block = tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class GenLayer:
    name: str
    type: str  # the V2 type name
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: Block = ()
    phase_rule: tuple[str, str] | None = None  # ("include" | "exclude", "TRAIN" | "TEST")

    @property
    def in_place(self) -> bool:
        return bool(self.tops) and self.tops == self.bottoms[: len(self.tops)]

    def in_phase(self, phase: str) -> bool:
        if self.phase_rule is None:
            return True
        kind, rule_phase = self.phase_rule
        return (rule_phase == phase) == (kind == "include")


Chw = tuple[int, int, int]


@dataclass(frozen=True)
class Blob:
    name: str
    chw: Chw


@dataclass(frozen=True)
class GenInput:
    """A top-level ``input:`` with its dims (``input_dim`` or ``input_shape``)."""

    name: str
    dims: tuple[int, ...]
    as_shape: bool


@dataclass(frozen=True)
class GenNet:
    format: str  # "v1" | "v2"
    name: str | None
    inputs: tuple[GenInput, ...]
    layers: tuple[GenLayer, ...]
    # The final shape (without the batch) of every blob every phase produces alike.
    shapes: dict[str, tuple[int, ...]]
    batch: dict[str, int]  # phase -> N
    points: tuple[str, ...]  # blobs insert can take, as --after names
    train_test: bool
    auto_friendly: bool  # one head, a spatial map feeding its classifier


@dataclass(frozen=True)
class Style:
    indent: str
    newline: str
    quote_single: frozenset[int]  # indices of strings written in single quotes
    compact: frozenset[int]  # layers written on one line
    inline_params: bool
    comments: frozenset[int]  # layers followed by a comment line
    trailing: frozenset[int]  # layers with a trailing comment on their first line
    blank: frozenset[int]  # layers followed by a blank line
    header_comment: bool
    final_newline: bool
    colon_blocks: bool  # write "convolution_param: {" (valid text format)
    top_first: frozenset[int]  # layers that list their top before their bottom
    comment_text: str
    same_line: frozenset[int] = frozenset()  # layers followed by the next on their line
    fancy: frozenset[int] = frozenset()  # layers whose name and tops use escapes
    fancy_kind: str = "octal"  # "octal" | "hex" | "split" (adjacent strings)
    odd_ints: frozenset[int] = frozenset()  # layers whose numbers are hex or octal
    exp_floats: bool = False  # floats as 5e-01, .5
    field_comments: frozenset[int] = frozenset()  # layers with a comment after each bottom
    trailer: bool = False  # a net-level field after the layers

    def joins_next(self, index: int) -> bool:
        """Whether layer ``index`` is followed by the next one on its last line."""
        return index in self.same_line and not (
            {index} & (self.trailing | self.comments | self.blank)
        )

    def owns_lines(self, index: int) -> bool:
        return not (self.joins_next(index) or self.joins_next(index - 1))


@dataclass(frozen=True)
class Written:
    """A generated net and its text."""

    net: GenNet
    style: Style
    text: str

    @property
    def data(self) -> bytes:
        return self.text.encode("utf-8")


# ---------------------------------------------------------------------------
# Caffe's size formulas (conv_layer.cpp, pooling_layer.cpp), written out independently


def conv_out(size: int, kernel: int, pad: int, stride: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def deconv_out(size: int, kernel: int, pad: int, stride: int, dilation: int = 1) -> int:
    return stride * (size - 1) + dilation * (kernel - 1) + 1 - 2 * pad


def dilated_out(size: int, kernel: int, pad: int, stride: int, dilation: int) -> int:
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def pool_out(size: int, kernel: int, pad: int, stride: int) -> int:
    pooled = -(-(size + 2 * pad - kernel) // stride) + 1  # ceil
    if pad and (pooled - 1) * stride >= size + pad:
        pooled -= 1  # the last pooling window must start inside the image
    return pooled


V1_TYPES = {
    "Convolution": "CONVOLUTION",
    "ReLU": "RELU",
    "TanH": "TANH",
    "Sigmoid": "SIGMOID",
    "Pooling": "POOLING",
    "Dropout": "DROPOUT",
    "Eltwise": "ELTWISE",
    "Concat": "CONCAT",
    "InnerProduct": "INNER_PRODUCT",
    "Softmax": "SOFTMAX",
    "SoftmaxWithLoss": "SOFTMAX_LOSS",
    "DummyData": "DUMMY_DATA",
    "Deconvolution": "DECONVOLUTION",
    "Split": "SPLIT",
    "Slice": "SLICE",
    "LRN": "LRN",
    "Power": "POWER",
    "AbsVal": "ABSVAL",
    "BNLL": "BNLL",
    "Flatten": "FLATTEN",
}


# ---------------------------------------------------------------------------
# Building a net


def shape_block(dims: Sequence[int]) -> Value:
    return tuple(("dim", d) for d in dims)


class _Builder:
    """Appends layers while tracking shapes; ``draw`` is Hypothesis's."""

    def __init__(self, draw: st.DrawFn, fmt: str, train_test: bool, collide: bool) -> None:
        self.draw = draw
        self.fmt = fmt
        self.train_test = train_test
        self.collide = collide
        self.layers: list[GenLayer] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.points: list[str] = []
        self.count = 0
        self.joins = 0

    def number(self) -> int:
        self.count += 1
        return self.count

    def add(self, layer: GenLayer) -> None:
        self.layers.append(layer)

    def produce(self, layer: GenLayer, chw: Chw) -> Blob:
        self.add(layer)
        top = layer.tops[0]
        self.shapes[top] = chw
        return Blob(top, chw)

    def phase_rule(self, chance: bool) -> tuple[str, str] | None:
        if not (self.train_test and chance):
            return None
        kinds = [(kind, phase) for kind in ("include", "exclude") for phase in ("TRAIN", "TEST")]
        return self.draw(st.sampled_from(kinds))

    # -- in-place chains ---------------------------------------------------------

    def in_place_chain(self, blob: Blob) -> None:
        ops = ["ReLU", "Dropout", "TanH"] + (["BatchNorm"] if self.fmt == "v2" else [])
        for op in self.draw(st.lists(st.sampled_from(ops), max_size=3)):
            n = self.number()
            rule = self.phase_rule(self.draw(st.booleans()))
            if op == "ReLU":
                params: Block = ()
                if self.draw(st.booleans()):
                    params = (("relu_param", (("negative_slope", Raw("0.1")),)),)
                # Caffe's name is optional: an unnamed layer is '#N' to the tool
                name = "" if self.draw(st.integers(0, 9)) == 0 else f"relu{n}"
                self.add(GenLayer(name, "ReLU", (blob.name,), (blob.name,), params, rule))
            elif op == "Dropout":
                params = (("dropout_param", (("dropout_ratio", Raw("0.5")),)),)
                rule = rule or (("include", "TRAIN") if self.train_test else None)
                self.add(GenLayer(f"drop{n}", "Dropout", (blob.name,), (blob.name,), params, rule))
            elif op == "TanH":
                self.add(GenLayer(f"tanh{n}", "TanH", (blob.name,), (blob.name,), (), rule))
            else:
                bn: Block = (("batch_norm_param", (("use_global_stats", Enum("true")),)),)
                if self.draw(st.booleans()):  # the statistics' three blobs (upgrade fixes them)
                    bn = (("param", (("lr_mult", 0),)),) * 3 + bn
                self.add(GenLayer(f"bn{n}", "BatchNorm", (blob.name,), (blob.name,), bn, rule))
                scale = (("scale_param", (("bias_term", Enum("true")),)),)
                self.add(GenLayer(f"scale{n}", "Scale", (blob.name,), (blob.name,), scale, rule))

    # -- producers ----------------------------------------------------------------

    def conv(
        self,
        bottom: Blob,
        *,
        same: bool = False,
        channels: int | None = None,
        kernel: int | None = None,
        share: str | None = None,
    ) -> Blob:
        c, h, w = bottom.chw
        n = self.number()
        out_c = channels if channels is not None else self.draw(st.integers(1, 16))
        if same:
            kh = kw = kernel or self.draw(st.sampled_from([1, 3]))
            ph, pw, sh, sw = kh // 2, kw // 2, 1, 1
        else:
            kh = self.draw(st.sampled_from([k for k in (1, 2, 3) if k <= h + 2]))
            kw = self.draw(st.sampled_from([k for k in (1, 2, 3) if k <= w + 2]))
            ph = self.draw(st.integers(0, min(kh - 1, 1)))
            pw = self.draw(st.integers(0, min(kw - 1, 1)))
            sh = self.draw(st.sampled_from([1, 2])) if h >= 6 else 1
            sw = self.draw(st.sampled_from([1, 2])) if w >= 6 else 1
            if h + 2 * ph < kh:
                ph = (kh - h + 1) // 2
            if w + 2 * pw < kw:
                pw = (kw - w + 1) // 2
        fields: list[tuple[str, Value]] = [("num_output", out_c)]
        fields += _pair("kernel", kh, kw) + _pair("pad", ph, pw, skip_zero=True)
        fields += _pair("stride", sh, sw, skip_one=True)
        if self.draw(st.booleans()):
            fields.append(("weight_filler", (("type", "msra"),)))
        if share is None and out_c % 2 == c % 2 == 0 and self.draw(st.integers(0, 5)) == 0:
            fields.append(("group", 2))
        name = f"conv{n}"
        params: Block = (("convolution_param", tuple(fields)),)
        if share is not None:  # Caffe shares blobs by param name
            if self.fmt == "v1":
                params = (("param", f"{share}_w"), ("param", f"{share}_b"),
                          ("blobs_lr", Raw("1")), ("blobs_lr", Raw("2")), *params)
            else:
                params = (("param", (("name", f"{share}_w"), ("lr_mult", Raw("1")))),
                          ("param", (("name", f"{share}_b"), ("lr_mult", Raw("2")))), *params)
        layer = GenLayer(name, "Convolution", (bottom.name,), (name,), params)
        out = (out_c, conv_out(h, kh, ph, sh), conv_out(w, kw, pw, sw))
        return self.produce(layer, out)

    def pool(self, bottom: Blob) -> Blob:
        c, h, w = bottom.chw
        n = self.number()
        kernel = self.draw(st.sampled_from([k for k in (2, 3) if k <= min(h, w)] or [1]))
        stride = self.draw(st.sampled_from([1, 2]))
        pad = self.draw(st.integers(0, min(1, kernel - 1)))
        method = self.draw(st.sampled_from(["MAX", "AVE"]))
        fields = (("pool", Enum(method)), ("kernel_size", kernel), ("stride", stride))
        if pad:
            fields += (("pad", pad),)
        name = f"pool{n}"
        layer = GenLayer(name, "Pooling", (bottom.name,), (name,), (("pooling_param", fields),))
        out = (c, pool_out(h, kernel, pad, stride), pool_out(w, kernel, pad, stride))
        return self.produce(layer, out)

    def deconv(self, bottom: Blob) -> Blob:
        _, h, w = bottom.chw
        n = self.number()
        out_c = self.draw(st.integers(1, 16))
        kernel = self.draw(st.sampled_from([1, 2, 3, 4]))
        stride = self.draw(st.sampled_from([1, 2])) if max(h, w) <= 8 else 1
        pad = self.draw(st.integers(0, (kernel - 1) // 2))
        out_h, out_w = deconv_out(h, kernel, pad, stride), deconv_out(w, kernel, pad, stride)
        fields: Block = (("num_output", out_c), ("kernel_size", kernel), ("stride", stride))
        fields += (("pad", pad),) if pad else ()
        name = f"deconv{n}"
        layer = GenLayer(name, "Deconvolution", (bottom.name,), (name,),
                         (("convolution_param", fields),))
        return self.produce(layer, (out_c, out_h, out_w))

    def dilated(self, bottom: Blob) -> Blob:
        """A 3x3 convolution with dilation 2 (padded to keep the map when it is small)."""
        _, h, w = bottom.chw
        n = self.number()
        out_c = self.draw(st.integers(1, 16))
        pad = self.draw(st.sampled_from([1, 2])) if min(h, w) >= 3 else 2
        fields: Block = (("num_output", out_c), ("kernel_size", 3), ("pad", pad),
                         ("dilation", 2))
        name = f"dil{n}"
        layer = GenLayer(name, "Convolution", (bottom.name,), (name,),
                         (("convolution_param", fields),))
        return self.produce(layer, (out_c, dilated_out(h, 3, pad, 1, 2),
                                    dilated_out(w, 3, pad, 1, 2)))

    def split(self, bottom: Blob) -> Blob:
        """A Split into two copies, joined again."""
        n = self.number()
        tops = (f"split{n}_a", f"split{n}_b")
        self.add(GenLayer(f"split{n}", "Split", (bottom.name,), tops))
        for top in tops:
            self.shapes[top] = bottom.chw
        a, b = (Blob(t, bottom.chw) for t in tops)
        return self.join(self.draw(st.sampled_from(["Eltwise", "Concat"])), a, b)

    def slice(self, bottom: Blob) -> Blob:
        """Channels sliced in two and concatenated the other way round."""
        c, h, w = bottom.chw
        if c < 2:
            return self.elementwise(bottom)
        n = self.number()
        point = self.draw(st.integers(1, c - 1))
        axis: Block = (("slice_dim", 1),) if self.fmt == "v1" else (("axis", 1),)
        tops = (f"slice{n}_a", f"slice{n}_b")
        params = (("slice_param", (*axis, ("slice_point", point))),)
        self.add(GenLayer(f"slice{n}", "Slice", (bottom.name,), tops, params))
        a, b = Blob(tops[0], (point, h, w)), Blob(tops[1], (c - point, h, w))
        for blob in (a, b):
            self.shapes[blob.name] = blob.chw
        return self.join("Concat", b, a)

    def crop(self, bottom: Blob) -> Blob:
        """A padded 1x1 convolution makes a larger map; Crop cuts it to ``bottom``'s H, W."""
        _, h, w = bottom.chw
        grown = self.number()
        pad = self.draw(st.integers(1, 2))
        out_c = self.draw(st.integers(1, 16))
        big = self.produce(
            GenLayer(f"grow{grown}", "Convolution", (bottom.name,), (f"grow{grown}",),
                     (("convolution_param", (("num_output", out_c), ("kernel_size", 1),
                                             ("pad", pad))),)),
            (out_c, h + 2 * pad, w + 2 * pad),
        )
        n = self.number()
        offset = self.draw(st.integers(0, 2 * pad))
        fields: Block = (("axis", 2), ("offset", offset)) if self.draw(st.booleans()) else (
            ("offset", offset),)  # axis 2 is the default
        layer = GenLayer(f"crop{n}", "Crop", (big.name, bottom.name), (f"crop{n}",),
                         (("crop_param", fields),))
        return self.produce(layer, (out_c, h, w))

    def elementwise(self, bottom: Blob) -> Blob:
        """A layer that keeps the shape and works out of place: LRN, Power, AbsVal, BNLL."""
        n = self.number()
        kind = self.draw(st.sampled_from(["LRN", "Power", "AbsVal", "BNLL"]))
        params: Block = ()
        if kind == "LRN":
            region = self.draw(st.sampled_from(["ACROSS_CHANNELS", "WITHIN_CHANNEL"]))
            params = (("lrn_param", (("local_size", self.draw(st.sampled_from([1, 3, 5]))),
                                     ("norm_region", Enum(region)))),)
        elif kind == "Power":
            params = (("power_param", (("power", Raw("2")), ("scale", Raw("0.5")))),)
        name = f"{kind.lower()}{n}"
        return self.produce(GenLayer(name, kind, (bottom.name,), (name,), params), bottom.chw)

    def three_way(self, bottom: Blob) -> Blob:
        """Three convolutions joined by one Eltwise."""
        c = self.draw(st.integers(1, 16))
        branches = [self.conv(bottom, same=True, channels=c) for _ in range(3)]
        name = self.join_name("Eltwise")
        return self.produce(
            GenLayer(name, "Eltwise", tuple(x.name for x in branches), (name,)), branches[0].chw
        )

    def concat_spatial(self, bottom: Blob) -> Blob:
        """Two convolutions concatenated along H (axis 2) or W (axis 3)."""
        axis = self.draw(st.sampled_from([2, 3]))
        c = self.draw(st.integers(1, 16))
        a = self.conv(bottom, same=True, channels=c)
        b = self.conv(bottom, same=True, channels=c)
        name = self.join_name("Concat")
        field = ("concat_dim", axis) if self.fmt == "v1" else ("axis", axis)
        chw = list(a.chw)
        chw[axis - 1] += b.chw[axis - 1]
        return self.produce(
            GenLayer(name, "Concat", (a.name, b.name), (name,), (("concat_param", (field,)),)),
            (chw[0], chw[1], chw[2]),
        )

    def join_name(self, kind: str) -> str:
        self.joins += 1
        if self.collide:  # the module's own names: insert must choose a prefix
            return "SCNN" if self.joins == 2 else f"Concat{self.joins}"
        return f"{kind.lower()}{self.number()}"

    def branches(self, bottom: Blob, kind: str) -> Blob:
        """Two convolutions of ``bottom`` (each with its in-place chain) joined by an
        Eltwise (equal shapes) or a Concat (along channels)."""
        c1 = self.draw(st.integers(1, 16))
        c2 = c1 if kind == "Eltwise" else self.draw(st.integers(1, 16))
        share = None
        kernel = self.draw(st.sampled_from([1, 3]))
        if kind == "Eltwise" and self.draw(st.booleans()):
            share = f"shared{self.count}"  # both branches one convolution's weights
        a = self.conv(bottom, same=True, channels=c1, kernel=kernel, share=share)
        self.in_place_chain(a)
        b = self.conv(bottom, same=True, channels=c2, kernel=kernel if share else None,
                      share=share)
        self.in_place_chain(b)
        return self.join(kind, a, b)

    def residual(self, bottom: Blob) -> Blob:
        branch = self.conv(bottom, same=True, channels=bottom.chw[0])
        self.in_place_chain(branch)
        return self.join("Eltwise", bottom, branch)

    def peek(self, bottom: Blob) -> Blob:
        """A map read before its in-place chain by a side layer that joins it again after:
        consumers of an earlier version of the map."""
        conv = self.conv(bottom)
        n = self.number()
        kind = self.draw(st.sampled_from(["TanH", "Sigmoid"]))
        side = self.produce(
            GenLayer(f"peek{n}", kind, (conv.name,), (f"peek{n}",)), conv.chw
        )
        self.in_place_chain(conv)
        return self.join("Eltwise", conv, side)

    def join(self, kind: str, a: Blob, b: Blob) -> Blob:
        name = self.join_name(kind)
        if kind == "Eltwise":
            op = self.draw(st.sampled_from(["SUM", "PROD", "MAX", None]))
            fields: Block = () if op is None else (("operation", Enum(op)),)
            if op == "SUM" and self.draw(st.booleans()):
                fields += (("coeff", Raw("1")), ("coeff", Raw("-0.5")))
            params = (("eltwise_param", fields),) if fields else ()
            chw = a.chw
        else:
            axis_field = "concat_dim" if self.fmt == "v1" else "axis"
            params = (("concat_param", ((axis_field, 1),)),) if self.draw(st.booleans()) else ()
            chw = (a.chw[0] + b.chw[0], a.chw[1], a.chw[2])
        return self.produce(GenLayer(name, kind, (a.name, b.name), (name,), params), chw)


def _pair(
    what: str, h: int, w: int, *, skip_zero: bool = False, skip_one: bool = False
) -> list[tuple[str, Value]]:
    if (skip_zero and h == w == 0) or (skip_one and h == w == 1):
        return []
    if h == w:
        return [(f"{what}_size" if what == "kernel" else what, h)]
    return [(f"{what}_h", h), (f"{what}_w", w)]


def _data_layers(
    b: _Builder, chw: Chw, batch: dict[str, int], label: tuple[int, ...] | None
) -> None:
    """Per-phase data layers: Input (V2) or DummyData, the TRAIN one with a label."""
    c, h, w = chw
    for phase in ("TRAIN", "TEST"):
        n = batch[phase]
        tops: tuple[str, ...] = ("data",)
        shapes = [shape_block((n, c, h, w))]
        if phase == "TRAIN" and label is not None:
            tops += ("label",)
            shapes.append(shape_block((n, *label)))
        kind = "DummyData" if b.fmt == "v1" or b.draw(st.booleans()) else "Input"
        param = "dummy_data_param" if kind == "DummyData" else "input_param"
        rule = ("include", phase)
        if phase == "TEST" and b.draw(st.booleans()):
            rule = ("exclude", "TRAIN")
        block = tuple(("shape", s) for s in shapes)
        b.add(GenLayer("data", kind, (), tops, ((param, block),), rule))


def _head(b: _Builder, top: Blob) -> tuple[int, ...] | None:
    """The classifier, its prediction and (TRAIN) its loss; the label's shape (without the
    batch) that loss needs."""
    _, h, w = top.chw
    k = b.draw(st.integers(2, 5))
    if b.draw(st.booleans()):
        score = b.produce(
            GenLayer("score", "Convolution", (top.name,), ("score",),
                     (("convolution_param", (("num_output", k), ("kernel_size", 1))),)),
            (k, h, w),
        )
        label: tuple[int, ...] = (1, h, w)
        if h >= 2 and w >= 2:
            b.points.append("score")
    else:
        b.add(GenLayer("fc", "InnerProduct", (top.name,), ("fc",),
                       (("inner_product_param", (("num_output", k),)),)))
        b.shapes["fc"] = (k,)
        score = Blob("fc", (k, 1, 1))
        label = ()
    test_rule = ("include", "TEST") if b.draw(st.booleans()) else ("exclude", "TRAIN")
    b.add(GenLayer("prob", "Softmax", (score.name,), ("prob",), (),
                   test_rule if b.train_test else None))
    if not b.train_test:
        return None
    extra: Block = ()
    if b.draw(st.booleans()):
        extra = (("loss_weight", Raw("1")),)
        if b.fmt == "v2":  # V1 has no propagate_down
            extra += (("propagate_down", Enum("true")), ("propagate_down", Enum("false")))
    b.add(GenLayer("loss", "SoftmaxWithLoss", (score.name, "label"), ("loss",), extra,
                   ("include", "TRAIN")))
    return label


@st.composite
def gen_nets(draw: st.DrawFn, formats: Sequence[str] = ("v1", "v2")) -> GenNet:
    """A random valid net: a chain of blocks (convolutions with in-place chains, poolings,
    Eltwise and Concat joins, residuals, side reads of earlier versions), then a
    classifier; train/test nets get per-phase data layers and phase-ruled layers."""
    fmt = draw(st.sampled_from(list(formats)))
    train_test = draw(st.booleans())
    b = _Builder(draw, fmt, train_test, collide=draw(st.integers(0, 2)) == 0)
    chw = (draw(st.integers(1, 4)), draw(st.integers(2, 12)), draw(st.integers(2, 12)))
    batch = {"TRAIN": draw(st.integers(1, 3)), "TEST": draw(st.integers(1, 3))}
    inputs: tuple[GenInput, ...] = ()
    names = ("data", "data_b") if draw(st.integers(0, 3)) == 0 else ("data",)
    if not train_test:
        batch["TRAIN"] = batch["TEST"]
        style = draw(st.sampled_from(["input_dim", "input_shape"] + (["layer"] * (fmt == "v2"))))
        dims = (batch["TEST"], *chw)
        if style == "layer":
            shapes = tuple(("shape", shape_block(dims)) for _ in names)
            b.add(GenLayer("data", "Input", (), names, (("input_param", shapes),)))
        else:
            inputs = tuple(GenInput(name, dims, style == "input_shape") for name in names)
    else:
        names = ("data",)
        _data_layers(b, chw, batch, None)  # the label is fixed once the head is known
    for name in names:
        b.shapes[name] = chw
        if min(chw[1:]) >= 2:
            b.points.append(name)
    current = Blob("data", chw)
    if len(names) == 2:  # two inputs, joined first
        current = b.join("Eltwise", current, Blob("data_b", chw))
    for _ in range(draw(st.integers(1, 5))):
        kinds = ["conv", "conv", "pool", "eltwise", "concat", "residual", "peek", "deconv",
                 "dilated", "split", "slice", "elementwise", "three_way", "concat_spatial"]
        block = draw(st.sampled_from(kinds + (["crop"] if fmt == "v2" else [])))
        if block == "pool" and min(current.chw[1:]) < 2:
            block = "conv"
        if block == "conv":
            current = b.conv(current)
            b.in_place_chain(current)
        elif block in ("deconv", "dilated"):
            current = getattr(b, block)(current)
            b.in_place_chain(current)
        elif block in ("split", "slice", "crop", "elementwise", "three_way", "concat_spatial"):
            current = getattr(b, block)(current)
        elif block == "pool":
            current = b.pool(current)
        elif block == "peek":
            current = b.peek(current)
        elif block == "residual":
            current = b.residual(current)
        else:
            current = b.branches(current, "Eltwise" if block == "eltwise" else "Concat")
        if min(current.chw[1:]) >= 2:
            b.points.append(current.name)
    auto_friendly = min(current.chw[1:]) >= 2
    label = _head(b, current)
    if train_test:
        b.layers[:2] = [_with_label(x, batch, label) for x in b.layers[:2]]
    return GenNet(
        fmt,
        draw(st.sampled_from([None, "gen"])),
        inputs,
        tuple(b.layers),
        dict(b.shapes),
        batch,
        tuple(reversed(b.points)),  # the deepest first, the input last
        train_test,
        auto_friendly,
    )


def _with_label(
    layer: GenLayer, batch: dict[str, int], label: tuple[int, ...] | None
) -> GenLayer:
    """The TRAIN data layer gets its label top, shaped for the loss."""
    if layer.phase_rule != ("include", "TRAIN") or label is None:
        return layer
    (param, block), = layer.params
    label_shape = ("shape", shape_block((batch["TRAIN"], *label)))
    return GenLayer(layer.name, layer.type, layer.bottoms, (*layer.tops, "label"),
                    ((param, (*block, label_shape)),), layer.phase_rule)


# ---------------------------------------------------------------------------
# Writing it


COMMENT_TEXTS = ["a comment", "layer { name: \"not a layer\" }", "écrit à la main ✓", "# ## #", ""]


@st.composite
def styles(draw: st.DrawFn, layer_count: int) -> Style:
    def some(chance: int) -> frozenset[int]:
        return frozenset(
            i for i in range(layer_count) if draw(st.integers(0, 99)) < chance
        )

    return Style(
        indent=draw(st.sampled_from(["  ", "    ", "\t"])),
        newline=draw(st.sampled_from(["\n", "\r\n"])),
        quote_single=some(10),
        compact=some(draw(st.sampled_from([0, 30, 100]))),
        inline_params=draw(st.booleans()),
        comments=some(draw(st.sampled_from([0, 20]))),
        trailing=some(draw(st.sampled_from([0, 20]))),
        blank=some(draw(st.sampled_from([0, 50]))),
        header_comment=draw(st.booleans()),
        final_newline=draw(st.integers(0, 9)) > 0,
        colon_blocks=draw(st.integers(0, 9)) == 0,
        top_first=some(10),
        comment_text=draw(st.sampled_from(COMMENT_TEXTS)),
        same_line=some(draw(st.sampled_from([0, 0, 0, 30]))),
        fancy=some(draw(st.sampled_from([0, 20, 40]))),
        fancy_kind=draw(st.sampled_from(["octal", "hex", "split"])),
        odd_ints=some(draw(st.sampled_from([0, 0, 30]))),
        exp_floats=draw(st.integers(0, 3)) == 0,
        field_comments=some(draw(st.sampled_from([0, 20]))),
        trailer=draw(st.integers(0, 3)) == 0,
    )


class Fancy(str):
    """A string to write with an escape (or split into adjacent strings)."""


def _spelled(text: str, quote: str, kind: str) -> str:
    """``text`` quoted, its first character written as an escape, or the string split
    in two adjacent strings (which protobuf joins)."""
    if not text:
        return quote * 2
    first, rest = text[0], text[1:]
    if kind == "octal":
        return f"{quote}\\{ord(first):03o}{rest}{quote}"
    if kind == "hex":
        return f"{quote}\\x{ord(first):02x}{rest}{quote}"
    return f"{quote}{first}{quote} {quote}{rest}{quote}"


def _number(value: int | float | Raw, odd_ints: bool, exp_floats: bool) -> str:
    if isinstance(value, Raw):
        number = float(value)
        if not exp_floats or number == int(number):
            return str(value)
        text = f"{number:e}" if abs(number) >= 1 else f"{number:g}".replace("0.", ".", 1)
        return text
    if isinstance(value, int) and odd_ints and value >= 8:
        return f"{value:#x}" if value % 2 else f"0{value:o}"
    return repr(value)


def _scalar(value: Value, single: bool, style: Style | None = None, index: int = -1) -> str:
    quote = "'" if single else '"'
    if isinstance(value, Fancy) and style is not None:
        return _spelled(value, quote, style.fancy_kind)
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Raw)):
        odd = style is not None and index in style.odd_ints
        return _number(value, odd, style is not None and style.exp_floats)
    return f"{quote}{value}{quote}"


class _Writer:
    def __init__(self, style: Style) -> None:
        self.style = style

    def items(
        self, block: Block, depth: int, inline: bool, single: bool, index: int = -1
    ) -> list[str]:
        """Each field of ``block`` as one line (without indentation) or, ``inline``, one
        line for the whole block; ``index`` is the layer's, for its style."""
        out = []
        s = self.style
        colon = ":" if s.colon_blocks else ""
        for key, value in block:
            if isinstance(value, tuple):
                inner = self.items(value, depth + 1, True, single, index)
                if inline or s.inline_params:
                    out.append(f"{key}{colon} {{ {' '.join(inner)} }}")
                else:
                    nested = self.items(value, depth + 1, False, single, index)
                    pad = s.indent
                    body = [pad * (depth + 1) + x for x in nested]
                    out.append("\n".join([f"{key}{colon} {{", *body, pad * depth + "}"]))
            else:
                line = f"{key}: {_scalar(value, single, s, index)}"
                if key == "bottom" and not inline and index in s.field_comments:
                    line += f"  # {s.comment_text}"
                out.append(line)
        return out

    def layer(self, layer: GenLayer, index: int, fmt: str) -> str:
        s = self.style
        single = index in s.quote_single
        fancy = Fancy if index in s.fancy else str
        head: Block = (("name", fancy(layer.name)),) if layer.name else ()
        head += (("type", Enum(V1_TYPES[layer.type])),) if fmt == "v1" else (("type", layer.type),)
        wiring: Block = tuple(("bottom", x) for x in layer.bottoms)
        tops: Block = tuple(("top", fancy(x)) for x in layer.tops)
        wiring = tops + wiring if index in s.top_first else wiring + tops
        rule: Block = ()
        if layer.phase_rule is not None:
            kind, phase = layer.phase_rule
            rule = ((kind, (("phase", Enum(phase)),)),)
        block = head + wiring + rule + layer.params
        keyword = "layers" if fmt == "v1" else "layer"
        comment = f"  # {s.comment_text}" if index in s.trailing else ""
        if index in s.compact:
            fields = " ".join(self.items(block, 1, True, single, index))
            return f"{keyword} {{ {fields} }}{comment}"
        lines = [s.indent + x for x in self.items(block, 1, False, single, index)]
        return "\n".join([f"{keyword} {{{comment}", *lines, "}"])

    def net(self, net: GenNet) -> str:
        s = self.style
        parts: list[str] = []
        if s.header_comment:
            parts.append(f"# {s.comment_text}".rstrip())
        if net.name is not None:
            parts.append(f"name: {_scalar(net.name, False)}")
        for item in net.inputs:
            parts.append(f"input: {_scalar(item.name, False)}")
            if item.as_shape:
                dims = " ".join(f"dim: {d}" for d in item.dims)
                parts.append(f"input_shape {{ {dims} }}")
            else:
                parts += [f"input_dim: {d}" for d in item.dims]
        for index, layer in enumerate(net.layers):
            text = self.layer(layer, index, net.format)
            if s.joins_next(index - 1):
                parts[-1] += " " + text
            else:
                parts.append(text)
            if index in s.comments:
                parts.append(f"{s.indent}# {s.comment_text}".rstrip())
            if index in s.blank:
                parts.append("")
        if s.trailer:  # net-level fields may follow the layers
            parts.append("force_backward: true")
        text = "\n".join(parts) + ("\n" if s.final_newline else "")
        return text.replace("\n", s.newline)


def write(net: GenNet, style: Style) -> str:
    return _Writer(style).net(net)


@st.composite
def written_nets(draw: st.DrawFn, formats: Sequence[str] = ("v1", "v2")) -> Written:
    net = draw(gen_nets(formats))
    style = draw(styles(len(net.layers)))
    return Written(net, style, write(net, style))


@dataclass(frozen=True)
class InsertCase:
    """A net and the insert options drawn for it."""

    written: Written
    after: str | None
    kernel_width: int
    directions: str
    reduce_channels: int | None
    options: dict[str, Any] = field(default_factory=dict)


@st.composite
def insert_cases(draw: st.DrawFn, automatic: bool = False) -> InsertCase:
    """A net with a point given explicitly (one of its points), or left to the automatic
    choice on nets with one head; a small kernel and some directions."""
    if automatic:
        written = draw(written_nets().filter(lambda w: w.net.auto_friendly))
        after = None
    else:
        written = draw(written_nets().filter(lambda w: bool(w.net.points)))
        after = draw(st.sampled_from(written.net.points))
    net = written.net
    kernel = draw(st.sampled_from([1, 3, 5, 9]))
    directions = draw(st.sampled_from(["DULR", "DULR", "DU", "LR", "RL", "D", "UDRL"]))
    reduce = None
    if after is not None and draw(st.integers(0, 5)) == 0:
        reduce = net.shapes[after][0]  # same channels: downstream shapes stay as they were
    options: dict[str, Any] = dict(kernel_width=kernel, directions=directions)
    if after is not None:
        options["after"] = after
    if reduce is not None:
        options["reduce_channels"] = reduce
    extras = draw(st.sets(st.sampled_from(["prefix", "top", "no_share", "lr", "std"])))
    if "prefix" in extras:
        options["prefix"] = draw(st.sampled_from(["p_", "scnn/", "x1-", "Concat"]))
    if "top" in extras:
        options["top"] = draw(st.sampled_from(["scnn_out", "SCNN_out/x", "features"]))
    if "no_share" in extras:
        options["share_weights"] = False
    if "lr" in extras:
        options["lr_mult"] = draw(st.sampled_from([0.0, 0.5, 2.0]))
    if "std" in extras:
        options["init_std"] = draw(st.sampled_from([0.01, 1e-3, 0.5]))
    return InsertCase(written, after, kernel, directions, reduce, options)
