"""``webchat-async deployments ...`` and ``settings ...``: the admin commands.

They need OAuth client credentials: the id from ``--client-id`` or ``GENESYS_CLIENT_ID``, the
secret only from ``GENESYS_CLIENT_SECRET`` (a flag would land in shell history).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import Any

from .. import _convert
from ._common import ENV, UsageError, target_kwargs
from ._safe import printable

__all__ = ["format_table", "run_deployments", "run_settings"]

_DEPLOYMENT_COLUMNS = ("id", "name", "disabled", "authenticationRequired", "allowedDomains")


def _admin_api(args: argparse.Namespace) -> Any:
    from ..api import WebChatApi
    from ..auth import ClientCredentials

    secret = os.environ.get(ENV["client_secret"])
    if not args.client_id or not secret:
        # The secret is taken from the environment only: a flag would land in shell history.
        raise UsageError(
            f"admin commands need {ENV['client_id']} (or --client-id) and {ENV['client_secret']}"
        )
    return WebChatApi(credentials=ClientCredentials(args.client_id, secret), **target_kwargs(args))


async def run_deployments(args: argparse.Namespace) -> int:
    """``deployments list|get|create|update|delete``."""
    from ..models import WebChatDeployment

    async with _admin_api(args) as api:
        if args.action == "list":
            listing = await api.get_webchat_deployments()
            _print_rows(args, [_convert.unstructure(d) for d in listing.entities or []])
        elif args.action == "get":
            deployment = await api.get_webchat_deployment(args.deployment_id)
            _print_rows(args, [_convert.unstructure(deployment)])
        elif args.action == "create":
            body = WebChatDeployment(**_deployment_fields(args))
            created = await api.post_webchat_deployments(body)
            _print_rows(args, [_convert.unstructure(created)])
        elif args.action == "update":
            import attrs

            # PUT replaces the deployment: start from the current one, change what was given.
            current = await api.get_webchat_deployment(args.deployment_id)
            body = attrs.evolve(current, **_deployment_fields(args))
            updated = await api.put_webchat_deployment(args.deployment_id, body)
            _print_rows(args, [_convert.unstructure(updated)])
        else:
            await api.delete_webchat_deployment(args.deployment_id)
            print(f"deleted deployment {args.deployment_id}")
    return 0


def _deployment_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields = {
        "name": args.name,
        "description": args.description,
        "allowed_domains": args.allowed_domains,
        "authentication_required": args.authentication_required,
        "authentication_url": args.authentication_url,
        "disabled": args.disabled,
    }
    return {key: value for key, value in fields.items() if value is not None}


async def run_settings(args: argparse.Namespace) -> int:
    """``settings get|set|delete``."""
    from ..models import WebChatSettings

    async with _admin_api(args) as api:
        if args.action == "get":
            settings = await api.get_webchat_settings()
            _print_rows(args, [_convert.unstructure(settings)], columns=("requireDeployment",))
        elif args.action == "set":
            body = WebChatSettings(require_deployment=args.require_deployment)
            settings = await api.put_webchat_settings(body)
            _print_rows(args, [_convert.unstructure(settings)], columns=("requireDeployment",))
        else:
            await api.delete_webchat_settings()
            print("deleted web chat settings")
    return 0


def _print_rows(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    columns: Sequence[str] = _DEPLOYMENT_COLUMNS,
) -> None:
    if args.json:
        payload: Any = rows if args.action == "list" else rows[0]
        print(json.dumps(payload, indent=2, sort_keys=True))
        return
    print(format_table(rows, columns))


def format_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain text table of ``rows`` with the given (camelCase) columns.

    Cells come from a server (or a store): control characters are shown escaped.
    """

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return printable(",".join(str(v) for v in value)) or "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return printable(str(value))

    table = [list(columns)] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)
