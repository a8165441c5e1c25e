"""The README's simulator example runs as written (so it cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

README = Path(__file__).resolve().parents[2] / "README.md"


async def test_the_readme_simulator_example_passes() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (snippet,) = [b for b in blocks if "async def test_my_bot_survives_a_drop" in b]
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    await namespace["test_my_bot_survives_a_drop"]()
