"""The ``webchat-async`` command: a demo, an interactive guest chat, the simulator, admin.

::

    webchat-async demo                      # a whole chat on the embedded simulator
    webchat-async demo --interactive        # you type the guest's lines
    webchat-async demo --protocol messaging # the same chat over Web Messaging
    webchat-async chat --organization-id ORG --deployment-id DEP --region eu-west-1 --name Ann
    webchat-async chat --protocol messaging --deployment-id DEP --region eu-west-1 \\
        --origin https://shop.example
    webchat-async simulator --port 8080     # serve the simulator until Ctrl-C
    webchat-async deployments list          # admin, with GENESYS_CLIENT_ID / _SECRET
    webchat-async settings get

Errors print one line (what failed, the status, the contextId) and exit non-zero; no
secret is ever printed. ``--verbose`` turns on the SDK's (redacted) debug log for the run.
SIGTERM ends a command as Ctrl-C does (a chat is left first), then the process dies by it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .._redact import RedactingFilter, redact
from ..errors import WebChatError
from ..worker._cli import add_commands as add_worker_commands
from ._admin import format_table
from ._common import (
    DEFAULT_ORIGIN,
    ENV,
    MissingDependency,
    UsageError,
    require_aiohttp,
    target_kwargs,
)
from ._guest import PROTOCOLS
from ._safe import PrintableFormatter, printable
from ._simulator import DESCRIPTION as SIMULATOR_DESCRIPTION
from ._simulator import add_simulator_arguments, run_simulator

__all__ = ["format_table", "main"]

Runner = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]

_ENVIRONMENT_HELP = f"""\
environment variables (defaults for the options of the same name):
  {ENV["organization_id"]:<24} --organization-id (chat)
  {ENV["deployment_id"]:<24} --deployment-id (chat)
  {ENV["region"]:<24} --region (chat, admin commands)
  {ENV["base_url"]:<24} --base-url (chat, admin commands)
  {ENV["client_id"]:<24} --client-id (admin commands)
  {ENV["client_secret"]:<24} the OAuth client secret of the admin commands; read only
  {"":<24} from the environment, never from a flag (shell history)
  {ENV["origin"]:<24} --origin (chat --protocol messaging)
  {ENV["messaging_token"]:<24} the Web Messaging session token to resume (chat --protocol
  {"":<24} messaging); a secret: read only from the environment, never from
  {"":<24} a flag (ps, shell history); unset: a new session (a new UUID)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Whatever it changed for the run (the ``--verbose`` log handlers, the SIGTERM handler)
    is put back before it returns. After a SIGTERM, once the command has cleaned up (a chat
    left), the process ends by that signal, as a terminated process should.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    undo_logging = _verbose_logging() if args.verbose else None
    termination = _Termination()
    try:
        status = _run(parser, args, termination)
    finally:
        if undo_logging is not None:
            undo_logging()
    if termination.signal is not None:
        _die_by(termination.signal)
    return status


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, term: _Termination) -> int:
    try:
        return asyncio.run(term.guard(args.run, args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        if term.signal is None:
            raise
        print("terminated", file=sys.stderr)
        return 128 + term.signal
    except UsageError as exc:
        parser.error(str(exc))
    except MissingDependency as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except WebChatError as exc:
        print(f"error: {printable(redact(str(exc)))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {printable(redact(str(exc)))}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        # The SDK refuses bad arguments (an unknown region, http:// to a remote host)
        # with a message that says what was wrong: that line is the whole answer.
        print(f"error: {printable(redact(str(exc)))}", file=sys.stderr)
        return 2


class _Termination:
    """SIGTERM cancels the command (so ``async with`` blocks clean up), and is remembered."""

    def __init__(self) -> None:
        self.signal: int | None = None

    async def guard(self, runner: Runner, args: argparse.Namespace) -> int:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("guard() must run in a task")
        loop = asyncio.get_running_loop()

        def terminate() -> None:
            self.signal = signal.SIGTERM
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, terminate)
        except (NotImplementedError, RuntimeError, ValueError):
            # Windows, or main() run outside the main thread (tests): no handler.
            return await runner(args)
        try:
            return await runner(args)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)


def _die_by(signum: int) -> None:
    """End the process by ``signum`` with the default action (exit status 128 + signum)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # the default action does not run Python's exit: flush what is said
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _verbose_logging() -> Callable[[], None]:
    """Debug logging to stderr (redacted); returns what undoes it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(PrintableFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved: list[tuple[logging.Logger, int]] = []
    for name in ("webchat_async", "websockets", "httpx"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)

    def undo() -> None:
        # The handler writes to this run's stderr: left attached, a later record (in a
        # test runner, after the capture stream closed) would hit a closed file.
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()

    return undo


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps descriptions; keeps the environment variable table as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text is _ENVIRONMENT_HELP:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _version() -> str:
    from .. import __version__

    return f"webchat-async {__version__}"


# -- the parser: every subcommand is registered in _parser(), one line each -----------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webchat-async",
        description="Genesys Cloud guest chats (Web Chat v2, Web Messaging) from the terminal, "
        "on a simulator or a real org.",
        epilog=_ENVIRONMENT_HELP,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="debug log of the SDK to stderr (redacted)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_chat(sub)
    _add_simulator(sub)
    _add_deployments(sub)
    _add_settings(sub)
    add_worker_commands(sub)  # worker, status
    return parser


def _command(
    sub: Any, name: str, helptext: str, description: str | None = None, *, env: bool = True
) -> Any:
    return sub.add_parser(
        name,
        help=helptext,
        description=description or helptext,
        epilog=_ENVIRONMENT_HELP if env else None,
        formatter_class=_HelpFormatter,
    )


def _add_demo(sub: Any) -> None:
    demo = _command(
        sub,
        "demo",
        "play a whole chat on the embedded simulator",
        "Play a scripted guest chat against a simulator started in this process "
        "(no set-up, no network).",
        env=False,
    )
    demo.add_argument("--interactive", action="store_true", help="type the guest's lines")
    demo.add_argument("--name", default="Ann", help="the guest's display name (%(default)s)")
    demo.add_argument("--fast", action="store_true", help="no typing pauses (for scripts)")
    demo.add_argument(
        "--console",
        action="store_true",
        help="serve the agent console, print its URL and keep the simulator up until Ctrl-C",
    )
    _add_protocol(demo)
    demo.set_defaults(run=_run_demo)


def _add_chat(sub: Any) -> None:
    chat = _command(
        sub,
        "chat",
        "an interactive guest chat",
        "Chat as a guest in the terminal. /leave, Ctrl-D, Ctrl-C or SIGTERM leave the chat. "
        "With --protocol messaging a guest cannot end the conversation: leaving closes the "
        "socket and the conversation stays open (the same session token resumes it).",
    )
    _add_protocol(chat)
    _add_target(chat)
    chat.add_argument(
        "--organization-id",
        default=os.environ.get(ENV["organization_id"]),
        help=f"the organization id (env {ENV['organization_id']}); Web Chat v2 only, "
        "Web Messaging needs none",
    )
    chat.add_argument(
        "--deployment-id",
        default=os.environ.get(ENV["deployment_id"]),
        help=f"the web chat deployment id, or the Messenger deployment id with "
        f"--protocol messaging (env {ENV['deployment_id']})",
    )
    chat.add_argument(
        "--name",
        default="Guest",
        help="your display name (%(default)s); Web Messaging sends none: there it only "
        "labels your lines",
    )
    chat.add_argument("--queue", help="route to this queue (by name); Web Chat v2 only")
    chat.add_argument(
        "--origin",
        default=os.environ.get(ENV["origin"]) or DEFAULT_ORIGIN,
        help="the Origin header of a Web Messaging chat, a domain the deployment allows "
        f"(env {ENV['origin']}; default %(default)s); the session token comes from "
        f"{ENV['messaging_token']} only",
    )
    chat.set_defaults(run=_run_chat)


def _add_simulator(sub: Any) -> None:
    sim = _command(
        sub, "simulator", "serve the simulator until interrupted", SIMULATOR_DESCRIPTION, env=False
    )
    add_simulator_arguments(sim)
    sim.set_defaults(run=run_simulator)


def _add_deployments(sub: Any) -> None:
    deployments = _command(sub, "deployments", "manage web chat deployments (admin)")
    dsub = deployments.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, helptext in (
        ("list", "list deployments"),
        ("get", "show one deployment"),
        ("create", "create a deployment"),
        ("update", "change a deployment (the fields given; the others stay)"),
        ("delete", "delete a deployment"),
    ):
        p = _command(dsub, action, helptext)
        _add_target(p)
        _add_admin(p)
        if action in ("get", "update", "delete"):
            p.add_argument("deployment_id", help="the deployment's id")
        if action in ("create", "update"):
            p.add_argument("--name", required=action == "create", help="the deployment's name")
            p.add_argument("--description", help="a free text description")
            p.add_argument(
                "--allowed-domain",
                action="append",
                dest="allowed_domains",
                metavar="DOMAIN",
                help="a domain allowed to start chats with it (repeat for several)",
            )
            p.add_argument(
                "--authentication-required",
                type=_boolean,
                metavar="true|false",
                help="whether guests must be authenticated",
            )
            p.add_argument("--authentication-url", help="the URL guests authenticate at")
            p.add_argument(
                "--disabled",
                type=_boolean,
                metavar="true|false",
                help="whether the deployment refuses new chats",
            )
        p.set_defaults(run=_run_deployments)


def _add_settings(sub: Any) -> None:
    settings = _command(sub, "settings", "organization web chat settings (admin)")
    ssub = settings.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in ("get", "set", "delete"):
        p = _command(ssub, action, f"{action} the settings")
        _add_target(p)
        _add_admin(p)
        if action == "set":
            p.add_argument(
                "--require-deployment",
                type=_boolean,
                required=True,
                metavar="true|false",
                help="whether every guest chat must name a deployment",
            )
        p.set_defaults(run=_run_settings)


def _add_protocol(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=PROTOCOLS[0],
        help="webchat: Genesys Web Chat v2 (the default); messaging: Web Messaging, the "
        "guest protocol that replaced it",
    )


def _add_target(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--region",
        default=os.environ.get(ENV["region"]),
        help=f"the org's region, e.g. eu-west-1 or mypurecloud.ie (env {ENV['region']})",
    )
    group.add_argument(
        "--base-url",
        default=os.environ.get(ENV["base_url"]),
        help=f"API base URL instead of a region, e.g. a simulator's (env {ENV['base_url']})",
    )


def _add_admin(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--client-id",
        default=os.environ.get(ENV["client_id"]),
        help=f"OAuth client id (env {ENV['client_id']}); the secret: env {ENV['client_secret']}",
    )


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# -- the commands (imported when run, so the help needs none of them) -----------------------


async def _run_demo(args: argparse.Namespace) -> int:
    require_aiohttp("demo")
    from ._demo import run_demo

    return await run_demo(
        name=args.name,
        interactive=args.interactive,
        fast=args.fast,
        protocol=args.protocol,
        console=args.console,
    )


async def _run_chat(args: argparse.Namespace) -> int:
    if args.protocol == "messaging":
        return await _run_messaging_chat(args)
    from ..models import GuestMemberInfo, RoutingTargetType, WebChatRoutingTarget
    from ..session import GuestSession
    from ._chat import run_chat
    from ._guest import Guest

    if not args.organization_id or not args.deployment_id:
        raise UsageError(
            "--organization-id and --deployment-id are required "
            f"(or {ENV['organization_id']} / {ENV['deployment_id']})"
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
        **target_kwargs(args),
    ) as session:
        return await run_chat(Guest(session), guest_name=args.name)


async def _run_messaging_chat(args: argparse.Namespace) -> int:
    from ..messaging import MessagingSession
    from ._chat import run_chat
    from ._guest import Guest

    if not args.deployment_id:
        raise UsageError(f"--deployment-id is required (or {ENV['deployment_id']})")
    if args.queue:
        raise UsageError("--queue is Web Chat v2 only: Web Messaging routes by its deployment")
    # A secret: from the environment only, never a flag (``ps`` would show it). An empty
    # value is no value: a new session.
    token = os.environ.get(ENV["messaging_token"]) or None
    async with MessagingSession.start(
        deployment_id=args.deployment_id,
        origin=args.origin,
        token=token,
        **target_kwargs(args),
    ) as session:
        return await run_chat(Guest(session), guest_name=args.name)


async def _run_deployments(args: argparse.Namespace) -> int:
    from ._admin import run_deployments

    return await run_deployments(args)


async def _run_settings(args: argparse.Namespace) -> int:
    from ._admin import run_settings

    return await run_settings(args)
