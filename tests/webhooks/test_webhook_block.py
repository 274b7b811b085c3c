"""The FireworkWebhookSecret block: Prefect's block standards, storage, no secret in reprs."""

from __future__ import annotations

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite

import prefect_firework
from prefect_firework.blocks import FireworkWebhookSecret
from prefect_firework.webhooks.serve import load_secret

pytestmark = pytest.mark.prefect_server


class TestFireworkWebhookSecretStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[FireworkWebhookSecret]:
        return FireworkWebhookSecret


def test_save_and_load_round_trip():
    FireworkWebhookSecret(secret="s3cr3t-hook", previous_secret="old-hook", tolerance=120).save(
        "hooks", overwrite=True
    )
    loaded = FireworkWebhookSecret.load("hooks")
    assert loaded.get_secrets() == ["s3cr3t-hook", "old-hook"]
    assert loaded.tolerance == 120
    for text in (repr(loaded), str(loaded)):
        assert "s3cr3t-hook" not in text and "old-hook" not in text


def test_the_cli_finds_the_block_or_the_environment(monkeypatch):
    FireworkWebhookSecret(secret="from-block").save("cli-hooks", overwrite=True)
    assert load_secret("cli-hooks").get_secrets() == ["from-block"]
    monkeypatch.setenv("FIREWORK_WEBHOOK_SECRET_BLOCK", "cli-hooks")
    assert load_secret().get_secrets() == ["from-block"]
    monkeypatch.delenv("FIREWORK_WEBHOOK_SECRET_BLOCK")
    monkeypatch.setenv("FIREWORK_WEBHOOK_SECRET", "from-env")
    assert load_secret().get_secrets() == ["from-env"]
    monkeypatch.delenv("FIREWORK_WEBHOOK_SECRET")
    with pytest.raises(LookupError):
        load_secret()


def test_block_registration_finds_it():
    # `prefect block register -m prefect_firework` collects the blocks the package exposes
    assert prefect_firework.FireworkWebhookSecret is FireworkWebhookSecret
    assert "FireworkWebhookSecret" in dir(prefect_firework)
