"""The fleet's commands: ``webchat-async worker`` and ``webchat-async status``.

:func:`add_commands` registers them on the main parser's subparsers; each ``run_*`` is the
coroutine the command line runs (the same contract as the other commands: returns the exit
status, raises ``ValueError`` for a bad argument and ``WebChatError`` for a failure, which
the command line prints as one line). A Redis URL can hold a password: it is never printed.

The store's encryption keys come from ``WEBCHAT_ENCRYPTION_KEYS`` (Fernet keys separated by
commas, newest first), never from the command line, where every user of the host can read
them (``ps``). A Redis on another host over ``redis://``, or without keys, warns
(:class:`~webchat_async.worker.InsecureStoreWarning`, printed on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._aio import cancel_and_wait
from ._chat import Handler
from ._model import FleetStatus
from ._store import SessionStore

if TYPE_CHECKING:
    from ..simulator import Simulator

__all__ = ["add_commands", "load_handler", "run_status", "run_worker"]

_REDIS_ENV = "WEBCHAT_REDIS_URL"
#: ``worker --demo --protocol``: the protocol of the demo's chats, or both in turn.
_DEMO_PROTOCOLS = ("webchat", "messaging", "mixed")
_KEYS_ENV = "WEBCHAT_ENCRYPTION_KEYS"


def add_commands(subparsers: Any) -> None:
    """Add ``worker`` and ``status`` to the main parser's ``add_subparsers()`` object."""
    worker = subparsers.add_parser(
        "worker",
        help="hold guest chats from a store and run a handler for each event",
        description=(
            "Run a worker of a fleet: it holds chats by lease from Redis (or, without "
            "--redis, from memory in this process), runs MODULE:HANDLER for every event, "
            "and hands its chats over on SIGTERM or Ctrl-C."
        ),
    )
    worker.add_argument("handler", metavar="MODULE:HANDLER", help="async def handler(chat, event)")
    _add_store(worker)
    worker.add_argument("--concurrency", type=_positive_int, default=100, help="chats held at most")
    worker.add_argument("--lease", type=_positive_float, default=10.0, help="lease seconds (10)")
    worker.add_argument("--worker-id", help="a name unique in the fleet (default: host-pid-random)")
    worker.add_argument(
        "--demo",
        type=_positive_int,
        metavar="N",
        help="also serve a simulator here and start N chats on it (a scripted agent)",
    )
    worker.add_argument("--demo-lines", type=_positive_int, default=5, help="agent lines per chat")
    worker.add_argument(
        "--protocol",
        choices=_DEMO_PROTOCOLS,
        default="webchat",
        help="with --demo: the protocol of its chats: webchat (Web Chat v2, the default), "
        "messaging (Web Messaging) or mixed (every other chat of each); a worker holds "
        "chats of both protocols whatever this says",
    )
    worker.add_argument(
        "--demo-forever",
        action="store_true",
        help="with --demo: the agent never ends its chats (a line every --demo-pace seconds "
        "each); run until Ctrl-C or SIGTERM, to watch other workers take chats over",
    )
    worker.add_argument(
        "--demo-pace",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="with --demo-forever: seconds the agent takes for each line (2)",
    )
    worker.add_argument(
        "--console",
        action="store_true",
        help=(
            "with --demo: serve the simulator's console (which worker holds each chat), "
            "print its URL, and keep it up after the demo until SIGTERM or Ctrl-C"
        ),
    )
    worker.set_defaults(run=run_worker)

    status = subparsers.add_parser("status", help="list a fleet's workers, chats and leases")
    _add_store(status, required=True)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument("--limit", type=_positive_int, default=50, help="chats listed (50)")
    status.set_defaults(run=run_status)


def _add_store(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument(
        "--redis",
        default=os.environ.get(_REDIS_ENV),
        required=required and not os.environ.get(_REDIS_ENV),
        metavar="URL",
        help=(
            f"redis://HOST:PORT/DB or rediss:// for TLS (or {_REDIS_ENV}); the guest "
            f"credentials are encrypted with the keys in {_KEYS_ENV} (comma-separated "
            "Fernet keys, newest first)"
        ),
    )
    p.add_argument("--prefix", default="webchat:", help="key prefix in Redis (webchat:)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text}")
    return value


def load_handler(spec: str) -> Handler:
    """Import ``MODULE:HANDLER`` (the current directory is importable, as with uvicorn)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"the handler is MODULE:HANDLER, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from None
    handler = getattr(module, attribute, None)
    if handler is None or not callable(handler):
        raise ValueError(f"{module_name!r} has no callable {attribute!r}")
    typed: Handler = handler
    return typed


def _store(args: argparse.Namespace) -> SessionStore:
    from ._crypto import Encryption
    from ._memory import MemoryStore
    from ._redis import RedisStore

    if args.redis:
        keys = [k.strip() for k in os.environ.get(_KEYS_ENV, "").split(",") if k.strip()]
        encryption = Encryption(keys) if keys else None
        return RedisStore.from_url(args.redis, prefix=args.prefix, encryption=encryption)
    return MemoryStore()


async def run_worker(args: argparse.Namespace) -> int:
    """``webchat-async worker``: run until SIGTERM / SIGINT, then hand the chats over."""
    from ._worker import Worker

    handler = load_handler(args.handler)
    if args.demo_forever and not args.demo:
        raise ValueError("--demo-forever needs --demo N (the number of chats)")
    if args.console and not args.demo:
        raise ValueError("--console serves the console of --demo's simulator: add --demo N")
    if getattr(args, "protocol", "webchat") != "webchat" and not args.demo:
        raise ValueError(
            "--protocol sets the protocol of --demo's chats: add --demo N (a worker holds "
            "chats of both protocols without it)"
        )
    store = _store(args)
    # The fleet's events (a chat taken over, a handler that failed) as lines of this
    # output; --verbose already shows them, with the rest of the debug log.
    undo_log = None if getattr(args, "verbose", False) else _print_fleet_log()
    try:
        worker = Worker(
            handler,
            store=store,
            concurrency=args.concurrency,
            lease=args.lease,
            worker_id=args.worker_id,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, worker.stop)
        where = f"redis (prefix {args.prefix})" if args.redis else "memory"
        print(f"worker {worker.id}: store {where}, up to {args.concurrency} chats", flush=True)
        watcher = asyncio.get_running_loop().create_task(_show_handovers(worker))
        try:
            await _run_or_demo(worker, store, args)
        finally:
            await cancel_and_wait(watcher)
        print(f"worker {worker.id}: stopped, chats handed over", flush=True)
    finally:
        try:
            await store.aclose()
        finally:
            if undo_log is not None:
                undo_log()
    return 0


async def _run_or_demo(worker: Any, store: SessionStore, args: argparse.Namespace) -> None:
    if args.demo:
        pace = args.demo_pace if args.demo_forever else None
        await _demo(
            worker,
            store,
            args.demo,
            args.demo_lines,
            pace=pace,
            shared=bool(args.redis),
            console=args.console,
            protocol=getattr(args, "protocol", "webchat"),
        )
    else:
        async with worker:
            # Registered: from now on the fleet hands this worker chats.
            print(f"worker {worker.id}: registered, taking chats (Ctrl-C hands them over)",
                  flush=True)  # fmt: skip
            main = worker._main
            if main is not None:
                await main  # until Ctrl-C / SIGTERM (Worker.stop); __aexit__ re-raises


async def _show_handovers(worker: Any) -> None:
    """Print each chat this worker claims after another worker released it (a handover on
    SIGTERM or Ctrl-C). A claim from a worker whose lease ran out (``kill -9``) is already
    in the worker's log: "took chat ... over from ..."."""
    held = set(worker.chats)
    while True:
        before = frozenset(held)
        await worker.wait_for(lambda w, before=before: set(w.chats) != before)
        now = set(worker.chats)
        for conversation_id in sorted(now - held):
            runner = worker._runners.get(conversation_id)
            if runner is not None and runner.claim.previous_owner is None and runner.token > 1:
                print(
                    f"worker {worker.id} took chat {conversation_id} over, handed to it "
                    f"(token {runner.token})",
                    flush=True,
                )
        held = now


def _print_fleet_log() -> Any:
    """Print the worker's log (INFO and up: takeovers, warnings) on stdout, redacted and
    escaped; returns what undoes it."""
    import logging

    from .._redact import RedactingFilter
    from ..cli._safe import PrintableFormatter

    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(PrintableFormatter("%(message)s"))
    logger = logging.getLogger("webchat_async.worker")
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()

    return undo


# In --demo-forever, the scripted agent's chats have this many lines: never reached.
_FOREVER = 10**9


async def _demo(
    worker: Any,
    store: SessionStore,
    chats: int,
    lines: int,
    *,
    pace: float | None = None,
    shared: bool = False,
    console: bool = False,
    hold: Callable[[Simulator], Awaitable[None]] | None = None,
    protocol: str = "webchat",
) -> None:
    """Serve a simulator, start ``chats`` chats on it and run the worker: until every chat
    ended, or with ``pace`` (``--demo-forever``) until the worker is stopped. With
    ``console``, the simulator serves its console showing ``store``'s holders, and stays
    up after the demo until the worker is stopped (or ``hold(sim)`` returns: tests).
    ``protocol``: ``webchat``, ``messaging`` or ``mixed`` (every other chat of each)."""
    from ..api import WebChatApi
    from ..simulator import Simulator
    from ._fleet import Fleet
    from ._model import MESSAGING, WEBCHAT
    from ._scripted import ScriptedAgent, expected_answers, guest_lines, start_on

    if protocol not in _DEMO_PROTOCOLS:
        raise ValueError(f"--protocol is one of {', '.join(_DEMO_PROTOCOLS)}")
    kinds = {"webchat": (WEBCHAT,), "messaging": (MESSAGING,), "mixed": (WEBCHAT, MESSAGING)}
    cycle = kinds[protocol]

    agent = ScriptedAgent(_FOREVER if pace is not None else lines)
    if pace is not None:
        agent.typing_delay = pace
    view = store if console else None
    async with Simulator(port=0, agent=agent, console=console, fleet=view) as sim:
        agent.bind(sim)
        what = "" if protocol == "webchat" else f" ({protocol})"
        if pace is None:
            print(
                f"demo: simulator on {sim.base_url}, {chats} chats{what} of {lines} lines",
                flush=True,
            )
        else:
            print(
                f"demo: simulator on {sim.base_url}, {chats} chats{what}, a line every "
                f"{pace:g} s each, until Ctrl-C",
                flush=True,
            )
            print(_forever_hint(shared), flush=True)
        if sim.console_url is not None:
            print(f"console: {sim.console_url}", flush=True)
        async with worker, WebChatApi(base_url=sim.base_url) as api:
            fleet = Fleet(store, api=api)
            # The conversation ids on the simulator (a Web Messaging chat's fleet id is
            # another: its guest never learns the conversation id).
            started = [await start_on(fleet, sim, cycle[i % len(cycle)], i) for i in range(chats)]
            if pace is not None:
                await worker._main  # until Ctrl-C / SIGTERM (Worker.stop)
                texts = [guest_lines(sim, cid) for cid in started]
                answered = sum(map(_in_order, texts))
                print(
                    f"demo: {answered} of {chats} chats answered exactly once, line by line "
                    f"({sum(map(len, texts))} lines in all)"
                )
                return
            ends = asyncio.ensure_future(
                asyncio.gather(*(sim.wait_ended(cid, None) for cid in started))
            )
            # Every chat ended, or the worker was stopped (SIGTERM, Ctrl-C) first.
            await asyncio.wait({ends, worker._main}, return_when=asyncio.FIRST_COMPLETED)
            if ends.done():
                # The simulator ends a chat before the worker has handled its end: let the
                # worker finish each one (removing it from the store) before stopping.
                with contextlib.suppress(asyncio.TimeoutError):
                    await worker.wait_for(lambda w: not w.chats, timeout=30)
            ends.cancel()
            await asyncio.gather(ends, return_exceptions=True)
            want = expected_answers(lines)
            answered = sum(guest_lines(sim, cid) == want for cid in started)
            print(f"demo: {answered} of {chats} chats answered exactly once, line by line")
            if console:
                print("demo: the console stays up; SIGTERM or Ctrl-C stops it", flush=True)
                await (hold(sim) if hold is not None else worker._main)


def _forever_hint(shared: bool) -> str:
    if not shared:
        return (
            "demo: the store is this process's memory: run with --redis URL to watch other "
            "workers take chats over"
        )
    # Not the URL itself: it may hold a password.
    return (
        "demo: in another terminal, run the same command without --demo, --demo-forever "
        "(and the same --redis); then stop it (Ctrl-C) or kill -9 it, and watch its chats "
        "taken over here (this process serves the simulator: stopping it ends the demo)"
    )


def _in_order(texts: list[str]) -> bool:
    """Whether a chat's guest lines are the scripted answers so far, none missing or doubled."""
    from ._scripted import expected_answers

    return texts == expected_answers(len(texts))


async def run_status(args: argparse.Namespace) -> int:
    """``webchat-async status``: the workers, chats and leases of a fleet."""
    store = _store(args)
    try:
        status = await store.status(chat_limit=args.limit)
    finally:
        await store.aclose()
    try:
        _print_status(status, args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader had enough (`status | head`): not an error. Python would report the
        # pipe again when it flushes stdout at exit, so stdout goes to /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def _print_status(status: FleetStatus, args: argparse.Namespace) -> None:
    if args.json:
        import attrs

        print(json.dumps(attrs.asdict(status), indent=2, sort_keys=True))
        return
    from ..cli._admin import format_table

    live = sum(w.alive for w in status.workers)
    print(f"workers: {live} live of {len(status.workers)}")
    rows = [
        {
            "worker": w.worker_id,
            "alive": w.alive,
            "chats": w.chats,
            "concurrency": w.concurrency,
            "expiresIn": f"{w.expires_in:.1f}s",
            "host": w.host,
            "pid": w.pid,
        }
        for w in status.workers
    ]
    print(format_table(rows, ("worker", "alive", "chats", "concurrency", "expiresIn", "host",
                              "pid")))  # fmt: skip
    kinds = collections.Counter(c.protocol for c in status.chats)
    split = ", ".join(f"{name} {kinds[name]}" for name in sorted(kinds))
    print(f"\nchats: {len(status.chats)} listed" + (f" ({split})" if split else ""))
    chat_rows = [
        {
            "chat": c.conversation_id,
            "owner": c.owner or (f"(handed to {c.reserved_for})" if c.reserved_for else "(none)"),
            "protocol": c.protocol,
            "token": c.token,
            "leaseLeft": f"{c.expires_in:.1f}s" if c.owner else "-",
        }
        for c in status.chats
    ]
    print(format_table(chat_rows, ("chat", "protocol", "owner", "token", "leaseLeft")))
    counters = " ".join(f"{k}={v}" for k, v in sorted(status.counters.items()))
    print(f"\ncounters: {counters or '(none)'}")
    if status.given_up:
        print(f"\ngiven up: {len(status.given_up)} lately")
        given = [{"chat": cid, "reason": why} for cid, why in status.given_up.items()]
        print(format_table(given, ("chat", "reason")))
