"""What the installed distribution tells pip, PyPI and pytest: license, links, entry points."""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

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


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the other versions run it too
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def _requirements(project: dict[str, Any]) -> dict[str, list[str]]:
    """Every requirement by where it is declared ("" for the core dependencies)."""
    where = {"": project["dependencies"]}
    where.update(project["optional-dependencies"])
    return where


def _floor(requirement: str) -> tuple[int, ...] | None:
    found = re.search(r">=\s*([\d.]+)", requirement)
    return tuple(map(int, found.group(1).split("."))) if found else None


def test_aiohttp_admits_no_release_with_a_known_cve_anywhere() -> None:
    # CVE-2024-52303 and CVE-2024-52304 (fixed in 3.10.11), CVE-2025-53643 (3.12.14).
    named = [
        (extra, r)
        for extra, reqs in _requirements(_pyproject()).items()
        for r in reqs
        if re.match(r"aiohttp\b", r)
    ]
    assert named and all((_floor(r) or ()) >= (3, 12, 14) for _, r in named), named


def test_no_redundant_extras_and_linters_apart_from_the_tests() -> None:
    extras = _pyproject()["optional-dependencies"]
    # aiohttp is a core dependency (no `simulator` extra); `redis` alone brings redis-py.
    assert "simulator" not in extras and "worker" not in extras
    assert extras["redis"] == ["redis>=5.0.1"]
    names = {e: {re.split(r"[<>=!~\[ ]", r)[0] for r in reqs} for e, reqs in extras.items()}
    assert "ruff" not in names["test"] and {"ruff", "mypy"} <= names["lint"]


def test_cattrs_has_a_floor_and_a_cap() -> None:
    (cattrs,) = [r for r in _pyproject()["dependencies"] if r.startswith("cattrs")]
    # get_structure_hook (webchat_async/_convert.py) came in 24.1.
    assert (_floor(cattrs) or ()) >= (24, 1) and "<" in cattrs


def _audit_module() -> Any:
    spec = importlib.util.spec_from_file_location("ci_audit", ROOT / "scripts/ci/audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vuln(vuln_id: str, alias: str) -> dict[str, Any]:
    return {"id": vuln_id, "aliases": [alias], "fix_versions": ["9.9"]}


def test_the_audit_fails_on_runtime_findings_and_unlisted_tool_findings() -> None:
    audit = _audit_module()
    runtime = {"webchat-async", "aiohttp"}
    ignores, problems = audit.read_ignores(
        "# tools only\nnbconvert GHSA-aaaa the docs build only reads our own notebooks\n"
        "pytest PYSEC-1\n"  # no reason: refused
    )
    assert len(ignores) == 1 and len(problems) == 1
    report = {
        "dependencies": [
            {"name": "webchat-async", "skip_reason": "not on PyPI"},
            {"name": "aiohttp", "version": "3.10.10", "vulns": [_vuln("GHSA-x", "CVE-2024-52303")]},
            {"name": "nbconvert", "version": "7.0", "vulns": [_vuln("GHSA-aaaa", "CVE-1")]},
            {"name": "ipykernel", "version": "6.0", "vulns": [_vuln("GHSA-bbbb", "CVE-2")]},
            {"name": "Ruff", "version": "0.1", "skip_reason": "not found on PyPI"},
        ]
    }
    failures, notes = audit.decide(report, runtime, ignores)
    assert any("aiohttp 3.10.10" in f and "CVE-2024-52303" in f for f in failures)
    assert any(f.startswith("ipykernel") for f in failures)
    assert not any("nbconvert" in f for f in failures)
    assert any("nbconvert" in n and "ignored" in n for n in notes)
    assert any(n.startswith("ruff: not audited") for n in notes)
    assert len(failures) == 2


def test_the_audit_fails_when_a_runtime_dependency_could_not_be_audited() -> None:
    audit = _audit_module()
    report = {"dependencies": [{"name": "aiohttp", "skip_reason": "not found on PyPI"}]}
    failures, _ = audit.decide(report, {"webchat-async", "aiohttp"}, [])
    assert failures == ["aiohttp: runtime dependency not audited: not found on PyPI"]
    # A runtime dependency cannot be waved through by the ignore file.
    (entry,), _ = audit.read_ignores("aiohttp GHSA-x fixed soon")
    clean = {"dependencies": [{"name": "aiohttp", "version": "3.13", "vulns": []}]}
    failures, _ = audit.decide(clean, {"aiohttp"}, [entry])
    assert failures and "cannot be ignored" in failures[0]


def test_the_audit_tells_a_service_without_data_from_a_clean_audit() -> None:
    audit = _audit_module()
    none_had_data = {
        "dependencies": [
            {"name": "webchat-async", "version": "0.1.0", "vulns": []},
            {"name": "aiohttp", "skip_reason": "Dependency not found on PyPI"},
            {"name": "ruff", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    assert not audit.ran(none_had_data)
    one_had_data = {
        "dependencies": [
            {"name": "aiohttp", "skip_reason": "Dependency not found on PyPI"},
            {"name": "attrs", "version": "25.1.0", "vulns": []},
        ]
    }
    assert audit.ran(one_had_data)
    # Once the service answered for anything, an unaudited runtime dependency fails.
    failures, _ = audit.decide(one_had_data, {"webchat-async", "aiohttp", "attrs"}, [])
    assert failures == ["aiohttp: runtime dependency not audited: Dependency not found on PyPI"]
