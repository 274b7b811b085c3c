"""The built wheel: it ships ``py.typed``, and it declares every distribution the package imports.

The imports are found the way ``test_layering`` finds them (an AST walk, lazy imports inside
functions included), mapped to distribution names, and looked up in the wheel's METADATA:
an import of the core package must be an unconditional ``Requires-Dist``; one in a module that
belongs to an extra (the sandbox, a storage source, a cluster runner) may instead carry that
extra's ``extra == "..."`` marker.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "prefect_firework"

# import name (or dotted prefix, longest wins) -> distribution, where they differ beyond
# ``_`` vs ``-`` and case (canonicalize_name covers those: smart_open -> smart-open)
DISTRIBUTION = {
    "yaml": "pyyaml",
    "google.cloud.storage": "google-cloud-storage",
    "azure.storage.blob": "azure-storage-blob",
}

# module (file, or folder with a trailing /) -> the extras whose requirements may cover it
EXTRAS = {
    "sandbox/": {"sandbox"},
    "sources/s3.py": {"s3"},
    "sources/gcs.py": {"gcs"},
    "sources/azure.py": {"azure"},
    "runners.py": {"dask", "ray"},
}

# (module, distribution) its host provides: the pytest plugin is only ever loaded by pytest
PROVIDED = {("sandbox/pytest_plugin.py", "pytest")}


def _third_party(path: Path) -> Iterator[str]:
    """Every absolute import in ``path`` outside the standard library and this package."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "prefect_firework":
                yield name


def _distribution(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in DISTRIBUTION:
            return DISTRIBUTION[".".join(parts[:n])]
    return canonicalize_name(parts[0])


def _extras_for(relative: str) -> set[str]:
    return set().union(
        *(extras for place, extras in EXTRAS.items() if relative == place
          or (place.endswith("/") and relative.startswith(place)))
    )


def imported() -> dict[str, dict[str, set[str]]]:
    """distribution -> {module path relative to the package: extras that may cover it}."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for module in _third_party(path):
            dist = _distribution(module)
            if (relative, dist) not in PROVIDED:
                found.setdefault(dist, {})[relative] = _extras_for(relative)
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """The wheel, built (no network) from a copy of the sources, so the tree gets no build/."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(PACKAGE, src / "prefect_firework",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(out), str(src)],
        check=True, capture_output=True, timeout=240,
    )
    (built,) = out.glob("prefect_firework-*.whl")
    archive = zipfile.ZipFile(built)
    yield archive
    archive.close()


def _requirements(wheel: zipfile.ZipFile) -> list[Requirement]:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(wheel.read(name).decode())
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def _extras(requirement: Requirement, extras: set[str]) -> set[str]:
    """The extras (``""`` for none) under which ``requirement`` applies."""
    if requirement.marker is None:
        return {""}
    return {e for e in {"", *extras} if requirement.marker.evaluate({"extra": e})}


def test_the_walk_sees_top_level_and_lazy_imports() -> None:
    found = imported()
    assert "cli.py" in found["typer"]  # at the top of the module
    assert "batch/_locks.py" in found["anyio"]  # inside a function
    assert found["google-cloud-storage"] == {"sources/gcs.py": {"gcs"}}
    assert "pytest" not in found


@pytest.mark.parametrize("dist", sorted(imported()))
def test_the_mapping_names_an_installed_distribution(dist: str) -> None:
    try:
        distribution(dist)
    except PackageNotFoundError:
        pytest.fail(f"{dist} (imported by {sorted(imported()[dist])}) is not installed: "
                    "a wrong import -> distribution mapping?")


def test_the_wheel_ships_py_typed(wheel: zipfile.ZipFile) -> None:
    assert "prefect_firework/py.typed" in wheel.namelist()


def test_the_wheel_declares_every_imported_distribution(wheel: zipfile.ZipFile) -> None:
    requirements = _requirements(wheel)
    missing = []
    for dist, modules in sorted(imported().items()):
        declared = set().union(
            *(_extras(r, {e for m in modules.values() for e in m})
              for r in requirements if canonicalize_name(r.name) == dist)
        )
        for module, extras in sorted(modules.items()):
            if "" not in declared and not declared & extras:
                where = "core" if not extras else f"core or extra {'/'.join(sorted(extras))}"
                missing.append(f"{dist} (imported by {module}) needs a Requires-Dist in {where}")
    assert not missing, "\n".join(missing)
