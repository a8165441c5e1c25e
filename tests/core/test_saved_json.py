"""``SavedSession.to_json`` writes what ``json.dumps`` would, and ``from_json`` reads it back."""

from __future__ import annotations

import datetime
import json

import attrs
from hypothesis import given
from hypothesis import strategies as st

from webchat_async import SavedSession
from webchat_async._convert import format_datetime
from webchat_async._inbound import Position
from webchat_async._saved import SavedJson

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
    # Any code point: the quoting must hold for every string, those SavedSession refuses
    # (control characters: tests/core/test_control_characters.py) included.
    with attrs.validators.disabled():
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


@given(
    conversation_id=_text,
    member_id=_text,
    jwt=_text,
    uri=_text,
    base_url=_text,
    first=st.none() | _text,
    last=st.none() | _text,
    when=st.none() | _when,
    ids=st.lists(_text, max_size=4),
)
def test_saved_json_at_a_position_is_to_json_of_the_session_saved_there(
    conversation_id: str,
    member_id: str,
    jwt: str,
    uri: str,
    base_url: str,
    first: str | None,
    last: str | None,
    when: datetime.datetime | None,
    ids: list[str],
) -> None:
    # A worker writes its saved session at every event from a SavedJson made once: any
    # position gives what SavedSession.to_json writes (and so json.dumps, above).
    # Any code point, as above (the validators would refuse control characters).
    with attrs.validators.disabled():
        saved = SavedSession(
            conversation_id=conversation_id,
            member_id=member_id,
            jwt=jwt,
            event_stream_uri=uri,
            last_message_id=first,
            base_url=base_url,
        )
        position = Position(last, when, tuple(ids) if when is not None else ())
        moved = attrs.evolve(
            saved,
            last_message_id=position.cursor,
            last_message_timestamp=position.timestamp,
            ids_at_timestamp=position.ids,
        )
    text = SavedJson(saved).at(position)
    assert text == moved.to_json()


def test_saved_json_keeps_the_jwt_out_of_its_repr() -> None:
    saved = SavedSession(
        conversation_id="c", member_id="m", jwt="secret-jwt", event_stream_uri="wss://s/t",
        base_url="http://x",
    )  # fmt: skip
    writer = SavedJson(saved)
    assert "secret" not in repr(writer) and "wss" not in repr(writer)
