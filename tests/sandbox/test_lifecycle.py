"""Starting and stopping: fast, on loopback only, and nothing left behind (threads, ports)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sandbox_support import HTTP, SMALL, wait_for

from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.config import human_size
from prefect_firework.sandbox.engine._server import bind_socket, is_loopback

CLI = Path(sys.executable).with_name("prefect-firework")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _ports(sb: Sandbox) -> list[int]:
    return [int(url.rsplit(":", 1)[1]) for url in (sb.base_url, sb.s3_url, sb.moto_url)]


def test_starts_fast_and_stops_without_leftovers(media) -> None:
    before = {t.ident for t in threading.enumerate()}
    started = time.perf_counter()
    sb = Sandbox(config=SMALL).start()
    elapsed = time.perf_counter() - started
    print(f"sandbox started in {elapsed:.2f} s")
    try:
        assert elapsed < 10, "must start in well under 3 s; 10 s is the generous CI bound"
        ports = _ports(sb)
        assert all(_port_open(p) for p in ports)
        assert sb.base_url.startswith("http://127.0.0.1:")
        # exercise every server so their threads exist before we stop; a client that keeps
        # connections open would keep the file server's handler threads alive, so close it
        files_url = sb.serve_files(media.dir)
        with httpx.Client() as client:
            assert client.get(f"{sb.base_url}/_sandbox/info").status_code == 200
            assert client.get(f"{files_url}/clip.mp4").status_code == 200
            assert client.get(f"{sb.s3_url}/{sb.bucket}").status_code == 405
        assert len({t.ident for t in threading.enumerate()} - before) >= 4
    finally:
        sb.stop()
    assert not any(_port_open(p) for p in ports)
    assert not _port_open(int(files_url.rsplit(":", 1)[1]))
    wait_for(lambda: {t.ident for t in threading.enumerate()} <= before, timeout=5)
    sb.stop()  # idempotent


def test_context_manager_and_properties_need_a_running_sandbox() -> None:
    sb = Sandbox(config=SMALL)
    with pytest.raises(RuntimeError, match="not running"):
        _ = sb.base_url
    with sb as running:
        assert running is sb and sb.running
        assert sb.token_url == f"{sb.base_url}/oauth/token"
        assert len(sb.channel_ids) >= 3 and sb.channel_id == sb.channel_ids[0]
        assert len(sb.business_store_ids) >= 2
        assert sb.other_business_channel_id not in sb.channel_ids
        assert len({sb.client_id, sb.read_only_client_id, sb.other_business_client_id}) == 3
    assert not sb.running


def test_products_carry_every_identifier_kind(sb: Sandbox) -> None:
    stores = set(sb.business_store_ids)
    assert {p.store_id for p in sb.products} == stores
    for product in sb.products:
        assert re.fullmatch(r"[A-Za-z0-9]{6,12}", product.id)
        assert product.external_id and product.units
        for unit in product.units:
            assert unit.external_id and unit.sku and unit.mpn
            assert re.fullmatch(r"\d{14}", unit.gtin)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_non_loopback_bind_is_refused_unless_allowed(host: str) -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        bind_socket(host, 0, allow_remote=False)
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="allow_remote"):
        Sandbox(config=SMALL.replace(host=host)).start()
    # no thread left behind (threads of earlier tests may end meanwhile: compare sets)
    assert set(threading.enumerate()) - before == set()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_are_loopback(host: str) -> None:
    assert is_loopback(host)


def test_config_is_validated_and_sizes_are_binary() -> None:
    with pytest.raises(ValueError, match="min_file_size"):
        SandboxConfig(min_file_size=10, max_file_size=5)
    with pytest.raises(ValueError, match="rate limit"):
        SandboxConfig(rate_limit_count=0)
    defaults = SandboxConfig()
    assert defaults.min_file_size == 25_600 and defaults.max_file_size == 5_368_709_120
    assert (defaults.min_duration, defaults.max_duration) == (3.0, 3600.0)
    assert (defaults.max_parts, defaults.min_part_size) == (100, 5_242_880)
    assert (defaults.rate_limit_count, defaults.rate_limit_window) == (20, 300.0)
    assert defaults.signature_lifetime == 3600 and defaults.token_lifetime == 3600
    assert human_size(25_600) == "25KB" and human_size(5 * 1024**3) == "5GB"
    assert human_size(1000) == "1000B"


def _read_banner(proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, str]:
    assert proc.stdout is not None
    fields: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while "inspect" not in fields:
        if time.monotonic() > deadline:
            raise AssertionError(f"no banner; got {fields}")
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"CLI exited early: {proc.wait()} {proc.stderr.read()}")
        name, sep, value = line.partition(": ")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def test_cli_prints_credentials_answers_and_stops_on_sigint() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(CLI), "sandbox", "--port", "0", "--s3-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        fields = _read_banner(proc)
        assert fields["base_url"].startswith("http://127.0.0.1:")
        assert fields["s3_url"].startswith("http://127.0.0.1:")
        channel_ids = fields["channel_ids"].split(", ")
        assert len(channel_ids) >= 3 and fields["channel_id"] == channel_ids[0]
        resp = HTTP.post(
            fields["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": fields["client_id"],
                "client_secret": fields["client_secret"],
            },
        )
        assert resp.status_code == 200 and resp.json()["token_type"] == "Bearer"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err and "ERROR" not in err, err


def test_cli_refuses_a_remote_host_without_allow_remote() -> None:
    result = subprocess.run(
        [str(CLI), "sandbox", "--host", "0.0.0.0", "--port", "0", "--s3-port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr and "Traceback" not in result.stderr
