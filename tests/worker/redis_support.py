"""A real Redis for the fleet tests and the chaos script.

``WEBCHAT_REDIS_URL`` names a running server (CI starts Redis 7 on a free port and exports
it); otherwise ``redis-server`` from PATH is started on 127.0.0.1 on a free port and stopped
afterwards; otherwise the tests skip, unless ``WEBCHAT_REQUIRE_REDIS=1`` makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webchat_async.worker import RedisStore

__all__ = ["PrivateRedis", "RedisUnavailable", "private_redis", "redis_server"]


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


class PrivateRedis:
    """A ``redis-server`` of one test alone (never the shared one), on a free port of
    127.0.0.1 without persistence, that the test can restart empty, pause and resume."""

    def __init__(self, binary: str, workdir: str, timeout: float = 10.0) -> None:
        self._binary = binary
        self._workdir = workdir
        self._timeout = timeout
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (empty) and wait until it answers PING."""
        self.process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + self._timeout
        while not _answers(self.port):  # the server's state "accepting connections"
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RedisUnavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (SIGKILL: nothing is saved) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused one must die too
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart_empty(self) -> None:
        """Kill the server and start a new, empty one on the same port."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: the server answers again, state intact."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A :class:`PrivateRedis`, started, stopped afterwards (``RedisUnavailable`` without
    a ``redis-server`` binary)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable("no redis-server on PATH (apt-get install redis-server)")
    with tempfile.TemporaryDirectory() as workdir:
        server = PrivateRedis(binary, workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextlib.asynccontextmanager
async def redis_store_at(
    url: str, prefix: str, clock: Callable[[], float] | None = None
) -> AsyncIterator[RedisStore]:
    """A :class:`RedisStore` under ``prefix``; its keys are deleted afterwards."""
    from webchat_async.worker import RedisStore

    store = RedisStore.from_url(url, prefix=prefix, clock=clock)
    try:
        yield store
    finally:
        keys = [k async for k in store.client.scan_iter(match=f"{prefix}*")]
        if keys:
            await store.client.delete(*keys)
        await store.aclose()
