"""Admin endpoints under ``/__simulator__/`` (a prefix no Genesys path uses).

They let another process (the CLI demo, a test in another language) drive what
``Simulator.faults``, ``Simulator.behaviour`` and ``Simulator.agent_*`` drive in-process.
Every answer is JSON; a bad request answers 400 ``{"status", "code", "message"}``, and a
missing or unknown field 400 naming it in ``field``. The whole API: docs/simulator-admin.md.

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

Authentication: on the loopback none by default (tests and the demo need nothing); when
the simulator listens on any other address an admin token is required, given as
``Authorization: Bearer <token>`` (``Simulator(admin_token=...)``, or generated and printed
once by ``webchat-async simulator``). A token given for the loopback is required there too.
A missing or wrong token answers 401; tokens are compared in constant time.

Bounds: every count, size and delay is bounded (``_limits.py``,
docs/testing.md#running-it-safely); past a bound the answer is 400 with ``field`` and
``limit`` beside the message.
"""

from __future__ import annotations

import hmac
import inspect
import ipaddress
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from aiohttp import web

from .._convert import unstructure
from ._behaviour import Behaviour
from ._limits import (
    MAX_AGENT_TEXT,
    MAX_CONVERSATION_IDS,
    MAX_MEDIA_TYPES,
    MAX_MESSAGES,
    MAX_SAY_COUNT,
    MAX_SAY_TOTAL,
    LimitError,
    check_count,
)

if TYPE_CHECKING:
    from ._server import Simulator

__all__ = [
    "PREFIX",
    "admin_token_for",
    "exposure_notice",
    "install_admin",
    "is_loopback",
    "loopback_host",
]

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
        "messaging_history_without_metadata",
        "clear",
        "seed",
    }
)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``127.0.0.0/8``, ``::1``, ``localhost``).

    ``0.0.0.0``, ``::``, ``""`` (every interface) and any other name or address are not.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def admin_token_for(host: str, token: str | None) -> tuple[str | None, bool]:
    """The admin token a simulator on ``host`` requires, and whether it was generated here.

    The given ``token`` if any (refused if empty or not printable ASCII: it goes in a
    header); else none on the loopback; else a new random one (32 bytes, URL-safe).
    """
    if token is not None:
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("admin_token must be non-empty printable ASCII without spaces")
        return token, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(32), True


def exposure_notice(host: str, token: str | None, generated: bool) -> list[str]:
    """The lines ``webchat-async simulator`` prints (to stderr) about who can reach it."""
    if is_loopback(host):
        return ["admin API token required (Authorization: Bearer ...)"] if token else []
    lines = [
        f"WARNING: the simulator listens on {host}, beyond the loopback: anyone who can reach "
        "this port can create chats and read their state (plain HTTP, no TLS). It is a test "
        "server; bind 127.0.0.1 unless another machine must reach it.",
    ]
    if generated and token is not None:
        lines.append(f"admin API token (shown once; send Authorization: Bearer <token>): {token}")
    else:
        lines.append("admin API token required (Authorization: Bearer <the token you set>)")
    return lines


def _error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"status": status, "code": "bad.request", "message": message, **extra}
    return web.json_response(body, status=status)


def _limit_error(exc: LimitError, prefix: str = "") -> web.Response:
    return _error(400, f"{prefix}{exc}", field=exc.field, limit=exc.limit)


def _say_count(data: dict[str, Any]) -> int:
    """The ``count`` of a ``say_many``: an integer from 1 to ``MAX_SAY_COUNT``."""
    return check_count("count", data.get("count"), 1, MAX_SAY_COUNT)


def _agent_text(data: dict[str, Any]) -> str:
    text = data.get("text", "")
    if not isinstance(text, str):
        raise LimitError("text", "text must be a string", MAX_AGENT_TEXT)
    if len(text) > MAX_AGENT_TEXT:
        raise LimitError(
            "text", f"text must be at most {MAX_AGENT_TEXT:,} characters", MAX_AGENT_TEXT
        )
    return text


def _room_for(sim: Simulator, conversation_ids: list[str], count: int) -> None:
    for conversation_id in conversation_ids:
        held = len(sim.state.conversations[conversation_id].messages)
        if held + count > MAX_MESSAGES:
            raise LimitError(
                "count",
                f"count: a conversation holds at most {MAX_MESSAGES:,} messages "
                f"({conversation_id} has {held:,})",
                MAX_MESSAGES,
            )


def _fields(
    data: dict[str, Any], what: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> web.Response | None:
    """400 naming the first missing or unknown field of ``data`` (``action`` is allowed);
    ``None`` when the fields are right. A wrong field name must not answer 200 and do
    something else (``{"action": "say", "body": "x"}`` posted an empty message)."""
    for name in required:
        if name not in data:
            return _error(400, f"{what}: missing field {name!r}", field=name)
    known = {"action", *required, *optional}
    for name in data:
        if name not in known:
            return _error(
                400, f"{what}: unknown field {name!r}; known: {sorted(known)}", field=name
            )
    return None


def _parameters(method: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A fault switch's keyword arguments: those without a default, then the others."""
    required: list[str] = []
    optional: list[str] = []
    for name, parameter in inspect.signature(method).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        (required if parameter.default is parameter.empty else optional).append(name)
    return tuple(required), tuple(optional)


# The fields of each agent action (besides "action"): required, then optional.
_AGENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "say": (("text",), ()),
    "say_many": (("text", "count"), ()),
    "typing": ((), ()),
    "request_media": ((), ("types",)),
    "end": ((), ()),
}


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        data = json.loads(await request.text() or "{}")
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack, not a server failure.
        return _error(400, "The body is not JSON (or nests too deep).")
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object.")
    return data


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def loopback_host(host: str) -> bool:
    """Whether a ``Host`` (or ``Origin`` host) header names the loopback
    (``127.0.0.1:8080``, ``localhost``, ``[::1]``)."""
    try:
        name = urlsplit(f"//{host}").hostname
    except ValueError:  # "[::1" and the like
        return False
    return name is not None and is_loopback(name)


def _same_machine(handler: Handler) -> Handler:
    """``handler`` of a simulator on the loopback, refusing what a web page elsewhere can
    send there: a ``Host`` that is not a loopback name (a page whose name was rebound to
    127.0.0.1 would read and drive the simulator), an ``Origin`` that is not the loopback,
    and a body that is not JSON (a cross-site form or ``no-cors`` fetch, which a browser
    sends with no preflight; a JSON one needs a preflight, never granted here)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        if not loopback_host(request.host):
            return _error(403, "On the loopback the admin API answers only to a loopback Host.")
        origin = request.headers.get("Origin")
        if origin is not None and not loopback_host(urlsplit(origin).netloc):
            return _error(403, "The admin API does not answer pages of other origins.")
        if request.method not in ("GET", "HEAD") and request.can_read_body:
            if request.content_type != "application/json":
                return _error(
                    415, "The admin API reads JSON bodies (Content-Type: application/json)."
                )
        return await handler(request)

    return checked


def _guarded(token: str | None, handler: Handler) -> Handler:
    """``handler``, answering 401 first unless the request carries ``token`` (if any)."""
    if token is None:
        return handler
    expected = token.encode()

    async def guarded(request: web.Request) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare_digest on bytes: its time does not depend on where the two differ (a
        # str argument would also refuse non-ASCII input with TypeError).
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), expected
        ):
            response = _error(401, "The admin API needs Authorization: Bearer <admin token>.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="simulator admin"'
            return response
        return await handler(request)

    return guarded


def install_admin(app: web.Application, sim: Simulator, *, local: bool) -> None:
    """Add the admin routes of ``sim`` to ``app`` (``local``: it listens on the loopback)."""

    async def post_fault(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        action = data.pop("action", None)
        if action not in _FAULT_ACTIONS:
            return _error(400, f"action must be one of {sorted(_FAULT_ACTIONS)}")
        kwargs = {_snake(k): v for k, v in data.items()}
        switch = getattr(sim.faults, action)
        refused = _fields(
            {"action": action, **kwargs},
            action,
            *_parameters(switch),
        )
        if refused is not None:
            return refused
        try:
            result = switch(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except LimitError as exc:
            return _limit_error(exc, f"{action}: ")
        except (TypeError, ValueError, KeyError) as exc:
            return _error(400, f"{action}: {type(exc).__name__}: {exc}")
        return web.json_response({"action": action, "result": result})

    async def delete_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        return web.Response(status=204)

    async def post_heartbeats(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        refused = _fields({"action": None, **data}, "heartbeats", ())
        if refused is not None:
            return refused
        return web.json_response({"sent": await sim.send_heartbeats()})

    async def post_agent(request: web.Request) -> web.Response:
        data = await _json_object(request)
        if isinstance(data, web.Response):
            return data
        conversation_id = request.match_info["conversationId"]
        if conversation_id not in sim.state.conversations:
            return _error(404, "Unknown conversation.")
        action = data.get("action")
        fields = _AGENT_FIELDS.get(action) if isinstance(action, str) else None
        if fields is not None:
            refused = _fields(data, str(action), *fields)
            if refused is not None:
                return refused
        try:
            if action == "say":
                text = _agent_text(data)
                _room_for(sim, [conversation_id], 1)
                return web.json_response(unstructure(await sim.agent_say(conversation_id, text)))
            if action == "say_many":
                count = _say_count(data)
                text = _agent_text(data)
                _room_for(sim, [conversation_id], count)
                last = None
                for _ in range(count):
                    last = await sim.agent_say(conversation_id, text)
                return web.json_response({"count": count, "lastId": last.id if last else None})
            if action == "typing":
                return web.json_response(unstructure(await sim.agent_typing(conversation_id)))
            if action == "request_media":
                types = data.get("types") or ["COBROWSE"]
                if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
                    return _error(400, "types must be a list of strings")
                if len(types) > MAX_MEDIA_TYPES or any(len(t) > 64 for t in types):
                    raise LimitError(
                        "types",
                        f"types must list at most {MAX_MEDIA_TYPES} names of 64 characters",
                        MAX_MEDIA_TYPES,
                    )
                media = await sim.agent_request_media(conversation_id, types=list(types))
                return web.json_response(unstructure(media))
            if action == "end":
                await sim.agent_end(conversation_id)
                return web.Response(status=204)
        except LimitError as exc:
            return _limit_error(exc)
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
        refused = _fields(data, "say_many", ("text", "count", "conversationIds"))
        if refused is not None:
            return refused
        ids = data.get("conversationIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _error(400, "conversationIds must be a list of conversation ids")
        try:
            if len(ids) > MAX_CONVERSATION_IDS:
                raise LimitError(
                    "conversationIds",
                    f"conversationIds must list at most {MAX_CONVERSATION_IDS:,} ids",
                    MAX_CONVERSATION_IDS,
                )
            count = _say_count(data)
            if count * len(ids) > MAX_SAY_TOTAL:
                raise LimitError(
                    "count",
                    f"count x conversationIds must be at most {MAX_SAY_TOTAL:,} messages "
                    f"(got {count:,} x {len(ids):,})",
                    MAX_SAY_TOTAL,
                )
            text = _agent_text(data)
        except LimitError as exc:
            return _limit_error(exc)
        unknown = [i for i in ids if i not in sim.state.conversations]
        if unknown:
            return _error(404, f"Unknown conversation: {unknown[0]}")
        try:
            _room_for(sim, ids, count)
        except LimitError as exc:
            return _limit_error(exc)
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
        refused = _fields({"action": None, **data}, "drain", (), ("conversationId",))
        if refused is not None:
            return refused
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

    token = sim.admin_token
    # On the loopback, only what this machine's own programs send (beyond it, the token).

    def protect(handler: Handler) -> Handler:
        guarded = _guarded(token, handler)
        return _same_machine(guarded) if local else guarded

    router = app.router
    router.add_get(f"{PREFIX}/", protect(get_index))
    router.add_get(PREFIX, protect(get_index))
    for method, path, handler, _summary in routes[1:]:
        router.add_route(method, path, protect(handler))
