"""What every benchmark shares: the simulator process, statistics, result records.

Statistics are deliberately plain: a median and the quartiles (or min/max) over a few
runs. A ratio is computed inside each run, from an SDK measurement and a baseline
measurement taken one right after the other (their order alternating from run to run),
and only then summarised: the drift of a shared machine hits both halves of a pair alike.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import attrs

__all__ = [
    "Check",
    "Figure",
    "Result",
    "SimulatorProcess",
    "Stats",
    "alternate",
    "alternate_async",
    "cpu_seconds_of",
    "peak_rss_kib",
    "percentile",
    "raise_open_files_limit",
    "rss_kib",
    "run_module",
]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _status_kib(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def rss_kib(pid: int | str = "self") -> int:
    """The resident set size now, in KiB (Linux)."""
    return _status_kib("VmRSS", pid)


def peak_rss_kib(pid: int | str = "self") -> int:
    """The peak resident set size so far, in KiB (Linux)."""
    return _status_kib("VmHWM", pid)


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces; the fields after it are fixed.
        fields = stat.read().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- statistics -------------------------------------------------------------------------


@attrs.frozen
class Stats:
    """A median with its spread over ``n`` runs."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int
    unit: str

    @classmethod
    def of(cls, values: Sequence[float], unit: str) -> Stats:
        """Summarise ``values`` (at least one)."""
        if not values:
            raise ValueError("no values to summarise")
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(
            median=statistics.median(ordered),
            q1=q1,
            q3=q3,
            min=ordered[0],
            max=ordered[-1],
            n=len(ordered),
            unit=unit,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile of ``values``, nearest rank."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def alternate(runs: int, sdk: Callable[[], T], baseline: Callable[[], T]) -> list[tuple[T, T]]:
    """``(sdk, baseline)`` measurement pairs, taken back to back, the order alternating."""
    pairs = []
    for i in range(runs):
        if i % 2 == 0:
            a = sdk()
            b = baseline()
        else:
            b = baseline()
            a = sdk()
        pairs.append((a, b))
    return pairs


async def alternate_async(
    runs: int, sdk: Callable[[], Awaitable[T]], baseline: Callable[[], Awaitable[T]]
) -> list[tuple[T, T]]:
    """Like :func:`alternate`, for coroutine functions."""
    pairs = []
    for i in range(runs):
        if i % 2 == 0:
            a = await sdk()
            b = await baseline()
        else:
            b = await baseline()
            a = await sdk()
        pairs.append((a, b))
    return pairs


# -- results ----------------------------------------------------------------------------


@attrs.frozen
class Figure:
    """One measured quantity of a benchmark."""

    key: str
    label: str
    stats: Stats

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"key": self.key, "label": self.label, **self.stats.to_json()}


@attrs.frozen
class Check:
    """A goal of the issue and whether the measured value meets it (``value <= limit``, or
    ``value >= limit`` for an ``at_least`` goal)."""

    label: str
    value: float
    limit: float
    unit: str
    met: bool
    at_least: bool = False

    @classmethod
    def at_most(cls, label: str, value: float, limit: float, unit: str) -> Check:
        """The goal ``value <= limit``."""
        return cls(label, value, limit, unit, value <= limit)

    @classmethod
    def at_least_(cls, label: str, value: float, limit: float, unit: str) -> Check:
        """The goal ``value >= limit``."""
        return cls(label, value, limit, unit, value >= limit, at_least=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.frozen
class Result:
    """What one benchmark found."""

    name: str
    title: str
    params: dict[str, Any]
    figures: list[Figure]
    checks: list[Check] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    seconds: float = 0.0

    def figure(self, key: str) -> Figure:
        """The figure named ``key``."""
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "title": self.title,
            "params": self.params,
            "figures": [f.to_json() for f in self.figures],
            "checks": [c.to_json() for c in self.checks],
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }


# -- child processes ----------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of a child process that imports ``benchmarks``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_module(module: str, args: Sequence[str], *, timeout: float) -> str:
    """Run ``python -m module args`` to the end; return its stdout (raise if it failed)."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"python -m {module} failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    return completed.stdout


# -- the simulator process ----------------------------------------------------------------


class SimulatorProcess:
    """``python -m benchmarks._server`` in a child process, for ``with``.

    Attributes (once entered): ``base_url``, ``organization_id``, ``deployment_id``,
    ``pid``.
    """

    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.organization_id = ""
        self.deployment_id = ""
        self.pid = 0

    def __enter__(self) -> SimulatorProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
        self._process = process
        assert process.stdout is not None
        try:
            line = _read_line(process, self._start_timeout)
            info = json.loads(line)
        except BaseException:
            self._stop()
            raise
        self.base_url = info["baseUrl"]
        self.organization_id = info["organizationId"]
        self.deployment_id = info["deploymentId"]
        self.pid = process.pid
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def cpu_seconds(self) -> float:
        """CPU seconds the server has used so far."""
        return cpu_seconds_of(self.pid)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # end of stdin: the server stops on its own
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the simulator process did not start")
            if selector.select(left):
                line = process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the simulator process exited ({process.wait()})")
                return line
