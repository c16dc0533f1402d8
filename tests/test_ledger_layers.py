"""The ledger package in layers: each module imports only its own layer and those below,
nothing of OCRR outside the package but the foundation's errors (``ocrr.errors``), no
circles, and no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import ocrr.ledger

PACKAGE = Path(ocrr.ledger.__file__).parent

LAYERS = {
    # entries, keys and the pure algorithms
    "entry": 0, "keys": 0, "sealing": 0, "merkle": 0, "signing": 0,
    # the stores
    "store": 1, "rows": 1, "head": 1, "memory": 1, "sqlite": 1, "postgres": 1, "location": 1,
    "keystores": 1, "split": 1, "sqlreads": 1, "pg": 1,
    # the log: validate, chain, seal, append, sync
    "validation": 2, "keyring": 2, "log": 2,
    # the tree: heads and proofs
    "tree": 3,
    # the audit: verification, proof checks
    "audit": 4, "integrity": 4,
    # the ledger, and what is built on it
    "ledger": 5, "transfer": 6, "move": 6, "__init__": 7,
}


def _ledger_imports(path: Path) -> set[str]:
    """The ``ocrr`` modules ``path`` imports, anywhere in it (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("ocrr"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ocrr"):
            if node.module == "ocrr.ledger":  # `from ocrr.ledger import rows`: a submodule
                found.update(f"ocrr.ledger.{alias.name}" for alias in node.names
                             if (PACKAGE / f"{alias.name}.py").exists())
            else:
                found.add(node.module)  # type: ignore[arg-type]
    return found


def test_every_module_has_a_layer():
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(LAYERS)


def test_no_import_reaches_up_or_out():
    for path in PACKAGE.glob("*.py"):
        layer = LAYERS[path.stem]
        for module in _ledger_imports(path) - {"ocrr.errors", "ocrr.names"}:  # layer 0
            assert module.startswith("ocrr.ledger."), f"{path.name} imports {module}"
            target = module.removeprefix("ocrr.ledger.")
            assert LAYERS[target] <= layer, f"{path.name} (layer {layer}) imports {target}"


def test_no_import_circles():
    graph = {p.stem: {m.removeprefix("ocrr.ledger.")
                      for m in _ledger_imports(p) - {"ocrr.errors"}}
             for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import circle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in graph.get(name, ()):
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_no_module_over_400_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
