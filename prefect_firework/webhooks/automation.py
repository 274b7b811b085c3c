"""The example automation: when an import fails, run the ``url-imports`` deployment again.

The receiver emits ``firework.video.import_failed`` with the failed import as the primary
resource (``firework.import.<id>``) and the URL in ``event.payload.url``. The automation reacts
to each such event on its own (``for_each`` the import) and runs the chosen deployment.

Parameters are Jinja templates over the event, rendered by Prefect when it fires. For a flow
that takes the URL, ``URL_PARAMETERS`` passes it (``{"url": "{{ event.payload.url }}"}``; the
payload also has ``channel_id``, ``import_id`` and ``error``). Without ``parameters`` the run
uses the deployment's own: the ``url-imports`` deployment then imports its manifest again, and
its ledger retries exactly the rows that failed, that URL's among them.

The receiver redacts credentials from every URL it puts into an event, so ``payload.url`` is
the imported URL only when that had no query string; for presigned (or token) URLs, whose
signatures would have expired by the retry anyway, use the deployment's own parameters.

    import_failed_automation("import-manifest/url-imports").create()
    import_failed_automation(deployment_id, parameters=URL_PARAMETERS).create()
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture

from prefect_firework.webhooks.events import IMPORT_FAILED_EVENT

__all__ = ["URL_PARAMETERS", "import_failed_automation"]

URL_PARAMETERS: dict[str, Any] = {"url": "{{ event.payload.url }}"}


def _deployment_id(deployment: UUID | str) -> UUID:
    if isinstance(deployment, UUID):
        return deployment
    try:
        return UUID(deployment)
    except ValueError:
        pass
    if "/" not in deployment:
        raise ValueError(
            f"deployment must be an id or 'flow-name/deployment-name', not {deployment!r}"
        )
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(deployment).id


def import_failed_automation(
    deployment: UUID | str,
    *,
    parameters: dict[str, Any] | None = None,
    name: str = "firework-retry-failed-imports",
    description: str | None = None,
) -> Automation:
    """An (unsaved) automation that runs ``deployment`` for every failed Firework import.

    ``deployment`` is a deployment id or ``"flow-name/deployment-name"`` (looked up now);
    ``parameters`` (templates allowed) default to the deployment's own. Call ``.create()`` on
    the result to store it in Prefect.
    """
    return Automation(
        name=name,
        description=description
        or "Run the URL import deployment again for an import Firework reports as failed.",
        trigger=EventTrigger(
            expect={IMPORT_FAILED_EVENT},
            match={"prefect.resource.id": "firework.import.*"},
            for_each={"prefect.resource.id"},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=_deployment_id(deployment),
                parameters=None if parameters is None else dict(parameters),
            )
        ],
    )
