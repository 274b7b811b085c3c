"""The Run form of each deployment flow: the parameter schema Prefect builds from the flow's
signature and docstring (``parameter_schema``, what ``prefect deploy`` and ``serve`` register),
checked for what the UI makes of it.

The UI (ui-v2, Prefect's default) picks a widget from each property: ``format: date`` is a date
picker, a ``$ref`` to a definition with ``block_type_slug`` is a block selector, and every
``anyOf`` becomes a row of tabs, ``{"type": "null"}`` among them as a "None" tab reading
``Property is type "None"``. It starts every field at its schema ``default`` (``null``
included) when the deployment gives no value, and before submitting validates the values with
``/ui/schemas/validate``, which accepts ``null`` only where the schema allows it. So an
optional parameter needs either a ``null`` alternative (the tabs) or a non-null default the
flow reads as "not given"; these tests hold the flows to the second, except where ``null``
means something of its own and says what (``date``: the scheduled day).

The same checks run on the schema the Prefect API stores for a registered deployment, and the
values the form starts with are validated and accepted by that server.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from deployments_support import PREFECT_YAML
from prefect.client.orchestration import get_client
from prefect.deployments.runner import EntrypointType
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import (
    parameter_docstrings,
    parameter_schema,
    parameter_schema_from_entrypoint,
)
from prefect.utilities.schema_tools.validation import validate

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows.deployments import import_manifest, update_manifest, upload_manifest

pytestmark = pytest.mark.prefect_server

FLOWS = [upload_manifest, import_manifest, update_manifest]
DEPLOYMENTS = {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}

#: parameters whose ``null`` the form offers, as a tab that says what it means
MEANINGFUL_NULL = {"date"}

#: the Python API the deployment flows had before their annotations were made for the form:
#: names, order and defaults stay as they are (``inspect.Parameter.empty``: required)
SIGNATURES: dict[str, dict[str, Any]] = {
    "upload-manifest": {
        "manifest": inspect.Parameter.empty,
        "credentials": None,
        "output": None,
        "date": None,
        "days_ago": 0,
        "timezone": "UTC",
        "max_concurrency": 8,
        "max_uploads_in_flight": 8,
        "shared_rate_limit": False,
        "ledger": None,
        "transport_params": None,
        "cluster_address": None,
        "fail_on_row_errors": False,
    },
    "import-manifest": {
        "manifest": inspect.Parameter.empty,
        "credentials": None,
        "output": None,
        "date": None,
        "days_ago": 0,
        "timezone": "UTC",
        "asynchronous": True,
        "max_concurrency": 8,
        "shared_rate_limit": False,
        "ledger": None,
        "transport_params": None,
        "fail_on_row_errors": False,
        "url": None,
    },
    "update-manifest": {
        "manifest": inspect.Parameter.empty,
        "credentials": None,
        "output": None,
        "date": None,
        "max_concurrency": 8,
        "transport_params": None,
        "fail_on_row_errors": False,
    },
}

by_name = pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)


def _schema(flow: Flow[..., Any]) -> dict[str, Any]:
    return parameter_schema(flow.fn).model_dump()


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a ``$ref`` replaced by its definition (siblings kept, as the UI does)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    name = ref.rsplit("/", 1)[-1]
    definitions = schema.get("definitions") or schema.get("$defs") or {}
    assert name in definitions, f"{ref} is not among the schema's definitions"
    return {**definitions[name], **{k: v for k, v in node.items() if k != "$ref"}}


def _alternatives(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a value of ``prop`` may match: each ``anyOf`` / ``oneOf`` / ``allOf``
    member, recursively, or ``prop`` itself."""
    for key in ("anyOf", "oneOf", "allOf"):
        if key in prop:
            return [alt for member in prop[key] for alt in _alternatives(member)]
    return [prop]


def _null_alternatives(prop: dict[str, Any]) -> list[dict[str, Any]]:
    nulls = [alt for alt in _alternatives(prop) if alt.get("type") == "null"]
    typelist = [alt for alt in _alternatives(prop) if "null" in (alt.get("type") or [])]
    return nulls + [alt for alt in typelist if alt not in nulls]


def _starting_values(schema: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """What the Run form holds before anything is typed: the deployment's parameters, and for
    every other property its schema default, ``null`` included (ui-v2's SchemaFormProperty
    sets a field to ``property.default`` whenever that is not undefined)."""
    values = dict(parameters)
    for name, prop in schema["properties"].items():
        merged = _resolve(prop, schema)
        if name not in values and "default" in merged:
            values[name] = merged["default"]
    return values


# -------------------------------------------------------------- the checks, on any schema


def _check_date(schema: dict[str, Any]) -> None:
    prop = schema["properties"]["date"]
    dates = [alt for alt in _alternatives(prop) if alt.get("format") == "date"]
    assert dates, f"date is not a date in the form: {prop}"
    assert all(alt.get("type") == "string" for alt in dates), prop


def _check_credentials(schema: dict[str, Any]) -> None:
    prop = schema["properties"]["credentials"]
    refs = [alt for alt in _alternatives(prop) if "$ref" in alt]
    assert refs, f"credentials offers no block selector: {prop}"
    blocks = [_resolve(alt, schema) for alt in refs]
    slugs = [block.get("block_type_slug") for block in blocks]
    assert slugs == [FireworkCredentials.get_block_type_slug()], prop
    assert blocks[0]["title"] == FireworkCredentials.__name__
    # and a saved block's name, which is what prefect.yaml and serve.py pass
    assert {"type": "string"} in [
        {k: v for k, v in alt.items() if k == "type"} for alt in _alternatives(prop)
    ], prop


def _check_no_null_noise(schema: dict[str, Any]) -> None:
    for name, prop in schema["properties"].items():
        nulls = _null_alternatives(_resolve(prop, schema))
        if name in MEANINGFUL_NULL:
            assert len(nulls) == 1 and len(_alternatives(prop)) > 1, (name, prop)
            assert nulls[0].get("title"), f"{name}'s null alternative does not say what it is"
        else:
            assert nulls == [], f"{name} offers a bare None: {prop}"


def _check_described(schema: dict[str, Any], flow: Flow[..., Any]) -> None:
    documented = parameter_docstrings(inspect.getdoc(flow.fn))
    assert set(schema["properties"]) == set(inspect.signature(flow.fn).parameters)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{flow.name}: {name} has no description"
        assert prop["description"] == documented[name], f"{name} is not from the Args section"


def _check_titles_and_positions(schema: dict[str, Any], flow: Flow[..., Any]) -> None:
    names = list(inspect.signature(flow.fn).parameters)
    properties = schema["properties"]
    assert [properties[name]["title"] for name in names] == names
    assert [properties[name]["position"] for name in names] == list(range(len(names)))
    assert schema["required"] == ["manifest"]


def _check_all(schema: dict[str, Any], flow: Flow[..., Any]) -> None:
    _check_date(schema)
    _check_credentials(schema)
    _check_no_null_noise(schema)
    _check_described(schema, flow)
    _check_titles_and_positions(schema, flow)


# ------------------------------------------------------------------- the flows' own schemas


@by_name
def test_date_is_a_date(flow: Flow[..., Any]):
    _check_date(_schema(flow))


@by_name
def test_credentials_is_a_block_selector_or_a_block_name(flow: Flow[..., Any]):
    _check_credentials(_schema(flow))


@by_name
def test_optional_parameters_have_no_none_tab(flow: Flow[..., Any]):
    _check_no_null_noise(_schema(flow))


@by_name
def test_every_parameter_is_described_from_the_args_section(flow: Flow[..., Any]):
    _check_described(_schema(flow), flow)


@by_name
def test_titles_are_the_parameter_names_in_signature_order(flow: Flow[..., Any]):
    _check_titles_and_positions(_schema(flow), flow)


@by_name
def test_the_python_signature_is_unchanged(flow: Flow[..., Any]):
    parameters = inspect.signature(flow.fn).parameters
    assert {name: p.default for name, p in parameters.items()} == SIGNATURES[flow.name]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters.values())


@pytest.mark.parametrize("deployment", DEPLOYMENTS.values(), ids=lambda d: d["name"])
def test_the_schema_from_the_entrypoint_source_is_the_same(deployment: dict[str, Any]):
    # Prefect's other way in: the signature read from the module's source, without importing
    flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
    from_source = parameter_schema_from_entrypoint(deployment["entrypoint"]).model_dump()
    assert from_source == _schema(flow)


@pytest.mark.parametrize("deployment", DEPLOYMENTS.values(), ids=lambda d: d["name"])
def test_the_form_as_it_opens_validates_and_means_the_python_defaults(deployment: dict[str, Any]):
    flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
    schema = _schema(flow)
    values = _starting_values(schema, deployment["parameters"])
    # the check /ui/schemas/validate makes before the form submits, and the run's creation
    assert [error.message for error in validate(values, schema)] == []
    validated = flow.validate_parameters(values)
    untouched = {
        name: validated[name]
        for name, default in SIGNATURES[flow.name].items()
        if name not in deployment["parameters"]
    }
    assert untouched == {
        name: default
        for name, default in SIGNATURES[flow.name].items()
        if name not in deployment["parameters"]
    }


@by_name
def test_form_values_become_the_flow_parameters(flow: Flow[..., Any]):
    block = FireworkCredentials(client_id="cid", client_secret="secret")
    validated = flow.validate_parameters(
        {"manifest": "m.csv", "date": "2026-11-27", "credentials": "firework", "output": ""}
    )
    assert validated["date"] == dt.date(2026, 11, 27)
    assert validated["credentials"] == "firework"
    assert validated["output"] is None
    assert flow.validate_parameters({"manifest": "m", "credentials": block})["credentials"] is block
    assert flow.validate_parameters({"manifest": "m", "date": dt.date(2025, 1, 2)})["date"] == (
        dt.date(2025, 1, 2)
    )
    # what Python callers passed before still goes through
    assert flow.validate_parameters({"manifest": "m", "date": None, "output": None}) == (
        flow.validate_parameters({"manifest": "m"})
    )


def test_a_block_picked_in_the_form_reaches_the_flow_as_that_block():
    # the block selector submits a reference to the block document, which the flow run loads
    saved = FireworkCredentials(client_id="picked", client_secret="secret")
    document_id = saved.save(f"form-{uuid.uuid4().hex[:10]}")
    reference = {"$ref": {"block_document_id": str(document_id)}}
    for flow in FLOWS:
        credentials = flow.validate_parameters({"manifest": "m", "credentials": reference})[
            "credentials"
        ]
        assert isinstance(credentials, FireworkCredentials)
        assert credentials.client_id == "picked"
        assert credentials.client_secret.get_secret_value() == "secret"


# ------------------------------------------------------------------ the same, from the API


@pytest.fixture
def registered(api_env) -> Iterator[dict[str, tuple[Flow[..., Any], uuid.UUID]]]:
    """prefect.yaml's deployments registered with the session's Prefect server under names of
    their own (no schedules, so no run is ever due); deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    ids: dict[str, tuple[Flow[..., Any], uuid.UUID]] = {}
    try:
        for name, deployment in DEPLOYMENTS.items():
            flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
            runner = flow.to_deployment(
                f"form-{name}-{suffix}",
                entrypoint_type=EntrypointType.MODULE_PATH,
                parameters=deployment["parameters"],
            )
            ids[name] = (flow, runner.apply())
        yield ids
    finally:
        with get_client(sync_client=True) as client:
            for _, deployment_id in ids.values():
                client.delete_deployment(deployment_id)


def test_the_api_stores_the_same_schema_and_takes_the_form_as_it_opens(registered, api_env):
    with get_client(sync_client=True) as client:
        for name, (flow, deployment_id) in registered.items():
            stored = client.read_deployment(deployment_id)
            schema = stored.parameter_openapi_schema
            assert schema is not None
            assert schema == parameter_schema(flow.fn).model_dump_for_openapi()
            assert stored.enforce_parameter_schema
            _check_all(schema, flow)

            values = _starting_values(schema, stored.parameters)
            answer = httpx.post(
                f"{api_env.rstrip('/')}/ui/schemas/validate",
                json={"schema": schema, "values": values},
                timeout=30,
            )
            answer.raise_for_status()
            assert answer.json()["valid"], (name, answer.json()["errors"])

            run = client.create_flow_run_from_deployment(deployment_id, parameters=values)
            try:
                assert (
                    run.parameters["credentials"] == DEPLOYMENTS[name]["parameters"]["credentials"]
                )
            finally:
                client.delete_flow_run(run.id)
