"""What the guides say about defaults and the admin API matches the code (issue 27, item 5)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from webchat_async import SessionOptions
from webchat_async.simulator import Simulator, _admin

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", ["ping_interval", "dead_peer_timeout", "max_reconnect_window"])
def test_reconnect_page_states_the_defaults_of_the_code(name: str) -> None:
    text = (DOCS / "reconnect.md").read_text()
    said = re.findall(rf"`?{name}`? \((\d+(?:\.\d+)?) s\)", text)
    assert said, f"docs/reconnect.md no longer gives {name}'s default"
    default = getattr(SessionOptions(), name)
    assert {float(s) for s in said} == {float(default)}, name


def test_reconnect_page_describes_the_position_not_a_window_of_ids() -> None:
    text = (DOCS / "reconnect.md").read_text()
    assert "bounded window" not in text
    assert "position" in text


async def test_admin_page_lists_every_route_and_agent_action_with_its_fields(
    simulator: Simulator,
) -> None:
    page = (DOCS / "simulator-admin.md").read_text()
    async with httpx.AsyncClient(base_url=simulator.base_url) as http:
        routes = (await http.get("/__simulator__/")).json()["routes"]
    assert len(routes) >= 10
    for route in routes:
        path = route["path"].replace("{conversationId}", "{id}")
        assert f"`{route['method']} {path}`" in page, route
    for action, (required, optional) in _admin._AGENT_FIELDS.items():
        row = next((line for line in page.splitlines() if line.startswith(f"| `{action}` |")), "")
        assert row, action
        for field in (*required, *optional):
            assert f"`{field}`" in row, (action, field)
    for action in _admin._FAULT_ACTIONS:
        assert f"`{action}`" in page, action


def test_service_page_says_what_a_restart_does_to_open_chats() -> None:
    from webchat_async.service import _MODES

    text = (DOCS / "service.md").read_text()
    # The default a service author must know about, stated as the code has it.
    assert SessionOptions().leave_on_exit is True
    assert "`leave_on_exit=True`" in text
    rows = re.findall(r"^\| `\"(\w+)\"`", text, re.M)
    assert sorted(rows) == sorted(_MODES)
    assert "## The same saved session resumed twice" in text
