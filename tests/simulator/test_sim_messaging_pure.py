"""Property tests on the pure parts of the simulator's Web Messaging state: the rate
window, history pages and the origin check."""

from __future__ import annotations

import pytest

pytest.importorskip("aiohttp")

from hypothesis import given
from hypothesis import strategies as st

from webchat_async.models import BodyType
from webchat_async.simulator._messaging_state import (
    MessagingConfig,
    MessagingState,
    custom_attributes_size,
    origin_allowed,
    structured,
)
from webchat_async.simulator._state import SimulatorState

times = st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=60).map(sorted)


@given(times, st.integers(min_value=1, max_value=5))
def test_rate_window_never_lets_more_than_n_in_a_second(sends: list[float], n: int) -> None:
    session = MessagingState(SimulatorState()).open_session("t", "d", 0.0, 60.0)
    accepted = [t for t in sends if session.allow_send(t, n)]
    for i, start in enumerate(accepted):
        assert sum(1 for t in accepted[i:] if t < start + 1.0) <= n
    # Whatever was refused came while n others were in the window before it.
    for t in sends:
        if t not in accepted:
            assert sum(1 for a in accepted if t - 1.0 < a <= t) >= n


@given(st.integers(min_value=0, max_value=30), st.integers(min_value=1, max_value=7))
def test_history_pages_are_the_conversation_newest_first(count: int, size: int) -> None:
    conversation = MessagingState(SimulatorState()).new_conversation("d")
    for i in range(count):
        text = f"m{i}"
        conversation.store(
            guest=True,
            text=text,
            body_type=BodyType.STANDARD,
            build=lambda mid, at, text=text: structured(mid, at, direction="Inbound", text=text),
        )
    first = conversation.history(1, size)
    pages = [conversation.history(n, size) for n in range(1, first["pageCount"] + 1)]
    texts = [m["text"] for page in pages for m in page["entities"]]
    assert texts == [f"m{i}" for i in reversed(range(count))]
    assert all(p["total"] == count and p["pageSize"] == size for p in pages)
    assert conversation.history(first["pageCount"] + 1, size)["entities"] == []


@given(st.dictionaries(st.text(max_size=5), st.text(max_size=50), max_size=5))
def test_custom_attribute_size_is_the_utf8_json_size(attributes: dict[str, str]) -> None:
    size = custom_attributes_size({"channel": {"metadata": {"customAttributes": attributes}}})
    assert size >= len(attributes)  # at least the braces' worth
    assert custom_attributes_size({"text": "x"}) == 0


def test_origins() -> None:
    assert origin_allowed(None, None) and origin_allowed([], "https://a.example")
    allowed = ["shop.example", "*.corp.example", "https://exact.example"]
    assert origin_allowed(allowed, "https://shop.example")
    assert origin_allowed(allowed, "http://shop.example:8080")
    assert origin_allowed(allowed, "https://a.corp.example")
    assert origin_allowed(allowed, "https://exact.example/")
    assert not origin_allowed(allowed, "http://exact.example")
    assert not origin_allowed(allowed, "https://shop.example.evil")
    assert not origin_allowed(allowed, "https://corp.example.evil")
    assert not origin_allowed(allowed, None)


def test_config_json_reflects_the_config() -> None:
    config = MessagingConfig(file_types=("image/png",), max_file_size_kb=5, auto_start=True)
    data = config.config_json("dep")
    assert data["messenger"]["fileUpload"]["modes"] == [
        {"fileTypes": ["image/png"], "maxFileSizeKB": 5}
    ]
    assert data["messenger"]["apps"]["conversations"]["autoStart"] == {"enabled": True}
    assert config.allowed_media() == {
        "inbound": {"fileTypes": [{"type": "image/png"}], "maxFileSizeKB": 5}
    }
