"""The layer rule (docs/architecture.md): nothing imports anything above it, and no modules
import each other in a circle.

Every import of an ``ocrr`` module counts, at the top of a module or inside a function,
except those under ``if TYPE_CHECKING:`` (annotations only; never run) and ``from ocrr
import __version__`` (metadata).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: dict[str, int] = {
    # 0: the foundation: errors and the shared helpers, importing nothing else of OCRR
    "ocrr.errors": 0,
    "ocrr.vectors": 0,
    "ocrr.heads": 0,
    "ocrr.validation": 0,  # the contract's input checks (imports only ocrr.errors)
    "ocrr.names": 0,  # the rule for names and texts people read (imports nothing)
    # 1: data, encoders, the ledger
    "ocrr.datasets": 1,
    "ocrr.encoders": 1,
    "ocrr.ledger": 1,
    # 2: nearest-neighbour indexes
    "ocrr.index": 2,
    # 3: the classifier
    "ocrr.substrate": 3,
    # 4: the benchmark's systems (baselines, registry)
    "ocrr.systems": 4,
    # 5: the benchmark
    "ocrr.bench": 5,
    # 6: the front doors
    "ocrr.server": 6,
    "ocrr.client": 6,
    "ocrr.sklearn": 6,
    "ocrr.river": 6,
    "ocrr._frontdoor": 6,  # what ocrr.sklearn and ocrr.river share
    # 7: the command line
    "ocrr.cli": 7,
    # the package itself re-exports the public names: nothing inside imports it
    "ocrr": 8,
}


def layer_of(module: str) -> int | None:
    """The layer of ``module``: its own entry or its nearest package's (the root ``ocrr``
    counts only for itself, so a new top-level module must be given a layer)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return LAYERS.get(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(module, names) for every import that runs: top level, in functions, in classes;
    not under ``if TYPE_CHECKING:``. Relative imports are resolved against ``module``."""
    found: list[tuple[str, list[str]]] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``ocrr`` modules it imports (``from pkg import sub`` counts as ``sub``)."""
    paths = {module_name(p): p for p in sorted((SRC / "ocrr").rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        targets: set[str] = set()
        for base, names in imported_names(tree, module, path.name == "__init__.py"):
            if base != "ocrr" and not base.startswith("ocrr."):
                continue
            if base == "ocrr" and all(n.startswith("__") for n in names):
                continue  # the package's metadata (__version__), not its code
            subs = [f"{base}.{name}" for name in names if f"{base}.{name}" in paths]
            targets.update(subs or [base])
            if subs and len(subs) < len(names):  # names from the package itself too
                targets.add(base)
        graph[module] = {t for t in targets if t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


GRAPH = import_graph()


def test_every_module_has_a_layer():
    missing = sorted(m for m in GRAPH if layer_of(m) is None)
    assert not missing, f"give these modules a layer in LAYERS (and in the docs): {missing}"


def test_nothing_imports_a_higher_layer():
    violations = sorted(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if (layer_of(module) or 0) < (layer_of(target) or 0)
    )
    assert not violations, "lower layer imports a higher one:\n" + "\n".join(violations)


def test_no_modules_import_each_other_in_a_circle():
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


# -- the checker itself -------------------------------------------------------------------


def test_the_checker_sees_imports_in_functions_but_not_under_type_checking():
    source = """
from typing import TYPE_CHECKING
from ocrr.errors import DimensionError
from . import sibling
if TYPE_CHECKING:
    from ocrr.cli import main
else:
    import ocrr.vectors
def later():
    from ocrr.bench import grid
"""
    found = imported_names(ast.parse(source), "ocrr.index.select", is_package=False)
    bases = [base for base, _ in found]
    assert "ocrr.cli" not in bases
    assert {"ocrr.errors", "ocrr.index", "ocrr.vectors", "ocrr.bench"} <= set(bases)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_checker_finds_cycles(graph, expected):
    assert cycles(graph) == expected
