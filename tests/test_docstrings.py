"""Every Prefect task and flow documents its parameters and its return value.

Prefect reads a Google-style ``Args:`` section to describe each parameter in the UI (the
deployment form, the run's parameters), so a parameter left out has no description there.
Each module-level function decorated ``@task``, ``@task(...)``, ``@flow(...)`` or
``@firework_flow(...)`` (outside the sandbox) must have an ``Args:`` entry for every
parameter, no entry for a parameter it does not have, and a ``Returns:`` section unless it
returns None.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect import Flow, Task
from prefect.utilities.callables import parameter_schema

PACKAGE = Path(__file__).resolve().parent.parent / "prefect_firework"

#: the decorators that make a function a Prefect task or flow (``firework_flow``: flows/_flow.py)
DECORATORS = {"task", "flow", "firework_flow"}

_ENTRY = re.compile(r"(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:")


@dataclass(frozen=True)
class Decorated:
    module: str
    name: str
    params: tuple[str, ...]
    returns_value: bool
    doc: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _decorator_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):  # ``@prefect.task``
        return target.attr
    return None


def _returns_value(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if fn.returns is not None:
        return not (isinstance(fn.returns, ast.Constant) and fn.returns.value is None)
    # no annotation: look for a ``return <value>`` of its own (not of a nested function)
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _decorated() -> list[Decorated]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.parse(path.read_text(), str(path)).body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if not any(_decorator_name(d) in DECORATORS for d in node.decorator_list):
                continue
            args = node.args
            params = tuple(
                a.arg
                for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
                if a.arg not in ("self", "cls")
            )
            found.append(
                Decorated(
                    _module_name(path),
                    node.name,
                    params,
                    _returns_value(node),
                    ast.get_docstring(node) or "",
                )
            )
    return found


DECORATED = _decorated()


def _section(doc: str, title: str) -> list[str] | None:
    """The lines of a Google-style section (``Args:``), or None when there is none."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == f"{title}:":
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[i + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            return body
    return None


def _documented(doc: str) -> list[str]:
    """The parameter names of the ``Args:`` section's entries (not their continuation lines)."""
    body = [line for line in _section(doc, "Args") or [] if line.strip()]
    if not body:
        return []
    indent = min(len(line) - len(line.lstrip()) for line in body)
    names = []
    for line in body:
        if len(line) - len(line.lstrip()) == indent:
            match = _ENTRY.match(line.strip())
            names.append(match.group(1).lstrip("*") if match else line.strip())
    return names


def _object(item: Decorated) -> Task | Flow:
    obj = getattr(importlib.import_module(item.module), item.name)
    assert isinstance(obj, (Task, Flow)), f"{item} is a {type(obj).__name__}, not a task or flow"
    return obj


def test_the_tasks_and_flows_were_found() -> None:
    names = {str(item) for item in DECORATED}
    for expected in (
        "prefect_firework.tasks.videos.create_video",
        "prefect_firework.tasks.uploads.upload_part",
        "prefect_firework.flows._upload.upload_video",
        "prefect_firework.flows._batch.upload_videos",
        "prefect_firework.flows.deployments.upload_manifest",
        "prefect_firework.workers.upload_video_task",
    ):
        assert expected in names
    assert len(DECORATED) > 20


def test_no_task_or_flow_escapes_the_walk() -> None:
    """Every Task and Flow a module defines is one the decorator walk found."""
    defined = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.relative_to(PACKAGE).parts:
            continue
        name = _module_name(path)
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, (Task, Flow)) and value.fn.__module__ == name:
                defined.add(f"{name}.{value.fn.__name__}")
    walked = {str(item) for item in DECORATED}
    assert defined == walked, (sorted(defined - walked), sorted(walked - defined))


@pytest.mark.parametrize("item", DECORATED, ids=str)
def test_args_name_every_parameter(item: Decorated) -> None:
    if not item.params:
        return
    assert _section(item.doc, "Args") is not None, f"{item} has no Args: section"
    documented = _documented(item.doc)
    missing = [p for p in item.params if p not in documented]
    unknown = [d for d in documented if d not in item.params]
    assert not missing, f"{item}: Args: does not document {missing}"
    assert not unknown, f"{item}: Args: documents {unknown}, which are not parameters"


@pytest.mark.parametrize("item", DECORATED, ids=str)
def test_returns_is_documented(item: Decorated) -> None:
    if item.returns_value:
        assert _section(item.doc, "Returns"), f"{item} returns a value but has no Returns:"


@pytest.mark.parametrize("item", DECORATED, ids=str)
def test_prefect_reads_every_description(item: Decorated) -> None:
    """Prefect's own parser (griffe, Google style) sees a description for every parameter."""
    schema = parameter_schema(_object(item).fn)
    properties = schema.model_dump()["properties"]
    undescribed = [
        name for name in item.params if not (properties[name].get("description") or "").strip()
    ]
    assert not undescribed, f"{item}: Prefect sees no description for {undescribed}"


def test_upload_videos_describes_its_parameters_in_prefect() -> None:
    from prefect_firework.flows import upload_videos

    properties = upload_videos.parameters.model_dump()["properties"]
    assert set(properties) == set(inspect.signature(upload_videos.fn).parameters)
    assert all((p.get("description") or "").strip() for p in properties.values()), properties
