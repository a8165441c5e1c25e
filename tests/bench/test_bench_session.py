"""Smoke test of the issue 24 benchmarks (session_events, session_memory) with tiny
counts: they run against the SDK and the canned service, and their results have the
structure the report needs; no timing is judged."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import session_events, session_memory  # noqa: E402
from benchmarks._harness import Result  # noqa: E402


def check_result(result: Result, keys: set[str], runs: int) -> None:
    assert {f.key for f in result.figures} >= keys
    for figure in result.figures:
        if figure.key.startswith("k") and "_sdk_" in figure.key and figure.stats.n == 1:
            continue  # the one big run
        assert figure.stats.n == runs, figure.key
        assert math.isfinite(figure.stats.median), figure.key
    for check in result.checks:
        assert check.met == (check.value <= check.limit)
    assert json.loads(json.dumps(result.to_json()))["name"] == result.name


def test_session_events_runs_all_three_sides() -> None:
    result = session_events.run(runs=2, messages=300)
    check_result(
        result, {"sdk_cpu_us", "sdk_one_ts_cpu_us", "raw_cpu_us", "ratio", "one_ts_ratio"}, 2
    )
    assert [c.limit for c in result.checks] == [
        session_events.GOAL,
        session_events.GOAL_ONE_TIMESTAMP,
    ]


def test_session_memory_sessions_receive_their_messages() -> None:
    result = session_memory.run(counts=(20,), runs=1, big=30)
    check_result(
        result,
        {
            "k20_sdk_rss_per_session_kib",
            "k20_sdk-own_rss_per_session_kib",
            "k20_raw_rss_per_session_kib",
            "k30_sdk_errors",
        },
        1,
    )
    for side in session_memory.SIDES:
        assert result.figure(f"k20_{side}_errors").stats.median == 0
    assert result.figure("k30_sdk_errors").stats.median == 0


def test_both_are_registered_with_quick_sizes() -> None:
    for name in (session_events.NAME, session_memory.NAME):
        assert name in cli.BENCHMARKS
        assert name in cli.PRESETS["quick"] and name in cli.PRESETS["full"]
    assert cli.PRESETS["full"][session_events.NAME]["messages"] == 20000
    assert cli.PRESETS["full"][session_memory.NAME]["big"] == 5000
