"""Smoke test of the fan-out benchmark (issue 27): it runs with tiny counts, is registered in
both presets, and its result has the report's structure; it never judges a timing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import subscribers  # noqa: E402
from benchmarks._harness import SimulatorProcess  # noqa: E402


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as process:
        yield process


def test_registered_in_both_presets() -> None:
    assert cli.BENCHMARKS[subscribers.NAME] == (True, True, subscribers.run)
    for preset in ("full", "quick"):
        assert set(cli.PRESETS[preset][subscribers.NAME]) == {"runs", "messages"}


async def test_subscribers(sim: SimulatorProcess) -> None:
    result = await subscribers.run(sim, runs=2, messages=5, subscribers=3)
    assert result.name == "subscribers"
    keys = {f.key for f in result.figures}
    assert keys == {"one_cpu_us", "many_cpu_us", "cpu_ratio", "wall_ratio"}
    for figure in result.figures:
        assert figure.stats.n == 2
    (check,) = result.checks
    assert check.limit == subscribers.GOAL == 2.0
    assert check.met == (check.value <= check.limit)
