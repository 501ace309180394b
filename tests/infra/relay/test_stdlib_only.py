"""The relay imports with the standard library alone, as in a bare Lambda runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

# Run with -S (no site-packages) and -I (no environment, no current directory).
PROBE = """
import importlib, json, pkgutil, sys
sys.path.insert(0, {path!r})
importlib.import_module({package!r} + ".handler")
for module in pkgutil.iter_modules(sys.modules[{package!r}].__path__):
    importlib.import_module({package!r} + "." + module.name)
print(json.dumps({{
    "modules": sorted({{name.partition(".")[0] for name in sys.modules}}),
    "path": sys.path,
}}))
"""


def _imported_under_bare_python(path: Path, package: str) -> dict[str, list[str]]:
    completed = subprocess.run(
        [
            sys.executable,
            "-S",
            "-I",
            "-c",
            PROBE.format(path=str(path), package=package),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(completed.stdout)
    return result


class TestStandardLibraryOnly:
    @pytest.mark.parametrize(
        ("path", "package", "top_level"),
        [(REPO_ROOT, "infra.relay", "infra"), (REPO_ROOT / "infra", "relay", "relay")],
    )
    def test_every_relay_module_imports_with_the_standard_library_alone(
        self, path: Path, package: str, top_level: str
    ) -> None:
        result = _imported_under_bare_python(path, package)

        assert not [entry for entry in result["path"] if "site-packages" in entry]
        foreign = set(result["modules"]) - set(sys.stdlib_module_names)
        assert foreign == {top_level, "__main__"}
        assert "boto3" not in result["modules"]
