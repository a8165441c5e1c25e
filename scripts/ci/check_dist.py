"""Check the built sdist and wheel against the source tree (run by ``.ci/run``).

    python scripts/ci/check_dist.py DIST_DIR --pythons 3.10 3.11 3.12 3.13

Fails (exit 1, one line per problem) when the wheel lacks a module, a subpackage, a data
file (``py.typed``) or the console entry point of ``pyproject.toml``, carries files from
outside the package, declares other Python versions than the ones CI tests, or when the
sdist lacks what a wheel is built from. ``twine check`` covers the metadata's rendering;
this covers the contents.
"""

from __future__ import annotations

import argparse
import configparser
import email.parser
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import tomllib  # Python 3.11+: .ci/run runs this with its lint interpreter

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "webchat_async"
# Shipped beside the code: without it, type checkers ignore the package's annotations.
DATA_FILES = {f"{PACKAGE}/py.typed"}
# The command the README documents (more may come from pyproject's [project.scripts]).
SCRIPTS = {"webchat-async": "webchat_async.cli:main"}


def source_files() -> set[str]:
    """Every file the package consists of, as paths relative to the repository."""
    files = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    return files | DATA_FILES


def subpackages(files: set[str]) -> set[str]:
    return {f.rsplit("/", 1)[0].replace("/", ".") for f in files if f.endswith("/__init__.py")}


def project_scripts() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    scripts: dict[str, str] = pyproject["project"].get("scripts", {})
    return scripts


def check_wheel(wheel: Path, pythons: list[str]) -> list[str]:
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        dist_info = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        if len(dist_info) != 1:
            return [f"wheel: expected one .dist-info directory, found {sorted(dist_info)}"]
        (info,) = dist_info
        metadata = email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = (
            zf.read(f"{info}/entry_points.txt").decode()
            if (f"{info}/entry_points.txt" in names)
            else ""
        )

    expected = source_files()
    for missing in sorted(expected - names):
        problems.append(f"wheel: missing {missing}")
    for package in sorted(subpackages(expected)):
        if f"{package.replace('.', '/')}/__init__.py" not in names:
            problems.append(f"wheel: missing subpackage {package}")
    stray = sorted(n for n in names if not n.startswith((f"{PACKAGE}/", f"{info}/")))
    problems += [f"wheel: file outside the package: {n}" for n in stray]
    compiled = sorted(n for n in names if "__pycache__" in n or n.endswith(".pyc"))
    problems += [f"wheel: compiled file: {n}" for n in compiled]

    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(entry_points)
    shipped = dict(parser["console_scripts"]) if parser.has_section("console_scripts") else {}
    for name, target in (SCRIPTS | project_scripts()).items():
        if shipped.get(name, "").replace(" ", "") != target.replace(" ", ""):
            problems.append(f"wheel: console script {name} = {target} missing (has {shipped})")

    declared = {
        c.rsplit(" :: ", 1)[1]
        for c in metadata.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    if declared != set(pythons):
        problems.append(
            f"wheel: Python classifiers {sorted(declared)} are not the versions CI tests"
            f" {sorted(pythons)}"
        )
    lowest = min(pythons, key=lambda v: tuple(map(int, v.split("."))))
    if metadata.get("Requires-Python") != f">={lowest}":
        problems.append(f"wheel: Requires-Python is {metadata.get('Requires-Python')!r}")
    extras = set(metadata.get_all("Provides-Extra") or [])
    # aiohttp is a core dependency and the fleet's store is the `redis` extra: an extra
    # that repeats either would only be a second name to keep in step.
    for redundant in sorted(extras & {"simulator", "worker"}):
        problems.append(f"wheel: the redundant extra {redundant!r} is declared")
    for needed in ("redis", "test", "lint"):
        if needed not in extras:
            problems.append(f"wheel: the {needed} extra is not declared")
    problems += _dependency_floors(metadata.get_all("Requires-Dist") or [])
    return problems


# Runtime dependencies that must not admit a release with a known vulnerability
# (CVE-2024-52303, CVE-2024-52304, CVE-2025-53643 for aiohttp).
_FLOORS = {"aiohttp": (3, 12, 14)}


def _dependency_floors(requires: list[str]) -> list[str]:
    problems = []
    for name, floor in _FLOORS.items():
        found = [r for r in requires if re.match(rf"{name}\b", r) and "extra ==" not in r]
        lows = [tuple(map(int, v.split("."))) for r in found for v in re.findall(r">=([\d.]+)", r)]
        if not lows or min(lows) < floor:
            want = ".".join(map(str, floor))
            problems.append(f"wheel: {name} must be required >={want}, got {found}")
    return problems


def check_sdist(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    needed = source_files() | {"pyproject.toml", "README.md"}
    problems = [f"sdist: missing {m}" for m in sorted(needed - names)]
    junk = sorted(n for n in names if n.split("/", 1)[0] in {".venv", ".ci-venv", "dist", "build"})
    problems += [f"sdist: junk {n}" for n in junk[:10]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--pythons", nargs="+", required=True, help="the versions CI tests")
    args = parser.parse_args(argv)
    wheels = sorted(args.dist.glob("*.whl"))
    sdists = sorted(args.dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {args.dist}: {wheels + sdists}")
        return 1
    problems = check_wheel(wheels[0], args.pythons) + check_sdist(sdists[0])
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{wheels[0].name}, {sdists[0].name}: contents match the source tree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
