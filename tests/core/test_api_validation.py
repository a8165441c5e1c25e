"""Bad arguments raise before anything is sent; constructor checks (URLs, TLS, timeouts)."""

from __future__ import annotations

import re
import ssl
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from core_support import ACCESS_TOKEN, BASE, JWT, MESSAGE, make_api
from hypothesis import given
from hypothesis import strategies as st

from webchat_async import models
from webchat_async._http import DEFAULT_TIMEOUT
from webchat_async._validate import segment
from webchat_async.api import WebChatApi
from webchat_async.errors import InvalidValueError

MSG = models.CreateWebChatMessageRequest


def long_body(n: int) -> models.CreateWebChatMessageRequest:
    return MSG(body="x" * n)


BAD_CALLS: list[tuple[str, Callable[[WebChatApi], Any], type[Exception], str]] = [
    (
        "empty id",
        lambda a: a.get_webchat_guest_conversation_message("", "m"),
        ValueError,
        "conversation_id",
    ),
    (
        "blank id",
        lambda a: a.get_webchat_guest_conversation_message("c", "  "),
        ValueError,
        "message_id",
    ),
    (
        "dot id",
        lambda a: a.get_webchat_guest_conversation_member("..", "m"),
        ValueError,
        "conversation_id",
    ),
    (
        "single dot id",
        lambda a: a.delete_webchat_guest_conversation_member("c", "."),
        ValueError,
        "member_id",
    ),
    ("None id", lambda a: a.get_webchat_deployment(None), TypeError, "deployment_id"),
    (
        "int id",
        lambda a: a.get_webchat_guest_conversation_mediarequest("c", 5),
        TypeError,
        "media_request_id",
    ),
    (
        "body too long",
        lambda a: a.post_webchat_guest_conversation_member_messages("c", "m", long_body(4001)),
        ValueError,
        "4000",
    ),
    (
        "empty body",
        lambda a: a.post_webchat_guest_conversation_member_messages("c", "m", MSG(body="")),
        ValueError,
        "^body: the message text must",
    ),
    (
        "missing body",
        lambda a: a.post_webchat_guest_conversation_member_messages("c", "m", MSG()),
        ValueError,
        "^body: the message text must",
    ),
    (
        "dict body",
        lambda a: a.post_webchat_guest_conversation_member_messages("c", "m", {"body": "hi"}),
        TypeError,
        "CreateWebChatMessageRequest",
    ),
    (
        "wrong model",
        lambda a: a.put_webchat_settings(models.WebChatDeployment()),
        TypeError,
        "WebChatSettings",
    ),
    (
        "max_results 0",
        lambda a: a.get_webchat_guest_conversation_messages("c", max_results=0),
        ValueError,
        "max_results",
    ),
    (
        "max_results 101",
        lambda a: a.get_webchat_guest_conversation_messages("c", max_results=101),
        ValueError,
        "max_results",
    ),
    (
        "max_results str",
        lambda a: a.get_webchat_guest_conversation_messages("c", max_results="10"),
        TypeError,
        "max_results",
    ),
    (
        "max_results bool",
        lambda a: a.get_webchat_guest_conversation_messages("c", max_results=True),
        TypeError,
        "max_results",
    ),
    (
        "sort_order",
        lambda a: a.get_webchat_guest_conversation_messages("c", sort_order="up"),
        ValueError,
        "sort_order",
    ),
    (
        "sort_order case",
        lambda a: a.get_webchat_guest_conversation_messages("c", sort_order="ASCENDING"),
        ValueError,
        "sort_order",
    ),
    (
        "empty after",
        lambda a: a.get_webchat_guest_conversation_messages("c", after=""),
        ValueError,
        "after",
    ),
    (
        "page_size 0",
        lambda a: a.get_webchat_guest_conversation_members("c", page_size=0),
        ValueError,
        "page_size",
    ),
    (
        "page_number 0",
        lambda a: a.get_webchat_guest_conversation_members("c", page_number=0),
        ValueError,
        "page_number",
    ),
    (
        "flag as str",
        lambda a: a.get_webchat_guest_conversation_members(
            "c", exclude_disconnected_members="false"
        ),
        TypeError,
        "exclude_disconnected_members",
    ),
]


@pytest.mark.parametrize(
    ("name", "call", "error", "match"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
async def test_bad_arguments_raise_before_sending(
    name: str, call: Callable[[WebChatApi], Any], error: type[Exception], match: str
) -> None:
    async with make_api(guest_token=JWT, access_token=ACCESS_TOKEN) as api:
        with respx.mock(assert_all_called=False) as router:
            route = router.route().respond(200, json=MESSAGE)
            with pytest.raises(error, match=match):
                await call(api)
    assert route.call_count == 0


async def test_a_message_of_exactly_4000_characters_is_sent() -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.post(path__regex=r"/messages$").respond(200, json=MESSAGE)
            await api.post_webchat_guest_conversation_member_messages("c", "m", long_body(4000))
    assert route.call_count == 1


@pytest.mark.parametrize(
    "make_iterator",
    [
        lambda a: a.iter_webchat_guest_conversation_messages("", max_results=5),
        lambda a: a.iter_webchat_guest_conversation_messages("c", max_results=500),
        lambda a: a.iter_webchat_guest_conversation_members("c", page_size=-1),
    ],
)
async def test_iterators_check_arguments_at_once(
    make_iterator: Callable[[WebChatApi], Any],
) -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(assert_all_called=False) as router:
            route = router.route().respond(200, json={})
            with pytest.raises(ValueError):
                make_iterator(api)  # not even iterated
    assert route.call_count == 0


async def test_guest_operation_without_guest_token() -> None:
    async with make_api(access_token=ACCESS_TOKEN) as api:
        with respx.mock(assert_all_called=False) as router:
            route = router.route().respond(200, json=MESSAGE)
            with pytest.raises(ValueError, match="guest"):
                await api.get_webchat_guest_conversation_message("c", "m")
            with pytest.raises(ValueError, match="guest"):
                api.iter_webchat_guest_conversation_messages("c")
    assert route.call_count == 0


async def test_admin_operation_without_credentials() -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(assert_all_called=False) as router:
            route = router.route().respond(200, json={})
            with pytest.raises(ValueError, match="OAuth"):
                await api.get_webchat_settings()
            with pytest.raises(ValueError, match="OAuth"):
                await api.delete_webchat_deployment("d")
    assert route.call_count == 0


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError):
        WebChatApi(guest_token=token)
    with pytest.raises(ValueError):
        WebChatApi(access_token=token)


# -- base URLs and TLS -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:9000/", "http://[::1]:8080"],
)
async def test_http_is_allowed_for_loopback(url: str) -> None:
    async with WebChatApi(base_url=url) as api:
        assert api.base_url == url.rstrip("/")
        assert api.login_url == api.base_url


@pytest.mark.parametrize(
    "url", ["http://api.example.com", "http://10.0.0.5:8080", "http://[2001:db8::1]"]
)
def test_http_to_other_hosts_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="allow_insecure_http"):
        WebChatApi(base_url=url)
    with pytest.raises(ValueError, match="allow_insecure_http"):
        WebChatApi(base_url="https://api.example.com", login_url=url)


async def test_allow_insecure_http_opts_in() -> None:
    async with WebChatApi(base_url="http://api.example.com", allow_insecure_http=True) as api:
        assert api.base_url == "http://api.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.example.com",
        "api.example.com",
        "https://",
        "https://user:pw@api.example.com",
        "https://api.example.com/?x=1",
    ],
)
def test_malformed_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError) as info:
        WebChatApi(base_url=url)
    assert "pw" not in str(info.value)


async def test_base_url_overrides_region_and_login_url_overrides_both() -> None:
    async with WebChatApi(
        region="eu-west-1", base_url="https://proxy.example", login_url="https://sso.example/"
    ) as api:
        assert api.base_url == "https://proxy.example"
        assert api.login_url == "https://sso.example"


async def test_our_client_verifies_tls_and_has_finite_timeouts() -> None:
    async with WebChatApi() as api:
        client = api._http._client
        # The transport's SSL context is httpx's default: it checks certificates and hosts.
        context = client._transport.ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert api._http.timeout == DEFAULT_TIMEOUT
        assert client.follow_redirects is False


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (12.5, httpx.Timeout(12.5)),
        (httpx.Timeout(3.0, connect=1.0), httpx.Timeout(3.0, connect=1.0)),
    ],
)
async def test_timeout_accepts_float_and_httpx_timeout(
    timeout: Any, expected: httpx.Timeout
) -> None:
    async with make_api(timeout=timeout, guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.get(path__regex="/messages/").respond(200, json=MESSAGE)
            await api.get_webchat_guest_conversation_message("c", "m")
    assert route.calls.last.request.extensions["timeout"] == expected.as_dict()


@pytest.mark.parametrize(
    "timeout", [httpx.Timeout(None), httpx.Timeout(5.0, read=None), -1.0, 0, float("inf")]
)
def test_unbounded_timeouts_are_refused(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        WebChatApi(timeout=timeout)


# C0, DEL and C1 controls: an id holding one is refused (tests/core/test_control_characters.py).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


@given(
    st.text(min_size=1).filter(
        lambda s: s.strip() and s not in (".", "..") and not CONTROL.search(s)
    )
)
def test_any_id_stays_one_path_segment(value: str) -> None:
    url = httpx.URL(f"{BASE}/api/v2/webchat/deployments/{segment(value, 'deployment_id')}")
    parts = url.raw_path.decode("ascii").split("/")
    assert parts[:-1] == ["", "api", "v2", "webchat", "deployments"]
    assert urllib.parse.unquote(parts[-1], errors="surrogatepass") == value
    assert url.query == b""


def _segment_outcome(value: object) -> object:
    try:
        return ("ok", segment(value, "member_id"))
    except (TypeError, ValueError) as exc:
        return ("error", type(exc), str(exc))


def _general_outcome(value: object) -> object:
    """What segment() gave before its shortcut for plain ids (e8271bc)."""
    if not isinstance(value, str):
        return ("error", TypeError, f"member_id must be a str, not {type(value).__name__}")
    if not value.strip():
        return ("error", ValueError, "member_id must be a non-empty string")
    control = CONTROL.search(value)
    if control is not None:
        point = f"U+{ord(control.group()):04X} at index {control.start()}"
        return ("error", InvalidValueError, f"member_id contains a control character ({point})")
    if value in (".", ".."):
        return ("error", ValueError, f"member_id must be an id, not {value!r}")
    return ("ok", urllib.parse.quote(value, safe=""))


@given(
    st.text(alphabet=st.sampled_from("aZ09-_. /%é\u0661\t"), max_size=12)
    | st.text(max_size=6)
    | st.sampled_from(["-", "--", "٣", "ab\u0663", "\uff21\uff22", None, 5, b"ab"])
)
def test_the_plain_id_shortcut_gives_what_quoting_gives(value: object) -> None:
    assert _segment_outcome(value) == _general_outcome(value)
