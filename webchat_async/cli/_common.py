"""What the CLI's commands share: environment variable names, usage errors, the target."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["ENV", "MissingExtra", "UsageError", "require_simulator_extra", "target_kwargs"]

# Option -> environment variable that gives its default (listed in the help).
ENV = {
    "organization_id": "GENESYS_ORGANIZATION_ID",
    "deployment_id": "GENESYS_DEPLOYMENT_ID",
    "region": "GENESYS_REGION",
    "base_url": "WEBCHAT_BASE_URL",
    "client_id": "GENESYS_CLIENT_ID",
    "client_secret": "GENESYS_CLIENT_SECRET",
}


class UsageError(Exception):
    """A missing or contradictory command-line argument."""


class MissingExtra(Exception):
    """The command needs an optional dependency that is not installed."""


def require_simulator_extra(command: str) -> None:
    """Raise :class:`MissingExtra` (one line saying what to install) without aiohttp."""
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(
            f"'webchat-async {command}' needs the simulator: "
            f"pip install 'webchat-async[simulator]' ({exc})"
        ) from None


def target_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``region=`` or ``base_url=`` for :class:`~webchat_async.WebChatApi` from the options."""
    if args.base_url and args.region:
        raise UsageError("give --region or --base-url, not both")
    if args.base_url:
        return {"base_url": args.base_url}
    return {"region": args.region or "mypurecloud.com"}
