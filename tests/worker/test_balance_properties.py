"""Properties of ``shed_count`` (the pure core of rebalancing), on a model of the store's
placement: every handed chat goes to the least loaded other worker. Workers scan at any
moments, several of them from the same snapshot; the fleet must settle within the slack in
a few rounds, with no worker that received chats handing any over later (nothing comes
back), and no more chats moved than the first imbalance needs plus the rounding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async.worker._balance import shed_count

PROPERTY = settings(max_examples=300, deadline=None, database=None)


def spread(loads: dict[str, int]) -> int:
    return max(loads.values()) - min(loads.values())


def hand_over(loads: dict[str, int], sender: str) -> str:
    """The store's placement: the least loaded live worker other than the sender."""
    target = min((w for w in loads if w != sender), key=lambda w: loads[w])
    loads[sender] -= 1
    loads[target] += 1
    return target


@PROPERTY
@given(
    initial=st.lists(st.integers(0, 60), min_size=2, max_size=8),
    slack=st.integers(1, 4),
    data=st.data(),
)
def test_the_fleet_settles_within_the_slack_and_no_chat_comes_back(
    initial: list[int], slack: int, data: st.DataObject
) -> None:
    loads = {f"w{i}": load for i, load in enumerate(initial)}
    total = sum(initial)
    n = len(initial)
    first_need = max(
        sum(max(0, x - math.ceil(total / n)) for x in initial),
        sum(max(0, total // n - x) for x in initial),
    )
    received: set[str] = set()
    moved = 0
    for _ in range(12):
        # Every worker scans once a round, in any order; a group scans from one snapshot
        # (at the same moment), the next group after the first's hand-overs landed.
        order = data.draw(st.permutations(sorted(loads)))
        cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=n - 1)))
        groups = [order[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
        for group in groups:
            snapshot = dict(loads)
            plan = {w: shed_count(snapshot, w, slack=slack) for w in group}
            for w, k in plan.items():
                assert 0 <= k <= snapshot[w]
                if k:
                    assert w not in received, "a worker that received chats hands some over"
            sends = data.draw(st.permutations([w for w, k in plan.items() for _ in range(k)]))
            for w in sends:
                received.add(hand_over(loads, w))
                moved += 1
        if all(shed_count(loads, w, slack=slack) == 0 for w in loads):
            break
    assert all(shed_count(loads, w, slack=slack) == 0 for w in loads), loads
    assert spread(loads) <= slack + 1
    assert sum(loads.values()) == total
    assert moved <= first_need + n


@PROPERTY
@given(
    initial=st.lists(st.integers(0, 80), min_size=2, max_size=10),
    slack=st.integers(1, 4),
    data=st.data(),
)
def test_workers_shedding_from_one_scan_hand_over_exactly_what_is_needed(
    initial: list[int], slack: int, data: st.DataObject
) -> None:
    loads = {f"w{i}": load for i, load in enumerate(initial)}
    total, n = sum(initial), len(initial)
    hi = math.ceil(total / n)
    plan = {w: shed_count(loads, w, slack=slack) for w in loads}
    if not any(plan.values()):
        return
    need = max(sum(max(0, x - hi) for x in initial), sum(max(0, total // n - x) for x in initial))
    assert sum(plan.values()) == need
    receivers = set()
    for w in data.draw(st.permutations([w for w, k in plan.items() for _ in range(k)])):
        receivers.add(hand_over(loads, w))
    assert all(loads[w] <= hi for w in receivers - set(plan))
    assert spread(loads) <= 1 + (1 if total % n else 0)


@PROPERTY
@given(initial=st.lists(st.integers(0, 200), min_size=1, max_size=10), slack=st.integers(0, 5))
def test_a_fleet_within_the_slack_moves_nothing(initial: list[int], slack: int) -> None:
    loads = {f"w{i}": load for i, load in enumerate(initial)}
    plans = [shed_count(loads, w, slack=slack) for w in loads]
    if spread(loads) <= slack + 1:
        assert plans == [0] * len(loads)
    else:
        assert sum(plans) > 0  # past the slack, somebody acts
    assert all(k <= loads[w] for w, k in zip(loads, plans, strict=True))


def test_a_late_worker_gets_its_share_of_three_full_ones() -> None:
    loads = {"a": 100, "b": 100, "c": 100, "late": 0}
    assert [shed_count(loads, w, slack=1) for w in loads] == [25, 25, 25, 0]
    # 30 over four: 7 or 8 each; the three shed 7 in all (a and b keep 8), not 3 each.
    loads = {"a": 10, "b": 10, "c": 10, "late": 0}
    assert [shed_count(loads, w, slack=1) for w in loads] == [2, 2, 3, 0]


def test_equal_loads_and_one_apart_move_nothing() -> None:
    assert shed_count({"a": 5, "b": 5}, "a", slack=1) == 0
    assert shed_count({"a": 6, "b": 5}, "a", slack=0) == 0
    assert shed_count({"a": 7, "b": 5}, "a", slack=1) == 0
    assert shed_count({"a": 8, "b": 5}, "a", slack=1) == 1  # to 7 and 6


def test_a_negative_slack_is_refused() -> None:
    with pytest.raises(ValueError, match="slack"):
        shed_count({"a": 1}, "a", slack=-1)
