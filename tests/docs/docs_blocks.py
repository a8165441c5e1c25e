"""The fenced code blocks of a Markdown page, for tests that run the documentation.

Not a test module. A block is ```` ```lang ```` ... ```` ``` ```` at the start of a line; an
HTML comment ``<!-- file: NAME -->`` on the line before it names the file the reader is told
to save it as (the tutorial's ``mybot.py``), so a test can write it out and run it as is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

#: The repository's docs/ folder.
DOCS = Path(__file__).resolve().parents[2] / "docs"

_BLOCK = re.compile(
    r"(?:^<!-- file: (?P<file>[^ ]+) -->\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$",
    re.M | re.S,
)


class Block(NamedTuple):
    """One fenced block: its language, text, first line (1-based) and file name."""

    lang: str
    code: str
    line: int
    file: str | None


def blocks(page: str | Path) -> list[Block]:
    """Every fenced block of ``page`` (a path, or a name under docs/), in order."""
    path = DOCS / page if isinstance(page, str) else page
    text = path.read_text(encoding="utf-8")
    return [
        Block(m["lang"], m["code"], text.count("\n", 0, m.start("code")) + 1, m["file"])
        for m in _BLOCK.finditer(text)
    ]


def block_defining(page: str, name: str) -> Block:
    """The one Python block of ``page`` that defines ``name`` (a function)."""
    found = [
        b
        for b in blocks(page)
        if b.lang in ("python", "py") and re.search(rf"^(async )?def {name}\(", b.code, re.M)
    ]
    if len(found) != 1:
        raise LookupError(f"{page}: {len(found)} Python blocks define {name}()")
    return found[0]
