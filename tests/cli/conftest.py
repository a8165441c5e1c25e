"""The CLI's tests run ``main()`` in this process: whatever logging it changes is put back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # main() undoes its --verbose handler itself (tested); this guards the rest of the
    # suite should that ever regress: a handler left on a closed capture stream prints
    # "--- Logging error ---" at every later record.
    loggers = [logging.getLogger(n) for n in ("webchat_async", "websockets", "httpx")]
    saved = [(logger, logger.level, list(logger.handlers)) for logger in loggers]
    yield
    for logger, level, handlers in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
