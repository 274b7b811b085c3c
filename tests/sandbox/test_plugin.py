"""The pytest plugin: light to import, and its fixtures work in a user's own test suite."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sandbox_support import jpeg_bytes

from prefect_firework.sandbox.engine._probe import image_info, png_bytes

HEAVY = ("fastapi", "starlette", "uvicorn", "moto", "boto3", "av", "mutagen", "httpx")


def test_importing_the_plugin_loads_no_sandbox_dependencies() -> None:
    code = (
        "import sys, prefect_firework.sandbox.pytest_plugin, prefect_firework.sandbox\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


USER_TESTS = """
import httpx

def _token(sb):
    resp = httpx.post(sb.token_url, data={"grant_type": "client_credentials",
                      "client_id": sb.client_id, "client_secret": sb.client_secret})
    return resp.json()["access_token"]

def test_first_leaves_a_fault_and_a_request(firework_sandbox):
    firework_sandbox.faults.inject("get_video", status=500, times=None)
    assert _token(firework_sandbox)
    assert firework_sandbox.requests

def test_second_sees_a_clean_sandbox(firework_sandbox, firework_sandbox_session):
    assert firework_sandbox is firework_sandbox_session
    assert firework_sandbox.requests == [] and firework_sandbox.faults.active() == []
    assert firework_sandbox.config.min_part_size == 5_242_880

def test_factory(firework_sandbox_factory, firework_sandbox):
    small = firework_sandbox_factory(rate_limit_count=1)
    assert small.config.rate_limit_count == 1 and small.base_url != firework_sandbox.base_url
    assert _token(small)
"""


def test_fixtures_in_a_user_suite(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_image_sniffing() -> None:
    assert image_info(png_bytes(90, 160)) == ("png", 90, 160)
    assert image_info(jpeg_bytes(1920, 1080)) == ("jpg", 1920, 1080)
    assert image_info(b"GIF89a....") is None
    assert image_info(b"\x89PNG\r\n\x1a\n") is None
