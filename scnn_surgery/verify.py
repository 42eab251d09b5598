"""Checking a verb's result in memory before anything is written.

Every verb runs ``check`` on the net it made (the edited IR, never a re-parse of its own
output). An error the verb brought in refuses the result; an error the input had already
stays the input's, so it is reported as a warning rather than blamed on the verb (removing
a Dropout from a net whose TRAIN phase lacks its data layer is still a fine edit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .check import Finding, check_net, errors_of
from .errors import SurgeryError
from .net import Net
from .shapes import ShapeOverrides


def _key(finding: Finding) -> tuple[str, str | None, str]:
    """A finding as the same fault in two versions of a net, whatever its line."""
    return finding.rule, finding.layer, finding.message


def check_result(
    before: Net,
    after: Net,
    *,
    shapes: ShapeOverrides | None = None,
    proto: str | None = None,
    phases: Sequence[str] | None = None,
) -> list[str]:
    """Refuse ``after`` if it has errors ``before`` did not; returns warning notes for the
    errors it kept from ``before``. ``before`` is checked only when ``after`` has errors."""
    found = errors_of(check_net(after, phases=phases, shapes=shapes, proto=proto, errors_only=True))
    if not found:
        return []
    known = Counter(
        _key(f)
        for f in errors_of(
            check_net(before, phases=phases, shapes=shapes, proto=proto, errors_only=True)
        )
    )
    new: list[Finding] = []
    kept: list[Finding] = []
    for finding in found:
        if known[_key(finding)] > 0:
            known[_key(finding)] -= 1
            kept.append(finding)
        else:
            new.append(finding)
    if new:
        first = new[0]
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        where = first.format(after.source)
        if first.line is None and first.layer is not None:
            where += " (in an added layer)"
        raise SurgeryError(f"the result would be invalid: {where}{more}; nothing was written")
    more = f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""
    return [
        f"warning: the input has this error already, and so has the result:"
        f" {kept[0].format(after.source)}{more}"
    ]
