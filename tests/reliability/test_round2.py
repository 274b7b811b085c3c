"""Reliability round 2 (issue 14): rows that say the truth, runs that end, bad input that no
longer crashes. Each test reproduces what an attack from outside the suite found."""

from __future__ import annotations

import errno
import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pandas as pd
import pytest
from flow_results import results_of
from reliability_support import AMBIGUOUS, MIB, calls, count, field, mp4, one

from prefect_firework.batch._ledger import Ledger, LedgerEntry, key_digest
from prefect_firework.errors import ManifestError
from prefect_firework.flows import upload_videos
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

THRESHOLD = 4 * MIB


def _entries(ledger: Ledger) -> list[LedgerEntry]:
    directory = ledger.local_directory
    assert directory is not None
    return [
        LedgerEntry.model_validate_json(p.read_bytes())
        for p in sorted((directory / "entries").glob("*.json"))
    ]


# -- 2: a row is marked "creating" only when its request is about to leave ------------------


def test_rows_waiting_for_the_pacer_are_not_marked_creating(
    credentials, ledger, tmp_path, monkeypatch, sandbox
):
    from prefect_firework.sandbox import Sandbox, SandboxConfig

    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", "2")
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_WINDOW", "4")
    with Sandbox(config=SandboxConfig(rate_limit_count=2, rate_limit_window=4)) as paced:
        from prefect_firework.blocks import FireworkCredentials

        creds = FireworkCredentials(
            client_id=paced.client_id, client_secret=paced.client_secret, base_url=paced.base_url
        )
        served = tmp_path / "served"
        for i in range(5):
            make_mp4(served / f"c{i}.mp4", 4, size=30_000 + i, seed=i)
        base = paced.serve_files(served).rstrip("/")
        manifest = pd.DataFrame(
            [
                {"url": f"{base}/c{i}.mp4", "channel_id": paced.channel_id, "caption": f"c{i}"}
                for i in range(5)
            ]
        )
        result: dict[str, pd.DataFrame] = {}
        run = threading.Thread(
            target=lambda: result.update(
                frame=results_of(upload_videos, manifest, credentials=creds, ledger=ledger)
            )
        )
        run.start()
        try:
            deadline = time.monotonic() + 60
            while count(paced, "create_video") < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.0)  # the other three wait for the window: 3 s to go
            marked = [e for e in _entries(ledger) if e.status in ("creating", "created")]
            sent = count(paced, "create_video")
            assert sent == 2
            assert len(marked) <= sent, f"{len(marked)} rows marked for {sent} creates sent"
        finally:
            run.join(120)
        assert list(result["frame"]["status"]) == ["imported"] * 5


# -- 3: a source that changes during an upload never becomes a video of mixed bytes -----------


def _after_first_part(monkeypatch: pytest.MonkeyPatch, action) -> None:
    """Run ``action`` once, right after the first part's PUT returned (with
    ``max_concurrency=1`` the next part starts only after it: no race with the change)."""
    from prefect_firework.client import FireworkClient

    original = FireworkClient.upload_part
    done: list[bool] = []

    def upload_part(self, *args, **kwargs):
        etag = original(self, *args, **kwargs)
        if not done:
            done.append(True)
            action()
        return etag

    monkeypatch.setattr(FireworkClient, "upload_part", upload_part)


def test_a_file_rewritten_in_place_mid_upload_fails_and_is_never_completed(
    sb, credentials, ledger, tmp_path, monkeypatch
):
    source = Path(mp4(tmp_path / "rewritten.mp4", size=11 * MIB, seed=3))
    replacement = Path(mp4(tmp_path / "other.mp4", size=11 * MIB, seed=4))

    def rewrite() -> None:  # same size, other bytes, same inode
        with open(source, "r+b") as handle:
            handle.write(replacement.read_bytes()[: source.stat().st_size])

    manifest = pd.DataFrame(
        [{"source": str(source), "channel_id": sb.channel_id, "caption": "mixed?"}]
    )
    _after_first_part(monkeypatch, rewrite)
    frame = results_of(
        upload_videos,
        manifest,
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
        max_concurrency=1,
    )
    row = one(frame)
    assert row["status"] == "failed" and "SourceChangedError" in row["error"], row
    assert count(sb, "multipart_complete") == 0 and sb.videos() == []
    assert AMBIGUOUS not in row["error"]


def test_a_file_that_grew_after_preflight_is_not_posted_short(
    sb, credentials, ledger, tmp_path, monkeypatch
):
    from prefect_firework.client import FireworkClient

    source = Path(mp4(tmp_path / "grows.mp4", size=60_000, seed=5))
    original = FireworkClient.create_upload_signature

    def signed_then_grown(self, **kwargs):
        signature = original(self, **kwargs)
        with open(source, "ab") as handle:
            handle.write(b"\0" * 4096)
        return signature

    monkeypatch.setattr(FireworkClient, "create_upload_signature", signed_then_grown)
    frame = results_of(
        upload_videos,
        pd.DataFrame([{"source": str(source), "channel_id": sb.channel_id, "caption": "g"}]),
        credentials=credentials,
        ledger=ledger,
    )
    row = one(frame)
    assert row["status"] == "failed" and "SourceChanged" in row["error"], row
    assert sb.objects() == [] and sb.videos() == []


def test_an_s3_source_overwritten_mid_upload_fails(sb, credentials, ledger, tmp_path, monkeypatch):
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=sb.moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    bucket = f"media-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    first = mp4(tmp_path / "v1.mp4", size=11 * MIB, seed=6)
    second = mp4(tmp_path / "v2.mp4", size=11 * MIB, seed=7)
    s3.upload_file(first, bucket, "clip.mp4")
    tp = {
        "client_kwargs": {
            "S3.Client": {
                "endpoint_url": sb.moto_url,
                "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing",
                "region_name": "us-east-1",
            }
        }
    }
    manifest = pd.DataFrame(
        [{"source": f"s3://{bucket}/clip.mp4", "channel_id": sb.channel_id, "caption": "s3"}]
    )
    _after_first_part(monkeypatch, lambda: s3.upload_file(second, bucket, "clip.mp4"))
    frame = results_of(
        upload_videos,
        manifest,
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
        max_concurrency=1,
        transport_params=tp,
    )
    row = one(frame)
    assert row["status"] == "failed" and "SourceChangedError" in row["error"], row
    assert "ETag" in row["error"] and count(sb, "multipart_complete") == 0
    assert sb.videos() == []


def test_an_http_source_replaced_mid_upload_fails(sb, credentials, ledger, tmp_path, monkeypatch):
    served = tmp_path / "served"
    path = Path(mp4(served / "clip.mp4", size=11 * MIB, seed=8))
    other = Path(mp4(tmp_path / "other.mp4", size=11 * MIB, seed=9))
    url = sb.serve_files(served).rstrip("/") + "/clip.mp4"

    def replace() -> None:
        time.sleep(0.01)  # a new mtime, whatever the file system's resolution
        other.replace(path)

    _after_first_part(monkeypatch, replace)
    frame = results_of(
        upload_videos,
        pd.DataFrame([{"source": url, "channel_id": sb.channel_id, "caption": "http"}]),
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
        max_concurrency=1,
    )
    row = one(frame)
    assert row["status"] == "failed" and "SourceChangedError" in row["error"], row
    assert count(sb, "multipart_complete") == 0 and sb.videos() == []


# -- 4: a ledger write that fails after the create keeps the video id --------------------------


def test_a_full_disk_after_the_create_keeps_the_video_id(sb, credentials, tmp_path, monkeypatch):
    ledger = Ledger(tmp_path / "full")
    original = Ledger._write_local

    def full_disk(path: Path, content: bytes) -> None:
        if b'"status":"created"' in content:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, content)

    monkeypatch.setattr(Ledger, "_write_local", staticmethod(full_disk))
    monkeypatch.setattr("prefect_firework.batch._create.time.sleep", lambda s: None)
    source = mp4(tmp_path / "d.mp4")
    frame = results_of(
        upload_videos,
        pd.DataFrame([{"source": source, "channel_id": sb.channel_id, "caption": "disk"}]),
        credentials=credentials,
        ledger=ledger,
    )
    row = one(frame)
    [video] = sb.videos()
    assert row["status"] == "created" and row["video_id"] == video["id"], row
    assert "ledger not updated" in row["error"] and "No space left" in row["error"]
    assert str(tmp_path / "full") in row["error"], "the ledger's path is named"
    assert f"--video-id {video['id']}" in row["error"]
    assert "recreate_uncertain" not in row["error"], "never advise recreating a known video"
    entry = ledger.get(row["key"])
    assert entry is not None and entry.status == "creating"


# -- 6: a lock left by a run on another host ---------------------------------------------------


def _foreign_lock(ledger: Ledger, key: str, *, expires: datetime | None) -> Path:
    directory = ledger.lock_directory
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    lock = directory / f"{key_digest(key)}.lock"
    lock.write_text(
        json.dumps(
            {
                "holder": "prefect-firework|worker-7f3a|4242|123|1|deadbeef",
                "acquired": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
                "expiration": None if expires is None else expires.isoformat(),
            }
        )
    )
    return lock


def test_a_foreign_lock_is_broken_once_its_lease_ran_out(sb, credentials, ledger, tmp_path):
    source = mp4(tmp_path / "l.mp4")
    manifest = pd.DataFrame([{"source": source, "channel_id": sb.channel_id, "caption": "lock"}])
    from prefect_firework.batch import parse_upload_rows, upload_row_key
    from prefect_firework.sources import preflight

    key = upload_row_key(parse_upload_rows(manifest)[0], preflight(source).fingerprint)
    _foreign_lock(ledger, key, expires=datetime.now(timezone.utc) - timedelta(minutes=1))
    row = one(results_of(upload_videos, manifest, credentials=credentials, ledger=ledger))
    assert row["status"] == "created", row


def test_a_live_foreign_lock_fails_its_row_after_the_deadline_and_says_who(
    sb, credentials, ledger, tmp_path, caplog
):
    held = mp4(tmp_path / "held.mp4", seed=1)
    free = mp4(tmp_path / "free.mp4", seed=2)
    manifest = pd.DataFrame(
        [
            {"source": held, "channel_id": sb.channel_id, "caption": "held"},
            {"source": free, "channel_id": sb.channel_id, "caption": "free"},
        ]
    )
    from prefect_firework.batch import parse_upload_rows, upload_row_key
    from prefect_firework.sources import preflight

    key = upload_row_key(parse_upload_rows(manifest)[0], preflight(held).fingerprint)
    _foreign_lock(ledger, key, expires=datetime.now(timezone.utc) + timedelta(hours=1))
    started = time.monotonic()
    frame = results_of(
        upload_videos, manifest, credentials=credentials, ledger=ledger, lock_timeout=1.5
    )
    assert time.monotonic() - started < 60
    held_row, free_row = one(frame, 0), one(frame, 1)
    assert free_row["status"] == "created"
    assert held_row["status"] == "failed", held_row
    assert "host worker-7f3a pid 4242" in held_row["error"] and "lock_timeout" in held_row["error"]
    assert len(sb.videos()) == 1


# -- 9, 10: bad input that crashed --------------------------------------------------------------


def test_a_deeply_nested_json_lines_cell_is_a_manifest_error_naming_the_line(
    sb, credentials, ledger, tmp_path
):
    manifest = tmp_path / "deep.jsonl"
    good = {"source": mp4(tmp_path / "ok.mp4"), "channel_id": sb.channel_id, "caption": "ok"}
    manifest.write_text(
        json.dumps(good)
        + "\n"
        + '{"caption": "deep", "custom_fields": '
        + "[" * 50_000
        + "]" * 50_000
        + "}\n"
    )
    with pytest.raises(ManifestError, match="line 2: JSON nested deeper"):
        upload_videos(str(manifest), credentials=credentials, ledger=ledger)
    assert sb.requests == []


def test_a_malformed_source_uri_names_its_column_and_rule(sb, credentials, ledger):
    manifest = pd.DataFrame(
        [
            {"source": "http://[abc/x.mp4", "channel_id": sb.channel_id, "caption": "a"},
            {"source": "https://media.example.com:99999/x.mp4", "channel_id": "c", "caption": "b"},
            {"url": "https://media.example.com:99999/x.mp4", "channel_id": "c", "caption": "c"},
        ]
    )
    frame = results_of(upload_videos, manifest, credentials=credentials, ledger=ledger)
    assert list(frame["status"]) == ["invalid"] * 3
    assert frame.loc[0, "error"].startswith("row 0, column 'source': is not a valid")
    assert frame.loc[1, "error"].startswith("row 1, column 'source'")
    assert "Port" in frame.loc[1, "error"]
    assert frame.loc[2, "error"].startswith("row 2, column 'url'")
    assert "internal_error" not in " ".join(frame["error"]) and sb.requests == []


def test_the_request_log_holds_a_204_before_its_client_sees_it(sb, credentials, tmp_path):
    """A 204's headers are the whole response: the sandbox logs it before sending them (the
    flaky count of issue 14, item 11)."""
    from prefect_firework import tasks

    path = mp4(tmp_path / "p.mp4", size=60_000)
    for _ in range(20):
        sb.reset()
        tasks.upload_single.fn(
            path, "p.mp4", "video/mp4", sb.channel_id, size=60_000, credentials=credentials
        )
        assert [field(r, "status") for r in calls(sb, "s3_post")] == [204]


# -- 1: a 202 whose import already finished ---------------------------------------------------


def test_a_202_of_a_finished_import_records_the_video_id_not_the_import_id(
    sb, credentials, ledger, tmp_path
):
    served = tmp_path / "served"
    mp4(served / "done.mp4", size=50_000)
    url = sb.serve_files(served).rstrip("/") + "/done.mp4"
    sb.faults.answer_when_settled("create_video", timeout=30)
    manifest = pd.DataFrame(
        [{"url": url, "channel_id": sb.channel_id, "caption": "settled", "async": True}]
    )
    row = one(results_of(upload_videos, manifest, credentials=credentials, ledger=ledger))
    [video] = sb.videos()
    [job] = sb.imports()
    assert row["status"] == "imported", row
    assert row["video_id"] == video["id"] and row["import_id"] == job["id"] != video["id"]
    entry = ledger.get(row["key"])
    assert entry is not None and (entry.status, entry.video_id, entry.import_id) == (
        "imported",
        video["id"],
        job["id"],
    )
    assert count(sb, "get_import") == 0, "nothing left to poll"


def test_a_202_of_an_errored_import_is_a_failed_row(sb, credentials, ledger, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    url = sb.serve_files(served).rstrip("/") + "/missing.mp4"
    sb.faults.answer_when_settled("create_video", timeout=30)
    manifest = pd.DataFrame(
        [{"url": url, "channel_id": sb.channel_id, "caption": "gone", "async": True}]
    )
    row = one(results_of(upload_videos, manifest, credentials=credentials, ledger=ledger))
    [job] = sb.imports()
    assert row["status"] == "failed" and "errored" in row["error"], row
    assert row["import_id"] == job["id"] and pd.isna(row["video_id"])
    assert AMBIGUOUS not in row["error"] and sb.videos() == []
