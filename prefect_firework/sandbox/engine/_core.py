"""``Core``: the parts of a running sandbox that its handlers share.

The API app, the S3 front and the import workers each get the same ``Core``; none of them
knows about ``Sandbox``, which only starts, stops and exposes it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from prefect_firework.sandbox.config import SandboxConfig
from prefect_firework.sandbox.engine._seeds import Seeds
from prefect_firework.sandbox.engine._state import State
from prefect_firework.sandbox.faults import Faults
from prefect_firework.sandbox.s3._backend import MotoS3
from prefect_firework.sandbox.s3._partstore import PartStore
from prefect_firework.sandbox.s3._sigv4 import SigningIdentity

if TYPE_CHECKING:
    from prefect_firework.sandbox.engine._webhooks import WebhookSender

__all__ = ["Core"]


@dataclass
class Core:
    config: SandboxConfig
    state: State
    faults: Faults
    s3: MotoS3
    identity: SigningIdentity
    seeds: Seeds
    base_url: str
    s3_url: str
    #: used for the sandbox's own downloads (imports, posters)
    http: httpx.Client
    executor: ThreadPoolExecutor
    #: multipart parts on disk until completion
    parts: PartStore
    stopping: threading.Event = field(default_factory=threading.Event)
    #: signed webhook deliveries; None unless ``config.webhook_url`` is set
    webhooks: WebhookSender | None = None

    @property
    def s3_host(self) -> str:
        """``host:port`` of the S3 front, as clients send it in ``Host`` (signed header)."""
        return self.s3_url.split("://", 1)[1]

    def cdn_url(self, path: str) -> str:
        """URL of an image on the sandbox's pretend CDN (served under ``/_sandbox/cdn``)."""
        return f"{self.base_url}/_sandbox/cdn/{path}"
