"""Upload signatures and multipart uploads: what the API issues and checks.

A POST policy is a base64 JSON document of conditions signed with SigV4 using the sandbox's
own secret; part URLs are SigV4 presigned PUT URLs. The S3 front verifies both; completion is
checked here against the parts the front recorded, whatever moto would accept.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

from prefect_firework.sandbox.api._auth import Principal
from prefect_firework.sandbox.api._errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InternalServerError,
    PayloadTooLarge,
)
from prefect_firework.sandbox.config import human_size
from prefect_firework.sandbox.engine._core import Core
from prefect_firework.sandbox.engine._ids import new_id, new_secret
from prefect_firework.sandbox.engine._state import IssuedPost, MultipartUpload, PartRecord
from prefect_firework.sandbox.s3._partstore import PartsObject, multipart_etag
from prefect_firework.sandbox.s3._sigv4 import ALGORITHM, amz_date, presigned_signature, uri_encode

__all__ = ["MIME_TYPES", "complete_multipart", "initiate_multipart", "upload_signature"]

MIME_TYPES = ("video/mp4", "video/quicktime")
MULTIPART_FAILED = "Multipart upload failed"


def safe_filename(name: str) -> str:
    """The last path segment of ``name`` with anything unusual replaced, for object keys."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "video"
    return cleaned[-120:]


def _expiration(ts: float) -> str:
    """A policy expiration as AWS writes it: ``2025-01-29T13:00:00.000Z``."""
    millis = int((ts % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{millis:03d}Z"


def _required_string(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{field} is required")
    return value


def _check_fields(data: dict[str, Any]) -> tuple[str, str, str]:
    """``filename``, ``mime_type`` and ``channel_id`` of a signature request (400s)."""
    filename = _required_string(data, "filename")
    mime_type = data.get("mime_type")
    if mime_type not in MIME_TYPES:
        raise BadRequest("Invalid mime_type - only video/mp4 and video/quicktime allowed")
    channel_id = _required_string(data, "channel_id")
    return filename, mime_type, channel_id


def _issue_key(core: Core, principal: Principal, channel_id: str, filename: str) -> tuple[str, str]:
    """Check the channel (404/403) and issue a fresh object key for it."""
    channel = principal.channel(core.state, channel_id)
    key = f"uploads/{channel.id}/{new_id(16)}/{safe_filename(filename)}"
    with core.state.locked() as state:
        state.key_owner[key] = principal.business_id
    return channel.id, key


def upload_signature(core: Core, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v1/upload_signatures``."""
    principal.require("videos:write")
    filename, mime_type, channel_id = _check_fields(data)
    channel_id, key = _issue_key(core, principal, channel_id, filename)
    cfg = core.config
    now = core.state.now()
    stamp = amz_date(now)
    credential = core.identity.credential(stamp[:8])
    document = {
        "expiration": _expiration(now + cfg.signature_lifetime),
        "conditions": [
            {"bucket": cfg.bucket},
            {"key": key},
            {"acl": "private"},
            {"Content-Type": mime_type},
            ["content-length-range", cfg.min_file_size, cfg.max_file_size],
            {"x-amz-algorithm": ALGORITHM},
            {"x-amz-credential": credential},
            {"x-amz-date": stamp},
        ],
    }
    policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
    signature = core.identity.sign_policy(policy, stamp[:8])
    with core.state.locked() as state:
        state.posts[policy] = IssuedPost(
            key=key,
            policy=policy,
            signature=signature,
            business_id=principal.business_id,
            channel_id=channel_id,
            mime_type=mime_type,
            expires_at=now + cfg.signature_lifetime,
        )
    return {
        "key": key,
        "post_url": f"{core.s3_url}/{cfg.bucket}",
        "policy": policy,
        "signature": signature,
        "date": stamp,
        "credential": credential,
        "algorithm": ALGORITHM,
        "acl": "private",
    }


def presign_part(core: Core, key: str, upload_id: str, part: int, now: float) -> str:
    """A SigV4 presigned PUT URL for one part, valid for the signature lifetime."""
    stamp = amz_date(now)
    params = {
        "partNumber": str(part),
        "uploadId": upload_id,
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": core.identity.credential(stamp[:8]),
        "X-Amz-Date": stamp,
        "X-Amz-Expires": str(core.config.signature_lifetime),
        "X-Amz-SignedHeaders": "host",
    }
    raw_path = f"/{uri_encode(core.config.bucket)}/{uri_encode(key, keep_slash=True)}"
    signature = presigned_signature(
        core.identity,
        method="PUT",
        host=core.s3_host,
        raw_path=raw_path,
        params=params,
        stamp=stamp,
    )
    query = "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in params.items())
    return f"{core.s3_url}{raw_path}?{query}&X-Amz-Signature={signature}"


def initiate_multipart(core: Core, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/v1/upload_multipart/signatures``."""
    principal.require("videos:write")
    cfg = core.config
    filename, mime_type, channel_id = _check_fields(data)
    parts_count = data.get("parts_count")
    if (
        isinstance(parts_count, bool)
        or not isinstance(parts_count, int)
        or not 1 <= parts_count <= cfg.max_parts
    ):
        raise BadRequest(f"Invalid parts_count - must be between 1 and {cfg.max_parts}")
    channel_id, key = _issue_key(core, principal, channel_id, filename)
    upload_id = new_secret(48)  # S3 upload ids are long opaque URL-safe strings
    core.parts.create(upload_id)
    now = core.state.now()
    parts = [
        {
            "part": n,
            "signature": {"put_url": presign_part(core, key, upload_id, n, now), "key": key},
        }
        for n in range(1, parts_count + 1)
    ]
    with core.state.locked() as state:
        state.uploads[upload_id] = MultipartUpload(
            upload_id=upload_id,
            key=key,
            business_id=principal.business_id,
            channel_id=channel_id,
            mime_type=mime_type,
            parts_count=parts_count,
            created_at=now,
            expires_at=now + cfg.signature_lifetime,
        )
    return {"key": key, "upload_id": upload_id, "parts": parts}


def _completion_parts(
    data: dict[str, Any], max_parts: int
) -> tuple[str, str, list[tuple[int, str]]]:
    """The completion request's own rules, each a 400."""
    key = data.get("key")
    upload_id = data.get("upload_id")
    parts = data.get("parts")
    if not isinstance(key, str) or not key:
        raise BadRequest("key is required")
    if not isinstance(upload_id, str) or not upload_id:
        raise BadRequest("upload_id is required")
    if not isinstance(parts, list):
        raise BadRequest("parts is required and must be an array")
    if not parts:
        raise BadRequest("parts must not be empty")
    if len(parts) > max_parts:
        raise BadRequest(f"parts must contain at most {max_parts} elements")
    out: list[tuple[int, str]] = []
    for item in parts:
        if not isinstance(item, dict):
            raise BadRequest("each element of parts must be an object with part and etag")
        number = item.get("part")
        etag = item.get("etag")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= max_parts:
            raise BadRequest(f"Invalid part number: must be between 1 and {max_parts}")
        if not isinstance(etag, str) or not etag.strip().strip('"'):
            raise BadRequest("etag must be a non-empty string")
        out.append((number, etag.strip().strip('"')))
    numbers = [n for n, _ in out]
    if len(set(numbers)) != len(numbers):
        raise BadRequest("Duplicate part numbers")
    return key, upload_id, out


def complete_multipart(core: Core, principal: Principal, data: dict[str, Any]) -> None:
    """``POST /api/v1/upload_multipart/complete`` ; returns for 204.

    Stricter than AWS in one way, on purpose: the list must name every part of the initiate
    response, in order (a client that forgets a part would otherwise store a truncated video).
    """
    principal.require("videos:write")
    cfg = core.config
    key, upload_id, parts = _completion_parts(data, cfg.max_parts)
    with core.state.locked() as state:
        upload = state.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise BadRequest(MULTIPART_FAILED)
        if upload.business_id != principal.business_id:
            raise Forbidden("Insufficient permissions")
        if upload.status != "open":
            raise BadRequest(MULTIPART_FAILED)
        numbers = [n for n, _ in parts]
        if numbers != list(range(1, upload.parts_count + 1)):
            raise BadRequest(MULTIPART_FAILED)  # out of order, missing or extra parts
        records = []
        for number, etag in parts:
            record = upload.parts.get(number)
            if record is None or record.etag != etag:
                raise BadRequest(MULTIPART_FAILED)  # part never uploaded, or wrong ETag
            records.append(record)
        if any(r.size < cfg.min_part_size for r in records[:-1]):
            raise BadRequest(MULTIPART_FAILED)  # EntityTooSmall
        upload.status = "completing"
    size = sum(r.size for r in records)
    problem: ApiError | None = None
    if size < cfg.min_file_size:
        problem = BadRequest(f"File too small (min {human_size(cfg.min_file_size)})")
    elif size > cfg.max_file_size:
        problem = PayloadTooLarge(f"File too large (max {human_size(cfg.max_file_size)})")
    if problem is None:
        try:
            _store(core, upload, records)
        except Exception as exc:
            with core.state.locked():
                upload.status = "open"
            raise InternalServerError("Unexpected server error during upload completion") from exc
    # the assembled object never stays in S3 when its size is out of bounds
    with core.state.locked():
        upload.status = "aborted" if problem else "completed"
        upload.note = problem.message if problem else None
    if problem is not None:
        core.parts.discard(upload.upload_id)
        raise problem


def _store(core: Core, upload: MultipartUpload, records: list[PartRecord]) -> None:
    """Make the parts, in order, the object at the upload's key: O(parts), as on S3.

    No byte is read or copied: the part files become the object's bytes (``PartsObject``),
    checked here by size; their MD5 is computed when something first asks for it.
    """
    obj = PartsObject(
        key=upload.key,
        folder=core.parts.folder(upload.upload_id),
        files=[core.parts.part_path(upload.upload_id, r.part) for r in records],
        sizes=[r.size for r in records],
        etag=multipart_etag([r.etag for r in records]),
        content_type=upload.mime_type,
        last_modified=datetime.fromtimestamp(core.state.now(), tz=timezone.utc),
    )
    obj.check_files()
    core.s3.put_parts(obj)
