"""stat_source: local os.stat, S3 HeadObject, HTTP HEAD with its fallbacks."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from sources_support import S3, GetObjectLog, Media

from prefect_firework.sandbox.files import FileServer
from prefect_firework.sources import SourceError, stat_source


def test_local(media: Media) -> None:
    st = stat_source(media.ok)
    assert st.size == 100_000
    assert st.etag is None
    assert st.mtime == os.stat(media.ok).st_mtime
    assert stat_source(f"file://{media.ok}").size == 100_000


def test_local_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file") as info:
        stat_source(tmp_path / "missing.mp4")
    assert info.value.rule == "unreadable"
    with pytest.raises(SourceError, match="not a regular file"):
        stat_source(tmp_path)


def test_http_head(media: Media, http: FileServer) -> None:
    st = stat_source(http.url_for("ok.mp4"))
    assert st.size == 100_000
    assert st.etag and '"' not in st.etag
    assert st.mtime == pytest.approx(int(os.stat(media.ok).st_mtime))
    assert [r.method for r in http.requests] == ["HEAD"]


def test_http_head_without_content_length_falls_back_to_range(http: FileServer) -> None:
    http.set_behavior("ok.mp4", content_length=False)
    assert stat_source(http.url_for("ok.mp4")).size == 100_000
    assert [(r.method, r.range) for r in http.requests] == [("HEAD", None), ("GET", "bytes=0-0")]


def test_http_empty_file(http: FileServer) -> None:
    http.set_behavior("empty.mp4", content_length=False)
    assert stat_source(http.url_for("empty.mp4")).size == 0


@pytest.mark.parametrize("status", [404, 403, 500])
def test_http_errors(http: FileServer, status: int) -> None:
    http.set_behavior("ok.mp4", status=status)
    with pytest.raises(SourceError) as info:
        stat_source(http.url_for("ok.mp4") + "?sig=topsecret")
    assert info.value.rule == "unreadable"
    assert str(status) in str(info.value)
    assert "topsecret" not in str(info.value)


def test_http_presigned_get_refusing_head() -> None:
    """Presigned GET URLs answer 403 to HEAD; the size comes from a 1-byte range GET."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(403)
        assert request.headers["range"] == "bytes=0-0"
        headers = {"Content-Range": "bytes 0-0/123456", "ETag": '"abc"'}
        return httpx.Response(206, stream=httpx.ByteStream(b"\0"), headers=headers)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    st = stat_source(
        "https://b.s3.example.com/v.mp4?X-Amz-Signature=s", transport_params={"client": client}
    )
    assert (st.size, st.etag) == (123456, "abc")
    assert "X-Amz" not in repr(st)


def test_http_no_size_at_all() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b""), headers={})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(SourceError, match="reports no size"):
        stat_source("https://x.example/v.mp4", transport_params={"client": client})


def test_s3(s3: S3, media: Media, s3_log: GetObjectLog) -> None:
    uri = s3.put("stat/ok.mp4", media.ok)
    st = stat_source(uri, transport_params=s3.transport_params)
    assert st.size == 100_000
    assert st.etag and '"' not in st.etag
    assert st.mtime is not None
    assert s3_log.heads == 1 and s3_log.ranges == []


def test_s3_missing(s3: S3) -> None:
    with pytest.raises(SourceError) as info:
        stat_source("s3://media/none.mp4", transport_params=s3.transport_params)
    assert info.value.rule == "unreadable"
    assert "404" in str(info.value)


def test_s3_credentials_in_uri_are_used_and_hidden(s3: S3, media: Media) -> None:
    s3.put("stat/creds.mp4", media.ok)
    params = {
        "client_kwargs": {"S3.Client": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"}}
    }
    st = stat_source("s3://AKIAFAKE:sec/ret@media/stat/creds.mp4", transport_params=params)
    assert st.size == 100_000
    with pytest.raises(SourceError) as info:
        stat_source("s3://AKIAFAKE:sec/ret@media/stat/none.mp4", transport_params=params)
    assert "sec/ret" not in str(info.value)
    assert "AKIAFAKE" not in str(info.value)


def test_other_scheme_via_smart_open(media: Media, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schemes without a dedicated reader go through smart_open.open + seek."""
    import smart_open

    opened: list[str] = []

    def fake_open(uri: str, mode: str, **kwargs: object):  # type: ignore[no-untyped-def]
        opened.append(uri)
        assert uri.startswith("hdfs://")
        return open(media.ok, mode)

    monkeypatch.setattr(smart_open, "open", fake_open)
    assert stat_source("hdfs://bucket/ok.mp4").size == 100_000
    from prefect_firework.sources import open_range

    with open_range("hdfs://bucket/ok.mp4", 10, 20) as fh:
        assert fh.read() == media.ok.read_bytes()[10:30]
    assert opened == ["hdfs://bucket/ok.mp4", "hdfs://bucket/ok.mp4"]

    def failing_open(uri: str, mode: str, **kwargs: object):  # type: ignore[no-untyped-def]
        raise FileNotFoundError(f"{uri} not found")

    monkeypatch.setattr(smart_open, "open", failing_open)
    with pytest.raises(SourceError) as info:
        stat_source("hdfs://bucket/ok.mp4?token=zzz")
    assert info.value.rule == "unreadable"
    assert "zzz" not in str(info.value)


@pytest.mark.parametrize("uri", ["s3://media", "s3://media/", "s3://K:se/cret@media"])
def test_s3_needs_a_key(s3: S3, uri: str) -> None:
    with pytest.raises(SourceError, match="needs s3://bucket/key") as info:
        stat_source(uri, transport_params=s3.transport_params)
    assert "cret" not in str(info.value)
