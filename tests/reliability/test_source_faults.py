"""Source faults on every kind of source, through ``upload_videos``: local disk, HTTP (the
sandbox's file server), S3 (moto), GCS (fake-gcs-server) and Azure Blob (Azurite), each remote
one behind a proxy that can make the storage answer 503 or delete the object at a chosen moment.

Both faults strike once the upload is signed, before a byte of it is sent:

- ``vanish``: the source is deleted. The row fails with an error that names the source (and
  says no secret), nothing is created, and a multipart upload left open is named.
- ``503``: the storage answers its next two reads 503 (busy). Each reader retries such an
  answer itself (boto3's, google-cloud-storage's and the Azure SDK's retry policies; our HTTP
  reader's), so the row is created and the sandbox holds exactly that video.
(Local disk has no storage to answer 503: its cell is "vanish" only.)
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from components import (  # noqa: F401 (fixtures)
    AZURITE_KEY,
    StorageProxy,
    azurite,
    azurite_server,
    gcs,
    gcs_emulator,
    moto_s3,
    moto_s3_server,
)
from flow_results import results_of
from reliability_support import MIB, set_retry_delay

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client import FireworkClient
from prefect_firework.flows import upload_videos
from prefect_firework.sandbox.files import FileServer
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

KINDS = ("local", "http", "s3", "gcs", "azure")
THRESHOLD = 4 * MIB  # the multipart rows: 11 MiB in 2 parts


@dataclass
class Source:
    kind: str
    uri: str
    delete: Callable[[], None]
    proxy: StorageProxy | None
    transport_params: dict[str, Any] | None


@pytest.fixture
def http_storage(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    with FileServer(root) as server:
        port = int(server.url.rstrip("/").rsplit(":", 1)[1].split("/")[0])
        proxy = StorageProxy("127.0.0.1", port).start()
        try:
            yield root, proxy
        finally:
            proxy.stop()


def _source(kind: str, path: Path, request: pytest.FixtureRequest) -> Source:
    name = f"faults/{path.name}"
    if kind == "local":
        return Source(kind, str(path), lambda: os.remove(path), None, None)
    if kind == "http":
        root, proxy = request.getfixturevalue("http_storage")
        (root / path.name).write_bytes(path.read_bytes())
        return Source(
            kind, f"{proxy.url}/{path.name}", lambda: os.remove(root / path.name), proxy, None
        )
    if kind == "s3":
        s3 = request.getfixturevalue("moto_s3")
        uri = s3.put(name, path)
        return Source(kind, uri, lambda: s3.delete(name), s3.proxy, s3.transport_params)
    if kind == "gcs":
        g = request.getfixturevalue("gcs")
        return Source(kind, g.put(name, path), lambda: g.delete(name), g.proxy, None)
    a = request.getfixturevalue("azurite")
    uri = a.put(name, path)
    return Source(kind, uri, lambda: a.delete(name), a.proxy, {"client": a.client()})


def _once_signed(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run ``action`` right after the upload is signed (single POST or multipart initiate)."""
    fired: list[bool] = []
    for method in ("create_upload_signature", "create_multipart_upload"):
        original = getattr(FireworkClient, method)

        def signed(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            result = _original(self, *args, **kwargs)
            if not fired:
                fired.append(True)
                action()
            return result

        monkeypatch.setattr(FireworkClient, method, signed)


CELLS = [
    pytest.param(kind, fault, path, id=f"{fault}-{kind}-{path}")
    for kind in KINDS
    for fault in ("vanish", "503")
    for path in ("single", "multipart")
    if not (kind == "local" and fault == "503")
]


@pytest.mark.parametrize(("kind", "fault", "path"), CELLS)
def test_source_fault(kind, fault, path, sb, ledger, tmp_path, monkeypatch, request):
    set_retry_delay(monkeypatch, 0.0)
    size = 60_000 if path == "single" else 11 * MIB
    # bytes of its own per cell: the same bytes on S3 or GCS (same ETag) would resume the
    # multipart upload an earlier cell started, which the sandbox's reset has forgotten
    seed = zlib.crc32(f"{kind}/{fault}/{path}".encode()) % 10_000
    media = make_mp4(tmp_path / f"{kind}-{path}.mp4", 4, size=size, seed=seed)
    source = _source(kind, media, request)
    if fault == "vanish":
        _once_signed(monkeypatch, source.delete)
    else:
        assert source.proxy is not None
        _once_signed(monkeypatch, lambda: source.proxy.fail(503, times=2))
    credentials = FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )
    manifest = pd.DataFrame(
        [{"source": source.uri, "channel_id": sb.channel_id, "caption": f"{kind} {fault}"}]
    )

    frame = results_of(
        upload_videos,
        manifest,
        credentials=credentials,
        ledger=ledger,
        multipart_threshold=THRESHOLD,
        transport_params=source.transport_params,
    )

    row = frame.iloc[0].to_dict()
    assert row["strategy"] == path or row["status"] == "failed", row
    if fault == "503":
        assert row["status"] == "created", row["error"]
        assert len(sb.videos()) == 1
        assert source.proxy is not None
        busy = [s for s in source.proxy.requests() if s.injected]
        assert len(busy) == 2, "the storage really answered 503 twice"
        [obj] = sb.objects()
        assert obj["size"] == size
        return
    assert row["status"] == "failed", row
    assert sb.videos() == [], "a vanished source creates nothing"
    error = row["error"]
    assert media.name in error, error
    assert AZURITE_KEY not in error and "AccountKey" not in error
    if path == "multipart":
        assert "left open" in error, error
