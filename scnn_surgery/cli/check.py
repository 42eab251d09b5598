"""``scnn-surgery check``: Caffe's static rules, and a target's, located by line."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import click

from ..files import STDOUT, check_output_paths, named
from .options import check_options, insert_option, json_option
from .output import note
from .stdio import echo, one_line

if TYPE_CHECKING:
    from ..analysis.check import Finding
    from ..core.net import Net


def _summary(findings: list[Finding], errors: int) -> str:
    warnings = len(findings) - errors
    if not findings:
        return "no problems found"
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def _sized_by(
    net: Net, phases: Sequence[str], shapes: Mapping[str, Sequence[int]]
) -> dict[str, str]:
    """What sized the layers of each phase checked (built-in, fork or user rules, --shape)."""
    from ..analysis.forkrules import sizing_summary
    from ..analysis.shapes import infer_shapes
    from ..core.graph import NetState, graph_of
    from ..passes.upgrade import net_for_reading

    readable = net_for_reading(net)
    found = {}
    for phase in phases or ("TEST",):
        graph = graph_of(readable, NetState(phase))
        given = {name: dims for name, dims in shapes.items() if name in graph.latest}
        found[phase] = sizing_summary(infer_shapes(readable, graph, given))
    return found


@click.command("check")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@check_options()
@insert_option("shapes")
@insert_option("shape_rules")
@insert_option("proto")
@json_option("the findings as JSON")
@click.pass_context
def command(
    ctx: click.Context, model: str, weights: str | None, phases: tuple[str, ...],
    target: str | None, shapes: Mapping[str, Sequence[int]], shape_rules: Mapping[str, str],
    proto: str | None, as_json: bool,
) -> None:
    """Check MODEL (a prototxt; '-' reads stdin) as Caffe's Net::Init would.

    Prints one line per finding, FILE:LINE: severity: message [rule]. The exit
    status is 1 when there are errors and 0 when there are only warnings.
    """
    check_output_paths(
        [*named("MODEL", model), *named("--weights", weights), *named("--proto", proto)], [STDOUT]
    )
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..analysis.check import check_net, errors_of
    from ..analysis.forkrules import ruled
    from ..analysis.phases import default_phase
    from ..passes.upgrade import net_for_reading
    from ..schema.select import schema_for_net
    from ..surgery import load
    from ..weights import read_caffemodel

    net = ruled(load(model), shape_rules)
    if net.format == "v0":  # checked as Caffe's upgrade makes it, by both readers below
        net = net_for_reading(net)
    warnings: list[str] = []
    if not phases:
        chosen, warnings = default_phase(net, None, "checked")
        phases = (chosen,) if chosen is not None else ()
    schema = schema_for_net(net, proto)
    caffemodel = (
        read_caffemodel(weights, schema, refuse_damaged=False) if weights is not None else None
    )  # a damaged blob is one of the findings
    findings = check_net(
        net, phases=phases or None, weights=caffemodel, target=target, shapes=shapes, proto=proto
    )
    sized_by = _sized_by(net, phases, shapes)  # before any output, as check_net is
    for warning in warnings:  # after check_net: a refusal stays the one line it is
        note(warning)
    errors = len(errors_of(findings))
    if as_json:
        report = {
            "model": net.source,
            "weights": weights,
            "target": target,
            "errors": errors,
            "warnings": len(findings) - errors,
            "findings": [f.as_dict() for f in findings],
            "sized_by": sized_by,
        }
        echo(json.dumps(report, indent=2))
    else:
        for finding in findings:
            echo(one_line(finding.format(net.source)))
        for phase, sized in sized_by.items():
            if not (sized.startswith("built-in") and ";" not in sized):
                note(f"{net.source}: phase {phase} sized by: {sized}")
        note(f"{net.source}: {_summary(findings, errors)}")
    ctx.exit(1 if errors else 0)
