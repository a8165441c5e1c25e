"""The :class:`Simulator`: a loopback Genesys Cloud Web Chat v2 server, and its lifecycle."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from types import TracebackType

from aiohttp import web

from ..models import WebChatDeployment, WebChatGuestMediaRequest, WebChatMessage, WebChatTyping
from ._admin import admin_token_for, install_admin, is_loopback
from ._agent import Agent, EchoAgent
from ._behaviour import Behaviour
from ._chat import Chats
from ._console import Console, FleetView, new_console
from ._faults import FaultControls
from ._messaging import MessagingServer
from ._messaging_routes import install_messaging
from ._routes import build_app
from ._state import ConversationState, Ids, SimulatorState
from ._stream import HEARTBEAT, SOCKET_CLOSING, Hub
from ._tokens import GUEST_TTL, TokenIssuer

__all__ = ["Simulator"]

logger = logging.getLogger("webchat_async.simulator")


class Simulator:
    """A real HTTP + websocket server on loopback that behaves like Genesys Cloud Web Chat v2.

    For example:

    ```python
    async with Simulator() as sim:
        api = WebChatApi(base_url=sim.base_url)
        ...
        await sim.wait_routed(conversation_id)
        await sim.agent_say(conversation_id, "Anything else?")
    ```

    Args:
        host, port: where to listen (``port=0``: any free port; see :attr:`base_url`).
        agent: decides the agent's replies; default :class:`EchoAgent`.
        heartbeat_interval: seconds between heartbeat frames, per socket, counted from its
            attach; ``None``: none (push one with :meth:`send_heartbeats`).
        routing_delay: seconds between the first socket attach and the agent joining.
        guest_token_ttl, oauth_token_ttl: token lifetimes in seconds (the guest JWT lives
            about 21 h, as the service's).
        reconnect_grace: seconds a guest may stay without a socket (before the first
            attach too) before it is removed (docs/protocol.md#the-event-stream);
            ``None``: never.
        behaviour: how to answer where the service's behaviour is unknown (a
            :class:`Behaviour`; the default plays the documented or likeliest answer). The
            attribute :attr:`behaviour` may be replaced while running.
        seed: makes a run repeatable: the entity ids (organization, deployment,
            conversations, members, messages) are the same sequence on every run with the
            same seed, and it seeds the RNG of ``fraction`` faults. ``None``: random ids.
            Secrets (tokens, the OAuth client secret, the admin token) stay random.
        clock: wall-clock seconds for token expiry (``time.time``); tests inject their own.
        admin_token: what the admin API (``/__simulator__/...``) requires as
            ``Authorization: Bearer <token>``. ``None``: none on the loopback; on any other
            ``host`` a random one is made (read it from :attr:`admin_token`). The admin
            API's counts, sizes and delays are bounded (docs/testing.md#running-it-safely).
        console: serve the agent console at ``/console`` (docs/console.md): the
            conversations live, the agent by hand, fault buttons. Its data needs the
            admin token whenever the admin API does.
        console_beyond_loopback: allow ``console`` on a ``host`` other than the loopback
            (refused otherwise: ``ValueError``).
        fleet: a fleet's store (:class:`~webchat_async.worker.MemoryStore`,
            :class:`~webchat_async.worker.RedisStore`, or anything with its ``status()``:
            :class:`FleetView`) whose chats run on this simulator: the console then shows
            which worker holds each chat, and each change of holder on its timeline.
            Needs ``console``.
        fleet_interval: seconds between two reads of ``fleet``'s status.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        agent: Agent | None = None,
        heartbeat_interval: float | None = 30.0,
        routing_delay: float = 0.0,
        guest_token_ttl: float = GUEST_TTL,
        oauth_token_ttl: float = 3600.0,
        reconnect_grace: float | None = 120.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        behaviour: Behaviour | None = None,
        admin_token: str | None = None,
        console: bool = False,
        console_beyond_loopback: bool = False,
        fleet: FleetView | None = None,
        fleet_interval: float = 2.0,
    ) -> None:
        if heartbeat_interval is not None and heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be > 0 or None")
        if console and not console_beyond_loopback and not is_loopback(host):
            raise ValueError(
                f"the console is served on the loopback only, not on {host!r}: pass "
                "console_beyond_loopback=True to serve it there (behind the admin token)"
            )
        if fleet is not None and not console:
            raise ValueError("fleet is shown by the console: pass console=True with it")
        #: The token the admin API requires (``None``: none). Never in the repr or a log.
        self.admin_token: str | None
        #: Whether :attr:`admin_token` was made here (off the loopback, none given).
        self.admin_token_generated: bool
        self.admin_token, self.admin_token_generated = admin_token_for(host, admin_token)
        self._host = host
        self._port = port
        self.heartbeat_interval = heartbeat_interval
        #: How the unknowns are played (docs/protocol.md#unknowns); replace to switch.
        self.behaviour: Behaviour = behaviour if behaviour is not None else Behaviour()
        self.agent: Agent = agent if agent is not None else EchoAgent()
        self._state = SimulatorState(ids=Ids(seed))
        self._hub = Hub()
        self._tokens = TokenIssuer(
            guest_ttl=guest_token_ttl, oauth_ttl=oauth_token_ttl, clock=clock
        )
        self._chats = Chats(
            self._state,
            self._hub,
            self.agent,
            routing_delay=routing_delay,
            reconnect_grace=reconnect_grace,
            heartbeat_interval=heartbeat_interval,
            heartbeats_on=lambda: not self._faults.heartbeats_stopped,
        )
        self._faults = FaultControls(self._hub, self._state, self._chats.detach, seed=seed)
        # Web Messaging on the same server (docs/simulator-messaging.md).
        self._messaging = MessagingServer(
            self._state, self._hub, self._chats, self._faults, clock=clock
        )
        self.client_id = "simulator-" + secrets.token_hex(8)
        self.client_secret = secrets.token_urlsafe(24)
        default = self._state.add_deployment(
            WebChatDeployment(name="Simulator default", description="Created by the simulator")
        )
        if default.id is None:
            raise RuntimeError("the default deployment was stored without an id")
        self.deployment_id: str = default.id
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._console: Console | None = (
            new_console(
                self,
                beyond_loopback=not is_loopback(host),
                fleet=fleet,
                fleet_interval=fleet_interval,
            )
            if console
            else None
        )

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"<Simulator {where} conversations={len(self._state.conversations)}>"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve. Prefer ``async with``."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already started")
        app = build_app(
            state=self._state,
            tokens=self._tokens,
            chats=self._chats,
            faults=self._faults,
            client_id=self.client_id,
            client_secret=self.client_secret,
            admin=lambda app: install_admin(app, self, local=is_loopback(self._host)),
            behaviour=lambda: self.behaviour,
        )
        install_messaging(app, self._messaging)
        if self._console is not None:
            self._console.install(app)
        # No access log: stream URLs embed the guest JWT.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self._console is not None:
            self._console.start_fleet()
        if not is_loopback(self._host):
            logger.warning(
                "simulator listening on %s, beyond the loopback (plain HTTP; the admin API "
                "needs its token)",
                self._host,
            )
        port = runner.addresses[0][1]
        self._base_url = f"http://{_url_host(self._host)}:{port}"

    async def stop(self) -> None:
        """Say ``v2.system.socket_closing`` on every socket and close it (1001), stop
        serving, and raise the first error of the background work (an agent's ``reply``
        that failed, say) if there was one."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self._chats.close()
        await self._close_planned(None)
        await runner.cleanup()
        errors = self._chats.errors
        if errors:
            first = errors[0]
            errors.clear()
            raise first

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.stop()
            return
        try:
            await self.stop()
        except Exception:
            # The error of the block wins over a background error found at shutdown.
            pass

    async def drain(self, conversation_id: str | None = None) -> int:
        """A planned close (a server being replaced): send ``v2.system.socket_closing`` on
        the sockets (of one conversation, or all), then close them with 1001. The
        conversations live on; clients reconnect within the grace. Returns how many."""
        return await self._close_planned(conversation_id)

    async def _close_planned(self, conversation_id: str | None) -> int:
        sockets = self._hub.sockets(conversation_id)
        for socket in sockets:
            await socket.send(SOCKET_CLOSING)
        for socket in sockets:
            self._chats.detach(socket)
        if sockets:
            # 1001 "going away"; bounded so a silent peer cannot hold the close.
            closes = [s.ws.close(code=1001) for s in sockets]
            try:
                await asyncio.wait_for(asyncio.gather(*closes, return_exceptions=True), 2.0)
            except asyncio.TimeoutError:
                for socket in sockets:
                    socket.transport.abort()
        return len(sockets)

    async def send_heartbeats(self) -> int:
        """Push a heartbeat frame to every (not hung) socket now; returns how many."""
        return await self._hub.send_raw(HEARTBEAT)

    # -- what tests read ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: the API base (and OAuth host) to give the SDK."""
        if self._base_url is None:
            raise RuntimeError("the simulator is not started")
        return self._base_url

    @property
    def console_url(self) -> str | None:
        """``http://HOST:PORT/console`` when the console is served, else ``None``."""
        return None if self._console is None else f"{self.base_url}/console"

    @property
    def organization_id(self) -> str:
        """The organization id to create conversations in."""
        return self._state.organization_id

    @property
    def faults(self) -> FaultControls:
        """Fault injection switches."""
        return self._faults

    @property
    def state(self) -> SimulatorState:
        """The in-memory state, for assertions."""
        return self._state

    @property
    def conversations(self) -> Mapping[str, ConversationState]:
        """Shortcut for ``state.conversations``."""
        return self._state.conversations

    def issue_access_token(self) -> str:
        """An OAuth access token, as ``POST /oauth/token`` would give."""
        return self._tokens.issue_access()[0]

    def revoke_access_tokens(self) -> None:
        """Invalidate every OAuth access token issued so far (the next use gets 401)."""
        self._tokens.revoke_access()

    # -- the agent side ------------------------------------------------------------------------

    async def wait_routed(self, conversation_id: str, timeout: float | None = 5) -> None:
        """Return when the agent has joined the conversation (``TimeoutError`` otherwise)."""
        await asyncio.wait_for(self._chats.wait_routed(conversation_id), timeout)

    async def wait_ended(self, conversation_id: str, timeout: float | None = 5) -> None:
        """Return when the chat has ended for the guest (left, removed after the reconnect
        grace period, or ended by the agent)."""
        await asyncio.wait_for(self._chats.wait_ended(conversation_id), timeout)

    async def wait_sockets(
        self, conversation_id: str, count: int, timeout: float | None = 5
    ) -> None:
        """Return when exactly ``count`` sockets are attached to the conversation (after a
        client closed its socket, or reconnected)."""
        await asyncio.wait_for(self._chats.wait_sockets(conversation_id, count), timeout)

    async def wait_attachments(
        self, conversation_id: str, count: int, timeout: float | None = 5
    ) -> None:
        """Return once ``count`` sockets have ever been accepted for the conversation (the
        first attach counts 1; each reattach one more)."""
        await asyncio.wait_for(self._chats.wait_attachments(conversation_id, count), timeout)

    async def wait_heartbeats(
        self, conversation_id: str, count: int, timeout: float | None = 5
    ) -> None:
        """Return once the per-socket heartbeat timers have sent ``count`` heartbeats to
        the conversation's sockets in all (not counting :meth:`send_heartbeats`)."""
        await asyncio.wait_for(self._chats.wait_heartbeats(conversation_id, count), timeout)

    async def wait_requests(
        self, method: str, path: str, count: int = 1, timeout: float | None = 5
    ) -> None:
        """Return once ``count`` ``method`` requests to ``path`` (no query string) have been
        answered, whatever their status (``TimeoutError`` otherwise). For what the client
        sends on its own, such as typing indicators:

        ```python
        await sim.wait_requests("POST", f"{conversation_path}/members/{member}/typing")
        ```
        """
        await asyncio.wait_for(self._chats.wait_requests(method, path, count), timeout)

    async def agent_say(self, conversation_id: str, text: str) -> WebChatMessage:
        """Send ``text`` as the agent."""
        return await self._chats.agent_say(conversation_id, text)

    async def agent_typing(self, conversation_id: str) -> WebChatTyping:
        """Send a typing indicator as the agent."""
        return await self._chats.agent_typing(conversation_id)

    async def agent_request_media(
        self, conversation_id: str, types: list[str] | None = None
    ) -> WebChatGuestMediaRequest:
        """Ask the guest for media (default ``["COBROWSE"]``); also posts a
        ``media-request`` message."""
        return await self._chats.agent_request_media(conversation_id, types or ["COBROWSE"])

    async def agent_end(self, conversation_id: str) -> None:
        """The agent leaves and the chat ends: guest DISCONNECTED, sockets closed 1000."""
        await self._chats.agent_end(conversation_id)

    def messaging_conversation_id(self, token: str) -> str:
        """The id of the current conversation of a Web Messaging session token (the
        guest never learns it), for ``agent_say`` and the ``wait_*`` methods;
        ``KeyError`` if no session has that token."""
        session = self._messaging.state.sessions.get(token)
        if session is None:
            # Not KeyError(token): the token is a secret.
            raise KeyError("no Web Messaging session has this token")
        return session.conversation.id


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
