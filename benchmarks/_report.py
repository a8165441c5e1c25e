"""Writing the results: ``latest.json`` (everything) and ``latest.md`` (tables for the README)."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._harness import ROOT, Result, Stats

__all__ = ["environment", "markdown", "write"]

_PACKAGES = (
    "webchat-async",
    "httpx",
    "httpcore",
    "anyio",
    "sniffio",
    "websockets",
    "attrs",
    "cattrs",
    "aiohttp",
)


def environment() -> dict[str, Any]:
    """Where the results come from: machine, Python, library versions, commit."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": versions,
        "commit": commit,
    }


def _num(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _with_unit(value: float, unit: str) -> str:
    return f"{_num(value)}{unit}" if unit == "x" else f"{_num(value)} {unit}"


def _spread(stats: Stats) -> str:
    return f"{_num(stats.q1)} to {_num(stats.q3)}"


def _range(stats: Stats) -> str:
    return f"{_num(stats.min)} to {_num(stats.max)}"


def markdown(results: Sequence[Result], env: dict[str, Any], *, command: str) -> str:
    """The goals table and the table of every figure."""
    packages = env["packages"]
    lines = [
        f"Measured with `{command}` on {env['cpus']} CPUs, {env['implementation']} "
        f"{env['python']}, httpx {packages['httpx']}, websockets {packages['websockets']}, "
        f"cattrs {packages['cattrs']} (commit {env['commit']}, {env['date']}). "
        "Medians over several runs; ratios are SDK / baseline, taken pair by pair.",
        "",
        "| Goal | Measured (median) | Limit | Met |",
        "|---|---:|---:|:---:|",
    ]
    for result in results:
        for check in result.checks:
            bound = ">=" if check.at_least else "<="
            lines.append(
                f"| {check.label} | {_with_unit(check.value, check.unit)} | "
                f"{bound} {_with_unit(check.limit, check.unit)} | "
                f"{'yes' if check.met else '**no**'} |"
            )
    lines += [
        "",
        "| Benchmark | Figure | Median | IQR | Min to max | Runs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        for figure in result.figures:
            s = figure.stats
            lines.append(
                f"| {result.title} | {figure.label} | {_with_unit(s.median, s.unit)} | "
                f"{_spread(s)} | {_range(s)} | {s.n} |"
            )
    notes = [(r.title, n) for r in results for n in r.notes]
    if notes:
        lines.append("")
        lines += [f"- {title}: {note}" for title, note in notes]
    return "\n".join(lines) + "\n"


def write(
    results: Sequence[Result], directory: Path, *, command: str, seconds: float
) -> tuple[Path, Path]:
    """Write ``latest.json`` and ``latest.md`` in ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    env = environment()
    data = {
        "command": command,
        "environment": env,
        "seconds": round(seconds, 1),
        "results": [r.to_json() for r in results],
        "goals_met": all(c.met for r in results for c in r.checks),
    }
    json_path = directory / "latest.json"
    md_path = directory / "latest.md"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results, env, command=command), encoding="utf-8")
    return json_path, md_path
