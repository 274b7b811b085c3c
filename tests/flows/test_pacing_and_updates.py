"""Pacing under the per-channel create limit, 429 handling, updates and get_videos."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from batchflow_support import calls, field, files

from prefect_firework.batch._ledger import Ledger
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows import get_videos, update_videos, upload_videos
from prefect_firework.sandbox import Sandbox, SandboxConfig

pytestmark = pytest.mark.prefect_server

LIMIT, WINDOW = 3, 2.0


@pytest.fixture
def paced(monkeypatch):
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", str(LIMIT))
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_WINDOW", str(WINDOW))
    with Sandbox(config=SandboxConfig(rate_limit_count=LIMIT, rate_limit_window=WINDOW)) as sb:
        creds = FireworkCredentials(
            client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
        )
        yield sb, creds


def create_times(sb, channel=None):
    return sorted(field(r, "time") for r in calls(sb, "create_video") if field(r, "status") == 201)


def minimum_makespan(n: int) -> float:
    """First create to last create when only LIMIT may start per WINDOW."""
    return (math.ceil(n / LIMIT) - 1) * WINDOW


def test_pacer_ten_videos_one_channel_no_429(paced, tmp_path):
    sb, creds = paced
    srcs = files(tmp_path, 10)
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": f"p{i}"} for i, s in enumerate(srcs)]
    )
    frame = upload_videos(
        manifest, credentials=creds, ledger=Ledger(tmp_path / "l"), max_uploads_in_flight=10
    )
    assert list(frame["status"]) == ["created"] * 10
    assert [r for r in sb.requests if field(r, "status") == 429] == []
    times = create_times(sb)
    makespan = times[-1] - times[0]
    # never faster than the budget; and no window wasted (a full WINDOW of slack for a busy
    # machine: a pacer that lost a window would need minimum + WINDOW)
    assert minimum_makespan(10) - 0.05 <= makespan < minimum_makespan(10) + WINDOW, makespan


def _logs_and_summary(flow_run_id) -> tuple[list[str], str]:
    """The run's log messages (in order) and its summary artifact, from the Prefect API."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import LogSort

    async def read() -> tuple[list[str], str]:
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                sort=LogSort.TIMESTAMP_ASC,
            )
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
        summary = [a.data for a in artifacts if a.key == "upload-videos-summary"]
        return [log.message for log in logs], str(summary[0]) if summary else ""

    return asyncio.run(read())


def test_a_running_batch_shows_each_channels_creates_left_and_their_least_time(paced, tmp_path):
    """What `dry_run=True` says before a run, the run's progress says while it goes: per
    channel, the creates left and the least time the budget allows them."""
    sb, creds = paced
    manifest = pd.DataFrame(
        [
            {"source": s, "channel_id": sb.channel_id, "caption": f"p{i}"}
            for i, s in enumerate(files(tmp_path, 7))
        ]
    )
    state = upload_videos(
        manifest, credentials=creds, ledger=Ledger(tmp_path / "l"), return_state=True
    )
    assert list(state.result()["status"]) == ["created"] * 7
    messages, summary = _logs_and_summary(state.state_details.flow_run_id)
    ch = sb.channel_id
    left = re.compile(rf"(\d+) creates left on {ch}: (at once|at least (\d+) s) at 3 per 2 s")
    seen = [m for message in messages for m in left.finditer(message)]
    assert seen, messages
    counts = [int(m.group(1)) for m in seen]
    assert counts == sorted(counts, reverse=True) and max(counts) < 7, counts
    for m in seen:  # the lower bound of the budget: 3 at once, then 3 more every 2 s
        n = int(m.group(1))
        assert m.group(2) == ("at once" if n <= 3 else f"at least {(math.ceil(n / 3) - 1) * 2} s")
    assert f"7 creates on {ch}: at least 4 s at 3 per 2 s" in summary, summary


def test_pacer_two_channels_run_in_parallel(paced, tmp_path):
    sb, creds = paced
    srcs = files(tmp_path, 12)
    manifest = pd.DataFrame(
        [
            {"source": s, "channel_id": sb.channel_ids[i % 2], "caption": f"p{i}"}
            for i, s in enumerate(srcs)
        ]
    )
    frame = upload_videos(
        manifest, credentials=creds, ledger=Ledger(tmp_path / "l"), max_uploads_in_flight=12
    )
    assert list(frame["status"]) == ["created"] * 12
    assert [r for r in sb.requests if field(r, "status") == 429] == []
    times = create_times(sb)
    # 6 per channel in parallel: the makespan of 6 (one window), well under the two windows
    # more that one budget shared by both channels would force (the makespan of 12)
    makespan = times[-1] - times[0]
    assert minimum_makespan(6) - 0.05 <= makespan < minimum_makespan(12), makespan


def test_injected_429_waits_retry_after_and_creates_once(sb, credentials, ledger, tmp_path):
    srcs = files(tmp_path, 2)
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": f"r{i}"} for i, s in enumerate(srcs)]
    )
    sb.faults.inject("create_video", status=429, times=1, retry_after=1)
    frame = upload_videos(manifest, credentials=credentials, ledger=ledger)
    assert list(frame["status"]) == ["created", "created"]
    statuses = [field(r, "status") for r in calls(sb, "create_video")]
    assert statuses.count(429) == 1 and statuses.count(201) == 2
    assert len(sb.videos()) == 2


@pytest.fixture
def video(sb, credentials, ledger, tmp_path, served_poster):
    src = files(tmp_path, 1)[0]
    product = sb.products[0]
    pid = product["id"] if isinstance(product, dict) else product.id
    frame = upload_videos(
        pd.DataFrame(
            [
                {
                    "source": src,
                    "channel_id": sb.channel_id,
                    "caption": "orig",
                    "description": "d",
                    "hashtags": '["one"]',
                    "product_ids": json.dumps([pid]),
                    "custom_fields": '{"sku": "1"}',
                    "poster_url": served_poster,
                }
            ]
        ),
        credentials=credentials,
        ledger=ledger,
        tag_videos=False,
    )
    return frame.loc[0, "video_id"]


@pytest.fixture
def served_poster(sb, tmp_path):
    import struct
    import zlib

    def png() -> bytes:
        raw = b"\x00\xff\x00\x00"
        ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)

        def chunk(kind, data):
            return (
                struct.pack(">I", len(data))
                + kind
                + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
            )

        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b"")
        )

    directory = tmp_path / "posters"
    directory.mkdir()
    (directory / "poster.png").write_bytes(png())
    return sb.serve_files(directory).rstrip("/") + "/poster.png"


def test_update_semantics_every_field(sb, credentials, video):
    before = sb.video(video)
    assert field(before, "custom_fields") == {"sku": "1"}
    rows = [
        {"video_id": video, "caption": "new caption"},  # others left as they are
        {"video_id": video, "custom_fields": "{}"},  # clears
        {"video_id": video, "product_ids": "[]"},  # untags all
        {"video_id": video, "poster_url": "null"},  # removes the poster
        {"video_id": video, "video_hidden": True},  # bulk listing update alone
        {
            "video_id": video,
            "access": "private",
            "hashtags": '["x", "y"]',
            "audio_disabled": "true",
            "archived_at": "2026-01-01T00:00:00Z",
            "description": "",
        },
        {"video_id": "does-not-exist", "caption": "x"},
        {"video_id": video},  # nothing to update
    ]
    frame = update_videos(pd.DataFrame(rows), credentials=credentials, max_concurrency=1)
    assert list(frame["status"]) == ["updated"] * 6 + ["failed", "invalid"]
    after = sb.video(video)
    assert field(after, "caption") == "new caption"
    assert field(after, "custom_fields") == {}
    assert field(after, "product_ids") == []
    assert field(after, "access") == "private"
    assert field(after, "hashtags") == ["x", "y"]
    assert field(after, "audio_disabled") is True
    patches = [r for r in calls(sb, "update_video")]
    assert len(patches) == 7, "the invalid row made no request"
    assert "404" in frame.loc[6, "error"] or "not found" in frame.loc[6, "error"].lower()


def test_update_caption_only_leaves_other_fields(sb, credentials, video):
    update_videos(
        pd.DataFrame([{"video_id": video, "caption": "only", "description": None}]),
        credentials=credentials,
    )
    after = sb.video(video)
    assert field(after, "caption") == "only"
    assert field(after, "description") == "d"
    assert field(after, "hashtags") == ["one"]
    assert field(after, "custom_fields") == {"sku": "1"}
    assert len(field(after, "product_ids")) == 1


def test_get_videos_one_row_per_id(sb, credentials, video):
    frame = get_videos([video, "missing-id"], credentials=credentials)
    assert list(frame["video_id"]) == [video, "missing-id"]
    assert frame.loc[0, "caption"] == "orig" and pd.isna(frame.loc[0, "error"])
    assert "missing-id" in frame.loc[1, "video_id"] and frame.loc[1, "error"]


def test_shared_rate_limit_paces_through_prefect_global_limits(paced, tmp_path):
    from prefect.client.orchestration import get_client

    from prefect_firework.batch._pacing import PrefectRateLimitPacer

    sb, creds = paced
    pacer = PrefectRateLimitPacer()
    assert pacer.ensure_limit(sb.channel_id, limit=LIMIT, window=WINDOW, latency=0.2)
    srcs = files(tmp_path, 4)
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": f"g{i}"} for i, s in enumerate(srcs)]
    )
    frame = upload_videos(
        manifest, credentials=creds, ledger=Ledger(tmp_path / "l"), shared_rate_limit=True
    )
    assert list(frame["status"]) == ["created"] * 4
    assert [r for r in sb.requests if field(r, "status") == 429] == []
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(pacer.limit_name(sb.channel_id))
    assert limit.slot_decay_per_second > 0, "the budget lives in Prefect's server"
