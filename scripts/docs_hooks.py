"""MkDocs hook: show the docstrings' Sphinx roles as plain code in the API reference.

The docstrings cross-reference with Sphinx roles (``:class:`~webchat_async.api.WebChatApi```),
which mkdocstrings leaves as text: ``:class:`` followed by the code. Keep the code, drop the
role, and shorten a ``~``-prefixed path to its last name, as Sphinx would.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    """Rewrite each role once the page's HTML exists."""
    return _ROLE.sub(_plain, html)
