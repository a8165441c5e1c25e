"""HTTP routes of Web Messaging on the simulator's server (spec §1 [choice]: one server
serves all): the guest websocket, message history, the public deployment configuration
and the attachment upload and download targets (docs/simulator-messaging.md).
"""

from __future__ import annotations

from aiohttp import web

from ._messaging import MessagingServer, origin_allowed
from ._messaging_state import MAX_HISTORY_PAGE
from ._wire import Failure, bearer, int_query, json_response

__all__ = ["HISTORY", "install_messaging"]

HISTORY = "/api/v2/webmessaging/messages"
#: **[choice]** Page numbers past this are refused (a bound on the query).
_MAX_PAGE_NUMBER = 1_000_000


def install_messaging(app: web.Application, server: MessagingServer) -> None:
    """Add the Web Messaging routes of ``server`` to ``app`` (before it starts)."""

    async def history(request: web.Request) -> web.Response:
        """``GET /api/v2/webmessaging/messages``: newest first, with the JWT of ``getJwt``."""
        jwt = bearer(request)
        session = server.verify_jwt(jwt) if jwt is not None else None
        if session is None:
            raise Failure(401, "bad.credentials", "Invalid or expired token.")
        deployment = server.chat_state.deployments.get(session.deployment_id)
        origin = request.headers.get("Origin")
        allowed = deployment.allowed_domains if deployment is not None else None
        if not origin or not origin_allowed(allowed, origin):
            raise Failure(403, "not.authorized", "Origin missing or not allowed.")
        page_size = int_query(request, "pageSize", 25, 1, MAX_HISTORY_PAGE)
        page_number = int_query(request, "pageNumber", 1, 1, _MAX_PAGE_NUMBER)
        return json_response(session.conversation.history(page_number, page_size))

    async def config(request: web.Request) -> web.Response:
        """``GET /webdeployments/v1/deployments/<id>/config.json``: public."""
        deployment_id = request.match_info["deploymentId"]
        deployment = server.chat_state.deployments.get(deployment_id)
        if deployment is None or deployment.disabled:
            raise Failure(404, "not.found", "The deployment was not found.")
        return json_response(server.config(deployment_id).config_json(deployment_id))

    router = app.router
    router.add_get("/v1", server.websocket)
    router.add_get(HISTORY, history)
    router.add_get("/webdeployments/v1/deployments/{deploymentId}/config.json", config)
    router.add_put("/webmessaging/uploads/{key}", server.upload)
    router.add_get("/webmessaging/downloads/{key}", server.download)
    app.on_shutdown.append(server.shutdown)
