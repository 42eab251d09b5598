"""Process-level helpers for the library's heavy steps."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a step builds many objects, and restore it.

    A parsed net and its graphs are tens of thousands of objects without cycles; a full
    collection in the middle of building them walks them all and finds nothing, which
    cost a third of ``insert``'s time. Reference counting still frees everything as usual.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


_CONTENT_CACHES: list[Callable[[], None]] = []


def content_cache(clear: Callable[[], None]) -> Callable[[], None]:
    """Register how to empty a process-wide cache of what was read from nets (parameter
    blocks, module estimates), as opposed to what the schema alone decides."""
    _CONTENT_CACHES.append(clear)
    return clear


def clear_content_caches() -> None:
    """Forget everything learnt from nets read so far: the next net is read as if it were
    the first (what a benchmark of one file must measure)."""
    for clear in _CONTENT_CACHES:
        clear()
