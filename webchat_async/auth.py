"""Credentials: the guest JWT, a ready OAuth access token, and the client-credentials grant.

Guest operations authenticate with the ``jwt`` of the create-conversation response;
deployments and settings with an OAuth access token, either given ready-made or obtained
with :class:`ClientCredentials` (docs/protocol.md#authentication):

```python
api = WebChatApi(region="eu-west-1", credentials=ClientCredentials("id", "secret"))
```

Every object here masks its secret in ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ._convert import parse_json
from ._redact import mask
from ._validate import check_no_controls, check_token
from .errors import DecodeError

if TYPE_CHECKING:
    from ._http import HttpClient

__all__ = ["AccessToken", "BearerAuth", "ClientCredentials", "ClientCredentialsAuth"]

logger = logging.getLogger("webchat_async.auth")


def _non_empty(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    # The message names the field only: the value may be the secret. A control character
    # (a newline read from a file with the secret) would never authenticate.
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")
    check_no_controls(value, attribute.name, secret=True)


@attrs.frozen
class ClientCredentials:
    """An OAuth client (client-credentials grant) of a Genesys Cloud organization.

    >>> ClientCredentials("my-client", "s3cret")
    ClientCredentials(client_id='my-client', client_secret='***')
    """

    client_id: str = attrs.field(validator=_non_empty)
    client_secret: str = attrs.field(validator=_non_empty, repr=mask)


@attrs.frozen
class AccessToken:
    """An OAuth access token and when to replace it.

    Attributes:
        value: the token (masked in ``repr``).
        refresh_at: the clock time after which a new token is fetched (a margin before
            the expiry the server announced); ``inf`` when it announced none.
    """

    value: str = attrs.field(repr=mask)
    refresh_at: float = math.inf

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self.value}"


class BearerAuth:
    """A fixed bearer token: a guest JWT or a ready OAuth access token.

    It cannot be refreshed: a 401 is final. A token that is not printable ASCII (a CR or
    LF would end the ``Authorization`` header and start another) raises
    :class:`~webchat_async.errors.InvalidValueError` naming ``name``, the parameter the
    caller gave it as.
    """

    __slots__ = ("_header",)

    def __init__(self, token: str, *, name: str = "token") -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"{name} must be a non-empty string")
        check_token(token, name)
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"

    async def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return self._header

    async def refresh(self, rejected: str) -> bool:
        """A fixed token cannot be renewed, so a retry would fail the same way."""
        return False


class ClientCredentialsAuth:
    """OAuth access tokens from the client-credentials grant, cached and refreshed.

    The token is fetched on first use (``POST <login>/oauth/token``, form
    ``grant_type=client_credentials``, HTTP Basic auth with the client id and secret),
    reused until ``refresh_margin`` seconds before it expires, then replaced. Concurrent
    callers share one fetch. After a 401 from the API the token is replaced once.

    Args:
        credentials: the OAuth client.
        token_url: the full token endpoint, for example
            ``https://login.mypurecloud.com/oauth/token``.
        http: the transport to send the token request with.
        clock: monotonic seconds; inject a fake one in tests.
        refresh_margin: how long before expiry to replace the token (at most half its
            lifetime, so a short-lived token is still reused).
    """

    def __init__(
        self,
        credentials: ClientCredentials,
        *,
        token_url: str,
        http: HttpClient,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = 60.0,
    ) -> None:
        if not isinstance(credentials, ClientCredentials):
            raise TypeError("credentials must be a ClientCredentials")
        self.credentials = credentials
        self.token_url = check_no_controls(token_url, "token_url")
        self._http = http
        self._clock = clock
        self._refresh_margin = refresh_margin
        pair = f"{credentials.client_id}:{credentials.client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode("ascii")
        self._token: AccessToken | None = None
        # Created here but bound to no loop until first awaited (Python >= 3.10).
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"ClientCredentialsAuth(credentials={self.credentials!r}, token_url={self.token_url!r})"
        )

    @property
    def token(self) -> AccessToken | None:
        """The cached token, if one was fetched."""
        return self._token

    async def authorization(self) -> str:
        """The ``Authorization`` header value, fetching or refreshing the token if due."""
        token = self._token
        if token is None or self._clock() >= token.refresh_at:
            token = await self._renew(token)
        return token.authorization

    async def refresh(self, rejected: str) -> bool:
        """Replace the token the service rejected (unless another caller already did)."""
        token = self._token
        if token is None or token.authorization == rejected:
            await self._renew(token)
        return True

    async def _renew(self, stale: AccessToken | None) -> AccessToken:
        async with self._lock:
            current = self._token
            # Another caller may have renewed while this one waited for the lock.
            if current is not None and current is not stale and self._clock() < current.refresh_at:
                return current
            self._token = token = await self._fetch()
            return token

    async def _fetch(self) -> AccessToken:
        started = self._clock()
        response = await self._http.request(
            "POST",
            self.token_url,
            path="/oauth/token",
            form={"grant_type": "client_credentials"},
            headers={"Authorization": self._basic},
            # Minting a token twice has no effect worth avoiding, so any failure may retry.
            idempotent=True,
        )
        value, expires_in = _parse_token(response.content)
        if expires_in is None:
            # No lifetime announced: keep the token until the service answers 401.
            refresh_at = math.inf
        else:
            refresh_at = started + expires_in - min(self._refresh_margin, expires_in / 2)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("obtained an OAuth access token (expires in %s s)", expires_in)
        return AccessToken(value, refresh_at)


def _parse_token(content: bytes) -> tuple[str, float | None]:
    # Messages name what is wrong, never a value: the body holds the token.
    try:
        data: Any = parse_json(content)
    except ValueError:
        raise DecodeError("the OAuth token response is not JSON") from None
    if not isinstance(data, dict):
        raise DecodeError("the OAuth token response is not a JSON object")
    value = data.get("access_token")
    if not isinstance(value, str) or not value:
        raise DecodeError("the OAuth token response has no access_token")
    try:
        check_token(value, "access_token")
    except ValueError:  # a CR or LF would end the Authorization header of every call
        raise DecodeError("the OAuth token response's access_token is not a token") from None
    token_type = data.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise DecodeError("the OAuth token response is not a bearer token")
    expires_in = data.get("expires_in")
    if expires_in is None:
        return value, None
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        raise DecodeError("the OAuth token response has a non-numeric expires_in")
    if not math.isfinite(expires_in) or expires_in < 0:
        raise DecodeError("the OAuth token response has an invalid expires_in")
    return value, float(expires_in)
