"""Library code checks with real errors, never ``assert`` (gone under ``python -O``)."""

from __future__ import annotations

import ast
from pathlib import Path

import webchat_async

PACKAGE = Path(webchat_async.__file__).parent


def test_no_assert_statement_in_the_library() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [
            f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Assert)
        ]
    assert not found, "assert as a runtime check (vanishes under -O): " + ", ".join(found)


def test_the_walk_sees_the_package_and_finds_asserts() -> None:
    # The test above could pass by looking at nothing: it looks at the real modules,
    # and an assert in one of them is found.
    assert len(list(PACKAGE.rglob("*.py"))) > 40
    tree = ast.parse("def f(x):\n    assert x is not None\n")
    assert any(isinstance(node, ast.Assert) for node in ast.walk(tree))
