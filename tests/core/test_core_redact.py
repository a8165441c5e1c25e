"""The redaction net of ``_redact``: JWTs, stream URIs, bearer/basic headers, token queries."""

from __future__ import annotations

import pytest
from core_support import JWT, STREAM_URI

from webchat_async._redact import MASK, mask, redact


@pytest.mark.parametrize(
    "text",
    [
        f"token {JWT} in text",
        STREAM_URI,
        "wss://streaming.example/chat/jwt/opaque-not-a-jwt?x=1",
        "Authorization: Bearer abc.def-ghi",
        "authorization: basic Y2xpZW50OnNlY3JldA==",
        "https://x/cb?access_token=plain-token-value&y=2",
        "https://x/cb?client_secret=s3cr3t",
    ],
)
def test_secrets_are_masked(text: str) -> None:
    out = redact(text)
    assert MASK in out
    for secret in (
        JWT,
        "opaque-not-a-jwt",
        "abc.def-ghi",
        "Y2xpZW50OnNlY3JldA==",
        "plain-token-value",
        "s3cr3t",
    ):
        assert secret not in out


def test_plain_text_is_unchanged() -> None:
    text = "GET /api/v2/webchat/guest/conversations/c-1/messages -> 200"
    assert redact(text) == text
    assert redact("") == ""


def test_mask() -> None:
    assert mask("secret") == "'***'"
    assert mask(None) == "None"


def test_preview_redacts_before_cutting() -> None:
    from webchat_async._redact import preview

    jwt = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJndWVzdCJ9" * 20 + ".c2lnbmF0dXJl"
    text = "x" * 190 + jwt
    shown = preview(text, 200)
    assert len(shown) <= 200
    # Cutting first would leave "eyJhbGciOiJIUzI1NiJ9.eyJ..." (no second dot: no match).
    assert "eyJ" not in shown and shown.endswith("***")
