"""Rewrite MODEL (a prototxt; '-' reads stdin) in the current format, as Caffe's
upgrade_net_proto_text would: V0 and V1 layers as V2, data-layer transform fields in
transform_param, top-level inputs as an Input layer, BatchNorm statistics fixed.

Text no rule touches is kept byte for byte. A net already current is written as it
is (with --in-place, not written at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..analysis.forkrules import ruled
from ..analysis.shapes import ShapeOverrides
from ..analysis.verify import check_result
from ..core.net import Layer, Net
from ..options import UpgradeOptions
from ..passes.upgrade import (
    batch_norms_to_fix,
    padding_layers,
    upgrade_net,
    v0_dropped_parameters,
    v0_replaced_pads,
)
from ..runtime import paused_gc
from . import VerbSpec


@dataclass
class UpgradeResult:
    """The net in the current format (the same net when nothing needed upgrading)."""

    net: Net
    changed: bool
    notes: list[str]
    done: str | None = None
    # No layer needs blobs it had none of: the Input layer made of top-level inputs has none.
    added: tuple[Layer, ...] = ()
    # A V1 caffemodel given with --weights is upgraded too, as upgrade_net_proto_binary would.
    upgrades_weights: ClassVar[bool] = True


def upgrade(
    net: Net,
    options: UpgradeOptions | None = None,
    *,
    shapes: ShapeOverrides | None = None,
    proto: str | None = None,
) -> UpgradeResult:
    """``net`` rewritten by Caffe's upgrade rules (V0 -> V1 -> V2, data transform fields,
    top-level inputs, BatchNorm statistics), as ``upgrade_net_proto_text`` would write it,
    in the file's own layout wherever a rule does not touch the text; the result is
    checked. A net already current is returned as it is, with a note. ``options``, when
    given, says ``shapes`` and ``proto``."""
    if options is not None:
        shapes, proto = dict(options.shapes), options.proto
        net = ruled(net, options.shape_rules)
    with paused_gc():
        upgraded = upgrade_net(net)
        if upgraded is net:
            return UpgradeResult(net, False, [f"{net.source}: already in the current format"])
        notes = [f"{net.source}: {_upgrade_summary(net, upgraded)}"]
        notes += v0_dropped_parameters(net) + v0_replaced_pads(net)
        notes += check_result(net, upgraded, shapes=shapes, proto=proto)
    return UpgradeResult(upgraded, True, notes)


def _upgrade_summary(before: Net, after: Net) -> str:
    done = []
    if before.format in ("v0", "v1"):
        folded = len(padding_layers(before))
        count = len(before.layers) - folded
        done.append(f"{_layers(count)} rewritten from {before.format.upper()} to V2")
        if folded:
            done.append(f"{_layers(folded)} of type padding folded into the layers they feed")
    if before.inputs and not after.inputs:
        made = any(x.type == "Input" and x.name == "input" for x in after.layers[:1])
        names = ", ".join(f"'{i.name}'" for i in before.inputs)
        dropped_shape = before.format == "v0" and before.document.root.messages("input_shape")
        why = "Caffe's V0 upgrade drops input_shape" if dropped_shape else "as Caffe drops it"
        done.append(
            f"top-level input {names} made an Input layer 'input'"
            if made
            else f"top-level input {names} without dims dropped ({why})"
        )
    fixed = batch_norms_to_fix(before)
    if fixed:
        noun = "layer" if fixed == 1 else "layers"
        done.append(f"lr_mult and decay_mult of {fixed} BatchNorm {noun} set to 0")
    return "; ".join(done) or "upgraded"


def _layers(count: int) -> str:
    return f"{count} layer{'s' * (count != 1)}"


VERB = VerbSpec("upgrade", upgrade)
