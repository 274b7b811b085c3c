"""The layering contract, checked on every import the package makes (lazy ones included).

    flows / cli ─▶ tasks ─▶ blocks ─▶ client ─▶ sources ─▶ models, errors, settings
    batch engine (flows' helpers), webhooks (receiver), sandbox (a wall of its own)

- the HTTP client, the models and the sources know nothing of Prefect, tasks or flows;
- the product imports nothing from the sandbox, except the CLI's ``sandbox`` and ``demo``
  commands; the sandbox imports nothing from the product (an independent reading of the spec);
- the webhook receiver imports no tasks and no flows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "prefect_firework"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at the top or inside a function (absolute names)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name
            # ``from package import submodule`` imports the submodule too
            yield from (f"{name}.{alias.name}" for alias in node.names)


def _modules() -> dict[str, set[str]]:
    return {_module_name(p): set(_imports(p)) for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _in(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(sources: tuple[str, ...], forbidden: tuple[str, ...], allowed=()) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in MODULES.items()
        if _in(module, *sources) and module not in allowed
        for target in targets
        if _in(target, *forbidden)
    )


def test_the_modules_were_found() -> None:
    assert "prefect_firework.client" in MODULES and len(MODULES) > 50


@pytest.mark.parametrize(
    "layer",
    [
        "prefect_firework.client",
        "prefect_firework.models",
        "prefect_firework.sources",
        "prefect_firework.errors",
        "prefect_firework._redact",
        "prefect_firework.settings",
        "prefect_firework.limits",
    ],
)
def test_the_lower_layers_know_nothing_of_prefect(layer: str) -> None:
    forbidden = ("prefect", "prefect_firework.tasks", "prefect_firework.flows")
    assert _violations((layer,), forbidden) == []


def test_the_product_imports_nothing_from_the_sandbox() -> None:
    product = tuple(
        m for m in MODULES if m != "prefect_firework" and not _in(m, "prefect_firework.sandbox")
    )
    allowed = ("prefect_firework.cli", "prefect_firework.demo")
    assert _violations(product, ("prefect_firework.sandbox",), allowed) == []


def test_the_sandbox_imports_nothing_from_the_product() -> None:
    violations = [
        f"{module} imports {target}"
        for module, targets in MODULES.items()
        if _in(module, "prefect_firework.sandbox")
        for target in targets
        if _in(target, "prefect_firework") and not _in(target, "prefect_firework.sandbox")
    ]
    assert violations == []


def test_the_webhook_receiver_imports_no_tasks_or_flows() -> None:
    forbidden = ("prefect_firework.tasks", "prefect_firework.flows")
    assert _violations(("prefect_firework.webhooks",), forbidden) == []


def test_tasks_import_no_flows() -> None:
    assert _violations(("prefect_firework.tasks",), ("prefect_firework.flows",)) == []


TESTS = Path(__file__).resolve().parent


def test_no_benchmark_runs_in_the_suite() -> None:
    """Speed is measured in ``bench/`` (bench/RESULTS.md), never asserted by a timed test: the
    suite collects only ``tests/``, and no test imports a benchmark or runs a ``bench/`` script.
    """
    from tomllib import loads

    config = loads((PACKAGE.parent / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        offenders += [f"{path.name} imports {n}" for n in _imports(path) if _in(n, "bench")]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "bench/" in node.value
                and path != Path(__file__).resolve()
            ):
                offenders.append(f"{path.name} names {node.value!r}")
    assert offenders == []
