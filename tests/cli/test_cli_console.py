"""The console line editor: keys build a line, Enter yields it, output keeps the prompt."""

from __future__ import annotations

import io
import os

from webchat_async.cli._console import Console


class _Pipe:
    """A readable file object with a real descriptor (Console needs fileno())."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.file = os.fdopen(self.read_fd, "r")

    def close(self) -> None:
        self.file.close()
        os.close(self.write_fd)


async def test_piped_lines_are_read_in_order_then_end() -> None:
    pipe = _Pipe()
    out = io.StringIO()
    try:
        async with Console(stdin=pipe.file, stdout=out) as console:
            assert not console.interactive
            os.write(pipe.write_fd, b"hello\nsecond li")
            assert await console.readline() == "hello"
            os.write(pipe.write_fd, b"ne\n")
            assert await console.readline() == "second line"
            os.close(pipe.write_fd)
            pipe.write_fd = os.open(os.devnull, os.O_RDONLY)  # so close() has something to close
            assert await console.readline() is None
            console.show("incoming")
    finally:
        pipe.close()
    assert out.getvalue() == "incoming\n"


async def test_line_editor_keys_backspace_escape_and_typing_callback() -> None:
    pipe = _Pipe()
    out = io.StringIO()
    keys: list[int] = []
    console = Console(prompt="> ", stdin=pipe.file, stdout=out, on_key=lambda: keys.append(1))
    console._tty = True  # exercise the terminal editor without a terminal
    try:
        console.feed("helo")
        console.feed("\x7f")  # backspace
        console.feed("\x1b[D")  # left arrow: swallowed
        console.feed("lo wörld\r")
        assert await console.readline() == "hello wörld"
        assert len(keys) == 3  # three feeds changed the line; Enter did not
        console.feed("abc")
        console.show("Sam: hi")
        # The incoming line is printed on a cleared line, then the prompt and the
        # half-typed text are drawn again below it.
        assert out.getvalue().endswith("\r\x1b[2KSam: hi\n\r\x1b[2K> abc")
        console.feed("\x15x\n")  # Ctrl-U clears the line
        assert await console.readline() == "x"
    finally:
        pipe.close()
