"""``run(host, port)``: serve a simulator until interrupted (the CLI and ``python -m``).

The command-line options of both live in ``webchat_async/cli/_simulator.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from ._admin import exposure_notice
from ._server import Simulator

__all__ = ["run", "serve", "serve_until_signalled", "until_signalled"]


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: asyncio.Event | None = None,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever), after printing how to connect.

    ``options`` are further :class:`Simulator` keywords (from the command line's switches).
    Off the loopback a warning goes to ``err`` (stderr), with the admin token if one was
    generated: printed this once, never logged.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    async with Simulator(host=host, port=port, **(options or {})) as sim:
        for line in exposure_notice(host, sim.admin_token, sim.admin_token_generated):
            print(line, file=err, flush=True)
        # The client secret is printed on purpose: it belongs to this throwaway local
        # server and the user needs it to call the OAuth endpoints. It is never logged.
        print(f"Web Chat simulator listening on {sim.base_url}", file=out)
        print(f"organization id: {sim.organization_id}", file=out)
        print(f"deployment id:   {sim.deployment_id}", file=out)
        print(f"client id:       {sim.client_id}", file=out)
        print(f"client secret:   {sim.client_secret}", file=out)
        if sim.console_url is not None:
            print(f"console:         {sim.console_url}", file=out)
        print("Press Ctrl+C to stop.", file=out, flush=True)
        await (stop or asyncio.Event()).wait()


def run(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve a simulator on ``host:port`` until Ctrl+C (or SIGTERM)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_signalled(host, port))


async def serve_until_signalled(
    host: str = "127.0.0.1", port: int = 8080, *, options: Mapping[str, Any] | None = None
) -> None:
    """:func:`serve` until SIGINT or SIGTERM, then stop cleanly (sockets closed 1001)."""
    await serve(host, port, stop=_signal_event(), options=options)


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM (``webchat-async demo --console`` holds its simulator)."""
    await _signal_event().wait()


def _signal_event() -> asyncio.Event:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows event loops; Ctrl+C then ends asyncio.run instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop
