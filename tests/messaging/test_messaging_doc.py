"""docs/messaging-protocol.md: every section cited in the code and the tests (``#`` +
anchor) names a heading of it (headings are stable: code cites them)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "messaging-protocol.md"
CITATION = re.compile(r"docs/messaging-protocol\.md#([a-z0-9-]+)")


def anchors() -> set[str]:
    found = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def test_every_cited_section_exists_and_the_core_cites_its_choices() -> None:
    known = anchors()
    cited: dict[str, set[str]] = {}
    for path in [*ROOT.glob("webchat_async/**/*.py"), *ROOT.glob("tests/**/*.py")]:
        for anchor in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(anchor, set()).add(str(path.relative_to(ROOT)))
    missing = {a: sorted(p) for a, p in cited.items() if a not in known}
    assert missing == {}
    # The sections that hold a [choice] the code makes are cited by the code applying it.
    for section in ("order-and-dedupe", "sends-across-drops", "rate-limit", "hostile-frames"):
        assert any(p.startswith("webchat_async/messaging/") for p in cited[section]), section


def test_the_page_is_in_the_docs_navigation() -> None:
    assert "messaging-protocol.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
