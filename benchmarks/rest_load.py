"""Concurrent chats against the official SDK: N chats each posting M messages at once.

The server is :mod:`benchmarks._canned` (a minimal canned HTTP/1.1 server, its own
process), so the client is what is measured. Each client runs in a fresh process
(:mod:`benchmarks._load_client`): the SDK (one ``WebChatApi``, ``with_options`` per chat),
the official ``PureCloudPlatformClientV2`` (a thread and an ``ApiClient`` per chat), and a
bare ``aiohttp.ClientSession`` (the asyncio floor). In each run the three go one after the
other (their order rotating), and the ratios are taken within the run.

Goals (issue 11): at 100 x 20 and 1,000 x 5 the SDK sends at least 2x the official SDK's
messages per second, with less than a fifth of its peak memory. One chat (1 x N) is the
sequential call: its client CPU below the official SDK's and at most 1.10x bare aiohttp's.
Without the official SDK (the ``interop`` extra) its ratios are not measured; a note says so.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from typing import Any

from ._harness import ROOT, Check, Figure, Result, Stats, child_env

__all__ = ["GOAL_MEMORY", "GOAL_SEQUENTIAL", "GOAL_SPEEDUP", "NAME", "TITLE", "CannedServer", "run"]

NAME = "rest_load"
TITLE = "Concurrent chats against a canned server: SDK vs official SDK (thread per chat)"
#: SDK msg/s over the official SDK's, at least.
GOAL_SPEEDUP = 2.0
#: SDK peak RSS over the official SDK's, at most.
GOAL_MEMORY = 0.2
#: Sequential (1 chat): SDK CPU per call over the bare transport's, at most.
GOAL_SEQUENTIAL = 1.10


class CannedServer:
    """``python -m benchmarks._canned`` in a child process, for ``with``."""

    def __enter__(self) -> CannedServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._canned"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._stop()
            raise RuntimeError("the canned server did not start")
        info = json.loads(line)
        self.base_url: str = info["baseUrl"]
        self.pid: int = info["pid"]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _client(name: str, base_url: str, chats: int, messages: int) -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks._load_client",
            name,
            base_url,
            str(chats),
            str(messages),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load client {name} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run(*, runs: int = 5, shapes: tuple[tuple[int, int], ...] = ((100, 20), (1000, 5))) -> Result:
    """``runs`` rounds of each client at each ``(chats, messages)`` shape."""
    started = time.perf_counter()
    official = importlib.util.find_spec("PureCloudPlatformClientV2") is not None
    clients = ["sdk", "aiohttp"] + (["official"] if official else [])
    figures: list[Figure] = []
    checks: list[Check] = []
    notes: list[str] = []
    if not official:
        notes.append(
            "PureCloudPlatformClientV2 is not installed (pip install -e '.[interop]'): "
            "the official SDK was not run, its ratios are not measured."
        )
    with CannedServer() as server:
        for chats, messages in shapes:
            rows: list[dict[str, dict[str, Any]]] = []
            for i in range(runs):
                order = clients[i % len(clients) :] + clients[: i % len(clients)]
                rows.append(
                    {name: _client(name, server.base_url, chats, messages) for name in order}
                )
            total = chats * messages
            tag = f"c{chats}x{messages}"
            for name in clients:
                figures.append(
                    Figure(
                        f"{tag}_{name}_rps",
                        f"{chats} x {messages}: {name} msg/s",
                        Stats.of([total / r[name]["seconds"] for r in rows], "msg/s"),
                    )
                )
                figures.append(
                    Figure(
                        f"{tag}_{name}_cpu_us",
                        f"{chats} x {messages}: {name} client CPU per message",
                        Stats.of([r[name]["cpu"] / total * 1e6 for r in rows], "us"),
                    )
                )
                figures.append(
                    Figure(
                        f"{tag}_{name}_peak_mib",
                        f"{chats} x {messages}: {name} peak RSS of the process",
                        Stats.of([r[name]["peak_rss_kib"] / 1024 for r in rows], "MiB"),
                    )
                )
                errors = sum(r[name]["errors"] for r in rows)
                if errors:
                    notes.append(f"{chats} x {messages}: {name} had {errors} failed sends")
            floor = Stats.of([r["aiohttp"]["seconds"] / r["sdk"]["seconds"] for r in rows], "x")
            figures.append(Figure(f"{tag}_vs_aiohttp", "SDK msg/s / bare aiohttp", floor))
            if official and chats > 1:
                speed = Stats.of(
                    [r["official"]["seconds"] / r["sdk"]["seconds"] for r in rows], "x"
                )
                cpu = Stats.of([r["official"]["cpu"] / r["sdk"]["cpu"] for r in rows], "x")
                memory = Stats.of(
                    [r["sdk"]["peak_rss_kib"] / r["official"]["peak_rss_kib"] for r in rows],
                    "x",
                )
                figures += [
                    Figure(f"{tag}_speedup", "SDK msg/s / official SDK msg/s", speed),
                    Figure(f"{tag}_cpu_ratio", "official CPU/msg / SDK CPU/msg", cpu),
                    Figure(f"{tag}_memory_ratio", "SDK peak RSS / official peak RSS", memory),
                ]
                checks += [
                    Check.at_least_(
                        f"{chats} chats x {messages}: SDK / official SDK msg/s",
                        speed.median,
                        GOAL_SPEEDUP,
                        "x",
                    ),
                    Check.at_most(
                        f"{chats} chats x {messages}: SDK / official SDK peak memory",
                        memory.median,
                        GOAL_MEMORY,
                        "x",
                    ),
                ]
            if chats == 1:
                # Sequential: one call at a time, so CPU per call is the call's cost.
                bare = Stats.of([r["sdk"]["cpu"] / r["aiohttp"]["cpu"] for r in rows], "x")
                figures.append(
                    Figure(f"{tag}_cpu_vs_aiohttp", "CPU/call, SDK / bare aiohttp", bare)
                )
                checks.append(
                    Check.at_most(
                        "Sequential call, client CPU, SDK / bare aiohttp (its transport)",
                        bare.median,
                        GOAL_SEQUENTIAL,
                        "x",
                    )
                )
                if official:
                    versus = Stats.of([r["sdk"]["cpu"] / r["official"]["cpu"] for r in rows], "x")
                    figures.append(
                        Figure(f"{tag}_cpu_vs_official", "CPU/call, SDK / official", versus)
                    )
                    checks.append(
                        Check.at_most(
                            "Sequential call, client CPU, SDK / official SDK",
                            versus.median,
                            1.0,
                            "x",
                        )
                    )
            errors_total = sum(r["sdk"]["errors"] for r in rows)
            checks.append(
                Check.at_most(f"{chats} chats x {messages}: SDK failed sends", errors_total, 0, "")
            )
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "shapes": [list(s) for s in shapes]},
        figures=figures,
        checks=checks,
        notes=notes,
        seconds=time.perf_counter() - started,
    )
