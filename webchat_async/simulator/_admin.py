"""Admin endpoints under ``/__simulator__/`` (a prefix no Genesys path uses).

They let another process (the CLI demo, a test in another language) drive what
``Simulator.faults``, ``Simulator.behaviour`` and ``Simulator.agent_*`` drive in-process.
Every answer is JSON; a bad request answers 400 ``{"status", "code", "message"}``.

* ``GET /__simulator__/``: this list, as ``{"routes": [{"method", "path", "summary"}]}``.
* ``POST /__simulator__/faults`` ``{"action": "rate_limit", "n": 2, "retryAfter": 1}``:
  call one :class:`FaultControls` method (arguments in snake_case or camelCase);
  answers ``{"action": ..., "result": ...}``.
* ``DELETE /__simulator__/faults``: clear every fault (204).
* ``POST /__simulator__/heartbeats``: push a heartbeat now.
* ``POST /__simulator__/conversations/{id}/agent`` ``{"action": "say", "text": "Hi"}``
  (also ``typing``, ``request_media`` with ``types``, ``end``, and ``say_many`` with
  ``count``: the agent sends ``text`` that many times in a row, answering
  ``{"count": n, "lastId": ...}`` once every frame is sent; the benchmarks use it).
* ``POST /__simulator__/agent`` ``{"action": "say_many", "text": ..., "count": n,
  "conversationIds": [...]}``: the same in many chats from one request (round by round:
  every chat's first message, then every chat's second...); answers
  ``{"count": n, "conversations": k}``, 404 naming an unknown id.
* ``GET /__simulator__/state``: ids and a summary of each conversation.
* ``GET /__simulator__/behaviour``: the :class:`~webchat_async.simulator.Behaviour` in
  force, camelCase (``{"nextLinks": true, "answerTextPing": true,
  "post503AfterProcessing": false, "readsAfterEnd": "refused", "handshakeAfterEnd": 400}``).
* ``PUT /__simulator__/behaviour`` with some of those fields: change them (the others keep
  their value); answers the new behaviour, or 400 naming the bad field.
* ``POST /__simulator__/drain`` ``{"conversationId": ...}`` (optional): a planned close,
  ``v2.system.socket_closing`` then close 1001; answers ``{"closed": n}``.

**[choice]** No authentication: the simulator is a loopback test server.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

from .._convert import unstructure
from ._behaviour import Behaviour

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = ["PREFIX", "install_admin"]

PREFIX = "/__simulator__"

_FAULT_ACTIONS = frozenset(
    {
        "drop_sockets",
        "close_sockets",
        "hang_sockets",
        "refuse_handshakes",
        "rate_limit",
        "server_errors",
        "fail_after_processing",
        "delay",
        "send_malformed",
        "send_unknown_topic",
        "send_oversize",
        "send_raw",
        "stop_heartbeats",
        "resume_heartbeats",
        "duplicate_next_events",
        "expire_guest_tokens",
        # Web Messaging (docs/simulator-messaging.md#fault-switches)
        "reorder_next_events",
        "drop_before_echo",
        "fail_uploads",
        "messaging_rate_limit",
        "messaging_socket_limit",
        "messaging_session_ttl",
        "expire_sessions",
        "limit_attachments",
        "clear",
        "seed",
    }
)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _say_count(data: dict[str, Any]) -> int | None:
    """The ``count`` of a ``say_many``: an integer >= 1 (not a bool), else ``None``."""
    count = data.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return None
    return count


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"status": status, "code": "bad.request", "message": message}, status=status
    )


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        data = json.loads(await request.text() or "{}")
    except ValueError:
        return _error(400, "The body is not JSON.")
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object.")
    return data


def install_admin(app: web.Application, sim: Simulator) -> None:
    """Add the admin routes of ``sim`` to ``app``."""

    async def post_fault(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        action = data.pop("action", None)
        if action not in _FAULT_ACTIONS:
            return _error(400, f"action must be one of {sorted(_FAULT_ACTIONS)}")
        kwargs = {_snake(k): v for k, v in data.items()}
        try:
            result = getattr(sim.faults, action)(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except (TypeError, ValueError, KeyError) as exc:
            return _error(400, f"{action}: {type(exc).__name__}: {exc}")
        return web.json_response({"action": action, "result": result})

    async def delete_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        return web.Response(status=204)

    async def post_heartbeats(request: web.Request) -> web.Response:
        return web.json_response({"sent": await sim.send_heartbeats()})

    async def post_agent(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        conversation_id = request.match_info["conversationId"]
        if conversation_id not in sim.state.conversations:
            return _error(404, "Unknown conversation.")
        action = data.get("action")
        try:
            if action == "say":
                return web.json_response(
                    unstructure(await sim.agent_say(conversation_id, str(data.get("text", ""))))
                )
            if action == "say_many":
                count = _say_count(data)
                if count is None:
                    return _error(400, "count must be an integer >= 1")
                text = str(data.get("text", ""))
                last = None
                for _ in range(count):
                    last = await sim.agent_say(conversation_id, text)
                return web.json_response({"count": count, "lastId": last.id if last else None})
            if action == "typing":
                return web.json_response(unstructure(await sim.agent_typing(conversation_id)))
            if action == "request_media":
                types = data.get("types") or ["COBROWSE"]
                media = await sim.agent_request_media(conversation_id, types=list(types))
                return web.json_response(unstructure(media))
            if action == "end":
                await sim.agent_end(conversation_id)
                return web.Response(status=204)
        except RuntimeError as exc:
            return _error(409, str(exc))
        return _error(400, "action must be say, say_many, typing, request_media or end")

    async def post_agents(request: web.Request) -> web.Response:
        # One request for many chats: a load driver that posted one per chat spent more of
        # its own CPU on those requests than on the events it meant to measure
        # (benchmarks/fleet.py).
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        if data.get("action") != "say_many":
            return _error(400, "action must be say_many")
        ids = data.get("conversationIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error(400, "conversationIds must be a list of conversation ids")
        count = _say_count(data)
        if count is None:
            return _error(400, "count must be an integer >= 1")
        unknown = [i for i in ids if i not in sim.state.conversations]
        if unknown:
            return _error(404, f"Unknown conversation: {unknown[0]}")
        text = str(data.get("text", ""))
        try:
            for _ in range(count):
                for conversation_id in ids:
                    await sim.agent_say(conversation_id, text)
        except RuntimeError as exc:
            return _error(409, str(exc))
        return web.json_response({"count": count, "conversations": len(ids)})

    async def get_state(request: web.Request) -> web.Response:
        conversations = [
            {
                "id": c.id,
                "protocol": c.protocol,
                "guestMemberId": c.guest_member_id,
                "routed": c.routed,
                "ended": c.ended,
                "socketCount": c.socket_count,
                "messageCount": len(c.messages),
            }
            for c in sim.state.conversations.values()
        ]
        return web.json_response(
            {
                "baseUrl": sim.base_url,
                "organizationId": sim.organization_id,
                "deploymentId": sim.deployment_id,
                "conversations": conversations,
                "requestCount": len(sim.state.requests),
            }
        )

    def behaviour_json() -> dict[str, Any]:
        b = sim.behaviour
        return {
            "nextLinks": b.next_links,
            "answerTextPing": b.answer_text_ping,
            "post503AfterProcessing": b.post_503_after_processing,
            "readsAfterEnd": b.reads_after_end,
            "handshakeAfterEnd": b.handshake_after_end,
        }

    async def get_behaviour(request: web.Request) -> web.Response:
        return web.json_response(behaviour_json())

    async def put_behaviour(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        names = {a.name for a in attrs.fields(Behaviour)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            name = _snake(key).replace("503", "_503").replace("__", "_")
            if name not in names:
                return _error(400, f"unknown behaviour field {key!r}; known: {sorted(names)}")
            changes[name] = value
        try:
            sim.behaviour = attrs.evolve(sim.behaviour, **changes)
        except (TypeError, ValueError) as exc:
            return _error(400, f"bad behaviour: {exc}")
        return web.json_response(behaviour_json())

    async def post_drain(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        conversation_id = data.get("conversationId")
        if conversation_id is not None and conversation_id not in sim.state.conversations:
            return _error(404, "Unknown conversation.")
        return web.json_response({"closed": await sim.drain(conversation_id)})

    routes: list[tuple[str, str, Any, str]] = [
        ("GET", f"{PREFIX}/", None, "this list of admin routes"),
        ("POST", f"{PREFIX}/faults", post_fault, "call one fault switch: {action, ...args}"),
        ("DELETE", f"{PREFIX}/faults", delete_faults, "clear every fault"),
        ("POST", f"{PREFIX}/heartbeats", post_heartbeats, "push a heartbeat to every socket"),
        (
            "POST",
            PREFIX + "/conversations/{conversationId}/agent",
            post_agent,
            "act as the agent: {action: say|say_many|typing|request_media|end}",
        ),
        (
            "POST",
            f"{PREFIX}/agent",
            post_agents,
            "the agent in many chats: {action: say_many, text, count, conversationIds}",
        ),
        ("GET", f"{PREFIX}/state", get_state, "ids and a summary of each conversation"),
        ("GET", f"{PREFIX}/behaviour", get_behaviour, "the behaviour switches in force"),
        ("PUT", f"{PREFIX}/behaviour", put_behaviour, "change behaviour switches"),
        ("POST", f"{PREFIX}/drain", post_drain, "socket_closing, then close sockets (1001)"),
    ]

    async def get_index(request: web.Request) -> web.Response:
        listing = [{"method": m, "path": p, "summary": s} for m, p, _h, s in routes]
        return web.json_response({"routes": listing})

    router = app.router
    router.add_get(f"{PREFIX}/", get_index)
    router.add_get(PREFIX, get_index)
    for method, path, handler, _summary in routes[1:]:
        router.add_route(method, path, handler)
