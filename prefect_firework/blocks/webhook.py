"""The ``FireworkWebhookSecret`` block: the endpoint secret a webhook receiver verifies with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from prefect_firework.blocks._card import LOGO_URL, documentation_url

if TYPE_CHECKING:
    from prefect_firework.webhooks.app import WebhookReceiver

__all__ = ["FireworkWebhookSecret"]


class FireworkWebhookSecret(Block):
    """The endpoint secret that verifies the webhook deliveries Firework signs.

    Firework's IS team hands it out with the callback URL they configure. The receiver,
    deployments and the CLI (``prefect-firework webhooks --secret-block NAME``) share it from
    the block, stored encrypted. To rotate, put the new one in ``secret`` and the old one in
    ``previous_secret``: both verify until the old one is removed.

    Attributes:
        secret: The endpoint secret.
        previous_secret: An older secret still accepted while a rotation is under way.
        tolerance: Seconds a delivery's timestamp may differ from the receiver's clock.

    Example:
        Load the secret and build a receiver to mount in a FastAPI app:
        ```python
        from prefect_firework.blocks import FireworkWebhookSecret

        webhook_secret = FireworkWebhookSecret.load("BLOCK_NAME")
        receiver = webhook_secret.get_receiver()
        ```
    """

    _block_type_name = "Firework Webhook Secret"
    _logo_url = LOGO_URL  # type: ignore[assignment]
    _documentation_url = documentation_url("webhooks")  # type: ignore[assignment]

    secret: SecretStr = Field(default=..., description="The webhook endpoint secret.")
    previous_secret: SecretStr | None = Field(
        default=None, description="An older secret still accepted during a rotation."
    )
    tolerance: float = Field(
        default=300.0,
        gt=0,
        description="Seconds a signature timestamp may differ from now (replays past it fail).",
    )

    def get_secrets(self) -> list[str]:
        """The accepted secrets, current first (what the receiver verifies against)."""
        values = [self.secret, self.previous_secret]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def get_receiver(self, **options: Any) -> WebhookReceiver:
        """An ASGI ``WebhookReceiver`` verifying with this block; ``options`` as its own."""
        from prefect_firework.webhooks.app import WebhookReceiver

        return WebhookReceiver(self, **options)

    def __repr__(self) -> str:  # never show the secret, even masked
        return f"FireworkWebhookSecret(tolerance={self.tolerance:g})"
