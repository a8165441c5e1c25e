"""HTTP side of the simulator: the 19 operations, ``/oauth/token`` and the event stream.

Errors are raised as :class:`Failure` and turned into an ``ErrorBody`` by the middleware,
which also stamps ``inin-correlation-id``, applies REST faults and logs each request in
``state.requests``. Routes are compiled once, when the application is built.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import attrs
from aiohttp import WSMsgType, web

from .._convert import unstructure
from ..models import (
    BodyType,
    CreateWebChatConversationRequest,
    CreateWebChatMessageRequest,
    MediaRequestState,
    MemberState,
    WebChatDeployment,
    WebChatDeploymentEntityListing,
    WebChatGuestMediaRequest,
    WebChatGuestMediaRequestEntityList,
    WebChatMemberInfo,
    WebChatMemberInfoEntityList,
    WebChatMessageEntityList,
    WebChatSettings,
)
from ._behaviour import Behaviour
from ._chat import Chats
from ._faults import FaultControls
from ._limits import MAX_CLIENT_FRAME_BYTES, MAX_CONVERSATIONS, MAX_MESSAGES, MAX_REQUEST_BYTES
from ._state import API, ConversationState, RequestRecord, SimulatorState
from ._stream import PONG, Socket
from ._tokens import TokenIssuer
from ._wire import (
    Failure,
    basic_auth,
    bearer,
    bool_query,
    form_str,
    int_query,
    invalid,
    json_response,
    read_body,
    state_error,
    str_query,
)

__all__ = ["Failure", "build_app"]

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_GUEST = f"{API}/guest/conversations"
_CONVERSATION = _GUEST + "/{conversationId}"
_MAX_BODY = 4000
_GUEST_BODY_TYPES = frozenset({BodyType.STANDARD, BodyType.NOTICE})
_ANSWERS = frozenset(
    {MediaRequestState.ACCEPTED, MediaRequestState.DECLINED, MediaRequestState.ERRORED}
)


@attrs.define
class _App:
    """The request handlers, bound to the simulator's parts."""

    state: SimulatorState
    tokens: TokenIssuer
    chats: Chats
    faults: FaultControls
    client_id: str
    client_secret: str = attrs.field(repr=False)
    behaviour: Callable[[], Behaviour] = Behaviour
    rate_window: _RateWindow = attrs.field(factory=lambda: _RateWindow())

    # -- middleware ------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        context_id = str(uuid.uuid4())
        path = request.path
        is_api = path.startswith("/api/")
        response: web.StreamResponse
        try:
            fault = self.faults.take_rest_fault() if is_api else None
            if fault is not None and fault.delay > 0:
                # A slow server has the request in hand: read the body first, so that a
                # client that gives up meanwhile (a timeout) still has its request acted
                # on, as with a real server, instead of failing on a closed body stream.
                await request.read()
                await asyncio.sleep(fault.delay)
            if fault is not None and fault.refuse_status is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                raise Failure(fault.refuse_status, headers=headers)
            response = await handler(request)
            if fault is not None and fault.fail_after_status is not None:
                # The request took effect; the client is told otherwise.
                response = Failure(fault.fail_after_status).response(context_id)
        except Failure as failure:
            response = failure.response(context_id)
        except web.HTTPException as exc:
            # Unknown paths and methods answer an ErrorBody too.
            response = Failure(exc.status).response(context_id)
        if not response.prepared:
            response.headers["inin-correlation-id"] = context_id
            if is_api:
                # docs/protocol.md#rate-limits: every answer says where the client stands.
                response.headers.update(self.rate_window.headers(response.status == 429))
        if is_api or path == "/oauth/token":
            self.state.requests.append(RequestRecord(request.method, path, response.status))
            self.chats.request_answered()
        return response

    # -- credentials -----------------------------------------------------------------------

    def _oauth(self, request: web.Request) -> None:
        token = bearer(request)
        if token is None or not self.tokens.verify_access(token):
            raise Failure(401, "bad.credentials", "Invalid or expired access token.")

    def _guest(self, request: web.Request, *, read: bool = False) -> ConversationState:
        """The conversation of the path, if the guest JWT may use it and it is live (or,
        for a ``read`` with ``Behaviour.reads_after_end == "served"``, has ended)."""
        token = bearer(request)
        claims = self.tokens.verify_guest(token) if token is not None else None
        if claims is None:
            raise Failure(401, "bad.credentials", "Invalid or expired guest token.")
        own = self.state.conversations.get(claims.conversation_id)
        if own is None or own.token_revoked:
            raise Failure(401, "bad.credentials", "Invalid or expired guest token.")
        conversation = self.state.conversations.get(request.match_info["conversationId"])
        if conversation is None:
            raise Failure(404, "not.found", "The conversation was not found.")
        if conversation is not own:
            raise Failure(403, "not.authorized", "The token is not valid for this conversation.")
        if conversation.ended and not (read and self.behaviour().reads_after_end == "served"):
            raise state_error()
        return conversation

    def _member(self, conversation: ConversationState, member_id: str) -> WebChatMemberInfo:
        member = conversation.member(member_id)
        if member is None:
            raise Failure(404, "not.found", "The member was not found.")
        return member

    def _own_member(self, request: web.Request, conversation: ConversationState) -> None:
        member_id = request.match_info["memberId"]
        self._member(conversation, member_id)
        if member_id != conversation.guest_member_id:
            raise Failure(403, "not.authorized", "A guest may only act as its own member.")

    async def oauth_token(self, request: web.Request) -> web.Response:
        """``POST /oauth/token``: client-credentials grant with HTTP Basic auth."""
        form = await request.post()
        client_id, client_secret = basic_auth(request)
        if client_id is None:
            client_id = form_str(form.get("client_id"))
            client_secret = form_str(form.get("client_secret"))
        if not (
            client_id is not None
            and client_secret is not None
            and hmac.compare_digest(client_id, self.client_id)
            and hmac.compare_digest(client_secret, self.client_secret)
        ):
            # OAuth errors use RFC 6749's shape, as the Genesys login service does.
            return json_response(
                {"error": "invalid_client", "error_description": "client not found"}, status=401
            )
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, status=400)
        token, ttl = self.tokens.issue_access()
        return json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": int(ttl)}
        )

    # -- deployments and settings (OAuth) --------------------------------------------------

    def _deployment(self, request: web.Request) -> str:
        deployment_id = request.match_info["deploymentId"]
        if deployment_id not in self.state.deployments:
            raise Failure(404, "not.found", "The deployment was not found.")
        return deployment_id

    async def get_deployments(self, request: web.Request) -> web.Response:
        self._oauth(request)
        entities = list(self.state.deployments.values())
        listing = WebChatDeploymentEntityListing(
            total=len(entities), entities=entities, self_uri=f"{API}/deployments"
        )
        return json_response(unstructure(listing))

    async def post_deployments(self, request: web.Request) -> web.Response:
        self._oauth(request)
        deployment = await read_body(request, WebChatDeployment)
        if deployment is None:
            raise Failure(400, "bad.request", "A request body is required.")
        if not deployment.name:
            raise invalid("name", "A deployment needs a name.")
        return json_response(unstructure(self.state.add_deployment(deployment)))

    async def get_deployment(self, request: web.Request) -> web.Response:
        self._oauth(request)
        return json_response(unstructure(self.state.deployments[self._deployment(request)]))

    async def put_deployment(self, request: web.Request) -> web.Response:
        self._oauth(request)
        deployment_id = self._deployment(request)
        deployment = await read_body(request, WebChatDeployment)
        if deployment is None:
            raise Failure(400, "bad.request", "A request body is required.")
        if not deployment.name:
            raise invalid("name", "A deployment needs a name.")
        return json_response(unstructure(self.state.replace_deployment(deployment_id, deployment)))

    async def delete_deployment(self, request: web.Request) -> web.Response:
        self._oauth(request)
        del self.state.deployments[self._deployment(request)]
        return web.Response(status=204)

    async def get_settings(self, request: web.Request) -> web.Response:
        self._oauth(request)
        return json_response(unstructure(self.state.settings))

    async def put_settings(self, request: web.Request) -> web.Response:
        self._oauth(request)
        settings = await read_body(request, WebChatSettings)
        if settings is None:
            raise Failure(400, "bad.request", "A request body is required.")
        self.state.settings = settings
        return json_response(unstructure(settings))

    async def delete_settings(self, request: web.Request) -> web.Response:
        self._oauth(request)
        # [choice] Removing the settings restores the default (no deployment required).
        self.state.settings = WebChatSettings(require_deployment=False)
        return web.Response(status=204)

    # -- guest conversations ---------------------------------------------------------------

    async def post_conversation(self, request: web.Request) -> web.Response:
        if len(self.state.conversations) >= MAX_CONVERSATIONS:
            held = f"The simulator holds at most {MAX_CONVERSATIONS:,} conversations."
            raise Failure(400, "bad.request", held)
        create = await read_body(request, CreateWebChatConversationRequest)
        if create is None:
            raise Failure(400, "bad.request", "A request body is required.")
        if not create.organization_id:
            raise invalid("organizationId", "organizationId is required.")
        if create.organization_id != self.state.organization_id:
            raise invalid("organizationId", "Unknown organizationId.")
        deployment_id = create.deployment_id
        if deployment_id:
            deployment = self.state.deployments.get(deployment_id)
            if deployment is None or deployment.disabled:
                raise invalid("deploymentId", "Unknown or disabled deploymentId.")
        elif self.state.settings.require_deployment:
            raise invalid("deploymentId", "A deploymentId is required.")
        deployment = self.state.deployments.get(deployment_id) if deployment_id else None
        info = create.member_info
        if info is None or not info.display_name:
            raise invalid("memberInfo", "memberInfo with a displayName is required.")
        target = create.routing_target
        # [choice] docs/protocol.md#create: without a routingTarget the chat goes to the
        # deployment's flow; given, it must name a queue (by name).
        if target is not None and (
            str(target.target_type or "").upper() != "QUEUE" or not target.target_address
        ):
            raise invalid(
                "routingTarget", "routingTarget needs targetType QUEUE and a targetAddress."
            )
        authenticated = bool(deployment is not None and deployment.authentication_required)
        if authenticated and not create.member_auth_token:
            raise invalid("memberAuthToken", "This deployment requires a memberAuthToken.")
        guest = WebChatMemberInfo(
            display_name=info.display_name if info else None,
            first_name=info.first_name if info else None,
            last_name=info.last_name if info else None,
            email=info.email if info else None,
            phone_number=info.phone_number if info else None,
            avatar_image_url=info.avatar_image_url if info else None,
            custom_fields=info.custom_fields if info else None,
            authenticated_guest=authenticated,
        )
        conversation = self.state.new_conversation(deployment_id=deployment_id, guest=guest)
        jwt = self.tokens.issue_guest(
            conversation.id,
            conversation.guest_member_id,
            organization_id=self.state.organization_id,
            deployment_id=deployment_id,
        )
        self.chats.created(conversation)
        # Like the service, the stream URI embeds the JWT: it is a secret.
        return json_response(
            {
                "id": conversation.id,
                "jwt": jwt,
                "eventStreamUri": f"ws://{request.host}/chat/jwt/{jwt}",
                # docs/protocol.md#create: the service may answer the member as {id} only;
                # clients must read the rest from the members endpoint.
                "member": {"id": conversation.guest_member_id},
            }
        )

    async def get_members(self, request: web.Request) -> web.Response:
        conversation = self._guest(request, read=True)
        page_size = int_query(request, "pageSize", 25, 1, 100)
        page_number = int_query(request, "pageNumber", 1, 1, None)
        exclude = bool_query(request, "excludeDisconnectedMembers")
        members = [
            m
            for m in conversation.members.values()
            if not (exclude and m.state == MemberState.DISCONNECTED)
        ]
        total = len(members)
        page_count = max(1, math.ceil(total / page_size))
        start = (page_number - 1) * page_size
        base = f"{conversation.self_uri}/members"

        def uri(number: int) -> str:
            query: dict[str, Any] = {"pageSize": page_size, "pageNumber": number}
            if exclude:
                query["excludeDisconnectedMembers"] = "true"
            return f"{base}?{urlencode(query)}"

        page = WebChatMemberInfoEntityList(
            entities=members[start : start + page_size],
            page_size=page_size,
            page_number=page_number,
            total=total,
            page_count=page_count,
            first_uri=uri(1),
            last_uri=uri(page_count),
            self_uri=uri(page_number),
            next_uri=uri(page_number + 1) if page_number < page_count else None,
            previous_uri=uri(page_number - 1) if page_number > 1 else None,
        )
        return json_response(unstructure(page))

    async def get_member(self, request: web.Request) -> web.Response:
        conversation = self._guest(request, read=True)
        return json_response(
            unstructure(self._member(conversation, request.match_info["memberId"]))
        )

    async def delete_member(self, request: web.Request) -> web.Response:
        try:
            conversation = self._guest(request)
        except Failure as failure:
            if failure.code != "chat.error.conversation.state":
                raise
            # The guest has already left (or was removed): its membership is gone.
            raise Failure(404, "not.found", "The member has left the conversation.") from None
        self._own_member(request, conversation)
        await self.chats.guest_leave(conversation)
        return web.Response(status=204)

    async def post_message(self, request: web.Request) -> web.Response:
        conversation = self._guest(request)
        self._own_member(request, conversation)
        create = await read_body(request, CreateWebChatMessageRequest)
        if create is None:
            raise Failure(400, "bad.request", "A request body is required.")
        if create.body is None:
            raise invalid("body", "body is required.")
        if len(create.body) > _MAX_BODY:
            raise invalid("body", f"body must be at most {_MAX_BODY} characters.")
        if len(conversation.messages) >= MAX_MESSAGES:
            raise Failure(
                400, "bad.request", f"A conversation holds at most {MAX_MESSAGES:,} messages."
            )
        body_type = create.body_type or BodyType.STANDARD
        if body_type not in _GUEST_BODY_TYPES:
            raise invalid("bodyType", "A guest may send standard or notice messages only.")
        if not conversation.attached:
            # docs/protocol.md#messages-and-paging: sends before the stream is attached.
            # [choice] Once attached, a send during a reconnect is accepted (the socket is
            # only briefly away).
            raise state_error()
        message = await self.chats.guest_message(conversation, create.body, body_type)
        if self.behaviour().post_503_after_processing:
            raise Failure(503)
        return json_response(unstructure(message))

    async def post_typing(self, request: web.Request) -> web.Response:
        conversation = self._guest(request)
        self._own_member(request, conversation)
        # The body is ignored: the official SDK sends `null`, others send nothing.
        await request.read()
        if not conversation.attached:
            raise state_error()
        return json_response(unstructure(await self.chats.guest_typing(conversation)))

    async def get_messages(self, request: web.Request) -> web.Response:
        conversation = self._guest(request, read=True)
        max_results = int_query(request, "maxResults", 100, 1, 100)
        order = (str_query(request, "sortOrder") or "ascending").lower()
        if order not in ("ascending", "descending"):
            raise invalid("sortOrder", "sortOrder must be ascending or descending.")
        after = str_query(request, "after")
        before = str_query(request, "before")
        for name, cursor in (("after", after), ("before", before)):
            if cursor is not None and conversation.position(cursor) is None:
                raise invalid(name, f"{name} names no message of this conversation.")
        descending = order == "descending"
        page = conversation.page_messages(
            after=after, before=before, descending=descending, max_results=max_results
        )
        base = f"{conversation.self_uri}/messages"

        def uri(cursor: str, message_id: str | None) -> str | None:
            if message_id is None:
                return None
            query = {cursor: message_id, "sortOrder": order, "maxResults": max_results}
            return f"{base}?{urlencode(query)}"

        first = page.entities[0].id if page.entities else None
        last = page.entities[-1].id if page.entities else None
        # docs/protocol.md#messages-and-paging [choice]: cursors go in `after` / `before`.
        # "next" continues in the sort order; "previousPage" goes back the other way.
        if descending:
            next_uri = uri("before", last) if page.has_before else None
            previous = uri("after", first) if page.has_after else None
        else:
            next_uri = uri("after", last) if page.has_after else None
            previous = uri("before", first) if page.has_before else None
        if not self.behaviour().next_links:
            next_uri = previous = None
        listing = WebChatMessageEntityList(
            # The number of entities on this page, as the service answers.
            page_size=len(page.entities),
            entities=page.entities,
            next=next_uri,
            previous_page=previous,
            self_uri=str(request.rel_url),
        )
        return json_response(unstructure(listing))

    async def get_message(self, request: web.Request) -> web.Response:
        conversation = self._guest(request, read=True)
        message = conversation.message(request.match_info["messageId"])
        if message is None:
            raise Failure(404, "not.found", "The message was not found.")
        return json_response(unstructure(message))

    def _media_request(
        self, request: web.Request, conversation: ConversationState
    ) -> WebChatGuestMediaRequest:
        media = conversation.media_requests.get(request.match_info["mediaRequestId"])
        if media is None:
            raise Failure(404, "not.found", "The media request was not found.")
        return media

    async def get_media_requests(self, request: web.Request) -> web.Response:
        conversation = self._guest(request, read=True)
        listing = WebChatGuestMediaRequestEntityList(
            entities=list(conversation.media_requests.values())
        )
        return json_response(unstructure(listing))

    async def get_media_request(self, request: web.Request) -> web.Response:
        conversation = self._guest(request, read=True)
        return json_response(unstructure(self._media_request(request, conversation)))

    async def patch_media_request(self, request: web.Request) -> web.Response:
        conversation = self._guest(request)
        media = self._media_request(request, conversation)
        update = await read_body(request, WebChatGuestMediaRequest)
        if update is None:
            raise Failure(400, "bad.request", "A request body is required.")
        if update.state not in _ANSWERS:
            raise invalid("state", "state must be ACCEPTED, DECLINED or ERRORED.")
        if media.state != MediaRequestState.PENDING:
            raise Failure(409, "conflict", "The media request has already been answered.")
        if media.id is None:
            raise Failure(500, "internal.error", "A stored media request has no id.")
        updated = attrs.evolve(media, state=update.state)
        conversation.media_requests[media.id] = updated
        return json_response(unstructure(updated))

    # -- the event stream ------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """``GET /chat/jwt/<JWT>``: the guest's websocket."""
        context_id = str(uuid.uuid4())
        refused = self.faults.take_handshake_refusal()
        if refused is not None:
            return Failure(refused).response(context_id)
        claims = self.tokens.verify_guest(request.match_info["jwt"])
        conversation = self.state.conversations.get(claims.conversation_id) if claims else None
        if conversation is None or conversation.token_revoked:
            return Failure(401, "bad.credentials", "Invalid or expired guest token.").response(
                context_id
            )
        if conversation.ended:
            status = self.behaviour().handshake_after_end
            if status == 401:
                failure = Failure(401, "bad.credentials", "Invalid or expired guest token.")
            elif status == 404:
                failure = Failure(404, "not.found", "The conversation was not found.")
            else:
                failure = state_error()
            return failure.response(context_id)
        # No compression: zlib contexts per socket would dominate memory at 1,000 chats.
        # A guest only sends pings: a bigger frame is refused (1009) before it is buffered.
        # aiohttp refuses a message of max_msg_size bytes or more, hence the + 1.
        ws = web.WebSocketResponse(
            autoping=False, compress=False, max_msg_size=MAX_CLIENT_FRAME_BYTES + 1
        )
        ws.headers["inin-correlation-id"] = context_id
        await ws.prepare(request)
        socket = Socket(conversation.id, ws, request.transport)
        self.chats.attach(conversation, socket)
        try:
            async for msg in ws:
                if socket.hung:
                    continue  # a dead peer answers nothing
                if msg.type is WSMsgType.TEXT:
                    if _is_ping(msg.data) and self.behaviour().answer_text_ping:
                        await socket.send(PONG)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            self.chats.detach(socket)
        return ws


class _RateWindow:
    """The ``inin-ratelimit-*`` headers: requests counted per minute against an allowance
    (docs/protocol.md#rate-limits). Counting only: the simulator refuses with 429 only when
    a fault says so."""

    ALLOWED = 300
    WINDOW = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._count = 0

    def headers(self, limited: bool) -> dict[str, str]:
        now = self._clock()
        if now - self._start >= self.WINDOW:
            self._start, self._count = now, 0
        self._count += 1
        count = self.ALLOWED if limited else min(self._count, self.ALLOWED)
        reset = max(1, math.ceil(self.WINDOW - (now - self._start)))
        return {
            "inin-ratelimit-count": str(count),
            "inin-ratelimit-allowed": str(self.ALLOWED),
            "inin-ratelimit-reset": str(reset),
        }


def _is_ping(text: str) -> bool:
    if "ping" not in text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("message") == "ping"


def build_app(
    *,
    state: SimulatorState,
    tokens: TokenIssuer,
    chats: Chats,
    faults: FaultControls,
    client_id: str,
    client_secret: str,
    admin: Callable[[web.Application], None] | None = None,
    behaviour: Callable[[], Behaviour] = Behaviour,
) -> web.Application:
    """The aiohttp application: every route, the middleware, and the admin routes."""
    h = _App(state, tokens, chats, faults, client_id, client_secret, behaviour)
    # The default body limit made explicit: admin and guest bodies alike (413 past it).
    app = web.Application(middlewares=[h.middleware], client_max_size=MAX_REQUEST_BYTES)
    r = app.router
    r.add_post("/oauth/token", h.oauth_token)
    r.add_get(f"{API}/deployments", h.get_deployments)
    r.add_post(f"{API}/deployments", h.post_deployments)
    r.add_get(API + "/deployments/{deploymentId}", h.get_deployment)
    r.add_put(API + "/deployments/{deploymentId}", h.put_deployment)
    r.add_delete(API + "/deployments/{deploymentId}", h.delete_deployment)
    r.add_get(f"{API}/settings", h.get_settings)
    r.add_put(f"{API}/settings", h.put_settings)
    r.add_delete(f"{API}/settings", h.delete_settings)
    r.add_post(_GUEST, h.post_conversation)
    r.add_get(_CONVERSATION + "/members", h.get_members)
    r.add_get(_CONVERSATION + "/members/{memberId}", h.get_member)
    r.add_delete(_CONVERSATION + "/members/{memberId}", h.delete_member)
    r.add_post(_CONVERSATION + "/members/{memberId}/messages", h.post_message)
    r.add_post(_CONVERSATION + "/members/{memberId}/typing", h.post_typing)
    r.add_get(_CONVERSATION + "/messages", h.get_messages)
    r.add_get(_CONVERSATION + "/messages/{messageId}", h.get_message)
    r.add_get(_CONVERSATION + "/mediarequests", h.get_media_requests)
    r.add_get(_CONVERSATION + "/mediarequests/{mediaRequestId}", h.get_media_request)
    r.add_patch(_CONVERSATION + "/mediarequests/{mediaRequestId}", h.patch_media_request)
    r.add_get("/chat/jwt/{jwt}", h.stream)
    if admin is not None:
        admin(app)
    return app
