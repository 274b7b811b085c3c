"""moto's S3, run as an HTTP server on loopback, and the few calls the sandbox makes to it.

Single uploads are stored in moto; objects completed from multipart parts stay in the part
files and are served beside moto's, so ``head``, ``list_objects``, ``reader``, ``md5`` and
``delete`` see one bucket. Tests may talk to moto itself at ``sb.moto_url`` (any credentials).
moto's own part minimum is lowered to one byte, process-wide, so no moto check stands in for
the sandbox's.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from typing import IO, Any

from prefect_firework.sandbox.s3._partstore import PartsObject

__all__ = ["MotoS3", "RangeReader"]

_PART_MIN_ENV = "S3_UPLOAD_PART_MIN_SIZE"
_BUFFER_ENV = "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"


def _prepare_moto() -> None:
    """Make moto accept parts of any size: the sandbox checks part sizes itself, from the sizes
    the front recorded, so the rule holds whatever moto would do."""
    os.environ.setdefault(_PART_MIN_ENV, "1")
    # moto keeps objects up to this size in memory and spills the rest to disk
    os.environ.setdefault(_BUFFER_ENV, str(1024 * 1024))
    import moto.s3.models as models

    # moto read the variable at import; if it was imported earlier in this process, lower it
    models.S3_UPLOAD_PART_MIN_SIZE = 1


def _quiet_moto_server(host: str) -> Any:
    """moto's ``ThreadedMotoServer`` on an ephemeral port, without a log line per request."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            if type != "info":
                super().log(type, message, *args)

    class QuietMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=QuietHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return QuietMotoServer(ip_address=host, port=0, verbose=False)


class MotoS3:
    """A ``ThreadedMotoServer`` plus one boto3 client for it."""

    def __init__(self, *, host: str, bucket: str, region: str) -> None:
        self.host = host
        self.bucket = bucket
        self.region = region
        self.url = ""
        self._server: Any = None
        self._client: Any = None
        self._md5_cache: dict[tuple[str, str], str] = {}
        #: ETags to report instead of moto's MD5 (buckets whose ETags are not MD5s)
        self._etags: dict[str, str] = {}
        self._parts_objects: dict[str, PartsObject] = {}
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        _prepare_moto()
        import boto3
        from botocore.config import Config

        self._server = _quiet_moto_server(self.host)
        self._server.start()
        host, port = self._server.get_host_and_port()
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.url = f"http://{shown}:{port}"
        self._client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                max_pool_connections=32,
            ),
        )
        self.ensure_bucket()

    def stop(self) -> None:
        client, server = self._client, self._server
        self._client = self._server = None
        if client is not None:
            client.close()
        if server is not None:
            server.stop()
            inner = getattr(server, "_server", None)
            if inner is not None:
                inner.server_close()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("moto is not running")
        return self._client

    # -- bucket and objects ------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put_object(
        self, key: str, body: IO[bytes], size: int, content_type: str, *, etag: str | None = None
    ) -> str:
        """Store ``size`` bytes read from ``body``; return the unquoted ETag.

        ``etag`` is reported instead of moto's (an MD5) from now on, as a bucket with SSE-KMS
        would; the MD5 of the bytes stays what ``md5`` returns.
        """
        body.seek(0)
        resp = self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentLength=size, ContentType=content_type
        )
        with self._lock:
            replaced = self._parts_objects.pop(key, None)
            if etag is None:
                self._etags.pop(key, None)
            else:
                self._etags[key] = etag
        if replaced is not None:
            replaced.discard()
        return etag or str(resp["ETag"]).strip('"')

    def put_parts(self, obj: PartsObject) -> None:
        """Make ``obj`` the object at ``obj.key``: no bytes move, the part files are its bytes."""
        with self._lock:
            replaced = self._parts_objects.get(obj.key)
            self._parts_objects[obj.key] = obj
        if replaced is not None and replaced is not obj:
            replaced.discard()

    def _parts_object(self, key: str) -> PartsObject | None:
        with self._lock:
            return self._parts_objects.get(key)

    def head(self, key: str) -> dict[str, Any] | None:
        """``ContentLength``, ``ETag`` (quoted), ``ContentType`` and ``LastModified``, or None."""
        from botocore.exceptions import ClientError

        obj = self._parts_object(key)
        if obj is not None:
            return {
                "ContentLength": obj.size,
                "ETag": f'"{obj.etag}"',
                "ContentType": obj.content_type,
                "LastModified": obj.last_modified,
            }
        try:
            head = dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError:
            return None
        with self._lock:
            etag = self._etags.get(key)
        if etag is not None:
            head["ETag"] = f'"{etag}"'
        return head

    def delete(self, key: str) -> None:
        with self._lock:
            obj = self._parts_objects.pop(key, None)
            self._etags.pop(key, None)
        if obj is not None:
            obj.discard()
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_objects(self) -> list[dict[str, Any]]:
        """Every object: ``Key``, ``Size``, ``ETag`` (as reported), ``LastModified`` and ``MD5``
        (of the bytes, when known without reading them; else None)."""
        out: dict[str, dict[str, Any]] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                moto_etag = str(item["ETag"]).strip('"')
                out[item["Key"]] = {
                    "Key": item["Key"],
                    "Size": int(item["Size"]),
                    "ETag": moto_etag,
                    "LastModified": item["LastModified"],
                    "MD5": None if "-" in moto_etag else moto_etag,
                }
        with self._lock:
            etags = dict(self._etags)
            parts_objects = list(self._parts_objects.values())
        for key, etag in etags.items():
            if key in out:
                out[key]["ETag"] = etag
        for obj in parts_objects:
            out[obj.key] = {
                "Key": obj.key,
                "Size": obj.size,
                "ETag": obj.etag,
                "LastModified": obj.last_modified,
                "MD5": obj.md5_if_known,
            }
        return sorted(out.values(), key=lambda item: item["Key"])

    def md5(self, key: str) -> str:
        """MD5 of an object's bytes (a multipart or SSE-KMS ETag is not one), computed once."""
        obj = self._parts_object(key)
        if obj is not None:
            return obj.md5()
        head = self.client.head_object(Bucket=self.bucket, Key=key)
        moto_etag = str(head["ETag"]).strip('"')
        if "-" not in moto_etag:
            return moto_etag  # moto's ETag of a single PUT is the MD5 of its bytes
        with self._lock:
            cached = self._md5_cache.get((key, moto_etag))
        if cached is not None:
            return cached
        digest = hashlib.md5()
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1024 * 1024), b""):
            digest.update(chunk)
        body.close()
        value = digest.hexdigest()
        with self._lock:
            self._md5_cache[(key, moto_etag)] = value
        return value

    def reader(self, key: str, size: int) -> io.RawIOBase:
        """A seekable file over the object: its part files, or ranged GETs to moto."""
        obj = self._parts_object(key)
        if obj is not None:
            return obj.open()
        return RangeReader(self.client, self.bucket, key, size)

    def clear(self) -> None:
        """Delete every object of the sandbox's bucket."""
        self.ensure_bucket()
        with self._lock:
            parts_objects = list(self._parts_objects.values())
            self._parts_objects.clear()
            self._etags.clear()
            self._md5_cache.clear()
        for obj in parts_objects:
            obj.discard()
        # a page is at most 1,000 keys, what one DeleteObjects takes: 20,000 imported videos
        # are 20 requests, not 20,000
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )


class RangeReader(io.RawIOBase):
    """A seekable read-only file over ranged GETs, so mutagen can find ``moov`` in a big
    object without the sandbox downloading it. Reads ahead a little to keep requests few."""

    _READ_AHEAD = 256 * 1024

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._pos = 0
        self._buf_start = 0
        self._buf = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._size + offset
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self._size - self._pos
        n = min(n, self._size - self._pos)
        if n <= 0:
            return b""
        start, end = self._pos, self._pos + n
        buf_end = self._buf_start + len(self._buf)
        if not (self._buf_start <= start and end <= buf_end):
            fetch_end = min(self._size, max(end, start + self._READ_AHEAD)) - 1
            resp = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{fetch_end}"
            )
            self._buf = resp["Body"].read()
            self._buf_start = start
        offset = start - self._buf_start
        data = self._buf[offset : offset + n]
        self._pos += len(data)
        return data
