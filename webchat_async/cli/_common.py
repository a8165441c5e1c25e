"""What the CLI's commands share: environment variable names, usage errors, the target."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "DEFAULT_ORIGIN",
    "ENV",
    "MissingDependency",
    "UsageError",
    "require_aiohttp",
    "target_kwargs",
]

# Option -> environment variable that gives its default (listed in the help).
ENV = {
    "organization_id": "GENESYS_ORGANIZATION_ID",
    "deployment_id": "GENESYS_DEPLOYMENT_ID",
    "region": "GENESYS_REGION",
    "base_url": "WEBCHAT_BASE_URL",
    "client_id": "GENESYS_CLIENT_ID",
    "client_secret": "GENESYS_CLIENT_SECRET",
    "origin": "GENESYS_ORIGIN",
    "messaging_token": "WEBCHAT_MESSAGING_TOKEN",
}

#: The ``Origin`` a Web Messaging chat sends when neither ``--origin`` nor its environment
#: variable says one (a deployment that restricts its domains must allow the one given).
DEFAULT_ORIGIN = "https://localhost"


class UsageError(Exception):
    """A missing or contradictory command-line argument."""


class MissingDependency(Exception):
    """The command needs a package that is not installed."""


def require_aiohttp(command: str) -> None:
    """Raise :class:`MissingDependency` (one line saying what to install) without aiohttp.

    aiohttp is a dependency of the SDK, so only an install made without dependencies
    (``pip install --no-deps``, a vendored copy) meets this.
    """
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            f"'webchat-async {command}' needs aiohttp, a dependency of webchat-async that is "
            f"not installed here: pip install aiohttp ({exc})"
        ) from None


def target_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``region=`` or ``base_url=`` for :class:`~webchat_async.WebChatApi` from the options."""
    if args.base_url and args.region:
        raise UsageError("give --region or --base-url, not both")
    if args.base_url:
        return {"base_url": args.base_url}
    return {"region": args.region or "mypurecloud.com"}
