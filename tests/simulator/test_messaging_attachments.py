"""Web Messaging attachments on the simulator: presign, PUT with the given headers, the
pushed outcome matched by attachmentId, the message carrying it, and the limits."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from wm_wire import Frame, Guest, configured, history

from webchat_async.simulator import Simulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


async def presign(
    guest: Guest, name: str = "a.png", kind: str = "image/png", **extra: Any
) -> Frame:
    attachment_id = str(uuid.uuid4())
    tracing = await guest.send(
        "onAttachment",
        attachmentId=attachment_id,
        fileName=name,
        fileType=kind,
        errorsAsJson=True,
        **extra,
    )
    return await guest.until(
        lambda f: (
            f.get("tracingId") == tracing
            or (f.get("class") == "GenerateUrlError" and f["body"]["attachmentId"] == attachment_id)
        )
    )


def outcome(attachment_id: str) -> Any:
    return lambda f: (
        f.get("class") in ("UploadSuccessEvent", "UploadFailureEvent")
        and f["body"]["attachmentId"] == attachment_id
    )


async def test_upload_then_send_the_attachment(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await configured(simulator)
    answer = await presign(guest, fileSize=len(PNG))
    assert answer["type"] == "response" and answer["class"] == "PresignedUrlResponse"
    body = answer["body"]
    assert body["fileName"] == "a.png" and body["fileType"] == "image/png"
    assert body["url"].startswith(simulator.base_url)
    put = await http.put(body["url"], content=PNG, headers=body["headers"])
    assert put.status_code == 200
    done = await guest.until(outcome(body["attachmentId"]))
    assert done["type"] == "message" and done["class"] == "UploadSuccessEvent"
    download = await http.get(done["body"]["downloadUrl"])
    assert download.content == PNG and download.headers["Content-Type"] == "image/png"
    content = [{"contentType": "Attachment", "attachment": {"id": body["attachmentId"]}}]
    await guest.send("onMessage", message={"type": "Structured", "content": content})
    echo = await guest.until(lambda f: f.get("class") == "StructuredMessage")
    attached = echo["body"]["content"][0]["attachment"]
    assert attached["id"] == body["attachmentId"] and attached["mime"] == "image/png"
    assert attached["mediaType"] == "Image" and attached["fileSize"] == len(PNG)
    page = (await history(http, await guest.jwt())).json()
    (stored,) = [m for m in page["entities"] if m["id"] == echo["body"]["id"]]
    assert stored["content"] == echo["body"]["content"]
    again = await guest.request("getAttachment", attachmentId=body["attachmentId"])
    assert again["class"] == "PresignedUrlResponse" and again["body"]["headers"] == {}
    assert (await http.get(again["body"]["url"])).content == PNG
    await guest.close()


async def test_upload_needs_the_presigned_headers(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await configured(simulator)
    body = (await presign(guest))["body"]
    put = await http.put(body["url"], content=PNG, headers={"Content-Type": "image/png"})
    assert put.status_code == 403
    assert (
        await http.put(simulator.base_url + "/webmessaging/uploads/nope", content=b"")
    ).status_code == 404
    await guest.close()


async def test_not_uploaded_unknown_and_deleted(simulator: Simulator) -> None:
    guest = await configured(simulator)
    body = (await presign(guest))["body"]
    content = [{"contentType": "Attachment", "attachment": {"id": body["attachmentId"]}}]
    answer = await guest.request("onMessage", message={"type": "Structured", "content": content})
    assert answer["class"] == "string" and answer["code"] == 4010
    assert (await guest.request("getAttachment", attachmentId=body["attachmentId"]))["code"] == 4010
    await guest.send("deleteAttachment", attachmentId=body["attachmentId"])
    deleted = await guest.until(lambda f: f.get("class") == "AttachmentDeletedResponse")
    assert deleted["type"] == "message"
    assert deleted["body"] == {"attachmentId": body["attachmentId"]}
    gone = await guest.request("deleteAttachment", attachmentId=body["attachmentId"])
    assert gone["class"] == "string" and gone["code"] == 4009
    await guest.close()


async def test_upload_failure_fault(simulator: Simulator, http: httpx.AsyncClient) -> None:
    simulator.faults.fail_uploads(1)
    guest = await configured(simulator)
    body = (await presign(guest))["body"]
    assert (await http.put(body["url"], content=PNG, headers=body["headers"])).status_code == 200
    failed = await guest.until(outcome(body["attachmentId"]))
    assert failed["type"] == "message" and failed["class"] == "UploadFailureEvent"
    assert failed["body"]["errorCode"] == 4003 and failed["body"]["errorMessage"]
    assert "timestamp" in failed["body"]
    # Used up: the next upload succeeds.
    body = (await presign(guest))["body"]
    await http.put(body["url"], content=PNG, headers=body["headers"])
    assert (await guest.until(outcome(body["attachmentId"])))["class"] == "UploadSuccessEvent"
    await guest.close()


async def test_type_and_size_limits(simulator: Simulator, http: httpx.AsyncClient) -> None:
    simulator.faults.limit_attachments(file_types=["image/png"], max_file_size_kb=1)
    guest = await configured(simulator)
    media = guest.seen[-1]["body"]["allowedMedia"]["inbound"]
    assert media == {"fileTypes": [{"type": "image/png"}], "maxFileSizeKB": 1}
    refusals = {
        4001: await presign(guest, "doc.pdf", "application/pdf"),
        4002: await presign(guest, fileSize=2048),
        4004: await presign(guest, ""),
        4005: await presign(guest, "x" * 300 + ".png"),
    }
    for code, refused in refusals.items():
        assert refused["type"] == "message" and refused["class"] == "GenerateUrlError"
        assert refused["code"] == 200 and refused["body"]["errorCode"] == code
    blocked = await presign(guest, "run.exe.png")
    assert blocked["class"] == "PresignedUrlResponse"
    simulator.faults.limit_attachments(blocked_extensions=[".png"])
    assert (await presign(guest))["body"]["errorCode"] == 4001
    simulator.faults.limit_attachments(max_file_size_kb=1)
    # A size not announced is caught on the upload itself.
    body = (await presign(guest))["body"]
    put = await http.put(body["url"], content=b"x" * 2000, headers=body["headers"])
    assert put.status_code == 400
    failed = await guest.until(outcome(body["attachmentId"]))
    assert failed["class"] == "UploadFailureEvent" and failed["body"]["errorCode"] == 4002
    await guest.close()


async def test_attachments_per_session_are_bounded(simulator: Simulator) -> None:
    guest = await configured(simulator)
    for _ in range(100):
        assert (await presign(guest))["class"] == "PresignedUrlResponse"
    refused = await presign(guest)
    assert refused["class"] == "GenerateUrlError" and refused["body"]["errorCode"] == 5000
    await guest.close()
