"""The ``webchat-async`` command: a demo, an interactive guest chat, the simulator, admin.

::

    webchat-async demo                      # a whole chat on the embedded simulator
    webchat-async demo --interactive        # you type the guest's lines
    webchat-async chat --organization-id ORG --deployment-id DEP --region eu-west-1 --name Ann
    webchat-async simulator --port 8080     # serve the simulator until Ctrl-C
    webchat-async deployments list          # admin, with GENESYS_CLIENT_ID / _SECRET
    webchat-async settings get

Errors print one line (what failed, the status, the contextId) and exit non-zero; no
secret is ever printed. ``--verbose`` turns on the SDK's (redacted) debug log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .. import _convert
from .._redact import RedactingFilter, redact
from ..errors import WebChatError

__all__ = ["main"]

_ENV = {
    "organization_id": "GENESYS_ORGANIZATION_ID",
    "deployment_id": "GENESYS_DEPLOYMENT_ID",
    "region": "GENESYS_REGION",
    "base_url": "WEBCHAT_BASE_URL",
    "client_id": "GENESYS_CLIENT_ID",
    "client_secret": "GENESYS_CLIENT_SECRET",
}


class UsageError(Exception):
    """A missing or contradictory command-line argument."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        _verbose_logging()
    runner: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    try:
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        parser.error(str(exc))
    except WebChatError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        # The SDK refuses bad arguments (an unknown region, http:// to a remote host)
        # with a message that says what was wrong: that line is the whole answer.
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2


def _verbose_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("webchat_async", "websockets", "httpx"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webchat-async",
        description="Genesys Cloud Web Chat v2 from the terminal, on a simulator or a real org.",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug log (redacted)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="play a whole chat on the embedded simulator")
    demo.add_argument("--interactive", action="store_true", help="type the guest's lines")
    demo.add_argument("--name", default="Ann", help="the guest's display name")
    demo.add_argument("--fast", action="store_true", help="no typing pauses (for scripts)")
    demo.set_defaults(run=_run_demo)

    chat = sub.add_parser("chat", help="an interactive guest chat")
    _add_target(chat)
    chat.add_argument("--organization-id", default=os.environ.get(_ENV["organization_id"]))
    chat.add_argument("--deployment-id", default=os.environ.get(_ENV["deployment_id"]))
    chat.add_argument("--name", default="Guest", help="your display name")
    chat.add_argument("--queue", help="route to this queue (by name)")
    chat.set_defaults(run=_run_chat)

    sim = sub.add_parser("simulator", help="serve the simulator until interrupted")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8080)
    sim.set_defaults(run=_run_simulator)

    deployments = sub.add_parser("deployments", help="manage web chat deployments (admin)")
    dsub = deployments.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, helptext in (
        ("list", "list deployments"),
        ("get", "show one deployment"),
        ("create", "create a deployment"),
        ("update", "change a deployment"),
        ("delete", "delete a deployment"),
    ):
        p = dsub.add_parser(action, help=helptext)
        _add_target(p)
        _add_admin(p)
        if action in ("get", "update", "delete"):
            p.add_argument("deployment_id")
        if action in ("create", "update"):
            p.add_argument("--name", required=action == "create")
            p.add_argument("--description")
            p.add_argument("--allowed-domain", action="append", dest="allowed_domains")
            p.add_argument("--authentication-required", type=_boolean)
            p.add_argument("--authentication-url")
            p.add_argument("--disabled", type=_boolean)
        p.set_defaults(run=_run_deployments)

    settings = sub.add_parser("settings", help="organization web chat settings (admin)")
    ssub = settings.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in ("get", "set", "delete"):
        p = ssub.add_parser(action, help=f"{action} the settings")
        _add_target(p)
        _add_admin(p)
        if action == "set":
            p.add_argument("--require-deployment", type=_boolean, required=True)
        p.set_defaults(run=_run_settings)
    return parser


def _add_target(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--region", default=os.environ.get(_ENV["region"]), help="eu-west-1, ...")
    group.add_argument("--base-url", default=os.environ.get(_ENV["base_url"]), help="API base")


def _add_admin(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--client-id", default=os.environ.get(_ENV["client_id"]))


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _target_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if args.base_url and args.region:
        raise UsageError("give --region or --base-url, not both")
    if args.base_url:
        return {"base_url": args.base_url}
    return {"region": args.region or "mypurecloud.com"}


# -- demo and chat ---------------------------------------------------------------------------


async def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return await run_demo(name=args.name, interactive=args.interactive, fast=args.fast)


async def _run_chat(args: argparse.Namespace) -> int:
    from ..models import GuestMemberInfo, RoutingTargetType, WebChatRoutingTarget
    from ..session import GuestSession
    from ._chat import run_chat

    if not args.organization_id or not args.deployment_id:
        raise UsageError(
            "--organization-id and --deployment-id are required "
            f"(or {_ENV['organization_id']} / {_ENV['deployment_id']})"
        )
    routing = None
    if args.queue:
        routing = WebChatRoutingTarget(
            target_type=RoutingTargetType.QUEUE, target_address=args.queue
        )
    async with GuestSession.start(
        organization_id=args.organization_id,
        deployment_id=args.deployment_id,
        member_info=GuestMemberInfo(display_name=args.name),
        routing_target=routing,
        **_target_kwargs(args),
    ) as session:
        return await run_chat(session, guest_name=args.name)


async def _run_simulator(args: argparse.Namespace) -> int:
    from ..simulator._serve import serve_until_signalled

    await serve_until_signalled(args.host, args.port)
    return 0


# -- admin -----------------------------------------------------------------------------------


def _admin_api(args: argparse.Namespace) -> Any:
    from ..api import WebChatApi
    from ..auth import ClientCredentials

    secret = os.environ.get(_ENV["client_secret"])
    if not args.client_id or not secret:
        # The secret is taken from the environment only: a flag would land in shell history.
        raise UsageError(
            f"admin commands need {_ENV['client_id']} (or --client-id) and {_ENV['client_secret']}"
        )
    return WebChatApi(credentials=ClientCredentials(args.client_id, secret), **_target_kwargs(args))


_DEPLOYMENT_COLUMNS = ("id", "name", "disabled", "authenticationRequired", "allowedDomains")


async def _run_deployments(args: argparse.Namespace) -> int:
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


async def _run_settings(args: argparse.Namespace) -> int:
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
    """A plain text table of ``rows`` with the given (camelCase) columns."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, list):
            return ",".join(str(v) for v in value) or "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    table = [list(columns)] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)
