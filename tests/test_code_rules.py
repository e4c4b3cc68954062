"""Rules of the house that hold for every module of the package, read from its source."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edge_app"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_attribute_docstring_sits_under_an_assignment() -> None:
    """A string under a constant documents that constant; a string anywhere else in a
    module or class body (after its docstring) has lost the constant it was written for."""
    misplaced = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bodies = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        for body in bodies:
            for before, node in itertools.pairwise(body):
                is_string = (
                    isinstance(node, ast.Expr)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                )
                if is_string and not isinstance(before, (ast.Assign, ast.AnnAssign)):
                    misplaced.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert misplaced == []


def _module_names() -> dict[str, Path]:
    names = {}
    for path in SOURCES:
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


MODULES = _module_names()


def _imports(name: str) -> list[tuple[str, int]]:
    """The package's modules that module ``name`` names in an import, with the line: for
    ``from a import b`` that is ``a`` and, when ``b`` is a submodule, ``a.b`` too."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return [(target, line) for target, line in found if target in MODULES]


def test_no_module_imports_a_package_that_imports_it_back() -> None:
    """``from edge_app.sinks import schema`` in sinks/store.py works only because Python
    tolerates a half-initialised package: sinks/__init__.py imports store, which asks the
    package for schema. Submodules import each other by their full names instead."""
    graph = {name: {target for target, _ in _imports(name)} for name in MODULES}

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for target in graph[todo.pop()] - seen:
                seen.add(target)
                todo.append(target)
        return seen

    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    cycles = [
        f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} imports {target}"
        for name in MODULES
        for target, line in _imports(name)
        if target in packages and target != name and name in reachable(target)
    ]
    assert cycles == []
