"""upload_videos / import_videos: statuses per row, manifests from storage, reruns."""

from __future__ import annotations

import json
import threading

import boto3
import pandas as pd
import pytest
from batchflow_support import calls, field, files, video_ids
from prefect.client.orchestration import get_client

from prefect_firework.batch import RESULT_COLUMNS
from prefect_firework.flows import RowErrorsFound, import_videos, upload_videos
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

MIB = 1024 * 1024


@pytest.fixture
def served(sb, tmp_path):
    directory = tmp_path / "served"
    for i in range(3):
        make_mp4(directory / f"u{i}.mp4", 4, size=80_000 + i, seed=50 + i)
    return sb.serve_files(directory).rstrip("/")


def invalid_rows(sb, tmp_path) -> list[dict]:
    ok = str(make_mp4(tmp_path / "ok.mp4", 4, size=60_000, seed=99))
    base = {"channel_id": sb.channel_id, "caption": "bad"}
    return [
        {**base, "source": str(tmp_path / "clip.gif")},  # extension
        {**base, "source": ok, "custom_fields": json.dumps({"Bad Key": "x"})},
        {**base, "source": ok, "custom_fields": json.dumps({"k": "x" * 1025})},
        {**base, "source": ok, "access": "secret"},
        {**base, "source": ok, "display_social_attributions": True},
        {**base, "source": ok, "poster_url": "https://cdn.example.com/p.gif"},
        {**base, "source": ok, "product_ids": "not-a-list"},
        {**base, "url": "ftp://example.com/a.mp4"},
        {**base, "url": "https://localhost/a.mp4"},
        {**base, "url": "https://example.com"},
        {"channel_id": sb.channel_id, "source": ok},  # no caption
        {**base, "source": ok, "url": "https://example.com/a.mp4"},  # both
        {**base, "source": str(tmp_path / "tiny.mp4")},  # preflight: too small
    ]


def test_mixed_manifest_statuses(sb, credentials, ledger, tmp_path, served):
    (tmp_path / "tiny.mp4").write_bytes(b"\0" * 1000)
    small = files(tmp_path, 12)
    big = files(tmp_path, 3, size=11 * MIB, prefix="big")
    rows = [
        {"source": s, "channel_id": sb.channel_ids[i % 3], "caption": f"s{i}"}
        for i, s in enumerate(small)
    ]
    rows += [
        {"source": s, "channel_id": sb.channel_id, "caption": f"b{i}"} for i, s in enumerate(big)
    ]
    rows += [
        {"url": f"{served}/u{i}.mp4", "channel_id": sb.channel_id, "caption": f"sync{i}"}
        for i in range(3)
    ]
    rows += [
        {
            "url": f"{served}/u{i}.mp4",
            "async": True,
            "channel_id": sb.channel_id,
            "caption": f"async{i}",
            "hashtags": '["a", "b"]',
        }
        for i in range(3)
    ]
    bad = invalid_rows(sb, tmp_path)
    rows += bad
    frame = upload_videos(
        pd.DataFrame(rows), credentials=credentials, ledger=ledger, multipart_threshold=8 * MIB
    )
    assert list(frame.columns) == RESULT_COLUMNS
    assert list(frame["row"]) == list(range(len(rows)))
    status = dict(zip(frame["row"], frame["status"], strict=True))
    assert [status[i] for i in range(12)] == ["created"] * 12
    assert [status[i] for i in range(12, 15)] == ["created"] * 3
    assert set(frame.loc[12:14, "strategy"]) == {"multipart"}
    assert set(frame.loc[0:11, "strategy"]) == {"single"}
    assert [status[i] for i in range(15, 21)] == ["imported"] * 6
    assert frame.loc[18:20, "import_id"].notna().all()
    invalid = frame[frame["row"] >= 21]
    assert set(invalid["status"]) == {"invalid"}, invalid[["row", "status", "error"]]
    for _, r in invalid.iterrows():
        assert f"row {r['row']}" in r["error"] and "column" in r["error"]
    # every created/imported row is exactly one video; invalid rows cost no create
    assert sorted(video_ids(sb)) == sorted(frame["video_id"].dropna())
    assert len(calls(sb, "create_video")) == 21
    assert len(calls(sb, "upload_signature")) == 12
    # each video carries its row key, for looking up a create a crash left uncertain
    first = sb.video(frame.loc[0, "video_id"])
    assert field(first, "custom_fields")["prefect_firework_key"] == frame.loc[0, "key"]


def test_only_invalid_rows_make_no_request(sb, credentials, ledger, tmp_path):
    with pytest.raises(RowErrorsFound, match="no row succeeded") as raised:
        upload_videos(
            pd.DataFrame(invalid_rows(sb, tmp_path)), credentials=credentials, ledger=ledger
        )
    frame = raised.value.results
    assert set(frame["status"]) == {"invalid"}
    assert list(sb.requests) == []


def test_unknown_column_makes_every_row_invalid(sb, credentials, ledger, tmp_path):
    src = files(tmp_path, 1)[0]
    with pytest.raises(RowErrorsFound) as raised:
        upload_videos(
            pd.DataFrame([{"source": src, "channel_id": sb.channel_id, "captoin": "typo"}]),
            credentials=credentials,
            ledger=ledger,
        )
    frame = raised.value.results
    assert frame.loc[0, "status"] == "invalid" and "captoin" in frame.loc[0, "error"]
    assert frame.loc[0, "source"] == src, "the row says which file it was"
    assert list(sb.requests) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_manifest_files_local_and_output(sb, credentials, ledger, tmp_path, fmt):
    srcs = files(tmp_path, 2)
    frame = pd.DataFrame(
        [
            {
                "source": s,
                "channel_id": sb.channel_id,
                "caption": f"c{i}",
                "hashtags": json.dumps(["x"]),
            }
            for i, s in enumerate(srcs)
        ]
    )
    path = tmp_path / f"manifest.{fmt}"
    {
        "csv": lambda: frame.to_csv(path, index=False),
        "parquet": lambda: frame.to_parquet(path),
        "jsonl": lambda: frame.to_json(path, orient="records", lines=True),
    }[fmt]()
    out = tmp_path / "results.parquet"
    result = upload_videos(str(path), credentials=credentials, ledger=ledger, output=str(out))
    assert list(result["status"]) == ["created", "created"]
    written = pd.read_parquet(out)
    assert list(written["video_id"]) == list(result["video_id"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest_and_results_on_s3(sb, credentials, ledger, tmp_path, fmt):
    s3 = boto3.client(
        "s3",
        endpoint_url=sb.moto_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="manifests")
    srcs = files(tmp_path, 2)
    frame = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": f"c{i}"} for i, s in enumerate(srcs)]
    )
    local = tmp_path / f"m.{fmt}"
    frame.to_csv(local, index=False) if fmt == "csv" else frame.to_parquet(local)
    s3.upload_file(str(local), "manifests", f"2026-11-27.{fmt}")
    tp = {
        "client_kwargs": {
            "S3.Client": {
                "endpoint_url": sb.moto_url,
                "aws_access_key_id": "t",
                "aws_secret_access_key": "t",
                "region_name": "us-east-1",
            }
        }
    }
    result = upload_videos(
        f"s3://manifests/2026-11-27.{fmt}",
        credentials=credentials,
        ledger=ledger,
        transport_params=tp,
        output="s3://manifests/2026-11-27.results.csv",
    )
    assert list(result["status"]) == ["created", "created"]
    body = s3.get_object(Bucket="manifests", Key="2026-11-27.results.csv")["Body"].read()
    assert b"created" in body


def test_rerun_after_mid_batch_failure_creates_nothing_twice(sb, credentials, ledger, tmp_path):
    srcs = files(tmp_path, 6)
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": f"c{i}"} for i, s in enumerate(srcs)]
    )
    sb.faults.inject("create_video", status=422, times=2)
    first = upload_videos(manifest, credentials=credentials, ledger=ledger)
    assert sorted(first["status"]) == ["created"] * 4 + ["failed"] * 2
    assert len(video_ids(sb)) == 4
    second = upload_videos(manifest, credentials=credentials, ledger=ledger)
    assert sorted(second["status"]) == ["created"] * 2 + ["skipped"] * 4
    assert len(video_ids(sb)) == 6, "each row has exactly one video"
    # a rerun's table keeps what the first run recorded: the video, how it was made and when
    again = second.set_index("row")
    for _, r in first[first["status"] == "created"].iterrows():
        skipped = again.loc[r["row"]]
        assert skipped["status"] == "skipped"
        assert skipped["video_id"] == r["video_id"], "skipped rows report the earlier video"
        assert skipped["strategy"] == r["strategy"] == "single"
        assert skipped["recorded_at"] == r["recorded_at"] and pd.notna(r["recorded_at"])
    assert first[first["status"] == "failed"]["recorded_at"].isna().all()
    assert str(second["recorded_at"].dtype) == "datetime64[ns, UTC]"


def test_two_concurrent_runs_create_each_video_once(sb, credentials, ledger, tmp_path):
    srcs = files(tmp_path, 6)
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": f"c{i}"} for i, s in enumerate(srcs)]
    )
    results: list[pd.DataFrame] = []

    def run():
        results.append(upload_videos(manifest, credentials=credentials, ledger=ledger))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert len(results) == 2
    assert len(video_ids(sb)) == 6
    statuses = sorted(list(results[0]["status"]) + list(results[1]["status"]))
    assert statuses == ["created"] * 6 + ["skipped"] * 6


def test_fail_on_row_errors_fails_the_flow(sb, credentials, ledger, tmp_path):
    good = files(tmp_path, 1)[0]
    manifest = pd.DataFrame(
        [
            {"source": good, "channel_id": sb.channel_id, "caption": "good"},
            {"source": str(tmp_path / "x.gif"), "channel_id": sb.channel_id, "caption": "bad"},
        ]
    )
    with pytest.raises(RowErrorsFound, match=r"1 of 2 rows did not succeed"):
        upload_videos(manifest, credentials=credentials, ledger=ledger, fail_on_row_errors=True)
    state = upload_videos(manifest, credentials=credentials, ledger=ledger, return_state=True)
    assert state.is_completed(), "by default a run where a row succeeded stays Completed"
    assert state.message == "2 rows: 1 skipped, 1 invalid"
    # bytes and throughput count what this run sent: the skipped row went up in the first run
    summary = [a for a in _artifacts(state) if a.key == "upload-videos-summary"]
    assert summary and "**Bytes:** 0.0 MiB" in str(summary[0].data), summary
    assert "**Throughput:** 0.0 MiB/s" in str(summary[0].data)


def _artifacts(state) -> list:
    import asyncio

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
                )
            )

    return asyncio.run(read())


def test_a_run_where_no_row_succeeded_ends_failed(sb, credentials, ledger, tmp_path):
    """A header typo refuses every row: the run must not end green while doing nothing."""
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "captoin": "x"} for s in files(tmp_path, 2)]
    )
    state = upload_videos(manifest, credentials=credentials, ledger=ledger, return_state=True)
    assert state.is_failed()
    assert "no row succeeded (2 rows: 2 invalid)" in (state.message or "")
    assert list(sb.requests) == []


def test_import_videos_polls_all_and_refuses_files(sb, credentials, ledger, tmp_path, served):
    rows = [
        {"url": f"{served}/u{i}.mp4", "channel_id": sb.channel_id, "caption": f"i{i}"}
        for i in range(3)
    ]
    rows.append({"url": f"{served}/missing.mp4", "channel_id": sb.channel_id, "caption": "gone"})
    rows.append({"source": files(tmp_path, 1)[0], "channel_id": sb.channel_id, "caption": "f"})
    frame = import_videos(
        pd.DataFrame(rows), credentials=credentials, ledger=ledger, poll_interval=0.2
    )
    assert list(frame["status"]) == ["imported"] * 3 + ["failed", "invalid"]
    assert "errored" in frame.loc[3, "error"]
    assert frame.loc[0:2, "video_id"].notna().all()
    # polling happened in one task, not a task run per poll
    polls = calls(sb, "get_import")
    assert len(polls) >= 4
    again = import_videos(
        pd.DataFrame(rows[:3]), credentials=credentials, ledger=ledger, poll_interval=0.2
    )
    assert list(again["status"]) == ["skipped"] * 3
    for column in ("video_id", "import_id", "strategy", "recorded_at"):
        assert again[column].tolist() == frame.loc[0:2, column].tolist(), column
    assert set(again["strategy"]) == {"url-async"} and again["recorded_at"].notna().all()


def test_artifacts_created_without_secrets(sb, credentials, ledger, tmp_path):
    import asyncio

    srcs = files(tmp_path, 2)
    manifest = pd.DataFrame(
        [{"source": s, "channel_id": sb.channel_id, "caption": "a"} for s in srcs]
    )
    state = upload_videos(manifest, credentials=credentials, ledger=ledger, return_state=True)
    flow_run_id = state.state_details.flow_run_id

    async def artifacts():
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )

    found = asyncio.run(artifacts())
    kinds = {a.type for a in found}
    assert {"progress", "table", "markdown"} <= kinds
    text = " ".join(str(a.data) for a in found)
    for secret in (sb.client_secret, "X-Amz-Signature", "Policy", "Bearer"):
        assert secret not in text
    assert field(sb.videos()[0], "id") in text


def test_an_unknown_channel_names_the_row_the_column_and_the_value(
    sb, credentials, ledger, tmp_path
):
    good, bad = files(tmp_path, 2)
    frame = upload_videos(
        pd.DataFrame(
            [
                {"source": good, "channel_id": sb.channel_id, "caption": "good"},
                {"source": bad, "channel_id": "NoSuchChan", "caption": "lost"},
            ]
        ),
        credentials=credentials,
        ledger=ledger,
    )
    assert list(frame["status"]) == ["created", "failed"]
    error = frame.loc[1, "error"]
    assert error.startswith("row 1, column 'channel_id' ('NoSuchChan'): NotFoundError"), error
    assert frame.loc[1, "source"] == bad and frame.loc[1, "caption"] == "lost"
    assert frame.loc[1, "strategy"] == "single", "the plan says how it was being uploaded"


def test_a_dry_run_preflights_and_plans_every_row_and_sends_nothing(
    sb, credentials, ledger, tmp_path, served, monkeypatch
):
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_CREATES", "2")
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_WINDOW", "300")
    (tmp_path / "tiny.mp4").write_bytes(b"\0" * 1000)
    done, small = files(tmp_path, 2)
    big = files(tmp_path, 1, size=11 * MIB, prefix="big")[0]
    ch = sb.channel_id
    upload_videos(
        pd.DataFrame([{"source": done, "channel_id": ch, "caption": "done"}]),
        credentials=credentials,
        ledger=ledger,
    )
    sent = len(sb.requests)
    rows = [
        {"source": done, "channel_id": ch, "caption": "done"},
        {"source": small, "channel_id": ch, "caption": "small"},
        {"source": big, "channel_id": ch, "caption": "big"},
        {"url": f"{served}/u0.mp4", "channel_id": ch, "caption": "url"},
        {"url": f"{served}/gone.mp4", "channel_id": ch, "caption": "gone"},
        {"source": str(tmp_path / "tiny.mp4"), "channel_id": ch, "caption": "tiny"},
        {"source": str(tmp_path / "clip.gif"), "channel_id": ch, "caption": "gif"},
    ]
    state = upload_videos(
        pd.DataFrame(rows),
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=10 * MIB,
        dry_run=True,
        return_state=True,
    )
    plan = state.result()
    assert len(sb.requests) == sent, "a dry run sends nothing to Firework or its S3"
    assert list(plan["status"]) == [
        "done",
        "ready",
        "ready",
        "ready",
        "refused",
        "refused",
        "invalid",
    ]
    assert list(plan["strategy"][:4]) == ["single", "single", "multipart", "url-sync"]
    assert (
        plan.loc[2, "parts"] > 1 and plan.loc[2, "bytes"] == (tmp_path / "big0.mp4").stat().st_size
    )
    assert plan.loc[1, "duration"] > 0 and plan.loc[3, "bytes"] > 0
    assert "row 4" in plan.loc[4, "error"] and "row 5" in plan.loc[5, "error"]
    # 3 creates at 2 per 5 minutes: the third waits one window
    from prefect_firework.batch._dryrun import budget_lines

    assert budget_lines(plan, 2, 300.0) == [f"3 creates on {ch}: at least 5 min at 2 per 5 min"]
    assert state.message.startswith("dry run: 7 rows (1 done, 1 invalid, 3 ready, 2 refused)")
