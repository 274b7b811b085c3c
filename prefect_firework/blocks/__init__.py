"""Prefect blocks for Firework."""

from prefect_firework.blocks.credentials import (
    CredentialsNotFoundError,
    FireworkCredentials,
    resolve_credentials,
)

__all__ = ["CredentialsNotFoundError", "FireworkCredentials", "resolve_credentials"]
