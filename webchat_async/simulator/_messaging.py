"""The Web Messaging guest websocket of the simulator: the actions of spec §3, the pushes,
session expiry and the session limit (docs/simulator-messaging.md). The agent's side is
``_messaging_agent.py``; the HTTP routes are ``_messaging_routes.py``.

Which frames answer a request (``"response"``) and which are pushed (``"message"``) follows
the table of spec §2. Pushes go through the shared :class:`Hub` (one group of sockets per
conversation), so the socket faults of :class:`FaultControls` (drop, close, hang, raw
frames, duplicate, reorder) act on Web Messaging sockets as on Web Chat v2 ones.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from .._convert import dump_json, format_datetime, parse_json
from ..models import BodyType
from ._chat import Chats
from ._faults import FaultControls
from ._messaging_agent import MessagingAgent
from ._messaging_state import (
    MAX_DEPTH,
    MAX_FRAME_BYTES,
    MAX_SESSIONS,
    MAX_TEXT,
    MAX_TOKEN,
    Attachment,
    MessagingConfig,
    MessagingState,
    WmConversation,
    WmSession,
    attachment_content,
    attachment_refusal,
    custom_attributes_size,
    depth,
    frame,
    origin_allowed,
    presence_type,
    structured,
)
from ._state import ConversationState, SimulatorState
from ._stream import HEARTBEAT, SOCKET_CLOSING, Hub, Socket
from ._tokens import TokenIssuer
from ._wire import Failure

__all__ = ["MessagingServer"]

READ_ONLY = "Session is read-only, no new messages allowed"
#: **[choice]** The history JWT lives one hour (``exp`` of the ``JwtResponse``).
JWT_TTL = 3600.0
_MAX_TRACING_ID = 256
_MAX_LIST = 20  # events or content items in one message


class _Refused(Exception):
    """An action refused with a ``string`` response frame (spec §5)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


class _WmSocket(Socket):
    """A guest websocket: its session once configured, and the URL base it came in on."""

    __slots__ = ("base", "deployment_id", "seq", "session")

    def __init__(
        self, ws: web.WebSocketResponse, transport: Any, base: str, deployment_id: str, seq: int
    ) -> None:
        super().__init__("", ws, transport)
        self.base = base
        self.deployment_id = deployment_id
        self.seq = seq
        self.session: WmSession | None = None

    async def send(self, text: str) -> bool:
        # Web Chat v2 system frames (heartbeat, socket_closing) sent to every socket of the
        # hub have no place in this protocol.
        if text in (HEARTBEAT, SOCKET_CLOSING):
            return False
        return await super().send(text)


class MessagingServer:
    """Serves Web Messaging on the simulator's server; drives its conversations' agent."""

    def __init__(
        self,
        state: SimulatorState,
        hub: Hub,
        chats: Chats,
        faults: FaultControls,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chat_state = state
        self.state = MessagingState(state)
        self._hub = hub
        self._chats = chats
        self._faults = faults
        #: The fault switches (the upload route reads them too).
        self.faults = faults
        self._clock = clock
        # A key of its own: a history JWT is no Web Chat v2 guest JWT.
        self._jwts = TokenIssuer(guest_ttl=JWT_TTL, oauth_ttl=1.0, clock=clock)
        self._sockets: set[_WmSocket] = set()
        self._seq = itertools.count()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self.agent = MessagingAgent(self.state, chats, self.push)
        faults.expire_messaging = self.expire
        self._actions = {
            "configureSession": self._configure,
            "onMessage": self._on_message,
            "echo": self._echo,
            "getJwt": self._get_jwt,
            "onAttachment": self._on_attachment,
            "getAttachment": self._get_attachment,
            "deleteAttachment": self._delete_attachment,
            "closeSession": self._close_session,
        }

    def __repr__(self) -> str:
        return f"<MessagingServer sessions={len(self.state.sessions)} sockets={len(self._sockets)}>"

    def config(self, deployment_id: str) -> MessagingConfig:
        """The deployment's configuration with the ``limit_attachments`` fault applied."""
        config = self.state.config(deployment_id)
        types, size, blocked = self._faults.attachment_limits
        if types is not None:
            config = attrs.evolve(config, file_types=types)
        if size is not None:
            config = attrs.evolve(config, max_file_size_kb=size)
        if blocked is not None:
            config = attrs.evolve(config, blocked_extensions=blocked)
        return config

    def verify_jwt(self, jwt: str) -> WmSession | None:
        """The live session of a current, unexpired history JWT, or ``None``."""
        if self._jwts.verify_guest(jwt) is None:
            return None
        return self.state.session_of_jwt(jwt)

    # -- the socket --------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1?deploymentId=<id>&application=<name>``: the guest websocket."""
        context_id = str(uuid.uuid4())
        refused = self._faults.take_handshake_refusal()
        if refused is not None:
            return Failure(refused).response(context_id)
        deployment_id = request.query.get("deploymentId", "")
        deployment = self.chat_state.deployments.get(deployment_id)
        if deployment is None or deployment.disabled:
            return Failure(403, "not.authorized", "Unknown or disabled deployment.").response(
                context_id
            )
        if not origin_allowed(deployment.allowed_domains, request.headers.get("Origin")):
            return Failure(403, "not.authorized", "Origin not allowed.").response(context_id)
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        base = f"{request.scheme}://{request.host}"
        socket = _WmSocket(ws, request.transport, base, deployment_id, next(self._seq))
        self._sockets.add(socket)
        try:
            async for msg in ws:
                if socket.hung:
                    continue  # a dead peer answers nothing
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(socket, msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            self._sockets.discard(socket)
            self._unbind(socket)
        return ws

    async def _on_frame(self, socket: _WmSocket, text: str) -> None:
        try:
            data = parse_json(text)
            # Whatever is stored must go out again: lone surrogates ("\ud800") cannot be
            # written as UTF-8, and deep nesting would not survive being nested in a frame.
            if depth(data) > MAX_DEPTH:
                raise ValueError("nested too deeply")
            dump_json(data).encode()
        except (ValueError, UnicodeEncodeError):
            await self._send(socket, frame("response", "string", 400, "Malformed JSON."))
            return
        if not isinstance(data, dict):
            await self._send(socket, frame("response", "string", 400, "Expected an object."))
            return
        tracing = data.get("tracingId")
        if not isinstance(tracing, str) or len(tracing) > _MAX_TRACING_ID:
            tracing = None
        action = data.get("action")
        handler = self._actions.get(action) if isinstance(action, str) else None
        try:
            if action == "configureAuthenticatedSession":
                raise _Refused(403, "Authenticated sessions are not enabled for this deployment.")
            if handler is None:
                raise _Refused(400, "Unknown action.")
            if action != "configureSession":
                self._session(socket, data.get("token"))
            await handler(socket, data, tracing)
        except _Refused as refused:
            await self._send(
                socket, frame("response", "string", refused.code, refused.text, tracing)
            )

    def _session(self, socket: _WmSocket, token: Any) -> WmSession:
        session = socket.session
        if session is None or not isinstance(token, str) or token != session.token:
            raise _Refused(4007, "Session not found.")
        if session.expired:
            raise _Refused(4006, "Session expired.")
        return session

    async def _send(self, socket: Socket, data: dict[str, Any]) -> None:
        await socket.send(dump_json(data))

    async def push(self, conversation: WmConversation, data: dict[str, Any]) -> None:
        """Send a frame to every socket of the conversation (through the hub's faults)."""
        await self._hub.publish(conversation.id, dump_json(data))

    # -- sockets and sessions ------------------------------------------------------------

    def _bind(self, socket: _WmSocket, session: WmSession) -> None:
        socket.session = session
        session.sockets.append(socket)
        self._attach(socket, session.conversation.chat)

    def _attach(self, socket: _WmSocket, chat: ConversationState) -> None:
        socket.conversation_id = chat.id
        chat.socket_count = self._hub.attach(socket)
        chat.attachments += 1
        runtime = self._chats.runtime(chat.id)
        runtime.sockets_changed(chat.socket_count)
        runtime.attached(chat.attachments)

    def _unbind(self, socket: _WmSocket) -> None:
        session, socket.session = socket.session, None
        if session is not None and socket in session.sockets:
            session.sockets.remove(socket)
        if socket.conversation_id:
            self._chats.detach(socket)

    async def _close(self, socket: _WmSocket, current: _WmSocket | None = None) -> None:
        """Unbind and close ``socket`` (1000): here if it is the socket being served (its
        reader is this task), else in a task of its own, so that a peer slow to answer the
        close holds up nothing."""
        self._unbind(socket)
        if socket is current:
            await socket.ws.close()
        else:
            self._chats.spawn(_close_ws(socket))

    def _arm(self, session: WmSession) -> None:
        """(Re)start the session's expiry timer."""
        old = self._timers.pop(id(session), None)
        if old is not None:
            old.cancel()
        delay = max(0.0, session.expires_at - self._clock())
        loop = asyncio.get_running_loop()
        self._timers[id(session)] = loop.call_later(delay, self._due, session)

    def _due(self, session: WmSession) -> None:
        self._timers.pop(id(session), None)
        if session.expired:
            return
        if session.expires_at > self._clock():
            self._arm(session)
            return
        session.expired = True
        self._chats.spawn(self._expired(session, close=True))

    def _activity(self, session: WmSession) -> None:
        session.refresh(self._clock())
        self._arm(session)

    def expire(self, conversation_id: str | None, close: bool) -> int:
        """Expire sessions now (the ``expire_sessions`` fault); returns how many."""
        targets = [
            s
            for s in self.state.sessions.values()
            if not s.expired and (conversation_id is None or s.conversation.id == conversation_id)
        ]
        for session in targets:
            session.expired = True
            self._chats.spawn(self._expired(session, close=close))
        return len(targets)

    async def _expired(self, session: WmSession, *, close: bool) -> None:
        timer = self._timers.pop(id(session), None)
        if timer is not None:
            timer.cancel()
        self.state.revoke_jwt(session)
        self.agent.end_chat(session.conversation)
        # §2: SessionExpiredEvent comes as a response (code 200, empty body).
        expired = dump_json(frame("response", "SessionExpiredEvent", 200, {}))
        for socket in list(session.sockets):
            await socket.send(expired)
        if close:
            for socket in list(session.sockets):
                await self._close(socket)

    async def shutdown(self, app: web.Application) -> None:
        """Stop the expiry timers and close the sockets (the server is stopping)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        sockets = list(self._sockets)
        for socket in sockets:
            self._unbind(socket)
        if sockets:
            closes = [s.ws.close(code=1001) for s in sockets]
            try:
                await asyncio.wait_for(asyncio.gather(*closes, return_exceptions=True), 2.0)
            except asyncio.TimeoutError:
                for socket in sockets:
                    socket.transport.abort()

    # -- actions -------------------------------------------------------------------------

    async def _configure(
        self, socket: _WmSocket, data: dict[str, Any], tracing: str | None
    ) -> None:
        token = data.get("token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            raise _Refused(400, f"token must be a string of 1 to {MAX_TOKEN} characters.")
        deployment_id = data.get("deploymentId", socket.deployment_id)
        if deployment_id != socket.deployment_id:
            raise _Refused(400, "deploymentId does not match the connection's.")
        config = self.config(socket.deployment_id)
        duration = self._faults.session_ttl or float(config.session_duration_seconds)
        session = self.state.sessions.get(token)
        new_session = session is None or session.expired
        if session is None and len(self.state.sessions) >= MAX_SESSIONS:
            raise _Refused(5000, f"The simulator holds {MAX_SESSIONS:,} sessions: no more.")
        if session is None or session.expired:
            if socket.session is not None:
                self._unbind(socket)
            session = self.state.open_session(token, socket.deployment_id, self._clock(), duration)
        else:
            session.duration = duration
            if data.get("startNew") is True and session.conversation.read_only:
                self._new_conversation(session)
        # §6: each reconfigure invalidates the previous JWT.
        self.state.revoke_jwt(session)
        if socket.session is not session:
            if socket.session is not None:
                self._unbind(socket)
            self._bind(socket, session)
        self._activity(session)
        await self._send(
            socket,
            frame(
                "response",
                "SessionResponse",
                200,
                self._session_body(session, config, new_session),
                tracing,
            ),
        )
        limit = self._faults.socket_limit
        while len(session.sockets) > limit:
            oldest = session.sockets[0]
            await self._send(oldest, frame("message", "ConnectionClosedEvent", 200, {}))
            await self._close(oldest)

    def _session_body(
        self, session: WmSession, config: MessagingConfig, new: bool
    ) -> dict[str, Any]:
        return {
            "connected": True,
            "newSession": new,
            "readOnly": session.conversation.read_only,
            "clearedExistingSession": False,
            "allowedMedia": config.allowed_media(),
            "blockedExtensions": list(config.blocked_extensions),
            "maxCustomDataBytes": config.max_custom_data_bytes,
            "durationSeconds": math.ceil(session.duration),
            "expirationDate": int(session.expires_at),
            "autoStarted": session.conversation.started,
        }

    def _new_conversation(self, session: WmSession) -> None:
        """``startNew`` after read-only: the session's sockets move to a new conversation."""
        session.conversation = self.state.new_conversation(session.deployment_id)
        for socket in session.sockets:
            self._chats.detach(socket)
            self._attach(socket, session.conversation.chat)

    async def _on_message(
        self, socket: _WmSocket, data: dict[str, Any], tracing: str | None
    ) -> None:
        session = self._session(socket, data.get("token"))
        message = data.get("message")
        if not isinstance(message, dict):
            raise _Refused(400, "message is required.")
        conversation = session.conversation
        if conversation.read_only:
            raise _Refused(409, READ_ONLY)
        config = self.config(session.deployment_id)
        if custom_attributes_size(message) > config.max_custom_data_bytes:
            raise _Refused(
                4013,
                "Custom Attributes in channel metadata is larger than "
                f"{config.max_custom_data_bytes} bytes",
            )
        kind = message.get("type")
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            raise _Refused(400, "text must be a string.")
        if text is not None and len(text) > MAX_TEXT:
            raise _Refused(4011, f"Message exceeded max message length of {MAX_TEXT}")
        metadata = message.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _Refused(400, "metadata must be an object.")
        events = _list(message, "events")
        content = _list(message, "content")
        if kind not in ("Text", "Structured", "Event"):
            raise _Refused(400, "message type must be Text, Structured or Event.")
        if kind == "Event":
            self._check_events(events, config)
        else:
            content = self._check_content(session, content, socket.base)
            if not text and not content:
                raise _Refused(400, "A message needs text or content.")
        if not session.allow_send(asyncio.get_running_loop().time(), self._faults.message_rate):
            body = {
                "retryAfter": self._faults.message_retry_after,
                "errorCode": 4029,
                "errorMessage": "Message rate too high for this session",
            }
            await self._send(
                socket, frame("response", "TooManyRequestsErrorMessage", 429, body, tracing)
            )
            return
        self._activity(session)
        if kind == "Event":
            await self._guest_events(session, socket, events, metadata)
            return
        stored, body = conversation.store(
            guest=True,
            text=text or "",
            body_type=BodyType.STANDARD,
            build=lambda message_id, at: structured(
                message_id,
                at,
                direction="Inbound",
                kind=str(kind),
                text=text,
                content=content,
                metadata=metadata,
            ),
        )
        self.agent.start(conversation)
        if text:
            self.agent.queue(conversation, stored)
        if self._faults.take_drop_before_echo():
            # Stored, but the socket goes before the echo (spec §7.2).
            self._unbind(socket)
            socket.transport.abort()
            return
        await self.push(conversation, frame("message", "StructuredMessage", 200, body))

    def _check_events(self, events: list[Any], config: MessagingConfig) -> None:
        if not events:
            raise _Refused(400, "An Event message needs events.")
        for event in events:
            if not isinstance(event, dict):
                raise _Refused(400, "Each event must be an object.")
            if event.get("eventType") == "Typing" and not config.show_user_typing:
                raise _Refused(403, "Typing indicators are not enabled for this deployment.")
            if presence_type(event) == "Clear" and not config.allow_clear:
                raise _Refused(403, "Clearing the conversation is not enabled for this deployment.")

    def _check_content(self, session: WmSession, content: list[Any], base: str) -> list[Any]:
        out = []
        for item in content:
            if not isinstance(item, dict):
                raise _Refused(400, "Each content item must be an object.")
            if item.get("contentType") != "Attachment":
                out.append(item)
                continue
            ref = item.get("attachment")
            attachment_id = ref.get("id") if isinstance(ref, dict) else None
            attachment = (
                session.attachments.get(attachment_id) if isinstance(attachment_id, str) else None
            )
            if attachment is None:
                raise _Refused(4009, "Attachment not found.")
            if not attachment.uploaded:
                raise _Refused(4010, "Attachment not uploaded.")
            out.append(
                {
                    "contentType": "Attachment",
                    "attachment": attachment_content(base, attachment),
                }
            )
        return out

    async def _guest_events(
        self,
        session: WmSession,
        socket: _WmSocket,
        events: list[Any],
        metadata: dict[str, Any] | None,
    ) -> None:
        conversation = session.conversation
        for event in events:
            presence = presence_type(event)
            if presence == "Join":
                self.agent.start(conversation)
                # [choice] The Join comes back as the guest's own event (not stored).
                body = structured(
                    self._chats.state.ids(),
                    format_datetime(self.chat_state.clock()),
                    direction="Inbound",
                    kind="Event",
                    events=[event],
                    metadata=metadata,
                )
                await self.push(conversation, frame("message", "StructuredMessage", 200, body))
            elif presence == "Clear":
                await self._clear(session, socket)
                return
            # Typing and other events: accepted, not stored, not echoed.

    async def _clear(self, session: WmSession, current: _WmSocket) -> None:
        """``Presence Clear``: ``SessionClearedEvent``, then ``ConnectionClosedEvent`` on
        every socket, which close; the session and its history are gone."""
        conversation = session.conversation
        await self.push(conversation, frame("message", "SessionClearedEvent", 200, {}))
        await self.push(conversation, frame("message", "ConnectionClosedEvent", 200, {}))
        sockets = list(session.sockets)
        session.expired = True
        self.state.forget(session)
        self.agent.end_chat(conversation)
        timer = self._timers.pop(id(session), None)
        if timer is not None:
            timer.cancel()
        for socket in sockets:
            await self._close(socket, current)

    async def _echo(self, socket: _WmSocket, data: dict[str, Any], tracing: str | None) -> None:
        session = self._session(socket, data.get("token"))
        message = data.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise _Refused(400, "echo needs a message with text.")
        self._activity(session)
        metadata = {
            "durationSeconds": str(math.ceil(session.duration)),
            "expirationDate": str(int(session.expires_at)),
        }
        body = structured(
            self._chats.state.ids(),
            format_datetime(self.chat_state.clock()),
            direction="Inbound",
            text=text,
            metadata=metadata,
        )
        await self._send(socket, frame("response", "StructuredMessage", 200, body, tracing))

    async def _get_jwt(self, socket: _WmSocket, data: dict[str, Any], tracing: str | None) -> None:
        session = self._session(socket, data.get("token"))
        if session.jwt is None:
            jwt = self._jwts.issue_guest(
                session.conversation.id,
                self._chats.state.ids(),
                deployment_id=session.deployment_id,
            )
            session.jwt = jwt
            self.state.jwts[jwt] = session.token
        claims = self._jwts.verify_guest(session.jwt)
        exp = int(claims.expires_at) if claims is not None else int(self._clock())
        await self._send(
            socket, frame("response", "JwtResponse", 200, {"jwt": session.jwt, "exp": exp}, tracing)
        )

    async def _on_attachment(
        self, socket: _WmSocket, data: dict[str, Any], tracing: str | None
    ) -> None:
        session = self._session(socket, data.get("token"))
        if session.conversation.read_only:
            raise _Refused(409, READ_ONLY)
        attachment_id = data.get("attachmentId")
        if not isinstance(attachment_id, str) or not 0 < len(attachment_id) <= 128:
            raise _Refused(400, "attachmentId must be a string of 1 to 128 characters.")
        name = data.get("fileName")
        file_type = data.get("fileType")
        size = data.get("fileSize")
        config = self.config(session.deployment_id)
        error = attachment_refusal(config, name, file_type, size, len(session.attachments))
        if error is not None:
            body = {"attachmentId": attachment_id, "errorCode": error[0], "errorMessage": error[1]}
            await self.push(session.conversation, frame("message", "GenerateUrlError", 200, body))
            return
        if not isinstance(name, str) or not isinstance(file_type, str):
            raise _Refused(400, "fileName and fileType must be strings.")
        attachment = Attachment(
            id=attachment_id,
            file_name=name,
            file_type=file_type,
            file_size=size if isinstance(size, int) else None,
        )
        self.state.add_attachment(session, attachment)
        body = {
            "attachmentId": attachment_id,
            "headers": {"Content-Type": file_type, "x-amz-tagging": "source=webmessaging"},
            "url": f"{socket.base}/webmessaging/uploads/{attachment.key}",
            "fileName": name,
            "fileSize": attachment.file_size,
            "fileType": file_type,
        }
        await self._send(socket, frame("response", "PresignedUrlResponse", 200, body, tracing))

    async def _get_attachment(
        self, socket: _WmSocket, data: dict[str, Any], tracing: str | None
    ) -> None:
        session = self._session(socket, data.get("token"))
        attachment = self._attachment(session, data)
        if not attachment.uploaded:
            raise _Refused(4010, "Attachment not uploaded.")
        content = attachment_content(socket.base, attachment)
        body = {
            "attachmentId": attachment.id,
            "headers": {},
            "url": content["url"],
            "fileName": attachment.file_name,
            "fileSize": content["fileSize"],
            "fileType": attachment.file_type,
        }
        await self._send(socket, frame("response", "PresignedUrlResponse", 200, body, tracing))

    async def _delete_attachment(
        self, socket: _WmSocket, data: dict[str, Any], tracing: str | None
    ) -> None:
        session = self._session(socket, data.get("token"))
        attachment = self._attachment(session, data)
        self.state.remove_attachment(session, attachment.id)
        body = {"attachmentId": attachment.id}
        await self.push(
            session.conversation, frame("message", "AttachmentDeletedResponse", 200, body)
        )

    def _attachment(self, session: WmSession, data: dict[str, Any]) -> Attachment:
        attachment_id = data.get("attachmentId")
        attachment = (
            session.attachments.get(attachment_id) if isinstance(attachment_id, str) else None
        )
        if attachment is None:
            raise _Refused(4009, "Attachment not found.")
        return attachment

    async def _close_session(
        self, socket: _WmSocket, data: dict[str, Any], tracing: str | None
    ) -> None:
        session = self._session(socket, data.get("token"))
        if data.get("closeAllConnections") is True:
            for other in [s for s in session.sockets if s is not socket]:
                await self._send(other, frame("message", "ConnectionClosedEvent", 200, {}))
                await self._close(other)
        self._unbind(socket)
        body = {"connected": False, "newSession": False, "readOnly": session.conversation.read_only}
        await self._send(socket, frame("response", "SessionResponse", 200, body, tracing))


async def _close_ws(socket: _WmSocket) -> None:
    await socket.ws.close()


def _list(message: dict[str, Any], key: str) -> list[Any]:
    value = message.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > _MAX_LIST:
        raise _Refused(400, f"{key} must be a list of at most {_MAX_LIST} items.")
    return value
