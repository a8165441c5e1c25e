"""The Python blocks of the documentation site (``docs/``) stay true.

A block fenced ```` ```python ```` is a complete program: it is either a copy of a README
block (then it must be the same text: the README's are type-checked and run by
``test_readme_snippet.py``) or it must pass ``mypy --strict`` here. Fragments (a line of a
notebook, a call with ``...``) are fenced ```` ```py ````.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

from test_readme_snippet import BLOCKS as README_BLOCKS
from test_readme_snippet import MARKERS
from typecheck import mypy_strict

DOCS = Path(__file__).resolve().parents[2] / "docs"


def docs_blocks() -> dict[str, str]:
    found: dict[str, str] = {}
    for page in sorted(DOCS.rglob("*.md")):
        pattern = r"(<!-- file: \S+ -->\n)?```python\n(.*?)```"
        for i, (saved_as, block) in enumerate(re.findall(pattern, page.read_text(), re.S)):
            # A block the page says to save as a file imports its neighbours by file name:
            # tests/docs/test_tutorial.py type-checks and runs those together.
            if not saved_as:
                found[f"{page.stem}_{i}"] = block
    return found


def test_copies_of_readme_blocks_are_identical() -> None:
    copies = 0
    for name, block in docs_blocks().items():
        markers = [m for m in MARKERS.values() if m in block]
        if markers:
            (readme,) = [b for b in README_BLOCKS if markers[0] in b]
            assert block == readme, f"{name} differs from the README block"
            copies += 1
    assert copies >= 3  # quickstart, save/resume, admin (and the test kit)


def test_the_other_blocks_pass_mypy_strict(tmp_path: Path) -> None:
    own = {
        name: block
        for name, block in docs_blocks().items()
        if not any(m in block for m in MARKERS.values())
    }
    assert own, "no block of the docs' own"
    if "assert_never" not in vars(typing):  # 3.10: typing_extensions spells it
        own = {
            k: v.replace(
                "from typing import assert_never", "from typing_extensions import assert_never"
            )
            for k, v in own.items()
        }
    assert mypy_strict(tmp_path, own) == {name: [] for name in own}
