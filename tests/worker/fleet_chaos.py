"""The fleet under fire: real worker processes, a real Redis, the simulator, and one fault
in the middle of the run (``--fault``):

- ``kill`` (the default): one worker killed with SIGKILL, then another stopped with SIGTERM
  (each replaced by a new worker);
- ``redis-restart``: the Redis server killed and started again empty on the same port (no
  persistence), workers up;
- ``redis-stall``: the Redis server frozen (SIGSTOP) for ``--stall`` seconds, then SIGCONT;
- ``join``: one more worker started (it must get at least half its fair share);
- ``rolling``: each worker stopped with SIGTERM in turn and replaced by a new one (each
  live worker must end with at least half its fair share).

The Redis faults run a ``redis-server`` of their own (never ``WEBCHAT_REDIS_URL``'s).
``--protocol`` sets the chats' protocol: ``webchat`` (Web Chat v2, the default),
``messaging`` (Web Messaging) or ``mixed`` (every other chat of each, on the same
workers).

Used by ``tests/worker/test_fleet_chaos.py`` (small) and ``scripts/fleet_chaos.sh`` (the
full size). Every chat is a :class:`ScriptedAgent` of ``lines`` lines answered by the
``echo`` handler, so counting the guest's messages of each chat on the simulator shows each
lost answer and each doubled one. The run ends when every chat has ended (or the timeout);
nothing waits a fixed time.

    python tests/worker/fleet_chaos.py --chats 300 --workers 3 --lines 50
    python tests/worker/fleet_chaos.py --fault redis-restart --chats 60
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

ROOT = Path(__file__).resolve().parents[2]
#: The exit code reported for a worker that did not exit within a minute of its SIGTERM.
NOT_EXITED = -1000
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from webchat_async import WebChatApi  # noqa: E402
from webchat_async.simulator import Simulator  # noqa: E402
from webchat_async.worker import Fleet, RedisStore  # noqa: E402
from webchat_async.worker._model import MESSAGING, WEBCHAT, ChatProtocol  # noqa: E402
from webchat_async.worker._scripted import (  # noqa: E402
    ScriptedAgent,
    expected_answers,
    guest_lines,
    start_on,
)

if TYPE_CHECKING:
    from redis_support import PrivateRedis

#: The faults a run can inject (see the module's docstring).
FAULTS = ("kill", "redis-restart", "redis-stall", "join", "rolling")
#: The chats' protocols a run can use: one, or both in turn.
PROTOCOLS: dict[str, tuple[ChatProtocol, ...]] = {
    "webchat": (WEBCHAT,),
    "messaging": (MESSAGING,),
    "mixed": (WEBCHAT, MESSAGING),
}


@attrs.frozen
class ChaosReport:
    """What a run measured."""

    chats: int
    workers: int
    killed: int
    handled: int
    lost: int
    duplicated: int
    orphaned: int
    failovers: list[float]
    handovers: list[float]
    exit_codes: dict[str, int]
    killed_worker: str
    stopped_worker: str
    logs: Path
    seconds: float
    takeovers: int
    fault: str = "kill"
    restored: int = 0
    #: join / rolling: whether every live worker reached half its fair share, and when.
    shared: bool = True
    share_seconds: float = 0.0
    protocol: str = "webchat"

    def log_tail(self, worker: str, lines: int = 20) -> str:
        """The end of a worker's log (for a failure's message)."""
        path = self.logs / f"{worker}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def line(self) -> str:
        """The script's last line."""
        p50 = percentile(self.failovers, 50)
        p99 = percentile(self.failovers, 99)
        labels = [x for x in (self.protocol, self.fault) if x not in ("webchat", "kill")]
        return (
            f"fleet: {''.join(label + ', ' for label in labels)}"
            f"{self.chats} chats, {self.workers} workers, killed {self.killed}, "
            f"handled {self.handled} events, lost {self.lost}, replies duplicated "
            f"{self.duplicated}, orphaned {self.orphaned}, failover p50 {p50:.2f} s "
            f"p99 {p99:.2f} s"
        )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``nan`` for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


class Progress:
    """Counts the guest's answers as the agent sees them; wakes waiters at thresholds."""

    def __init__(self) -> None:
        self.answers = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __call__(self, conversation_id: str) -> None:
        self.answers += 1
        for count, future in list(self._waiters):
            if self.answers >= count and not future.done():
                future.set_result(None)

    async def reach(self, count: int) -> None:
        if self.answers >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, future))
        await future


class Workers:
    """Worker processes (``webchat-async worker``), each with a log file."""

    def __init__(self, redis_url: str, prefix: str, lease: float, logs: Path) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.lease = lease
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")
        command = [
            sys.executable, "-m", "webchat_async", "worker", "webchat_async.worker.demo:echo",
            "--redis", self.redis_url, "--prefix", self.prefix, "--concurrency", "2000",
            "--lease", str(self.lease), "--worker-id", name,
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def signal(self, name: str, sig: int) -> None:
        self.processes[name].send_signal(sig)

    def stop_all(self, timeout: float = 30.0) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


async def wait_until(check: object, timeout: float, what: str) -> None:
    """Poll an external process's state (``await check()`` is true) until the deadline."""
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def server_ms(store: RedisStore) -> int:
    seconds, micros = await store.client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def run_chaos(
    *,
    redis_url: str,
    prefix: str,
    chats: int = 300,
    workers: int = 3,
    lines: int = 50,
    lease: float = 5.0,
    timeout: float = 900.0,
    logs: Path | None = None,
    fault: str = "kill",
    redis: PrivateRedis | None = None,
    stall: float = 2.0,
    protocol: str = "webchat",
) -> ChaosReport:
    """Run the fleet through one fault: a SIGKILL and a SIGTERM (each replaced by a new
    worker), or, on ``redis`` (a server of the run's own), a restart without persistence
    or a stall of ``stall`` seconds."""
    if fault not in FAULTS:
        raise ValueError(f"fault is one of {', '.join(FAULTS)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol is one of {', '.join(PROTOCOLS)}")
    kinds = PROTOCOLS[protocol]
    if fault != "kill" and redis is None:
        raise ValueError(f"the {fault} fault needs a Redis of its own (redis=PrivateRedis)")
    started_at = time.monotonic()
    progress = Progress()
    agent = ScriptedAgent(lines, on_answer=progress)
    store = RedisStore.from_url(redis_url, prefix=prefix)
    logdir = logs or Path(tempfile.mkdtemp(prefix="fleet-chaos-"))
    fleet_procs = Workers(redis_url, prefix, lease, logdir)
    exit_codes: dict[str, int] = {}
    victim = stopped = ""
    shared, share_seconds = True, 0.0
    try:
        async with Simulator(port=0, agent=agent) as sim, WebChatApi(base_url=sim.base_url) as api:
            agent.bind(sim)
            for i in range(workers):
                fleet_procs.start(f"w{i}")

            async def all_live() -> bool:
                status = await store.status(chat_limit=1)
                return sum(w.alive for w in status.workers) == workers

            await wait_until(all_live, 60, "the workers to register")
            fleet = Fleet(store, api=api, reserve=lease)
            gate = asyncio.Semaphore(20)

            async def start(i: int) -> str:
                # The conversation's id on the simulator (not the fleet's id of a Web
                # Messaging chat, whose guest never learns the conversation id).
                async with gate:
                    return await start_on(fleet, sim, kinds[i % len(kinds)], i)

            ids = await asyncio.gather(*(start(i) for i in range(chats)))
            total = chats * lines
            killed = 0
            kill_at = term_at = 0
            await asyncio.wait_for(progress.reach(total // 3), timeout)
            if fault in ("join", "rolling"):
                names = [f"w{workers}"]
                if fault == "rolling":
                    names = [f"w{workers + i}" for i in range(workers)]
                    for i in range(workers):
                        fleet_procs.signal(f"w{i}", signal.SIGTERM)
                        try:
                            exit_codes[f"w{i}"] = await asyncio.to_thread(
                                fleet_procs.processes[f"w{i}"].wait, 60
                            )
                        except subprocess.TimeoutExpired:
                            exit_codes[f"w{i}"] = NOT_EXITED
                        fleet_procs.start(names[i])
                else:
                    fleet_procs.start(names[0])
                moved_at = time.monotonic()
                shared = await _shares_reached(store, timeout=60)
                share_seconds = time.monotonic() - moved_at
            elif fault != "kill":
                assert redis is not None
                if fault == "redis-restart":
                    # What a restart keeps is what live workers hold: a chat still waiting
                    # in an inbox is lost with the store (docs/workers.md). On a loaded
                    # machine claims can lag the starts: restart once every chat is held.
                    async def all_held() -> bool:
                        status = await store.status(chat_limit=chats)
                        return all(c.owner for c in status.chats)

                    await wait_until(all_held, 60, "every chat to be held")
                    await asyncio.to_thread(redis.restart_empty)
                else:
                    redis.pause()
                    try:
                        # The fault's own length: a chaos run, not a wait for a state.
                        await asyncio.sleep(stall)
                    finally:
                        redis.resume()
            else:
                victim, stopped, kill_at, term_at, killed = await _kill_and_stop(
                    store, fleet_procs, progress, total, workers, timeout, exit_codes
                )

            ends = [sim.wait_ended(cid, None) for cid in ids]
            try:
                await asyncio.wait_for(asyncio.gather(*ends), timeout)
            except asyncio.TimeoutError:
                pass  # counted below as orphaned

            async def store_empty() -> bool:
                return (await store.status(chat_limit=1)).chats == ()

            with contextlib.suppress(TimeoutError):
                await wait_until(store_empty, 10 * lease, "the store to empty")
            status = await store.status(chat_limit=chats)

            want = expected_answers(lines)
            lost = duplicated = orphaned = 0
            for cid in ids:
                conversation = sim.state.conversations[cid]
                said = collections.Counter(guest_lines(sim, cid))
                lost += sum(1 for text in want if said[text] == 0)
                duplicated += sum(n - 1 for n in said.values() if n > 1)
                duplicated += sum(n for text, n in said.items() if text not in want)
                # Orphaned: the chat did not end by the agent's last line (removed by the
                # service's grace timer, or still open), or it stayed in the store.
                agent_ended = conversation.ended and said[want[-1]] >= 1
                if not agent_ended:
                    orphaned += 1
            orphaned += len(status.chats)

            failovers: list[float] = []
            handovers: list[float] = []
            if fault == "kill":
                failovers, handovers = await _failover_times(
                    store, victim, kill_at, stopped, term_at
                )
            report_handled = status.counters.get("handled", 0)
            takeovers = status.counters.get("takeovers", 0)
            restored = status.counters.get("restored", 0)
    finally:
        codes = fleet_procs.stop_all()
        codes.update(exit_codes)
        await store.aclose()
    return ChaosReport(
        killed_worker=victim,
        stopped_worker=stopped,
        logs=logdir,
        chats=chats,
        workers=workers,
        killed=killed,
        handled=report_handled,
        lost=lost,
        duplicated=duplicated,
        orphaned=orphaned,
        failovers=failovers,
        handovers=handovers,
        exit_codes=codes,
        seconds=time.monotonic() - started_at,
        takeovers=takeovers,
        fault=fault,
        restored=restored,
        shared=shared,
        share_seconds=share_seconds,
        protocol=protocol,
    )


async def _shares_reached(store: RedisStore, timeout: float) -> bool:
    """Poll the store (the workers are other processes) until every live worker holds at
    least half its fair share of the chats held, with at least one chat per worker held;
    ``False`` at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await store.status(chat_limit=1)
        held = [w.chats for w in status.workers if w.alive]
        # Only while there are chats to share: a fleet whose chats all ended is no proof.
        if held and sum(held) >= len(held) and 2 * min(held) * len(held) >= sum(held):
            return True
        await asyncio.sleep(0.1)
    return False


async def _kill_and_stop(
    store: RedisStore,
    fleet_procs: Workers,
    progress: Progress,
    total: int,
    workers: int,
    timeout: float,
    exit_codes: dict[str, int],
) -> tuple[str, str, int, int, int]:
    """SIGKILL the busiest worker, later SIGTERM the next busiest (each replaced);
    returns (killed, stopped, kill time, stop time, workers taken down)."""
    # The victims are the workers holding the most chats at that moment: a fixed name
    # could hold none (its chats all ended first on a loaded machine).
    victim = await busiest(store, exclude=set())
    kill_at = await server_ms(store)
    fleet_procs.signal(victim, signal.SIGKILL)
    fleet_procs.start(f"w{workers}")
    await asyncio.wait_for(progress.reach(2 * total // 3), timeout)
    stopped = await busiest(store, exclude={victim})
    term_at = await server_ms(store)
    fleet_procs.signal(stopped, signal.SIGTERM)
    fleet_procs.start(f"w{workers + 1}")
    try:
        exit_codes[stopped] = await asyncio.to_thread(fleet_procs.processes[stopped].wait, 60)
    except subprocess.TimeoutExpired:
        # Reported, not raised: the run goes on, and the report says which worker did not
        # stop and what it logged.
        exit_codes[stopped] = NOT_EXITED
    return victim, stopped, kill_at, term_at, 2


async def busiest(store: RedisStore, exclude: set[str]) -> str:
    """The live worker (not in ``exclude``) holding the most chats now."""
    status = await store.status(chat_limit=1)
    held = {w.worker_id: w.chats for w in status.workers if w.alive and w.worker_id not in exclude}
    return max(sorted(held), key=held.__getitem__)


async def _failover_times(
    store: RedisStore, killed: str, kill_at: int, stopped: str, term_at: int
) -> tuple[list[float], list[float]]:
    """Seconds from the SIGKILL to each claim of a chat the killed worker held, and from
    the SIGTERM to each claim of a chat the stopped worker released."""
    entries = await store.client.xrange(store.keys.log, "-", "+")
    failovers: list[float] = []
    released: dict[str, int] = {}
    handovers: list[float] = []
    for _, fields in entries:
        f = {k.decode(): v.decode() for k, v in fields.items()}
        at = int(f["at"])
        if f["op"] == "claim" and f["other"] == killed and at >= kill_at:
            failovers.append((at - kill_at) / 1000)
        elif f["op"] == "release" and f["worker"] == stopped and at >= term_at:
            released[f["chat"]] = at
        elif f["op"] == "claim" and f["chat"] in released:
            rel = released.pop(f["chat"])
            handovers.append((at - term_at) / 1000)
            if os.environ.get("FLEET_DEBUG"):
                print(f"release {(rel - term_at) / 1000:.3f} claim {(at - rel) / 1000:.3f}")
    return failovers, handovers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--lines", type=int, default=50, help="agent messages per chat")
    parser.add_argument("--lease", type=float, default=5.0, help="lease seconds")
    parser.add_argument("--fault", choices=FAULTS, default="kill", help="the fault (kill)")
    parser.add_argument(
        "--protocol", choices=tuple(PROTOCOLS), default="webchat", help="the chats' protocol"
    )
    parser.add_argument(
        "--stall", type=float, default=2.0, help="seconds Redis is frozen (redis-stall: 2)"
    )
    args = parser.parse_args(argv)
    # The simulator logs each request cut by the SIGKILL; the figures are what matters here.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from redis_support import private_redis, redis_server

    with contextlib.ExitStack() as stack:
        if args.fault == "kill":
            url, own = stack.enter_context(redis_server()), None
        else:
            own = stack.enter_context(private_redis())
            url = own.url
        report = asyncio.run(
            run_chaos(
                redis_url=url,
                prefix=f"chaos-{os.getpid()}:",
                chats=args.chats,
                workers=args.workers,
                lines=args.lines,
                lease=args.lease,
                fault=args.fault,
                redis=own,
                stall=args.stall,
                protocol=args.protocol,
            )
        )
    share = f"within {report.share_seconds:.1f} s" if report.shared else "NOT reached"
    print(
        f"run: {report.seconds:.1f} s, takeovers {report.takeovers}, chats written back "
        f"{report.restored}, every worker at half its share {share}, hand-overs "
        f"{len(report.handovers)} (p50 {percentile(report.handovers, 50):.3f} s, max "
        f"{max(report.handovers, default=float('nan')):.3f} s after SIGTERM), "
        f"worker exits {sorted(report.exit_codes.items())}, failover mean "
        f"{statistics.fmean(report.failovers) if report.failovers else float('nan'):.2f} s "
        f"over {len(report.failovers)} chats (lease {args.lease} s)"
    )
    print(report.line())
    bad = report.lost or report.duplicated or report.orphaned or not report.shared
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
