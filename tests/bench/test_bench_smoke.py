"""Smoke test of the benchmark suite: every benchmark runs with tiny counts.

It checks that the code still runs against the SDK and the simulator and that the results
have the structure the report needs; it never judges a timing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) from elsewhere
    sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as cli  # noqa: E402
from benchmarks import (  # noqa: E402
    _report,
    conversion,
    event_burst,
    event_delivery,
    import_time,
    many_sessions,
    rest_call,
    rest_concurrent,
    rest_load,
)
from benchmarks._harness import Result, SimulatorProcess, Stats, alternate  # noqa: E402
from webchat_async.simulator import Simulator  # noqa: E402


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as process:
        yield process


def check_result(result: Result, name: str, keys: set[str], runs: int) -> None:
    assert result.name == name
    assert result.title
    assert {f.key for f in result.figures} >= keys
    for figure in result.figures:
        stats = figure.stats
        assert stats.n == runs, figure.key
        assert stats.min <= stats.q1 <= stats.median <= stats.q3 <= stats.max, figure.key
        assert math.isfinite(stats.median) and stats.unit, figure.key
    for check in result.checks:
        if check.at_least:
            assert check.met == (check.value >= check.limit)
        else:
            assert check.met == (check.value <= check.limit)
    data = json.loads(json.dumps(result.to_json()))
    assert data["name"] == name and len(data["figures"]) == len(result.figures)


async def test_rest_call(sim: SimulatorProcess) -> None:
    result = await rest_call.run(sim, runs=2, calls=3, warmup=1)
    check_result(result, "rest_call", {"sdk_call_us", "httpx_call_us", "ratio"}, runs=2)
    assert [c.limit for c in result.checks] == [rest_call.GOAL]


async def test_rest_concurrent(sim: SimulatorProcess) -> None:
    result = await rest_concurrent.run(sim, runs=2, senders=3, per_sender=2)
    check_result(result, "rest_concurrent", {"sdk_rps", "httpx_rps", "ratio"}, runs=2)
    assert [c.limit for c in result.checks] == [rest_concurrent.GOAL]


async def test_event_delivery(sim: SimulatorProcess) -> None:
    result = await event_delivery.run(sim, runs=2, messages=5)
    check_result(result, "event_delivery", {"sdk_ms", "raw_ms", "ratio", "cpu_ratio"}, runs=2)
    assert [c.limit for c in result.checks] == [event_delivery.GOAL]


def test_rest_load() -> None:
    result = rest_load.run(runs=1, shapes=((1, 2), (3, 2)))
    keys = {f"c3x2_{name}_{kind}" for name in ("sdk", "aiohttp") for kind in ("rps", "cpu_us")}
    check_result(result, "rest_load", keys | {"c3x2_vs_aiohttp", "c1x2_cpu_vs_aiohttp"}, runs=1)
    if importlib.util.find_spec("PureCloudPlatformClientV2") is None:
        assert "not installed" in result.notes[0]
    else:
        goals = {rest_load.GOAL_SPEEDUP, rest_load.GOAL_MEMORY, rest_load.GOAL_SEQUENTIAL, 1, 0}
        assert {c.limit for c in result.checks} == goals
    assert result.checks[-1].value == 0  # no failed send


def test_event_burst() -> None:
    result = event_burst.run(runs=2, messages=20)
    check_result(result, "event_burst", {"sdk_cpu_us", "raw_cpu_us", "ratio"}, runs=2)
    assert [c.limit for c in result.checks] == [event_burst.GOAL]


def test_quick_never_writes_over_the_committed_results(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Path] = []
    monkeypatch.setitem(cli.PRESETS["quick"], "conversion", {"runs": 2, "repeat": 1})
    monkeypatch.setattr(
        cli._report, "write", lambda results, where, **_: written.append(where) or (where, where)
    )
    cli.main(["--quick", "--only", "conversion"])
    assert written == [cli.QUICK_RESULTS] and cli.QUICK_RESULTS != cli.RESULTS


def test_many_sessions(sim: SimulatorProcess) -> None:
    result = many_sessions.run(sim, counts=(2, 3), runs=1)
    keys = {f"k{k}_{name}" for k in (2, 3) for name in ("sessions_per_s", "ttfm_p99_ms")}
    check_result(result, "many_sessions", keys | {"k3_rss_per_session_kib"}, runs=1)
    assert result.figure("k3_errors").stats.max == 0
    assert [c.limit for c in result.checks] == [0, many_sessions.GOAL_RSS_KIB]
    assert any(f"{many_sessions.GOAL_K}-session goal was not run" in n for n in result.notes)


def test_import_time() -> None:
    result = import_time.run(runs=2, top=3)
    keys = {"httpx_ms", "webchat_async_ms", "webchat_async_ratio", "webchat_async_session_ms"}
    check_result(result, "import_time", keys, runs=2)
    assert len(result.checks) == len(import_time.MODULES)
    assert "webchat_async" in result.notes[0]


def test_import_time_measures_compiled_modules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # With PYTHONDONTWRITEBYTECODE set (as on this project's machines) the warm-up wrote no
    # bytecode and every round compiled the SDK's source, against an httpx installed with
    # its bytecode: the ratio read 1.98x for webchat_async.session instead of 1.64x.
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert "PYTHONDONTWRITEBYTECODE" not in import_time._env()
    module = tmp_path / "probe_bytecode.py"
    module.write_text("X = 1\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    subprocess.run(
        [sys.executable, "-c", "import probe_bytecode"], check=True, env=import_time._env()
    )
    assert list((tmp_path / "__pycache__").glob("probe_bytecode.*.pyc"))


def test_conversion() -> None:
    result = conversion.run(runs=2, repeat=2)
    check_result(result, "conversion", {"loads_us", "structure_us", "ratio"}, runs=2)
    assert result.checks == []


def test_stats_and_pairs() -> None:
    stats = Stats.of([4.0, 1.0, 3.0, 2.0], "ms")
    assert (stats.median, stats.min, stats.max, stats.n) == (2.5, 1.0, 4.0, 4)
    assert stats.q1 == 1.75 and stats.q3 == 3.25
    calls: list[str] = []

    def sdk() -> str:
        calls.append("sdk")
        return "s"

    def raw() -> str:
        calls.append("raw")
        return "r"

    pairs = alternate(3, sdk, raw)
    assert pairs == [("s", "r")] * 3
    assert calls == ["sdk", "raw", "raw", "sdk", "sdk", "raw"]


def test_main_writes_json_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.PRESETS["quick"], "conversion", {"runs": 2, "repeat": 1})
    code = cli.main(["--quick", "--only", "conversion", "--results", str(tmp_path)])
    assert code == 0  # no goal to miss in this one
    data = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert data["command"] == "python -m benchmarks --quick --only conversion"
    assert [r["name"] for r in data["results"]] == ["conversion"]
    assert data["environment"]["packages"]["httpx"] == httpx.__version__
    markdown = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| Benchmark | Figure | Median | IQR | Min to max | Runs |" in markdown
    assert "(structure + unstructure) / json.loads" in markdown


def test_markdown_marks_a_missed_goal() -> None:
    from benchmarks._harness import Check, Figure

    result = Result(
        name="x",
        title="X",
        params={},
        figures=[Figure("ratio", "a ratio", Stats.of([1.5], "x"))],
        checks=[Check.at_most("X, SDK / baseline", 1.5, 1.1, "x")],
    )
    text = _report.markdown([result], _report.environment(), command="python -m benchmarks")
    assert "| X, SDK / baseline | 1.50x | <= 1.10x | **no** |" in text


async def test_admin_say_many() -> None:
    async with Simulator(heartbeat_interval=None) as simulator:
        async with httpx.AsyncClient(base_url=simulator.base_url) as client:
            created = await client.post(
                "/api/v2/webchat/guest/conversations",
                json={
                    "organizationId": simulator.organization_id,
                    "deploymentId": simulator.deployment_id,
                    "memberInfo": {"displayName": "Ann"},
                },
            )
            conversation_id = created.json()["id"]
            url = f"/__simulator__/conversations/{conversation_id}/agent"
            not_routed = await client.post(
                url, json={"action": "say_many", "text": "x", "count": 2}
            )
            assert not_routed.status_code == 409
            async with connect(created.json()["eventStreamUri"], proxy=None):
                await simulator.wait_routed(conversation_id)
                before = len(simulator.conversations[conversation_id].messages)
                for bad in (0, -1, "3", True, None):
                    answer = await client.post(
                        url, json={"action": "say_many", "text": "x", "count": bad}
                    )
                    assert answer.status_code == 400, bad
                answer = await client.post(
                    url, json={"action": "say_many", "text": "Hi", "count": 3}
                )
                assert answer.status_code == 200
                messages = simulator.conversations[conversation_id].messages[before:]
                assert [m.body for m in messages] == ["Hi"] * 3
                assert answer.json() == {"count": 3, "lastId": messages[-1].id}
