"""Dependency rules: the pure core does no I/O and never reads the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = [
    "syncer/sync/projection.py",
    "syncer/stripe/shapes.py",
    "syncer/months.py",
    *[str(p.relative_to(ROOT)) for p in (ROOT / "syncer" / "normalize").rglob("*.py")],
    "syncer/sync/windows.py",
    "syncer/stripe/resources.py",
    "syncer/sandbox/generator.py",
    *[str(p.relative_to(ROOT)) for p in (ROOT / "reports").rglob("*.py")],
]
# Every module's syntax tree, parsed when this file is collected, before any test runs:
# CPython 3.11.7's parser can fail ("AST constructor recursion depth mismatch") when
# called late in a long test session, whatever the file.
TREES: dict[Path, ast.AST] = {p: ast.parse(p.read_text())
                              for p in [*(ROOT / "syncer").rglob("*.py"), *(ROOT / "reports").rglob("*.py")]}
IO_LIBRARIES = {"stripe", "httpx", "sqlalchemy", "sqlmodel", "smtplib", "slack_sdk", "structlog", "requests", "socket"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("date", "today"), ("time", "monotonic")}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _clock_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            value = node.func.value
            base = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else ""
            if (base, node.func.attr) in CLOCK_CALLS:
                found.append(f"{base}.{node.func.attr}() at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", PURE)
def test_pure_modules_do_no_io_and_read_no_clock(path: str) -> None:
    tree = TREES[ROOT / path]
    assert not (_imports(tree) & IO_LIBRARIES), path
    assert _clock_calls(tree) == [], path


def test_only_the_client_module_imports_stripe() -> None:
    importers = [
        str(p.relative_to(ROOT))
        for p, tree in TREES.items()
        if "stripe" in _imports(tree)
    ]
    # The sandbox reads stripe-python's typed classes (its conformance check and its
    # expand[] rules), never the network.
    assert sorted(importers) == ["syncer/sandbox/conformance.py", "syncer/sandbox/expansion.py",
                                 "syncer/sandbox/stripe_types.py", "syncer/stripe/client.py"]


def test_reports_never_imports_syncer() -> None:
    for p, tree in TREES.items():
        if p.is_relative_to(ROOT / "reports"):
            assert "syncer" not in _imports(tree), p


# The tests' own modules, parsed at collection for the same reason as TREES.
TEST_TREES: dict[Path, ast.AST] = {p: ast.parse(p.read_text()) for p in (ROOT / "tests").rglob("*.py")}


def _imported_modules(path: Path, tree: ast.AST) -> set[str]:
    """Dotted names a module imports; ``from a import b`` counts ``a`` and ``a.b`` (b may be a module)."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def test_no_module_of_the_tests_imports_a_test_module() -> None:
    """Builders, fakes and fixtures shared by several modules live in helper modules and in
    conftest.py: a helper kept in a test module is found by accident, and importing it
    brings that module's fixtures along."""
    importers = sorted(
        f"{p.relative_to(ROOT)} imports {name}"
        for p, tree in TEST_TREES.items()
        for name in _imported_modules(p, tree)
        if name.split(".")[0] == "tests" and any(part.startswith("test_") for part in name.split("."))
    )
    assert importers == []
