"""preflight: every refusal rule, acceptance of real files, byte budget, fingerprints, secrecy."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from sources_support import BIG_SIZE, S3, GetObjectLog, Media, write_moov_after_gap

from prefect_firework.limits import MediaLimits
from prefect_firework.sandbox.files import FileServer
from prefect_firework.sandbox.media import make_mp4, set_mp4_duration
from prefect_firework.sources import PreflightError, SourceError, SourceInfo, preflight
from prefect_firework.sources.fingerprint import EDGE_BYTES


def refusal(source: object, **kwargs: object) -> PreflightError:
    with pytest.raises(PreflightError) as info:
        preflight(source, **kwargs)  # type: ignore[arg-type]
    error = info.value
    assert isinstance(error, SourceError)
    assert str(error).endswith(f"(rule: {error.rule})")
    assert str(error).startswith(f"{error.source}: ")
    return error


@pytest.mark.parametrize("name", ["ok", "faststart", "mov"])
def test_accepts_real_files(media: Media, name: str) -> None:
    path: Path = getattr(media, name)
    info = preflight(path)
    assert isinstance(info, SourceInfo)
    assert info.size == path.stat().st_size
    assert info.duration == 5.0
    assert info.filename == path.name
    assert info.mime_type == ("video/quicktime" if name == "mov" else "video/mp4")
    assert len(info.fingerprint) == 64
    assert info.mtime == path.stat().st_mtime
    assert info.uri == str(path)
    assert pickle.loads(pickle.dumps(info)) == info


@pytest.mark.parametrize(("name", "ext"), [("gif", ".gif"), ("avi", ".avi")])
def test_refuses_other_types_without_io(media: Media, name: str, ext: str) -> None:
    error = refusal(getattr(media, name))
    assert error.rule == "mime_type"
    assert ext in str(error) and ".mp4" in str(error)
    # no I/O: the same name that does not exist is refused for its type, not as unreadable
    assert refusal(f"/no/such/dir/x{ext}").rule == "mime_type"
    assert refusal("https://example.com/video").rule == "mime_type"


def test_refuses_by_size(media: Media) -> None:
    assert refusal(media.empty).rule == "min_file_size"
    error = refusal(media.tiny)
    assert error.rule == "min_file_size"
    assert "24,576 bytes is below the 25,600-byte minimum" in str(error)
    small_max = MediaLimits(max_file_size=50_000)
    assert refusal(media.ok, limits=small_max).rule == "max_file_size"


def test_refuses_by_duration(media: Media) -> None:
    error = refusal(media.short)
    assert error.rule == "min_duration"
    assert (
        str(error) == f"{media.short}: duration 2.0 s is below the 3 s minimum (rule: min_duration)"
    )
    error = refusal(media.long)
    assert error.rule == "max_duration"
    assert "3660.0 s is above the 3600 s maximum" in str(error)


def test_refuses_garbage_and_missing(media: Media, tmp_path: Path) -> None:
    error = refusal(media.garbage)
    assert error.rule == "container"
    error = refusal(tmp_path / "gone.mp4")
    assert error.rule == "unreadable"
    assert "gone.mp4" in str(error)
    truncated = write_moov_after_gap(media.root / "plain-src.mp4", tmp_path / "cut.mp4", 50_000)
    os.truncate(truncated, truncated.stat().st_size - 100)  # moov (at the end) cut short
    error = refusal(truncated)
    assert error.rule == "container"
    assert "runs past the end" in str(error)


def test_big_http_file_reads_only_edges_and_headers(media: Media, http: FileServer) -> None:
    """A 120 MB file whose moov sits at the end: a few KB for the duration, 2 MiB fingerprint."""
    info = preflight(http.url_for("big.mp4"))
    assert (info.size, info.duration) == (BIG_SIZE, 5.0)
    spans = []
    for record in http.requests:
        if record.method == "HEAD":
            continue
        assert record.range is not None
        first, last = map(int, record.range.removeprefix("bytes=").split("-"))
        spans.append((first, last - first + 1))
    fingerprint_reads = [(o, n) for o, n in spans if n == EDGE_BYTES]
    probe_reads = [(o, n) for o, n in spans if n != EDGE_BYTES]
    assert sorted(fingerprint_reads) == [(0, EDGE_BYTES), (BIG_SIZE - EDGE_BYTES, EDGE_BYTES)]
    assert len(probe_reads) <= 8
    assert sum(n for _, n in probe_reads) <= 1024
    assert sum(n for _, n in spans) < 2 * EDGE_BYTES + 1024  # of 120 MB


def test_big_local_file(media: Media) -> None:
    assert preflight(media.big).duration == 5.0


def test_http_refusals_hide_query_strings(media: Media, http: FileServer) -> None:
    secret = "?X-Amz-Credential=AKIA123&X-Amz-Signature=deadbeef"
    error = refusal(http.url_for("short.mp4") + secret)
    assert error.rule == "min_duration"
    assert error.source == http.url_for("short.mp4")
    http.set_behavior("ok.mp4", status=404)
    error = refusal(http.url_for("ok.mp4") + secret)
    assert error.rule == "unreadable"
    for text in (str(error), repr(error), error.source):
        assert "AKIA123" not in text and "deadbeef" not in text
    info = preflight(http.url_for("fast.mp4") + secret)
    assert "deadbeef" not in repr(info)
    assert info.display == http.url_for("fast.mp4")


def test_http_server_ignoring_range_is_refused(http: FileServer) -> None:
    http.set_behavior("ok.mp4", ignore_range=True)
    error = refusal(http.url_for("ok.mp4"))
    assert error.rule == "unreadable"
    assert "Range" in str(error)


def test_s3(s3: S3, media: Media, s3_log: GetObjectLog) -> None:
    uri = s3.put("pre/ok.mp4", media.ok)
    info = preflight(uri, transport_params=s3.transport_params)
    assert (info.size, info.duration, info.mime_type) == (100_000, 5.0, "video/mp4")
    assert info.etag
    spans = s3_log.bounded()  # every GET was bounded
    probe = [(first, last) for first, last in spans if last - first < 1000]
    assert 1 <= len(probe) <= 8  # the duration: a few header-sized GETs
    assert len(spans) - len(probe) == 2  # the fingerprint's two edge reads
    short = s3.put("pre/short.mp4", media.short)
    error = refusal(short, transport_params=s3.transport_params)
    assert str(error) == f"{short}: duration 2.0 s is below the 3 s minimum (rule: min_duration)"
    assert refusal("s3://media/pre/none.mp4", transport_params=s3.transport_params).rule == (
        "unreadable"
    )


def test_fingerprint_is_stable_and_tracks_content(tmp_path: Path, media: Media) -> None:
    path = tmp_path / "v.mp4"
    shutil.copy(media.ok, path)
    first = preflight(path).fingerprint
    assert preflight(path).fingerprint == first
    assert preflight(f"file://{path}").fingerprint == first

    # same size, same mtime, different bytes at the end (the moov): still detected
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # inside moov's sample tables, not the mvhd
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert preflight(path).fingerprint != first

    # same bytes, new mtime: a conservative change (never reuse parts on doubt)
    path.write_bytes(media.ok.read_bytes())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert preflight(path).fingerprint == first
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert preflight(path).fingerprint != first

    # re-encoded content
    make_mp4(path, 5, size=100_000, seed=99)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert preflight(path).fingerprint != first


def test_fingerprint_s3_uses_etag(s3: S3, media: Media, tmp_path: Path) -> None:
    uri = s3.put("fp/v.mp4", media.ok)
    first = preflight(uri, transport_params=s3.transport_params).fingerprint
    assert preflight(uri, transport_params=s3.transport_params).fingerprint == first
    other = tmp_path / "v.mp4"
    make_mp4(other, 5, size=100_000, seed=42)
    set_mp4_duration(other, 5.0)
    s3.put("fp/v.mp4", other)
    assert preflight(uri, transport_params=s3.transport_params).fingerprint != first
