"""HTTP routes of Web Messaging on the simulator's server (spec §1 [choice]: one server
serves all): the guest websocket, message history, the public deployment configuration
and the attachment upload and download targets (docs/simulator-messaging.md).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .._convert import format_datetime
from ._messaging import MessagingServer
from ._messaging_state import (
    MAX_HISTORY_PAGE,
    UPLOAD_ERRORS,
    attachment_content,
    frame,
    origin_allowed,
)
from ._wire import Failure, bearer, int_query, json_response

__all__ = ["HISTORY", "install_messaging"]

HISTORY = "/api/v2/webmessaging/messages"
#: **[choice]** Page numbers past this are refused (a bound on the query).
_MAX_PAGE_NUMBER = 1_000_000
_CHUNK = 64 * 1024


def _without_metadata(entry: dict[str, Any]) -> dict[str, Any]:
    """A copy of a history entry without ``metadata`` (the stored body stays whole: the
    socket's frames are built from it)."""
    out = {k: v for k, v in entry.items() if k != "metadata"}
    channel = out.get("channel")
    if isinstance(channel, dict) and "metadata" in channel:
        out["channel"] = {k: v for k, v in channel.items() if k != "metadata"}
    return out


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
        page = session.conversation.history(page_number, page_size)
        if server.faults.history_without_metadata:
            page["entities"] = [_without_metadata(e) for e in page["entities"]]
        return json_response(page)

    async def config(request: web.Request) -> web.Response:
        """``GET /webdeployments/v1/deployments/<id>/config.json``: public."""
        deployment_id = request.match_info["deploymentId"]
        deployment = server.chat_state.deployments.get(deployment_id)
        if deployment is None or deployment.disabled:
            raise Failure(404, "not.found", "The deployment was not found.")
        return json_response(server.config(deployment_id).config_json(deployment_id))

    async def upload(request: web.Request) -> web.Response:
        """``PUT /webmessaging/uploads/<key>``: the presigned upload target. The outcome
        is pushed to the session (``UploadSuccessEvent`` / ``UploadFailureEvent``)."""
        found = server.state.file(request.match_info["key"])
        if found is None:
            raise Failure(404, "not.found", "No such upload.")
        session, attachment = found
        if attachment.uploaded:
            raise Failure(409, "conflict", "Already uploaded.")
        # Like a presigned URL: the headers of the PresignedUrlResponse are part of it.
        if (
            request.headers.get("Content-Type") != attachment.file_type
            or "x-amz-tagging" not in request.headers
        ):
            raise Failure(
                403, "not.authorized", "The upload headers do not match the presigned URL."
            )
        limit = server.config(session.deployment_id).max_file_size_kb * 1024
        data = bytearray()
        async for chunk in request.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > limit:
                break  # read no more than the limit allows
        conversation = session.conversation
        stamp = format_datetime(server.chat_state.clock())
        failure = 4002 if len(data) > limit else server.faults.take_upload_failure()
        if failure is not None:
            body = {
                "attachmentId": attachment.id,
                "errorCode": failure,
                "errorMessage": UPLOAD_ERRORS.get(failure, "Upload failed."),
                "timestamp": stamp,
            }
            await server.push(conversation, frame("message", "UploadFailureEvent", 200, body))
            if failure == 4002:
                raise Failure(400, "bad.request", "The file is too large.")
            return web.Response(status=200)
        attachment.data = bytes(data)
        url = attachment_content(f"{request.scheme}://{request.host}", attachment)["url"]
        body = {"attachmentId": attachment.id, "downloadUrl": url, "timestamp": stamp}
        await server.push(conversation, frame("message", "UploadSuccessEvent", 200, body))
        return web.Response(status=200)

    async def download(request: web.Request) -> web.Response:
        """``GET /webmessaging/downloads/<key>``: an uploaded attachment's bytes."""
        found = server.state.file(request.match_info["key"])
        if found is None or found[1].data is None:
            raise Failure(404, "not.found", "No such file.")
        return web.Response(body=found[1].data, content_type=found[1].file_type)

    router = app.router
    router.add_get("/v1", server.websocket)
    router.add_get(HISTORY, history)
    router.add_get("/webdeployments/v1/deployments/{deploymentId}/config.json", config)
    router.add_put("/webmessaging/uploads/{key}", upload)
    router.add_get("/webmessaging/downloads/{key}", download)
    app.on_shutdown.append(server.shutdown)
