"""The README and docs/ stay short, true to the repository and free of a day's notes.

Every relative link resolves (file and heading), every test a document names exists,
every setting is in the README, and docs/BENCHMARK.md shows the tables of
bench/results.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.run import BEGIN_MARK, END_MARK, render_results

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *DOCS, ROOT / "deploy" / "README.md"]
README_MAX_LINES = 260

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
TEST_REF = re.compile(r"\b(tests/[\w/]+\.py)(?:::(\w+))?")
SETTING_LINE = re.compile(r"^#?[ \t]*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# What a lab notebook says and a document should not: the day's run, the clock time.
DATED = re.compile(r"this session|earlier today|the run before|\b\d{1,2}:\d{2} UTC\b", re.IGNORECASE)


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} +(.+?) *$", document.read_text(), re.MULTILINE)
    return {_slug(h) for h in headings}


def _relative_links(document: Path) -> list[str]:
    return [t for t in LINK.findall(document.read_text()) if not re.match(r"[a-z]+:", t)]


def _resolves(document: Path, target: str) -> bool:
    """``target`` (``path``, ``path#heading`` or ``#heading``) names what exists."""
    path, _, anchor = target.partition("#")
    resolved = (document.parent / path).resolve() if path else document
    if not resolved.exists():
        return False
    return not anchor or resolved.suffix != ".md" or anchor in _anchors(resolved)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file_and_heading(document: Path) -> None:
    assert [t for t in _relative_links(document) if not _resolves(document, t)] == []


def test_the_readme_links_every_document_in_docs() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in _relative_links(README)}
    assert [d.name for d in DOCS if d.resolve() not in linked] == []


def test_the_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_the_readme_lists_every_setting_of_env_example() -> None:
    settings = set(SETTING_LINE.findall((ROOT / ".env.example").read_text()))
    readme = README.read_text()
    assert sorted(name for name in settings if f"`{name}`" not in readme) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_test_a_document_names_exists(document: Path) -> None:
    missing = []
    for path, name in TEST_REF.findall(document.read_text()):
        file = ROOT / path
        if not file.is_file() or (name and not re.search(rf"^\s*def {name}\(", file.read_text(), re.MULTILINE)):
            missing.append(f"{path}::{name}" if name else path)
    assert missing == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_hold_no_dated_notes(document: Path) -> None:
    assert DATED.findall(document.read_text()) == []


def test_the_benchmark_document_shows_the_tables_of_results_json() -> None:
    text = (ROOT / "docs" / "BENCHMARK.md").read_text()
    generated = text.split(BEGIN_MARK, 1)[1].split(END_MARK, 1)[0]
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    assert generated.strip() == render_results(results).strip(), "run `python -m bench --doc-only`"
