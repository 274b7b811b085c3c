"""Prefect blocks for Firework."""

from prefect_firework.blocks.credentials import (
    CredentialsNotFoundError,
    FireworkCredentials,
    resolve_credentials,
)
from prefect_firework.blocks.webhook import FireworkWebhookSecret

__all__ = [
    "CredentialsNotFoundError",
    "FireworkCredentials",
    "FireworkWebhookSecret",
    "resolve_credentials",
]
