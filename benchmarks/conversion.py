"""6. Model conversion: a 100-message ``WebChatMessageEntityList`` through the cattrs
converter, against ``json.loads`` of the same page.

The page is what the messages endpoint returns (ids, conversation, sender, body, type,
timestamp, links). A run times ``repeat`` rounds of each step on it: ``json.loads`` of
the text, ``structure`` of the loaded dict into models, ``unstructure`` of the models
back into a dict; the order of the steps rotates from run to run. Figures are per
message; the ratio is (structure + unstructure) / json.loads, pair by pair. There is no
goal in the issue for this one: it tells where decode time goes.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from webchat_async import _convert
from webchat_async.models import (
    BodyType,
    WebChatConversation,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatMessageEntityList,
)

from ._harness import Figure, Result, Stats

__all__ = ["NAME", "TITLE", "page_text", "run"]

NAME = "conversion"
TITLE = "Model conversion (100-message page)"

PAGE_SIZE = 100


def page_text(size: int = PAGE_SIZE) -> str:
    """The JSON of a ``WebChatMessageEntityList`` of ``size`` messages."""
    conversation_id = str(uuid.uuid4())
    base = f"https://api.mypurecloud.com/api/v2/webchat/guest/conversations/{conversation_id}"
    members = [str(uuid.uuid4()), str(uuid.uuid4())]
    start = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    messages = []
    for i in range(size):
        message_id = str(uuid.uuid4())
        messages.append(
            WebChatMessage(
                id=message_id,
                conversation=WebChatConversation(id=conversation_id, self_uri=base),
                sender=WebChatMemberInfo(id=members[i % 2]),
                body=f"Message number {i}: could you tell me where my parcel is, please?",
                body_type=BodyType.STANDARD,
                timestamp=start + datetime.timedelta(seconds=i, milliseconds=123),
                self_uri=f"{base}/messages/{message_id}",
            )
        )
    page = WebChatMessageEntityList(
        page_size=size,
        entities=messages,
        next=f"{base}/messages?after={messages[-1].id}",
        self_uri=f"{base}/messages",
    )
    return _convert.dumps(page)


def _timed(step: Callable[[], Any], repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        step()
    return time.perf_counter() - t0


def run(*, runs: int = 9, repeat: int = 200) -> Result:
    """Measure ``runs`` rounds of ``repeat`` conversions of each kind."""
    started = time.perf_counter()
    text = page_text()
    data = json.loads(text)
    page = _convert.structure(data, WebChatMessageEntityList)
    assert page.entities is not None and len(page.entities) == PAGE_SIZE
    assert _convert.unstructure(page) == data  # a faithful round trip, or nothing to time

    steps: dict[str, Callable[[], Any]] = {
        "loads": lambda: json.loads(text),
        "structure": lambda: _convert.structure(data, WebChatMessageEntityList),
        "unstructure": lambda: _convert.unstructure(page),
    }
    for step in steps.values():
        _timed(step, max(1, repeat // 10))
    rounds: list[dict[str, float]] = []
    names = list(steps)
    for i in range(runs):
        order = names[i % 3 :] + names[: i % 3]
        rounds.append({name: _timed(steps[name], repeat) for name in order})

    per_message = repeat * PAGE_SIZE

    def us(name: str) -> Stats:
        return Stats.of([r[name] / per_message * 1e6 for r in rounds], "µs")

    return Result(
        name=NAME,
        title=TITLE,
        params={"runs": runs, "repeat": repeat, "page_size": PAGE_SIZE},
        figures=[
            Figure("loads_us", "json.loads, per message", us("loads")),
            Figure("structure_us", "structure, per message", us("structure")),
            Figure("unstructure_us", "unstructure, per message", us("unstructure")),
            Figure(
                "ratio",
                "(structure + unstructure) / json.loads",
                Stats.of([(r["structure"] + r["unstructure"]) / r["loads"] for r in rounds], "x"),
            ),
            Figure(
                "decode_ratio",
                "(json.loads + structure) / json.loads: a page read",
                Stats.of([(r["loads"] + r["structure"]) / r["loads"] for r in rounds], "x"),
            ),
        ],
        notes=[f"page: {len(text)} bytes of JSON, {PAGE_SIZE} messages"],
        seconds=time.perf_counter() - started,
    )
