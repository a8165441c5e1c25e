"""One fleet, both protocols: Web Chat v2 and Web Messaging chats held by the same
workers, run by the same handler (the shared event vocabulary only), with the same
guarantees: each agent message answered once, across a crash and a hand-over, and the
2/s send limit of a Web Messaging session kept across a hand-over. On both stores, with
the real simulator on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from fleet_support import (
    CLOCKED_LEASE,
    Clock,
    CrashAfterReply,
    GatedStore,
    clocked_worker,
    guest_texts,
    watching,
)

from webchat_async import Event, GuestMemberInfo, MessageReceived, WebChatApi
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import Chat, Fleet, MemoryStore, SessionStore, Worker
from webchat_async.worker._scripted import ScriptedAgent, expected_answers
from webchat_async.worker.demo import echo

ORIGIN = "https://bot.example"
OPENING = "hello"


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Simulator, ScriptedAgent]]:
    pytest.importorskip("aiohttp")
    agent = ScriptedAgent(3)
    async with Simulator(port=0, heartbeat_interval=None, agent=agent) as sim:
        agent.bind(sim)
        yield sim, agent


async def start_both(fleet: Fleet, sim: Simulator) -> tuple[str, str, str]:
    """A Web Chat v2 chat and a Web Messaging chat; returns (webchat id, fleet id of the
    messaging chat, its conversation id on the simulator)."""
    web = await fleet.start_chat(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name="Bot"),
    )
    token = str(uuid.uuid4())
    wm = await fleet.start_messaging_chat(
        deployment_id=sim.deployment_id, origin=ORIGIN, token=token, first_message=OPENING
    )
    assert (web.protocol, wm.protocol) == ("webchat", "messaging")
    return web.conversation_id, wm.conversation_id, sim.messaging_conversation_id(token)


async def test_one_handler_module_runs_chats_of_both_protocols_in_one_fleet(
    store: SessionStore, scripted: tuple[Simulator, ScriptedAgent]
) -> None:
    sim, _ = scripted
    want = expected_answers(3)
    async with WebChatApi(base_url=sim.base_url) as api:
        fleet = Fleet(store, api=api)
        async with Worker(echo, store=store, lease=5.0) as worker:
            web, wm_id, wm = await start_both(fleet, sim)
            status = await store.status()
            assert {c.conversation_id: c.protocol for c in status.chats} == {
                web: "webchat",
                wm_id: "messaging",
            }
            await sim.wait_ended(web, None)
            await sim.wait_ended(wm, None)
            await worker.wait_for(lambda w: not w.chats, timeout=20)
        assert guest_texts(sim, web) == want
        assert guest_texts(sim, wm) == [OPENING, *want]
        status = await store.status()
        assert status.chats == ()
        assert status.counters["finished"] == 2


def quiet_agent() -> Agent:
    async def silent(conversation: object, message: object) -> None:
        return None

    return Agent(greeting=None, reply=silent, typing_delay=0)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    pytest.importorskip("aiohttp")
    async with Simulator(port=0, heartbeat_interval=None, agent=quiet_agent()) as s:
        yield s


class Recorder:
    """The echo handler, recording (worker, message id) of each agent message handled."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, chat: Chat, event: Event) -> None:
        await echo(chat, event)
        if isinstance(event, MessageReceived) and not event.from_guest:
            self.handled.append((chat.worker_id, event.message_id))
            self.changed.set()

    async def wait(self, predicate: object) -> None:
        async def until() -> None:
            while not predicate():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), 20)


async def start_messaging(store: SessionStore, sim: Simulator, api: WebChatApi) -> str:
    token = str(uuid.uuid4())
    await Fleet(store, api=api).start_messaging_chat(
        deployment_id=sim.deployment_id, origin=ORIGIN, token=token, first_message=OPENING
    )
    cid = sim.messaging_conversation_id(token)
    await sim.wait_routed(cid, 20)  # the guest's first message routes the conversation
    return cid


@pytest.mark.parametrize("metadata", [True, False], ids=["by-custom-id", "by-text"])
async def test_a_messaging_reply_stored_before_the_crash_is_not_sent_again(
    sim: Simulator, metadata: bool
) -> None:
    if not metadata:
        # A service whose history drops metadata (spec §7.2): B cannot match A's reply by
        # its customMessageId, only by its text among the guest's messages after the commit.
        sim.faults.messaging_history_without_metadata()
    clock = Clock(0.0)
    store = GatedStore(clock)
    record = Recorder()
    dies = CrashAfterReply(record)  # replies to "one", then stops before its commit

    async with WebChatApi(base_url=sim.base_url) as api:
        async with clocked_worker(dies, store, clock, "A") as a:
            cid = await start_messaging(store, sim, api)
            await a.wait_for(lambda w: len(w.chats) == 1, timeout=20)
            await sim.agent_say(cid, "one")
            await asyncio.wait_for(dies.crashed.wait(), 20)
            assert guest_texts(sim, cid) == [OPENING, "echo: one"]

            clock.now += CLOCKED_LEASE + 1  # A's lease runs out: it is paused past it
            with watching("taken over") as takeover:
                async with clocked_worker(record, store, clock, "B") as b:
                    await b.wait_for(lambda w: len(w.chats) == 1, timeout=20)
                    # B handles "one" again (read from the history): A's reply is found,
                    # not sent again.
                    await record.wait(lambda: any(w == "B" for w, _ in record.handled))
                    (line,) = takeover.records
                    assert line.endswith(" taken over: 1 of 1 recorded sends had been made")
                    await sim.agent_say(cid, "two")
                    await record.wait(lambda: "echo: two" in guest_texts(sim, cid))

                    dies.hold.set()  # A comes back: its send is refused
                    await a.wait_for(lambda w: not w.chats, timeout=20)
                    assert len(dies.late) == 1
                    assert guest_texts(sim, cid) == [OPENING, "echo: one", "echo: two"]
                    handled_by_b = [m for w, m in record.handled if w == "B"]
                    assert len(handled_by_b) == len(set(handled_by_b)) == 2
                    status = await store.status()
                    assert [(c.owner, c.token, c.protocol) for c in status.chats] == [
                        ("B", 2, "messaging")
                    ]
                    handled_by_b = [m for w, m in record.handled if w == "B"]
                    assert len(handled_by_b) == len(set(handled_by_b)) == 2


async def test_a_messaging_send_recorded_but_never_sent_is_sent_once_by_the_new_owner(
    sim: Simulator,
) -> None:
    clock = Clock(0.0)
    store = GatedStore(clock)
    record = Recorder()
    async with WebChatApi(base_url=sim.base_url) as api:
        async with clocked_worker(record, store, clock, "A") as a:
            cid = await start_messaging(store, sim, api)
            await a.wait_for(lambda w: len(w.chats) == 1, timeout=20)
            store.pause_after_record = True  # A records its reply, then dies before sending
            await sim.agent_say(cid, "one")
            await asyncio.wait_for(store.paused.wait(), 20)
            clock.now += CLOCKED_LEASE + 1
            async with clocked_worker(record, store, clock, "B"):
                await record.wait(lambda: "echo: one" in guest_texts(sim, cid))
                await sim.agent_say(cid, "two")
                await record.wait(lambda: "echo: two" in guest_texts(sim, cid))
                store.resume.set()  # A wakes up: its send is refused (the lease is gone)
                await a.wait_for(lambda w: not w.chats, timeout=20)
            assert guest_texts(sim, cid) == [OPENING, "echo: one", "echo: two"]


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The loop times of the sends the simulator refused for the rate (4029)."""
    from webchat_async.simulator import _messaging_state

    refused: list[float] = []
    allow = _messaging_state.WmSession.allow_send

    def counting(self: _messaging_state.WmSession, now: float, per_second: int | None) -> bool:
        ok = allow(self, now, per_second)
        if not ok:
            refused.append(now)
        return ok

    monkeypatch.setattr(_messaging_state.WmSession, "allow_send", counting)
    yield refused


async def test_the_send_limit_of_a_messaging_session_holds_across_a_hand_over(
    sim: Simulator, refusals: list[float]
) -> None:
    # Failed before: the new owner sent its two replies at once, within a second of the
    # two the old owner had just sent (four in a second: the service refuses with 4029).
    store = MemoryStore()
    answered = Recorder()

    async def two_replies(chat: Chat, event: Event) -> None:
        if isinstance(event, MessageReceived) and not event.from_guest and event.text:
            await chat.send_message(f"{event.text} a")
            await chat.send_message(f"{event.text} b")
            answered.handled.append((chat.worker_id, event.message_id))
            answered.changed.set()

    async with WebChatApi(base_url=sim.base_url) as api:
        a = Worker(two_replies, store=store, lease=30.0, worker_id="A")
        b = Worker(two_replies, store=store, lease=30.0, worker_id="B")
        async with a:
            cid = await start_messaging(store, sim, api)
            await a.wait_for(lambda w: len(w.chats) == 1, timeout=20)
            await sim.agent_say(cid, "one")
            await answered.wait(lambda: len(answered.handled) == 1)
            async with b:
                await a.stop()  # hand-over: B claims the chat at once
                await b.wait_for(lambda w: len(w.chats) == 1, timeout=20)
                await sim.agent_say(cid, "two")
                await answered.wait(lambda: len(answered.handled) == 2)
    assert guest_texts(sim, cid) == [OPENING, "one a", "one b", "two a", "two b"]
    assert refusals == []
