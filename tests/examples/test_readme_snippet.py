"""The README's simulator example runs as written (so it cannot rot): as a test file of a
user's project, through the pytest plugin, in pytest-asyncio's strict and auto modes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_readme_simulator_example_passes(pytester: pytest.Pytester, mode: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (snippet,) = [b for b in blocks if "async def test_my_bot_survives_a_drop" in b]
    pytester.makepyfile(test_readme=snippet)
    pytester.makeini(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)
