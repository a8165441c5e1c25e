"""MkDocs hooks: the version in the site's name, and the docstrings' Sphinx roles as links.

The docstrings cross-reference with Sphinx roles (``:class:`~webchat_async.api.WebChatApi```),
which mkdocstrings leaves as text: ``:class:`` followed by the code. Each becomes an
mkdocs-autorefs reference to the object's entry in the API reference (a link once autorefs
resolves it at the end of the build; plain code when the object has no entry, such as a
private helper), and a ``~``-prefixed path shows its last name only, as Sphinx would.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):<code>(~?)([^<]*)</code>")
_VERSION = re.compile(r'^version = "([^"]+)"', re.M)


def _link(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    shown = target.rsplit(".", 1)[-1] if tilde else target
    code = f"<code>{shown}</code>"
    if "." not in target:  # a bare name: no path to resolve
        return code
    # `optional`: autorefs leaves the title alone, without a warning, when nothing matches.
    return f'<autoref identifier="{html.escape(target)}" optional>{code}</autoref>'


def on_config(config: Any, **_: Any) -> Any:
    """Name the site with the package's version (from pyproject.toml)."""
    pyproject = Path(config["config_file_path"]).parent / "pyproject.toml"
    found = _VERSION.search(pyproject.read_text(encoding="utf-8"))
    if found:
        config["site_name"] = f"{config['site_name']} {found[1]}"
    return config


def on_page_content(html_text: str, **_: Any) -> str:
    """Rewrite each role once the page's HTML exists (before autorefs resolves links)."""
    return _ROLE.sub(_link, html_text)
