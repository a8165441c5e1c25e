"""``run(host, port)``: serve a simulator until interrupted (the CLI and ``python -m``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TextIO

from ._behaviour import Behaviour
from ._server import Simulator

__all__ = [
    "add_behaviour_arguments",
    "behaviour_from_args",
    "run",
    "serve",
    "serve_until_signalled",
]


def add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the :class:`Behaviour` switches to a command line (``python -m
    webchat_async.simulator`` and the CLI's ``simulator`` subcommand)."""
    group = parser.add_argument_group(
        "behaviour", "how to play what the service leaves undocumented (docs/protocol.md)"
    )
    group.add_argument(
        "--pages-without-next", action="store_true", help="messages pages carry no next link"
    )
    group.add_argument(
        "--no-text-pong", action="store_true", help='leave {"message": "ping"} unanswered'
    )
    group.add_argument(
        "--post-503-after-processing",
        action="store_true",
        help="store every message POST, then answer 503",
    )
    group.add_argument(
        "--reads-after-end",
        choices=("refused", "served"),
        default="refused",
        help="reads once the guest is DISCONNECTED (default: refused)",
    )
    group.add_argument(
        "--handshake-after-end",
        type=int,
        choices=(400, 401, 404),
        default=400,
        help="status of a stream handshake once the chat ended (default: 400)",
    )


def behaviour_from_args(args: argparse.Namespace) -> Behaviour:
    """The :class:`Behaviour` that :func:`add_behaviour_arguments`' options ask for."""
    return Behaviour(
        next_links=not args.pages_without_next,
        answer_text_ping=not args.no_text_pong,
        post_503_after_processing=args.post_503_after_processing,
        reads_after_end=args.reads_after_end,
        handshake_after_end=args.handshake_after_end,
    )


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    behaviour: Behaviour | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever), after printing how to connect."""
    out = out if out is not None else sys.stdout
    async with Simulator(host=host, port=port, behaviour=behaviour) as sim:
        # The client secret is printed on purpose: it belongs to this throwaway local
        # server and the user needs it to call the OAuth endpoints. It is never logged.
        print(f"Web Chat simulator listening on {sim.base_url}", file=out)
        print(f"organization id: {sim.organization_id}", file=out)
        print(f"deployment id:   {sim.deployment_id}", file=out)
        print(f"client id:       {sim.client_id}", file=out)
        print(f"client secret:   {sim.client_secret}", file=out)
        print(f"admin routes:    {sim.base_url}/__simulator__/", file=out)
        print("Press Ctrl+C to stop.", file=out, flush=True)
        await (stop or asyncio.Event()).wait()


def run(host: str = "127.0.0.1", port: int = 8080, behaviour: Behaviour | None = None) -> None:
    """Serve a simulator on ``host:port`` until Ctrl+C (or SIGTERM)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_until_signalled(host, port, behaviour))


async def serve_until_signalled(
    host: str = "127.0.0.1", port: int = 8080, behaviour: Behaviour | None = None
) -> None:
    """:func:`serve` until SIGINT or SIGTERM, then stop cleanly (sockets closed 1001)."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows event loops; Ctrl+C then ends asyncio.run instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await serve(host, port, stop=stop, behaviour=behaviour)
