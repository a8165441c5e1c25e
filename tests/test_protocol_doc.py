"""docs/protocol.md: every section of it cited in the code and the tests (``#`` + anchor) names
a heading of it (headings are stable: code cites them)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "protocol.md"
CITATION = re.compile(r"docs/protocol\.md#([a-z0-9-]+)")


def slug(heading: str) -> str:
    """The anchor GitHub (and mkdocs' toc) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors() -> set[str]:
    return {
        slug(line.lstrip("#"))
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def test_every_cited_section_exists() -> None:
    known = anchors()
    assert {"the-event-stream", "unknowns", "create", "the-guest-jwt"} <= known
    cited: dict[str, set[str]] = {}
    for path in [*ROOT.glob("webchat_async/**/*.py"), *ROOT.glob("tests/**/*.py"), DOC]:
        for anchor in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(anchor, set()).add(str(path.relative_to(ROOT)))
    assert cited, "nothing cites docs/protocol.md"
    missing = {a: sorted(p) for a, p in cited.items() if a not in known}
    assert missing == {}


def test_internal_links_resolve() -> None:
    text = DOC.read_text(encoding="utf-8")
    links = re.findall(r"\]\(#([a-z0-9-]+)\)", text)
    assert links
    assert set(links) <= anchors()
