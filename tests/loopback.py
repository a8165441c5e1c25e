"""Helpers shared by the test folders (not a test module): a guest session on the
simulator, the scripted agent's greeting, and a throwaway aiohttp app on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

from webchat_async import Backoff
from webchat_async.models import GuestMemberInfo
from webchat_async.session import GuestSession, _Starter
from webchat_async.simulator import Simulator

#: What the simulator's default scripted agent says first.
GREETING = "Hello, I'm Sam. How can I help you today?"


def start_guest(sim: Simulator, name: str, **kwargs: Any) -> _Starter:
    """A session on the simulator with zero reconnect delays and no proxy."""
    kwargs.setdefault("backoff", Backoff.none())
    kwargs.setdefault("proxy", None)
    return GuestSession.start(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name=name),
        base_url=kwargs.pop("base_url", sim.base_url),
        **kwargs,
    )


@contextlib.asynccontextmanager
async def serving(app: Any, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve an ``aiohttp.web.Application`` on 127.0.0.1 (a free port) and yield its base
    URL; stopped on exit."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
