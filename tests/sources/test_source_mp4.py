"""The MP4/MOV box walker: synthetic boxes for every branch, real files, and bytes read."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from sources_support import BIG_SIZE, Media

from prefect_firework.sandbox.files import FileServer
from prefect_firework.sources import ContainerError, probe_duration, read_duration


def box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(timescale: int, duration: int, *, version: int = 0) -> bytes:
    if version == 1:
        body = struct.pack(">B3xQQIQ", 1, 0, 0, timescale, duration)
    else:
        body = struct.pack(">B3xIIII", 0, 0, 0, timescale, duration)
    return box(b"mvhd", body + bytes(80))


def reader(data: bytes, log: list[tuple[int, int]] | None = None):  # type: ignore[no-untyped-def]
    def read_at(offset: int, length: int) -> bytes:
        if log is not None:
            log.append((offset, length))
        return data[offset : offset + length]

    return read_at


def duration_of(data: bytes) -> float:
    return read_duration(reader(data), len(data))


FTYP = box(b"ftyp", b"isom\0\0\2\0isomiso2avc1mp41")


def test_v0_and_v1() -> None:
    assert duration_of(FTYP + box(b"moov", mvhd(1000, 5000))) == 5.0
    assert duration_of(FTYP + box(b"moov", mvhd(90000, 90000 * 3600, version=1))) == 3600.0


def test_moov_at_end_after_large_boxes_is_found_with_header_reads_only() -> None:
    mdat_payload = bytes(50_000)
    data = (
        FTYP + box(b"free") + box(b"mdat", mdat_payload, large=True) + box(b"moov", mvhd(600, 1800))
    )
    log: list[tuple[int, int]] = []
    assert read_duration(reader(data, log), len(data)) == 3.0
    assert len(log) <= 6
    assert all(length <= 128 for _, length in log)


def test_size_zero_box_runs_to_the_end() -> None:
    data = FTYP + struct.pack(">I4s", 0, b"moov") + mvhd(10, 70)
    assert duration_of(data) == 7.0


def test_mvhd_not_first_child_and_other_children() -> None:
    moov = box(b"moov", box(b"udta", bytes(300)) + box(b"\xa9nam", b"x") + mvhd(1, 42))
    assert duration_of(FTYP + moov) == 42.0


def test_fragmented_mp4_uses_mehd() -> None:
    mvex = box(b"mvex", box(b"mehd", struct.pack(">B3xI", 0, 12_000)) + box(b"trex", bytes(24)))
    assert duration_of(FTYP + box(b"moov", mvhd(1000, 0) + mvex)) == 12.0
    mvex1 = box(b"mvex", box(b"mehd", struct.pack(">B3xQ", 1, 6_000)))
    assert duration_of(FTYP + box(b"moov", mvhd(1000, 0xFFFFFFFF) + mvex1)) == 6.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no 'moov'"),
        (FTYP + box(b"mdat", bytes(100)), "no 'moov'"),
        (b"\x00\x00\x00\x10\x01\x02\x03\x04" + bytes(100), "no valid box header"),
        (b"GIF89a" + bytes(100), "no valid box header"),
        (FTYP + struct.pack(">I4s", 10_000, b"mdat") + bytes(10), "runs past the end"),
        (FTYP + struct.pack(">I4s", 3, b"free") + bytes(10), "invalid size"),
        (FTYP + box(b"moov", box(b"trak", bytes(20))), "has no 'mvhd'"),
        (FTYP + box(b"moov", mvhd(0, 100)), "timescale is 0"),
        (FTYP + box(b"moov", mvhd(1000, 0)), "no duration"),
        (FTYP + box(b"moov", box(b"mvhd", bytes(6))), "too short"),
        (FTYP + box(b"moov", box(b"mvhd", b"\x02" + bytes(40))), "mvhd version 2"),
        (FTYP + box(b"moov", box(b"cmov", bytes(20))), "cmov"),
    ],
)
def test_garbled_containers(data: bytes, message: str) -> None:
    with pytest.raises(ContainerError, match=message):
        duration_of(data)


def test_box_count_is_bounded() -> None:
    data = box(b"free") * 10_001
    with pytest.raises(ContainerError, match="more than"):
        duration_of(data)


@pytest.mark.parametrize("name", ["ok", "faststart", "mov"])
def test_real_files(media: Media, name: str) -> None:
    path: Path = getattr(media, name)
    assert probe_duration(path, path.stat().st_size) == 5.0


def test_set_durations(media: Media) -> None:
    assert probe_duration(media.short, media.short.stat().st_size) == 2.0
    assert probe_duration(media.long, media.long.stat().st_size) == 3660.0


def test_big_file_over_http_reads_a_few_hundred_bytes(media: Media, http: FileServer) -> None:
    """moov sits after 120 MB: found with a handful of tiny bounded range requests."""
    assert probe_duration(http.url_for("big.mp4"), BIG_SIZE) == 5.0
    ranges = [r.range for r in http.requests]
    assert all(r is not None for r in ranges)
    spans = [tuple(map(int, r.removeprefix("bytes=").split("-"))) for r in ranges]  # type: ignore[union-attr]
    assert len(spans) <= 8
    assert sum(last - first + 1 for first, last in spans) <= 1024
    assert max(first for first, _ in spans) > 100_000_000  # moov was read where it is


def test_big_local_file_probe_reads_are_tiny(media: Media, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_firework.sources import mp4

    reads: list[tuple[int, int]] = []
    real = mp4.open_range

    def spy(source, offset, length, **kwargs):  # type: ignore[no-untyped-def]
        reads.append((offset, length))
        return real(source, offset, length, **kwargs)

    monkeypatch.setattr(mp4, "open_range", spy)
    assert probe_duration(media.big, BIG_SIZE) == 5.0
    assert len(reads) <= 8
    assert sum(n for _, n in reads) <= 1024
