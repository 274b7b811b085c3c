"""Readings of the spec that never hurt a user (issue 13), each against the real sandbox.

Where the spec is silent or ambiguous, the client takes the reading that never creates a
duplicate video and never wastes a whole upload; docs/RELIABILITY.md says which and why.
"""

from __future__ import annotations

import itertools
import os

import pandas as pd
import pytest
from flow_results import results_of
from reliability_support import (
    AMBIGUOUS,
    KEY_FIELD,
    MIB,
    calls,
    count,
    field,
    mp4,
    one,
    set_retry_delay,
)

from prefect_firework.batch._ledger import Ledger
from prefect_firework.client import FireworkClient
from prefect_firework.client.errors import (
    FireworkError,
    FireworkTransportError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from prefect_firework.flows import update_videos, upload_video, upload_videos
from prefect_firework.limits import current_limits
from prefect_firework.models import VideoMetadata
from prefect_firework.settings import FireworkSettings
from prefect_firework.sources import PreflightError, preflight
from prefect_firework.tasks._policy import create_outcome, is_safe_to_retry_create

pytestmark = pytest.mark.prefect_server

THRESHOLD = 4 * MIB


# -- a create's outcome is unknown unless the answer proves otherwise -------------------------


def test_create_outcome_reads_only_proof_as_not_created() -> None:
    def server(status: int) -> ServerError:
        return ServerError("gateway", status_code=status)

    for status in (500, 502, 504):
        assert create_outcome(server(status)) == "unknown", status
        assert not is_safe_to_retry_create(server(status))
    assert create_outcome(server(503)) == "not_created"
    assert is_safe_to_retry_create(server(503))
    assert create_outcome(InvalidRequestError("bad", status_code=422)) == "not_created"
    assert create_outcome(NotFoundError("no channel", status_code=404)) == "not_created"
    assert create_outcome(RateLimitedError("slow down")) == "not_created"
    assert create_outcome(FireworkError("unreadable 201", status_code=201)) == "unknown"
    sent = FireworkTransportError("ReadTimeout", cause="ReadTimeout", maybe_sent=True)
    refused = FireworkTransportError("ConnectError", cause="ConnectError", maybe_sent=False)
    assert create_outcome(sent) == "unknown" and create_outcome(refused) == "not_created"


@pytest.mark.parametrize(("status", "kind"), [(504, "url-sync"), (502, "file"), (500, "url-sync")])
def test_gateway_errors_on_a_create_are_ambiguous_never_retried(
    status, kind, sb, credentials, ledger, tmp_path, monkeypatch
):
    set_retry_delay(monkeypatch, 0.0)
    base = {"channel_id": sb.channel_id, "caption": f"gateway {status}"}
    if kind == "file":
        row = {**base, "source": mp4(tmp_path / "g.mp4", size=50_000)}
    else:
        served = tmp_path / "served"
        mp4(served / "g.mp4", size=50_000)
        row = {**base, "url": sb.serve_files(served).rstrip("/") + "/g.mp4"}
    sb.faults.inject("create_video", status=status, times=1)
    frame = results_of(upload_videos, pd.DataFrame([row]), credentials=credentials, ledger=ledger)
    result = one(frame)
    assert result["status"] == "failed" and AMBIGUOUS in result["error"], result
    assert count(sb, "create_video") == 1, "an ambiguous create is never repeated"
    entry = ledger.get(result["key"])
    assert entry is not None and entry.status == "creating", "the ledger keeps 'creating'"
    advice = "async" in result["error"] and "slow hosts" in result["error"]
    assert advice == (kind == "url-sync"), result["error"]
    # the next run does not create it again either
    again = one(
        results_of(upload_videos, pd.DataFrame([row]), credentials=credentials, ledger=ledger)
    )
    assert again["status"] == "failed" and AMBIGUOUS in again["error"]
    assert count(sb, "create_video") == 1


def test_503_on_a_create_is_retried(sb, credentials, ledger, tmp_path, monkeypatch):
    """503 is read as "not handled": gateways answer it when they forwarded nothing."""
    set_retry_delay(monkeypatch, 0.0)
    row = {"channel_id": sb.channel_id, "caption": "503", "source": mp4(tmp_path / "a.mp4")}
    sb.faults.inject("create_video", status=503, times=1)
    result = one(
        results_of(upload_videos, pd.DataFrame([row]), credentials=credentials, ledger=ledger)
    )
    assert result["status"] == "created"
    assert [field(r, "status") for r in calls(sb, "create_video")] == [503, 201]


def test_upload_video_twice_uploads_afresh_once_the_first_became_a_video(sb, credentials, tmp_path):
    """A cached, completed multipart upload is spent once a create used its key: the next
    call for the same file uploads afresh instead of creating a second video from it."""
    source = mp4(tmp_path / "twice.mp4", size=11 * MIB, seed=7)
    ledger_dir = tmp_path / "spent"
    first = upload_video(
        source,
        sb.channel_id,
        "once",
        strategy="multipart",
        credentials=credentials,
        ledger=Ledger(ledger_dir),
    )
    second = upload_video(
        source,
        sb.channel_id,
        "twice",
        strategy="multipart",
        credentials=credentials,
        ledger=Ledger(ledger_dir),
    )
    videos = {v["id"]: v for v in sb.videos()}
    assert first.id != second.id and set(videos) == {first.id, second.id}
    keys = [videos[first.id]["s3_key"], videos[second.id]["s3_key"]]
    assert keys[0] != keys[1], "each video has an object of its own"
    assert count(sb, "multipart_signatures") == 2, "the second call initiated afresh"
    assert [u["status"] for u in sb.multipart_uploads()] == ["completed", "completed"]


def test_a_failed_upload_video_still_resumes(sb, credentials, tmp_path, monkeypatch):
    """A create that certainly failed (a 4xx) leaves the upload resumable: the rerun
    completes nothing again and sends no part twice."""
    set_retry_delay(monkeypatch, 0.0)
    source = mp4(tmp_path / "resume.mp4", size=11 * MIB, seed=8)
    ledger = Ledger(tmp_path / "spent")
    sb.faults.inject("create_video", status=422, times=1)
    with pytest.raises(InvalidRequestError):
        upload_video(
            source,
            sb.channel_id,
            "r",
            strategy="multipart",
            credentials=credentials,
            ledger=ledger,
        )
    parts = count(sb, "s3_part")
    video = upload_video(
        source, sb.channel_id, "r", strategy="multipart", credentials=credentials, ledger=ledger
    )
    assert video.id and count(sb, "s3_part") == parts, "no part uploaded twice"
    assert count(sb, "multipart_signatures") == 1


def test_update_with_custom_fields_keeps_the_key_tag(sb, credentials, ledger, tmp_path):
    row = {"channel_id": sb.channel_id, "caption": "tagged", "source": mp4(tmp_path / "t.mp4")}
    created = one(
        results_of(upload_videos, pd.DataFrame([row]), credentials=credentials, ledger=ledger)
    )
    video_id, key = created["video_id"], created["key"]
    assert sb.video(video_id)["custom_fields"] == {KEY_FIELD: key}

    update_videos(
        pd.DataFrame([{"video_id": video_id, "custom_fields": {"sku": "123"}}]),
        credentials=credentials,
    )
    assert sb.video(video_id)["custom_fields"] == {"sku": "123", KEY_FIELD: key}
    # the replacement sets the tag itself: theirs wins
    update_videos(
        pd.DataFrame([{"video_id": video_id, "custom_fields": {KEY_FIELD: "mine"}}]),
        credentials=credentials,
    )
    assert sb.video(video_id)["custom_fields"] == {KEY_FIELD: "mine"}
    # {} clears every field, the tag included, as the row asks
    update_videos(
        pd.DataFrame([{"video_id": video_id, "custom_fields": "{}"}]), credentials=credentials
    )
    assert sb.video(video_id)["custom_fields"] == {}
    # and keep_key_tag=False replaces as the spec does
    update_videos(
        pd.DataFrame([{"video_id": video_id, "custom_fields": {"a": "b"}}]),
        credentials=credentials,
        keep_key_tag=False,
    )
    assert sb.video(video_id)["custom_fields"] == {"a": "b"}


# -- refuse before the upload what the API will refuse after it ------------------------------


def test_blank_caption_and_non_http_attribution_are_refused_before_any_request(
    sb, credentials, ledger, tmp_path
):
    source = mp4(tmp_path / "b.mp4")
    manifest = pd.DataFrame(
        [
            {"source": source, "channel_id": sb.channel_id, "caption": " \t "},
            {
                "source": source,
                "channel_id": sb.channel_id,
                "caption": "ok",
                "external_media": {"source": "tiktok", "url": "ftp://tiktok.com/v/1"},
            },
        ]
    )
    frame = results_of(upload_videos, manifest, credentials=credentials, ledger=ledger)
    assert list(frame["status"]) == ["invalid", "invalid"]
    assert frame.loc[0, "error"].startswith("row 0, column 'caption'")
    assert "row 1, column 'external_media'" in frame.loc[1, "error"]
    assert "http(s)" in frame.loc[1, "error"]
    assert sb.requests == []
    with pytest.raises(Exception, match="caption must not be blank"):
        upload_video(source, sb.channel_id, "   ", credentials=credentials)
    assert sb.requests == []


def test_poster_url_null_or_empty_on_a_create_means_no_custom_poster(sb, credentials, tmp_path):
    source = mp4(tmp_path / "p.mp4")
    for value in (None, ""):
        video = upload_video(
            source,
            sb.channel_id,
            "no poster",
            metadata={"poster_url": value},
            credentials=credentials,
        )
        assert sb.video(video.id)["poster_url"] is None


def test_byte_bounds_never_waste_an_upload(tmp_path, monkeypatch):
    """ "5 GB" is read as 5,000,000,000 bytes and "25 KB" as 25,600: a file either reading
    refuses is refused in preflight. Both bounds are settings."""
    limits = current_limits(FireworkSettings())
    assert (limits.min_file_size, limits.max_file_size) == (25_600, 5_000_000_000)
    big = tmp_path / "big.mp4"
    with open(big, "wb") as handle:  # sparse: costs no disk
        handle.truncate(5_000_000_001)
    with pytest.raises(PreflightError) as refused:
        preflight(str(big))
    assert refused.value.rule == "max_file_size" and "5,000,000,000" in str(refused.value)
    monkeypatch.setenv("FIREWORK_MAX_FILE_SIZE", str(5 * 1024**3))
    with pytest.raises(PreflightError) as past_size:
        preflight(str(big))
    assert past_size.value.rule != "max_file_size", "the setting moved the bound"

    small = tmp_path / "small.mp4"
    with open(small, "wb") as handle:
        handle.truncate(25_599)
    with pytest.raises(PreflightError) as tiny:
        preflight(str(small))
    assert tiny.value.rule == "min_file_size"
    monkeypatch.setenv("FIREWORK_MIN_FILE_SIZE", "1000")
    with pytest.raises(PreflightError) as moved:
        preflight(str(small))
    assert moved.value.rule != "min_file_size"
    os.remove(big)


# -- retries that cost what they should ------------------------------------------------------


def _multipart_row(sb, tmp_path, name: str) -> dict:
    return {
        "channel_id": sb.channel_id,
        "caption": name,
        "source": mp4(tmp_path / f"{name}.mp4", size=11 * MIB, seed=len(name)),
    }


def test_complete_refused_for_another_reason_fails_at_once(
    sb, credentials, ledger, tmp_path, monkeypatch
):
    set_retry_delay(monkeypatch, 0.0)
    sb.faults.inject(
        "multipart_complete", status=400, times=1, body={"error": "File too small (min 25KB)"}
    )
    frame = results_of(
        upload_videos,
        pd.DataFrame([_multipart_row(sb, tmp_path, "small")]),
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
    )
    result = one(frame)
    assert result["status"] == "failed" and "File too small" in result["error"], result
    assert count(sb, "multipart_complete") == 1 and count(sb, "multipart_signatures") == 1
    assert AMBIGUOUS not in result["error"]


def test_multipart_upload_failed_re_uploads_once_with_larger_parts(
    sb, credentials, ledger, tmp_path, monkeypatch
):
    set_retry_delay(monkeypatch, 0.0)
    sb.faults.inject(
        "multipart_complete", status=400, times=1, body={"error": "Multipart upload failed"}
    )
    frame = results_of(
        upload_videos,
        pd.DataFrame([_multipart_row(sb, tmp_path, "replan")]),
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
    )
    result = one(frame)
    assert result["status"] == "created", result
    uploads = sorted(sb.multipart_uploads(), key=lambda u: u["created_at"])
    assert len(uploads) == 2
    assert uploads[1]["parts_count"] < uploads[0]["parts_count"], "a recalculated plan"
    assert uploads[0]["upload_id"] in result["error"], "the abandoned upload is named"


def test_no_caption_limit_the_spec_does_not_state() -> None:
    VideoMetadata(channel_id="c", caption="x" * 5000)  # the API may refuse; we do not guess


def test_client_never_retries_a_sync_import_timeout_into_a_duplicate(sb, tmp_path):
    """The client itself never repeats a create (the tasks decide, by create_outcome)."""
    served = tmp_path / "served"
    mp4(served / "c.mp4", size=50_000)
    url = sb.serve_files(served).rstrip("/") + "/c.mp4"
    sb.faults.inject("create_video", status=504, times=1)
    with (
        FireworkClient(sb.client_id, sb.client_secret, base_url=sb.base_url) as client,
        pytest.raises(ServerError),
    ):
        client.create_video_from_url(url, VideoMetadata(channel_id=sb.channel_id, caption="c"))
    assert count(sb, "create_video") == 1


def test_a_429_without_retry_after_pauses_the_whole_channel_doubling(tmp_path, monkeypatch):
    """The sandbox answers 429s without Retry-After (the spec promises none): the channel
    pauses 1 s, then 2 s, then 4 s (FIREWORK_RATE_LIMIT_BACKOFF=1), for every row of it."""
    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.sandbox import Sandbox, SandboxConfig

    set_retry_delay(monkeypatch, 0.0)
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", "100")  # another process spent it
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_BACKOFF", "1")
    config = SandboxConfig(rate_limit_count=1, rate_limit_window=7.5, rate_limit_retry_after=False)
    with Sandbox(config=config) as sb:
        served = tmp_path / "served"
        for name in ("spent", "a", "b"):
            mp4(served / f"{name}.mp4", size=40_000, seed=len(name))
        base = sb.serve_files(served).rstrip("/")
        with FireworkClient(sb.client_id, sb.client_secret, base_url=sb.base_url) as other:
            other.create_video_from_url(
                f"{base}/spent.mp4", VideoMetadata(channel_id=sb.channel_id, caption="spent")
            )
        creds = FireworkCredentials(
            client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
        )
        manifest = pd.DataFrame(
            [
                {"url": f"{base}/{n}.mp4", "channel_id": sb.channel_id, "caption": n}
                for n in ("a", "b")
            ]
        )
        frame = results_of(
            upload_videos, manifest, credentials=creds, ledger=Ledger(tmp_path / "l")
        )
        assert list(frame["status"]) == ["imported", "imported"], frame
        refused = [r for r in calls(sb, "create_video") if field(r, "status") == 429]
        # 429s come in waves (both rows are sent together after each pause)
        waves: list[float] = []
        for started in sorted(field(r, "time") for r in refused):
            if not waves or started - waves[-1] > 0.5:
                waves.append(started)
        gaps = [b - a for a, b in itertools.pairwise(waves)]
        assert len(gaps) >= 2, waves
        assert gaps[0] >= 0.9 and all(g2 >= 1.6 * g1 for g1, g2 in itertools.pairwise(gaps)), gaps
        assert len(refused) <= 2 * len(waves), "a pause holds back every row of the channel"
        assert len(sb.videos()) == 3
