"""The smallest guest chat: say hello, print what the agent answers, leave.

python examples/quickstart.py                                   # embedded simulator
python examples/quickstart.py --organization-id ORG --deployment-id DEP --region eu-west-1
"""

from __future__ import annotations

import asyncio
import sys

from _target import parser, target

from webchat_async import ConversationEnded, GuestMemberInfo, GuestSession, MessageReceived
from webchat_async.models import BodyType


async def main(argv: list[str] | None = None) -> list[str]:
    args = parser(__doc__ or "").parse_args(argv)
    answers: list[str] = []
    async with (
        target(args) as where,
        GuestSession.start(
            organization_id=where.organization_id,
            deployment_id=where.deployment_id,
            member_info=GuestMemberInfo(display_name="Ann"),
            **where.where,
        ) as session,
    ):
        await session.send_message("Hello! Is anyone there?")
        async for event in session.events():
            match event:
                case MessageReceived(message=m) if m.sender and m.sender.id != session.member_id:
                    if m.body_type == BodyType.STANDARD:
                        print(f"agent: {m.body}")
                        answers.append(m.body or "")
                        if len(answers) == 2:  # the greeting, then the answer to our hello
                            break
                case ConversationEnded():
                    break
    # Leaving the `async with` left the conversation and closed the stream.
    return answers


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main()) else 1)
