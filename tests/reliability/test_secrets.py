"""Secrets and trust: nothing secret leaks, the token goes only to the API, TLS stays on.

A full batch runs at DEBUG with faults (a 503, a token expiring mid-run, a reset part, an
ambiguous create), over every path plus rows whose *source* and import URLs are presigned
(``?X-Amz-Signature=...``). Then every place a secret could end up is scanned for the exact
secret values the run handled: the OAuth client secret, every access token the sandbox issued,
every presigned POST policy and signature, every part URL's ``X-Amz-*`` values and the
sandbox's signing key, and the users' own presigned query strings. Places: log records of the
root, ``prefect``, ``httpx`` and ``httpcore`` loggers at DEBUG (with tracebacks), everything
written to stdout/stderr, exception texts and tracebacks, Prefect artifacts, flow and task runs
(parameters, state messages) and their logs in the Prefect API, the results DataFrame, the output
files, the ledger, and Prefect's result storage.

One deliberate exception, by design: the resumable multipart step (``create_multipart_upload``)
persists its result, which holds the part URLs a rerun needs to resume. Those results may hold
part-URL signatures, and nothing else may (see docs/RELIABILITY.md: result storage is a
credential cache).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import pickle
import re
import ssl
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from flow_results import results_of
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from reliability_support import MIB, mp4, set_retry_delay, when

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client import FireworkClient
from prefect_firework.client.errors import FireworkError
from prefect_firework.flows import update_videos, upload_videos
from prefect_firework.models import MultipartUpload
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.api import _uploads as sandbox_uploads

pytestmark = pytest.mark.prefect_server

LOGGERS = ("", "prefect", "httpx", "httpcore", "prefect_firework", "prefect_firework.client")
USER_SIGNATURE = "b7e1c0ffee5ec2e7f00dfacade0123456789abcdef0123456789abcdef012345"
USER_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAUSERSOURCE77%2F20261127%2Fus-east-1"
    f"%2Fs3%2Faws4_request&X-Amz-Signature={USER_SIGNATURE}&token=user-cdn-token-31415"
)


class Capture(logging.Handler):
    """Every record, formatted with its traceback, as a handler further down would see it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    capture = Capture()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    yield capture
    for logger, level in saved:
        logger.removeHandler(capture)
        logger.setLevel(level)


@pytest.fixture
def part_urls(monkeypatch) -> list[str]:
    """Every part URL the sandbox signs (the only copy of their signatures besides the client)."""
    urls: list[str] = []
    original = sandbox_uploads.presign_part

    def recording(*args: Any, **kwargs: Any) -> str:
        url = original(*args, **kwargs)
        urls.append(url)
        return url

    monkeypatch.setattr(sandbox_uploads, "presign_part", recording)
    return urls


def harvest(sb: Sandbox, part_urls: list[str]) -> dict[str, str]:
    """secret value -> what it is, for everything secret the run handled."""
    found: dict[str, str] = {sb.client_secret: "client_secret"}
    state = sb._state  # the sandbox is ours: read what it issued
    with state.locked():
        for token in state.tokens.values():
            found[token.value] = "access token"
        for post in state.posts.values():
            found[post.policy] = "POST policy"
            found[post.signature] = "POST signature"
    for url in part_urls:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        found[query["X-Amz-Signature"]] = "part URL signature"
        found[query["X-Amz-Credential"]] = "part URL credential"
        found[urllib.parse.urlsplit(url).query] = "part URL query"
    identity = sb._core.identity
    found[identity.secret_key] = "S3 signing key"
    found[USER_SIGNATURE] = "user's presigned source signature"
    found["AKIAUSERSOURCE77"] = "user's presigned source credential"
    found["user-cdn-token-31415"] = "user's source token"
    return {k: v for k, v in found.items() if k and len(k) >= 8}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted({what for value, what in secrets.items() if value in text})


def _prefect_records(flow_run_ids: list[Any]) -> dict[str, str]:
    """Everything the Prefect API keeps about the runs, as text per place."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # sends every log record still queued

    async def read() -> dict[str, str]:
        async with get_client() as client:
            runs = [await client.read_flow_run(i) for i in flow_run_ids]
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
            )
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)
                )
            )
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
            )
        return {
            "flow runs (parameters, states)": "\n".join(r.model_dump_json() for r in runs),
            "task runs (inputs, names, states)": "\n".join(t.model_dump_json() for t in tasks),
            "artifacts": "\n".join(a.model_dump_json() for a in artifacts),
            "logs in the Prefect API": "\n".join(entry.message for entry in logs),
        }

    return asyncio.run(read())


def _result_storage_objects(root: Path) -> Iterator[tuple[Path, bytes, Any]]:
    """(file, payload bytes, decoded object or None) for each stored result record."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        try:
            record = json.loads(raw)
        except ValueError:
            yield path, raw, None
            continue
        result = record.get("result") if isinstance(record, dict) else None
        serializer = ((record.get("metadata") or {}).get("serializer") or {}).get("type")
        if isinstance(result, str) and serializer in ("pickle", "cloudpickle"):
            payload = base64.b64decode(result)
            try:
                obj = pickle.loads(payload)
            except Exception:
                obj = None
            yield path, raw + payload, obj
        else:
            yield path, raw, None


def test_full_batch_at_debug_leaks_no_secret(
    sb, ledger, tmp_path, monkeypatch, debug_logs, part_urls, capfd
):
    set_retry_delay(monkeypatch, 0.0)
    credentials = FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )
    served_dir = tmp_path / "served"
    mp4(served_dir / "clip.mp4", size=50_000, seed=41)
    mp4(served_dir / "remote.mp4", size=52_000, seed=42)
    served = sb.serve_files(served_dir).rstrip("/")
    rows = [
        {"source": mp4(tmp_path / "a.mp4", size=40_000, seed=43)},
        {"source": mp4(tmp_path / "b.mp4", size=41_000, seed=44)},
        {"source": mp4(tmp_path / "big.mp4", size=11 * MIB, seed=45)},
        {"source": f"{served}/remote.mp4?{USER_QUERY}"},  # a presigned *source* URL
        {"url": f"{served}/clip.mp4?{USER_QUERY}"},  # a presigned import URL, sync
        {"url": f"{served}/clip.mp4?{USER_QUERY}&v=2", "async": True},
        {"source": mp4(tmp_path / "c.mp4", size=42_000, seed=46)},  # its create: ambiguous
    ]
    manifest = pd.DataFrame(
        [
            {**r, "channel_id": sb.channel_id, "caption": f"secret test {i}"}
            for i, r in enumerate(rows)
        ]
    )
    # a manifest file: its path is the flow run's parameter (a DataFrame is stored as a one-line
    # summary: see test_dataframe_manifest_parameters_keep_presigned_urls_out_of_the_api)
    manifest_path = tmp_path / "manifest.csv"
    manifest.to_csv(manifest_path, index=False)
    sb.faults.inject("upload_signature", status=503, times=1)
    sb.faults.reset_connection("s3_part", times=1)
    output = tmp_path / "results.csv"
    ambiguous = lambda: sb.faults.inject("create_video", 500, times=1)  # noqa: E731
    with (
        when(sb, "multipart_signatures", sb.expire_tokens),
        when(sb, "create_video", ambiguous, after=5),
    ):
        state = results_of(
            upload_videos,
            str(manifest_path),
            credentials=credentials,
            ledger=ledger,
            output=str(output),
            multipart_threshold=4 * MIB,
            return_state=True,
        )
    frame = state.result()
    assert set(frame["status"]) <= {"created", "imported", "failed"}
    assert (frame["status"] != "failed").sum() >= 5, frame[["row", "status", "error"]]
    made = frame["video_id"].dropna().tolist()
    sb.faults.inject("update_video", status=503, times=1)
    parquet = tmp_path / "updates.parquet"
    update_state = results_of(
        update_videos,
        pd.DataFrame({"video_id": [*made, "no-such-video"], "caption": "renamed"}),
        credentials=credentials,
        output=str(parquet),
        return_state=True,
    )
    updates = update_state.result()
    assert (updates["status"] == "updated").sum() == len(made)

    # exceptions, as a user would print them: a refused part, an unknown video, a bad secret
    client = credentials.get_client()
    errors: list[BaseException] = []
    upload = client.create_multipart_upload(
        filename="x.mp4", mime_type="video/mp4", channel_id=sb.channel_id, parts_count=1
    )
    sb.advance_clock(3700)  # the URL (and the token) expire
    for call in (
        lambda: client.upload_part(upload.parts[0].put_url, str(tmp_path / "a.mp4"), 0, 100),
        lambda: client.get_video("no-such-video"),
        lambda: FireworkClient(
            sb.client_id, "wrong-secret-123456", base_url=sb.base_url
        ).get_access_token(),
    ):
        with pytest.raises(FireworkError) as info:
            call()
        errors.append(info.value)
    exception_text = "\n".join(
        f"{e}\n{e!r}\n{''.join(traceback.format_exception(e))}" for e in errors
    )

    secrets = harvest(sb, part_urls)
    kinds = set(secrets.values())
    assert {"access token", "POST policy", "part URL signature", "client_secret"} <= kinds
    out, err = capfd.readouterr()
    places = {
        "DEBUG log records": "\n".join(debug_logs.lines),
        "stdout and stderr": out + err,
        "exceptions and tracebacks": exception_text,
        "results DataFrames": frame.to_csv() + updates.to_csv() + frame.to_json(),
        "output files": output.read_text() + pd.read_parquet(parquet).to_csv(),
        "output files (raw bytes)": parquet.read_bytes().decode("latin-1"),
        "ledger": "\n".join(p.read_text() for p in (tmp_path / "ledger").rglob("*") if p.is_file()),
        **_prefect_records(
            [state.state_details.flow_run_id, update_state.state_details.flow_run_id]
        ),
    }
    assert len(debug_logs.lines) > 50 and any("httpx" in line for line in debug_logs.lines)
    found = {place: leaks(text, secrets) for place, text in places.items()}
    assert not any(found.values()), {p: w for p, w in found.items() if w}

    # result storage: only the resumable multipart step's own results hold part URLs
    part_only = {k for k, v in secrets.items() if v.startswith("part URL")}
    cached_parts = 0
    for path, payload, obj in _result_storage_objects(Path(PREFECT_LOCAL_STORAGE_PATH.value())):
        text = payload.decode("latin-1")
        what = leaks(text, secrets)
        if not what:
            continue
        assert isinstance(obj, MultipartUpload), (path, what)
        assert all(value in part_only for value in secrets if value in text), (path, what)
        cached_parts += 1
    assert cached_parts >= 1, "the multipart step's result is where the resume URLs live"


def test_dataframe_manifest_parameters_keep_presigned_urls_out_of_the_api(sb, ledger, tmp_path):
    credentials = FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )
    manifest = pd.DataFrame(
        [
            {
                "source": f"https://cdn.example.com/v.mp4?{USER_QUERY}",
                "channel_id": sb.channel_id,
                "caption": "c",
                "access": "secret",
            }
        ]
    )  # an invalid row: no I/O
    state = results_of(
        upload_videos, manifest, credentials=credentials, ledger=ledger, return_state=True
    )
    stored = _prefect_records([state.state_details.flow_run_id])["flow runs (parameters, states)"]
    assert sb.client_secret not in stored, "the credentials block is stored masked"
    assert USER_SIGNATURE not in stored


def test_token_goes_only_to_the_api_host(sb, ledger, tmp_path, monkeypatch):
    """Every request the process sends is recorded at the transport: the bearer token only
    ever travels to the API's origin, never to S3, the import URL's host or a source host."""
    seen: list[tuple[str, int | None, str, bool]] = []
    original = httpx.HTTPTransport.handle_request

    def recording(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append(
            (
                request.url.host,
                request.url.port,
                request.url.path,
                "authorization" in request.headers,
            )
        )
        return original(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", recording)
    set_retry_delay(monkeypatch, 0.0)
    credentials = FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )
    served_dir = tmp_path / "served"
    mp4(served_dir / "clip.mp4", size=50_000, seed=51)
    mp4(served_dir / "src.mp4", size=51_000, seed=52)
    served = sb.serve_files(served_dir).rstrip("/")
    manifest = pd.DataFrame(
        [
            {"source": mp4(tmp_path / "a.mp4", size=40_000, seed=53)},
            {"source": mp4(tmp_path / "big.mp4", size=11 * MIB, seed=54)},
            {"source": f"{served}/src.mp4"},
            {"url": f"{served}/clip.mp4"},
            {"url": f"{served}/clip.mp4?v=2", "async": True},
        ]
    ).assign(channel_id=sb.channel_id, caption="token test")
    sb.expire_tokens()  # a 401 and a refresh on the way, too
    frame = results_of(
        upload_videos, manifest, credentials=credentials, ledger=ledger, multipart_threshold=4 * MIB
    )
    assert set(frame["status"]) <= {"created", "imported"}, frame[["status", "error"]]
    api = httpx.URL(sb.base_url)
    s3 = httpx.URL(sb.s3_url)
    files = httpx.URL(served)
    with_token = {(h, p) for h, p, _, auth in seen if auth}
    assert with_token == {(api.host, api.port)}, with_token
    to_s3 = [s for s in seen if (s[0], s[1]) == (s3.host, s3.port)]
    to_files = [s for s in seen if (s[0], s[1]) == (files.host, files.port)]
    assert to_s3 and not any(auth for *_, auth in to_s3)
    assert to_files and not any(auth for *_, auth in to_files)
    # the S3 front saw the uploads as plain presigned requests
    assert {r.endpoint for r in sb.requests} >= {"s3_post", "s3_part", "create_video"}


def test_tls_verification_has_no_off_switch_for_real_endpoints():
    client = FireworkCredentials(client_id="c", client_secret="s").get_client()
    try:
        for http in (client._http, client._s3):
            context = http._transport._pool._ssl_context
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    finally:
        client.close()
    with pytest.raises(ValueError, match="TLS verification"):
        FireworkClient("c", "s", base_url="https://api.firework.com", verify=False)
    with pytest.raises(ValueError, match="TLS verification"):
        FireworkClient("c", "s", base_url="http://10.0.0.8:8765", verify=False)
    # the sandbox on loopback is the one place it may be off (it speaks plain HTTP anyway)
    FireworkClient("c", "s", base_url="http://127.0.0.1:8765", verify=False).close()
    # and nothing in the package turns it off
    package = Path(__file__).parents[2] / "prefect_firework"
    switch_off = re.compile(r"verify\s*=\s*False\s*[,)\n]|CERT_NONE|check_hostname\s*=\s*False")
    offenders = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if switch_off.search(p.read_text())
    ]
    assert offenders == [], offenders


def test_sandbox_binds_loopback_only_unless_allowed():
    with Sandbox(SandboxConfig()) as local:
        assert local.base_url.startswith("http://127.0.0.1:")
        assert local.s3_url.startswith("http://127.0.0.1:")
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(ValueError, match="allow_remote"):
            Sandbox(SandboxConfig(host=host)).start()


def test_third_party_loggers_at_debug_leak_no_storage_key_or_signature(
    sb, ledger, tmp_path, monkeypatch
):
    """smart-open logs ``transport_params`` at DEBUG and botocore its signatures: with those
    loggers sent to a real Prefect server, neither the storage key nor any signature reaches
    its database (the package filters the loggers its calls drive)."""
    import os
    import subprocess
    import sys
    import uuid

    import boto3
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL

    storage_secret = "S3cretStorageKey" + uuid.uuid4().hex  # moto accepts any
    init = {
        "endpoint_url": sb.moto_url,
        "aws_access_key_id": "AKIADEBUGRUN" + uuid.uuid4().hex[:8].upper(),
        "aws_secret_access_key": storage_secret,
        "region_name": "us-east-1",
    }
    s3 = boto3.session.Session().client("s3", **init)
    bucket = f"debug-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(mp4(tmp_path / "d.mp4", size=11 * MIB, seed=11), bucket, "d.mp4")
    manifest = tmp_path / "m.csv"
    pd.DataFrame(
        [{"source": f"s3://{bucket}/d.mp4", "channel_id": sb.channel_id, "caption": "debug"}]
    ).to_csv(manifest, index=False)
    signatures = tmp_path / "signatures.json"
    args = {
        "manifest": str(manifest),
        "ledger": str(tmp_path / "child-ledger"),
        "transport_params": {"client_kwargs": {"S3.Client": init}},
        "credentials": {
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "base_url": sb.base_url,
        },
        "signatures": str(signatures),
        "multipart_threshold": 4 * MIB,
        "debug_loggers": ["smart_open", "botocore", "urllib3"],
    }
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_LOGGING_LEVEL": "DEBUG",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "smart_open,botocore,urllib3",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    child = Path(__file__).with_name("batch_child.py")
    done = subprocess.run(
        [sys.executable, str(child), json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["created"]
    signed = json.loads(signatures.read_text())
    assert signed, "the run signed S3 requests (the check below is not vacuous)"

    database = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split("///", 1)[1])
    stored = b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file()
    )
    assert b"botocore" in stored or b"smart_open" in stored, "third-party logs reached the API"
    output = done.stdout + done.stderr
    for name, value in [("storage key", storage_secret), *(("signature", s) for s in signed)]:
        if value.encode() in stored:  # not an assert: pytest would print the whole database
            pytest.fail(f"a {name} is in the Prefect database")
        if value in output:
            pytest.fail(f"a {name} is in the run's output")
