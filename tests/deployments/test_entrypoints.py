"""prefect.yaml and serve.py: every entry point imports, every parameter validates against the
flow's signature and is documented, both files describe the same deployments; and the
``{date}`` / results-location helpers the deployment flows rely on."""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect
from typing import Any

import pytest
import yaml
from deployments_support import PREFECT_YAML, SERVE_SCRIPT
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from prefect_firework.flows.deployments import (
    render_template,
    results_next_to,
    run_date,
)

pytestmark = pytest.mark.prefect_server

EXPECTED = {
    "nightly-manifest-upload": ("upload-manifest", "cron"),
    "url-imports": ("import-manifest", "interval"),
    "video-updates": ("update-manifest", None),
}


def _yaml() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text())


def _deployments() -> list[dict[str, Any]]:
    return _yaml()["deployments"]


def _serve_module() -> Any:
    spec = importlib.util.spec_from_file_location("firework_serve_script", SERVE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_three_deployments_use_a_process_pool_and_a_credentials_block_name():
    config = _yaml()
    deployments = {d["name"]: d for d in config["deployments"]}
    assert set(deployments) == set(EXPECTED)
    for name, (_, schedule_kind) in EXPECTED.items():
        deployment = deployments[name]
        assert deployment["work_pool"]["name"] == "firework-process"
        assert isinstance(deployment["parameters"]["credentials"], str)
        schedules = deployment.get("schedules") or []
        if schedule_kind is None:
            assert schedules == []
        else:
            assert [s[schedule_kind] for s in schedules], f"{name} has no {schedule_kind}"
    assert deployments["nightly-manifest-upload"]["parameters"]["manifest"].endswith(
        "/manifests/{date}.parquet"
    )
    # no pull of source code: the flows come from the installed package
    assert config["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "."}}
    ]


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["name"])
def test_entrypoint_imports_and_parameters_validate(deployment: dict[str, Any]):
    entrypoint = deployment["entrypoint"]
    assert ":" not in entrypoint, "module-path entry points need no source tree on the worker"
    flow = load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)
    assert isinstance(flow, Flow)
    assert flow.name == EXPECTED[deployment["name"]][0]

    parameters = deployment["parameters"]
    signature = inspect.signature(flow.fn).parameters
    assert set(parameters) <= set(signature), set(parameters) - set(signature)
    validated = flow.validate_parameters(parameters)
    assert validated["manifest"] == parameters["manifest"]

    schema = parameter_schema(flow).model_dump()
    undocumented = [
        name for name, prop in schema["properties"].items() if not prop.get("description")
    ]
    assert undocumented == [], f"{flow.name}: parameters without a description"
    assert schema["required"] == ["manifest"]


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["name"])
def test_a_wrong_parameter_is_refused(deployment: dict[str, Any]):
    flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
    from prefect.exceptions import ParameterTypeError, SignatureMismatchError

    with pytest.raises((ParameterTypeError, SignatureMismatchError)):
        flow.validate_parameters({**deployment["parameters"], "max_concurrency": "many"})
    with pytest.raises((ParameterTypeError, SignatureMismatchError, TypeError)):
        flow.validate_parameters({**deployment["parameters"], "manifets": "typo.csv"})


def test_serve_script_builds_the_same_deployments_as_prefect_yaml():
    built = {d.name: d for d in _serve_module().build_deployments()}
    declared = {d["name"]: d for d in _deployments()}
    assert set(built) == set(declared)
    for name, deployment in declared.items():
        runner = built[name]
        assert runner.entrypoint == deployment["entrypoint"]
        assert runner.parameters == deployment["parameters"]
        assert sorted(runner.tags) == sorted(deployment["tags"])
        assert runner.concurrency_limit == deployment.get("concurrency_limit")
        declared_schedules = deployment.get("schedules") or []
        assert len(runner.schedules or []) == len(declared_schedules)
        for spec, schedule in zip(declared_schedules, runner.schedules or [], strict=True):
            inner = schedule.schedule
            if "cron" in spec:
                assert inner.cron == spec["cron"]
                assert inner.timezone == spec["timezone"]
            else:
                assert inner.interval == dt.timedelta(seconds=spec["interval"])


def test_serve_script_takes_credentials_and_bucket():
    built = _serve_module().build_deployments("prod-firework", "gs://media/")
    nightly = next(d for d in built if d.name == "nightly-manifest-upload")
    assert nightly.parameters["credentials"] == "prod-firework"
    assert nightly.parameters["manifest"] == "gs://media/manifests/{date}.parquet"


# ---------------------------------------------------------------- the helpers behind {date}


def test_render_template_fills_the_date_and_refuses_other_placeholders():
    day = dt.date(2026, 11, 27)
    assert render_template("s3://b/manifests/{date}.parquet", day) == (
        "s3://b/manifests/2026-11-27.parquet"
    )
    assert render_template("s3://b/{date:%Y/%m/%d}/m.csv", day) == "s3://b/2026/11/27/m.csv"
    assert render_template("/data/{{raw}}/{date.year}.csv", day) == "/data/{raw}/2026.csv"
    assert render_template("s3://b/fixed.csv", day) == "s3://b/fixed.csv"
    with pytest.raises(ValueError, match=r"unknown placeholder \{dat\}"):
        render_template("s3://b/{dat}.csv", day)


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ("s3://b/manifests/2026-11-27.parquet", "s3://b/manifests/2026-11-27.results.parquet"),
        ("gs://b/a.b/m.csv.gz", "gs://b/a.b/m.results.csv.gz"),
        ("/data/in/day.jsonl", "/data/in/day.results.jsonl"),
        ("day.csv", "day.results.csv"),
    ],
)
def test_results_go_next_to_the_manifest(manifest: str, expected: str):
    assert results_next_to(manifest) == expected


def test_results_cannot_go_next_to_an_http_manifest():
    with pytest.raises(ValueError, match="pass output="):
        results_next_to("https://example.com/m.csv")


def test_run_date_comes_from_the_scheduled_start_in_the_timezone(monkeypatch):
    # 01:30 UTC on the 28th is still the 27th in New York
    from prefect.runtime import flow_run

    scheduled = dt.datetime(2026, 11, 28, 1, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setitem(flow_run.FIELDS, "scheduled_start_time", lambda: scheduled)
    assert run_date() == dt.date(2026, 11, 28)
    assert run_date(timezone="America/New_York") == dt.date(2026, 11, 27)
    assert run_date(days_ago=1) == dt.date(2026, 11, 27)
    assert run_date("2025-01-02", days_ago=5) == dt.date(2025, 1, 2)  # an explicit day wins
    with pytest.raises(ValueError, match="ISO date"):
        run_date("27/11/2026")
    with pytest.raises(ValueError, match="unknown timezone"):
        run_date(timezone="Mars/Olympus")
