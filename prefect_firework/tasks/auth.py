"""Token task: fetch (or reuse) the OAuth2 access token."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.models import AccessToken
from prefect_firework.tasks._policy import RETRY_DELAYS, RETRY_JITTER, retry_condition

__all__ = ["get_access_token"]


@task(
    name="get_access_token",
    cache_policy=NO_CACHE,
    persist_result=False,  # a token is a secret: it never goes to result storage
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_condition,
)
def get_access_token(credentials: FireworkCredentials | str | None = None) -> AccessToken:
    """Return a valid access token (client credentials grant), cached by the shared client.

    Other tasks do not need this: the client fetches and refreshes tokens itself. It is here
    to check credentials early in a flow, and for users who call other tools with the token.

    Args:
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The ``AccessToken``; its ``access_token`` is secret (masked in reprs and logs, and
        the task never persists its result).

    Raises:
        AuthenticationError: The token endpoint refused the client id, secret or scopes
            (400 or 401; not retried).
    """
    return resolve_credentials(credentials).get_client().get_access_token()
