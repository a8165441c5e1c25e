"""Smoke tests of the Web Messaging benchmarks: each runs with tiny counts.

They check that the benchmarks still run against the SDK, the burst server and the
simulator, and that the results have the structure the report needs; never a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_bench_smoke import check_result

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import messaging_burst, messaging_sessions  # noqa: E402
from benchmarks._harness import SimulatorProcess, child_env  # noqa: E402
from benchmarks._wm_burst import frame_texts  # noqa: E402
from webchat_async.messaging._wire import decode_frame  # noqa: E402


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as process:
        yield process


def test_messaging_burst() -> None:
    result = messaging_burst.run(runs=2, messages=20)
    check_result(result, "messaging_burst", {"sdk_cpu_us", "raw_cpu_us", "ratio"}, runs=2)
    assert [c.limit for c in result.checks] == [messaging_burst.GOAL]


def test_messaging_sessions(sim: SimulatorProcess) -> None:
    result = messaging_sessions.run(sim, counts=(2, 3), runs=1)
    keys = {f"k{k}_{name}" for k in (2, 3) for name in ("sessions_per_s", "reply_p99_ms")}
    check_result(result, "messaging_sessions", keys | {"k3_rss_per_session_kib"}, runs=1)
    assert result.figure("k3_errors").stats.max == 0
    assert [c.limit for c in result.checks] == [messaging_sessions.GOAL_ERRORS]
    goal = f"{messaging_sessions.GOAL_K}-session goal was not run"
    assert any(goal in n for n in result.notes)


def test_both_are_in_the_suite() -> None:
    for name in ("messaging_burst", "messaging_sessions"):
        assert name in cli.BENCHMARKS
        assert name in cli.PRESETS["full"] and name in cli.PRESETS["quick"]
    assert cli.PRESETS["quick"]["messaging_sessions"]["counts"][-1] == messaging_sessions.GOAL_K


def test_burst_frames_are_agent_messages_in_time_order() -> None:
    # What the burst server writes decodes as the SDK decodes the service's frames.
    frames = [decode_frame(text) for text in frame_texts(1500)]
    messages = [f.body for f in frames]
    assert all(not f.response and f.code == 200 for f in frames)
    times = [m.time for m in messages]  # type: ignore[union-attr]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(m.direction == "Outbound" for m in messages)  # type: ignore[union-attr]


def test_burst_server_stops_when_stdin_closes() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._wm_burst", "3"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    assert server.stdout is not None and server.stdin is not None
    info = json.loads(server.stdout.readline())
    assert info["baseUrl"].startswith("http://127.0.0.1:")
    server.stdin.close()
    assert server.wait(timeout=10) == 0
    server.stdout.close()
