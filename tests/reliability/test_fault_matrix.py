"""The fault matrix: every fault of issue 6 on every path, through the batch flows.

Paths: ``single`` (presigned POST), ``multipart`` (parts), ``url-sync``, ``url-async`` (all
``upload_videos``) and ``update`` (``update_videos``). Each cell arms one fault in the sandbox,
runs a one-row manifest and checks three things:

1. the row's outcome: recovered (``created``/``imported``/``updated``), ``failed`` with a
   clear error, or ``failed`` as *ambiguous* (a create whose outcome is unknown);
2. the retry budget: how many requests the faulted endpoint received;
3. the accounting (``assert_accounting``): the sandbox holds exactly the videos the results
   table reports, except an ambiguous row's video, which carries the row's key; every
   multipart upload left open is named by a failed row.

Task retry delays are set to 0 s (1 s in the slow-response cells, see there): the real schedule
is 1, 2, 4, 8, 16 s with jitter; the *number* of tries is what these tests pin down.
docs/RELIABILITY.md renders this file as a table.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flow_results import results_of
from reliability_support import (
    AMBIGUOUS,
    KEY_FIELD,
    MIB,
    assert_accounting,
    count,
    mp4,
    one,
    set_retry_delay,
    when,
)

from prefect_firework.batch._parts import plan_parts
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client import FireworkClient
from prefect_firework.client.errors import FireworkError
from prefect_firework.flows import update_videos, upload_videos
from prefect_firework.models import VideoMetadata
from prefect_firework.sandbox.media import make_mp4
from prefect_firework.tasks import _policy

pytestmark = pytest.mark.prefect_server

PATHS = ("single", "multipart", "url-sync", "url-async", "update")
CREATE_PATHS = PATHS[:4]
THRESHOLD = 4 * MIB  # multipart rows: 11 MiB in parts of >= 5 MiB
SLOW_TIMEOUT = 1.0  # the client's API timeout in the slow-response cells
SLOW_DELAY = 1.3  # how long the sandbox holds the slow answer


@dataclass
class Ctx:
    """What one cell works with."""

    sb: Any
    path: str
    tmp: Path
    credentials: FireworkCredentials
    source: str = ""
    served: Path | None = None
    url: str = ""
    video_id: str = ""
    parts: int = 1
    monkeypatch: Any = None
    stack: ExitStack = field(default_factory=ExitStack)

    @property
    def main(self) -> str:
        """The endpoint that makes the row's result: the create, or the PATCH."""
        return "update_video" if self.path == "update" else "create_video"

    @property
    def upload(self) -> str:
        return {"single": "s3_post", "multipart": "s3_part"}.get(self.path, "")

    @property
    def first_step(self) -> str:
        return {
            "single": "upload_signature",
            "multipart": "multipart_signatures",
            "url-async": "create_video",
        }.get(self.path, "")


@dataclass(frozen=True)
class Expect:
    outcome: str  # "ok" | "failed" | "ambiguous"
    endpoint: str | None = None  # the endpoint whose request count shows the retry budget
    requests: int | Callable[[Ctx], int] | None = None
    error: str = ""  # a substring of the failed row's error
    video_in_sandbox: bool | None = None  # for ambiguous rows: does the sandbox hold it?


def _warm_token(ctx: Ctx) -> None:
    ctx.credentials.get_client().get_access_token()


# -- the faults ----------------------------------------------------------------------------


def token_5xx(ctx: Ctx) -> None:
    ctx.sb.faults.inject("token", status=500, times=1)


def token_expired_mid_run(ctx: Ctx) -> None:
    _warm_token(ctx)
    if ctx.first_step:  # expire right after the path's first API call
        _once_signed(ctx, ctx.sb.expire_tokens)
    else:  # the path's only call is the create/PATCH: its cached token is already dead
        ctx.sb.expire_tokens()


def once_401(ctx: Ctx) -> None:
    ctx.sb.faults.inject(ctx.main, status=401, times=1)


def rate_limited_retry_after(ctx: Ctx) -> None:
    ctx.sb.faults.inject(ctx.main, status=429, times=1, retry_after=1)


def rate_limited_no_retry_after(ctx: Ctx) -> None:
    ctx.sb.faults.inject(ctx.main, status=429, times=1)


def complete_500(ctx: Ctx) -> None:
    ctx.sb.faults.inject("multipart_complete", status=500, times=2)


def main_503(ctx: Ctx) -> None:
    ctx.sb.faults.inject(ctx.main, status=503, times=2)


def reset_upload_body(ctx: Ctx) -> None:
    ctx.sb.faults.reset_connection(ctx.upload or ctx.main, times=1)


def reset_create_body(ctx: Ctx) -> None:
    ctx.sb.faults.reset_connection("create_video", times=1)


def _once_signed(ctx: Ctx, action: Callable[[], Any]) -> None:
    """Run ``action`` once the upload is signed and before a byte of it is sent.

    The single path signs and POSTs in one task run (``upload_single``), with no gap for a
    watcher of the sandbox's log to land in, so the moment is taken from the client itself.
    The multipart path has a task run between its initiate and its parts: a watcher will do.
    """
    if ctx.path != "single":
        ctx.stack.enter_context(when(ctx.sb, ctx.first_step, action))
        return
    original = FireworkClient.create_upload_signature
    fired: list[bool] = []

    def signed(self: FireworkClient, **kwargs: Any) -> Any:
        signature = original(self, **kwargs)
        if not fired:
            fired.append(True)
            action()
        return signature

    ctx.monkeypatch.setattr(FireworkClient, "create_upload_signature", signed)


def part_url_expired(ctx: Ctx) -> None:
    # the clock jumps past the 60-minute URL lifetime once the upload is signed
    _once_signed(ctx, lambda: ctx.sb.advance_clock(3700))


def slow_step(ctx: Ctx) -> None:
    # the sandbox does the work at once and answers after the client's timeout
    endpoint = {
        "single": "upload_signature",
        "multipart": "multipart_complete",
        "url-async": "get_import",
        "update": "update_video",
    }[ctx.path]
    ctx.sb.faults.slow_response(endpoint, SLOW_DELAY, times=1)


def gateway_after_create(status: int) -> Callable[[Ctx], None]:
    """The gateway gave up and answered ``status``; the backend finished: the video exists."""

    def fault(ctx: Ctx) -> None:
        ctx.sb.faults.inject_after("create_video", status=status, times=1)

    return fault


def slow_create(ctx: Ctx) -> None:
    ctx.sb.faults.slow_response("create_video", SLOW_DELAY, times=1)


def unreadable_201(ctx: Ctx) -> None:
    # the video was created, but its 201 body could not be read (a proxy mangled it, the API
    # changed a field's type...): the client cannot tell a video id, so it is ambiguous
    original = FireworkClient._parse
    broken: list[int] = []

    def parse(model: Any, response: Any) -> Any:
        request = response.request
        if request.method == "POST" and request.url.path == "/api/v1/videos" and not broken:
            broken.append(response.status_code)
            raise FireworkError(
                f"unexpected {model.__name__} response: id: Field required",
                status_code=response.status_code,
                method=request.method,
                url=str(request.url),
            )
        return original(model, response)

    ctx.monkeypatch.setattr(FireworkClient, "_parse", staticmethod(parse))


def import_errored(ctx: Ctx) -> None:
    assert ctx.served is not None
    (ctx.served / "clip.mp4").write_bytes(b"this is not a video " * 4000)


def source_gone(ctx: Ctx) -> None:
    if ctx.path in ("single", "multipart"):

        def truncate() -> None:
            with open(ctx.source, "r+b") as fh:
                fh.truncate(os.path.getsize(ctx.source) // 2)

        _once_signed(ctx, truncate)
    else:
        assert ctx.served is not None
        os.remove(ctx.served / "clip.mp4")


def always_503(ctx: Ctx) -> None:
    endpoint = {
        "single": "upload_signature",
        "multipart": "s3_part",
        "url-sync": "create_video",
        "url-async": "get_import",
        "update": "update_video",
    }[ctx.path]
    ctx.sb.faults.inject(endpoint, status=503, times=None)


FAULTS: dict[str, Callable[[Ctx], None]] = {
    "token-5xx": token_5xx,
    "token-expired": token_expired_mid_run,
    "401-once": once_401,
    "429-retry-after": rate_limited_retry_after,
    "429-no-retry-after": rate_limited_no_retry_after,
    "complete-500": complete_500,
    "503-twice": main_503,
    "reset-upload-body": reset_upload_body,
    "reset-create-body": reset_create_body,
    "part-url-expired": part_url_expired,
    "slow-step": slow_step,
    "slow-create": slow_create,
    "gateway-502-after-create": gateway_after_create(502),
    "gateway-504-after-create": gateway_after_create(504),
    "unreadable-201": unreadable_201,
    "import-errored": import_errored,
    "source-gone": source_gone,
    "503-forever": always_503,
}

OK_MAIN_TWICE = Expect("ok", "MAIN", 2)
TRIES = 1 + len(_policy.RETRY_DELAYS)  # the first try and five retries

#: (fault, path) -> what must happen. Cells not listed do not apply to that path.
MATRIX: dict[tuple[str, str], Expect] = {
    # the token endpoint fails once: the step that needed the token is retried
    **{("token-5xx", p): Expect("ok", "token", 2) for p in PATHS},
    # the API rejects the cached token: one refresh, one replay, no retry spent
    **{("token-expired", p): Expect("ok", "token", 2) for p in PATHS},
    **{("401-once", p): OK_MAIN_TWICE for p in PATHS},
    # 429s are waited out inside the task (Retry-After, else a fallback), no retry spent
    **{("429-retry-after", p): OK_MAIN_TWICE for p in PATHS},
    **{("429-no-retry-after", p): OK_MAIN_TWICE for p in PATHS},
    ("complete-500", "multipart"): Expect("ok", "multipart_complete", 3),
    # 503 means "not handled": even a create is retried
    **{("503-twice", p): Expect("ok", "MAIN", 3) for p in PATHS},
    ("reset-upload-body", "single"): Expect("ok", "s3_post", 2),
    ("reset-upload-body", "multipart"): Expect("ok", "s3_part", lambda c: c.parts + 1),
    ("reset-upload-body", "update"): Expect("ok", "update_video", 2),
    # a create cut off mid-body may have reached the server: never repeated, reported
    **{
        ("reset-create-body", p): Expect("ambiguous", "create_video", 1, video_in_sandbox=False)
        for p in CREATE_PATHS
    },
    # one fresh multipart upload (3 requests: the jump also expired the token, so the fresh
    # initiate is answered 401 once and replayed); the abandoned upload is named in the row
    ("part-url-expired", "multipart"): Expect("ok", "multipart_signatures", 3, error="abandoned"),
    ("part-url-expired", "single"): Expect("failed", "s3_post", 1, error="AccessDenied"),
    **{
        ("slow-step", p): Expect("ok", e, n)
        for p, e, n in (
            ("single", "upload_signature", 2),
            # completed, answer lost; the retry is refused; one fresh upload completes
            ("multipart", "multipart_complete", 3),
            ("url-async", "get_import", None),
            ("update", "update_video", 2),
        )
    },
    # the create's response came too late: the video exists, the row says it may
    **{
        ("slow-create", p): Expect("ambiguous", "create_video", 1, video_in_sandbox=True)
        for p in CREATE_PATHS
    },
    **{
        ("unreadable-201", p): Expect("ambiguous", "create_video", 1, video_in_sandbox=True)
        for p in CREATE_PATHS
    },
    # a gateway's 502/504 after the backend created the video: ambiguous, never repeated
    **{
        (f"gateway-{status}-after-create", p): Expect(
            "ambiguous", "create_video", 1, video_in_sandbox=True
        )
        for status in (502, 504)
        for p in CREATE_PATHS
    },
    ("import-errored", "url-sync"): Expect("failed", "create_video", 1, error="400"),
    ("import-errored", "url-async"): Expect("failed", "create_video", 1, error="errored"),
    ("source-gone", "single"): Expect("failed", "s3_post", 1, error="SourceChanged"),
    ("source-gone", "multipart"): Expect("failed", "multipart_complete", 0, error="left open"),
    ("source-gone", "url-sync"): Expect("failed", "create_video", 1, error="400"),
    ("source-gone", "url-async"): Expect("failed", "create_video", 1, error="errored"),
    # a fault that never clears: the budget is spent, the row fails clearly
    ("503-forever", "single"): Expect("failed", "upload_signature", TRIES, error="503"),
    ("503-forever", "multipart"): Expect("failed", "s3_part", None, error="left open"),
    ("503-forever", "url-sync"): Expect("failed", "create_video", TRIES, error="503"),
    # the import keeps running on Firework's side: the row says the video may exist
    ("503-forever", "url-async"): Expect(
        "ambiguous", "get_import", None, error="did not finish", video_in_sandbox=True
    ),
    ("503-forever", "update"): Expect("failed", "update_video", TRIES, error="503"),
}

CELLS = [pytest.param(f, p, id=f"{f}-{p}") for (f, p) in MATRIX]


def _prepare(ctx: Ctx, seed: int) -> pd.DataFrame:
    sb, tmp = ctx.sb, ctx.tmp
    base = {"channel_id": sb.channel_id, "caption": f"{ctx.path} under a fault"}
    if ctx.path == "single":
        ctx.source = mp4(tmp / "single.mp4", size=60_000, seed=seed)
        return pd.DataFrame([{**base, "source": ctx.source}])
    if ctx.path == "multipart":
        ctx.source = mp4(tmp / "multi.mp4", size=11 * MIB, seed=seed)
        ctx.parts = len(plan_parts(11 * MIB, concurrency=8))
        return pd.DataFrame([{**base, "source": ctx.source}])
    if ctx.path in ("url-sync", "url-async"):
        ctx.served = tmp / "served"
        make_mp4(ctx.served / "clip.mp4", 4, size=50_000, seed=seed)
        ctx.url = sb.serve_files(ctx.served).rstrip("/") + "/clip.mp4"
        row = {**base, "url": ctx.url}
        if ctx.path == "url-async":
            row["async"] = True
        return pd.DataFrame([row])
    # update: a video made through a client of its own (the flow's starts without a token)
    path = mp4(tmp / "to-update.mp4", size=40_000, seed=seed)
    with FireworkClient(sb.client_id, sb.client_secret, base_url=sb.base_url) as client:
        video = client.create_video_from_file(
            path, VideoMetadata(channel_id=sb.channel_id, caption="before")
        )
    ctx.video_id = video.id
    return pd.DataFrame([{"video_id": video.id, "caption": "after"}])


def _run(ctx: Ctx, manifest: pd.DataFrame, ledger: Any) -> pd.DataFrame:
    if ctx.path == "update":
        return results_of(update_videos, manifest, credentials=ctx.credentials)
    return results_of(
        upload_videos,
        manifest,
        credentials=ctx.credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
    )


@pytest.mark.parametrize(("fault", "path"), CELLS)
def test_fault_matrix(fault, path, sb, ledger, tmp_path, monkeypatch):
    expect = MATRIX[(fault, path)]
    slow = fault.startswith("slow")  # the client gives up after 1 s; the answer takes 1.3 s
    set_retry_delay(monkeypatch, 0.0)
    monkeypatch.setattr(_policy, "_FALLBACK_RATE_LIMIT_WAIT", 0.5)
    monkeypatch.setenv("FIREWORK_RATE_LIMIT_BACKOFF", "0.5")  # the batch pacer's pause
    monkeypatch.setenv("FIREWORK_IMPORT_TIMEOUT", "1.5")
    credentials = FireworkCredentials(
        client_id=sb.client_id,
        client_secret=sb.client_secret,
        base_url=sb.base_url,
        timeout=SLOW_TIMEOUT if slow else 30.0,
    )
    ctx = Ctx(sb=sb, path=path, tmp=tmp_path, credentials=credentials, monkeypatch=monkeypatch)
    seed = zlib.crc32(f"{fault}/{path}".encode()) % 10_000
    manifest = _prepare(ctx, seed)
    before = {e: count(sb, e) for e in ("token", "create_video", "update_video")}
    with ctx.stack:
        FAULTS[fault](ctx)
        started = time.monotonic()
        frame = _run(ctx, manifest, ledger)
        elapsed = time.monotonic() - started
    if slow:
        time.sleep(SLOW_DELAY)  # the held answer is logged once it is sent
    deadline = time.monotonic() + 5  # an import accepted before the fault may still land
    while expect.video_in_sandbox and not sb.videos() and time.monotonic() < deadline:
        time.sleep(0.05)
    row = one(frame)
    summary = assert_accounting(sb, frame, 1, update=path == "update")

    if expect.outcome == "ok":
        done = {"update": "updated", "url-sync": "imported", "url-async": "imported"}
        assert row["status"] == done.get(path, "created"), row
        assert expect.error in (row["error"] or ""), row
        if path == "update":
            assert sb.video(ctx.video_id)["caption"] == "after"
        else:
            assert len(sb.videos()) == 1
    elif expect.outcome == "failed":
        assert row["status"] == "failed", row
        assert expect.error in row["error"], row["error"]
        assert AMBIGUOUS not in row["error"], "a certain failure is not reported as ambiguous"
        if path == "update":
            assert sb.video(ctx.video_id)["caption"] == "before"
    else:  # ambiguous: reported as such; the sandbox may hold it, tagged with the row key
        assert row["status"] == "failed" and AMBIGUOUS in row["error"], row
        assert expect.error in row["error"], row["error"]
        hints = ("ledger resolve", "recreate_uncertain", "rerun polls")
        assert any(h in row["error"] for h in hints), "the error says how to settle the row"
        assert summary["ambiguous"] == [row["key"]]
        videos = sb.videos()
        assert len(videos) == (1 if expect.video_in_sandbox else 0), videos
        if videos:
            assert videos[0]["custom_fields"][KEY_FIELD] == row["key"]

    if expect.endpoint is not None and expect.requests is not None:
        endpoint = ctx.main if expect.endpoint == "MAIN" else expect.endpoint
        wanted = expect.requests(ctx) if callable(expect.requests) else expect.requests
        seen = count(sb, endpoint) - before.get(endpoint, 0)
        assert seen == wanted, f"{endpoint}: {seen} requests, expected {wanted}"
    if fault == "429-retry-after":
        assert elapsed >= 1.0, "Retry-After was honoured"
    if fault == "503-forever" and path == "multipart":
        assert count(sb, "s3_part") >= TRIES, "each part is tried 1 + 5 times"
