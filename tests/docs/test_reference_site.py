"""The documentation site reads like a reference (issue 25, item 8).

The docstrings are Markdown (no reStructuredText ``::`` literal blocks, which the site showed
raw); the built site lists the models' fields with their types and defaults, links the
docstrings' cross-references, hides the sessions' internal constructor parameters, names
the version, and documents every command of the CLI.
"""

from __future__ import annotations

import ast
import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

import webchat_async

ROOT = Path(webchat_async.__file__).resolve().parents[1]
PACKAGE = ROOT / "webchat_async"


def docstrings() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                text = ast.get_docstring(node, clean=True)
                if text:
                    found.append((f"{path.relative_to(ROOT)}:{getattr(node, 'name', '')}", text))
    return found


def test_no_docstring_has_a_restructuredtext_literal_block() -> None:
    raw = [
        where
        for where, text in docstrings()
        # A private module's docstring is not on the site; the CLI's transcript sample is one.
        if re.search(r"\S::$", text, re.M) and "_transcript" not in where
    ]
    assert raw == []


def test_the_cli_page_documents_every_command() -> None:
    from webchat_async.cli import _parser

    parser = _parser()
    (subparsers,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    usage = page.split("```text\n", 1)[1].split("```", 1)[0]
    for command in subparsers.choices:  # type: ignore[attr-defined]
        assert f"webchat-async {command} " in usage, command


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out


def text_of(site: Path, page: str) -> str:
    raw = (site / page / "index.html").read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", raw)))


def test_models_list_their_fields_with_types_and_defaults(site: Path) -> None:
    models = text_of(site, "reference/models")
    assert "body_type: BodyType | None = None" in models
    assert "display_name: str | None = None" in models
    assert "_Model" not in models  # the private base is not shown


def test_the_session_page_hides_internal_parameters(site: Path) -> None:
    session = text_of(site, "reference/session")
    for internal in ("owned_apis", "event_stream_uri: str", "position: Position"):
        assert internal not in session


def test_cross_references_are_links_and_no_role_is_left(site: Path) -> None:
    raw = (site / "reference" / "session" / "index.html").read_text(encoding="utf-8")
    assert 'href="../api/#webchat_async.api.WebChatApi"' in raw
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert ":class:" not in text and "Example::" not in text, page
        assert "<autoref " not in text, page


def test_the_site_names_its_version_and_repository(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f"<title>webchat-async {webchat_async.__version__}</title>" in index
    assert "https://github.com/webchat-async/webchat-async" in index
    assert "tutorial/" in index and "workers/" in index
