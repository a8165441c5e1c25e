"""Audit an installed set of packages with pip-audit; fail on what the SDK ships with.

    python scripts/ci/audit.py --python .ci-venv/py3.11/bin/python \
        --pip-audit /tmp/tools/bin/pip-audit --ignore scripts/ci/audit-ignore.txt

pip-audit runs from its own venv (so its own dependencies are not audited) against the
site-packages of ``--python``'s venv, and asks PyPI's vulnerability data for each
installed version. Then:

* a known vulnerability in a **runtime dependency** of webchat-async (its
  ``Requires-Dist`` without extras, followed transitively) fails, whatever the ignore file
  says: users install those;
* a runtime dependency that **could not be audited** (PyPI has no data for that version,
  the service did not answer) fails too: an audit that did not happen is not a pass;
* a vulnerability in anything else (test, lint, docs and interop tools) fails unless the
  ignore file lists it with a reason; packages that could not be audited are listed;
* when **no** installed version at all could be audited (the machine reaches a package
  index that serves no vulnerability data, as the sandboxed CI machines do: PyPI's
  per-version JSON answers 404 there), the audit did not run: it says so in its last line
  and exits 0, unless ``--strict`` (then 1). One package audited is enough for the rules
  above to apply.

The ignore file has one finding a line, ``PACKAGE VULN-ID reason...`` (``#`` starts a
comment); an entry without a reason, or naming a runtime dependency, is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["Ignore", "decide", "ran", "read_ignores", "runtime_closure"]

_PROJECT = "webchat-async"


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Ignore:
    """One accepted finding of the ignore file."""

    def __init__(self, package: str, vuln_id: str, reason: str) -> None:
        self.package = canonical(package)
        self.vuln_id = vuln_id
        self.reason = reason


def read_ignores(text: str) -> tuple[list[Ignore], list[str]]:
    """The entries of an ignore file, and the problems found in it."""
    entries: list[Ignore] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            problems.append(f"ignore file line {number}: needs PACKAGE VULN-ID reason: {raw!r}")
            continue
        entries.append(Ignore(*parts))
    return entries, problems


def runtime_closure(distributions: Mapping[str, metadata.Distribution]) -> set[str]:
    """webchat-async and what it needs at run time (no extras), transitively."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [canonical(_PROJECT)]
    while todo:
        name = todo.pop()
        if name in seen or name not in distributions:
            continue
        seen.add(name)
        for text in distributions[name].requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            todo.append(canonical(requirement.name))
    return seen


def decide(
    report: Mapping[str, Any], runtime: set[str], ignores: Iterable[Ignore]
) -> tuple[list[str], list[str]]:
    """``(failures, notes)`` for a pip-audit JSON report."""
    failures: list[str] = []
    notes: list[str] = []
    accepted = {(i.package, i.vuln_id): i for i in ignores}
    used: set[tuple[str, str]] = set()
    for key in accepted:
        if key[0] in runtime:
            failures.append(
                f"ignore file: {key[0]} is a runtime dependency of {_PROJECT}; its findings "
                "cannot be ignored"
            )
    for dependency in report.get("dependencies", []):
        name = canonical(dependency["name"])
        is_runtime = name in runtime
        skipped = dependency.get("skip_reason")
        if skipped:
            if name == canonical(_PROJECT):
                continue  # the project itself is not on PyPI at this version
            if is_runtime:
                failures.append(f"{name}: runtime dependency not audited: {skipped}")
            else:
                notes.append(f"{name}: not audited: {skipped}")
            continue
        for vuln in dependency.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            label = f"{name} {dependency.get('version')}: {' / '.join(ids)}"
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            if is_runtime:
                failures.append(f"{label} (runtime dependency; fixed in {fixed})")
                continue
            match = next(((name, i) for i in ids if (name, i) in accepted), None)
            if match is None:
                failures.append(f"{label} (fixed in {fixed}; not in the ignore file)")
            else:
                used.add(match)
                notes.append(f"{label} ignored: {accepted[match].reason}")
    for key in accepted.keys() - used:
        notes.append(f"ignore file: {key[0]} {key[1]} no longer found (remove the entry)")
    return failures, notes


def ran(report: Mapping[str, Any]) -> bool:
    """Whether the service had data for at least one installed version."""
    return any(
        not d.get("skip_reason") and canonical(d["name"]) != canonical(_PROJECT)
        for d in report.get("dependencies", [])
    )


def _site_packages(python: str) -> list[str]:
    code = "import sysconfig; p = sysconfig.get_paths(); print(p['purelib']); print(p['platlib'])"
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return sorted(set(out.stdout.split()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="the interpreter of the audited venv")
    parser.add_argument("--pip-audit", default="pip-audit", help="the pip-audit executable")
    parser.add_argument("--ignore", type=Path, help="the ignore file")
    parser.add_argument(
        "--strict", action="store_true", help="fail when no vulnerability data could be had"
    )
    args = parser.parse_args(argv)

    paths = _site_packages(args.python)
    distributions = {canonical(d.metadata["Name"]): d for d in metadata.distributions(path=paths)}
    runtime = runtime_closure(distributions)
    if canonical(_PROJECT) not in runtime:
        print(f"audit: {_PROJECT} is not installed in {args.python}'s venv", file=sys.stderr)
        return 1
    ignores, problems = read_ignores(args.ignore.read_text() if args.ignore else "")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [args.pip_audit, "--format", "json", "--output", str(out)]
        command += ["--progress-spinner", "off", "--desc", "off", "--aliases", "on"]
        for path in paths:
            command += ["--path", path]
        done = subprocess.run(command, capture_output=True, text=True)
        if not out.exists():
            print(done.stderr, file=sys.stderr)
            print(f"audit: pip-audit wrote no report (exit {done.returncode})", file=sys.stderr)
            return 1
        report = json.loads(out.read_text())

    if not ran(report):
        print(
            "audit: NOT RUN: the vulnerability service had data for none of the "
            f"{len(report.get('dependencies', []))} installed versions (a mirror or an index "
            "without vulnerability data); nothing was checked"
        )
        return 1 if args.strict else 0
    failures, notes = decide(report, runtime, ignores)
    failures = problems + failures
    for note in notes:
        print(f"audit: note: {note}")
    for failure in failures:
        print(f"audit: FAIL: {failure}")
    audited = [d for d in report.get("dependencies", []) if not d.get("skip_reason")]
    print(
        f"audit: {len(report.get('dependencies', []))} packages, {len(audited)} audited, "
        f"{len(runtime)} runtime ({', '.join(sorted(runtime))}), {len(failures)} failure(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
