"""Dependency rules: the pure core does no I/O and never reads the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every module's syntax tree, parsed when this file is collected, before any test runs:
# CPython 3.11.7's parser can fail ("AST constructor recursion depth mismatch") when
# called late in a long test session, whatever the file.
PROJECT_TREES: dict[Path, ast.AST] = {p: ast.parse(p.read_text())
                                      for top in ("syncer", "reports", "bench", "tests")
                                      for p in (ROOT / top).rglob("*.py")}
# The shipped packages' modules (what the purity and dependency rules are about).
TREES = {p: tree for p, tree in PROJECT_TREES.items()
         if p.is_relative_to(ROOT / "syncer") or p.is_relative_to(ROOT / "reports")}
# The pure core, by package: every module in them, today's and tomorrow's, is checked.
PURE_PACKAGES = ("reports", "syncer/normalize", "syncer/sandbox/generator")
IO_LIBRARIES = {"stripe", "httpx", "sqlalchemy", "sqlmodel", "smtplib", "slack_sdk", "structlog", "requests",
                "socket", "os", "subprocess", "threading", "alembic", "psycopg", "urllib"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("date", "today"), ("time", "monotonic")}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _project_imports(tree: ast.AST) -> set[Path]:
    """The project's own modules a module imports (``from a.b import c``: a/b.py or a/b/c.py)."""
    found: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            dotted = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            dotted = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in dotted:
            base = ROOT.joinpath(*name.split("."))
            found.update(p for p in (base.with_suffix(".py"), base / "__init__.py") if p in TREES)
    return found


def _clock_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            value = node.func.value
            base = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else ""
            if (base, node.func.attr) in CLOCK_CALLS:
                found.append(f"{base}.{node.func.attr}() at line {node.lineno}")
    return found


def _says_it_is_pure(tree: ast.AST) -> bool:
    """A module elsewhere that calls itself pure in its docstring's first line is held to it."""
    doc = ast.get_docstring(tree) if isinstance(tree, ast.Module) else None
    return doc is not None and "(pure" in doc.splitlines()[0]


def _pure_modules() -> list[Path]:
    """The pure packages, the modules that say they are pure, and every project module
    any of those imports (a pure module cannot lean on one that does I/O)."""
    todo = [p for p, tree in TREES.items()
            if any(p.is_relative_to(ROOT / pkg) for pkg in PURE_PACKAGES) or _says_it_is_pure(tree)]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_project_imports(TREES[path]) - seen)
    return sorted(seen)


PURE = [str(p.relative_to(ROOT)) for p in _pure_modules()]


def test_the_pure_core_covers_the_rules_and_what_they_read() -> None:
    # Not a list to keep: a sample that fails if the package rule or the import closure breaks.
    for module in ("syncer/normalize/churn.py", "reports/churn.py", "reports/metrics/compute.py",
                   "syncer/stripe/shapes.py", "syncer/stripe/resources.py", "syncer/sync/projection.py",
                   "syncer/sync/windows.py", "syncer/errors.py", "syncer/sandbox/generator/simulation.py"):
        assert module in PURE, module


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


# -- stripe-python through its public API only -------------------------------------------

PRIVATE_USES = ast.parse(
    "import stripe._api_requestor\n"
    "import stripe._util as u\n"
    "from stripe._api_version import _ApiVersion\n"
    "from stripe import _util\n"
    "from stripe import Invoice as Inv, HTTPXClient\n"
    "stripe._util.logger\n"
    "stripe.Invoice._field_encodings\n"
    "Inv._field_encodings\n"
    "HTTPXClient._client\n"
    "getattr(stripe, '_ApiVersion')\n"
)
PUBLIC_USES = ast.parse(
    "import stripe\n"
    "from stripe import Invoice, ListObject\n"
    "from syncer.stripe import client\n"
    "stripe.api_version, stripe.Invoice.OBJECT_NAME, Invoice.__qualname__, client._loads\n"
    "getattr(stripe, 'log')\n"
)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_stripe_module(module: str) -> bool:
    return module.split(".")[0] == "stripe"


def _stripe_names(tree: ast.AST) -> set[str]:
    """The names a module binds to stripe or to something imported from it."""
    names = {"stripe"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names
                         if _is_stripe_module(a.name))
        elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
              and _is_stripe_module(node.module)):
            names.update(a.asname or a.name for a in node.names)
    return names


def _private_stripe_names(tree: ast.AST) -> list[str]:
    """Each use of a name stripe-python keeps private: a module or attribute named ``_x``."""
    roots = _stripe_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _is_stripe_module(a.name)
                      and any(_private(part) for part in a.name.split("."))]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_stripe_module(node.module):
                found += [f"from {node.module} import {a.name}" for a in node.names
                          if _private(a.name) or any(_private(p) for p in node.module.split("."))]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in roots:
                found.append(f"{ast.unparse(node)} at line {node.lineno}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "getattr" and len(node.args) >= 2
              and isinstance(node.args[0], ast.Name) and node.args[0].id in roots
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value)):
            found.append(f"{ast.unparse(node)} at line {node.lineno}")
    return found


def test_the_private_name_check_sees_every_form() -> None:
    assert len(_private_stripe_names(PRIVATE_USES)) == 9
    assert _private_stripe_names(PUBLIC_USES) == []


def test_no_module_uses_a_private_name_of_the_stripe_package() -> None:
    # A private name can change in any minor release of stripe-python and break the sync.
    found = {str(p.relative_to(ROOT)): names for p, tree in PROJECT_TREES.items()
             if (names := _private_stripe_names(tree))}
    assert found == {}


TEST_TREES = {p: tree for p, tree in PROJECT_TREES.items() if p.is_relative_to(ROOT / "tests")}


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
