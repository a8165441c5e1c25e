"""``Simulator(seed=...)``: the same ids on every run (issue 25, item 6).

A seeded simulator hands out the same organization, deployment, conversation, member and
message ids in the same order on every run, so a test's or a tutorial's output repeats; the
secrets stay random. The same seed reaches it from ``webchat-async simulator --seed`` and the
pytest plugin (``--webchat-simulator-seed``, the ``webchat_simulator_seed`` ini option, or the
marker's ``seed=``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import webchat_async
from webchat_async import Backoff, MessageReceived
from webchat_async.cli._simulator import add_simulator_arguments, simulator_options
from webchat_async.models import GuestMemberInfo
from webchat_async.session import GuestSession
from webchat_async.simulator import Simulator

pytest_plugins = ["pytester"]

#: This checkout, first on the subprocess's path (the editable install may be another one).
ROOT = str(Path(webchat_async.__file__).resolve().parents[1])


async def one_chat(seed: int | None) -> list[str]:
    """Every id a short chat shows, in order, plus the secrets."""
    async with Simulator(port=0, heartbeat_interval=None, seed=seed) as sim:
        async with GuestSession.start(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=GuestMemberInfo(display_name="Ann"),
            base_url=sim.base_url,
            backoff=Backoff.none(),
            proxy=None,
        ) as session:
            await session.send_message("hello")
            await session.wait_for(
                lambda e: isinstance(e, MessageReceived) and e.message.body == "You said: hello",
                timeout=10,
            )
            conversation = sim.state.conversations[session.conversation_id]
            ids = [sim.organization_id, sim.deployment_id, session.conversation_id]
            ids += [m for m in conversation.members]
            ids += [m.id or "" for m in conversation.messages]
            return [*ids, "secret:" + sim.client_secret]


async def test_the_same_seed_gives_the_same_ids() -> None:
    first = await one_chat(7)
    second = await one_chat(7)
    assert first[:-1] == second[:-1]
    assert len(set(first[:-1])) == len(first) - 1  # all distinct
    # Secrets are never derived from the seed.
    assert first[-1] != second[-1]


async def test_another_seed_or_none_gives_other_ids() -> None:
    seeded = await one_chat(7)
    assert set(await one_chat(8)).isdisjoint(seeded)
    assert set(await one_chat(None)).isdisjoint(await one_chat(None))


def test_the_command_line_seed_reaches_the_simulator() -> None:
    parser = argparse.ArgumentParser()
    add_simulator_arguments(parser)
    assert simulator_options(parser.parse_args(["--seed", "3"]))["seed"] == 3
    assert simulator_options(parser.parse_args([]))["seed"] is None
    assert Simulator(seed=3).organization_id == Simulator(seed=3).organization_id
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "three"])


PLUGIN_TEST = """
import pytest

ORGS = []


MARK
async def test_one(webchat_simulator):
    ORGS.append(webchat_simulator.organization_id)


MARK
async def test_two(webchat_simulator):
    ORGS.append(webchat_simulator.organization_id)
    assert (ORGS[0] == ORGS[1]) is SAME
"""


@pytest.mark.parametrize(
    ("mark", "args", "ini", "same"),
    [
        ("", (), "", False),
        ("", ("--webchat-simulator-seed", "5"), "", True),
        ("", (), "webchat_simulator_seed = 5\n", True),
    ],
)
def test_the_plugin_takes_a_seed(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    mark: str,
    args: tuple[str, ...],
    ini: str,
    same: bool,
) -> None:
    pytest.importorskip("pytest_asyncio")
    monkeypatch.setenv("PYTHONPATH", ROOT)
    pytester.makepyfile(test_user=PLUGIN_TEST.replace("MARK", mark).replace("SAME", str(same)))
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n" + ini
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=2)


def test_a_bad_ini_seed_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytest_asyncio")
    monkeypatch.setenv("PYTHONPATH", ROOT)
    pytester.makepyfile(test_user=PLUGIN_TEST.replace("MARK", "").replace("SAME", "True"))
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "webchat_simulator_seed = five\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(["*webchat_simulator_seed must be a whole number, got 'five'*"])
