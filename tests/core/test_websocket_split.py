"""``split_frames``, the pure core of the lean websocket read path, against a model.

For any frames (text at the length encodings' boundaries, control frames, fragments,
binary, reserved bits and opcodes, masked, non-minimal lengths) after any junk: the
payloads taken are the leading run of whole FIN text frames, the stop is at the first
other frame with the right kind and end; and for every prefix of the buffer the result
is consistent with the whole one, a MORE never asks for more than the frame's end, and
growing the buffer to that end always makes progress.
"""

from __future__ import annotations

from collections import deque

from hypothesis import example, given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from tests.core.ws_support import frame, pattern
from webchat_async._websocket import CONTROL, HAND_OVER, MORE, split_frames

SIZES = st.one_of(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536]), st.integers(0, 300))
ODD_FIRST = [
    0x01, 0x00, 0x80, 0x82, 0x02, 0x88, 0x89, 0x8A, 0x08, 0x09, 0x0A,
    0xC1, 0xA1, 0x91, 0x83, 0x87, 0x8B, 0xC9, 0x8F,
]  # fmt: skip
CONTROLS = {0x88, 0x89, 0x8A}

Spec = tuple[int, int, str, bool]  # first byte, payload size, length form, mask bit

specs = st.tuples(
    st.one_of(st.just(0x81), st.sampled_from(ODD_FIRST)),
    SIZES,
    st.sampled_from(["min", "min", "min", "16", "64"]),
    st.sampled_from([False] * 6 + [True]),
)
text_specs = st.tuples(st.just(0x81), SIZES, st.just("min"), st.just(False))
MAX_SIZES = st.sampled_from([0, 125, 126, 300, 65535, 65536, 2**20, 2**63])


def build(junk: bytes, frames: list[Spec]) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """The buffer, and each frame's (start, end, payload)."""
    parts = [junk]
    where = []
    at = len(junk)
    for i, (first, size, form, masked) in enumerate(frames):
        payload = pattern(size, i)
        data = frame(first, payload, form=form, masked=masked)
        parts.append(data)
        where.append((at, at + len(data), payload))
        at += len(data)
    return b"".join(parts), where


def model(
    frames: list[Spec], where: list[tuple[int, int, bytes]], n: int, max_size: int
) -> tuple[list[bytes], int, int, int]:
    """What ``split_frames`` must return for the whole buffer."""
    payloads = []
    for (first, size, _form, masked), (start, end, payload) in zip(frames, where, strict=True):
        if masked:
            return payloads, start, HAND_OVER, n
        if first == 0x81 and size <= max_size:
            payloads.append(payload)
            continue
        if first in CONTROLS and size <= 125:
            return payloads, start, CONTROL, end
        return payloads, start, HAND_OVER, n
    return payloads, n, MORE, n + 2


def run(buf: bytes, pos: int, max_size: int) -> tuple[list[bytes], int, int, int]:
    out: deque[bytes] = deque()
    got = split_frames(buf, pos, max_size, out)
    return list(out), *got


def test_the_frames_websockets_serializes_are_the_ones_built_here() -> None:
    for size in (0, 1, 125, 126, 127, 65535, 65536):
        payload = pattern(size, size)
        for opcode, first in ((Opcode.TEXT, 0x81), (Opcode.BINARY, 0x82)):
            assert Frame(opcode, payload).serialize(mask=False) == frame(first, payload)
    assert Frame(Opcode.PING, b"x").serialize(mask=False) == frame(0x89, b"x")
    assert Frame(Opcode.TEXT, b"ab", fin=False).serialize(mask=False) == frame(0x01, b"ab")


@settings(max_examples=1000)
@example(junk=b"", frames=[(0x88, 126, "min", False)], max_size=2**20, cuts=[])
@example(junk=b"x", frames=[(0x89, 5, "16", False)], max_size=0, cuts=[3])
@example(junk=b"", frames=[(0x81, 126, "min", False)], max_size=125, cuts=[])
@given(
    junk=st.binary(max_size=12),
    frames=st.lists(st.one_of(text_specs, specs), max_size=7),
    max_size=MAX_SIZES,
    cuts=st.lists(st.integers(0, 2**20), max_size=12),
)
def test_split_frames_follows_the_model_on_the_buffer_and_every_prefix(
    junk: bytes, frames: list[Spec], max_size: int, cuts: list[int]
) -> None:
    buf, where = build(junk, frames)
    n = len(buf)
    pos0 = len(junk)
    want = model(frames, where, n, max_size)
    assert run(buf, pos0, max_size) == want
    full_payloads, full_pos, full_stop, full_end = want

    ends = {start: end for start, end, _ in where}
    ends[n] = n + 2
    # The prefixes that matter most (each frame's first bytes, the byte before its end)
    # and a few anywhere.
    lengths = {pos0 + c % (n - pos0 + 1) for c in cuts}
    for start, end, _ in where:
        near = (0, 1, 2, 3, 4, 9, 10, 11)
        lengths.update(k for k in (*(start + d for d in near), end - 1, end) if k <= n)
    for k in sorted(lengths):
        prefix = buf[:k]
        payloads, pos, stop, end = run(prefix, pos0, max_size)
        assert pos in ends and pos <= full_pos
        assert payloads == full_payloads[: len(payloads)]
        taken = [p for s, _, p in where if s < pos]
        assert payloads == taken  # every frame before pos was a text frame it took
        if stop == MORE:
            assert pos <= k < end <= ends[pos]
            if end <= n:  # growing the buffer to end moves on
                _, pos2, stop2, end2 = run(buf[:end], pos0, max_size)
                assert pos2 > pos or stop2 != MORE or end2 > end
        elif stop == CONTROL:
            assert (pos, stop, end) == (full_pos, full_stop, full_end)
        else:
            assert (pos, stop) == (full_pos, HAND_OVER) and end == k
