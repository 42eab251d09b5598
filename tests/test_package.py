"""``import scnn_surgery``: public names loaded on first use, and typed for mypy."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import networkx as nx
import pytest

import scnn_surgery as ss
from scnn_surgery import _EXPORTS, options
from scnn_surgery.verbs import REGISTRY, library_names

from .conftest import REPO_ROOT


def test_importing_the_package_loads_no_submodule() -> None:
    code = "import sys, scnn_surgery; print(sorted(m for m in sys.modules if 'scnn_surgery.' in m))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(_EXPORTS))
def test_every_public_name_resolves_to_its_module(name: str) -> None:
    module = importlib.import_module(_EXPORTS[name], "scnn_surgery")
    assert getattr(ss, name) is getattr(module, name)
    assert name in ss.__all__ and name in dir(ss)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        ss.nope  # type: ignore[attr-defined]  # noqa: B018


def test_type_checkers_see_the_same_names() -> None:
    """The TYPE_CHECKING imports (what mypy sees) name each export from its module."""
    tree = ast.parse((REPO_ROOT / "scnn_surgery" / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If))
    seen = {
        alias.asname or alias.name: "." * node.level + (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.level > 0  # not typing's Any
        for alias in node.names
    }
    assert {name: seen[name] for name in _EXPORTS} == _EXPORTS
    # the rest are the names the verb registry makes (scnn_surgery.rename, RenameResult)
    assert set(seen) - set(_EXPORTS) <= set(library_names())


def test_each_registered_verb_is_a_library_function_with_its_classes() -> None:
    for verb in REGISTRY:
        name = verb.replace("-", "_")
        assert callable(getattr(ss, name)) and name in ss.__all__
        camel = "".join(part.capitalize() for part in verb.split("-"))
        assert getattr(ss, f"{camel}Options") is getattr(options, f"{camel}Options")
        assert getattr(ss, f"{camel}Result").__name__ == f"{camel}Result"


def test_the_library_api_works_end_to_end() -> None:
    net = ss.loads(
        'layer { name: "data" type: "Input" top: "data"'
        " input_param { shape { dim: 1 dim: 4 dim: 6 dim: 5 } } }\n"
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"'
        " convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n"
    )
    result = ss.insert(net, ss.InsertOptions(after="conv1", kernel_width=3))
    assert result.spec.height == 6 and result.spec.width == 5
    assert ss.generate(ss.ScnnSpec(2, 2, channels=4)).startswith("layer {")


def _module_level_imports(path: Path, module: str, modules: Collection[str]) -> set[str]:
    """The package's modules ``module`` (at ``path``) imports when it is itself imported:
    its top-level import statements, not those inside functions or TYPE_CHECKING. A name
    imported from a package is the submodule of that name, if there is one."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            found |= {
                f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                for alias in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_no_import_cycle() -> None:
    root = REPO_ROOT / "scnn_surgery"
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_edges_from(
            (name, target)
            for target in _module_level_imports(path, name, modules)
            if target in modules and target != name
        )
    assert list(nx.simple_cycles(graph)) == []
