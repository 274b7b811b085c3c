"""FireworkCredentials block, FIREWORK_* settings and the credential resolver."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import SecretStr

from prefect_firework.blocks import (
    CredentialsNotFoundError,
    FireworkCredentials,
    resolve_credentials,
)
from prefect_firework.settings import FireworkSettings

pytestmark = pytest.mark.prefect_server


class TestFireworkCredentialsStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self) -> type[FireworkCredentials]:
        return FireworkCredentials


def make(**overrides) -> FireworkCredentials:
    values = {"client_id": "cid", "client_secret": "s3cr3t-value", "base_url": "http://127.0.0.1:9"}
    values.update(overrides)
    return FireworkCredentials(**values)


def test_defaults_follow_the_spec():
    creds = FireworkCredentials(client_id="a", client_secret="b")
    assert creds.base_url == "https://api.firework.com"
    assert creds.resolved_token_url == "https://api.firework.com/oauth/token"
    assert creds.scopes == "videos:read videos:write"
    assert isinstance(creds.client_secret, SecretStr)


def test_secret_never_in_repr_or_str():
    creds = make()
    for text in (repr(creds), str(creds), f"{creds!r}"):
        assert "s3cr3t-value" not in text


def test_save_and_load_round_trip():
    make(token_url="http://127.0.0.1:9/custom/token", timeout=12.5).save("prod", overwrite=True)
    loaded = FireworkCredentials.load("prod")
    assert loaded.client_id == "cid"
    assert loaded.client_secret.get_secret_value() == "s3cr3t-value"
    assert loaded.resolved_token_url == "http://127.0.0.1:9/custom/token"
    assert loaded.timeout == 12.5


def test_get_client_is_shared_for_equal_credentials():
    a, b = make(), make()
    assert a.get_client() is b.get_client()
    assert make(client_id="other").get_client() is not a.get_client()


def test_a_shared_client_closed_by_a_with_block_is_replaced_not_handed_out_closed():
    """``with creds.get_client() as fw:`` closes the client every task of the process shares;
    the next ``get_client()`` (a flow's task) must get a working one, not "client closed"."""
    creds = make(client_id="with-block")
    with creds.get_client() as fw:
        assert not fw.closed
    assert fw.closed
    again = creds.get_client()
    assert again is not fw and not again.closed
    assert make(client_id="with-block").get_client() is again


def test_resolver_prefers_explicit_then_named_block_then_env(monkeypatch):
    explicit = make(client_id="explicit")
    assert resolve_credentials(explicit) is explicit

    make(client_id="from-block").save("named", overwrite=True)
    assert resolve_credentials("named").client_id == "from-block"

    monkeypatch.setenv("FIREWORK_CLIENT_ID", "from-env")
    monkeypatch.setenv("FIREWORK_CLIENT_SECRET", "env-secret")
    monkeypatch.setenv("FIREWORK_BASE_URL", "http://127.0.0.1:9")
    resolved = resolve_credentials()
    assert resolved.client_id == "from-env"
    assert resolved.base_url == "http://127.0.0.1:9"
    assert resolved.client_secret.get_secret_value() == "env-secret"

    monkeypatch.setenv("FIREWORK_CREDENTIALS_BLOCK", "named")
    assert resolve_credentials().client_id == "from-block"


def test_resolver_reads_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("FIREWORK_CLIENT_ID=dot\nFIREWORK_CLIENT_SECRET=dotsecret\n")
    assert FireworkSettings().client_id == "dot"
    assert resolve_credentials().client_id == "dot"


def test_resolver_error_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CredentialsNotFoundError) as info:
        resolve_credentials()
    message = str(info.value)
    for name in ("FIREWORK_CLIENT_ID", "FIREWORK_CLIENT_SECRET", "FIREWORK_CREDENTIALS_BLOCK"):
        assert name in message


def test_resolver_rejects_other_types():
    with pytest.raises(TypeError, match="FireworkCredentials"):
        resolve_credentials(42)  # type: ignore[arg-type]


def test_block_register_lists_firework_credentials():
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "prefect_firework"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Firework Credentials" in done.stdout
