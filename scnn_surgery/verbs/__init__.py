"""The surgery verbs, one module each, and the registry everything else is made from.

:data:`REGISTRY` names every verb with the line ``scnn-surgery --help`` shows for it. From
it come the ``scnn-surgery VERB`` subcommand (:mod:`scnn_surgery.cli.verb`), ``batch
--verb VERB`` and its TOML keys (:mod:`scnn_surgery.batch`) and the library function
``scnn_surgery.VERB`` (``fold-bn`` is ``scnn_surgery.fold_bn``). This module stays light:
the command line imports it to list the verbs, and loads a verb's module only to run it.

How to add a verb ``frob``:

1. Its options: a frozen dataclass ``FrobOptions`` in :mod:`scnn_surgery.options` (the
   class name is the verb's name in CamelCase + ``Options``), each field declared with
   ``declare(KIND, help)``. A field the command takes as arguments rather than an option
   is declared with ``positional=True`` (``rename OLD=NEW...``); ``batch`` takes it as
   its flag (``--rename OLD=NEW``, repeatable).
2. ``scnn_surgery/verbs/frob.py``, whose docstring is the command's ``--help`` (MODEL
   and the options are listed by click): the library function ``frob(net, options) ->
   FrobResult`` (it works on ``net.copy()``, never on ``net``, edits it with
   :mod:`scnn_surgery.core.ops` (graph edits, ``set_param``/``set_net_field`` for values)
   and checks its result), the result class, and ``VERB = VerbSpec("frob", frob)``.
   The result has ``net``, ``notes`` and ``done`` (the sentence said once it is
   written); optionally ``output_files(path) -> [(path, bytes or pieces), ...]`` (what it writes
   for ``-o path`` when that is no prototxt: export's .onnx and its external data),
   ``changed`` (False: nothing to write with --in-place),
   ``renamed`` (old -> new layer names, whose caffemodel entries follow), ``added`` /
   ``removed`` layers (else the names that came and went), ``spec`` (an SCNN module it
   made, whose blobs come from fillers), ``afterwords()`` (lines said after writing) and
   ``adjust_weights(caffemodel) -> notes``, which changes the ``--weights`` caffemodel's
   values in place before it is carried over (fold-bn's folded kernels, retarget's
   kernels for new layers). ``VerbSpec(..., report=f)`` adds fields to batch's report.
3. One line in :data:`REGISTRY` below: the summary, where ``--weights-out`` takes the
   blobs of layers without any, the further prototxt files it reads (splice's
   FRAGMENT), and ``needs_weights=True`` when it cannot run without ``--weights``. A
   verb that writes another kind of file says its ``output_suffix`` (``.onnx``); one
   that reads ``--weights`` itself rather than carrying it to ``--weights-out`` says
   ``reads_weights=True`` and takes ``weights=`` and ``seed=`` keywords.
4. Tests: ``tests/verbs/test_frob.py`` (library, command line).

Nothing else changes: the CLI command, its ``--help``, ``-o``/``--in-place``,
``--weights``/``--weights-out``, ``batch --verb frob`` and ``scnn_surgery.frob`` follow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..core.net import Net

class Entry(NamedTuple):  # not a dataclass: this module is imported by --help
    """What the command line knows of a verb without loading it."""

    summary: str  # the line --help lists it with
    new_layers: str  # where --weights-out takes the blobs of layers that have none
    inputs: tuple[str, ...] = ()  # further prototxt files the verb reads (its arguments)
    needs_weights: bool = False  # without --weights and --weights-out: a usage error
    # A verb that writes no prototxt: the suffix of what it writes (batch names its outputs
    # so; the command needs -o FILE), whose bytes its result's ``output_files`` gives.
    output_suffix: str | None = None
    # --weights is the verb's own input (its function gets ``weights=`` and ``seed=``),
    # not a caffemodel carried over: no --weights-out.
    reads_weights: bool = False


# Verb -> its entry. Its module is scnn_surgery/verbs/<verb, - as _>.py; the module's
# docstring is the command's --help.
REGISTRY: dict[str, Entry] = {
    "insert": Entry(
        "Put a module into a net, rewire its consumers, check, write.",
        "the module comes from its fillers",
    ),
    "splice": Entry(
        "Put any fragment of layers into a net after a blob, and rewire.",
        "the fragment's layers come from their fillers",
        ("fragment",),
    ),
    "strip": Entry(
        "Take an SCNN module out again, and rewire its consumers.",
        "the module's blobs are left out",
    ),
    "remove": Entry(
        "Take layers out of a net, bridging their readers, check, write.",
        "layers without blobs in --weights come from their fillers",
    ),
    "upgrade": Entry(
        "Rewrite a V0 or V1 net as V2, by Caffe's upgrade rules.",
        "layers without blobs in --weights come from their fillers",
    ),
    "rename": Entry(
        "Rename layers and the blobs named after them; weights follow.",
        "every layer keeps its blobs, a renamed one under its new name",
    ),
    "retarget": Entry(
        "Change the input size a net states; regenerate its SCNN modules for it.",
        "a regenerated module's new layers get their direction's trained kernel",
    ),
    "fold-bn": Entry(
        "Fold BatchNorm (and Scale) layers into the convolutions before them.",
        "the folded layers get the folded blobs",
        needs_weights=True,
    ),
    "export": Entry(
        "A net and its caffemodel as ONNX, computing what Caffe does.",
        "the fillers' values, for structure only",
        output_suffix=".onnx",
        reads_weights=True,
    ),
}


class VerbSpec(NamedTuple):
    """What a verb's module declares: its library function, ``function(net, *inputs,
    options)`` (inputs: the nets its entry's ``inputs`` name, loaded), and for ``batch``'s
    report, more of the outcome than the sentence ``done``."""

    name: str
    function: Callable[..., Any]
    report: Callable[[Any], dict[str, Any]] | None = None

    def run(self, net: Net, inputs: Sequence[Net], options: Any, **weights: Any) -> Any:
        """The verb on ``net``; ``weights`` (``weights=``, ``seed=``) for a verb that
        reads ``--weights`` itself."""
        return self.function(net, *inputs, options, **weights)


def command_help(verb: str) -> str:
    """The verb module's docstring, read without importing the module (which loads the
    whole library): ``scnn-surgery VERB --help`` stays light."""
    import ast
    from importlib.util import find_spec

    found = find_spec(f"{__name__}.{module_name(verb)}")
    assert found is not None and found.origin is not None
    with open(found.origin, encoding="utf-8") as source:
        return ast.get_docstring(ast.parse(source.read())) or ""


def module_name(verb: str) -> str:
    return verb.replace("-", "_")


def options_class_name(verb: str) -> str:
    """``fold-bn`` -> ``FoldBnOptions``: the verb's options class in ``options.py``."""
    return "".join(part.capitalize() for part in verb.split("-")) + "Options"


def run_verb(
    verb: str, net: Net, inputs: Sequence[Net], options: Any,
    weights: str | None = None, seed: int | None = None,
) -> Any:
    """The verb's result on ``net``: what the command line and ``batch`` both run. A verb
    that reads a caffemodel itself (export) gets ``weights`` and ``seed``."""
    own: dict[str, Any] = {}
    if REGISTRY[verb].reads_weights:
        own["weights"] = weights
        if seed is not None:  # else the verb's own default
            own["seed"] = seed
    return verb_spec(verb).run(net, inputs, options, **own)


def verb_spec(verb: str) -> VerbSpec:
    """The verb's spec, its module loaded."""
    if verb not in REGISTRY:
        raise KeyError(verb)
    spec: VerbSpec = importlib.import_module(f"{__name__}.{module_name(verb)}").VERB
    return spec


def options_class(verb: str) -> Any:
    """The verb's options class (light: only ``options.py`` is loaded)."""
    from .. import options

    return getattr(options, options_class_name(verb))


def verb_of_options(options: object) -> str:
    """The verb an options object is for."""
    name = type(options).__name__
    for verb in REGISTRY:
        if options_class_name(verb) == name:
            return verb
    raise KeyError(name)


def library_name(name: str) -> Any:
    """``scnn_surgery.<name>`` for a name the registry makes: a verb's function
    (``fold_bn`` for ``fold-bn``), its result class (``FoldBnResult``) or its options class
    (``FoldBnOptions``); None for any other name."""
    for verb in REGISTRY:
        camel = options_class_name(verb).removesuffix("Options")
        if name == options_class_name(verb):
            return options_class(verb)
        if name in (module_name(verb), f"{camel}Result"):
            # the module's function and result are the verb's own names
            return getattr(importlib.import_module(f"{__name__}.{module_name(verb)}"), name)
    return None


def library_names() -> list[str]:
    """Every name :func:`library_name` makes."""
    names = []
    for verb in REGISTRY:
        camel = options_class_name(verb).removesuffix("Options")
        names += [module_name(verb), f"{camel}Result", f"{camel}Options"]
    return names
