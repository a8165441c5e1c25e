"""The simulator's command line: one option list for ``webchat-async simulator`` and
``python -m webchat_async.simulator``.

Nothing here imports aiohttp until the simulator runs, so ``webchat-async --help`` works
on a plain install.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._common import MissingDependency, require_aiohttp

__all__ = [
    "ADMIN_TOKEN_ENV",
    "DESCRIPTION",
    "add_simulator_arguments",
    "main",
    "run_simulator",
    "simulator_options",
]

#: The admin API token, from the environment only (a flag would show in ``ps`` and history).
ADMIN_TOKEN_ENV = "WEBCHAT_SIMULATOR_ADMIN_TOKEN"

DESCRIPTION = (
    "Serve a local Genesys Cloud Web Chat v2 simulator (REST, event stream, OAuth, a scripted "
    "agent, fault injection) until Ctrl-C or SIGTERM. It prints its base URL, organization "
    "and deployment ids and client credentials. Beyond the loopback (--host 0.0.0.0) it "
    f"warns, and its admin API needs a token: {ADMIN_TOKEN_ENV} from the environment, or "
    "one generated and printed once at start (also required on the loopback when set)."
)


def add_simulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of the simulator: the one list both entry points use.

    A new switch goes here, and into :func:`simulator_options` if it configures the
    :class:`~webchat_async.simulator.Simulator`.
    """
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s); any other than the loopback "
        f"needs an admin token ({ADMIN_TOKEN_ENV}, or one is generated and printed)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="the same organization, deployment, conversation, member and message ids on "
        "every run with the same N (secrets stay random; default: random ids)",
    )
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
        help="reads once the guest is DISCONNECTED (default: %(default)s)",
    )
    group.add_argument(
        "--handshake-after-end",
        type=int,
        choices=(400, 401, 404),
        default=400,
        help="status of a stream handshake once the chat ended (default: %(default)s)",
    )
    console = parser.add_argument_group(
        "console", "the agent console at /console (docs/console.md)"
    )
    console.add_argument("--no-console", action="store_true", help="do not serve the console")
    console.add_argument(
        "--console-beyond-loopback",
        action="store_true",
        help="serve the console on a --host other than the loopback too (behind the admin token)",
    )


def simulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~webchat_async.simulator.Simulator` keywords beyond host and port.

    Needs aiohttp (it builds a :class:`~webchat_async.simulator.Behaviour`).
    """
    from ..simulator import Behaviour
    from ..simulator._admin import is_loopback

    behaviour = Behaviour(
        next_links=not args.pages_without_next,
        answer_text_ping=not args.no_text_pong,
        post_503_after_processing=args.post_503_after_processing,
        reads_after_end=args.reads_after_end,
        handshake_after_end=args.handshake_after_end,
    )
    # The console is served on the loopback unless refused, elsewhere only when asked.
    beyond = bool(args.console_beyond_loopback)
    console = not args.no_console and (beyond or is_loopback(args.host))
    return {
        "behaviour": behaviour,
        "admin_token": os.environ.get(ADMIN_TOKEN_ENV) or None,
        "console": console,
        "console_beyond_loopback": beyond,
        "seed": args.seed,
    }


async def run_simulator(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly; returns the exit status."""
    require_aiohttp("simulator")
    from ..simulator._serve import serve_until_signalled

    await serve_until_signalled(args.host, args.port, options=simulator_options(args))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m webchat_async.simulator``: the same options as ``webchat-async simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m webchat_async.simulator", description=DESCRIPTION
    )
    add_simulator_arguments(parser)
    args = parser.parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(run_simulator(args))
    except MissingDependency as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # the port is taken, the address is not ours
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 130
