"""Genesys Cloud regions: the API and login hosts of each (docs/protocol.md#hosts-and-regions).

A region is named by its code (``"eu-west-1"``) or its domain (``"mypurecloud.ie"``):

```pycon
>>> from webchat_async.regions import resolve_region
>>> resolve_region("eu-west-1").api_base
'https://api.mypurecloud.ie'
>>> resolve_region("mypurecloud.ie").code
'eu-west-1'
```
"""

from __future__ import annotations

import attrs

__all__ = ["Region", "REGIONS", "resolve_region"]


@attrs.frozen
class Region:
    """One Genesys Cloud region.

    Attributes:
        code: the AWS-style region code, for example ``"eu-west-1"``.
        domain: the region's domain, for example ``"mypurecloud.ie"``.
    """

    code: str
    domain: str

    @property
    def api_base(self) -> str:
        """The REST API base URL, ``https://api.<domain>``."""
        return f"https://api.{self.domain}"

    @property
    def webmessaging_base(self) -> str:
        """The Web Messaging guest websocket base URL, ``wss://webmessaging.<domain>``."""
        return f"wss://webmessaging.{self.domain}"

    @property
    def login_base(self) -> str:
        """The OAuth login base URL, ``https://login.<domain>``."""
        return f"https://login.{self.domain}"


REGIONS: tuple[Region, ...] = (
    Region("us-east-1", "mypurecloud.com"),
    Region("eu-west-1", "mypurecloud.ie"),
    Region("ap-southeast-2", "mypurecloud.com.au"),
    Region("ap-northeast-1", "mypurecloud.jp"),
    Region("eu-central-1", "mypurecloud.de"),
    Region("us-west-2", "usw2.pure.cloud"),
    Region("ca-central-1", "cac1.pure.cloud"),
    Region("ap-northeast-2", "apne2.pure.cloud"),
    Region("eu-west-2", "euw2.pure.cloud"),
    Region("ap-south-1", "aps1.pure.cloud"),
    Region("us-east-2", "use2.us-gov-pure.cloud"),
    Region("sa-east-1", "sae1.pure.cloud"),
    Region("me-central-1", "mec1.pure.cloud"),
    Region("ap-northeast-3", "apne3.pure.cloud"),
    Region("eu-central-2", "euc2.pure.cloud"),
    Region("mx-central-1", "mxc1.pure.cloud"),
    Region("ap-southeast-1", "apse1.pure.cloud"),
    Region("eusc-de-east-1", "edee1.eusc-pure.cloud"),
)

_LOOKUP: dict[str, Region] = {r.code: r for r in REGIONS} | {r.domain: r for r in REGIONS}


def resolve_region(name: str) -> Region:
    """Find a region by code or domain (case-insensitive); ``ValueError`` if unknown.

    ``api.<domain>``, ``login.<domain>``, ``webmessaging.<domain>`` and
    ``api-cdn.<domain>`` are accepted as well, since users often paste a host.
    """
    key = name.strip().lower()
    for prefix in ("https://", "http://", "wss://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    key = key.rstrip("/")
    for host_prefix in ("api.", "login.", "webmessaging.", "api-cdn."):
        if key.startswith(host_prefix) and key[len(host_prefix) :] in _LOOKUP:
            key = key[len(host_prefix) :]
    try:
        return _LOOKUP[key]
    except KeyError:
        known = ", ".join(r.code for r in REGIONS)
        raise ValueError(f"unknown region {name!r}; use a code ({known}) or its domain") from None
