"""A real Redis for the fleet tests and the chaos script.

``WEBCHAT_REDIS_URL`` names a running server (CI starts Redis 7 on a free port and exports
it); otherwise ``redis-server`` from PATH is started on 127.0.0.1 on a free port and stopped
afterwards; otherwise the tests skip, unless ``WEBCHAT_REQUIRE_REDIS=1`` makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["RedisUnavailable", "redis_server"]


class RedisUnavailable(Exception):
    """Neither ``WEBCHAT_REDIS_URL`` nor a ``redis-server`` binary."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[str]:
    """The URL of a Redis to use (``redis://127.0.0.1:PORT/0``), started if need be."""
    url = os.environ.get("WEBCHAT_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(
            "no Redis: set WEBCHAT_REDIS_URL or put redis-server on PATH "
            "(apt-get install redis-server)"
        )
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not _answers(port):  # wait for the state "accepting connections"
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RedisUnavailable(f"redis-server did not start on port {port}")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
