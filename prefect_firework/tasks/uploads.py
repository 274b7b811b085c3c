"""Upload tasks: presigned POST for single files, multipart initiate / part / complete.

``upload_single`` is the flows' single-file step: signature and POST in one task run (see its
docstring); ``create_upload_signature`` and ``upload_to_s3`` are the same two operations as
separate tasks, for flows of your own.

The multipart steps are resumable. ``create_multipart_upload`` is cached (across flow runs)
for less than the presigned URLs' lifetime, keyed by the source's fingerprint; each
``upload_part`` is cached by (upload id, part number, fingerprint); ``complete`` by upload id.
A rerun within the window therefore uploads only the parts that are missing, and a changed
source, whose fingerprint differs, never reuses old parts.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_firework._redact import display_name
from prefect_firework.batch._parts import PartRange
from prefect_firework.blocks import FireworkCredentials, resolve_credentials
from prefect_firework.models import CompletedPart, MultipartUpload, UploadSignature
from prefect_firework.sources import SourceVersion
from prefect_firework.tasks._policy import (
    RETRY_DELAYS,
    RETRY_JITTER,
    ResumeKey,
    retry_condition,
    with_rate_limit_wait,
)

__all__ = [
    "RESUME_WINDOW",
    "complete_multipart_upload",
    "create_multipart_upload",
    "create_upload_signature",
    "upload_part",
    "upload_single",
    "upload_to_s3",
]

Source = str | os.PathLike[str]

#: how long an initiated multipart upload is reused: under the presigned URLs' 60-minute lifetime,
#: with room for the last parts to finish
RESUME_WINDOW = dt.timedelta(minutes=45)

_RETRYING: dict[str, Any] = {
    "retries": len(RETRY_DELAYS),
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_condition,
}


def _name(parameters: Mapping[str, Any]) -> str:
    return display_name(parameters.get("filename") or parameters.get("source") or "")


@task(
    name="create_upload_signature",
    cache_policy=NO_CACHE,
    persist_result=False,  # holds a presigned policy and signature
    task_run_name=lambda parameters: f"upload-signature-{_name(parameters)}",  # type: ignore[arg-type]
    **_RETRYING,
)
def create_upload_signature(
    filename: str,
    mime_type: str,
    channel_id: str,
    credentials: FireworkCredentials | str | None = None,
) -> UploadSignature:
    """Get presigned POST credentials for a single-request upload (files up to ~100 MB).

    Args:
        filename: The file's name, e.g. ``clip.mp4``.
        mime_type: ``video/mp4`` or ``video/quicktime`` (checked before the request).
        channel_id: The encoded id of the channel to upload to.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        The ``UploadSignature``: the object's S3 ``key``, the POST URL and its form fields;
        ``policy`` and ``signature`` are secret (the task never persists its result).
    """
    client = resolve_credentials(credentials).get_client()
    return with_rate_limit_wait(
        lambda: client.create_upload_signature(
            filename=filename, mime_type=mime_type, channel_id=channel_id
        )
    )


@task(
    name="upload_to_s3",
    cache_policy=NO_CACHE,
    task_run_name=lambda parameters: f"upload-to-s3-{_name(parameters)}",  # type: ignore[arg-type]
    **_RETRYING,
)
def upload_to_s3(
    signature: UploadSignature,
    source: Source,
    mime_type: str,
    size: int | None = None,
    transport_params: Mapping[str, Any] | None = None,
    credentials: FireworkCredentials | str | None = None,
    expected: SourceVersion | None = None,
) -> str:
    """POST the whole file to S3 with the signature's form fields (streamed); return the key.

    Args:
        signature: The presigned POST from ``create_upload_signature``.
        source: The file: a local path or any URI smart-open reads.
        mime_type: ``video/mp4`` or ``video/quicktime`` (the signature's).
        size: The file's size in bytes (looked up when None).
        transport_params: smart-open transport parameters for reading ``source``.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None.
        expected: The version preflight saw (``SourceInfo.version``): a file that changed
            since is refused with ``SourceChangedError`` before S3 stores it.

    Returns:
        The signature's S3 ``key``, for ``create_video(s3_key=...)``.
    """
    client = resolve_credentials(credentials).get_client()
    client.post_to_s3(
        signature,
        source,
        mime_type=mime_type,
        size=size,
        transport_params=dict(transport_params) if transport_params else None,
        expect=expected,
    )
    return signature.key


@task(
    name="upload_single",
    cache_policy=NO_CACHE,
    persist_result=False,
    task_run_name=lambda parameters: f"upload-single-{_name(parameters)}",  # type: ignore[arg-type]
    **_RETRYING,
)
def upload_single(
    source: Source,
    filename: str,
    mime_type: str,
    channel_id: str,
    size: int | None = None,
    transport_params: Mapping[str, Any] | None = None,
    credentials: FireworkCredentials | str | None = None,
    expected: SourceVersion | None = None,
) -> str:
    """Get an upload signature and POST the file with it; return the S3 key.

    Two operations in one task run, on purpose: the signature (a presigned policy) never
    leaves the run, in no future and no state; a retry signs afresh instead of reusing a
    policy that may have expired; and a small file costs one task run, not two (Prefect's
    engine spends ~4-8 ms of CPU per task run, which dominated batches of small files:
    bench/RESULTS.md, section 4).

    Args:
        source: The file: a local path or any URI smart-open reads.
        filename: The file's name (``SourceInfo.filename``).
        mime_type: ``video/mp4`` or ``video/quicktime`` (checked before the request).
        channel_id: The encoded id of the channel to upload to.
        size: The file's size in bytes (looked up when None).
        transport_params: smart-open transport parameters for reading ``source``.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        expected: The version preflight saw (``SourceInfo.version``); None skips the check.

    Returns:
        The uploaded object's S3 key, for ``create_video(s3_key=...)``.

    Raises:
        SourceChangedError: The file changed since ``expected``; S3 stored nothing.
    """
    # the two tasks' functions, called in this run (not as nested task runs)
    signature = create_upload_signature.fn(filename, mime_type, channel_id, credentials)
    return upload_to_s3.fn(
        signature, source, mime_type, size, transport_params, credentials, expected
    )


@task(
    name="create_multipart_upload",
    cache_policy=ResumeKey(),
    cache_expiration=RESUME_WINDOW,
    persist_result=True,
    task_run_name=lambda parameters: (  # type: ignore[arg-type]
        f"multipart-initiate-{_name(parameters)}-{parameters.get('parts_count')}-parts"
    ),
    **_RETRYING,
)
def create_multipart_upload(
    filename: str,
    mime_type: str,
    channel_id: str,
    parts_count: int,
    fingerprint: str,
    credentials: FireworkCredentials | str | None = None,
    owner: str | None = None,
) -> MultipartUpload:
    """Initiate a multipart upload; cached per source fingerprint (and owner) for resume.

    ``fingerprint`` and ``owner`` are not sent to the API: they key the cache, so that only an
    unchanged source resumes this upload, and (the batch flows pass the row's key as
    ``owner``) two rows of the same file never share one upload, and so never one S3 key.
    Pass ``refresh_cache=True`` through ``with_options`` to force a new upload (the flows do
    after a part URL expired, or once the cached upload became a video).

    Args:
        filename: The file's name (``SourceInfo.filename``).
        mime_type: ``video/mp4`` or ``video/quicktime`` (checked before the request).
        channel_id: The encoded id of the channel to upload to.
        parts_count: How many parts the file is split into (1 to 100, from ``plan_parts``).
        fingerprint: The source's ``SourceInfo.fingerprint``; keys the cache, not sent.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        owner: Whose upload this is, e.g. a batch row's key; keys the cache, not sent. None:
            calls with the same source and arguments share the upload.

    Returns:
        The ``MultipartUpload``: the S3 ``key``, the ``upload_id`` and one presigned PUT URL
        per part (secret), sorted by part number.
    """
    client = resolve_credentials(credentials).get_client()
    return with_rate_limit_wait(
        lambda: client.create_multipart_upload(
            filename=filename, mime_type=mime_type, channel_id=channel_id, parts_count=parts_count
        )
    )


@task(
    name="upload_part",
    cache_policy=ResumeKey(
        exclude=[
            "credentials",
            "put_url",
            "transport_params",
            "parts_total",
            "verify_md5",
            "expected",
        ]
    ),
    cache_expiration=RESUME_WINDOW,
    persist_result=True,
    task_run_name=lambda parameters: (  # type: ignore[arg-type]
        f"upload-part-{parameters['part'].number}/{parameters.get('parts_total') or '?'}"
    ),
    **_RETRYING,
)
def upload_part(
    put_url: Any,
    source: Source,
    part: PartRange,
    upload_id: str,
    fingerprint: str,
    parts_total: int | None = None,
    verify_md5: bool = True,
    transport_params: Mapping[str, Any] | None = None,
    credentials: FireworkCredentials | str | None = None,
    expected: SourceVersion | None = None,
) -> CompletedPart:
    """Stream one byte range of ``source`` to its presigned URL; return the part's ETag.

    Cached by (upload id, part, fingerprint): a rerun skips parts that already landed. The URL
    is excluded from the key; it is a secret and is implied by the upload id. With
    ``expected``, a source that changed since preflight is refused (``SourceChangedError``)
    and the part is not stored, so an upload never mixes two versions' bytes.

    Args:
        put_url: The part's presigned PUT URL from ``MultipartUpload.parts`` (secret).
        source: The file: a local path or any URI smart-open reads.
        part: The part's 1-based ``number`` and the byte range of ``source`` it covers
            (``offset``, ``length``, in bytes), from ``plan_parts``.
        upload_id: The multipart upload's ``upload_id``; keys the cache.
        fingerprint: The source's ``SourceInfo.fingerprint``; keys the cache, not sent.
        parts_total: The upload's number of parts, for the run name only (``upload-part-3/12``).
        verify_md5: Check the part's integrity: ``Content-MD5`` for a local file, otherwise
            the ETag against the MD5 of the bytes sent.
        transport_params: smart-open transport parameters for reading ``source``.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.
        expected: The version preflight saw (``SourceInfo.version``); None skips the check.

    Returns:
        The ``CompletedPart``: the part number and S3's ETag as sent (quoted).

    Raises:
        SourceChangedError: ``source`` is no longer the ``expected`` version.
        S3UploadError: S3 refused the part (a 403: the URL expired or is invalid, so a new
            upload is needed) or saw other bytes than were sent, twice (``BadDigest``,
            ``ETagMismatch``).
    """
    client = resolve_credentials(credentials).get_client()
    etag = client.upload_part(
        put_url,
        source,
        part.offset,
        part.length,
        verify_md5=verify_md5,
        transport_params=dict(transport_params) if transport_params else None,
        expect=expected,
    )
    return CompletedPart(part=part.number, etag=etag)


@task(
    name="complete_multipart_upload",
    cache_policy=ResumeKey(exclude=["credentials", "parts"]),
    cache_expiration=RESUME_WINDOW,
    persist_result=True,
    task_run_name=lambda parameters: f"multipart-complete-{parameters['upload_id'][:12]}",  # type: ignore[arg-type]
    **_RETRYING,
)
def complete_multipart_upload(
    key: str,
    upload_id: str,
    parts: Sequence[CompletedPart],
    credentials: FireworkCredentials | str | None = None,
) -> str:
    """Assemble the parts, sent sorted by part number as the API requires; return the S3 key.

    Cached by upload id, so a rerun after a crash that follows a successful complete goes
    straight on to creating the video instead of completing a finished upload again.

    Args:
        key: The upload's S3 key (``MultipartUpload.key``).
        upload_id: The multipart upload's ``upload_id``; keys the cache.
        parts: One ``CompletedPart`` (number and ETag) per part, in any order, no number
            twice.
        credentials: A ``FireworkCredentials`` block, a saved block's name, or None for the
            ``FIREWORK_*`` settings.

    Returns:
        ``key``, for ``create_video(s3_key=...)``.
    """
    client = resolve_credentials(credentials).get_client()
    ordered = sorted(parts, key=lambda p: p.part)
    with_rate_limit_wait(
        lambda: client.complete_multipart_upload(key=key, upload_id=upload_id, parts=ordered)
    )
    return key
