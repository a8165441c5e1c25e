"""Server text made safe for a terminal: control characters shown, never obeyed.

Everything the CLI prints that a server (or a peer in the chat) chose, message bodies,
display names, member ids, notices, error texts, goes through :func:`printable` first. A
terminal obeys ANSI / OSC escape sequences (``ESC ] 0 ; title BEL`` retitles the window,
``ESC [ 2 J`` clears it, OSC 52 can write the clipboard), and C1 controls such as U+009B
(CSI in one character) do the same on many terminals; a carriage return or a bidi override
lets a line pretend to be another. So these characters are shown as Python-style escapes,
``\\x1b``, ``\\u202e``, not stripped: the reader sees that something was there.

What is escaped: every C0 control (U+0000-U+001F, newline and tab included), DEL and the C1
controls (U+007F-U+009F), the line and paragraph separators (U+2028, U+2029), the bidi
controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), lone surrogates (which a
UTF-8 terminal cannot even be sent), and the backslash itself, so that the mapping is
one-to-one: ``\\x1b`` on screen was an escape character, ``\\\\x1b`` was the four
characters a server typed. Newlines are escaped too (``\\n``): one event is one line, so an
agent's text cannot forge a transcript line of its own. Everything else, accents, emoji and
their joiners, passes unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["PrintableFormatter", "printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escape(code: int) -> str:
    named = _NAMED.get(chr(code))
    if named is not None:
        return named
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE: dict[int, str] = {
    code: _escape(code)
    for code in (
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        0x2028,
        0x2029,
        *_BIDI,
        *range(0xD800, 0xE000),
        ord("\\"),
    )
}


def printable(text: str) -> str:
    """``text`` with every character a terminal could obey written as a visible escape.

    One-to-one (distinct texts stay distinct) and without any control character, line
    break or bidi control in the result; plain text (no backslash, no control) is returned
    unchanged.
    """
    return text.translate(_TABLE)


class PrintableFormatter(logging.Formatter):
    """Log lines for a terminal: frames and error texts from a server are in the records,
    so their control characters are shown escaped (a traceback keeps its line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        text = super().formatException(ei)
        return "\n".join(printable(line) for line in text.split("\n"))

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(printable(line) for line in stack_info.split("\n"))
