"""Checking a verb's result in memory before anything is written.

Every verb runs ``check`` on the net it made (the edited IR, never a re-parse of its own
output), with one of two policies:

* :func:`check_fitted` for the verbs that fit something to the net (insert, splice,
  strip): the phase they were fitted in must have no error the input did not have; with
  a phase chosen, the other phase's breakage is a warning, since the user chose which map
  the module fits.
* :func:`check_result` for the verbs that only take out or rewrite (remove, upgrade,
  rename, retarget, fold-bn): an error the verb brought in, in any phase, refuses the
  result.

Either way an error the input had already stays the input's: it is reported as a warning
rather than blamed on the verb (removing a Dropout from a net whose TRAIN phase lacks its
data layer is still a fine edit). An error is the input's when the result has one of the
same rule, at the same layer (under its new name, after a rename), saying the same but
for names and numbers: the blob a reader now reads and every size may change with the
edit while the fault stays where it was.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from ..core.graph import PHASES
from ..core.net import Net
from ..errors import SurgeryError
from ..passes.anchor import InsertionPoint
from .check import Finding, check_net, errors_of
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


def check_fitted(
    before: Net, net: Net, checks: Checks, point: InsertionPoint | None = None
) -> list[str]:
    """Refuse ``net``, made from ``before``, if its working phase has errors ``before``
    did not have (with the same ``--shape`` values); returns the warnings, among them the
    errors it kept from ``before``. Findings name the lines of the file a layer was read
    from, or say the layer was added."""

    def errors_in(model: Net, phases: Sequence[str] | None) -> list[Finding]:
        found = check_net(
            model, phases=phases, shapes=checks.shapes, proto=checks.proto, errors_only=True
        )
        return errors_of(found)

    working = [checks.phase] if checks.phase else None
    errors = errors_in(net, working)
    notes: list[str] = []
    if errors:
        new, kept = _brought_in(errors, errors_in(before, working))
        if new:
            raise _refusal(new, net, _missing_hint(point, phase_chosen=False), checks.added)
        notes.append(_kept_warning(kept, net))
    other = [p for p in PHASES if p != checks.phase and p not in checks.broken_in_input]
    if not checks.phase or not other:
        return notes
    broken = errors_in(net, other)
    if broken:
        notes.append(
            f"warning: the result fits phase {checks.phase} only; in {other[0]}:"
            f" {broken[0].message}{_missing_hint(point, phase_chosen=True)}"
        )
    return notes


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
    """A finding as the same fault in two versions of a net: its rule, its layer (an
    unnamed one's ``#N`` moves when layers come and go) and its message less the names
    and numbers in it, which a verb may change about a fault it leaves alone (removing a
    layer renames the blob a reader reads; retargeting changes every size)."""
    layer = None if finding.layer is None else _LABEL.sub("#", finding.layer)
    message = _QUOTED.sub("''", _UNNAMED.sub("layer ''", finding.message))
    return finding.rule, layer, _NUMBER.sub("0", message)


_LABEL = re.compile(r"#\d+")
_UNNAMED = re.compile(r"unnamed layer #\d+")
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


def _renamed(finding: Finding, names: Mapping[str, str]) -> Finding:
    """``finding`` about a layer under its new name (``names``: old -> new, by name or
    ``#N``), as the renamed net would tell it."""
    if finding.layer is None or finding.layer not in names:
        return finding
    return replace(finding, layer=names[finding.layer])


def _brought_in(
    found: Sequence[Finding], known: Sequence[Finding]
) -> tuple[list[Finding], list[Finding]]:
    """``found`` split into the errors that are new and those ``known`` had already."""
    left = Counter(_key(f) for f in known)
    new: list[Finding] = []
    kept: list[Finding] = []
    for finding in found:
        if left[_key(finding)] > 0:
            left[_key(finding)] -= 1
            kept.append(finding)
        else:
            new.append(finding)
    return new, kept


def _kept_warning(kept: Sequence[Finding], net: Net) -> str:
    more = f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""
    return (
        f"warning: the input has this error already, and so has the result:"
        f" {kept[0].format(net.source)}{more}"
    )


def check_result(
    before: Net,
    after: Net,
    *,
    shapes: ShapeOverrides | None = None,
    proto: str | None = None,
    phases: Sequence[str] | None = None,
    renamed: Mapping[str, str] | None = None,
) -> list[str]:
    """Refuse ``after`` if it has errors ``before`` did not; returns warning notes for the
    errors it kept from ``before``. ``before`` is checked only when ``after`` has errors.
    ``renamed`` (old -> new: layers by name or ``#N``) are the names ``after`` gives the
    layers of ``before``: an error of ``before`` is told under them to be found in
    ``after``."""
    def errors_in(model: Net) -> list[Finding]:
        return errors_of(
            check_net(model, phases=phases, shapes=shapes, proto=proto, errors_only=True)
        )

    found = errors_in(after)
    if not found:
        return []
    known = [_renamed(f, renamed or {}) for f in errors_in(before)]
    new, kept = _brought_in(found, known)
    if new:
        raise _refusal(new, after)
    return [_kept_warning(kept, after)]
