"""The task layer: thin wrappers with safe retries, 429 waits, cache policies and run names."""

from __future__ import annotations

import asyncio
import time

import pytest
from prefect import flow
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.task_runners import ThreadPoolTaskRunner

from prefect_firework import tasks
from prefect_firework.batch._parts import PartRange
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client.errors import InvalidRequestError, RateLimitedError, ServerError
from prefect_firework.models import VideoMetadata, VideoUpdate
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.tasks._policy import ResumeKey, is_safe_to_retry_create

pytestmark = pytest.mark.prefect_server

MIB = 1024 * 1024


def endpoint_calls(sb, endpoint: str) -> int:
    def name(r):
        return r["endpoint"] if isinstance(r, dict) else r.endpoint

    return sum(1 for r in sb.requests if name(r) == endpoint)


def fast(task):
    """The same task with zero retry delay, so retry tests take no wall time."""
    return task.with_options(retry_delay_seconds=0, retry_jitter_factor=None)


def test_signature_and_poll_tasks_never_cache():
    for task in (
        tasks.create_upload_signature,
        tasks.upload_single,
        tasks.get_access_token,
        tasks.get_video_import,
        tasks.wait_for_video_import,
        tasks.create_video,
    ):
        assert task.cache_policy is NO_CACHE, task.name


def test_credentials_stay_out_of_resume_keys():
    class Ctx:
        class task:
            name = "upload_part"

    policy = ResumeKey(exclude=["credentials", "put_url"])
    inputs = {"upload_id": "u1", "fingerprint": "f", "put_url": "https://s3/x?X-Amz-Signature=a"}
    a = FireworkCredentials(client_id="c", client_secret="one", base_url="http://127.0.0.1:1")
    b = FireworkCredentials(client_id="c", client_secret="two", base_url="http://127.0.0.1:1")
    prod = FireworkCredentials(client_id="c", client_secret="one")
    key_a = policy.compute_key(Ctx, {**inputs, "credentials": a}, {})
    key_b = policy.compute_key(Ctx, {**inputs, "credentials": b, "put_url": "other"}, {})
    assert key_a == key_b, "the secret and the URL do not enter the key"
    assert key_a != policy.compute_key(Ctx, {**inputs, "credentials": prod}, {}), (
        "a sandbox upload is never resumed against production"
    )


def test_create_retry_rules():
    assert is_safe_to_retry_create(RateLimitedError("slow down", status_code=429))
    assert is_safe_to_retry_create(ServerError("unavailable", status_code=503))
    assert not is_safe_to_retry_create(ServerError("boom", status_code=500))
    assert not is_safe_to_retry_create(InvalidRequestError("bad", status_code=422))


def test_tasks_run_without_a_flow_via_fn(sb, credentials):
    sig = tasks.create_upload_signature.fn("a.mp4", "video/mp4", sb.channel_id, credentials)
    assert sig.key and sig.post_url
    token = tasks.get_access_token.fn(credentials)
    assert token.expires_in > 0


def test_single_upload_then_create_then_get_and_update(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "one.mp4", 4, size=200_000)
    sig = tasks.create_upload_signature("one.mp4", "video/mp4", sb.channel_id, credentials)
    key = tasks.upload_to_s3(sig, str(path), "video/mp4", credentials=credentials)
    meta = VideoMetadata(channel_id=sb.channel_id, caption="One")
    video = tasks.create_video(meta, s3_key=key, credentials=credentials)
    assert tasks.get_video(video.id, credentials).caption == "One"
    updated = tasks.update_video(video.id, VideoUpdate(caption="Two"), credentials)
    assert updated.caption == "Two"


def test_upload_single_signs_afresh_on_each_try_and_keeps_no_result(sb, credentials, tmp_path):
    """The flows' single-file step: a reset S3 POST is retried with a new signature (the old
    policy may have expired), and the signature never becomes a persisted result."""
    assert tasks.upload_single.persist_result is False
    path = make_mp4(tmp_path / "s.mp4", 4, size=120_000)
    sb.faults.inject("s3_post", status=503, times=1)
    key = fast(tasks.upload_single)(
        str(path), "s.mp4", "video/mp4", sb.channel_id, size=120_000, credentials=credentials
    )
    assert endpoint_calls(sb, "upload_signature") == 2
    assert endpoint_calls(sb, "s3_post") == 2
    meta = VideoMetadata(channel_id=sb.channel_id, caption="S")
    assert tasks.create_video(meta, s3_key=key, credentials=credentials).id


def test_complete_500_is_retried_and_succeeds(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "mp.mp4", 4, size=6 * MIB)
    up = tasks.create_multipart_upload.with_options(refresh_cache=True)(
        "mp.mp4", "video/mp4", sb.channel_id, 1, "fp-complete-500", credentials
    )
    part = tasks.upload_part(
        up.parts[0].put_url,
        str(path),
        PartRange(1, 0, 6 * MIB),
        up.upload_id,
        "fp-c500",
        credentials=credentials,
    )
    sb.faults.inject("multipart_complete", status=500, times=2)
    key = fast(tasks.complete_multipart_upload)(up.key, up.upload_id, [part], credentials)
    assert key == up.key
    assert endpoint_calls(sb, "multipart_complete") == 3


def test_validation_errors_are_not_retried(sb, credentials):
    sb.faults.inject("update_video", status=422, times=5)
    with pytest.raises(InvalidRequestError):
        fast(tasks.update_video)("anything", VideoUpdate(caption="x"), credentials)
    assert endpoint_calls(sb, "update_video") == 1


def test_create_500_is_not_retried_but_503_is(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "c.mp4", 4, size=200_000)
    sig = tasks.create_upload_signature("c.mp4", "video/mp4", sb.channel_id, credentials)
    key = tasks.upload_to_s3(sig, str(path), "video/mp4", credentials=credentials)
    meta = VideoMetadata(channel_id=sb.channel_id, caption="C")
    sb.faults.inject("create_video", status=500, times=1)
    with pytest.raises(ServerError):
        fast(tasks.create_video)(meta, s3_key=key, credentials=credentials)
    assert endpoint_calls(sb, "create_video") == 1, "an ambiguous create is never repeated"
    sb.faults.inject("create_video", status=503, times=1)
    video = fast(tasks.create_video)(meta, s3_key=key, credentials=credentials)
    assert video.id
    assert endpoint_calls(sb, "create_video") == 3


def test_429_waits_retry_after_without_spending_retries(sb, credentials):
    sig_task = tasks.create_upload_signature.with_options(retries=0)
    sb.faults.inject("upload_signature", status=429, times=2, retry_after=1)
    sig = sig_task("a.mp4", "video/mp4", sb.channel_id, credentials)
    assert sig.key
    assert endpoint_calls(sb, "upload_signature") == 3


def test_wait_for_import_polls_to_completion(sb, credentials, tmp_path):
    served = tmp_path / "served"
    make_mp4(served / "w.mp4", 4, size=200_000)
    base = sb.serve_files(served).rstrip("/")
    meta = VideoMetadata(channel_id=sb.channel_id, caption="Waited")
    job = tasks.create_video(meta, url=f"{base}/w.mp4", asynchronous=True, credentials=credentials)
    assert job.status == "running"
    done = tasks.wait_for_video_import(
        job.id, poll_interval=0.2, timeout=30, credentials=credentials
    )
    assert done.status == "completed" and done.video_id
    assert tasks.get_video_import(job.id, credentials).status == "completed"


def test_part_task_run_names_say_which_part(sb, credentials, tmp_path):
    path = make_mp4(tmp_path / "named.mp4", 4, size=11 * MIB)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=3))
    def parts_flow():
        up = tasks.create_multipart_upload.with_options(refresh_cache=True)(
            "named.mp4", "video/mp4", sb.channel_id, 3, "fp-names", credentials
        )
        ranges = [
            PartRange(1, 0, 5 * MIB),
            PartRange(2, 5 * MIB, 5 * MIB),
            PartRange(3, 10 * MIB, MIB),
        ]
        futures = [
            tasks.upload_part.submit(
                up.parts[r.number - 1].put_url,
                str(path),
                r,
                up.upload_id,
                "fp-names",
                parts_total=3,
                credentials=credentials,
            )
            for r in ranges
        ]
        return [f.result() for f in futures]

    state = parts_flow(return_state=True)
    assert state.is_completed()

    async def names():
        async with get_client() as client:
            runs = await client.read_task_runs()
            return {r.name for r in runs if r.flow_run_id == state.state_details.flow_run_id}

    # task runs reach the API as events, processed after the flow returns: wait for them
    expected = {"upload-part-1/3", "upload-part-2/3", "upload-part-3/3"}
    deadline = time.monotonic() + 15
    got = asyncio.run(names())
    while not expected <= got and time.monotonic() < deadline:
        time.sleep(0.2)
        got = asyncio.run(names())
    assert expected <= got
