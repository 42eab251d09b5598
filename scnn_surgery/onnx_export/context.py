"""What a layer converter sees and writes with: the graph being built (:class:`Emitter`) and
one layer's view of it (:class:`LayerContext`).

Names are the one thing converters never choose: the builder reserves every ONNX value name
(a Caffe blob's final version keeps its name, earlier versions of an in-place chain get
unique ones), and :meth:`Emitter.fresh` hands out names for a converter's own intermediate
values that cannot collide with any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import helper

from ..analysis.params import fork_param, layer_message
from ..errors import SurgeryError
from ..schema import caffe_pb2

if TYPE_CHECKING:
    from onnx import NodeProto

    from ..core.document import Message
    from ..core.net import Layer, Net

Shape = tuple[int, ...]

__all__ = ["Emitter", "LayerContext", "Shape", "Unsupported"]


class Unsupported(SurgeryError):
    """A layer whose parameters the export cannot express (its type is known)."""


@dataclass
class Emitter:
    """The nodes and initializers of the graph being built, and every name in use."""

    opset: int
    nodes: list[NodeProto] = field(default_factory=list)
    # Kept as arrays until the model is put together: the check needs only their shapes.
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    node_names: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)  # what converters have to say

    def reserve(self, name: str) -> str:
        self.used.add(name)
        return name

    def fresh(self, base: str) -> str:
        """A value name nobody uses yet: ``base``, else ``base_1``, ``base_2``, ..."""
        name, n = base, 0
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        return self.reserve(name)

    def node_name(self, base: str) -> str:
        name, n = base, 0
        while name in self.node_names:
            n += 1
            name = f"{base}/{n}"
        self.node_names.add(name)
        return name

    def const(self, values: Any, base: str, dtype: Any = np.float32) -> str:
        """An initializer holding ``values``, under a fresh name."""
        name = self.fresh(base)
        self.initializers[name] = np.ascontiguousarray(np.asarray(values, dtype=dtype))
        return name

    def named_const(self, name: str, values: Any) -> str:
        """A parameter blob's initializer, under the name the builder reserved for it."""
        if name not in self.initializers:
            self.initializers[name] = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
        return name


@dataclass
class LayerContext:
    """One layer as its converter sees it: ONNX names and shapes of its bottoms and tops,
    its parameter blobs, and the means to add nodes."""

    net: Net
    layer: Layer
    emitter: Emitter
    inputs: list[str]
    outputs: list[str]  # reserved names; the converter writes each top to its name
    in_shapes: list[Shape]
    out_shapes: list[Shape]
    blobs: list[np.ndarray]
    blob_names: list[str]  # the initializer name each blob is shared under
    test_phase: bool = True
    dynamic_batch: bool = False
    steps: int = 0

    # -- reading the layer

    @property
    def message(self) -> Any:
        return layer_message(self.net, self.layer)

    def param(self, name: str) -> Any:
        """The layer's typed ``name`` message (the defaults when its format lacks it)."""
        message = self.message
        if name in message.DESCRIPTOR.fields_by_name:
            return getattr(message, name)
        return getattr(caffe_pb2.LayerParameter(), name)

    def fork(self, name: str) -> Message | None:
        """A fork's parameter block, from the text (the BVLC schema does not know it)."""
        return fork_param(self.layer, name)

    def shape(self, index: int = 0) -> Shape:
        return self.in_shapes[index]

    @property
    def x(self) -> str:
        return self.inputs[0]

    @property
    def y(self) -> str:
        return self.outputs[0]

    def refuse(self, why: str) -> Unsupported:
        return Unsupported(f"{self.net.describe(self.layer)}: type '{self.layer.type}': {why}")

    # -- writing nodes

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        out: str | None = None,
        **attrs: Any,
    ) -> str:
        """Add one node with one output: ``out`` (a top's reserved name) or a fresh value."""
        return self.op_n(op_type, inputs, [out] if out is not None else 1, **attrs)[0]

    def op_n(
        self, op_type: str, inputs: Sequence[str], outs: Sequence[str] | int, **attrs: Any
    ) -> list[str]:
        base = self.layer.name or "layer"
        if isinstance(outs, int):
            outs = [self.emitter.fresh(f"{base}/{op_type.lower()}") for _ in range(outs)]
        name = self.emitter.node_name(base if self.steps == 0 else f"{base}/{op_type}")
        self.steps += 1
        self.emitter.nodes.append(
            helper.make_node(op_type, list(inputs), list(outs), name=name, **attrs)
        )
        return list(outs)

    def const(self, values: Any, what: str, dtype: Any = np.float32) -> str:
        return self.emitter.const(values, f"{self.layer.name}/{what}", dtype)

    def ints(self, values: Sequence[int], what: str) -> str:
        return self.const(list(values), what, np.int64)

    def dims(self, like: str, shape: Sequence[int], keep: int) -> str:
        """``shape`` as an int64 tensor; with a free batch size, its first ``keep`` sizes
        are ``like``'s at run time (they are the batch and what follows it)."""
        if not self.dynamic_batch or keep == 0:
            return self.ints(shape, "shape")
        sizes = self.op("Shape", [like])
        bounds = [self.ints([0], "start"), self.ints([keep], "end"), self.ints([0], "axis")]
        head = self.op("Slice", [sizes, *bounds])
        if keep >= len(shape):
            return head
        return self.op("Concat", [head, self.ints(shape[keep:], "tail")], axis=0)

    def blob(self, index: int) -> str:
        """Parameter blob ``index`` as it is stored (one initializer per sharing name)."""
        return self.emitter.named_const(self.blob_names[index], self.blobs[index])

    def blob_as(self, index: int, shape: Sequence[int], what: str) -> str:
        """Blob ``index`` reshaped (to broadcast against an input, say)."""
        return self.const(self.blobs[index].reshape(tuple(shape)), what)

