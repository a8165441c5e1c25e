"""Redaction in linear time, and server text cut before it reaches an exception or a log.

The worst texts for each pattern are long runs of what a pattern starts on ("eyJ",
"bearer ", "/jwt/", "?token=" repeated...). Before the fix, 300 KB of "eyJ" took ~30 s
to redact; the time is compared between a text and one four times longer (a ratio,
not a wall-clock goal), under a budget so that the old code fails instead of hanging.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_budget import within

from webchat_async import _redact
from webchat_async._http import transport_error_text
from webchat_async._redact import TEXT_LIMIT, RedactingFilter, clip, preview, redact
from webchat_async.api import WebChatApi
from webchat_async.errors import ApiError, BadRequestError, ServerError

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJndWVzdC0xIiwiY29udmVyc2F0aW9uIjoiYy0xIn0"
    ".c2lnbmF0dXJlLW9mLXRoZS1ndWVzdA"
)

# The patterns as they were (one re.sub each): the reference for every result.
_OLD = [
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "***"),
    (re.compile(r"(/jwt/)[^/?#\s\"']+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), None),
    (re.compile(r"(?i)([?&](?:access_token|token|jwt|client_secret)=)[^&#\s\"']+"), r"\1***"),
]
JWT_SHAPED = _OLD[0][0]


def old_redact(text: str) -> str:
    if not text:
        return text
    for pattern, replacement in _OLD:
        if replacement is None:
            text = pattern.sub(lambda m: f"{m.group(1)} ***", text)
        else:
            text = pattern.sub(replacement, text)
    return text


# Texts made of the pieces the patterns start and stop on.
pieces = st.sampled_from(
    ["eyJ", "e", "y", "J", ".", "a", "Z", "9", "-", "_", " ", "\t", "/", "?", "&", "=", "#",
     '"', "'", "*", "bearer ", "Basic ", "/jwt/", "?token=", "&access_token=", "&jwt=",
     "client_secret=", "é", JWT[:20], JWT]
)  # fmt: skip
texts = st.lists(pieces, max_size=40).map("".join)
base64url = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=12
)
tokens = st.builds(lambda a, b, c: f"eyJ{a}.{b}.{c}", base64url, base64url, base64url)


@settings(max_examples=1500, deadline=None)
@given(texts)
def test_redact_masks_what_the_old_patterns_masked(text: str) -> None:
    assert redact(text) == old_redact(text)


@settings(max_examples=500, deadline=None)
@given(before=texts, token=tokens, after=texts)
def test_no_jwt_shaped_token_is_left_unmasked(before: str, token: str, after: str) -> None:
    text = before + token + after
    out = redact(text)
    assert JWT_SHAPED.search(out) is None
    assert redact(out) == out  # idempotent


@settings(max_examples=500, deadline=None)
@given(texts)
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert JWT_SHAPED.search(once) is None


def _best_of(function: Callable[[str], object], text: str, runs: int = 7) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        function(text)
        best = min(best, time.perf_counter() - started)
    return best


# For each pattern, the texts that made it (or could make it) scan again and again.
WORST = [
    "eyJ",  # the JWT pattern: every "eyJ" scanned the run to its end (quadratic)
    "eyJa.",  # one dot per "eyJ"
    "eyJ-_9",  # no dot at all
    "bearer ",  # the Authorization pattern
    "Basic\t",
    "bearer",
    "/jwt/",  # the stream-path pattern
    "/jwt/a",
    "?token=",  # the query pattern
    "&access_token=x",
    "a",
    "é",
]


@pytest.mark.parametrize("unit", WORST)
def test_redaction_time_grows_linearly(unit: str) -> None:
    # 16 times the text: ~16 times the time if linear, ~256 if quadratic. The margin
    # is wide (a loaded machine, caches), the gap wider. The smaller text is 50 KB: a
    # run of a millisecond or more, so that a best of seven is not the scheduler's noise
    # (12.5 KB, a fraction of a millisecond, failed on a machine with a load of 8).
    n = 50_000 // len(unit)
    small, large = unit * n, unit * (16 * n)
    with within(30.0, "redacting 800 KB"):
        _best_of(redact, small, runs=2)  # warm up
        ratio = _best_of(redact, large) / _best_of(redact, small)
    assert ratio < 48, f"{unit!r}: 16x the text took {ratio:.0f}x the time"


def test_300_kb_of_worst_case_server_text_redacts_within_a_budget() -> None:
    for unit in WORST:
        with within(2.0, f"redacting 300 KB of {unit!r}"):
            redact(unit * (300_000 // len(unit)))


def test_clip_cuts_to_text_limit_and_notes_the_rest() -> None:
    text = "x" * 300_000
    clipped = clip(text)
    kept = TEXT_LIMIT - _redact._NOTE_ROOM
    assert clipped == "x" * kept + f" [... {300_000 - kept} more characters]"
    assert len(clipped) <= TEXT_LIMIT
    assert clip(clipped) == clipped  # clipped twice (the body, then the exception)
    assert clip("short") == "short"
    assert clip("x" * TEXT_LIMIT) == "x" * TEXT_LIMIT
    assert len(clip("x" * (TEXT_LIMIT + 1))) <= TEXT_LIMIT


def test_clip_masks_a_token_cut_by_the_limit() -> None:
    # The token straddles the cut: masked before the cut, so no part of it is left.
    kept = TEXT_LIMIT - _redact._NOTE_ROOM
    text = "x" * (kept - 10) + JWT + "y" * 50_000
    clipped = clip(text)
    assert JWT[:10] not in clipped
    assert clipped.startswith("x" * (kept - 10) + "***")


def test_clip_escapes_lone_surrogates() -> None:
    clipped = clip("bad \ud800 text")
    assert clipped == "bad \\ud800 text"
    clipped.encode("utf-8")  # printable anywhere


BASE = "https://api.mypurecloud.com"
MESSAGES = "/api/v2/webchat/guest/conversations/c-1/messages"


async def _error_for(status: int, body: object) -> ApiError:
    # JSON with ASCII escapes: a lone surrogate is written \\ud800, as a server can.
    content = json.dumps(body).encode()
    async with WebChatApi(guest_token=JWT, max_retries=0) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(MESSAGES).respond(status, content=content, content_type="application/json")
            with pytest.raises(ApiError) as info:
                await api.get_webchat_guest_conversation_messages("c-1")
    return info.value


def _longest_text(exc: ApiError) -> int:
    texts = [str(exc), repr(exc), exc.message, exc.code or "", exc.context_id or ""]
    body = exc.body
    while body is not None:
        texts += [body.message or "", body.code or "", body.message_with_params or ""]
        texts += [v for v in (body.message_params or {}).values()]
        texts += [d.field_name or "" for d in body.details or ()]
        body = body.errors[0] if body.errors else None
    return max(len(t) for t in texts)


async def test_an_error_reply_of_300_kb_gives_an_exception_without_it() -> None:
    huge = "eyJ" * 100_000  # the worst text for the old JWT pattern, 300 KB
    body = {
        "status": 400,
        "code": "c" * 300_000,
        "message": huge,
        "messageWithParams": huge,
        "messageParams": {"p": huge},
        "contextId": "i" * 300_000,
        "details": [{"fieldName": huge}],
        "errors": [{"message": huge + JWT}],
    }
    with within(10.0, "decoding a 300 KB error reply"):
        exc = await _error_for(400, body)
    assert type(exc) is BadRequestError
    assert exc.message.startswith("eyJ" * 10)
    assert exc.message.endswith(" more characters]")
    # Every text the exception keeps is cut, its own text holds four of them at most.
    assert _longest_text(exc) <= 4 * TEXT_LIMIT + 100
    assert len(exc.message) <= TEXT_LIMIT
    assert JWT not in str(exc.body)


async def test_an_error_reply_with_a_lone_surrogate_prints() -> None:
    exc = await _error_for(503, {"message": "bad \ud800 text", "code": "x\udfff"})
    assert type(exc) is ServerError
    assert exc.message == "bad \\ud800 text"
    str(exc).encode("utf-8")
    assert exc.body is not None and exc.body.message == "bad \\ud800 text"


def test_transport_error_texts_are_cut() -> None:
    text = transport_error_text(
        "GET", "/p", host="h", port=1, failure="failed at {where}", detail="d" * 300_000
    )
    assert len(text) <= TEXT_LIMIT


def test_the_log_filter_of_a_long_record_is_linear() -> None:
    record = logging.LogRecord(
        "webchat_async", logging.INFO, "f", 1, "%s", ("eyJ" * 100_000,), None
    )
    with within(5.0, "filtering a 300 KB log record"):
        RedactingFilter().filter(record)


def test_preview_is_bounded_by_its_limit() -> None:
    with within(2.0):
        assert len(preview("eyJ" * 1_000_000, 500)) == 500
    assert _redact.TEXT_LIMIT == 2000  # documented in docs/security.md
