"""Guest chats behind a web service, streamed to browsers with Server-Sent Events.

A Starlette app (FastAPI is Starlette: the same code works there) served by uvicorn:

* ``POST /chats`` ``{"name": "Ann"}`` starts a guest chat: ``{"conversationId": ...}``;
* ``POST /chats/{id}/messages`` ``{"text": "Hi"}`` sends a message as the guest;
* ``GET /chats/{id}/events`` streams the chat's events as SSE, one ``event.to_dict()`` per
  ``data:`` line; a message's ``id:`` is its message id, so a browser's ``EventSource``
  that reconnects (``Last-Event-ID``) first gets what it missed, from the chat's history,
  then live events, each message once. Any number of streams per chat (two tabs, a tab
  that reconnects before its old stream is noticed as gone): each is a
  ``session.subscribe()`` of its own.
* ``DELETE /chats/{id}`` leaves the chat.

Restart-safe: the sessions live in a :class:`~webchat_async.service.SessionRegistry` owned
by the app's lifespan. With ``WEBCHAT_REDIS_URL`` set, stopping the app (SIGTERM, SIGINT,
a rolling deploy) saves every open chat to Redis instead of ending it, and the next process
resumes them at start; streams reconnect and miss nothing. Without Redis the chats live in
this process only and stopping the app leaves them.

    WEBCHAT_BASE_URL=http://127.0.0.1:8080 WEBCHAT_ORGANIZATION_ID=... \\
    WEBCHAT_DEPLOYMENT_ID=... uvicorn examples.service_sse:app --timeout-graceful-shutdown 2

(``--timeout-graceful-shutdown``: SSE streams never end on their own, and uvicorn waits for
open requests before it runs the lifespan's shutdown; after this many seconds it cancels
them, then the registry saves the chats.)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from webchat_async import (
    AnyEvent,
    ConversationEnded,
    GuestMemberInfo,
    GuestSession,
    MessageReceived,
    WebChatError,
)
from webchat_async.service import SessionRegistry, Subscription
from webchat_async.worker import MemoryStore, SessionStore

#: Messages of the history replayed to a stream that reconnects, at most.
MAX_REPLAY = 1000


def _store() -> SessionStore:
    url = os.environ.get("WEBCHAT_REDIS_URL")
    if not url:
        return MemoryStore()
    from webchat_async.worker import RedisStore

    # Its own prefix: the worker fleet's workers (if any share the Redis) never take these.
    return RedisStore.from_url(url, prefix=os.environ.get("WEBCHAT_SERVICE_PREFIX", "sse-demo:"))


STORE = _store()
REGISTRY = SessionRegistry(
    store=STORE,
    shutdown="save" if os.environ.get("WEBCHAT_REDIS_URL") else "leave",
    idle_timeout=float(os.environ.get("WEBCHAT_IDLE_TIMEOUT", "600")),
)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    try:
        async with REGISTRY:  # leaving it saves (or leaves) every open chat
            await REGISTRY.resume_all()
            yield
    finally:
        await STORE.aclose()


async def start_chat(request: Request) -> Response:
    body = await request.json()
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        return JSONResponse({"error": "name: a string of 1 to 100 characters"}, 400)
    session = await REGISTRY.add(
        GuestSession.start(
            organization_id=os.environ["WEBCHAT_ORGANIZATION_ID"],
            deployment_id=os.environ["WEBCHAT_DEPLOYMENT_ID"],
            member_info=GuestMemberInfo(display_name=name),
            base_url=os.environ.get("WEBCHAT_BASE_URL"),
            region=os.environ.get("WEBCHAT_REGION"),
        )
    )
    return JSONResponse({"conversationId": session.conversation_id}, 201)


def _session(request: Request) -> GuestSession | None:
    cid = request.path_params["cid"]
    return REGISTRY.get(cid) if cid in REGISTRY else None


async def send(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return JSONResponse({"error": "no such chat"}, 404)
    body = await request.json()
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return JSONResponse({"error": "text: a string"}, 400)
    try:
        message = await session.send_message(text)
    except (WebChatError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return JSONResponse({"messageId": message.id}, 201)


async def leave(request: Request) -> Response:
    await REGISTRY.close(request.path_params["cid"], leave=True)
    return Response(status_code=204)


def _frame(event_id: str | None, data: dict[str, object]) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _stream(
    session: GuestSession, events: Subscription[AnyEvent], last_id: str | None
) -> AsyncIterator[bytes]:
    try:
        seen: set[str] = set()
        if last_id:
            # Subscribed first, then the history: nothing falls between the two, and what
            # both hold is sent once.
            async for message in session.history(after=last_id):
                if len(seen) >= MAX_REPLAY:
                    break
                if message.id:
                    seen.add(message.id)
                    yield _frame(message.id, MessageReceived(message).to_dict())
        yield b": live\n\n"  # a comment: the stream is attached
        async for event in events:
            if isinstance(event, MessageReceived):
                if event.message_id in seen:
                    continue
                yield _frame(event.message_id, event.to_dict())
            else:
                yield _frame(None, event.to_dict())
            if isinstance(event, ConversationEnded):
                return
    finally:
        events.close()  # unsubscribes however the stream ends (the browser went away)


async def stream_events(request: Request) -> Response:
    cid = request.path_params["cid"]
    if cid not in REGISTRY:
        return JSONResponse({"error": "no such chat"}, 404)
    events = REGISTRY.subscribe(cid)
    session = REGISTRY.get(cid)
    last_id = request.headers.get("last-event-id")
    return StreamingResponse(
        _stream(session, events, last_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


app = Starlette(
    routes=[
        Route("/chats", start_chat, methods=["POST"]),
        Route("/chats/{cid}/messages", send, methods=["POST"]),
        Route("/chats/{cid}/events", stream_events, methods=["GET"]),
        Route("/chats/{cid}", leave, methods=["DELETE"]),
    ],
    lifespan=lifespan,
)
