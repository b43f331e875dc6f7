"""No import cycle in ``simulator/`` or ``nbparity/`` (issue 15).

The graph is built statically from the source (ast), so an import hidden inside a function
counts as much as one at the top of a module: both make the two modules depend on each other.
An edge goes from a module to each module of these packages it imports: ``import a.b`` and
``from a.b import c`` name ``a.b`` (or ``a.b.c`` when that is a module), relative imports are
resolved against the importing module. Importing a submodule runs its package's ``__init__``
first, but that is not an edge of the importing module: a package whose ``__init__`` re-exports
its submodules is no cycle. Imports under ``if TYPE_CHECKING:`` are left out: they never run
(annotations are strings under ``from __future__ import annotations``), so they name a type
without making the module depend on the other at import or call time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("simulator", "nbparity")


def _modules(root=ROOT, packages=PACKAGES):
    """{dotted module name: path} of every .py file of the packages."""
    mods = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _imported(module, path, node):
    """Dotted names an Import/ImportFrom node of ``module`` may refer to, most specific first."""
    if isinstance(node, ast.Import):
        return [[alias.name] for alias in node.names]
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    if node.level:
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    else:
        base = node.module
    return [[f"{base}.{alias.name}", base] for alias in node.names]


def _is_type_checking_block(node) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph(root=ROOT, packages=PACKAGES):
    """{module: set of modules of the packages it imports anywhere in its source}."""
    mods = _modules(root, packages)
    graph = {m: set() for m in mods}
    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        type_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block)
                     for n in ast.walk(block)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in type_only:
                continue
            for candidates in _imported(module, path, node):
                for name in candidates:
                    target = name
                    while target and target not in mods:
                        target = target.rpartition(".")[0]
                    if target:
                        if target != module:
                            graph[module].add(target)
                        break
    return graph


def cycles(graph):
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_graph_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import x\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nimport pkg.c\n")
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from pkg.sub.b import f\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg"] == {"pkg.a"}
    assert graph["pkg.a"] == {"pkg.sub.b"}  # inside a function: still an edge
    assert graph["pkg.sub.b"] == {"pkg.a", "pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set()  # a type-only import never runs
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def _report(found):
    return "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_import_cycle_through_simulator():
    found = [c for c in cycles(import_graph()) if any(m.split(".")[0] == "simulator" for m in c)]
    assert found == [], _report(found)


def test_no_import_cycle_in_simulator_or_nbparity():
    found = cycles(import_graph())
    assert found == [], _report(found)
