"""A pytest plugin: the simulator as fixtures for your own tests.

Installed with the package (a ``pytest11`` entry point), so there is nothing to import or
register. It needs pytest-asyncio (aiohttp, which the simulator serves with, is a dependency
of the SDK), and works in pytest-asyncio's ``strict`` and ``auto`` modes:

```python
import pytest
from webchat_async import MessageReceived


@pytest.mark.asyncio  # not needed with asyncio_mode = "auto"
async def test_my_bot(webchat_simulator, guest_session):
    session = await guest_session("Ann")
    await session.send_message("Where is my order?")
    ...
```

Fixtures:

* ``webchat_simulator``: a running :class:`~webchat_async.simulator.Simulator` on
  127.0.0.1 and a free port (``base_url``, ``organization_id``, ``deployment_id``,
  ``agent``, ``faults``, ``agent_say`` ...), stopped after the test. Configure it with the
  ``webchat_simulator`` marker, whose keywords go to ``Simulator(...)``:
  ``@pytest.mark.webchat_simulator(agent=Agent(name="Kim", reply=reply))``. For the same
  ids on every run, give it a seed: ``@pytest.mark.webchat_simulator(seed=1)``, or for
  every test ``--webchat-simulator-seed 1`` (ini: ``webchat_simulator_seed = 1``).
* ``guest_session``: a :class:`GuestSessionFactory`; ``await guest_session("Ann")`` starts
  a :class:`~webchat_async.GuestSession` on that simulator. Every session it started is
  closed (and leaves its conversation) after the test.
* ``messaging_session``: a :class:`MessagingSessionFactory`; ``await messaging_session()``
  starts a :class:`~webchat_async.messaging.MessagingSession` (Web Messaging) on the same
  simulator. Every session it started is closed after the test.

An environment without aiohttp or pytest-asyncio (aiohttp missing: an install made with
``--no-deps``) loads the plugin without error; only a test that asks for these fixtures
fails, saying what to install.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .messaging import CoreOptions, MessagingSession
    from .models import GuestMemberInfo, WebChatRoutingTarget
    from .session import GuestSession, SessionOptions
    from .simulator import Simulator

__all__ = [
    "GuestSessionFactory",
    "MessagingSessionFactory",
    "guest_session",
    "messaging_session",
    "webchat_simulator",
]

#: The ``Origin`` a :class:`MessagingSessionFactory` session sends by default.
DEFAULT_ORIGIN = "https://shop.example"

_MARKER = "webchat_simulator"


_SEED_INI = "webchat_simulator_seed"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--webchat-simulator-seed N`` (or the ini option ``webchat_simulator_seed``): the
    ``webchat_simulator`` fixture's ``Simulator(seed=N)``, for the same ids on every run."""
    help_text = (
        "seed of the webchat_simulator fixture's Simulator: the same ids on every run "
        "(the marker's seed= wins; default: random ids)"
    )
    parser.addini(_SEED_INI, help_text, default=None)
    parser.addoption("--webchat-simulator-seed", type=int, default=None, help=help_text)


def _seed(config: pytest.Config) -> int | None:
    option: int | None = config.getoption("webchat_simulator_seed", default=None)
    if option is not None:
        return option
    text = config.getini(_SEED_INI)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise pytest.UsageError(f"{_SEED_INI} must be a whole number, got {text!r}") from None


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so ``--strict-markers`` accepts it); check the seed option."""
    _seed(config)  # a bad ini value stops the run at once, not in each test
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): keywords for the Simulator of the webchat_simulator fixture "
        "(agent=, heartbeat_interval=, routing_delay=, reconnect_grace=, ...)",
    )


class GuestSessionFactory:
    """Starts guest sessions on the test's simulator; the fixture closes them all after it.

    Args:
        simulator: where the sessions are started.
    """

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self._sessions: list[GuestSession] = []

    @property
    def sessions(self) -> list[GuestSession]:
        """The sessions started so far, oldest first."""
        return list(self._sessions)

    async def __call__(
        self,
        display_name: str = "Guest",
        *,
        member_info: GuestMemberInfo | None = None,
        routing_target: WebChatRoutingTarget | None = None,
        options: SessionOptions | None = None,
    ) -> GuestSession:
        """Start a session (conversation created, event stream attached) as ``display_name``
        (or ``member_info``, which wins)."""
        from .models import GuestMemberInfo
        from .session import GuestSession

        sim = self._simulator
        session = await GuestSession.start(
            organization_id=sim.organization_id,
            deployment_id=sim.deployment_id,
            member_info=member_info or GuestMemberInfo(display_name=display_name),
            base_url=sim.base_url,
            routing_target=routing_target,
            options=options,
        )
        self._sessions.append(session)
        return session

    async def aclose(self) -> None:
        """Close every session started (each leaves its conversation unless told not to);
        raises the first error once all are closed."""
        sessions, self._sessions = self._sessions, []
        results = await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


class MessagingSessionFactory:
    """Starts Web Messaging sessions on the test's simulator; the fixture closes them all
    after it.

    Args:
        simulator: where the sessions are started.
    """

    def __init__(self, simulator: Simulator) -> None:
        self._simulator = simulator
        self._sessions: list[MessagingSession] = []

    @property
    def sessions(self) -> list[MessagingSession]:
        """The sessions started so far, oldest first."""
        return list(self._sessions)

    async def __call__(
        self,
        *,
        token: str | None = None,
        origin: str = DEFAULT_ORIGIN,
        options: CoreOptions | None = None,
    ) -> MessagingSession:
        """Start a session (configured on its socket); ``token`` reattaches an earlier one."""
        from .messaging import MessagingSession

        sim = self._simulator
        session = await MessagingSession.start(
            deployment_id=sim.deployment_id,
            base_url=sim.base_url,
            origin=origin,
            token=token,
            options=options,
            proxy=None,
        )
        self._sessions.append(session)
        return session

    async def aclose(self) -> None:
        """Close every session started; raises the first error once all are closed."""
        sessions, self._sessions = self._sessions, []
        results = await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _simulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
    seed = _seed(request.config)
    if seed is not None:
        options["seed"] = seed
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{_MARKER} takes keywords only")
        options.update(marker.kwargs)
    return options


def _require_aiohttp() -> None:
    try:
        import aiohttp  # noqa: F401
    except ImportError as exc:
        missing = str(exc)
    else:
        return
    # Outside the except block: the message alone, not the ImportError chained to it.
    pytest.fail(
        f"the {_MARKER} fixture needs aiohttp, a dependency of webchat-async that is not "
        f"installed here: pip install aiohttp ({missing})",
        pytrace=False,
    )


try:
    import pytest_asyncio
except ImportError:
    _PYTEST_ASYNCIO = False
else:
    _PYTEST_ASYNCIO = True

if _PYTEST_ASYNCIO:
    # pytest_asyncio.fixture, not pytest.fixture: in strict mode only these run as async
    # fixtures; in auto mode both would.

    @pytest_asyncio.fixture
    async def webchat_simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
        """A running :class:`~webchat_async.simulator.Simulator` on 127.0.0.1, any port;
        keywords of the ``webchat_simulator`` marker configure it. Stopped after the test."""
        _require_aiohttp()
        from .simulator import Simulator

        async with Simulator(**_simulator_options(request)) as sim:
            yield sim

    @pytest_asyncio.fixture
    async def guest_session(webchat_simulator: Simulator) -> AsyncIterator[GuestSessionFactory]:
        """``await guest_session("Ann")`` starts a session on ``webchat_simulator``; every
        session started is closed (and leaves) after the test."""
        factory = GuestSessionFactory(webchat_simulator)
        try:
            yield factory
        finally:
            await factory.aclose()

    @pytest_asyncio.fixture
    async def messaging_session(
        webchat_simulator: Simulator,
    ) -> AsyncIterator[MessagingSessionFactory]:
        """``await messaging_session()`` starts a Web Messaging session on
        ``webchat_simulator``; every session started is closed after the test."""
        factory = MessagingSessionFactory(webchat_simulator)
        try:
            yield factory
        finally:
            await factory.aclose()

else:  # the fixtures fail when used, saying what is missing
    _MISSING = "the webchat-async fixtures need pytest-asyncio: pip install pytest-asyncio"

    @pytest.fixture
    def webchat_simulator() -> Any:
        """A running simulator (needs pytest-asyncio)."""
        pytest.fail(_MISSING, pytrace=False)

    @pytest.fixture
    def guest_session() -> Any:
        """A factory of guest sessions on ``webchat_simulator`` (needs pytest-asyncio)."""
        pytest.fail(_MISSING, pytrace=False)

    @pytest.fixture
    def messaging_session() -> Any:
        """A factory of Web Messaging sessions on ``webchat_simulator`` (needs
        pytest-asyncio)."""
        pytest.fail(_MISSING, pytrace=False)
