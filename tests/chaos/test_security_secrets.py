"""No secret in a log record, a repr or an exception text, through a whole conversation.

Everything runs with the root logger and ``webchat_async``, ``websockets``, ``httpx``,
``httpcore`` and ``aiohttp`` at DEBUG, every record formatted (tracebacks included): admin
calls with client credentials and a token refresh, a 401, a guest conversation with
messages, typing, a media request, drops, a dead peer and reconnects, bad frames carrying
the token, a crash inside the session, a failure inside the user's block, and leaving.

The secrets: every guest JWT (and its signature alone), every event stream URI, the
OAuth client secret and every access token issued. Any JWT-shaped text counts too, so
that a token the test did not know of is still caught.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator

import pytest
from chaos_support import Tracker, figures, start

from webchat_async._events import ConversationEnded, MediaRequestReceived
from webchat_async.api import WebChatApi
from webchat_async.auth import AccessToken, ClientCredentials, ClientCredentialsAuth
from webchat_async.errors import AuthenticationError, BadRequestError, NotFoundError
from webchat_async.models import (
    CreateWebChatConversationRequest,
    CreateWebChatMessageRequest,
    GuestMemberInfo,
)
from webchat_async.simulator import EchoAgent, Simulator

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
LOGGERS = ("", "webchat_async", "websockets", "httpx", "httpcore", "aiohttp", "asyncio")


class Capture(logging.Handler):
    """Formats every record the way a file handler would, traceback included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
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


def exception_text(exc: BaseException) -> str:
    """``str``, ``repr``, the args and the full traceback with every chained cause."""
    return "\n".join([str(exc), repr(exc), *map(repr, exc.args), *traceback.format_exception(exc)])


def access_token(api: WebChatApi) -> str:
    auth = api._admin_auth
    assert isinstance(auth, ClientCredentialsAuth) and isinstance(auth.token, AccessToken)
    return auth.token.value


async def test_no_secret_in_logs_reprs_or_exceptions(
    loop_errors: object, capture: Capture, scale: int
) -> None:
    secrets: set[str] = set()
    held: list[object] = []  # every object a user can hold
    errors: list[BaseException] = []
    chaos_log = logging.getLogger("tests.chaos")

    async with Simulator(heartbeat_interval=0.05, agent=EchoAgent()) as sim:
        secrets.add(sim.client_secret)

        # -- admin calls: client credentials, a refresh after a 401, a refused token
        credentials = ClientCredentials(sim.client_id, sim.client_secret)
        admin = WebChatApi(base_url=sim.base_url, credentials=credentials)
        async with admin:
            held += [credentials, admin, admin._admin_auth]
            held.append(await admin.get_webchat_deployments())
            secrets.add(access_token(admin))
            sim.revoke_access_tokens()
            held.append(await admin.get_webchat_settings())  # 401, refresh, retry
            secrets.add(access_token(admin))
            held.append(admin._admin_auth)
            ready = sim.issue_access_token()
            secrets.add(ready)
            sim.revoke_access_tokens()
            async with WebChatApi(base_url=sim.base_url, access_token=ready) as refused:
                held.append(refused)
                with pytest.raises(AuthenticationError) as auth_error:
                    await refused.get_webchat_deployment(sim.deployment_id)
                errors.append(auth_error.value)

            # -- a conversation created by hand: the response holds the JWT and the URI
            created = await admin.post_webchat_guest_conversations(
                CreateWebChatConversationRequest(
                    organization_id=sim.organization_id,
                    deployment_id=sim.deployment_id,
                    member_info=GuestMemberInfo(display_name="Ann"),
                    member_auth_token="member-auth-" + sim.client_secret[:8],
                )
            )
            assert created.jwt and created.event_stream_uri and created.id and created.member
            secrets |= {
                created.jwt,
                created.event_stream_uri,
                "member-auth-" + sim.client_secret[:8],
            }
            guest = admin.with_options(guest_token=created.jwt)
            held += [created, guest]
            with pytest.raises(BadRequestError) as early:  # the stream is not attached
                await guest.post_webchat_guest_conversation_member_messages(
                    created.id, created.member.id or "", CreateWebChatMessageRequest(body="hi")
                )
            errors.append(early.value)

        # -- a whole guest conversation with faults
        session = await start(sim, ping_interval=0.05, dead_peer_timeout=0.1)
        async with Tracker(session) as tracker:
            cid = session.conversation_id
            saved = session.save()
            secrets |= {saved.jwt, saved.event_stream_uri}
            await tracker.wait_greeted()
            reconnects = 0
            for i in range(3 * scale):
                async with session.typing(interval=0.01):
                    held.append(await session.send_message(f"message {i}"))
                await session.send_typing()
                await tracker.wait_text(f"You said: message {i}")
                await [
                    lambda: _drop(sim, cid),
                    lambda: sim.faults.close_sockets(cid, code=1011),
                    lambda: sim.faults.send_raw('{"topicName":"v2.system.socket_closing"}', cid),
                    lambda: _hang(sim, cid),
                ][i % 4]()
                reconnects += 1
                await tracker.wait_reconnects(reconnects)
                # Bad frames that carry the token: logged (redacted) as unknown frames.
                await sim.faults.send_raw('{"jwt": "' + saved.jwt + '", "bad": ', cid)
                await sim.faults.send_raw(
                    '{"topicName": "x.y", "eventBody": {"uri": "' + saved.event_stream_uri + '"}}',
                    cid,
                )
            media = await sim.agent_request_media(cid)
            await tracker.wait(lambda t: any(isinstance(e, MediaRequestReceived) for e in t.events))
            held.append(await session.accept_media_request(media.id or ""))
            held += [await session.media_requests(), await session.members()]
            held += [m async for m in session.history()]
            with pytest.raises(NotFoundError) as missing:
                await session.api.get_webchat_guest_conversation_member(cid, "nobody")
            errors.append(missing.value)
            await session.leave()
            await tracker.wait(lambda t: any(isinstance(e, ConversationEnded) for e in t.events))
            held += [session, session.api, saved, *tracker.events]
        await session.aclose()
        held.append(session)

        # -- a crash inside the session: the reader fails (the JWT is revoked)
        crashing = await start(sim)
        async with Tracker(crashing) as tracker:
            await tracker.wait_greeted()
            kept = crashing.save()
            secrets |= {kept.jwt, kept.event_stream_uri}
            sim.faults.expire_guest_tokens(crashing.conversation_id)
            sim.faults.drop_sockets(crashing.conversation_id)
            await tracker.wait(lambda t: t.finished)
            assert isinstance(tracker.error, AuthenticationError)
            errors.append(tracker.error)
            chaos_log.error("the session crashed", exc_info=tracker.error)
            held += [crashing, kept]
        await crashing.aclose()

        # -- a failure in the user's block, whose leaving then fails too (logged)
        with pytest.raises(RuntimeError) as user_error:
            async with start(sim) as doomed:
                held.append(doomed)
                sim.faults.expire_guest_tokens(doomed.conversation_id)
                raise RuntimeError(f"user code failed in {doomed!r}")
        errors.append(user_error.value)
        chaos_log.exception("user code failed", exc_info=user_error.value)

    # -- the count
    signatures = {s.rsplit(".", 1)[1] for s in secrets if JWT_SHAPE.fullmatch(s)}
    needles = secrets | signatures

    def leaks(text: str) -> int:
        return sum(1 for secret in needles if secret in text) + len(JWT_SHAPE.findall(text))

    reprs = [repr(obj) for obj in held] + [str(obj) for obj in held]
    texts = [exception_text(exc) for exc in errors]
    in_logs = sum(leaks(line) for line in capture.lines)
    in_reprs = sum(leaks(text) for text in reprs)
    in_errors = sum(leaks(text) for text in texts)
    figures(
        "SECURITY secrets",
        secrets=len(needles),
        log_records=len(capture.lines),
        reprs=len(reprs),
        exceptions=len(texts),
        found_in_logs=in_logs,
        found_in_reprs=in_reprs,
        found_in_exceptions=in_errors,
    )
    # The detector finds each secret, and the checks see real material: DEBUG lines of
    # every library, our redacted frames.
    assert all(leaks(f"<{secret}>") for secret in needles)
    assert len(capture.lines) > 100
    names = {line.split(" ")[3].rstrip(":") for line in capture.lines}
    # No "httpx" records: the SDK's own client sends through its transport without
    # httpx's client layer (webchat_async/_http.py, the lean path), which is what logs them.
    assert {"webchat_async.http", "webchat_async.events"} <= names, names
    assert any("unknown stream frame" in line and "***" in line for line in capture.lines)
    assert len(errors) == 5
    assert any("error while closing the session" in line for line in capture.lines)
    assert (in_logs, in_reprs, in_errors) == (0, 0, 0), [
        line for line in capture.lines + reprs + texts if leaks(line)
    ][:5]


async def _drop(sim: Simulator, cid: str) -> None:
    assert sim.faults.drop_sockets(cid) == 1


async def _hang(sim: Simulator, cid: str) -> None:
    sim.faults.stop_heartbeats()
    assert sim.faults.hang_sockets(cid) == 1
    sim.faults.resume_heartbeats()
