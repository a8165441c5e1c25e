"""Page iterators: following next / nextUri, stopping, and never leaving the API host."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
import respx
from core_support import BASE, CONVERSATIONS, JWT, MEMBER, MESSAGE, make_api

from webchat_async._paging import resolve_link
from webchat_async.errors import DecodeError

MESSAGES = f"{CONVERSATIONS}/c-1/messages"
MEMBERS = f"{CONVERSATIONS}/c-1/members"


def msg(i: int) -> dict[str, Any]:
    return {**MESSAGE, "id": f"msg-{i}", "body": f"message {i}"}


def page(ids: list[int], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"pageSize": len(ids), "entities": [msg(i) for i in ids]}
    if next_link is not None:
        body["next"] = next_link
    return httpx.Response(200, json=body)


async def test_messages_follow_relative_and_absolute_next_links() -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGES).mock(
                side_effect=[
                    page([1, 2], f"{MESSAGES}?after=msg-2&maxResults=2"),
                    page([3, 4], f"{BASE}{MESSAGES}?after=msg-4&maxResults=2"),
                    page([5]),
                ]
            )
            seen = [
                m.id
                async for m in api.iter_webchat_guest_conversation_messages(
                    "c-1", sort_order="ascending", max_results=2
                )
            ]
    assert seen == ["msg-1", "msg-2", "msg-3", "msg-4", "msg-5"]
    requests = [c.request for c in route.calls]
    assert [dict(r.url.params) for r in requests] == [
        {"sortOrder": "ascending", "maxResults": "2"},
        {"after": "msg-2", "maxResults": "2"},
        {"after": "msg-4", "maxResults": "2"},
    ]
    assert all(r.url.host == "api.mypurecloud.com" for r in requests)
    assert all(r.headers["authorization"] == f"Bearer {JWT}" for r in requests)


async def test_iteration_stops_on_an_empty_page() -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGES).mock(
                side_effect=[page([1], f"{MESSAGES}?after=msg-1"), page([], f"{MESSAGES}?after=x")]
            )
            seen = [m.id async for m in api.iter_webchat_guest_conversation_messages("c-1")]
    assert seen == ["msg-1"]
    assert route.call_count == 2


async def test_a_repeated_link_does_not_loop_for_ever() -> None:
    link = f"{MESSAGES}?after=msg-1"
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGES).mock(side_effect=[page([1], link)] * 5)
            seen = [m.id async for m in api.iter_webchat_guest_conversation_messages("c-1")]
    # The repeated page brings nothing new: it ends the iteration, and is not yielded.
    assert seen == ["msg-1"]
    assert route.call_count == 2


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/api/v2/webchat/guest/conversations/c-1/messages?after=msg-1",
        "//evil.example/api/v2/x",
        "http://api.mypurecloud.com/api/v2/x",  # same host, but clear text
        "https://api.mypurecloud.com:8443/api/v2/x",
    ],
)
async def test_next_link_to_another_origin_is_refused(link: str) -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(assert_all_called=False) as router:
            first = router.get(f"{BASE}{MESSAGES}").mock(return_value=page([1], link))
            elsewhere = router.route().respond(200, json={"entities": [msg(2)]})
            seen = []
            with pytest.raises(DecodeError, match="another host"):
                async for m in api.iter_webchat_guest_conversation_messages("c-1"):
                    seen.append(m.id)
    assert seen == ["msg-1"]
    assert first.call_count == 1
    assert elsewhere.call_count == 0  # the JWT never left


async def test_members_follow_next_uri() -> None:
    def members_page(ids: list[int], next_uri: str | None) -> httpx.Response:
        body: dict[str, Any] = {
            "entities": [{**MEMBER, "id": f"m-{i}"} for i in ids],
            "pageSize": 2,
            "total": 3,
            "pageCount": 2,
        }
        if next_uri:
            body["nextUri"] = next_uri
        return httpx.Response(200, json=body)

    next_uri = f"{MEMBERS}?pageSize=2&pageNumber=2&excludeDisconnectedMembers=true"
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.get(MEMBERS).mock(
                side_effect=[members_page([1, 2], next_uri), members_page([3], None)]
            )
            seen = [
                m.id
                async for m in api.iter_webchat_guest_conversation_members(
                    "c-1", page_size=2, exclude_disconnected_members=True
                )
            ]
    assert seen == ["m-1", "m-2", "m-3"]
    params = [dict(c.request.url.params) for c in route.calls]
    assert params == [
        {"pageSize": "2", "excludeDisconnectedMembers": "true"},
        {"pageSize": "2", "pageNumber": "2", "excludeDisconnectedMembers": "true"},
    ]


async def test_links_are_relative_to_a_base_with_a_prefix() -> None:
    base = "http://127.0.0.1:8000/sim"
    async with make_api(base_url=base, guest_token=JWT) as api:
        with respx.mock() as router:
            route = router.get(f"{base}{MESSAGES}").mock(
                side_effect=[page([1], f"{MESSAGES}?after=msg-1"), page([2])]
            )
            seen = [m.id async for m in api.iter_webchat_guest_conversation_messages("c-1")]
    assert seen == ["msg-1", "msg-2"]
    assert route.call_count == 2


async def test_breaking_out_early_sends_no_more_requests() -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGES).mock(side_effect=[page([1, 2], f"{MESSAGES}?after=2")])
            iterator = api.iter_webchat_guest_conversation_messages("c-1")
            async with contextlib.aclosing(iterator) as messages:  # type: ignore[type-var]
                async for m in messages:
                    assert m.id == "msg-1"
                    break
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("link", "url", "path"),
    [
        ("/api/v2/x?after=1", f"{BASE}/api/v2/x?after=1", "/api/v2/x"),
        ("api/v2/x", f"{BASE}/api/v2/x", "/api/v2/x"),
        (f"{BASE}/api/v2/x?y=1", f"{BASE}/api/v2/x?y=1", "/api/v2/x"),
        (
            "HTTPS://API.MYPURECLOUD.COM:443/api/v2/x",
            "HTTPS://API.MYPURECLOUD.COM:443/api/v2/x",
            "/api/v2/x",
        ),
    ],
)
def test_resolve_link(link: str, url: str, path: str) -> None:
    assert resolve_link(BASE, link) == (url, path)


@pytest.mark.parametrize("link", ["", "   ", "https://api.mypurecloud.com:99999/x"])
def test_resolve_link_refuses_unusable_links(link: str) -> None:
    with pytest.raises(DecodeError):
        resolve_link(BASE, link)
