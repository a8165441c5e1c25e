"""The SDK inside an async web service: one shared WebChatApi, one guest session per request.

``POST /ask`` with ``{"name": "Ann", "text": "Where is my order?"}`` opens a guest chat,
sends the text, waits for the agent's answer, leaves, and returns the answer as JSON. All
requests share one ``WebChatApi`` (one connection pool), created when the app starts and
closed when it stops. The web framework here is aiohttp (already there for the
simulator); any asyncio framework works the same way.

    python examples/async_service.py --port 8081       # embedded simulator; default: any free port
    curl -s localhost:8081/ask -d '{"name": "Ann", "text": "hi"}'

It prints the address it listens on (with ``--port 0``, the default, the port the system
chose).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

from _target import Target, parser, target
from aiohttp import web

from webchat_async import (
    ConversationEnded,
    GuestMemberInfo,
    GuestSession,
    MessageReceived,
    WebChatApi,
    WebChatError,
)
from webchat_async.models import BodyType

API = web.AppKey("api", WebChatApi)
TARGET = web.AppKey("target", Target)


async def ask(request: web.Request) -> web.Response:
    payload = await request.json()
    name, text = str(payload.get("name") or "Guest"), str(payload.get("text") or "")
    if not text:
        raise web.HTTPBadRequest(text="'text' is required")
    where = request.app[TARGET]
    try:
        async with GuestSession.start(
            organization_id=where.organization_id,
            deployment_id=where.deployment_id,
            member_info=GuestMemberInfo(display_name=name),
            api=request.app[API],
        ) as session:
            sent = await session.send_message(text)
            answer = await asyncio.wait_for(_answer_to(session, sent.id), timeout=30)
            return web.json_response({"conversationId": session.conversation_id, "answer": answer})
    except (WebChatError, asyncio.TimeoutError) as exc:  # asyncio.TimeoutError: Python 3.10
        # The SDK's errors carry no secret, so they are safe to pass on.
        return web.json_response({"error": str(exc) or type(exc).__name__}, status=502)


async def _answer_to(session: GuestSession, message_id: str | None) -> str | None:
    """The first agent message after our own (the stream echoes ours, in order)."""
    seen_ours = False
    async for event in session.events():
        if isinstance(event, ConversationEnded):
            return None
        if not isinstance(event, MessageReceived):
            continue
        m = event.message
        if m.id == message_id:
            seen_ours = True
        elif seen_ours and m.body_type == BodyType.STANDARD and m.sender is not None:
            if m.sender.id != session.member_id:
                return m.body
    return None


def build_app(where: Target) -> web.Application:
    """The web app; its shared API client lives as long as the app (a cleanup context)."""
    app = web.Application()
    app[TARGET] = where

    async def api_lifetime(app: web.Application) -> AsyncIterator[None]:
        async with WebChatApi(**where.where) as api:
            app[API] = api
            yield

    app.cleanup_ctx.append(api_lifetime)
    app.router.add_post("/ask", ask)
    return app


async def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    args = p.parse_args(argv)
    async with target(args) as where:
        runner = web.AppRunner(build_app(where))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port)
        await site.start()
        port = runner.addresses[0][1]  # the bound port: the one chosen when --port is 0
        print(f"serving on http://127.0.0.1:{port}/ask (Ctrl-C to stop)", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
