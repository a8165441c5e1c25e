"""A typed line longer than the terminal stays on one row (issue 25, item 5).

The editor redraws ``prompt + line`` after clearing the cursor's row; a line that had
wrapped would leave its upper rows behind at every keystroke. So the row shows the prompt,
``…`` and the end of the line (where the cursor is), in at most ``columns - 1`` cells; the
whole line is still what Enter sends.
"""

from __future__ import annotations

import io
import os
import unicodedata

from webchat_async.cli._console import Console

CLEAR = "\r\x1b[2K"


def cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def last_row(out: io.StringIO) -> str:
    return out.getvalue().rsplit(CLEAR, 1)[-1]


async def test_a_long_line_shows_its_end_on_one_row() -> None:
    read_fd, write_fd = os.pipe()
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin:
        console = Console(prompt="> ", stdin=stdin, stdout=out, columns=lambda: 20)
        console._tty = True  # the terminal editor, without a terminal
        console.feed("short")
        assert last_row(out) == "> short"
        text = "the quick brown fox jumps over the lazy dog"
        console.feed("\x15" + text)  # Ctrl-U, then a line longer than the row
        console.feed("!")
        row = last_row(out)
        assert row == "> \u2026er the lazy dog!"
        assert cells(row) == 19  # never the last column: no wrap
        console.show("Sam: a line from the agent")  # the prompt is drawn again, fitted
        assert last_row(out) == row
        console.feed("\r")
        assert await console.readline() == text + "!"
    os.close(write_fd)


async def test_wide_characters_count_two_columns() -> None:
    read_fd, write_fd = os.pipe()
    out = io.StringIO()
    with os.fdopen(read_fd) as stdin:
        console = Console(prompt="> ", stdin=stdin, stdout=out, columns=lambda: 12)
        console._tty = True
        console.feed("日本語のテキストです")
        row = last_row(out)
        assert cells(row) <= 11
        assert row == "> \u2026ストです"  # 2 + 1 + 4 * 2 = 11 cells

        console.feed("\r")
        assert await console.readline() == "日本語のテキストです"
    os.close(write_fd)
