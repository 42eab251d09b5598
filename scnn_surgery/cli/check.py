"""``scnn-surgery check``: Caffe's static rules, and a target's, located by line."""

from __future__ import annotations

import json

import click

from ..check import TARGETS, Finding, check_net, errors_of
from ..files import STDOUT, check_output_paths, named
from ..schema.select import schema_for_net
from ..surgery import load
from ..weights import read_caffemodel
from .options import ShapeType, proto_option
from .output import note


def _summary(findings: list[Finding]) -> str:
    errors = len(errors_of(findings))
    warnings = len(findings) - errors
    if not findings:
        return "no problems found"
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


@click.command("check")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="A .caffemodel: check each layer's blob count and shapes against it.")
@click.option("--phase", "phases", type=click.Choice(["TRAIN", "TEST"], case_sensitive=False),
              multiple=True,
              help="Check this phase (repeatable) [default: TRAIN and TEST when the net's"
                   " include/exclude rules tell them apart, else TEST].")
@click.option("--target", type=click.Choice(TARGETS), default=None,
              help="Also check what this deployment target refuses or runs on the CPU.")
@click.option("--shape", "shapes", type=ShapeType(), multiple=True,
              help="Shape of a blob the file does not state (repeatable).")
@proto_option()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def command(
    ctx: click.Context, model: str, weights: str | None, phases: tuple[str, ...],
    target: str | None, shapes: tuple[tuple[str, tuple[int, ...]], ...], proto: str | None,
    as_json: bool,
) -> None:
    """Check MODEL (a prototxt; '-' reads stdin) as Caffe's Net::Init would.

    Prints one line per finding, FILE:LINE: severity: message [rule]. The exit
    status is 1 when there are errors and 0 when there are only warnings.
    """
    check_output_paths(
        [*named("MODEL", model), *named("--weights", weights), *named("--proto", proto)], [STDOUT]
    )
    net = load(model)
    schema = schema_for_net(net, proto)
    caffemodel = read_caffemodel(weights, schema) if weights is not None else None
    findings = check_net(
        net, phases=[p.upper() for p in phases] or None, weights=caffemodel, target=target,
        shapes=dict(shapes), proto=proto,
    )
    if as_json:
        report = {
            "model": net.source,
            "weights": weights,
            "target": target,
            "errors": len(errors_of(findings)),
            "warnings": len(findings) - len(errors_of(findings)),
            "findings": [f.as_dict() for f in findings],
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for finding in findings:
            click.echo(finding.format(net.source))
        note(f"{net.source}: {_summary(findings)}")
    ctx.exit(1 if errors_of(findings) else 0)
