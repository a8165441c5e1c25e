"""Run ``mypy --strict`` on snippets of user code, as a user's CI would (not a test module)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def mypy_strict(directory: Path, sources: dict[str, str]) -> dict[str, list[str]]:
    """Write each ``name -> source`` as ``name.py`` and type-check them in one run.

    Returns the error lines of each file by name (an empty list: the file type-checks).
    """
    pytest.importorskip("mypy")
    for name, source in sources.items():
        (directory / f"{name}.py").write_text(source)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(directory / ".mypy_cache"),
            *(f"{name}.py" for name in sources),
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1) or result.stderr.strip():
        raise AssertionError(f"mypy did not run: {result.stderr or result.stdout}")
    errors: dict[str, list[str]] = {name: [] for name in sources}
    for line in result.stdout.splitlines():
        file, _, rest = line.partition(".py:")
        if file in errors and ": error:" in rest:
            errors[file].append(rest)
    return errors
