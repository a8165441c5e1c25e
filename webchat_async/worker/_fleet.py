"""``Fleet``: start chats from anywhere (a web handler, a script) for the workers to hold."""

from __future__ import annotations

import uuid
from types import TracebackType

import attrs

from ..api import WebChatApi
from ..messaging import MessagingSession
from ..models import GuestMemberInfo, JourneyContext, WebChatRoutingTarget
from ..regions import resolve_region
from ..session import GuestSession
from ._model import MESSAGING, WEBCHAT, ChatProtocol, FleetStatus
from ._store import SessionStore
from ._wm import MessagingRecord

__all__ = ["Fleet", "StartedChat"]


@attrs.frozen
class StartedChat:
    """A chat :meth:`Fleet.start_chat` or :meth:`Fleet.start_messaging_chat` created: its
    id in the fleet (on Web Chat v2 the conversation id; on Web Messaging, whose guest
    never learns the conversation id, an id the fleet made), the worker it was handed to
    (``None``: no live worker had room; the first one that has claims it), and its
    protocol (``"webchat"`` or ``"messaging"``)."""

    conversation_id: str
    worker_id: str | None
    protocol: ChatProtocol = WEBCHAT


def _messaging_location(
    region: str | None, base_url: str | None, api: WebChatApi
) -> tuple[str | None, str | None]:
    """Where the Web Messaging sessions of a fleet are: ``(region, base_url)`` as
    ``MessagingSession.start`` takes them, from the fleet's arguments or its API's base
    (a region's ``https://api.<domain>`` is that region: its websocket is on another host)."""
    if base_url is not None:
        return None, base_url
    if region is not None:
        return region, None
    try:
        return resolve_region(api.base_url).domain, None
    except ValueError:
        return None, api.base_url


class Fleet:
    """The client side of a fleet: starts chats and hands them to the least loaded worker.

    One method per protocol: :meth:`start_chat` (Web Chat v2) and
    :meth:`start_messaging_chat` (Web Messaging); the workers hold chats of both at once.

    For example:

    ```python
    store = RedisStore.from_url("redis://127.0.0.1:6379/0")
    async with Fleet(store, region="eu-west-1") as fleet:
        started = await fleet.start_chat(
            organization_id=ORG, deployment_id=DEP,
            member_info=GuestMemberInfo(display_name="Ann"),
        )
    ```

    Args:
        store: the fleet's store (the workers' one).
        api, region, base_url: where the service is (an ``api`` is used, not closed).
        reserve: seconds a new chat waits for the worker it was handed to before any
            worker may claim it.
    """

    def __init__(
        self,
        store: SessionStore,
        *,
        api: WebChatApi | None = None,
        region: str | None = None,
        base_url: str | None = None,
        reserve: float = 10.0,
    ) -> None:
        self._store = store
        self._owned = api is None
        self._api = api if api is not None else WebChatApi(region=region, base_url=base_url)
        self._region, self._base_url = _messaging_location(region, base_url, self._api)
        self._reserve = reserve

    def __repr__(self) -> str:
        return f"<Fleet store={self._store!r} base_url={self._api.base_url!r}>"

    async def start_chat(
        self,
        *,
        organization_id: str,
        deployment_id: str,
        member_info: GuestMemberInfo,
        routing_target: WebChatRoutingTarget | None = None,
        member_auth_token: str | None = None,
        journey_context: JourneyContext | None = None,
    ) -> StartedChat:
        """Create a guest conversation, attach it once (the service routes a chat only
        then), and hand it to a worker, which resumes it from its first message.

        Raises the errors of :meth:`GuestSession.start`; if the store fails, the new
        conversation is left (nobody would hold it) and the store's error is raised.
        """
        session = await GuestSession.start(
            organization_id=organization_id,
            deployment_id=deployment_id,
            member_info=member_info,
            routing_target=routing_target,
            member_auth_token=member_auth_token,
            journey_context=journey_context,
            api=self._api,
        )
        try:
            saved = session.save()
            worker = await self._store.add_chat(
                session.conversation_id,
                saved.to_json(),
                self._api.base_url,
                reserve=self._reserve,
            )
        except BaseException:
            await session.aclose(leave=True)
            raise
        await session.aclose(leave=False)
        return StartedChat(session.conversation_id, worker)

    async def start_messaging_chat(
        self,
        *,
        deployment_id: str,
        origin: str,
        token: str | None = None,
        first_message: str | None = None,
    ) -> StartedChat:
        """Open a Web Messaging session (or, with ``token``, reattach one), send the
        guest's ``first_message`` if given (a deployment without autostart routes the
        conversation on the guest's first message), and hand the chat to a worker, which
        reattaches it with the same token and hands its handler every message from the
        first one.

        ``token`` is the session's secret: it is stored encrypted under the store's keys,
        as a Web Chat v2 JWT is, and is never logged. The chat's id in the fleet
        (:attr:`StartedChat.conversation_id`) is made here: the guest never learns the
        conversation id.

        Raises the errors of :meth:`MessagingSession.start
        <webchat_async.messaging.MessagingSession.start>` and of its ``send_message``; if
        the store fails, the session is closed (the conversation stays, unattended) and
        the store's error is raised.
        """
        session = await MessagingSession.start(
            deployment_id=deployment_id,
            origin=origin,
            region=self._region,
            base_url=self._base_url,
            token=token,
            api=self._api,
        )
        try:
            if first_message is not None:
                await session.send_message(first_message)
            chat_id = str(uuid.uuid4())
            record = MessagingRecord(
                token=session.token,
                deployment_id=deployment_id,
                origin=origin,
                region=self._region,
                base_url=self._base_url,
            )
            worker = await self._store.add_chat(
                chat_id,
                record.to_json(),
                self._api.base_url,
                reserve=self._reserve,
                protocol=MESSAGING,
            )
        finally:
            await session.aclose()
        return StartedChat(chat_id, worker, MESSAGING)

    async def status(self) -> FleetStatus:
        """The store's workers, chats and counters."""
        return await self._store.status()

    async def aclose(self) -> None:
        """Close the API client if the fleet created it (the store is the caller's)."""
        if self._owned:
            await self._api.aclose()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
