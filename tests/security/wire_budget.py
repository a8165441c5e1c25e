"""Budgets for tests that feed hostile input to the decoders (not a test module).

A decoder that goes exponential must fail its test, not hang the run or eat the machine:
:func:`within` interrupts the code under test after a wall-clock budget (SIGALRM; the
exception is a ``BaseException``, so no ``except Exception`` in the code under test can
swallow it), and :func:`run_isolated` runs a script in a child process with a timeout and
an address-space limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class OverBudget(BaseException):
    """The code under test ran past its time budget."""


@contextlib.contextmanager
def within(seconds: float, what: str = "the decode") -> Iterator[None]:
    """Fail the test if the block runs longer than ``seconds`` (interrupted, not waited for)."""
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield  # no interval timer here (Windows, or a worker thread): unbounded
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise OverBudget

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    over = False
    try:
        yield
    except OverBudget:
        over = True  # failed below, outside this handler: no chain of a deep traceback
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if over:
        pytest.fail(f"{what} did not finish within {seconds:g} s", pytrace=False)


def run_isolated(script: str, *args: str, timeout: float = 20.0, memory: int = 2 << 30) -> Any:
    """Run ``script`` with ``args`` in a child Python (this checkout first on its path) and
    return the JSON it prints last; fail if it runs past ``timeout`` seconds, needs more
    than ``memory`` bytes of address space, or fails."""
    if sys.platform != "linux":
        pytest.skip("the address-space limit needs Linux")

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
            env=env,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {timeout:g} s", pytrace=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        pytest.fail(f"the child failed ({done.returncode}): " + " | ".join(tail), pytrace=False)
    return json.loads(done.stdout.strip().splitlines()[-1])
