"""Smoke test of the installed wheel (run by ``.ci/run`` in a fresh venv, outside the source tree).

    python wheel_smoke.py --source REPO

Checks that ``webchat_async`` is imported from the venv (not from REPO), that every public
name and every module imports (a module left out of the wheel, or importing one that was,
fails here), that ``py.typed`` and the console script's entry point are installed, and runs
the README's simulator example against the installed package.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import pkgutil
import re
import subprocess
import sys
from pathlib import Path


def check(condition: object, message: str) -> None:
    if not condition:
        raise SystemExit(f"wheel smoke: {message}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, required=True, help="the repository checkout")
    source = parser.parse_args().source.resolve()

    import webchat_async

    package_dir = Path(webchat_async.__file__).resolve().parent
    check(
        source not in package_dir.parents,
        f"webchat_async was imported from the source tree ({package_dir})",
    )
    check(
        Path(sys.prefix).resolve() in package_dir.parents,
        f"webchat_async is not installed in this venv ({package_dir}, prefix {sys.prefix})",
    )
    check((package_dir / "py.typed").is_file(), "py.typed is not installed")

    for name in webchat_async.__all__:
        check(hasattr(webchat_async, name), f"webchat_async.{name} is in __all__ but missing")
    modules = [webchat_async.__name__]
    for info in pkgutil.walk_packages(webchat_async.__path__, "webchat_async."):
        modules.append(info.name)
    for module in modules:
        if module.endswith(".__main__"):  # runs the CLI when imported
            continue
        if module == "webchat_async.pytest_plugin":  # pytest loads it (needs pytest)
            continue
        importlib.import_module(module)
    (plugin,) = importlib.metadata.entry_points(group="pytest11", name="webchat_async")
    check(plugin.value == "webchat_async.pytest_plugin", f"pytest11 entry point: {plugin.value}")
    check("webchat_async.simulator" in modules, "webchat_async.simulator is not installed")

    (script,) = importlib.metadata.entry_points(group="console_scripts", name="webchat-async")
    check(callable(script.load()), "the webchat-async entry point does not load")
    version = importlib.metadata.version("webchat-async")

    # The README's test-kit example, run as a user would after `pip install`: a test file
    # of their own project, collected by pytest with the package's plugin.
    readme = (source / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    snippets = [b for b in blocks if "from webchat_async.simulator import" in b]
    check(snippets, "README.md has no simulator example")
    for i, snippet in enumerate(snippets):
        check("def test_" in snippet, "the README's simulator example defines no test_ function")
        test_file = Path(f"test_readme_{i}.py")
        test_file.write_text(snippet)
        # -p no:cacheprovider: nothing written beside the test; strict mode, as by default.
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
            check=False,
        )
        check(ran.returncode == 0, f"the README's simulator example failed ({ran.returncode})")

    print(
        f"wheel smoke: webchat-async {version} on Python {sys.version.split()[0]}:"
        f" {len(webchat_async.__all__)} public names, {len(modules)} modules,"
        f" README simulator example passed ({package_dir})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
