"""``webchat-async demo``: a whole guest chat on the embedded simulator, no set-up.

The simulator runs on a free loopback port in this process; a scripted agent answers. The
guest side is a real :class:`~webchat_async.session.GuestSession` over real sockets, so the
demo exercises exactly what a user's program would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from .._events import ConversationEnded, MediaRequestReceived, MessageReceived
from ..models import BodyType, GuestMemberInfo, MediaRequestState, WebChatMessage
from ..session import GuestSession
from ..simulator import Agent, Simulator
from ._chat import describe
from ._safe import printable
from ._transcript import Transcript

__all__ = ["run_demo", "GUEST_LINES"]

GUEST_LINES = (
    "Hi! Where is my order 1042?",
    "Could you show me the tracking page?",
    "Perfect, thank you. Bye!",
)


async def _demo_reply(conversation: object, message: WebChatMessage) -> str | None:
    text = (message.body or "").lower()
    if "order" in text:
        return "Order 1042 shipped yesterday; it should arrive on Friday."
    if "show" in text or "tracking" in text:
        return "Sure, I'm sending you a screen-share request now."
    if "bye" in text or "thank" in text:
        return "You're welcome! Have a great day."
    return f"You said: {message.body}"


async def run_demo(
    *, name: str = "Ann", interactive: bool = False, fast: bool = False, out: TextIO | None = None
) -> int:
    """Play the demo conversation and print its transcript; returns the exit status."""
    stream = out or sys.stdout

    def show(line: str) -> None:
        stream.write(printable(line) + "\n")
        stream.flush()

    agent = Agent(
        name="Sam",
        greeting="Hello, I'm Sam. How can I help you today?",
        typing_delay=0.0 if fast else 0.6,
        reply=_demo_reply,
    )
    async with Simulator(host="127.0.0.1", port=0, agent=agent) as sim:
        show(f"simulator listening on {sim.base_url} (organization {sim.organization_id})")
        async with GuestSession.start(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=GuestMemberInfo(display_name=name),
            base_url=sim.base_url,
        ) as session:
            show(f"conversation {session.conversation_id} created; waiting for an agent")
            if interactive:
                from ._chat import run_chat

                return await run_chat(session, guest_name=name)
            transcript = Transcript(guest_id=session.member_id, guest_name=name)
            await _scripted(sim, session, transcript, show)
    show("demo finished")
    return 0


async def _scripted(
    sim: Simulator, session: GuestSession, transcript: Transcript, show: Callable[[str], None]
) -> None:
    lines = iter(GUEST_LINES)
    async for event in session.events():
        line = await describe(session, transcript, event)
        if line is not None:
            show(line)
        if isinstance(event, MessageReceived) and _from_agent(event.message, session):
            text = event.message.body or ""
            if "screen-share" in text:
                await sim.agent_request_media(session.conversation_id, types=["SCREENSHARE"])
                continue
            nxt = next(lines, None)
            if nxt is None:
                show(transcript.note(f"* {transcript.guest_name} leaves the chat"))
                await session.leave()
            else:
                async with session.typing():
                    await session.send_message(nxt)
        elif isinstance(event, MediaRequestReceived):
            request = event.request
            if request.state == MediaRequestState.PENDING and request.id is not None:
                answered = await session.accept_media_request(request.id)
                show(
                    transcript.note(
                        f"* {transcript.guest_name} accepted the request ({answered.state})"
                    )
                )
                nxt = next(lines, None)
                if nxt is not None:
                    await session.send_message(nxt)
        elif isinstance(event, ConversationEnded):
            return


def _from_agent(message: WebChatMessage, session: GuestSession) -> bool:
    sender = message.sender.id if message.sender else None
    return sender != session.member_id and message.body_type in (None, BodyType.STANDARD)
