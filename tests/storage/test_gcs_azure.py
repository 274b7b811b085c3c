"""GCS and Azure Blob sources against real emulators: fake-gcs-server through ``gs://`` (found
by ``STORAGE_EMULATOR_HOST``) and Azurite through ``azure://`` (a client from a connection
string), each behind a proxy that counts the bytes the storage sends back.

A 120 MB MP4 with its ``moov`` box at the very end is preflighted (size, duration) with a few
small range reads, then uploaded in multipart parts by ``upload_video``: every byte of it is
read from the storage once (1.00x), in bounded range requests of at most 8 MiB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from components import Azure, Gcs, StorageProxy, data_reads
from storage_support import BIG_SECONDS, BIG_SIZE, big_mp4

from prefect_firework.flows import upload_video
from prefect_firework.sources import SourceError, preflight, stat_source
from prefect_firework.sources.azure import AZURE_CHUNK
from prefect_firework.sources.fingerprint import EDGE_BYTES
from prefect_firework.sources.gcs import GCS_CHUNK

pytestmark = pytest.mark.prefect_server

MIB = 1024 * 1024


@dataclass
class Remote:
    """One storage as the tests use it."""

    kind: str
    proxy: StorageProxy
    put: Callable[[str, Path], str]
    transport_params: Callable[[], dict[str, Any]]
    chunk: int


@pytest.fixture(params=["gcs", "azure"])
def remote(request: pytest.FixtureRequest) -> Remote:
    if request.param == "gcs":
        g: Gcs = request.getfixturevalue("gcs")
        return Remote("gcs", g.proxy, g.put, dict, GCS_CHUNK)
    a: Azure = request.getfixturevalue("azurite")
    return Remote("azure", a.proxy, a.put, lambda: {"client": a.client()}, AZURE_CHUNK)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_mp4(tmp_path_factory.mktemp("big") / "launch.mp4")


def _ranges(proxy: StorageProxy) -> list[tuple[int, int]]:
    """(first, last) of every data read the storage answered; fails on an open-ended one."""
    out = []
    for seen in proxy.requests("GET"):
        headers = {"range": seen.range} if seen.range else {}
        if seen.injected or not data_reads("GET", seen.path, headers):
            continue
        assert seen.range, f"a data read without a range: {seen}"
        first, last = seen.range.split("=", 1)[1].split("-")
        assert first and last, f"open-ended range {seen.range!r}"
        out.append((int(first), int(last)))
    return out


def test_preflight_reads_the_moov_at_the_end_with_small_range_reads(remote: Remote, big: Path):
    uri = remote.put(f"preflight/{remote.kind}.mp4", big)
    remote.proxy.reset()

    info = preflight(uri, transport_params=remote.transport_params())

    assert info.size == BIG_SIZE
    assert info.duration == pytest.approx(BIG_SECONDS, abs=0.1)
    assert info.mime_type == "video/mp4"
    assert info.etag, "the fingerprint uses the storage's ETag"
    ranges = _ranges(remote.proxy)
    assert any(first > BIG_SIZE - 64 * 1024 for first, _ in ranges), ranges  # the moov
    # the duration probe's reads are tiny; the fingerprint reads the first and last MiB
    assert remote.proxy.bytes_read() <= 2 * EDGE_BYTES + 64 * 1024, remote.proxy.bytes_read()


def test_multipart_upload_reads_every_byte_once_in_bounded_ranges(
    remote: Remote, big: Path, sb, credentials
):
    uri = remote.put(f"upload/{remote.kind}.mp4", big)
    remote.proxy.reset()

    video = upload_video(
        uri,
        sb.channel_id,
        f"launch from {remote.kind}",
        credentials=credentials,
        transport_params=remote.transport_params(),
    )

    assert video.id in {v["id"] for v in sb.videos()}
    [upload] = sb.multipart_uploads()
    assert upload["status"] == "completed", upload
    objects = {o["key"]: o for o in sb.objects()}
    assert objects[upload["key"]]["size"] == BIG_SIZE  # assembled from the parts: MD5-checked
    ranges = _ranges(remote.proxy)
    assert all(last - first + 1 <= remote.chunk + 1 for first, last in ranges), ranges
    read = remote.proxy.bytes_read()
    preflight_bytes = 2 * EDGE_BYTES + 64 * 1024
    # the parts read the object exactly once (1.00x); the preflight adds its 2 MiB at most
    assert BIG_SIZE <= read <= BIG_SIZE * 1.001 + preflight_bytes, read / BIG_SIZE
    covered = sorted(r for r in ranges if r[1] - r[0] + 1 > EDGE_BYTES + 1)
    position = 0
    for first, last in covered:  # the part reads tile the object, no byte read twice
        assert first <= position + 1, (first, position)
        position = max(position, last)
    assert position >= BIG_SIZE - 1


def test_a_missing_object_is_unreadable_and_says_no_secret(remote: Remote, big: Path):
    uri = f"{'gs' if remote.kind == 'gcs' else 'azure'}://media/missing/none.mp4"
    with pytest.raises(SourceError) as info:
        stat_source(uri, transport_params=remote.transport_params())
    assert info.value.rule == "unreadable"
    assert "404" in str(info.value)
    assert "AccountKey" not in str(info.value) and "Eby8" not in str(info.value)
