"""Server text reaches the terminal escaped: control sequences are shown, never obeyed."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import unicodedata
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webchat_async.cli import format_table, main
from webchat_async.cli._console import Console
from webchat_async.cli._safe import printable

pytest.importorskip("aiohttp")

from aiohttp import web

from webchat_async.models import WebChatDeployment
from webchat_async.simulator import Simulator

# A window title (OSC 0), a screen clear, CSI in one C1 character, a bidi override, a
# carriage return that would draw a forged line over the real one, a newline.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31mred\u202eevil\r[00:00:00.000] Bob (you): yes\nnext"
SHOWN = r"\x1b]0;pwned\x07\x1b[2J\x9b31mred\u202eevil\r[00:00:00.000] Bob (you): yes\nnext"
RAW_PIECES = ("\x1b]", "\x1b[2J", "\x07", "\x9b", "\u202e", "\ryes", "\nnext")

_ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|(.))", re.DOTALL)
_NAMED = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}


def _unescape(shown: str) -> str:
    """The inverse of printable(), written independently of it."""

    def one(match: re.Match[str]) -> str:
        hex2, hex4, named = match.groups()
        if named is not None:
            return _NAMED[named]
        return chr(int(hex2 or hex4, 16))

    return _ESCAPE.sub(one, shown)


def _obeyable(ch: str) -> bool:
    """A character a terminal could act on (or a UTF-8 terminal could not be sent)."""
    category = unicodedata.category(ch)
    return category in ("Cc", "Cs", "Zl", "Zp") or unicodedata.bidirectional(ch) in (
        "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI", "LRM", "RLM", "ALM",
    )  # fmt: skip


def test_printable_shows_escapes_and_keeps_plain_text() -> None:
    assert printable(HOSTILE) == SHOWN
    assert printable("Olá 👩‍💻, 2 > 1 «ok»") == "Olá 👩‍💻, 2 > 1 «ok»"
    assert printable("a\\x1b") == "a\\\\x1b"  # typed, not an escape: distinct on screen
    assert printable("\ud800\x7f\x00\t") == "\\ud800\\x7f\\x00\\t"


@given(st.text(alphabet=st.characters(codec=None)))
def test_printable_output_has_nothing_a_terminal_obeys(text: str) -> None:
    shown = printable(text)
    assert not any(_obeyable(ch) for ch in shown)
    shown.encode("utf-8")  # no lone surrogate left: a UTF-8 terminal can be sent it


@given(st.text(alphabet=st.characters(codec=None)))
def test_printable_is_reversible(text: str) -> None:
    assert _unescape(printable(text)) == text


@given(st.text(), st.text())
def test_printable_keeps_distinct_texts_distinct(a: str, b: str) -> None:
    if a != b:
        assert printable(a) != printable(b)


class _Pipe:
    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.file = os.fdopen(self.read_fd, "r")

    def close(self) -> None:
        self.file.close()
        os.close(self.write_fd)


async def test_console_shows_lines_escaped_on_a_terminal_and_a_pipe() -> None:
    for tty in (False, True):
        pipe = _Pipe()
        out = io.StringIO()
        console = Console(prompt="> ", stdin=pipe.file, stdout=out)
        console._tty = tty
        try:
            console.show(f"Sam: {HOSTILE}")
            console.feed("pasted \x9b2J")  # a C1 control typed or pasted is echoed escaped
        finally:
            pipe.close()
        written = out.getvalue()
        assert f"Sam: {SHOWN}\n" in written
        assert not any(piece in written for piece in RAW_PIECES)
        if tty:
            assert written.endswith("\r\x1b[2K> pasted \\x9b2J")


def test_format_table_escapes_cells() -> None:
    table = format_table(
        [{"id": "d\x1b[8m", "name": HOSTILE, "tags": ["\x9b1m"]}], ("id", "name", "tags")
    )
    assert SHOWN in table and "d\\x1b[8m" in table and "\\x9b1m" in table
    assert not any(piece in table for piece in RAW_PIECES)
    assert len(table.splitlines()) == 2


async def _cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_admin_table_of_a_hostile_deployment_name_is_escaped(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.state.add_deployment(WebChatDeployment(name=HOSTILE))
    monkeypatch.setenv("WEBCHAT_BASE_URL", simulator.base_url)
    monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
    monkeypatch.delenv("GENESYS_REGION", raising=False)
    assert await _cli("deployments", "list") == 0
    out = capsys.readouterr().out
    assert SHOWN in out
    assert not any(piece in out for piece in RAW_PIECES)


@pytest.fixture
async def hostile_server() -> AsyncIterator[str]:
    """A server whose OAuth works and whose every API answer is an error with HOSTILE text."""

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t", "token_type": "bearer", "expires_in": 60})

    async def refuse(request: web.Request) -> web.Response:
        body = {"status": 400, "code": "bad.request", "message": HOSTILE, "contextId": "c1"}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_post("/oauth/token", token)
    app.router.add_route("*", "/api/v2/{tail:.*}", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_an_error_text_from_the_server_is_escaped(
    hostile_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEBCHAT_BASE_URL", hostile_server)
    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "secret")
    monkeypatch.delenv("GENESYS_REGION", raising=False)
    assert await _cli("--verbose", "deployments", "list") == 1
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and "pwned" in last
    assert not any(piece in err for piece in RAW_PIECES)


def test_verbose_log_lines_are_escaped() -> None:
    from webchat_async.cli._safe import PrintableFormatter

    formatter = PrintableFormatter("%(message)s")
    record = logging.LogRecord(
        "webchat_async.x", logging.DEBUG, __file__, 1, "frame %r %s", (1, HOSTILE), None
    )
    assert formatter.format(record) == f"frame 1 {SHOWN}"
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    formatted = formatter.format(record)
    assert formatted.startswith(f"frame 1 {SHOWN}\nTraceback")
    # A traceback keeps its line breaks (the exception's own newline among them); every
    # other control character is escaped.
    assert not any(piece in formatted for piece in RAW_PIECES if piece != "\nnext")
