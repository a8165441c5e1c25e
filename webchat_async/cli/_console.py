"""A tiny asyncio terminal for the interactive chat: read lines, print above them.

Incoming messages must not garble the line the person is typing, and keystrokes should
drive typing indicators. ``input()`` in a thread can do neither, and prompt_toolkit would be
a heavy dependency for one prompt, so on a terminal this reads keys in cbreak mode and
redraws ``prompt + buffer`` under every line it prints. On a pipe or a file it reads plain
lines and prints plainly. POSIX only (termios); the rest of the SDK has no such limit.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import os
import sys
import unicodedata
from collections.abc import Callable
from typing import Any, TextIO

from ._safe import printable

__all__ = ["Console"]

_CLEAR_LINE = "\r\x1b[2K"


class Console:
    """Line input and event output that share one terminal.

    Use as an async context manager; :meth:`readline` returns the next line the person
    entered (``None`` at end of input) and :meth:`show` prints a line above the prompt.

    Args:
        prompt: shown before the line being typed (terminal only).
        on_key: called after each keystroke that changes the line (to send typing).
        columns: the terminal's width in columns, asked at each redraw (default: the
            output's terminal size, 80 when unknown).
    """

    def __init__(
        self,
        prompt: str = "> ",
        *,
        on_key: Callable[[], None] | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        columns: Callable[[], int] | None = None,
    ) -> None:
        self._prompt = prompt
        self._columns = columns if columns is not None else self._terminal_columns
        self._on_key = on_key
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stdout
        self._fd = self._in.fileno()
        self._tty = os.isatty(self._fd)
        self._buffer: list[str] = []
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._saved_mode: list[Any] | None = None
        self._reading = False
        self._escape = ""
        self._finished = False

    @property
    def interactive(self) -> bool:
        """Whether input comes from a terminal (key by key) rather than a pipe."""
        return self._tty

    async def __aenter__(self) -> Console:
        loop = asyncio.get_running_loop()
        if self._tty:
            import termios
            import tty

            self._saved_mode = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)  # keeps ISIG, so Ctrl-C still interrupts
        try:
            loop.add_reader(self._fd, self._on_readable)
            self._reading = True
        except (PermissionError, OSError):
            # A regular file cannot be polled; it never blocks, so read it at once.
            for line in self._in.read().splitlines():
                self._lines.put_nowait(line)
            self._lines.put_nowait(None)
        self._redraw()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._reading = False
        if self._saved_mode is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved_mode)
            self._saved_mode = None
            # Erase the prompt rather than leave it above the shell's: the chat is over.
            self.finish()

    async def readline(self) -> str | None:
        """The next line entered, without its newline; ``None`` at end of input."""
        return await self._lines.get()

    def show(self, line: str) -> None:
        """Print ``line`` above the prompt, keeping what is being typed intact.

        Control characters in ``line`` are shown escaped (:func:`printable`), never sent
        to the terminal as they are: the lines carry server text.
        """
        line = printable(line)
        if self._tty:
            self._out.write(_CLEAR_LINE + line + "\n")
            self._redraw()
        else:
            self._out.write(line + "\n")
            self._out.flush()

    def finish(self) -> None:
        """Erase the prompt and draw it no more: lines shown later stand alone."""
        if self._tty and not self._finished:
            self._out.write(_CLEAR_LINE)
            self._out.flush()
        self._finished = True

    def _redraw(self) -> None:
        if self._tty and not self._finished:
            # A pasted C1 or bidi control is in the buffer (it is text); shown escaped.
            line = self._fit(printable(self._prompt), printable("".join(self._buffer)))
            self._out.write(_CLEAR_LINE + line)
            self._out.flush()

    def _fit(self, prompt: str, typed: str) -> str:
        """The prompt and as much of the end of ``typed`` (where the cursor is) as fits on
        one row. A line that wrapped could not be redrawn: ``CLEAR_LINE`` erases only the
        row the cursor is on, so each keystroke would leave a copy of the rows above."""
        room = max(self._columns(), 2) - 1  # the last column would wrap on some terminals
        if _cells(prompt) + _cells(typed) <= room:
            return prompt + typed
        room -= _cells(prompt) + 1  # the prompt and the "…" that says text is hidden
        tail: list[str] = []
        for ch in reversed(typed):
            room -= _cell(ch)
            if room < 0:
                break
            tail.append(ch)
        return prompt + "\u2026" + "".join(reversed(tail))

    def _terminal_columns(self) -> int:
        try:
            return os.get_terminal_size(self._out.fileno()).columns or 80
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return 80

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self._end()
            return
        text = self._decoder.decode(data)
        if not self._tty:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._lines.put_nowait(line.rstrip("\r"))
            return
        self.feed(text)

    def feed(self, text: str) -> None:
        """Process typed characters (public for tests of the line editor)."""
        changed = False
        for ch in text:
            if self._escape:
                # Swallow escape sequences (arrow keys and the like): ESC [ ... final byte.
                self._escape += ch
                if len(self._escape) > 2 and ("@" <= ch <= "~"):
                    self._escape = ""
                elif len(self._escape) == 2 and ch != "[":
                    self._escape = ""
                continue
            if ch == "\x1b":
                self._escape = ch
            elif ch in ("\r", "\n"):
                line = "".join(self._buffer)
                self._buffer.clear()
                self._out.write(_CLEAR_LINE)
                self._lines.put_nowait(line)
            elif ch in ("\x7f", "\x08"):
                if self._buffer:
                    self._buffer.pop()
                    changed = True
            elif ch == "\x15":  # Ctrl-U
                self._buffer.clear()
                changed = True
            elif ch == "\x04":  # Ctrl-D
                if not self._buffer:
                    self._end()
                    return
            elif ch >= " ":
                self._buffer.append(ch)
                changed = True
        self._redraw()
        if changed and self._on_key is not None:
            self._on_key()

    def _end(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._reading = False
        if self._pending:
            self._lines.put_nowait(self._pending)
            self._pending = ""
        self._lines.put_nowait(None)


def _cell(ch: str) -> int:
    """Columns one character takes: 2 for wide (CJK, most emoji), 0 for a combining mark."""
    if unicodedata.combining(ch) or ch == "\u200d":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _cells(text: str) -> int:
    return sum(map(_cell, text))
