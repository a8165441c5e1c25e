"""Credentials the simulator hands out: signed guest JWTs and opaque OAuth access tokens.

Guest JWTs have the shape of the service's (docs/protocol.md#the-guest-jwt): an ``RS256``
header, claims under ``data`` (``conv``, ``did``, ``sub``) and ``org``, about 21 h of life,
and a 256-byte signature (the length of an RSA-2048 one). The signature is an HMAC chain
with a key made fresh for each simulator, not RSA: clients must treat the token as opaque
anyway, and a key pair would need a dependency. A token from one run never works on
another. Tokens are never logged and never put in an exception text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["GUEST_TTL", "GuestClaims", "TokenIssuer"]

_HEADER = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=")
_ISSUER = "webchat-async-simulator"
#: The real guest JWT lives about 21 hours.
GUEST_TTL = 21 * 3600.0
_SIGNATURE_BLOCKS = 8  # 8 x 32 bytes: as long as an RSA-2048 signature


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@attrs.frozen
class GuestClaims:
    """What a valid guest JWT says: whose conversation and member it is."""

    conversation_id: str
    member_id: str
    expires_at: float


class TokenIssuer:
    """Issues and checks guest JWTs and OAuth access tokens.

    ``clock`` returns wall-clock seconds (``time.time`` by default); tests inject their own
    to expire tokens without waiting.
    """

    def __init__(
        self,
        *,
        guest_ttl: float,
        oauth_ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._guest_ttl = guest_ttl
        self._oauth_ttl = oauth_ttl
        self._clock = clock
        self._access: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<TokenIssuer access_tokens={len(self._access)}>"

    @property
    def oauth_ttl(self) -> float:
        """Lifetime of an access token, in seconds."""
        return self._oauth_ttl

    def _sign(self, signing_input: bytes) -> bytes:
        blocks = b""
        for i in range(_SIGNATURE_BLOCKS):
            blocks += hmac.new(self._key, bytes([i]) + signing_input, hashlib.sha256).digest()
        return _b64(blocks)

    def issue_guest(
        self,
        conversation_id: str,
        member_id: str,
        *,
        organization_id: str = "",
        deployment_id: str | None = None,
    ) -> str:
        """A signed JWT for the guest ``member_id`` of ``conversation_id``."""
        now = self._clock()
        payload: dict[str, Any] = {
            "iss": _ISSUER,
            "iat": int(now),
            "exp": int(now + self._guest_ttl),
            "org": organization_id,
            "data": {"conv": conversation_id, "did": deployment_id or "", "sub": member_id},
        }
        signing_input = _HEADER + b"." + _b64(json.dumps(payload, separators=(",", ":")).encode())
        return (signing_input + b"." + self._sign(signing_input)).decode("ascii")

    def verify_guest(self, token: str) -> GuestClaims | None:
        """The claims of a valid, unexpired guest JWT signed here; ``None`` otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        if not hmac.compare_digest(self._sign(signing_input), parts[2].encode("ascii", "replace")):
            return None
        try:
            payload = json.loads(_unb64(parts[1]))
            data = payload["data"]
            claims = GuestClaims(
                conversation_id=str(data["conv"]),
                member_id=str(data["sub"]),
                expires_at=float(payload["exp"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if claims.expires_at <= self._clock():
            return None
        return claims

    def issue_access(self) -> tuple[str, float]:
        """A new opaque OAuth access token and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        # Forget expired tokens now and then so a long run does not grow without end.
        if len(self._access) > 1024:
            self._access = {t: exp for t, exp in self._access.items() if exp > now}
        self._access[token] = now + self._oauth_ttl
        return token, self._oauth_ttl

    def verify_access(self, token: str) -> bool:
        """Whether ``token`` is an access token issued here and not expired."""
        expires = self._access.get(token)
        return expires is not None and expires > self._clock()

    def revoke_access(self) -> None:
        """Invalidate every access token issued so far."""
        self._access.clear()
