"""The public surface, pinned: a name added or removed here is a deliberate API change."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import webchat_async
from webchat_async import models

# A copy of the official SDK's models and operations, kept in the repository (tests/spec).
SPEC = Path(__file__).resolve().parent / "spec"

EXPORTS = {
    # clients
    "GuestSession", "SavedSession", "SessionOptions", "WebChatApi", "ClientCredentials",
    "Retry", "Backoff",
    # events
    "Event", "AnyEvent", "MessageReceived", "TypingStarted", "MemberStateChanged", "MemberJoined",
    "MemberLeft", "MediaRequestReceived", "StreamDisconnected", "StreamReconnected",
    "ConversationEnded", "UnknownEvent", "SessionExpiring", "SessionClosed",
    # errors
    "WebChatError", "ApiError", "BadRequestError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "ConflictError", "RateLimitError",
    "ServerError", "ApiConnectionError", "ApiTimeoutError", "DecodeError", "StreamError",
    "HandshakeRefused", "SessionClosedError",
    "ResponseTooLarge", "InvalidValueError",
    # models and regions
    "models", "GuestMemberInfo", "Region", "REGIONS", "resolve_region", "__version__",
    # both protocols
    "Capabilities",
}  # fmt: skip

OPERATIONS = {op["name"] for op in json.loads((SPEC / "operations.json").read_text())["operations"]}


def test_exports_are_pinned_and_resolve() -> None:
    assert set(webchat_async.__all__) == EXPORTS
    assert len(webchat_async.__all__) == len(EXPORTS)  # no name listed twice
    for name in webchat_async.__all__:
        assert getattr(webchat_async, name) is not None


def test_every_public_name_has_a_docstring() -> None:
    for name in webchat_async.__all__:
        obj = getattr(webchat_async, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
    for name in models.__all__:
        assert inspect.getdoc(getattr(models, name)), f"models.{name} has no docstring"


def test_every_model_of_the_spec_exists_with_its_fields() -> None:
    spec = json.loads((SPEC / "models.json").read_text())["models"]
    assert len(spec) >= 20
    for name, fields in spec.items():
        cls = getattr(models, name)
        attrs_names = {a.name for a in cls.__attrs_attrs__}
        wire = {
            "".join(p.title() if i else p for i, p in enumerate(a.split("_"))) for a in attrs_names
        }
        assert set(fields) == wire, name


def test_all_19_operations_are_async_methods_with_the_seed_names() -> None:
    api = webchat_async.WebChatApi
    public = {n for n, f in vars(api).items() if inspect.iscoroutinefunction(f)}
    assert OPERATIONS <= public
    assert len(OPERATIONS) == 19
    signature = inspect.signature(api.get_webchat_guest_conversation_messages)
    assert list(signature.parameters)[1:] == [
        "conversation_id", "after", "before", "sort_order", "max_results"
    ]  # fmt: skip


WORKER_EXPORTS = {
    "Worker", "Fleet", "StartedChat", "Chat", "Handler", "SessionStore", "MemoryStore",
    "RedisStore", "Scan", "Claim", "PendingSends", "Progress", "LeaseLost", "StoreError",
    "FleetStatus", "WorkerStatus", "ChatStatus",
    "Encryption", "DecryptionError", "InsecureStoreWarning",
    "StoreReset",
}  # fmt: skip


def test_the_worker_names_have_one_import_path_webchat_async_worker() -> None:
    # Not re-exported at the top: the fleet is optional (redis extra) and costs import time.
    import webchat_async.worker as worker

    assert set(worker.__all__) == WORKER_EXPORTS
    assert not WORKER_EXPORTS & set(webchat_async.__all__)
    for name in worker.__all__:
        obj = getattr(worker, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"worker.{name} has no docstring"


def test_import_loads_no_submodule_until_a_name_is_used() -> None:
    # Issue 11: `import webchat_async` stays cheap (asyncio, attrs and the model classes cost
    # more than httpx); each name loads its submodule on first use, by either spelling.
    import subprocess
    import sys

    code = (
        "import sys, webchat_async\n"
        "heavy = {'asyncio', 'attr', 'httpx', 'webchat_async.models', 'webchat_async.session'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
        "from webchat_async import GuestSession\n"
        "print(GuestSession.__module__, webchat_async.ApiError.__module__)\n"
        "print(set(webchat_async.__all__) <= set(dir(webchat_async)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "webchat_async.session webchat_async.errors", "True"]
    try:
        webchat_async.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchName" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


MESSAGING_ERRORS = {
    "MessagingError", "SessionReadOnlyError", "SessionExpiredError", "SessionNotFoundError",
    "MessageTooLongError", "CustomAttributesTooLargeError", "MessageRateLimitError",
    "AttachmentError",
}  # fmt: skip


def test_the_web_messaging_errors_have_one_import_path_webchat_async_errors() -> None:
    # Issue 20: typed refusals carrying the service's code, in webchat_async.errors only.
    import webchat_async.errors as errors

    assert MESSAGING_ERRORS <= set(errors.__all__)
    assert not MESSAGING_ERRORS & set(webchat_async.__all__)
    for name in MESSAGING_ERRORS:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.WebChatError) and inspect.getdoc(cls), name
    assert errors.MessageTooLongError("too long", code=4011).code == 4011
    assert "4011" in str(errors.MessageTooLongError("too long", code=4011))
    # The session is over for these: code that catches SessionClosedError catches them too.
    for name in ("SessionReadOnlyError", "SessionExpiredError", "SessionNotFoundError"):
        assert issubclass(getattr(errors, name), errors.SessionClosedError)


MESSAGING_EXPORTS = {
    "MessagingSession",
    "CoreOptions",
    # The message model of MessageReceived.message on this protocol, and its parts.
    "StructuredMessage",
    "Participant",
    "AttachmentContent",
    "QuickReplyContent",
    "ButtonResponseContent",
    "RawContent",
    "TypingEvent",
    "PresenceEvent",
    "RawEvent",
}


def test_the_web_messaging_session_has_one_import_path_webchat_async_messaging() -> None:
    import webchat_async.messaging as messaging

    assert set(messaging.__all__) == MESSAGING_EXPORTS
    assert len(messaging.__all__) == len(MESSAGING_EXPORTS)
    assert not MESSAGING_EXPORTS & set(webchat_async.__all__)
    assert inspect.getdoc(messaging)
    for name in messaging.__all__:
        obj = getattr(messaging, name)
        assert obj.__module__.startswith("webchat_async.messaging.") and inspect.getdoc(obj)
    session = messaging.MessagingSession
    # The pinned names of issue 20.
    pinned = ("start", "send_message", "send_typing", "typing", "history", "send_attachment",
              "events", "aclose", "token", "capabilities", "save")  # fmt: skip
    for name in pinned:
        assert inspect.getdoc(getattr(session, name)), name
    start = inspect.signature(session.start).parameters
    assert {"deployment_id", "region", "base_url", "origin", "token"} <= set(start)
    send = inspect.signature(session.send_message).parameters
    assert list(send)[1:] == ["text", "custom_attributes"]
    attachment = inspect.signature(session.send_attachment).parameters
    assert {"data", "filename", "content_type"} <= set(attachment)
    # Both sessions say what they support, with the same type.
    assert webchat_async.GuestSession.capabilities.__doc__
    assert session.capabilities.__doc__


SERVICE_EXPORTS = {"SessionRegistry", "ShutdownMode", "Subscription"}
FANOUT_ERRORS = {"ConcurrentIterationError", "SubscriberLagError", "SessionInUseError"}


def test_the_service_toolkit_has_one_import_path_webchat_async_service() -> None:
    # Issue 27: the registry and the subscription type, in webchat_async.service only; its
    # errors in webchat_async.errors only.
    import webchat_async.errors as errors
    import webchat_async.messaging as messaging
    import webchat_async.service as service

    assert set(service.__all__) == SERVICE_EXPORTS
    assert not SERVICE_EXPORTS & set(webchat_async.__all__)
    assert inspect.getdoc(service)
    for name in ("SessionRegistry", "Subscription"):
        assert inspect.getdoc(getattr(service, name)), name
    assert FANOUT_ERRORS <= set(errors.__all__)
    assert not FANOUT_ERRORS & set(webchat_async.__all__)
    for name in FANOUT_ERRORS:
        assert issubclass(getattr(errors, name), errors.WebChatError), name
    for session in (webchat_async.GuestSession, messaging.MessagingSession):
        assert inspect.getdoc(session.subscribe)
        assert "subscribe" in (inspect.getdoc(session.events) or "")
