"""``scnn-surgery draw``: a picture of a net's layer graph through Graphviz."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..files import check_output_paths, named
from .options import draw_options, insert_option
from .output import emit, note


@click.command("draw")
@click.argument("model", type=click.Path(dir_okay=False, allow_dash=True))
@draw_options()
@insert_option("phase")
def command(
    model: str, output: str, against: str | None, expand: bool, context: int | None,
    phase: str | None,
) -> None:
    """Draw MODEL: layers are nodes, blobs are edges labelled with their shapes.

    In-place layers fold into the layer whose output they rewrite, and an SCNN module is
    one node. SVG and PNG need Graphviz's 'dot' program; .dot output does not.
    """
    check_output_paths([*named("MODEL", model), *named("--against", against)], named("-o", output))
    # Here rather than at the top: parsing the arguments (or --help) need not load them.
    from ..analysis.compare import diff_nets
    from ..core.graph import NetState
    from ..core.net import load_net
    from ..passes.upgrade import net_for_reading
    from ..report.draw import (
        Highlights,
        build_picture,
        check_renderer,
        choose_layout,
        digraph,
        focus,
        focus_names,
        highlights_from,
        node_places,
        output_format,
        render,
        size_warning,
    )

    if context is not None and against is None:
        raise UsageError("--context needs --against (it shows the part around the changes)")
    fmt = "dot" if output == "-" else output_format(output)
    check_renderer(fmt)
    state = NetState(phase or "TEST")  # Caffe's default phase
    net = net_for_reading(load_net(model))  # V0 and V1 drawn as Caffe upgrades them
    warning = size_warning(len(net.layers))
    if warning is not None:
        note(warning)
    highlights, around = Highlights(), set[str]()
    if against is not None:
        diff = diff_nets(load_net(against), net, state.phase)
        highlights, around = highlights_from(diff), focus_names(diff)
    picture = build_picture(net, state, highlights, expand)
    if context is not None:
        picture = focus(picture, around, context)
    layout = choose_layout(picture, expand)
    if fmt != "dot":  # dot source is written at once, whatever its size
        for message in layout.notes:
            note(message)
    graph = digraph(picture, layout.engine)
    emit(render(graph, fmt, node_places(picture, net), layout.engine), output)
