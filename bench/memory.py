"""Peak memory of ``insert`` on a 10 MB net (or, given ``diff``, of diffing that net
against it with a module inserted), printed as "PEAK_BYTES SIZE_BYTES" (the larger input).

The net is the published ResNet-101's layers repeated, each copy reading the previous
copy's output, until the text is 10 MB: real layers in the published file's own layout.
The peak is the process's maximum resident size after the work, less its size once
everything was imported and the text built (Linux's ru_maxrss, in KiB).
"""

from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

import scnn_surgery as ss
import scnn_surgery.analysis.check
import scnn_surgery.analysis.compare
import scnn_surgery.core.text_export
import scnn_surgery.surgery

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT.parent / "shared" / "golden" / "resnet101.prototxt"
TARGET = 10_000_000


_NAMED = re.compile(r'((?:name|top|bottom):\s*")([^"]+)(")')


def big_net() -> str:
    """Copies of ResNet-101's layers, names prefixed per copy, each reading the previous
    copy's output where the first reads the input."""
    text = GOLDEN.read_text()
    first = text.index("layer {")
    head, body = text[:first], text[first:]
    copies = [head]
    n = 0
    while sum(map(len, copies)) < TARGET:

        def renamed(match: re.Match[str], n: int = n) -> str:
            name = match.group(2)
            if name == "data":
                name = "data" if n == 0 else f"r{n - 1}_conv6_interp"
            else:
                name = f"r{n}_{name}"
            return match.group(1) + name + match.group(3)

        copies.append(_NAMED.sub(renamed, body))
        n += 1
    return "".join(copies)


def rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str]) -> int:
    text = big_net()
    if argv[1:] == ["diff"]:
        inserted = ss.insert(ss.loads(text, "a.prototxt"), ss.InsertOptions(after="r0_conv5_5"))
        other = ss.dumps(inserted.net)
        del inserted
        base = rss()
        scnn_surgery.analysis.compare.diff_nets(ss.loads(text, "a"), ss.loads(other, "b"), "TEST")
        print(rss() - base, max(len(text.encode()), len(other.encode())))
        return 0
    base = rss()
    result = ss.insert(ss.loads(text, "big.prototxt"), ss.InsertOptions(after="r0_conv5_5"))
    ss.dumps(result.net)
    print(rss() - base, len(text.encode()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
