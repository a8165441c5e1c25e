"""No secret in any log record: not in its message, nor in its ``args``, nor in its traceback.

A formatted line is not the only thing a handler sees: a structured (JSON) handler writes
``record.args`` as they are, a debugger or an error tracker reads the objects in them and
in ``exc_info``. So every record of a whole session (admin calls with a token refresh, a
guest conversation, messages, a reconnect, a frame carrying the JWT, a 401 that ends the
session) is taken apart when it is emitted, at DEBUG for every logger, and each piece is
searched for the secrets: each guest JWT whole and its three parts one by one (header,
claims, signature), the event stream URIs, the OAuth client secret, every access token.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Iterator

import pytest
from chaos_support import Tracker, start

from webchat_async.api import WebChatApi
from webchat_async.auth import AccessToken, ClientCredentials, ClientCredentialsAuth
from webchat_async.errors import AuthenticationError
from webchat_async.simulator import EchoAgent, Simulator

LOGGERS = ("", "webchat_async", "websockets", "httpx", "httpcore", "aiohttp", "asyncio")


def pieces(value: object, depth: int = 0, seen: set[int] | None = None) -> Iterator[str]:
    """Every text a handler could get out of ``value``: its ``str`` and ``repr``, and the
    same for what it holds (items, bytes decoded, attributes), a few levels down."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth > 6:
        return
    seen.add(id(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        yield bytes(value).decode("utf-8", "replace")
        yield repr(bytes(value))
        return
    yield str(value)
    yield repr(value)
    if isinstance(value, (str, int, float, type(None))):
        return
    children: list[object] = []
    if isinstance(value, dict):
        children += [*value.keys(), *value.values()]
    elif isinstance(value, (tuple, list, set, frozenset)):
        children += list(value)
    if isinstance(value, BaseException):
        children += list(value.args)
        children += [value.__cause__, value.__context__]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        children += [getattr(value, f.name, None) for f in dataclasses.fields(value)]
    if hasattr(value, "__dict__") and not isinstance(value, type):
        children += list(vars(value).values())
    for name in getattr(type(value), "__slots__", ()):
        if isinstance(name, str) and hasattr(value, name):
            children.append(getattr(value, name))
    for child in children:
        yield from pieces(child, depth + 1, seen)


class Snapshot(logging.Handler):
    """Keeps, for every record, the texts a handler could read from it when it came."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, list[str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        texts = [record.getMessage(), *pieces(record.msg), *pieces(record.args)]
        if record.exc_info and record.exc_info[1] is not None:
            texts.append("".join(traceback.format_exception(record.exc_info[1])))
            texts += list(pieces(record.exc_info[1]))
        if record.exc_text:
            texts.append(record.exc_text)
        self.records.append((record.name, texts))


@pytest.fixture
def snapshot() -> Iterator[Snapshot]:
    handler = Snapshot()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def access_token(api: WebChatApi) -> str:
    auth = api._admin_auth
    assert isinstance(auth, ClientCredentialsAuth) and isinstance(auth.token, AccessToken)
    return auth.token.value


def needles(secrets: set[str]) -> set[str]:
    """The secrets, and each part of every JWT among them (header, claims, signature)."""
    found = set(secrets)
    for secret in secrets:
        token = secret.rsplit("/", 1)[-1]  # an event stream URI ends with the JWT
        parts = token.split(".")
        if len(parts) == 3 and token.startswith("eyJ"):
            found.add(token)
            found.update(part for part in parts if len(part) >= 8)
    return found


async def test_no_secret_in_any_record_message_args_or_traceback(
    loop_errors: object, snapshot: Snapshot
) -> None:
    secrets: set[str] = set()
    async with Simulator(heartbeat_interval=None, agent=EchoAgent()) as sim:
        secrets.add(sim.client_secret)
        # Admin calls: a token from the client credentials, a 401 and a refresh.
        admin = WebChatApi(
            base_url=sim.base_url, credentials=ClientCredentials(sim.client_id, sim.client_secret)
        )
        async with admin:
            await admin.get_webchat_deployments()
            secrets.add(access_token(admin))
            sim.revoke_access_tokens()
            await admin.get_webchat_settings()
            secrets.add(access_token(admin))

        # A guest conversation: messages, a reconnect, a frame that carries the JWT.
        async with start(sim) as session:
            saved = session.save()
            secrets |= {saved.jwt, saved.event_stream_uri}
            async with Tracker(session) as tracker:
                await tracker.wait_greeted()
                cid = session.conversation_id
                await session.send_message("hello")
                await tracker.wait_text("You said: hello")
                assert sim.faults.drop_sockets(cid) == 1
                await tracker.wait_reconnects(1)
                # A frame's str shows its start and its end: a JWT at either end is cut
                # (a part may stay whole), one in the middle is not shown at all, but the
                # frame object in the record's args holds it whole.
                padding = "p" * 100
                for frame in (
                    '{"jwt": "' + saved.jwt + '", "bad": ',
                    '{"topicName": "x", "eventBody": {"t": "' + saved.jwt + '"}}',
                    '{"topicName": "x", "eventBody": {"a": "'
                    + padding
                    + '", "t": "'
                    + saved.jwt
                    + '", "z": "'
                    + padding
                    + '"}}',
                ):
                    await sim.faults.send_raw(frame, cid)
                await session.send_message("again")
                await tracker.wait_text("You said: again")
                # The 401 path: the JWT is refused, the reattach fails, the session ends.
                sim.faults.expire_guest_tokens(cid)
                sim.faults.drop_sockets(cid)
                await tracker.wait(lambda t: t.finished)
                assert isinstance(tracker.error, AuthenticationError)
                logging.getLogger("tests.security").error(
                    "the session ended", exc_info=tracker.error
                )

    found = needles(secrets)
    assert len(found) >= 8  # the detector knows the parts of the JWT, not only the whole
    names = {name for name, _ in snapshot.records}
    assert "webchat_async.stream.websocket" in names, names
    leaks = [
        (name, secret[:12], text[:200])
        for name, texts in snapshot.records
        for text in texts
        for secret in found
        if secret in text
    ]
    assert leaks == [], f"{len(leaks)} leaks, the first: {leaks[:3]}"
