"""5. Import time: ``import webchat_async`` (and its API and session modules) against
``import httpx``, in fresh processes.

A run starts ``python -c pass``, ``python -c "import httpx"`` and ``python -c "import X"``
for each SDK module in turn (the order rotating from run to run); the import time is the
process's wall time minus that of the ``pass`` process of the same run. The ratio is the
SDK module's import time over httpx's, pair by pair. Since the SDK imports httpx itself,
the ratio can only be above 1: what it measures is the weight of everything else
(websockets, attrs, cattrs and the SDK's own modules).

``python -X importtime`` lists the heaviest modules of the slowest import, for the report.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from ._harness import ROOT, Check, Figure, Result, Stats, child_env

__all__ = ["GOAL", "NAME", "TITLE", "run"]

NAME = "import_time"
TITLE = "Import time (fresh process)"
#: The issue's goal: importing the SDK takes at most twice as long as importing httpx.
GOAL = 2.0

MODULES = ("webchat_async", "webchat_async.api", "webchat_async.session")


def _env() -> dict[str, str]:
    # An installed package has its bytecode (pip compiles a wheel's modules; so does the
    # warm-up below): with PYTHONDONTWRITEBYTECODE set, as on some CI machines, every
    # round would compile the SDK's source while httpx's came compiled from its install
    # (~30 ms of the SDK's ~150 ms measured here), which no user pays twice.
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _spawn(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=_env())
    return time.perf_counter() - t0


def run(*, runs: int = 15, top: int = 8) -> Result:
    """Measure ``runs`` rounds of fresh-process imports."""
    started = time.perf_counter()
    codes = ["pass", "import httpx", *(f"import {m}" for m in MODULES)]
    for code in codes:  # warm the OS file cache and the bytecode caches
        _spawn(code)
    rounds: list[dict[str, float]] = []
    for i in range(runs):
        shift = i % len(codes)
        order = codes[shift:] + codes[:shift]
        rounds.append({code: _spawn(code) for code in order})

    def cost(r: dict[str, float], code: str) -> float:
        return r[code] - r["pass"]

    figures = [
        Figure("python_ms", "python -c pass", Stats.of([r["pass"] * 1e3 for r in rounds], "ms")),
        Figure(
            "httpx_ms",
            "import httpx",
            Stats.of([cost(r, "import httpx") * 1e3 for r in rounds], "ms"),
        ),
    ]
    checks = []
    for module in MODULES:
        code = f"import {module}"
        key = module.replace(".", "_")
        figures.append(
            Figure(f"{key}_ms", code, Stats.of([cost(r, code) * 1e3 for r in rounds], "ms"))
        )
        # A pair whose httpx cost is lost in the noise would give an absurd ratio; the
        # floor keeps it finite (the process start varies by a millisecond or two).
        ratio = Stats.of([cost(r, code) / max(cost(r, "import httpx"), 1e-3) for r in rounds], "x")
        figures.append(Figure(f"{key}_ratio", f"{code} / import httpx", ratio))
        checks.append(Check.at_most(f"{code}, against import httpx", ratio.median, GOAL, "x"))
    notes = [f"heaviest imports of webchat_async.session (self time, µs): {_heaviest(top)}"]
    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs},
        figures=figures,
        checks=checks,
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def _heaviest(top: int) -> str:
    """The ``top`` modules with the largest self time under ``-X importtime`` (median of 3)."""
    samples: dict[str, list[int]] = {}
    for _ in range(3):
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import webchat_async.session"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=_env(),
        )
        for line in completed.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = line[len("import time:") :].split("|")
            samples.setdefault(name.strip(), []).append(int(self_us))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    heaviest = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:top]
    return ", ".join(f"{name} {us:.0f}" for name, us in heaviest)
