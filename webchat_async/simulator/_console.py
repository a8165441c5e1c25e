"""The agent console: a page at ``/console`` on the simulator's own port that lists the
conversations and follows one live, plays the agent by hand and injects faults
(docs/console.md).

Served only when asked (``Simulator(console=True)``, ``webchat-async simulator``). The
page is plain HTML, CSS and JavaScript shipped in the package (``console/``): no build
step, nothing from another host. What it may do:

* ``GET /console``, ``GET /console/static/{name}``: the page (no data in it).
* ``GET /console/api/stream[?conversation=ID]``: server-sent events (``text/event-stream``):
  ``snapshot`` (the list and the followed conversation's timeline), then ``entries``
  (new timeline entries) and ``rows`` (changed list rows) as they happen; a comment line
  every :data:`KEEPALIVE` seconds while nothing happens. No polling: the simulator's hooks
  wake the stream.
* ``GET /console/api/conversations/{id}/export.json`` and ``.../transcript.txt``.
* ``POST /console/api/conversations/{id}/faults`` ``{"fault": NAME}``: one of
  :data:`FAULTS`, with fixed arguments, written on the timeline before it acts.
* The agent's actions go to the admin API (``/__simulator__/conversations/{id}/agent``):
  one place checks them.

Given a fleet view (``Simulator(console=True, fleet=store)``: anything with the
``status()`` of a worker store, :class:`FleetView`), the console reads it every
``fleet_interval`` seconds in a task of its own (started with the server, ended by
``stop()``; a failing read is logged once per outage and retried) and pushes the rows
whose holder changed, with a timeline entry, over the same stream.

Who may use it: on the loopback, anyone on this machine, as the admin API; the data
routes then also refuse a ``Host`` that is not a loopback name (a page of another site
rebinding its name to 127.0.0.1 cannot read them). Beyond the loopback only when
``console_beyond_loopback=True``, and then, as whenever the simulator has an admin token,
every data route needs ``Authorization: Bearer <admin token>`` (the page asks for it and
keeps it in the tab's ``sessionStorage``; no cookie, so no cross-site request carries it).
A ``POST`` must be ``application/json`` and, when it says its ``Origin``, come from the
console's own. Every answer carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from ..errors import WebChatError
from ._admin import _guarded, loopback_host
from ._console_feed import ConsoleFeed, Subscriber, export_record, transcript

if TYPE_CHECKING:
    # Types only: the simulator does not import the worker package at run time.
    from ..worker import FleetStatus
    from ._server import Simulator

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "FAULTS",
    "FLEET_CHAT_LIMIT",
    "FLEET_TIMEOUT",
    "KEEPALIVE",
    "MAX_PAGES",
    "OVERSIZE_BYTES",
    "Console",
    "FleetView",
    "new_console",
]

logger = logging.getLogger("webchat_async.simulator")

#: Pages following the console at once; one more is answered 503.
MAX_PAGES = 32
#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0
#: The ``oversize`` fault's frame: just over the SDK's 1 MiB frame limit.
OVERSIZE_BYTES = 1024 * 1024 + 1024

#: Chats read from the fleet view per poll; past it a chat not listed keeps its holder.
FLEET_CHAT_LIMIT = 2_000
#: Seconds one read of the fleet view may take before it counts as failed.
FLEET_TIMEOUT = 10.0


class FleetView(Protocol):
    """What the console reads to show which worker holds each chat: a worker store
    (:class:`~webchat_async.worker.MemoryStore`, :class:`~webchat_async.worker.RedisStore`)
    or anything with the same ``status()``."""

    async def status(self, *, chat_limit: int = 1000) -> FleetStatus:
        """The fleet's workers, chats (at most ``chat_limit``) and the chats given up."""
        ...


#: Scripts and styles from this origin only, no inline code, no framing, no other host.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC = {
    "index.html": "text/html",
    "console.css": "text/css",
    "console.js": "text/javascript",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _drop(sim: Simulator, conversation_id: str) -> str:
    return f"{sim.faults.drop_sockets(conversation_id)} socket(s) dropped"


def _rate_limit(sim: Simulator, conversation_id: str) -> str:
    sim.faults.rate_limit(n=2, retry_after=1)
    return "armed"


def _server_errors(sim: Simulator, conversation_id: str) -> str:
    sim.faults.server_errors(n=2, status=503)
    return "armed"


def _slow(sim: Simulator, conversation_id: str) -> str:
    sim.faults.delay(2.0, n=3)
    return "armed"


async def _oversize(sim: Simulator, conversation_id: str) -> str:
    sent = await sim.faults.send_oversize(OVERSIZE_BYTES, conversation_id)
    return f"sent to {sent} socket(s)"


#: The fault buttons: name -> (the button, what the timeline says, the action). The REST
#: faults act on the next API calls of any chat (the admin API's switches are global).
FAULTS: dict[str, tuple[str, str, Callable[[Simulator, str], Any]]] = {
    "drop": ("Drop stream", "drop the stream (abort its sockets, no close frame)", _drop),
    "rate_limit": ("429", "429 on the next 2 API calls (Retry-After 1 s)", _rate_limit),
    "server_errors": ("503", "503 on the next 2 API calls", _server_errors),
    "slow": ("Slow", "slow answers: the next 3 API calls wait 2 s", _slow),
    "oversize": ("Oversize frame", "an oversize frame (1 MiB + 1 KiB) on the stream", _oversize),
}


def _headers(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(_SECURITY_HEADERS)
    return response


def _error(status: int, message: str) -> web.Response:
    response = web.json_response({"status": status, "message": message}, status=status)
    _headers(response)
    return response


def _event(name: str, data: Any) -> bytes:
    # json.dumps escapes line breaks inside strings: one data line per event.
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Console:
    """The console of one simulator: its feed, its pages, its routes."""

    def __init__(
        self,
        sim: Simulator,
        *,
        beyond_loopback: bool,
        fleet: FleetView | None = None,
        fleet_interval: float = 2.0,
    ) -> None:
        if not fleet_interval > 0:
            raise ValueError(f"fleet_interval must be > 0, got {fleet_interval}")
        self._sim = sim
        self._beyond_loopback = beyond_loopback
        self._fleet = fleet
        self._fleet_interval = fleet_interval
        self._fleet_task: asyncio.Task[None] | None = None
        self._fleet_failing = False
        messaging = sim._messaging.state.conversations

        def read_only(conversation_id: str) -> bool:
            wm = messaging.get(conversation_id)
            return wm is not None and wm.read_only

        self.feed = ConsoleFeed(sim.state, clock=sim.state.clock, read_only=read_only)
        self._wakers: dict[Subscriber, asyncio.Event] = {}
        self._closing = False
        self._files: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"<Console pages={len(self._wakers)} fleet={self._fleet is not None}>"

    # -- the fleet ---------------------------------------------------------------------

    def start_fleet(self) -> None:
        """Start reading the fleet view, if one was given (the server has started)."""
        if self._fleet is not None and self._fleet_task is None:
            self._fleet_task = asyncio.get_running_loop().create_task(
                self._watch_fleet(), name="webchat-console-fleet"
            )

    async def _watch_fleet(self) -> None:
        while True:
            await self.poll_fleet()
            await asyncio.sleep(self._fleet_interval)

    async def poll_fleet(self) -> bool:
        """Read the fleet view once and push the holders that changed; ``False`` when the
        read failed (logged at the first failure of a run of them, never raised)."""
        if self._fleet is None:
            return False
        try:
            status = await asyncio.wait_for(
                self._fleet.status(chat_limit=FLEET_CHAT_LIMIT), FLEET_TIMEOUT
            )
            owners = {chat.conversation_id: chat.owner for chat in status.chats}
            complete = len(status.chats) < FLEET_CHAT_LIMIT
            self.feed.fleet(owners, status.given_up, complete=complete)
        except Exception as exc:
            if not self._fleet_failing:
                self._fleet_failing = True
                # The SDK's errors carry no secret; another's text might (a URL).
                why = str(exc) if isinstance(exc, WebChatError) else ""
                logger.warning(
                    "console: the fleet view failed (%s%s); retrying every %s s",
                    type(exc).__name__,
                    f": {why}" if why else "",
                    self._fleet_interval,
                )
            return False
        if self._fleet_failing:
            self._fleet_failing = False
            logger.info("console: the fleet view answers again")
        return True

    # -- the hooks ---------------------------------------------------------------------

    def watch(self) -> None:
        """Hook the feed to the simulator's state and hub (before it serves)."""
        hub = self._sim._hub

        def on_hub(kind: str, conversation_id: str, frame: str) -> None:
            if not conversation_id:
                return  # a Web Messaging socket not configured yet
            if kind == "publish":
                self.feed.published(conversation_id, frame)
            else:
                self.feed.socket(conversation_id, kind, hub.count(conversation_id))

        hub.watchers.append(on_hub)
        self._sim.state.watchers.append(self.feed.created)

    # -- routes ------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        """Add the console's routes to ``app`` and stop its streams when it shuts down."""
        self._closing = False
        package = importlib.resources.files("webchat_async.simulator") / "console"
        for name in _STATIC:
            self._files[name] = (package / name).read_bytes()
        token = self._sim.admin_token
        router = app.router
        router.add_get("/console", self.index)
        router.add_get("/console/", self.index)
        router.add_get("/console/static/{name}", self.static)
        router.add_get("/console/api/stream", self._data(token, self.stream))
        router.add_get(
            "/console/api/conversations/{conversationId}/export.json",
            self._data(token, self.export_json),
        )
        router.add_get(
            "/console/api/conversations/{conversationId}/transcript.txt",
            self._data(token, self.export_transcript),
        )
        router.add_post(
            "/console/api/conversations/{conversationId}/faults", self._data(token, self.fault)
        )
        app.on_shutdown.append(self.close)

    def _data(self, token: str | None, handler: Handler) -> Handler:
        """``handler`` behind the admin token (if any) and, on the loopback, a loopback
        ``Host``."""
        guarded = _guarded(token, handler)
        check_host = not self._beyond_loopback

        async def checked(request: web.Request) -> web.StreamResponse:
            if check_host and not loopback_host(request.host):
                return _error(403, "The console answers only to a loopback Host on the loopback.")
            response = await guarded(request)
            if not response.prepared:
                _headers(response)
            return response

        return checked

    async def index(self, request: web.Request) -> web.Response:
        """The page."""
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.Response:
        """The page's style sheet and script."""
        name = request.match_info["name"]
        if name not in _STATIC or name == "index.html":
            return _error(404, "No such file.")
        return self._file(name)

    def _file(self, name: str) -> web.Response:
        response = web.Response(body=self._files[name], content_type=_STATIC[name])
        response.charset = "utf-8"
        _headers(response)
        return response

    def _conversation_id(self, request: web.Request) -> str | None:
        conversation_id = request.match_info["conversationId"]
        return conversation_id if conversation_id in self._sim.state.conversations else None

    async def export_json(self, request: web.Request) -> web.Response:
        """The simulator's record of a conversation, as a JSON download."""
        conversation_id = self._conversation_id(request)
        if conversation_id is None:
            return _error(404, "Unknown conversation.")
        record = export_record(self._sim.state.conversations[conversation_id])
        response = web.json_response(record, dumps=lambda d: json.dumps(d, indent=2))
        response.headers["Content-Disposition"] = (
            f'attachment; filename="conversation-{conversation_id}.json"'
        )
        return response

    async def export_transcript(self, request: web.Request) -> web.Response:
        """A readable transcript of a conversation, as a text download."""
        conversation_id = self._conversation_id(request)
        if conversation_id is None:
            return _error(404, "Unknown conversation.")
        text = transcript(self._sim.state.conversations[conversation_id])
        response = web.Response(text=text, content_type="text/plain", charset="utf-8")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="conversation-{conversation_id}.txt"'
        )
        return response

    async def fault(self, request: web.Request) -> web.Response:
        """One fault button: written on the timeline, then done."""
        if request.content_type != "application/json":
            return _error(415, "The body must be application/json.")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return _error(403, "Cross-origin requests are refused.")
        conversation_id = self._conversation_id(request)
        if conversation_id is None:
            return _error(404, "Unknown conversation.")
        try:
            data = json.loads(await request.text())
        except (ValueError, RecursionError):
            return _error(400, "The body is not JSON.")
        name = data.get("fault") if isinstance(data, dict) else None
        if not isinstance(name, str) or name not in FAULTS:
            return _error(400, f"fault must be one of {sorted(FAULTS)}")
        _button, label, action = FAULTS[name]
        self.feed.note(conversation_id, "fault", f"fault: {label}")
        result = action(self._sim, conversation_id)
        if asyncio.iscoroutine(result):
            result = await result
        return web.json_response({"fault": name, "result": result})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: a snapshot, then what changes."""
        conversation_id = request.query.get("conversation") or None
        if conversation_id is not None and conversation_id not in self._sim.state.conversations:
            return _error(404, "Unknown conversation.")
        if len(self._wakers) >= MAX_PAGES:
            return _error(503, f"At most {MAX_PAGES} console pages at once.")
        if self._closing:
            return _error(503, "The simulator is stopping.")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", **_SECURITY_HEADERS}
        )
        await response.prepare(request)
        wake = asyncio.Event()
        subscriber = self.feed.subscribe(conversation_id, wake.set)
        self._wakers[subscriber] = wake
        try:
            # The snapshot is read at once after subscribing: nothing falls between.
            await response.write(self._snapshot(conversation_id))
            while not self._closing:
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                wake.clear()
                if self._closing:
                    break
                overflowed, entries, changed = subscriber.take()
                if overflowed:
                    await response.write(self._snapshot(conversation_id))
                    continue
                if entries:
                    payload = {"conversationId": conversation_id, "entries": entries}
                    await response.write(_event("entries", payload))
                if changed:
                    await response.write(_event("rows", {"rows": self.feed.rows(changed)}))
        except (ConnectionError, RuntimeError):
            pass  # the page went away (RuntimeError: aiohttp's closed transport)
        finally:
            self.feed.unsubscribe(subscriber)
            del self._wakers[subscriber]
        return response

    def _snapshot(self, conversation_id: str | None) -> bytes:
        timeline = self.feed.timeline(conversation_id) if conversation_id is not None else []
        faults = [
            {"name": n, "button": button, "label": label}
            for n, (button, label, _a) in FAULTS.items()
        ]
        snapshot = {
            "baseUrl": self._sim.base_url,
            "conversationId": conversation_id,
            "rows": self.feed.rows(),
            "timeline": timeline,
            "faults": faults,
            "fleet": self._fleet is not None,
        }
        return _event("snapshot", snapshot)

    async def close(self, app: web.Application | None = None) -> None:
        """End every stream and the fleet's reading (the server is stopping)."""
        self._closing = True
        for wake in self._wakers.values():
            wake.set()
        task, self._fleet_task = self._fleet_task, None
        if task is not None:
            task.cancel()
            # gather: the task's CancelledError is kept, a cancel of close() itself is not.
            await asyncio.gather(task, return_exceptions=True)


def new_console(
    sim: Simulator,
    *,
    beyond_loopback: bool,
    fleet: FleetView | None = None,
    fleet_interval: float = 2.0,
) -> Console:
    """``sim``'s console, fed from now on; :meth:`Console.install` serves it."""
    console = Console(
        sim, beyond_loopback=beyond_loopback, fleet=fleet, fleet_interval=fleet_interval
    )
    console.watch()
    return console
