"""One measured client run in its own process: ``python bench/_worker.py '<json config>'``.

Prints ``RESULT {json}`` as its last stdout line. Client CPU is this process's own user+sys
(``resource.getrusage``) around the measured window only (for curl: the curl/xargs children).
Memory growth is the peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the RSS
just before the window. Not a test and not imported by the package.
"""

from __future__ import annotations

import time

T_MAIN = time.time()  # before any heavy import: the cold-start benchmark reads it

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

MiB = 1024 * 1024


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


class PartClock:
    """First part request sent / last part response received, from client-side hooks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: float | None = None
        self.first_wall: float | None = None
        self.first_cpu: float | None = None
        self.first_children_cpu: float | None = None
        self.last: float | None = None
        self.count = 0
        self.armed = True

    def sent(self) -> None:
        now = time.perf_counter()
        with self.lock:
            if self.first is None and self.armed:
                self.first = now
                self.first_wall = time.time()
                self.first_cpu = cpu_self()
                self.first_children_cpu = _descendants_cpu()

    def done(self) -> None:
        with self.lock:
            self.last = time.perf_counter()
            self.count += 1

    def reset(self) -> None:
        with self.lock:
            self.first = self.first_wall = self.first_cpu = self.last = None
            self.count = 0

    # httpx event hooks
    def on_request(self, request: Any) -> None:
        if request.method == "PUT":
            self.sent()

    def on_response(self, response: Any) -> None:
        if response.request.method == "PUT":
            self.done()


def _descendants_cpu() -> float | None:
    try:
        import psutil

        total = 0.0
        for child in psutil.Process().children(recursive=True):
            times = child.cpu_times()
            total += times.user + times.system
        return total
    except Exception:
        return None


# -- clients ------------------------------------------------------------------------------------


def firework_client(sb: dict[str, Any], clock: PartClock) -> Any:
    from prefect_firework.client import FireworkClient

    fw = FireworkClient(sb["client_id"], sb["client_secret"], base_url=sb["base_url"])
    fw._s3.event_hooks = {"request": [clock.on_request], "response": [clock.on_response]}
    return fw


def moto_client(sb: dict[str, Any], *, defaults: bool = True, pool: int = 10) -> Any:
    import boto3
    from botocore.config import Config

    extra: dict[str, Any] = {} if defaults else {"request_checksum_calculation": "when_required"}
    return boto3.client(
        "s3",
        endpoint_url=sb["moto_url"],
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=pool, **extra),
    )


def source_size(source: str, tp: dict[str, Any] | None) -> int:
    from prefect_firework.sources import stat_source

    return int(stat_source(source, transport_params=tp).size)


def client_upload(
    fw: Any, sb: dict[str, Any], cfg: dict[str, Any], source: str, size: int, *, part_size: int
) -> None:
    """Our client, no Prefect: initiate, a ThreadPoolExecutor over upload_part, complete."""
    from concurrent.futures import ThreadPoolExecutor

    from prefect_firework.batch import plan_parts
    from prefect_firework.models import CompletedPart

    conc = cfg["concurrency"]
    tp = cfg.get("transport_params")
    plan = plan_parts(size, concurrency=conc, part_size=part_size)
    if cfg.get("target", "front") == "moto":
        s3 = moto_client(sb, defaults=False)
        key = f"bench/client-{os.getpid()}-{time.time_ns()}.mp4"
        up = s3.create_multipart_upload(Bucket=sb["bucket"], Key=key)
        urls = {
            p.number: s3.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": sb["bucket"],
                    "Key": key,
                    "UploadId": up["UploadId"],
                    "PartNumber": p.number,
                },
                ExpiresIn=3600,
            )
            for p in plan
        }
    else:
        mp = fw.create_multipart_upload(
            filename=os.path.basename(source),
            mime_type="video/mp4",
            channel_id=sb["channel_id"],
            parts_count=len(plan),
        )
        urls = {p.part: p.put_url for p in mp.parts}

    def one(p: Any) -> str:
        return str(
            fw.upload_part(
                urls[p.number],
                source,
                p.offset,
                p.length,
                verify_md5=cfg.get("verify_md5", True),
                transport_params=tp,
            )
        )

    with ThreadPoolExecutor(conc) as pool:
        etags = list(pool.map(one, plan))
    if not cfg.get("complete", True):  # the sandbox's complete is server time; reset drops it
        return
    if cfg.get("target", "front") == "moto":
        s3.complete_multipart_upload(
            Bucket=sb["bucket"],
            Key=key,
            UploadId=up["UploadId"],
            MultipartUpload={
                "Parts": [
                    {"PartNumber": p.number, "ETag": e} for p, e in zip(plan, etags, strict=True)
                ]
            },
        )
    else:
        fw.complete_multipart_upload(
            key=mp.key,
            upload_id=mp.upload_id,
            parts=[CompletedPart(part=p.number, etag=e) for p, e in zip(plan, etags, strict=True)],
        )


def s3transfer_setup(sb: dict[str, Any], cfg: dict[str, Any], clock: PartClock) -> Any:
    from boto3.s3.transfer import TransferConfig

    s3 = moto_client(sb, defaults=True, pool=max(10, cfg["concurrency"]))
    s3.meta.events.register("before-send.s3.UploadPart", lambda **kw: clock.sent())
    s3.meta.events.register("after-call.s3.UploadPart", lambda **kw: clock.done())
    config = TransferConfig(
        multipart_threshold=8 * MiB,
        multipart_chunksize=cfg["part_size"],
        max_concurrency=cfg["concurrency"],
        use_threads=True,
    )
    return s3, config


def s3transfer_upload(s3: Any, config: Any, sb: dict[str, Any], source: str, tp: Any) -> None:
    key = f"bench/s3transfer-{os.getpid()}-{time.time_ns()}.mp4"
    if source.startswith("s3://"):
        bucket, _, src_key = source[5:].partition("/")
        src = moto_client(sb, defaults=False)
        body = src.get_object(Bucket=bucket, Key=src_key)["Body"]
        s3.upload_fileobj(body, sb["bucket"], key, Config=config)
    else:
        s3.upload_file(source, sb["bucket"], key, Config=config)


def curl_upload(sb: dict[str, Any], cfg: dict[str, Any], clock: PartClock) -> float:
    """PUT the pre-cut part files with curl -T via xargs -P; returns the children's CPU."""
    parts = cfg["parts"]
    conc = cfg["concurrency"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-curl-"))
    if cfg.get("target", "front") == "moto":
        s3 = moto_client(sb, defaults=False)
        key = f"bench/curl-{os.getpid()}-{time.time_ns()}.mp4"
        upload_id = s3.create_multipart_upload(Bucket=sb["bucket"], Key=key)["UploadId"]
        urls = [
            s3.generate_presigned_url(
                "upload_part",
                Params={"Bucket": sb["bucket"], "Key": key, "UploadId": upload_id, "PartNumber": n},
                ExpiresIn=3600,
            )
            for n in range(1, len(parts) + 1)
        ]
    else:
        from prefect_firework.models import CompletedPart

        fw = firework_client(sb, clock)
        mp = fw.create_multipart_upload(
            filename="curl.mp4",
            mime_type="video/mp4",
            channel_id=sb["channel_id"],
            parts_count=len(parts),
        )
        urls = [p.put_url.get_secret_value() for p in sorted(mp.parts, key=lambda p: p.part)]
    lines = [
        f"-T {part} -D {tmp}/h{n:05d} {url}"
        for n, (part, url) in enumerate(zip(parts, urls, strict=True))
    ]
    (tmp / "jobs").write_text("\n".join(lines) + "\n")
    c0 = cpu_children()
    clock.first = time.perf_counter()
    subprocess.run(
        "xargs -P {} -L 1 curl -s -S --fail -o /dev/null -H 'Expect:' < {}".format(
            conc, tmp / "jobs"
        ),
        shell=True,
        check=True,
    )
    clock.last = time.perf_counter()
    cpu = cpu_children() - c0
    if not cfg.get("complete", True):
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return cpu
    etags = []
    for n in range(len(parts)):
        headers = (tmp / f"h{n:05d}").read_text().splitlines()
        etag = next(h.split(":", 1)[1] for h in headers if h.lower().startswith("etag"))
        etags.append(etag.strip())
    if cfg.get("target", "front") == "moto":
        s3.complete_multipart_upload(
            Bucket=sb["bucket"],
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
            },
        )
    else:
        fw.complete_multipart_upload(
            key=mp.key,
            upload_id=mp.upload_id,
            parts=[CompletedPart(part=n, etag=e) for n, e in enumerate(etags, start=1)],
        )
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return cpu


def count_s3_gets(tp: dict[str, Any]) -> dict[str, Any]:
    """Hook this process's shared boto3 client (the one the sources layer uses)."""
    from prefect_firework.sources.s3 import shared_client

    client = shared_client(tp["client_kwargs"]["S3.Client"])
    log: dict[str, Any] = {"gets": [], "heads": 0, "lock": threading.Lock()}

    def before(request: Any, **_: Any) -> None:
        with log["lock"]:
            log["gets"].append(request.headers.get("Range", b"").decode() or "(none)")

    def after(parsed: Any, **_: Any) -> None:
        with log["lock"]:
            log.setdefault("bytes", []).append(int(parsed.get("ContentLength", 0)))

    def head(**_: Any) -> None:
        with log["lock"]:
            log["heads"] += 1

    client.meta.events.register("before-send.s3.GetObject", before)
    client.meta.events.register("after-call.s3.GetObject", after)
    client.meta.events.register("before-send.s3.HeadObject", head)
    return log


# -- modes ----------------------------------------------------------------------------------------


def mode_upload(cfg: dict[str, Any]) -> dict[str, Any]:
    sb = cfg["sb"]
    kind = cfg["client"]
    source = cfg["source"]
    tp = cfg.get("transport_params")
    clock = PartClock()
    warm = cfg.get("warm_source")
    gets = count_s3_gets(tp) if cfg.get("count_gets") else None
    size = cfg["size"]

    if kind == "flow":
        from prefect.client.orchestration import get_client

        from prefect_firework.blocks import FireworkCredentials
        from prefect_firework.flows import upload_video

        creds = FireworkCredentials(
            client_id=sb["client_id"], client_secret=sb["client_secret"], base_url=sb["base_url"]
        )
        fw = creds.get_client()
        fw._s3.event_hooks = {"request": [clock.on_request], "response": [clock.on_response]}
        with get_client(sync_client=True) as pc:
            pc.hello()

        def run(source: str, part_size: int) -> None:
            if "://" not in source:  # a new mtime is a new fingerprint: no resume from cache
                os.utime(source)
            upload_video(
                source,
                sb["channel_id"],
                "bench",
                credentials=creds,
                strategy="multipart",
                part_size=part_size,
                max_concurrency=cfg["concurrency"],
                transport_params=tp,
                verify_md5=cfg.get("verify_md5", True),
            )

    elif kind == "client":
        fw = firework_client(sb, clock)
        fw.get_access_token()

        def run(source: str, part_size: int) -> None:
            client_upload(fw, sb, cfg, source, source_size(source, tp), part_size=part_size)

    elif kind == "s3transfer":
        s3, config = s3transfer_setup(sb, cfg, clock)

        def run(source: str, part_size: int) -> None:
            s3transfer_upload(s3, config, sb, source, tp)

    elif kind == "curl":
        run = None  # type: ignore[assignment]
    elif kind == "md5":  # the client's own pre-hash of a local part, alone: read + MD5

        def run(source: str, part_size: int) -> None:
            import hashlib

            with open(source, "rb") as fh:
                digest = hashlib.md5(usedforsecurity=False)
                while chunk := fh.read(MiB):
                    digest.update(chunk)

    else:
        raise ValueError(kind)

    if warm and run is not None:  # first-call costs (imports, connections, token) out of the window
        run(warm, 5 * MiB)
    clock.reset()
    if gets is not None:
        gets["gets"].clear()
        gets.pop("bytes", None)
        gets["heads"] = 0
    if cfg.get("memory"):
        import gc

        gc.collect()
        reset_peak()
    rss_before = status_kib("VmRSS")
    c0 = cpu_self()
    t0 = time.perf_counter()
    if kind == "curl":
        cpu = curl_upload(sb, cfg, clock)
        wall = time.perf_counter() - t0
    else:
        run(source, cfg["part_size"])
        wall = time.perf_counter() - t0
        cpu = cpu_self() - c0
    result: dict[str, Any] = {
        "wall": wall,
        "completed": kind in ("flow", "s3transfer")
        or (kind != "md5" and cfg.get("complete", True)),
        "parts_wall": (clock.last - clock.first) if clock.first and clock.last else None,
        "cpu": cpu,
        "rss_before": rss_before,
        "hwm": status_kib("VmHWM"),
        "size": size,
    }
    if gets is not None:
        result["gets"] = gets["gets"]
        result["get_bytes"] = gets.get("bytes", [])
        result["heads"] = gets["heads"]
    return result


def mode_cold(cfg: dict[str, Any]) -> dict[str, Any]:
    """From process start to the first part PUT: imports, set-up, preflight, initiate."""
    profiler = None
    if cfg.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    sb = cfg["sb"]
    kind = cfg["client"]
    clock = PartClock()
    stamps: dict[str, float] = {}
    if kind == "flow":
        from prefect_firework.blocks import FireworkCredentials
        from prefect_firework.flows import upload_video

        stamps["imported"] = time.time()
        creds = FireworkCredentials(
            client_id=sb["client_id"], client_secret=sb["client_secret"], base_url=sb["base_url"]
        )
        fw = creds.get_client()
        fw._s3.event_hooks = {"request": [clock.on_request], "response": [clock.on_response]}
        stamps["ready"] = time.time()
        upload_video(
            cfg["source"],
            sb["channel_id"],
            "bench",
            credentials=creds,
            strategy="multipart",
            part_size=5 * MiB,
            max_concurrency=cfg["concurrency"],
        )
    elif kind == "client":
        from prefect_firework.client import FireworkClient

        stamps["imported"] = time.time()
        fw = FireworkClient(sb["client_id"], sb["client_secret"], base_url=sb["base_url"])
        fw._s3.event_hooks = {"request": [clock.on_request], "response": [clock.on_response]}
        stamps["ready"] = time.time()
        client_upload(fw, sb, cfg, cfg["source"], os.path.getsize(cfg["source"]), part_size=5 * MiB)
    elif kind == "s3transfer":
        import boto3  # noqa: F401
        from boto3.s3.transfer import TransferConfig  # noqa: F401

        stamps["imported"] = time.time()
        s3, config = s3transfer_setup(sb, {**cfg, "part_size": 5 * MiB}, clock)
        stamps["ready"] = time.time()
        s3transfer_upload(s3, config, sb, cfg["source"], None)
    else:
        raise ValueError(kind)
    if profiler is not None:
        profiler.stop()
        Path(cfg["profile"]).write_text(profiler.output_text(unicode=False, color=False))
    return {
        "t_main": T_MAIN,
        "stamps": stamps,
        "first_put_wall": clock.first_wall,
        "first_put_cpu": clock.first_cpu,
        "first_put_children_cpu": clock.first_children_cpu,
    }


def _batch_rows(cfg: dict[str, Any], tag: str) -> Any:
    import pandas as pd

    rows = []
    for i, row in enumerate(cfg["rows"]):
        rows.append({**row, "caption": f"{row.get('caption', 'bench')} {tag} {i}"})
    return pd.DataFrame(rows)


def _thread_profiles(clock: Any = time.thread_time) -> list[Any]:
    """cProfile every thread started from now on, with per-thread CPU time as the clock."""
    import cProfile

    profiles: list[Any] = []
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(clock)
        profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    return profiles


def mode_batch(cfg: dict[str, Any]) -> dict[str, Any]:
    import logging

    from prefect.client.orchestration import get_client

    from prefect_firework.batch import Ledger
    from prefect_firework.blocks import FireworkCredentials
    from prefect_firework.flows import upload_videos

    sb = cfg["sb"]
    creds = FireworkCredentials(
        client_id=sb["client_id"], client_secret=sb["client_secret"], base_url=sb["base_url"]
    )
    with get_client(sync_client=True) as pc:
        pc.hello()
    # under the result storage the parent removes (this process ends with os._exit)
    ledger_root = Path(
        tempfile.mkdtemp(prefix="bench-ledger-", dir=os.environ.get("PREFECT_LOCAL_STORAGE_PATH"))
    )
    conc = cfg["concurrency"]
    if cfg.get("warm_rows"):
        upload_videos(
            _batch_rows({"rows": cfg["warm_rows"]}, f"warm-{time.time_ns()}"),
            credentials=creds,
            ledger=Ledger(ledger_root / "warm"),
            max_concurrency=conc,
            max_uploads_in_flight=cfg.get("in_flight", conc),
        )
    logging.getLogger("prefect").setLevel(cfg.get("log_level", "INFO"))
    manifest = _batch_rows(cfg, f"run-{time.time_ns()}")
    ledger = Ledger(ledger_root / "run")
    clock = time.perf_counter if cfg.get("profile_clock") == "wall" else time.thread_time
    profiles = _thread_profiles(clock) if cfg.get("profile") else None
    main_prof = None
    if cfg.get("profile"):
        import cProfile

        main_prof = cProfile.Profile(clock)
        main_prof.enable()
    trace = cfg.get("tracemalloc")
    traced: dict[str, Any] | None = None
    if trace:
        import tracemalloc

        import prefect_firework.batch._run as run_module

        finish = run_module.finish

        def finish_traced(*args: Any, **kwargs: Any) -> Any:
            # every row is done and nothing released yet: what the run holds per row
            nonlocal traced
            traced = _traced_top(cfg)
            return finish(*args, **kwargs)

        run_module.finish = finish_traced  # type: ignore[assignment]
        tracemalloc.start(int(trace))
    import gc

    gc.collect()
    rss_before = status_kib("VmRSS")
    reset_peak()
    c0 = cpu_self()
    t0 = time.perf_counter()
    started = time.time()
    frame = upload_videos(
        manifest,
        credentials=creds,
        ledger=ledger,
        max_concurrency=conc,
        max_uploads_in_flight=cfg.get("in_flight", conc),
    )
    wall = time.perf_counter() - t0
    cpu = cpu_self() - c0
    peak_rss = status_kib("VmHWM")
    if traced is not None:
        import tracemalloc

        traced["end_current"], traced["end_peak"] = tracemalloc.get_traced_memory()
    if main_prof is not None:
        main_prof.disable()
        import pstats

        stats = pstats.Stats(main_prof)
        for prof in profiles or []:
            if prof.getstats():  # a thread that never ran has nothing to add
                stats.add(prof)
        stats.dump_stats(cfg["profile"])
    counts = frame["status"].value_counts().to_dict()
    errors = frame["error"].dropna().astype(str).head(3).tolist()
    return {
        "wall": wall,
        "cpu": cpu,
        "started": started,
        "ended": time.time(),
        "counts": counts,
        "errors": errors,
        "rss_before": rss_before,
        "peak_rss": peak_rss,
        "rss_after": status_kib("VmRSS"),
        "traced": traced,
    }


def _traced_top(cfg: dict[str, Any]) -> dict[str, Any]:
    """What the process still holds after the run, by allocation site (tracemalloc): the
    traced total and the largest sites, to find what grows with rows."""
    import gc
    import tracemalloc

    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    group = cfg.get("trace_group", "traceback")
    stats = snapshot.statistics(group)
    current, peak = tracemalloc.get_traced_memory()
    top = []
    for stat in stats[: int(cfg.get("trace_top", 25))]:
        frames = [  # innermost first
            f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in reversed(stat.traceback)
        ]
        top.append({"size": stat.size, "count": stat.count, "where": frames})
    return {"current": current, "peak": peak, "top": top}


def mode_plain(cfg: dict[str, Any]) -> dict[str, Any]:
    """The same rows with no Prefect: a ThreadPoolExecutor of plain calls, same concurrency."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    sb = cfg["sb"]
    conc = cfg["concurrency"]
    tag = f"plain-{time.time_ns()}"
    rows = [
        {**r, "caption": f"{r.get('caption', 'bench')} {tag} {i}"}
        for i, r in enumerate(cfg["rows"])
    ]
    if cfg["rows"] and "url" in cfg["rows"][0]:
        http = httpx.Client(
            base_url=sb["base_url"], timeout=60, limits=httpx.Limits(max_connections=conc)
        )
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sb["client_id"],
                "client_secret": sb["client_secret"],
                "scope": "videos:read videos:write",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def one(row: dict[str, Any]) -> int:
            body = {
                "url": row["url"],
                "async": False,
                "channel_id": row["channel_id"],
                "caption": row["caption"],
            }
            return http.post("/api/v1/videos", json=body, headers=headers).status_code

        http.get("/api/v1/videos/x", headers=headers)  # warm the connection
    else:
        from prefect_firework.client import FireworkClient
        from prefect_firework.models import VideoMetadata

        fw = FireworkClient(sb["client_id"], sb["client_secret"], base_url=sb["base_url"])
        fw.get_access_token()

        def one(row: dict[str, Any]) -> int:
            sig = fw.create_upload_signature(
                filename=os.path.basename(row["source"]),
                mime_type="video/mp4",
                channel_id=row["channel_id"],
            )
            fw.post_to_s3(sig, row["source"], mime_type="video/mp4")
            fw.create_video_from_s3_key(
                sig.key, VideoMetadata(channel_id=row["channel_id"], caption=row["caption"])
            )
            return 201

    c0 = cpu_self()
    t0 = time.perf_counter()
    started = time.time()
    with ThreadPoolExecutor(conc) as pool:
        statuses = list(pool.map(one, rows))
    return {
        "wall": time.perf_counter() - t0,
        "cpu": cpu_self() - c0,
        "started": started,
        "ended": time.time(),
        "counts": {str(s): statuses.count(s) for s in set(statuses)},
    }


def main() -> None:
    arg = sys.argv[1]
    cfg = json.loads(Path(arg[1:]).read_text() if arg.startswith("@") else arg)
    mode = cfg["mode"]
    fn = {
        "upload": mode_upload,
        "cold": mode_cold,
        "batch": mode_batch,
        "plain": mode_plain,
    }[mode]
    result = fn(cfg)
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    _stop_children()
    os._exit(0)  # do not wait on Prefect's background services at exit


def _stop_children() -> None:
    """Stop what this process started (Prefect's ephemeral API server), by pid: it holds our
    stdout open and would outlive us."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        child.terminate()
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()


if __name__ == "__main__":
    main()
