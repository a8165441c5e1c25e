"""Web Messaging data of the simulator: deployment configuration, sessions, conversations,
history and attachments (docs/simulator-messaging.md).

Pure: no I/O, no asyncio; times come in as arguments. Frames are plain JSON built here, not
with the SDK's messaging client, so that an independent server catches client bugs.

A Web Messaging conversation is also a :class:`ConversationState` in
``SimulatorState.conversations`` (``protocol == "messaging"``): the scripted agent, the admin
routes and ``Simulator.wait_*`` see it like a Web Chat v2 chat. Its ``messages`` hold the
text record (ids and times); :attr:`WmConversation.bodies` holds each message's
``StructuredMessage`` body, the protocol's own view of it.

Also here, as pure functions: the origin check, the attachment refusals, the frame and
``StructuredMessage`` builders.
"""

from __future__ import annotations

import collections
import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import attrs

from .._convert import format_datetime
from ..models import BodyType, WebChatMemberInfo, WebChatMessage
from ._state import ConversationState, SimulatorState, new_id

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_DEPTH",
    "MAX_FILE_NAME",
    "UPLOAD_ERRORS",
    "MAX_CUSTOM_ATTRIBUTE_BYTES",
    "MAX_FRAME_BYTES",
    "MAX_HISTORY_PAGE",
    "MAX_SESSIONS",
    "MAX_TEXT",
    "MAX_TOKEN",
    "Attachment",
    "MessagingConfig",
    "MessagingState",
    "WmConversation",
    "WmSession",
    "attachment_content",
    "attachment_refusal",
    "custom_attributes_size",
    "depth",
    "frame",
    "new_message_id",
    "origin_allowed",
    "presence_type",
    "structured",
]

#: Spec §2: the service accepts tokens up to 2,048 characters.
MAX_TOKEN = 2048
#: Spec §2 and §5: custom attributes over 2,048 bytes are refused with 4013.
MAX_CUSTOM_ATTRIBUTE_BYTES = 2048
#: **[choice]** A guest message's text may hold 4,096 characters; longer is 4011.
MAX_TEXT = 4096
#: **[choice]** One client frame is at most 64 KiB; a bigger one closes the socket (1009).
MAX_FRAME_BYTES = 64 * 1024
#: **[choice]** History pages hold 1 to 100 messages (25 by default, spec §4).
MAX_HISTORY_PAGE = 100
#: **[choice]** Attachments one session may hold at a time (presigned, uploaded or sent).
MAX_ATTACHMENTS = 100
#: **[choice]** A file name longer than this is refused with 4005.
MAX_FILE_NAME = 255
#: **[choice]** Sessions the simulator holds; a new token past it is refused (5000).
MAX_SESSIONS = 100_000
#: **[choice]** How deep a client frame's JSON may nest.
MAX_DEPTH = 32


@attrs.frozen
class MessagingConfig:
    """What one deployment allows a Web Messaging guest (the ``config.json`` and the
    ``SessionResponse`` say it).

    **[choice]** defaults: common image types, PDF and plain text up to 10 MiB; executable
    extensions blocked; sessions live one day without activity; no autostart; clearing
    the conversation and showing the guest's typing allowed.
    """

    file_types: tuple[str, ...] = (
        "image/jpeg",
        "image/png",
        "image/gif",
        "application/pdf",
        "text/plain",
    )
    max_file_size_kb: int = 10240
    blocked_extensions: tuple[str, ...] = (".ade", ".bat", ".cmd", ".com", ".exe", ".js", ".vbs")
    max_custom_data_bytes: int = MAX_CUSTOM_ATTRIBUTE_BYTES
    session_duration_seconds: int = 86400
    auto_start: bool = False
    allow_clear: bool = True
    show_user_typing: bool = True

    def allowed_media(self) -> dict[str, Any]:
        """The ``allowedMedia`` object of a ``SessionResponse``."""
        return {
            "inbound": {
                "fileTypes": [{"type": t} for t in self.file_types],
                "maxFileSizeKB": self.max_file_size_kb,
            }
        }

    def config_json(self, deployment_id: str, version: str = "1") -> dict[str, Any]:
        """The public ``config.json`` of the deployment (docs/simulator-messaging.md)."""
        return {
            "id": deployment_id,
            "version": version,
            "status": "Active",
            "messenger": {
                "enabled": True,
                "apps": {
                    "conversations": {
                        "enabled": True,
                        "showAgentTypingIndicator": True,
                        "showUserTypingIndicator": self.show_user_typing,
                        "autoStart": {"enabled": self.auto_start},
                        "conversationDisconnect": {"enabled": True, "type": "Send"},
                        "conversationClear": {"enabled": self.allow_clear},
                    }
                },
                "fileUpload": {
                    "enableAttachments": True,
                    "modes": [
                        {
                            "fileTypes": list(self.file_types),
                            "maxFileSizeKB": self.max_file_size_kb,
                        }
                    ],
                    # [choice] not in the service's config.json (it tells them only in the
                    # SessionResponse); here so that a client can check before connecting.
                    "blockedExtensions": list(self.blocked_extensions),
                },
            },
            # [choice] the same: from the SessionResponse, repeated here.
            "session": {
                "durationSeconds": self.session_duration_seconds,
                "maxCustomDataBytes": self.max_custom_data_bytes,
            },
            "journeyEvents": {"enabled": False},
            "auth": {"enabled": False},
        }


@attrs.define(eq=False)
class Attachment:
    """One attachment of a session: presigned, then uploaded (``data`` set)."""

    id: str
    file_name: str
    file_type: str
    file_size: int | None
    #: The secret part of the upload and download URLs.
    key: str = attrs.field(factory=lambda: secrets.token_urlsafe(24), repr=False)
    data: bytes | None = attrs.field(default=None, repr=False)

    @property
    def uploaded(self) -> bool:
        """Whether the bytes have arrived."""
        return self.data is not None


@attrs.define(eq=False)
class WmConversation:
    """One Web Messaging conversation: the shared chat record and the structured bodies."""

    chat: ConversationState
    deployment_id: str
    bodies: dict[str, dict[str, Any]] = attrs.field(factory=dict, repr=False)
    #: The agent ended it (``Presence Disconnect``, ``readOnly``): sends get 409.
    read_only: bool = False
    #: A guest message (or the autostart ``Join``) arrived: the agent is being routed.
    started: bool = False

    @property
    def id(self) -> str:
        """The conversation id (the guest never learns it; spec §4)."""
        return self.chat.id

    def store(
        self,
        *,
        guest: bool,
        text: str,
        body_type: BodyType,
        build: Any,
    ) -> tuple[WebChatMessage, dict[str, Any]]:
        """Append a message to the record and its ``StructuredMessage`` body, made by
        ``build(message_id, channel_time)``; returns both."""
        sender = self.chat.guest_member_id if guest else (self.chat.agent_member_id or "")
        message = self.chat.add_message(sender, text, body_type)
        if message.id is None or message.timestamp is None:
            raise RuntimeError("a stored message has an id and a time")
        body: dict[str, Any] = build(message.id, format_datetime(message.timestamp))
        self.bodies[message.id] = body
        return message, body

    def history(self, page_number: int, page_size: int) -> dict[str, Any]:
        """One history page, newest first, in the [choice] page shape of spec §4."""
        ids = [m.id for m in self.chat.messages if m.id in self.bodies]
        total = len(ids)
        ids.reverse()
        start = (page_number - 1) * page_size
        entities = [self.bodies[i] for i in ids[start : start + page_size] if i is not None]
        return {
            "entities": entities,
            "pageSize": page_size,
            "pageNumber": page_number,
            "total": total,
            "pageCount": (total + page_size - 1) // page_size,
        }


@attrs.define(eq=False)
class WmSession:
    """One guest session: what a token names (spec §2). The token is a secret."""

    token: str = attrs.field(repr=False)
    deployment_id: str
    conversation: WmConversation
    #: Epoch seconds after which the session expires without activity.
    expires_at: float
    duration: float
    #: The JWT for history, until the next ``configureSession`` (spec §6).
    jwt: str | None = attrs.field(default=None, repr=False)
    expired: bool = False
    #: Loop times of the recent ``onMessage`` requests (the rate window).
    sends: collections.deque[float] = attrs.field(factory=collections.deque, repr=False)
    attachments: dict[str, Attachment] = attrs.field(factory=dict, repr=False)
    #: The sockets configured on this session, oldest first (the server's objects).
    sockets: list[Any] = attrs.field(factory=list, repr=False)

    def refresh(self, now: float) -> None:
        """Activity: the inactivity TTL starts again."""
        self.expires_at = now + self.duration

    def allow_send(self, now: float, per_second: int | None) -> bool:
        """Count one ``onMessage`` at loop time ``now`` against ``per_second`` in any
        rolling second; ``False`` (and not counted) when over it."""
        if per_second is None:
            return True
        while self.sends and self.sends[0] <= now - 1.0:
            self.sends.popleft()
        if len(self.sends) >= per_second:
            return False
        self.sends.append(now)
        return True


class MessagingState:
    """Every Web Messaging session and conversation the simulator holds."""

    def __init__(self, chats: SimulatorState) -> None:
        self._chats = chats
        self.sessions: dict[str, WmSession] = {}
        self.conversations: dict[str, WmConversation] = {}
        #: Current history JWT -> session token.
        self.jwts: dict[str, str] = {}
        #: Upload / download URL key -> (session token, attachment id).
        self.files: dict[str, tuple[str, str]] = {}
        #: Per-deployment configuration; deployments not named here use the default.
        self.configs: dict[str, MessagingConfig] = {}

    def __repr__(self) -> str:
        return f"<MessagingState sessions={len(self.sessions)}>"

    def config(self, deployment_id: str) -> MessagingConfig:
        """The configuration of a deployment."""
        return self.configs.get(deployment_id) or MessagingConfig()

    def new_conversation(self, deployment_id: str) -> WmConversation:
        """A fresh conversation, also registered as a chat of the simulator."""
        chat = self._chats.new_conversation(
            deployment_id=deployment_id, guest=WebChatMemberInfo(display_name="Guest")
        )
        chat.protocol = "messaging"
        conversation = WmConversation(chat=chat, deployment_id=deployment_id)
        self.conversations[chat.id] = conversation
        return conversation

    def open_session(
        self, token: str, deployment_id: str, now: float, duration: float
    ) -> WmSession:
        """A new session for ``token`` (replacing an expired one) with a new conversation."""
        old = self.sessions.get(token)
        if old is not None:
            self.forget(old)
        session = WmSession(
            token=token,
            deployment_id=deployment_id,
            conversation=self.new_conversation(deployment_id),
            expires_at=now + duration,
            duration=duration,
        )
        self.sessions[token] = session
        return session

    def forget(self, session: WmSession) -> None:
        """Drop a session (expired, cleared): its JWT and files stop working."""
        if self.sessions.get(session.token) is session:
            del self.sessions[session.token]
        self.revoke_jwt(session)
        for attachment in session.attachments.values():
            self.files.pop(attachment.key, None)
        session.attachments.clear()

    def revoke_jwt(self, session: WmSession) -> None:
        """The session's history JWT stops working (each reconfigure; spec §6)."""
        if session.jwt is not None:
            self.jwts.pop(session.jwt, None)
            session.jwt = None

    def session_of_jwt(self, jwt: str) -> WmSession | None:
        """The live session a current JWT belongs to, or ``None``."""
        token = self.jwts.get(jwt)
        session = self.sessions.get(token) if token is not None else None
        if session is None or session.expired or session.jwt != jwt:
            return None
        return session

    def add_attachment(self, session: WmSession, attachment: Attachment) -> None:
        """Keep a presigned attachment (replacing one with the same id)."""
        old = session.attachments.pop(attachment.id, None)
        if old is not None:
            self.files.pop(old.key, None)
        session.attachments[attachment.id] = attachment
        self.files[attachment.key] = (session.token, attachment.id)

    def remove_attachment(self, session: WmSession, attachment_id: str) -> bool:
        """Delete an attachment; ``False`` if there was none."""
        attachment = session.attachments.pop(attachment_id, None)
        if attachment is None:
            return False
        self.files.pop(attachment.key, None)
        return True

    def file(self, key: str) -> tuple[WmSession, Attachment] | None:
        """The session and attachment an upload / download key names."""
        found = self.files.get(key)
        if found is None:
            return None
        session = self.sessions.get(found[0])
        attachment = session.attachments.get(found[1]) if session is not None else None
        if session is None or attachment is None:
            return None
        return session, attachment


def frame(
    kind: str, cls: str, code: int, body: Any, tracing_id: str | None = None
) -> dict[str, Any]:
    """A server frame (spec §2): ``type`` is ``"response"`` or ``"message"``."""
    out: dict[str, Any] = {"type": kind, "class": cls, "code": code, "body": body}
    if tracing_id is not None:
        out["tracingId"] = tracing_id
    return out


def structured(
    message_id: str,
    time: str,
    *,
    direction: str,
    kind: str = "Text",
    text: str | None = None,
    content: list[Any] | None = None,
    events: list[Any] | None = None,
    metadata: dict[str, Any] | None = None,
    sender: str | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    """A ``StructuredMessage`` body (spec §4). ``sender`` names the agent on ``Outbound``."""
    channel: dict[str, Any] = {"time": time, "messageId": message_id, "type": "Private"}
    if sender is not None:
        channel["from"] = {"nickname": sender, "firstName": sender, "lastName": "", "image": ""}
    body: dict[str, Any] = {
        "id": message_id,
        "type": kind,
        "direction": direction,
        "channel": channel,
        "content": content or [],
        "events": events or [],
        "metadata": metadata or {},
        "originatingEntity": "Bot" if bot else "Human",
    }
    if text is not None:
        body["text"] = text
    return body


def custom_attributes_size(message: dict[str, Any]) -> int:
    """The size in bytes of ``message.channel.metadata.customAttributes`` as JSON (0 when
    absent)."""
    channel = message.get("channel")
    meta = channel.get("metadata") if isinstance(channel, dict) else None
    attributes = meta.get("customAttributes") if isinstance(meta, dict) else None
    if attributes is None:
        return 0
    return len(json.dumps(attributes, separators=(",", ":"), ensure_ascii=False).encode())


def new_message_id() -> str:
    """A fresh id for a message that is not stored (an ``echo`` answer, a typing event)."""
    return new_id()


def origin_allowed(allowed: list[str] | None, origin: str | None) -> bool:
    """Whether ``origin`` may use a deployment whose allowed domains are ``allowed`` (none:
    any origin). Entries are hosts (``shop.example``, ``*.shop.example``) or origins."""
    if not allowed:
        return True
    if not origin:
        return False
    origin = origin.strip().lower().rstrip("/")
    host = (urlsplit(origin).hostname or "").lower()
    for entry in (e.strip().lower().rstrip("/") for e in allowed):
        if "://" in entry:
            if entry == origin:
                return True
        elif entry == host or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


#: The ``errorMessage`` of an ``UploadFailureEvent`` by ``errorCode``.
UPLOAD_ERRORS = {
    4001: "File type not allowed.",
    4002: "File size exceeds the limit.",
    4003: "File content rejected.",
}


def depth(data: Any) -> int:
    """How deeply ``data`` nests lists and objects (iteratively: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            values: Any = value.values()
        elif isinstance(value, list):
            values = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((v, depth + 1) for v in values)
    return deepest


def presence_type(event: Any) -> str | None:
    """The ``presence.type`` of a ``Presence`` event, or ``None``."""
    if not isinstance(event, dict) or event.get("eventType") != "Presence":
        return None
    presence = event.get("presence")
    kind = presence.get("type") if isinstance(presence, dict) else None
    return kind if isinstance(kind, str) else None


def attachment_refusal(
    config: MessagingConfig, name: Any, file_type: Any, size: Any, held: int
) -> tuple[int, str] | None:
    """Why an ``onAttachment`` is refused (spec §5 codes), or ``None``."""
    if not isinstance(name, str) or not name.strip():
        return 4004, "File name missing."
    if len(name) > MAX_FILE_NAME:
        return 4005, f"File name longer than {MAX_FILE_NAME} characters."
    if not isinstance(file_type, str) or file_type not in config.file_types:
        return 4001, "File type not allowed."
    lowered = name.lower()
    if any(lowered.endswith(ext.lower()) for ext in config.blocked_extensions):
        return 4001, "File extension not allowed."
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        return 4002, "fileSize must be a number of bytes."
    if isinstance(size, int) and size > config.max_file_size_kb * 1024:
        return 4002, f"File size exceeds {config.max_file_size_kb} KB."
    if held >= MAX_ATTACHMENTS:
        return 5000, f"A session may hold at most {MAX_ATTACHMENTS} attachments."
    return None


def attachment_content(base: str, attachment: Attachment) -> dict[str, Any]:
    """The ``Attachment`` content of a message carrying an uploaded attachment."""
    return {
        "id": attachment.id,
        "url": f"{base}/webmessaging/downloads/{attachment.key}",
        "filename": attachment.file_name,
        "fileSize": len(attachment.data or b""),
        "mediaType": "Image" if attachment.file_type.startswith("image/") else "File",
        "mime": attachment.file_type,
    }
