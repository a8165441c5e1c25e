"""Where requests may go: path segments, plain HTTP, TLS verification, foreign hosts.

* An id is one path segment, whatever it contains (``../x``, ``a/b``, ``%2F``, ``?q=1``,
  ``#f``...): checked on the simulator (the handler that answered and the path it saw)
  and on a raw recording server (the bytes of the request line).
* ``http://`` is refused for a host that is not loopback unless the caller opts in.
* TLS verification is on and cannot be switched off by an argument or the usual global
  switch; a self-signed loopback server is refused by the REST client and the stream.
* The guest JWT never reaches another host than the API base: paging links to other
  hosts are refused, redirects are not followed (and httpx drops the header when a
  caller's own client follows one).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import respx
from aiohttp import web
from chaos_support import figures, start
from loopback import serving

from webchat_async import Backoff
from webchat_async.api import WebChatApi
from webchat_async.auth import ClientCredentials
from webchat_async.errors import (
    ApiConnectionError,
    ApiError,
    DecodeError,
    NotFoundError,
    StreamError,
)
from webchat_async.models import (
    CreateWebChatConversationRequest,
    GuestMemberInfo,
    MediaRequestState,
    WebChatGuestMediaRequest,
)
from webchat_async.session import GuestSession, SavedSession
from webchat_async.simulator import Simulator
from webchat_async.stream import EventStream

BAD_IDS = [
    "../x",
    "..%2Fx",
    "a/b",
    "%2F",
    "%252F",
    "?q=1",
    "#f",
    "a b",
    "%2e%2e",
    "\\x",
    ";x",
    "x/../../deployments",
    "/",
    "//evil.example/x",
    "@evil.example",
    "a?b#c",
    "ü/ß",
]
CONVERSATIONS = "/api/v2/webchat/guest/conversations"
FAKE_JWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJndWVzdCJ9.c2VjcmV0LXNpZ25hdHVyZQ"
BASE = "https://api.mypurecloud.com"


async def test_ids_stay_inside_their_path_segment_on_the_simulator(sim: Simulator) -> None:
    credentials = ClientCredentials(sim.client_id, sim.client_secret)
    tried = 0
    async with WebChatApi(base_url=sim.base_url, credentials=credentials) as api:
        created = await api.post_webchat_guest_conversations(
            CreateWebChatConversationRequest(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Ann"),
            )
        )
        assert created.id and created.jwt and created.member and created.member.id
        cid, mid = created.id, created.member.id
        guest = api.with_options(guest_token=created.jwt)
        answer = WebChatGuestMediaRequest(state=MediaRequestState.ACCEPTED)
        # (operation, the path the server must see for an id, the handler's own message)
        operations: list[tuple[Callable[[str], Awaitable[Any]], Callable[[str], str], str]] = [
            (
                lambda x: guest.get_webchat_guest_conversation_member(cid, x),
                lambda x: f"{CONVERSATIONS}/{cid}/members/{x}",
                "The member was not found.",
            ),
            (
                lambda x: guest.delete_webchat_guest_conversation_member(cid, x),
                lambda x: f"{CONVERSATIONS}/{cid}/members/{x}",
                "The member was not found.",
            ),
            (
                lambda x: guest.get_webchat_guest_conversation_member(x, mid),
                lambda x: f"{CONVERSATIONS}/{x}/members/{mid}",
                "The conversation was not found.",
            ),
            (
                lambda x: guest.get_webchat_guest_conversation_messages(x),
                lambda x: f"{CONVERSATIONS}/{x}/messages",
                "The conversation was not found.",
            ),
            (
                lambda x: guest.get_webchat_guest_conversation_message(cid, x),
                lambda x: f"{CONVERSATIONS}/{cid}/messages/{x}",
                "The message was not found.",
            ),
            (
                lambda x: guest.get_webchat_guest_conversation_mediarequest(cid, x),
                lambda x: f"{CONVERSATIONS}/{cid}/mediarequests/{x}",
                "The media request was not found.",
            ),
            (
                lambda x: guest.patch_webchat_guest_conversation_mediarequest(cid, x, answer),
                lambda x: f"{CONVERSATIONS}/{cid}/mediarequests/{x}",
                "The media request was not found.",
            ),
            (
                lambda x: api.get_webchat_deployment(x),
                lambda x: f"/api/v2/webchat/deployments/{x}",
                "The deployment was not found.",
            ),
            (
                lambda x: api.delete_webchat_deployment(x),
                lambda x: f"/api/v2/webchat/deployments/{x}",
                "The deployment was not found.",
            ),
        ]
        for call, expected_path, message in operations:
            for bad in BAD_IDS:
                tried += 1
                with pytest.raises(NotFoundError) as info:
                    await call(bad)
                # The route with the id in its place answered (not a 404 of no route), and
                # the server saw the id (decoded) exactly where it belongs.
                assert info.value.message == message, (bad, info.value.message)
                assert sim.state.requests[-1].path == expected_path(bad), bad
            for dots in (".", ".."):
                with pytest.raises(ValueError):
                    await call(dots)  # dot-segments would be resolved away: refused
        # Nothing was deleted on the way.
        assert sim.deployment_id in sim.state.deployments
        assert not sim.state.conversations[cid].ended
    figures("SECURITY path_segments", ids=len(BAD_IDS), calls=tried, escaped=0)


@pytest.fixture
async def raw_server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A loopback server that records every request as it came and answers 404."""
    seen: list[web.Request] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"status": 404, "code": "not.found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serving(app) as base:
        yield base, seen


async def test_ids_are_one_encoded_segment_on_the_wire(
    raw_server: tuple[str, list[web.Request]],
) -> None:
    base, seen = raw_server
    async with WebChatApi(base_url=base, guest_token=FAKE_JWT, max_retries=0) as api:
        for bad in BAD_IDS:
            with pytest.raises(NotFoundError):
                await api.get_webchat_guest_conversation_member("c-1", bad)
            request = seen[-1]
            assert request.query_string == "", bad  # "?" never starts a query
            # Nine segments, whatever the id: it is the last one, and decodes back to itself.
            *head, last = request.raw_path.split("/")
            assert head == ["", "api", "v2", "webchat", "guest", "conversations", "c-1", "members"]
            assert "#" not in last and "?" not in last
            assert unquote(last) == bad


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://api.mypurecloud.com",
        "http://10.0.0.1:8080",
        "http://192.168.1.10",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://[2001:db8::1]",
        "http://0x7f000001",
    ],
)
async def test_plain_http_is_refused_for_hosts_off_loopback(url: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        with pytest.raises(ValueError, match="allow_insecure_http"):
            WebChatApi(base_url=url)
        with pytest.raises(ValueError, match="allow_insecure_http"):
            WebChatApi(base_url="https://api.example.com", login_url=url)
        with pytest.raises(ValueError, match="allow_insecure_http"):
            await GuestSession.start(
                organization_id="o",
                deployment_id="d",
                member_info=GuestMemberInfo(display_name="Ann"),
                base_url=url,
            )
        saved = SavedSession(
            conversation_id="c",
            member_id="m",
            jwt=FAKE_JWT,
            event_stream_uri=f"wss://streaming.example.com/chat/jwt/{FAKE_JWT}",
            base_url=url,
        )
        with pytest.raises(ValueError, match="allow_insecure_http"):
            await GuestSession.resume(saved)
        assert router.calls.call_count == 0  # nothing was sent anywhere
        # An explicit opt-in is honoured.
        async with WebChatApi(base_url=url, allow_insecure_http=True) as api:
            assert api.base_url == url


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.8.9.10", "http://localhost:1", "http://[::1]:80"]
)
def test_plain_http_to_loopback_is_accepted(url: str) -> None:
    assert WebChatApi(base_url=url).base_url == url


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[ssl.SSLContext]:
    """A server TLS context with a certificate for 127.0.0.1 that nobody trusts."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    yield context


async def test_tls_verification_stays_on(
    self_signed: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No argument turns it off...
    with pytest.raises(TypeError):
        WebChatApi(verify=False)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        GuestSession.start(  # type: ignore[call-arg]
            organization_id="o",
            deployment_id="d",
            member_info=GuestMemberInfo(display_name="Ann"),
            verify=False,
        )
    # ...nor the process-wide switch some libraries honour.
    monkeypatch.setattr(ssl, "_create_default_https_context", ssl._create_unverified_context)

    seen: list[web.Request] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with serving(app, ssl_context=self_signed) as base:
        async with WebChatApi(base_url=base, guest_token=FAKE_JWT, max_retries=0) as api:
            with pytest.raises(ApiConnectionError) as info:
                await api.get_webchat_guest_conversation_member("c", "m")
            assert "CERTIFICATE_VERIFY_FAILED" in repr(info.value.__cause__)
        stream = EventStream(
            f"wss://{base.removeprefix('https://')}/chat/jwt/{FAKE_JWT}",
            backoff=Backoff.none(),
            max_reconnect_window=0.0,
            proxy=None,
        )
        with pytest.raises(StreamError):  # gave up: no socket was ever opened
            await stream.connect()
        await stream.aclose()
        assert stream.connections == 0
    assert seen == []  # not one request (and so not the JWT) reached the server
    figures("SECURITY tls", self_signed_refused_by="rest+stream", requests_received=len(seen))


FOREIGN_LINKS = [
    "https://evil.example/api/v2/webchat/guest/conversations/c-1/messages?after=m",
    "//evil.example/api/v2/webchat/guest/conversations/c-1/messages",
    "http://api.mypurecloud.com/api/v2/webchat/guest/conversations/c-1/messages",
    "https://api.mypurecloud.com:8443/api/v2/webchat/guest/conversations/c-1/messages",
    "https://api.mypurecloud.com.evil.example/api/v2/x",
    "https://api.mypurecloud.com@evil.example/api/v2/x",
    "https://api.mypurecloud.com\\@evil.example/api/v2/x",
    "wss://evil.example/chat",
    "https://127.0.0.1/api/v2/x",
]


def _page(next_link: str | None) -> dict[str, Any]:
    return {
        "entities": [{"id": "m1", "body": "hi"}],
        "pageSize": 1,
        **({"next": next_link} if next_link else {}),
    }


def _assert_only_base_saw_the_jwt(router: respx.Router) -> None:
    for call in router.calls:
        request = call.request
        carries = FAKE_JWT in request.headers.get("Authorization", "") or FAKE_JWT in str(
            request.url
        )
        if request.url.host != "api.mypurecloud.com" or request.url.scheme != "https":
            assert not carries, request.url


async def test_the_jwt_is_never_sent_to_another_host() -> None:
    refused = 0
    messages = f"{CONVERSATIONS}/c-1/messages"
    members = f"{CONVERSATIONS}/c-1/members"
    async with WebChatApi(guest_token=FAKE_JWT, max_retries=0) as api:
        for link in FOREIGN_LINKS:
            with respx.mock(assert_all_called=False) as router:
                router.get(f"{BASE}{messages}").respond(200, json=_page(link))
                router.get(f"{BASE}{members}").respond(
                    200, json={"entities": [{"id": "a"}], "pageNumber": 1, "nextUri": link}
                )
                catch_all = router.route().respond(200, json=_page(None))
                got = []
                with pytest.raises(DecodeError, match="another host"):
                    async for message in api.iter_webchat_guest_conversation_messages("c-1"):
                        got.append(message.id)
                assert got == ["m1"]  # the first page was used; the link was not followed
                with pytest.raises(DecodeError, match="another host"):
                    async for _ in api.iter_webchat_guest_conversation_members("c-1"):
                        pass
                assert catch_all.call_count == 0, link
                _assert_only_base_saw_the_jwt(router)
                refused += 2

        # A link on the API base itself is followed (a same-origin absolute one too).
        with respx.mock(assert_all_called=False) as router:
            router.get(f"{BASE}{messages}", params={"after": "m1"}).respond(
                200, json={"entities": [{"id": "m2"}]}
            )
            router.get(f"{BASE}{messages}").respond(
                200, json=_page(f"HTTPS://API.MYPURECLOUD.COM:443{messages}?after=m1")
            )
            ids = [m.id async for m in api.iter_webchat_guest_conversation_messages("c-1")]
            assert ids == ["m1", "m2"]

        # A redirect is not followed: the JWT would go with it.
        with respx.mock(assert_all_called=False) as router:
            router.get(f"{BASE}{members}/m").respond(
                302, headers={"Location": "https://evil.example/steal"}
            )
            evil = router.get("https://evil.example/steal").respond(200, json={})
            with pytest.raises(ApiError) as info:
                await api.get_webchat_guest_conversation_member("c-1", "m")
            assert info.value.status == 302 and evil.call_count == 0

    # A caller's own client that follows redirects: httpx drops the Authorization header
    # on a cross-origin hop, so the JWT still does not travel.
    async with httpx.AsyncClient(follow_redirects=True) as client:
        own = WebChatApi(guest_token=FAKE_JWT, http_client=client, max_retries=0)
        with respx.mock(assert_all_called=False) as router:
            router.get(f"{BASE}{members}/m").respond(
                302, headers={"Location": "https://evil.example/steal"}
            )
            evil = router.get("https://evil.example/steal").respond(200, json={"id": "m"})
            await own.get_webchat_guest_conversation_member("c-1", "m")
            assert evil.call_count == 1
            assert "Authorization" not in evil.calls.last.request.headers
            _assert_only_base_saw_the_jwt(router)
        await own.aclose()
    figures("SECURITY foreign_hosts", links_refused=refused, redirects_followed=0, jwt_leaked=0)


async def test_the_client_secret_goes_to_the_login_host_only() -> None:
    credentials = ClientCredentials("client-1", "cs-very-secret")
    login = "https://login.mypurecloud.com"
    async with WebChatApi(credentials=credentials, guest_token=FAKE_JWT) as api:
        with respx.mock() as router:
            token = router.post(f"{login}/oauth/token").respond(
                200, json={"access_token": "at-1", "expires_in": 3600}
            )
            router.get(f"{BASE}/api/v2/webchat/settings").respond(200, json={})
            router.get(f"{BASE}{CONVERSATIONS}/c/members/m").respond(200, json={"id": "m"})
            await api.get_webchat_settings()
            await api.get_webchat_guest_conversation_member("c", "m")
            assert token.call_count == 1
            for call in router.calls:
                header = call.request.headers.get("Authorization", "")
                if call.request.url.host == "login.mypurecloud.com":
                    assert header.startswith("Basic ") and FAKE_JWT not in header
                else:
                    assert header in ("Bearer at-1", f"Bearer {FAKE_JWT}")


async def test_a_session_sends_the_jwt_to_the_api_base_and_the_stream_only(
    sim: Simulator, raw_server: tuple[str, list[web.Request]]
) -> None:
    # Another loopback server next to the simulator sees nothing of a whole session.
    _, seen = raw_server
    async with start(sim) as session:
        await session.send_message("hello")
        await session.members()
        [m async for m in session.history()]
    assert seen == []
    saved_path = f"{CONVERSATIONS}/{session.conversation_id}"
    assert all(r.path.startswith(("/api/v2/webchat/", "/oauth/token")) for r in sim.state.requests)
    assert any(r.path.startswith(saved_path) for r in sim.state.requests)
