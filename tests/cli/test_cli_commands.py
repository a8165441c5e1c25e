"""The ``webchat-async`` command: demo transcript, admin commands, one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from webchat_async.cli import format_table, main
from webchat_async.cli._demo import GUEST_LINES, run_demo

pytest.importorskip("aiohttp")

from webchat_async.simulator import Simulator


async def test_demo_prints_a_whole_conversation_in_order() -> None:
    out = io.StringIO()
    assert await run_demo(fast=True, out=out) == 0
    lines = out.getvalue().splitlines()
    text = "\n".join(lines)
    expected_in_order = [
        "simulator listening on http://127.0.0.1:",
        "Sam (agent) joined the chat",
        "Sam (agent): Hello, I'm Sam. How can I help you today?",
        f"Ann (you): {GUEST_LINES[0]}",
        "Sam (agent) is typing",
        "Sam (agent): Order 1042 shipped yesterday",
        f"Ann (you): {GUEST_LINES[1]}",
        "media request SCREENSHARE (PENDING)",
        "Ann accepted the request (ACCEPTED)",
        f"Ann (you): {GUEST_LINES[2]}",
        "Sam (agent): You're welcome!",
        "Ann leaves the chat",
        "the chat has ended",
        "demo finished",
    ]
    position = 0
    for fragment in expected_in_order:
        found = text.find(fragment, position)
        assert found >= 0, f"{fragment!r} missing after position {position} in:\n{text}"
        position = found
    assert "member " not in text  # every member was named, none shown by id
    assert "eyJ" not in text  # no JWT


def test_demo_command_runs_as_the_readme_says() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webchat_async", "demo", "--fast"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "the chat has ended" in done.stdout and "demo finished" in done.stdout


async def _cli(*args: str) -> int:
    # main() runs its own event loop, so it runs in a thread beside the simulator's.
    return await asyncio.to_thread(main, list(args))


@pytest.fixture
def admin_env(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    monkeypatch.setenv("WEBCHAT_BASE_URL", simulator.base_url)
    monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
    monkeypatch.delenv("GENESYS_REGION", raising=False)
    return simulator


async def test_deployments_crud_and_settings(
    admin_env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _cli("deployments", "create", "--name", "Support", "--json") == 0
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "Support" and created["id"] in admin_env.state.deployments

    assert await _cli("deployments", "update", created["id"], "--description", "Tier 1") == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == [
        "id",
        "name",
        "disabled",
        "authenticationRequired",
        "allowedDomains",
    ]
    assert admin_env.state.deployments[created["id"]].description == "Tier 1"
    # PUT replaced the deployment from the current one: the name survived the update.
    assert admin_env.state.deployments[created["id"]].name == "Support"

    assert await _cli("deployments", "list", "--json") == 0
    names = sorted(d["name"] for d in json.loads(capsys.readouterr().out))
    assert names == ["Simulator default", "Support"]

    assert await _cli("settings", "set", "--require-deployment", "true") == 0
    capsys.readouterr()
    assert await _cli("settings", "get", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"requireDeployment": True}

    assert await _cli("deployments", "delete", created["id"]) == 0
    assert created["id"] not in admin_env.state.deployments


async def test_errors_are_one_line_without_secrets(
    admin_env: Simulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _cli("deployments", "get", "no-such-deployment") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "404" in err and "not.found" in err and "contextId" in err

    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "wrong-secret-value")
    assert await _cli("--verbose", "deployments", "list") == 1
    captured = capsys.readouterr()
    assert "401" in captured.err.splitlines()[-1]
    assert "wrong-secret-value" not in captured.out + captured.err
    assert admin_env.client_secret not in captured.out + captured.err


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENESYS_ORGANIZATION_ID", raising=False)
    monkeypatch.delenv("GENESYS_DEPLOYMENT_ID", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["chat", "--base-url", "http://127.0.0.1:9"])
    assert exc.value.code == 2
    monkeypatch.delenv("GENESYS_CLIENT_SECRET", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["deployments", "list", "--client-id", "x"])
    assert exc.value.code == 2


def test_format_table() -> None:
    rows = [{"id": "a", "flag": True, "list": ["x", "y"]}, {"id": "bb", "flag": None}]
    assert format_table(rows, ["id", "flag", "list"]).splitlines() == [
        "id  flag  list",
        "a   yes   x,y",
        "bb  -     -",
    ]
    assert format_table([], ["id"]).splitlines() == ["id", "(none)"]


async def test_simulator_command_serves_until_interrupted() -> None:
    import signal

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "webchat_async", "simulator", "--port", "0",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 20)
        base_url = first.decode().split()[-1]
        assert base_url.startswith("http://127.0.0.1:")
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 20)).decode() for _ in range(4)]
        assert [line.split(":")[0] for line in lines] == [
            "organization id",
            "deployment id",
            "client id",
            "client secret",
        ]
        # It really serves: the OAuth endpoint answers the printed credentials.
        import httpx

        client_id, secret = (line.split(":", 1)[1].strip() for line in lines[2:])
        async with httpx.AsyncClient() as client:
            token = await client.post(
                f"{base_url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
        assert token.status_code == 200 and token.json()["access_token"]
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_a_bad_argument_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "secret-value")
    monkeypatch.delenv("WEBCHAT_BASE_URL", raising=False)
    assert main(["deployments", "list", "--region", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown region 'nowhere'") and len(err.splitlines()) == 1
    assert main(["deployments", "list", "--base-url", "http://example.com"]) == 2
    err = capsys.readouterr().err
    assert "http://" in err and "Traceback" not in err and "secret-value" not in err


def _run(
    *args: str, code: str | None = None, module: str = "webchat_async"
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", module]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    from webchat_async import __version__

    done = _run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"webchat-async {__version__}"


def _walk(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, f"{path} {name}")
        else:
            yield path, action


def test_every_option_has_help_text() -> None:
    from webchat_async.cli import _parser

    actions = list(_walk(_parser()))
    assert len(actions) > 50
    missing = [f"{path} {a.dest}" for path, a in actions if not (a.help or "").strip()]
    assert missing == []


def test_help_lists_the_environment_variables() -> None:
    variables = [
        "GENESYS_ORGANIZATION_ID",
        "GENESYS_DEPLOYMENT_ID",
        "GENESYS_REGION",
        "WEBCHAT_BASE_URL",
        "GENESYS_CLIENT_ID",
        "GENESYS_CLIENT_SECRET",
    ]
    for command in ([], ["chat"], ["deployments", "list"], ["settings", "set"]):
        done = _run(*command, "--help")
        assert done.returncode == 0, done.stderr
        assert [v for v in variables if v not in done.stdout] == [], command


def test_simulator_help_is_the_modules_help() -> None:
    cli = _run("simulator", "--help")
    module = _run("--help", module="webchat_async.simulator")
    assert cli.returncode == module.returncode == 0, cli.stderr + module.stderr

    def options(text: str) -> list[str]:
        return [line.split()[0] for line in text.splitlines() if line.startswith("  -")]

    assert options(cli.stdout) == options(module.stdout)
    assert "--port PORT" in cli.stdout and "0 picks a free one" in cli.stdout
    assert cli.stdout.split("options:")[1] == module.stdout.split("options:")[1]


@pytest.mark.parametrize("command", ["demo", "simulator"])
def test_without_aiohttp_the_commands_say_what_to_install(command: str) -> None:
    # An install without dependencies has no aiohttp: None in sys.modules makes its import
    # fail exactly as a missing package does.
    code = (
        "import sys; sys.modules['aiohttp'] = None; "
        "from webchat_async.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = _run(command, code=code)
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "needs aiohttp" in line and "pip install aiohttp (" in line


async def test_verbose_logging_is_put_back_when_main_returns(
    admin_env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ("webchat_async", "websockets", "httpx")
    before = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names}
    assert await _cli("--verbose", "deployments", "list") == 0
    captured = capsys.readouterr()
    assert "DEBUG" in captured.err  # the log was on during the run
    after = {n: (logging.getLogger(n).level, list(logging.getLogger(n).handlers)) for n in names}
    assert after == before
