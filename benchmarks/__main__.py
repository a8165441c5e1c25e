"""``python -m benchmarks [--quick] [--only NAME ...] [--results DIR]``: run the suite."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import (
    _report,
    conversion,
    event_burst,
    event_delivery,
    import_time,
    many_sessions,
    messaging_burst,
    messaging_sessions,
    rest_call,
    rest_concurrent,
    rest_load,
    session_events,
    session_memory,
    subscribers,
)
from ._harness import Result, SimulatorProcess, raise_open_files_limit

__all__ = ["BENCHMARKS", "PRESETS", "main", "run_benchmark"]

#: name -> (needs the simulator, is a coroutine function, the run function)
BENCHMARKS: dict[str, tuple[bool, bool, Callable[..., Any]]] = {
    rest_call.NAME: (True, True, rest_call.run),
    rest_concurrent.NAME: (True, True, rest_concurrent.run),
    rest_load.NAME: (False, False, rest_load.run),
    event_delivery.NAME: (True, True, event_delivery.run),
    event_burst.NAME: (False, False, event_burst.run),
    many_sessions.NAME: (True, False, many_sessions.run),
    import_time.NAME: (False, False, import_time.run),
    conversion.NAME: (False, False, conversion.run),
    messaging_burst.NAME: (False, False, messaging_burst.run),
    messaging_sessions.NAME: (True, False, messaging_sessions.run),
    session_events.NAME: (False, False, session_events.run),
    session_memory.NAME: (False, False, session_memory.run),
    subscribers.NAME: (True, True, subscribers.run),
}

#: The counts of each benchmark: the full suite (a few minutes) and ``--quick``.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        rest_call.NAME: {"runs": 9, "calls": 300, "warmup": 30},
        rest_concurrent.NAME: {"runs": 9, "senders": 100, "per_sender": 10},
        rest_load.NAME: {"runs": 5, "shapes": ((1, 2000), (100, 20), (1000, 5))},
        event_delivery.NAME: {"runs": 9, "messages": 5000},
        event_burst.NAME: {"runs": 7, "messages": 20000},
        many_sessions.NAME: {"counts": (100, 1000, 5000), "runs": 2},
        import_time.NAME: {"runs": 15},
        conversion.NAME: {"runs": 9, "repeat": 200},
        messaging_burst.NAME: {"runs": 7, "messages": 20000},
        messaging_sessions.NAME: {"counts": (100, 1000), "runs": 3},
        session_events.NAME: {"runs": 7, "messages": 20000},
        session_memory.NAME: {"counts": (1000,), "runs": 3, "big": 5000},
        subscribers.NAME: {"runs": 7, "messages": 5000},
    },
    "quick": {
        rest_call.NAME: {"runs": 5, "calls": 100, "warmup": 10},
        rest_concurrent.NAME: {"runs": 5, "senders": 100, "per_sender": 4},
        rest_load.NAME: {"runs": 2, "shapes": ((1, 100), (100, 5), (1000, 2))},
        event_delivery.NAME: {"runs": 5, "messages": 1000},
        event_burst.NAME: {"runs": 3, "messages": 2000},
        many_sessions.NAME: {"counts": (100, 1000), "runs": 1},
        import_time.NAME: {"runs": 7},
        conversion.NAME: {"runs": 5, "repeat": 50},
        messaging_burst.NAME: {"runs": 3, "messages": 2000},
        messaging_sessions.NAME: {"counts": (100, 1000), "runs": 1},
        session_events.NAME: {"runs": 3, "messages": 2000},
        session_memory.NAME: {"counts": (1000,), "runs": 1, "big": None},
        subscribers.NAME: {"runs": 3, "messages": 1000},
    },
}

RESULTS = Path(__file__).resolve().parent / "results"
#: Where ``--quick`` writes unless told otherwise: never over the committed full results.
QUICK_RESULTS = Path(tempfile.gettempdir()) / "webchat-async-benchmarks-quick"

from .fleet import register as _register_fleet  # noqa: E402 (adds itself to both tables)

_register_fleet(BENCHMARKS, PRESETS)


def run_benchmark(name: str, params: dict[str, Any]) -> Result:
    """Run one benchmark (with its own simulator process when it needs one)."""
    needs_server, is_async, function = BENCHMARKS[name]
    if not needs_server:
        result: Result = function(**params)
        return result
    with SimulatorProcess() as sim:
        if is_async:
            result = asyncio.run(function(sim, **params))
        else:
            result = function(sim, **params)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print a summary, write the results; exit 1 if a goal is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (about a minute)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"where to write results (default {RESULTS}; with --quick, {QUICK_RESULTS})",
    )
    args = parser.parse_args(argv)
    if args.results is None:
        args.results = QUICK_RESULTS if args.quick else RESULTS
    raise_open_files_limit()
    preset = PRESETS["quick" if args.quick else "full"]
    names = args.only or list(BENCHMARKS)
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(names)

    started = time.perf_counter()
    results = []
    for name in names:
        print(f"{name} ...", end=" ", flush=True)
        result = run_benchmark(name, preset[name])
        results.append(result)
        print(f"{result.seconds:.1f} s", flush=True)
        for check in result.checks:
            verdict = "met" if check.met else "MISSED"
            print(f"    {check.label}: {check.value:.3g} (limit {check.limit:g}) {verdict}")
    seconds = time.perf_counter() - started
    json_path, md_path = _report.write(results, args.results, command=command, seconds=seconds)
    print(f"\n{len(results)} benchmarks in {seconds:.0f} s; wrote {json_path} and {md_path}")
    return 0 if all(c.met for r in results for c in r.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
