"""docs/tutorial.md, run as a reader would (issue 25, item 9).

Every block of the page is used as printed: the files it says to save are written to an
empty directory and type-checked with ``mypy --strict``; the shell blocks are run line by
line, each command as a real process (``webchat-async`` is ``python -m webchat_async``,
``pytest`` and ``python`` this interpreter). What the reader does by hand is done here:

- ``python -m venv`` / ``pip install`` are not run (this environment has the packages; the
  extra the page names is checked to exist), nor ``redis-server``: the test's Redis is used;
  ``export WEBCHAT_REDIS_URL=...`` sets it to that Redis (database 15, emptied of the
  fleet's keys before and after);
- the simulator gets ``--port 0`` (the page's 8080 may be taken), and its printed URL is
  given to ``start_chats.py`` in ``WEBCHAT_BASE_URL``, as the page allows;
- "kill ``w1`` without warning" is ``SIGKILL`` to the process of ``w1``.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_blocks import blocks
from typecheck import mypy_strict

import webchat_async

pytest.importorskip("aiohttp")
pytest.importorskip("pytest_asyncio")

ROOT = Path(webchat_async.__file__).resolve().parents[1]
PAGE = "tutorial.md"
TIMEOUT = 30.0


class Process:
    """A command started in the background; its output read line by line as it comes."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self.popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern: str) -> re.Match[str]:
        """The first line from now on that matches ``pattern`` (a regex)."""
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"{self.argv}: no {pattern!r} in {self.seen}") from None
            if line is None:
                raise AssertionError(f"{self.argv} ended without {pattern!r}: {self.seen}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            self.popen.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.reader.join(TIMEOUT)  # the output read to its end
        if self.popen.stdout is not None:
            self.popen.stdout.close()


def commands() -> Iterator[list[str]]:
    """Each command line of the page's shell blocks, split as the shell would."""
    for block in blocks(PAGE):
        if block.lang != "bash":
            continue
        for line in block.code.splitlines():
            for command in line.split(" && "):
                words = shlex.split(command, comments=True)
                if words:
                    yield words


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = os.environ.get("WEBCHAT_REDIS_URL")
    if not url:
        if os.environ.get("WEBCHAT_REQUIRE_REDIS") == "1":
            pytest.fail("WEBCHAT_REQUIRE_REDIS=1 but WEBCHAT_REDIS_URL is not set")
        pytest.skip("no Redis (WEBCHAT_REDIS_URL)")
    redis = pytest.importorskip("redis")
    url = re.sub(r"(/\d+)?$", "/15", url, count=1)
    client = redis.Redis.from_url(url)

    def clear() -> None:
        for key in client.scan_iter("webchat:*"):
            client.delete(key)

    clear()
    yield url
    clear()
    client.close()


def test_the_files_type_check(tmp_path: Path) -> None:
    files = {b.file: b.code for b in blocks(PAGE) if b.file}
    assert set(files) == {"mybot.py", "pytest.ini", "test_mybot.py", "start_chats.py"}
    sources = {
        name.removesuffix(".py"): code for name, code in files.items() if name.endswith(".py")
    }
    assert mypy_strict(tmp_path, sources) == {name: [] for name in sources}


def test_the_tutorial_runs_as_printed(tmp_path: Path, redis_url: str) -> None:
    for block in blocks(PAGE):
        if block.file:
            (tmp_path / block.file).write_text(block.code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBCHAT_", "GENESYS_"))}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    pyproject = (ROOT / "pyproject.toml").read_text()
    background: dict[str, Process] = {}
    ran: list[str] = []
    try:
        for words in commands():
            program, args = words[0], words[1:]
            ran.append(" ".join(words))
            if program in (".", "redis-server") or words[:3] == ["python", "-m", "venv"]:
                continue  # the reader's setup; this environment has it
            if program == "pip":
                for requirement in args[1:]:
                    extra = re.search(r"\[(\w+)\]", requirement)
                    if extra:
                        assert re.search(rf"^{extra[1]} = \[", pyproject, re.M), requirement
                continue
            if program == "export":
                name, _, _value = args[0].partition("=")
                assert name == "WEBCHAT_REDIS_URL"
                env[name] = redis_url
                continue
            if program == "pytest":
                done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                           tmp_path, env)  # fmt: skip
                assert re.search(r"^2 passed", done, re.M), done
                continue
            assert program in ("webchat-async", "python"), words
            module = ["-m", "webchat_async"] if program == "webchat-async" else []
            argv = [sys.executable, *module, *args]
            if args[:1] == ["simulator"]:
                sim = background["simulator"] = Process([*argv, "--port", "0"], tmp_path, env)
                url = sim.expect(r"listening on (http://\S+)")[1]
                organization = sim.expect(r"organization id: (\S+)")[1]
                deployment = sim.expect(r"deployment id: +(\S+)")[1]
                sim.expect("Press Ctrl")
                script = (tmp_path / "start_chats.py").read_text()
                # With --seed 1, the ids the page copied from the simulator's output.
                assert f'ORGANIZATION_ID = "{organization}"' in script
                assert f'DEPLOYMENT_ID = "{deployment}"' in script
                env["WEBCHAT_BASE_URL"] = url
            elif args[:1] == ["worker"]:
                name = args[args.index("--worker-id") + 1]
                background[name] = Process(argv, tmp_path, env)
                background[name].expect(rf"worker {name}: registered, taking chats")
            elif args[:1] == ["start_chats.py"]:
                started = run(argv, tmp_path, env)
                owners = re.findall(r"^\w+: chat (\S+) on worker (\w+)$", started, re.M)
                assert len(owners) == 4 and {w for _, w in owners} == {"w1", "w2"}, started
            elif args[:1] == ["status"]:
                status = run(argv, tmp_path, env)
                assert "workers: 2 live of 2" in status, status
            else:
                raise AssertionError(f"a command the test does not know: {words}")
        assert ran[-2:] == ["python start_chats.py", "webchat-async status"]
        # "kill w1 without warning": w2 takes each of its chats over once the lease ran out.
        of_w1 = sorted(chat for chat, worker in owners if worker == "w1")
        background.pop("w1").stop(signal.SIGKILL)
        taken = [background["w2"].expect(r"took chat (\S+) over from w1")[1] for _ in of_w1]
        assert sorted(taken) == of_w1
        status = run([sys.executable, "-m", "webchat_async", "status"], tmp_path, env)
        rows = [line.split() for line in status.splitlines()]
        # chat, protocol, owner, token, leaseLeft
        assert sorted(r[0] for r in rows if len(r) == 5 and r[2] == "w2") == sorted(
            chat for chat, _ in owners
        ), status
    finally:
        for process in reversed(background.values()):
            process.stop()


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout
