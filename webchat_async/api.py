"""``WebChatApi``: the 19 operations of the Web Chat v2 REST API, one async method each.

Method and parameter names are those of the official SDKs (``spec/WebChatApi.md``), so
their users find what they know:

```python
async with WebChatApi(region="eu-west-1") as api:
    created = await api.post_webchat_guest_conversations(request)
    guest = api.with_options(guest_token=created.jwt)
    await guest.post_webchat_guest_conversation_member_messages(
        created.id, created.member.id, CreateWebChatMessageRequest(body="Hello")
    )
    async for message in guest.iter_webchat_guest_conversation_messages(created.id):
        print(message.body)
```

Every method checks its arguments before sending (``ValueError`` for a bad value,
``TypeError`` for a value of the wrong type) and raises the errors of
:mod:`webchat_async.errors` for what the service answers.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _convert
from ._http import DEFAULT_MAX_RESPONSE_SIZE, Answer, Auth, HttpClient, Retry
from ._paging import iterate, resolve_link
from ._redact import redact
from ._validate import (
    MAX_RESULTS_LIMIT,
    SORT_ORDERS,
    check_base_url,
    check_body,
    check_bool,
    check_int,
    check_message_text,
    check_no_controls,
    segment,
)
from .auth import BearerAuth, ClientCredentials, ClientCredentialsAuth
from .errors import DecodeError, SessionClosedError
from .models import (
    CreateWebChatConversationRequest,
    CreateWebChatConversationResponse,
    CreateWebChatMessageRequest,
    WebChatDeployment,
    WebChatDeploymentEntityListing,
    WebChatGuestMediaRequest,
    WebChatGuestMediaRequestEntityList,
    WebChatMemberInfo,
    WebChatMemberInfoEntityList,
    WebChatMessage,
    WebChatMessageEntityList,
    WebChatSettings,
    WebChatTyping,
)
from .regions import resolve_region

__all__ = ["WebChatApi"]

T = TypeVar("T")

_DEPLOYMENTS = "/api/v2/webchat/deployments"
_SETTINGS = "/api/v2/webchat/settings"
_CONVERSATIONS = "/api/v2/webchat/guest/conversations"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()


def _query_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must be a non-empty string")
    return check_no_controls(value, name)


def _decode(response: Answer, cls: type[T], method: str, path: str) -> T:
    if not response.content:
        raise DecodeError(f"{method} {redact(path)}: empty response, expected {cls.__name__}")
    try:
        return _convert.loads(response.content, cls)
    except DecodeError as exc:
        raise DecodeError(f"{method} {redact(path)}: {exc}") from exc


class WebChatApi:
    """An async client of the Web Chat v2 REST API.

    Args:
        region: a region code (``"eu-west-1"``) or domain (``"mypurecloud.ie"``); the
            default is ``us-east-1`` (``mypurecloud.com``). ``ValueError`` if unknown.
        base_url: the API base, overriding ``region`` (``"http://127.0.0.1:8080"`` for
            the simulator).
        login_url: the OAuth host; by default the region's login host, or ``base_url``
            when that is given (the simulator serves ``POST /oauth/token`` itself).
        credentials: an OAuth client, for the deployment and settings operations.
        access_token: a ready OAuth access token, instead of ``credentials``.
        guest_token: the guest JWT (``CreateWebChatConversationResponse.jwt``), for the
            guest operations. See also :meth:`with_options`.
        timeout: an ``httpx.Timeout`` or seconds; every phase must be finite. Default:
            connect 5 s, read and write 30 s, pool 10 s; with ``http_client`` and no
            ``timeout``, that client's own timeout applies.
        max_retries: retries after the first attempt, where a retry is safe (see
            :mod:`webchat_async._http`).
        retry: the backoff schedule, a :class:`~webchat_async._http.Retry`.
        http_client: an ``httpx.AsyncClient`` to use instead of creating one. It is not
            closed by :meth:`aclose`, and its settings (TLS verification, proxies,
            redirects) are the caller's choice.
        allow_insecure_http: allow an ``http://`` ``base_url`` / ``login_url`` to a host
            that is not loopback. Tokens then travel in clear text.
        max_response_size: the most bytes an answer's body may have, counted as received
            and again after decompression (default 16 MiB; the largest answer of the API
            is under 5 MB). Past it a call raises
            :class:`~webchat_async.errors.ResponseTooLarge` without reading further.

    An id, a token, a secret or a URL holding a control character (CR, LF...) raises
    :class:`~webchat_async.errors.InvalidValueError` where it is given.

    Nothing is opened before the first request. Use ``async with`` or :meth:`aclose`.
    """

    __slots__ = (
        "_admin_auth",
        "_allow_insecure_http",
        "_base_url",
        "_guest_auth",
        "_http",
        "_login_url",
        "_release",
    )

    def __init__(
        self,
        *,
        region: str | None = None,
        base_url: str | None = None,
        login_url: str | None = None,
        credentials: ClientCredentials | None = None,
        access_token: str | None = None,
        guest_token: str | None = None,
        timeout: httpx.Timeout | float | None = None,
        max_retries: int = 3,
        retry: Retry | None = None,
        http_client: httpx.AsyncClient | None = None,
        allow_insecure_http: bool = False,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        resolved = resolve_region(region if region is not None else "us-east-1")
        if base_url is None:
            api_base, login_base = resolved.api_base, resolved.login_base
        else:
            api_base = check_base_url(base_url, "base_url", allow_insecure_http=allow_insecure_http)
            login_base = api_base
        if login_url is not None:
            login_base = login_url
        self._base_url = api_base
        self._allow_insecure_http = allow_insecure_http
        self._login_url = check_base_url(
            login_base, "login_url", allow_insecure_http=allow_insecure_http
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError("http_client must be an httpx.AsyncClient")
        if credentials is not None and access_token is not None:
            raise ValueError("pass credentials or access_token, not both")
        if credentials is not None and not isinstance(credentials, ClientCredentials):
            raise TypeError("credentials must be a ClientCredentials")
        self._guest_auth = (
            BearerAuth(guest_token, name="guest_token") if guest_token is not None else None
        )
        if access_token is not None:
            # Refuses an empty or malformed token now, before a client exists.
            BearerAuth(access_token, name="access_token")
        # Last: every argument check has run, so a refused argument leaves no client behind.
        self._http = HttpClient(
            http_client,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            max_response_size=max_response_size,
        )
        self._admin_auth = self._make_admin_auth(credentials, access_token, self._http)
        # Set on a lease of a loop's default pool (_default_api_lease): returns it on close.
        self._release: Callable[[], Awaitable[None]] | None = None

    def _make_admin_auth(
        self, credentials: ClientCredentials | None, access_token: str | None, http: HttpClient
    ) -> Auth | None:
        if credentials is not None and access_token is not None:
            raise ValueError("pass credentials or access_token, not both")
        if credentials is not None:
            return ClientCredentialsAuth(
                credentials, token_url=self._login_url + "/oauth/token", http=http
            )
        if access_token is not None:
            return BearerAuth(access_token, name="access_token")
        return None

    def with_options(
        self,
        *,
        guest_token: str | None = _UNSET,
        access_token: str | None = _UNSET,
        credentials: ClientCredentials | None = _UNSET,
        timeout: httpx.Timeout | float | None = None,
        max_retries: int | None = None,
        retry: Retry | None = None,
        max_response_size: int | None = None,
    ) -> WebChatApi:
        """A client with some options changed, sharing this one's connection pool.

        Options not given are kept (a cached OAuth token too). Closing the derived client
        leaves the pool open; closing the client that created the pool closes it for all.

        >>> guest = api.with_options(guest_token=created.jwt)  # doctest: +SKIP
        """
        derived = object.__new__(WebChatApi)
        derived._base_url = self._base_url
        derived._login_url = self._login_url
        derived._allow_insecure_http = self._allow_insecure_http
        derived._release = None
        derived._http = self._http.derive(
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            max_response_size=max_response_size,
        )
        if credentials is _UNSET and access_token is _UNSET:
            derived._admin_auth = self._admin_auth
        else:
            derived._admin_auth = derived._make_admin_auth(
                None if credentials is _UNSET else credentials,
                None if access_token is _UNSET else access_token,
                derived._http,
            )
        if guest_token is _UNSET:
            derived._guest_auth = self._guest_auth
        else:
            derived._guest_auth = (
                BearerAuth(guest_token, name="guest_token") if guest_token is not None else None
            )
        return derived

    @property
    def base_url(self) -> str:
        """The API base actually used, without a trailing slash."""
        return self._base_url

    @property
    def allow_insecure_http(self) -> bool:
        """Whether plain ``http://`` / ``ws://`` to non-loopback hosts was allowed."""
        return self._allow_insecure_http

    @property
    def login_url(self) -> str:
        """The OAuth login base actually used, without a trailing slash."""
        return self._login_url

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called (or the shared pool was closed)."""
        return self._http.is_closed

    def __repr__(self) -> str:
        guest = "'***'" if self._guest_auth is not None else "None"
        admin = repr(self._admin_auth)
        return f"WebChatApi(base_url={self._base_url!r}, guest_token={guest}, auth={admin})"

    async def __aenter__(self) -> WebChatApi:
        if self.is_closed:
            raise SessionClosedError("the client is closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client; the connection pool too, unless it was injected or shared."""
        await self._http.aclose()
        release, self._release = self._release, None
        if release is not None:
            await release()

    # -- plumbing ------------------------------------------------------------------------

    def _guest(self) -> Auth:
        if self._guest_auth is None:
            raise ValueError(
                "this operation needs the guest JWT: pass guest_token= or use "
                "api.with_options(guest_token=created.jwt)"
            )
        return self._guest_auth

    def _admin(self) -> Auth:
        if self._admin_auth is None:
            raise ValueError(
                "this operation needs OAuth credentials: pass credentials= or access_token="
            )
        return self._admin_auth

    async def _call(
        self,
        method: str,
        path: str,
        cls: type[T],
        auth: Auth | None,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
    ) -> T:
        response = await self._http.request(
            method,
            self._base_url + path,
            path=path,
            params=params or None,
            json_body=None if body is None else _convert.unstructure(body),
            auth=auth,
        )
        return _decode(response, cls, method, path)

    async def _call_empty(self, method: str, path: str, auth: Auth) -> None:
        # Deletes answer 204, or 200 with no body; a body, if any, carries nothing we need.
        await self._http.request(method, self._base_url + path, path=path, auth=auth)

    async def _follow(self, link: str, cls: type[T], auth: Auth) -> T:
        url, path = resolve_link(self._base_url, link)
        response = await self._http.request("GET", url, path=path, auth=auth)
        return _decode(response, cls, "GET", path)

    # -- deployments and settings (OAuth) ------------------------------------------------

    async def delete_webchat_deployment(self, deployment_id: str) -> None:
        """Delete a WebChat deployment. Needs OAuth credentials (``ValueError`` if none)."""
        path = f"{_DEPLOYMENTS}/{segment(deployment_id, 'deployment_id')}"
        await self._call_empty("DELETE", path, self._admin())

    async def get_webchat_deployment(self, deployment_id: str) -> WebChatDeployment:
        """Get a WebChat deployment. Needs OAuth credentials (``ValueError`` if none)."""
        path = f"{_DEPLOYMENTS}/{segment(deployment_id, 'deployment_id')}"
        return await self._call("GET", path, WebChatDeployment, self._admin())

    async def get_webchat_deployments(self) -> WebChatDeploymentEntityListing:
        """List WebChat deployments. Needs OAuth credentials (``ValueError`` if none)."""
        return await self._call("GET", _DEPLOYMENTS, WebChatDeploymentEntityListing, self._admin())

    async def post_webchat_deployments(self, body: WebChatDeployment) -> WebChatDeployment:
        """Create a WebChat deployment. Needs OAuth credentials (``ValueError`` if none)."""
        check_body(body, WebChatDeployment)
        return await self._call("POST", _DEPLOYMENTS, WebChatDeployment, self._admin(), body=body)

    async def put_webchat_deployment(
        self, deployment_id: str, body: WebChatDeployment
    ) -> WebChatDeployment:
        """Update a WebChat deployment. Needs OAuth credentials (``ValueError`` if none)."""
        path = f"{_DEPLOYMENTS}/{segment(deployment_id, 'deployment_id')}"
        check_body(body, WebChatDeployment)
        return await self._call("PUT", path, WebChatDeployment, self._admin(), body=body)

    async def delete_webchat_settings(self) -> None:
        """Remove WebChat deployment settings. Needs OAuth credentials (``ValueError`` if none)."""
        await self._call_empty("DELETE", _SETTINGS, self._admin())

    async def get_webchat_settings(self) -> WebChatSettings:
        """Get WebChat deployment settings. Needs OAuth credentials (``ValueError`` if none)."""
        return await self._call("GET", _SETTINGS, WebChatSettings, self._admin())

    async def put_webchat_settings(self, body: WebChatSettings) -> WebChatSettings:
        """Update WebChat deployment settings. Needs OAuth credentials (``ValueError`` if none)."""
        check_body(body, WebChatSettings)
        return await self._call("PUT", _SETTINGS, WebChatSettings, self._admin(), body=body)

    # -- guest conversations (guest JWT) -------------------------------------------------

    async def post_webchat_guest_conversations(
        self, body: CreateWebChatConversationRequest
    ) -> CreateWebChatConversationResponse:
        """Create an ACD chat conversation from an external customer. No authorization.

        The response holds the guest ``jwt`` for the other guest operations (see
        :meth:`with_options`) and the ``event_stream_uri``; the conversation is not routed
        until a websocket is attached to that URI. Both are secrets.
        """
        check_body(body, CreateWebChatConversationRequest)
        for name in ("organization_id", "deployment_id"):
            value = getattr(body, name)
            if isinstance(value, str):
                check_no_controls(value, name)
        return await self._call(
            "POST", _CONVERSATIONS, CreateWebChatConversationResponse, None, body=body
        )

    async def delete_webchat_guest_conversation_member(
        self, conversation_id: str, member_id: str
    ) -> None:
        """Remove a member (the guest: leave) from a chat conversation.

        Needs the guest JWT (``ValueError`` if none).
        """
        path = self._member_path(conversation_id, member_id)
        await self._call_empty("DELETE", path, self._guest())

    async def get_webchat_guest_conversation_member(
        self, conversation_id: str, member_id: str
    ) -> WebChatMemberInfo:
        """Get a web chat conversation member. Needs the guest JWT (``ValueError`` if none)."""
        path = self._member_path(conversation_id, member_id)
        return await self._call("GET", path, WebChatMemberInfo, self._guest())

    async def get_webchat_guest_conversation_members(
        self,
        conversation_id: str,
        page_size: int | None = None,
        page_number: int | None = None,
        exclude_disconnected_members: bool | None = None,
    ) -> WebChatMemberInfoEntityList:
        """Get one page of the members of a chat conversation.

        ``page_size`` and ``page_number`` are >= 1 (the service defaults to 25 and 1).
        Needs the guest JWT (``ValueError`` if none). See
        :meth:`iter_webchat_guest_conversation_members` to walk all pages.
        """
        path, params = self._members_request(
            conversation_id, page_size, exclude_disconnected_members
        )
        if page_number is not None:
            params["pageNumber"] = str(check_int(page_number, "page_number", minimum=1))
        return await self._call(
            "GET", path, WebChatMemberInfoEntityList, self._guest(), params=params
        )

    async def get_webchat_guest_conversation_message(
        self, conversation_id: str, message_id: str
    ) -> WebChatMessage:
        """Get a web chat conversation message. Needs the guest JWT (``ValueError`` if none)."""
        path = (
            f"{_CONVERSATIONS}/{segment(conversation_id, 'conversation_id')}"
            f"/messages/{segment(message_id, 'message_id')}"
        )
        return await self._call("GET", path, WebChatMessage, self._guest())

    async def get_webchat_guest_conversation_messages(
        self,
        conversation_id: str,
        after: str | None = None,
        before: str | None = None,
        sort_order: str | None = None,
        max_results: int | None = None,
    ) -> WebChatMessageEntityList:
        """Get one page of the messages of a chat conversation.

        ``after`` / ``before`` are message ids; ``sort_order`` is ``"ascending"`` (the
        service's default) or ``"descending"``; ``max_results`` is 1 to 100. Needs the guest
        JWT (``ValueError`` if none). See :meth:`iter_webchat_guest_conversation_messages`.
        """
        path, params = self._messages_request(
            conversation_id, after, before, sort_order, max_results
        )
        return await self._call("GET", path, WebChatMessageEntityList, self._guest(), params=params)

    async def post_webchat_guest_conversation_member_messages(
        self, conversation_id: str, member_id: str, body: CreateWebChatMessageRequest
    ) -> WebChatMessage:
        """Send a message (``body.body``: 1 to 4,000 characters) in a chat conversation.

        Needs the guest JWT (``ValueError`` if none). Not retried where a retry could send
        the message twice.
        """
        path = self._member_path(conversation_id, member_id) + "/messages"
        check_body(body, CreateWebChatMessageRequest)
        check_message_text(body.body, "body")
        return await self._call("POST", path, WebChatMessage, self._guest(), body=body)

    async def post_webchat_guest_conversation_member_typing(
        self, conversation_id: str, member_id: str
    ) -> WebChatTyping:
        """Send a typing indicator in a chat conversation.

        Needs the guest JWT (``ValueError`` if none).
        """
        path = self._member_path(conversation_id, member_id) + "/typing"
        return await self._call("POST", path, WebChatTyping, self._guest())

    async def get_webchat_guest_conversation_mediarequest(
        self, conversation_id: str, media_request_id: str
    ) -> WebChatGuestMediaRequest:
        """Get a media request in the conversation. Needs the guest JWT (``ValueError`` if none)."""
        path = self._media_request_path(conversation_id, media_request_id)
        return await self._call("GET", path, WebChatGuestMediaRequest, self._guest())

    async def get_webchat_guest_conversation_mediarequests(
        self, conversation_id: str
    ) -> WebChatGuestMediaRequestEntityList:
        """Get all media requests to the guest in the conversation.

        Needs the guest JWT (``ValueError`` if none).
        """
        path = f"{_CONVERSATIONS}/{segment(conversation_id, 'conversation_id')}/mediarequests"
        return await self._call("GET", path, WebChatGuestMediaRequestEntityList, self._guest())

    async def patch_webchat_guest_conversation_mediarequest(
        self, conversation_id: str, media_request_id: str, body: WebChatGuestMediaRequest
    ) -> WebChatGuestMediaRequest:
        """Answer a media request: ``body.state`` ``ACCEPTED``, ``DECLINED`` or ``ERRORED``.

        Needs the guest JWT (``ValueError`` if none). The state is not checked here: the
        service is the judge, and may learn new states.
        """
        path = self._media_request_path(conversation_id, media_request_id)
        check_body(body, WebChatGuestMediaRequest)
        return await self._call("PATCH", path, WebChatGuestMediaRequest, self._guest(), body=body)

    # -- page iterators --------------------------------------------------------------------

    def iter_webchat_guest_conversation_messages(
        self,
        conversation_id: str,
        after: str | None = None,
        before: str | None = None,
        sort_order: str | None = None,
        max_results: int | None = None,
    ) -> AsyncIterator[WebChatMessage]:
        """Every message of the conversation, page after page, following ``next``.

        Arguments are checked at once, before iteration starts. A ``next`` link on another
        host than the API base raises :class:`~webchat_async.errors.DecodeError`.
        """
        path, params = self._messages_request(
            conversation_id, after, before, sort_order, max_results
        )
        auth = self._guest()

        async def fetch(link: str | None) -> WebChatMessageEntityList:
            if link is None:
                return await self._call("GET", path, WebChatMessageEntityList, auth, params=params)
            return await self._follow(link, WebChatMessageEntityList, auth)

        return iterate(fetch, lambda page: page.entities, lambda page: page.next)

    def iter_webchat_guest_conversation_members(
        self,
        conversation_id: str,
        page_size: int | None = None,
        exclude_disconnected_members: bool | None = None,
    ) -> AsyncIterator[WebChatMemberInfo]:
        """Every member of the conversation, page after page, following ``nextUri``.

        Arguments are checked at once, before iteration starts. A ``nextUri`` on another
        host than the API base raises :class:`~webchat_async.errors.DecodeError`.
        """
        path, params = self._members_request(
            conversation_id, page_size, exclude_disconnected_members
        )
        auth = self._guest()

        async def fetch(link: str | None) -> WebChatMemberInfoEntityList:
            if link is None:
                return await self._call(
                    "GET", path, WebChatMemberInfoEntityList, auth, params=params
                )
            return await self._follow(link, WebChatMemberInfoEntityList, auth)

        return iterate(fetch, lambda page: page.entities, lambda page: page.next_uri)

    # -- request building ------------------------------------------------------------------

    @staticmethod
    def _member_path(conversation_id: str, member_id: str) -> str:
        return (
            f"{_CONVERSATIONS}/{segment(conversation_id, 'conversation_id')}"
            f"/members/{segment(member_id, 'member_id')}"
        )

    @staticmethod
    def _media_request_path(conversation_id: str, media_request_id: str) -> str:
        return (
            f"{_CONVERSATIONS}/{segment(conversation_id, 'conversation_id')}"
            f"/mediarequests/{segment(media_request_id, 'media_request_id')}"
        )

    @staticmethod
    def _members_request(
        conversation_id: str, page_size: int | None, exclude_disconnected_members: bool | None
    ) -> tuple[str, dict[str, str]]:
        path = f"{_CONVERSATIONS}/{segment(conversation_id, 'conversation_id')}/members"
        params: dict[str, str] = {}
        if page_size is not None:
            params["pageSize"] = str(check_int(page_size, "page_size", minimum=1))
        if exclude_disconnected_members is not None:
            flag = check_bool(exclude_disconnected_members, "exclude_disconnected_members")
            params["excludeDisconnectedMembers"] = "true" if flag else "false"
        return path, params

    @staticmethod
    def _messages_request(
        conversation_id: str,
        after: str | None,
        before: str | None,
        sort_order: str | None,
        max_results: int | None,
    ) -> tuple[str, dict[str, str]]:
        path = f"{_CONVERSATIONS}/{segment(conversation_id, 'conversation_id')}/messages"
        params: dict[str, str] = {}
        if after is not None:
            params["after"] = _query_str(after, "after")
        if before is not None:
            params["before"] = _query_str(before, "before")
        if sort_order is not None:
            if not isinstance(sort_order, str) or sort_order not in SORT_ORDERS:
                raise ValueError(
                    f"sort_order must be 'ascending' or 'descending', got {sort_order!r}"
                )
            params["sortOrder"] = sort_order
        if max_results is not None:
            params["maxResults"] = str(
                check_int(max_results, "max_results", minimum=1, maximum=MAX_RESULTS_LIMIT)
            )
        return path, params


# -- the default pool of sessions started without a client ---------------------------------


class _LoopPool:
    """One event loop's default client for one ``(region, base_url)``, and its leases."""

    __slots__ = ("api", "leases")

    def __init__(self, api: WebChatApi) -> None:
        self.api = api
        self.leases = 0


# Event loop -> (region, base_url) -> its pool. Per loop: aiohttp's session and its
# connections belong to the loop they were made in (a notebook or a program may run
# several loops, in turn or in threads). Weak: a loop that is gone takes its entry along.
_POOLS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str | None, str | None], _LoopPool]
] = weakref.WeakKeyDictionary()


def _default_api_lease(*, region: str | None, base_url: str | None) -> WebChatApi:
    """A client on the running loop's default pool for ``(region, base_url)``: what a
    session started without ``api=`` uses.

    Each such session would otherwise own an HTTP client, a connection pool and an idle
    keep-alive connection for the few REST calls it makes after attaching (~28 KiB an idle
    session, benchmarks/session_memory.py). The pool is created with the first lease and
    closed when the last lease is closed (:meth:`WebChatApi.aclose`), so closing every
    session still closes everything they opened. Must be called with a running loop.
    """
    loop = asyncio.get_running_loop()
    pools = _POOLS.get(loop)
    if pools is None:
        pools = _POOLS[loop] = {}
    key = (region, base_url)
    pool = pools.get(key)
    if pool is None:
        # Raises for a bad region or URL before anything is registered.
        pool = _LoopPool(WebChatApi(region=region, base_url=base_url))
        pools[key] = pool
    lease = pool.api.with_options()
    pool.leases += 1

    async def release() -> None:
        pool.leases -= 1
        if pool.leases > 0:
            return
        # Out of the registry before the close awaits: a session started meanwhile makes
        # a new pool rather than lease one being closed.
        if pools.get(key) is pool:
            del pools[key]
        if not pools and _POOLS.get(loop) is pools:
            del _POOLS[loop]
        await pool.api.aclose()

    lease._release = release
    return lease
