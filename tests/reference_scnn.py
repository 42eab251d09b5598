"""An independent NumPy Spatial CNN, written from the paper's equations.

Pan et al., "Spatial As Deep: Spatial CNN for Traffic Scene Understanding" (AAAI 2018), eq. 1:
the feature map is cut into slices along one axis and, slice by slice, each slice receives a
message from the slice before it, already updated:

    X'_1 = X_1,    X'_i = X_i + relu(K * X'_{i-1})    for i = 2..n

where ``K * S`` convolves a slice (C channels, L positions) with a C x C x w kernel across the
L positions, zero-padded so that L is kept. Downward (D) runs over rows top to bottom, upward
(U) over the rows of that result bottom to top, rightward (R) over columns left to right and
leftward (L) right to left, always in the order D, U, R, L.

Kernels are given in Caffe's blob layout, which is what a caffemodel stores: (C_out, C_in, 1, w)
for the vertical passes (the kernel runs along a row) and (C_out, C_in, w, 1) for the horizontal
ones; Caffe's convolution is a cross-correlation. Nothing here imports the project, so a bug in
the module generator cannot hide in a shared helper.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

ORDER = "DURL"  # the order the passes run in, whatever order a caller names them


def message(slice_: Array, kernel: Array) -> Array:
    """relu(K * S): slice (N, C, L), kernel (C_out, C_in, w) -> (N, C_out, L)."""
    width = kernel.shape[-1]
    pad = (width - 1) // 2
    padded = np.pad(slice_, ((0, 0), (0, 0), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=2)  # (N, C, L, w)
    # sum over c and t of K[o, c, t] * S[n, c, l + t]: (N, L, O), then (N, O, L)
    out = np.tensordot(windows, kernel, axes=([1, 3], [1, 2])).transpose(0, 2, 1)
    return np.maximum(out, 0.0)


def propagate(slices: list[Array], kernel: Array) -> list[Array]:
    """X'_1 = X_1, X'_i = X_i + relu(K * X'_{i-1}), over the slices in the order given."""
    out = [slices[0]]
    for current in slices[1:]:
        out.append(current + message(out[-1], kernel))
    return out


def _pass(x: Array, direction: str, kernel: Array) -> Array:
    vertical = direction in "DU"
    axis = 2 if vertical else 3
    # A slice is (N, C, L) with L the positions the kernel slides along.
    slices = [np.take(x, i, axis=axis) for i in range(x.shape[axis])]
    backward = direction in "UL"
    if backward:
        slices.reverse()
    updated = propagate(slices, kernel)
    if backward:
        updated.reverse()
    return np.stack(updated, axis=axis)


def as_1d_kernel(blob: NDArray[np.floating], direction: str) -> Array:
    """A Caffe kernel blob (C, C, 1, w) or (C, C, w, 1) as (C_out, C_in, w)."""
    k = np.asarray(blob, dtype=np.float64)
    if direction in "DU":
        assert k.shape[2] == 1, f"vertical kernel must be 1 x w, got {k.shape}"
        return k[:, :, 0, :]
    assert k.shape[3] == 1, f"horizontal kernel must be w x 1, got {k.shape}"
    return k[:, :, :, 0]


def scnn_forward(
    x: NDArray[np.floating], kernels: Mapping[str, NDArray[np.floating]]
) -> Array:
    """SCNN on an (N, C, H, W) map; ``kernels`` maps directions (D, U, R, L) to Caffe kernel
    blobs. Directions without a kernel are skipped; the others run in the order D, U, R, L."""
    out = np.asarray(x, dtype=np.float64)
    for direction in ORDER:
        if direction in kernels:
            out = _pass(out, direction, as_1d_kernel(kernels[direction], direction))
    return out


def relative_error(actual: NDArray[np.floating], expected: NDArray[np.floating]) -> float:
    """||actual - expected|| / ||expected|| (0 when both are zero)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    norm = float(np.linalg.norm(e))
    diff = float(np.linalg.norm(a - e))
    return diff if norm == 0.0 else diff / norm
