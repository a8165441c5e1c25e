"""What the installed distribution tells pip, PyPI and pytest: license, links, entry points."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_is_the_mit_license_the_metadata_names() -> None:
    meta = metadata.metadata("webchat-async")
    assert meta["License-Expression"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_project_urls() -> None:
    urls = dict(u.split(", ", 1) for u in metadata.metadata("webchat-async").get_all("Project-URL"))
    assert {"Homepage", "Repository", "Documentation", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_entry_points_of_the_command_and_the_pytest_plugin() -> None:
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["webchat-async"] == "webchat_async.cli:main"
    plugins = {e.name: e.value for e in metadata.entry_points(group="pytest11")}
    assert plugins["webchat_async"] == "webchat_async.pytest_plugin"
