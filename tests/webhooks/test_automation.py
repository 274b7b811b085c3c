"""The example automation, created against the Prefect test server, stored and firing."""

from __future__ import annotations

import time
from uuid import UUID

import pytest
from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture
from webhook_support import SECRET, AsgiClient, body, signed

from prefect_firework.webhooks import create_webhook_app, import_failed_automation
from prefect_firework.webhooks.automation import URL_PARAMETERS

pytestmark = pytest.mark.prefect_server


@pytest.fixture
def url_imports() -> UUID:
    """A stand-in ``url-imports`` deployment of a flow that takes the URL to import."""
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("url-imports-stand-in")
        return client.create_deployment(
            flow_id=flow_id,
            name="url-imports",
            parameter_openapi_schema={
                "type": "object",
                "properties": {"url": {"type": "string"}},
                "required": ["url"],
            },
        )


def _runs(deployment_id: UUID) -> list:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def test_import_failed_automation_is_stored_and_reruns_the_url(url_imports):
    automation = import_failed_automation(
        "url-imports-stand-in/url-imports", parameters=URL_PARAMETERS
    ).create()
    try:
        stored = Automation.read(id=automation.id)
        trigger = stored.trigger
        assert isinstance(trigger, EventTrigger)
        assert trigger.expect == {"firework.video.import_failed"}
        assert trigger.posture == Posture.Reactive and trigger.threshold == 1
        assert trigger.for_each == {"prefect.resource.id"}
        [action] = stored.actions
        assert isinstance(action, RunDeployment)
        assert action.source == "selected" and action.deployment_id == url_imports
        assert action.parameters == {"url": "{{ event.payload.url }}"}

        # a verified import_failed delivery, emitted for real, makes Prefect run the deployment
        url = "https://videos.example.com/clips/broken.mp4"
        raw = body("video_import_failed", import_id="IAUTO1", url=url, error="download failed")
        receiver = AsgiClient(create_webhook_app(SECRET))
        assert receiver.post("/", content=raw, headers=signed(raw)).status_code == 202
        deadline = time.monotonic() + 45
        runs = _runs(url_imports)
        while not runs and time.monotonic() < deadline:
            time.sleep(0.5)
            runs = _runs(url_imports)
        assert [run.parameters for run in runs] == [{"url": url}]
    finally:
        automation.delete()


def test_without_parameters_the_deployment_keeps_its_own(url_imports):
    automation = import_failed_automation(url_imports)
    [action] = automation.actions
    assert isinstance(action, RunDeployment) and action.parameters is None
    with pytest.raises(ValueError):
        import_failed_automation("no-slash")
