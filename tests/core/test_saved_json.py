"""``SavedSession.to_json`` writes what ``json.dumps`` would, and ``from_json`` reads it back."""

from __future__ import annotations

import datetime
import json

from hypothesis import given
from hypothesis import strategies as st

from webchat_async import SavedSession
from webchat_async._convert import format_datetime

_text = st.text()  # any code point, lone surrogates and quotes included
_when = st.datetimes(
    timezones=st.just(datetime.timezone.utc),
    min_value=datetime.datetime(1971, 1, 1),
    max_value=datetime.datetime(9998, 1, 1),
)


@given(
    conversation_id=_text,
    member_id=_text,
    jwt=_text,
    uri=_text,
    base_url=_text,
    last=st.none() | _text,
    when=st.none() | _when,
    ids=st.lists(_text, max_size=4),
)
def test_to_json_is_what_json_dumps_writes(
    conversation_id: str,
    member_id: str,
    jwt: str,
    uri: str,
    base_url: str,
    last: str | None,
    when: datetime.datetime | None,
    ids: list[str],
) -> None:
    saved = SavedSession(
        conversation_id=conversation_id,
        member_id=member_id,
        jwt=jwt,
        event_stream_uri=uri,
        last_message_id=last,
        base_url=base_url,
        last_message_timestamp=when,
        ids_at_timestamp=tuple(ids) if when is not None else (),
    )
    data: dict[str, object] = {
        "conversationId": conversation_id,
        "memberId": member_id,
        "jwt": jwt,
        "eventStreamUri": uri,
        "lastMessageId": last,
        "baseUrl": base_url,
    }
    if when is not None:
        data["lastMessageTimestamp"] = format_datetime(when)
        data["idsAtTimestamp"] = ids
    assert saved.to_json() == json.dumps(data, separators=(",", ":"))
