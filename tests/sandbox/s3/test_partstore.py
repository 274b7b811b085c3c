"""The part files that become an object at complete: reads, seeks and the lazy MD5."""

from __future__ import annotations

import hashlib
import io
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from prefect_firework.sandbox.s3._partstore import PartsObject, PartsReader, multipart_etag


def _parts(tmp_path: Path, sizes: list[int], seed: int = 0) -> tuple[list[Path], bytes]:
    rng = random.Random(seed)
    files, whole = [], b""
    for n, size in enumerate(sizes, start=1):
        data = rng.randbytes(size)
        path = tmp_path / f"part-{n}"
        path.write_bytes(data)
        files.append(path)
        whole += data
    return files, whole


def _object(tmp_path: Path, files: list[Path], sizes: list[int]) -> PartsObject:
    return PartsObject(
        key="uploads/x.mp4",
        folder=tmp_path,
        files=files,
        sizes=sizes,
        etag=multipart_etag(["0" * 32] * len(files)),
        content_type="video/mp4",
        last_modified=datetime.now(timezone.utc),
    )


@pytest.mark.parametrize(
    "sizes", [[7], [5, 3], [5, 0, 3], [1, 1, 1, 1], [4096, 4096, 10], [3, 9, 0]]
)
def test_reader_is_one_file_across_part_boundaries(tmp_path: Path, sizes: list[int]) -> None:
    files, whole = _parts(tmp_path, sizes)
    rng = random.Random(1)
    with PartsReader(files, sizes) as reader:
        assert reader.read() == whole
        for _ in range(300):
            start = rng.randrange(0, len(whole) + 3)
            length = rng.randrange(0, len(whole) + 3)
            reader.seek(start)
            got = reader.read(length)
            assert got == whole[start : start + length]
            assert reader.tell() == start + len(got)
        reader.seek(-2, io.SEEK_END)
        assert reader.read(10) == whole[-2:]
        reader.seek(1)
        reader.seek(2, io.SEEK_CUR)
        assert reader.read(2) == whole[3:5]


def test_md5_is_computed_on_first_request_and_kept(tmp_path: Path) -> None:
    sizes = [4096, 4096, 100]
    files, whole = _parts(tmp_path, sizes)
    obj = _object(tmp_path, files, sizes)
    obj.check_files()
    assert obj.md5_if_known is None
    assert obj.md5() == hashlib.md5(whole).hexdigest()
    assert obj.md5_if_known == hashlib.md5(whole).hexdigest()
    assert obj.size == len(whole)


def test_a_part_file_of_another_size_is_caught(tmp_path: Path) -> None:
    sizes = [10, 10]
    files, _ = _parts(tmp_path, sizes)
    files[1].write_bytes(b"short")
    with pytest.raises(RuntimeError, match="holds 5 bytes, 10 were accepted"):
        _object(tmp_path, files, sizes).check_files()


def test_multipart_etag_is_md5_of_the_binary_part_etags() -> None:
    a, b = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()
    expected = hashlib.md5(bytes.fromhex(a) + bytes.fromhex(b)).hexdigest() + "-2"
    assert multipart_etag([a, b]) == expected
