"""Checking a verb's result in memory before anything is written.

Every verb runs ``check`` on the net it made (the edited IR, never a re-parse of its own
output), with one of two policies:

* :func:`check_fitted` for the verbs that fit something to the net (insert, splice,
  strip): the phase they were fitted in must be valid; with a phase chosen, the other
  phase's breakage is a warning, since the user chose which map the module fits.
* :func:`check_result` for the verbs that only take out or rewrite (remove, upgrade): an
  error the verb brought in refuses the result; an error the input had already stays the
  input's, so it is reported as a warning rather than blamed on the verb (removing a
  Dropout from a net whose TRAIN phase lacks its data layer is still a fine edit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .check import Finding, check_net, errors_of
from .errors import SurgeryError
from .graph import PHASES
from .net import Net
from .passes.anchor import InsertionPoint
from .shapes import ShapeOverrides


def _refusal(
    findings: Sequence[Finding], net: Net, hint: str = "", added: str = "an added layer"
) -> SurgeryError:
    """The one line that refuses a result: its first error, located, and how many more."""
    first = findings[0]
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    where = first.format(net.source)
    if first.line is None and first.layer is not None:
        where += f" (in {added})"
    return SurgeryError(f"the result would be invalid: {where}{more}{hint}; nothing was written")


# ---------------------------------------------------------------------------
# insert, splice, strip


@dataclass(frozen=True)
class Checks:
    """How a fitted result is checked: the phase it was fitted in (None: every phase),
    the ``--shape`` values, the user's caffe.proto, and the phases broken in the input."""

    phase: str | None
    shapes: ShapeOverrides
    proto: str | None
    broken_in_input: Collection[str] = ()
    added: str = "an added layer"  # what a finding without a line is in


def check_fitted(net: Net, checks: Checks, point: InsertionPoint | None = None) -> list[str]:
    """Refuse ``net`` if its working phase has errors (with the same ``--shape`` values);
    returns the warnings. Findings name the lines of the file a layer was read from, or
    say the layer was added."""

    def errors_in(phases: Sequence[str] | None) -> list[Finding]:
        found = check_net(
            net, phases=phases, shapes=checks.shapes, proto=checks.proto, errors_only=True
        )
        return errors_of(found)

    errors = errors_in([checks.phase] if checks.phase else None)
    if errors:
        raise _refusal(errors, net, _missing_hint(point, phase_chosen=False), checks.added)
    other = [p for p in PHASES if p != checks.phase and p not in checks.broken_in_input]
    if not checks.phase or not other:
        return []
    broken = errors_in(other)
    if not broken:
        return []
    return [
        f"warning: the result fits phase {checks.phase} only; in {other[0]}:"
        f" {broken[0].message}{_missing_hint(point, phase_chosen=True)}"
    ]


def _missing_hint(point: InsertionPoint | None, phase_chosen: bool) -> str:
    """Why the module lacks an input in some phase, and what to do about it."""
    if point is None or not point.missing_phases:
        return ""
    phases = ", ".join(point.missing_phases)
    advice = (
        "" if phase_chosen else ": choose a blob every phase produces, or one phase with --phase"
    )
    return (
        f"; blob '{point.blob}' is not produced in phase {phases},"
        f" so the module has no input there{advice}"
    )


# ---------------------------------------------------------------------------
# remove, upgrade


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
        raise _refusal(new, after)
    more = f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""
    return [
        f"warning: the input has this error already, and so has the result:"
        f" {kept[0].format(after.source)}{more}"
    ]
