"""Source classification, file names and redaction of secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prefect_firework.sources import parse_source, redact


@pytest.mark.parametrize(
    ("source", "kind", "filename"),
    [
        ("s3://bucket/dir/video.mp4", "s3", "video.mp4"),
        ("s3a://bucket/video.mov", "s3", "video.mov"),
        ("S3://bucket/a%20b.mp4", "s3", "a%20b.mp4"),  # S3 keys are literal
        ("https://cdn.example.com/v/a%20b.mp4?X-Amz-Signature=abc", "http", "a b.mp4"),
        ("http://127.0.0.1:8000/clip.MOV#t=3", "http", "clip.MOV"),
        ("https://example.com/", "http", ""),
        ("https://example.com", "http", ""),
        ("gs://bucket/x/y.mp4", "gcs", "y.mp4"),
        ("gcs://bucket/y.mp4", "gcs", "y.mp4"),
        ("azure://container/blob.mp4", "azure", "blob.mp4"),
        ("hdfs://host/v/blob.mp4", "other", "blob.mp4"),
    ],
)
def test_remote_kinds(source: str, kind: str, filename: str) -> None:
    parsed = parse_source(source)
    assert parsed.kind == kind
    assert parsed.filename == filename
    assert parsed.uri == source


def test_local_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = parse_source("videos/a.mp4")
    assert rel.kind == "local"
    assert rel.local_path == str(tmp_path / "videos" / "a.mp4")
    assert rel.filename == "a.mp4"
    assert parse_source(tmp_path / "b.MOV").extension == ".mov"
    uri = parse_source(f"file://{tmp_path}/a%20b.mp4")
    assert uri.kind == "local"
    assert uri.local_path == os.path.join(str(tmp_path), "a b.mp4")
    assert uri.filename == "a b.mp4"
    assert parse_source("file://localhost/x/y.mp4").local_path == "/x/y.mp4"
    assert parse_source("~/x.mp4").local_path == os.path.expanduser("~/x.mp4")


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("s3://AKIAXXX:se/cr+et@bucket/key.mp4", "s3://bucket/key.mp4"),
        ("s3://bucket/key.mp4?versionId=3", "s3://bucket/key.mp4"),
        ("https://user:pw@host.example/a.mp4?sig=1&exp=2", "https://host.example/a.mp4"),
        ("https://host.example/a.mp4#frag", "https://host.example/a.mp4"),
        ("https://host.example/p@q.mp4", "https://host.example/p@q.mp4"),
        ("/local/odd?name.mp4", "/local/odd?name.mp4"),
    ],
)
def test_redact(source: str, shown: str) -> None:
    assert redact(source) == shown
    if "://" in source:
        assert parse_source(source).display == shown
        assert "sig" not in repr(parse_source(source))
        assert "se/cr" not in repr(parse_source(source))


def test_type_errors() -> None:
    with pytest.raises(TypeError):
        parse_source(b"/x.mp4")  # type: ignore[arg-type]
