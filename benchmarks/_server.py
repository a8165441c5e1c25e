"""The simulator process of the benchmarks: ``python -m benchmarks._server``.

Unlike ``python -m webchat_async.simulator`` it binds port 0 and prints one JSON line
(base URL and ids) for the harness to read, and it is tuned for measuring the client:

* no heartbeat loop and no reconnect grace timer: nothing happens that the benchmark did
  not ask for;
* the agent is the :class:`~webchat_async.simulator.EchoAgent`, except that it stays
  silent on messages starting with :data:`QUIET`, so that the REST benchmarks measure
  one request per call and not the server busy answering on the side;
* the open-files limit is raised (1,000 sessions are 1,000 sockets here too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

from webchat_async.models import WebChatMessage
from webchat_async.simulator import ConversationView, EchoAgent, Simulator

from ._harness import raise_open_files_limit

__all__ = ["QUIET", "main"]

#: Messages starting with this get no answer from the agent.
QUIET = "[quiet]"


class _BenchAgent(EchoAgent):
    async def reply(self, conversation: ConversationView, message: WebChatMessage) -> str | None:
        if (message.body or "").startswith(QUIET):
            return None
        return await super().reply(conversation, message)


async def _serve(host: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = Simulator(host, 0, agent=_BenchAgent(), heartbeat_interval=None, reconnect_grace=None)
    async with sim:
        line = {
            "baseUrl": sim.base_url,
            "organizationId": sim.organization_id,
            "deploymentId": sim.deployment_id,
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        # The parent closing our stdin (or dying) stops us too: no orphan server.
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        eof = loop.create_task(reader.read())
        stopped = loop.create_task(stop.wait())
        await asyncio.wait({eof, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (eof, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM, SIGINT or end of stdin."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    asyncio.run(_serve(args.host))


if __name__ == "__main__":
    main()
