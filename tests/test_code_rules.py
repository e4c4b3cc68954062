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
