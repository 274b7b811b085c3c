"""The steps that move one source's bytes to S3, as a pipeline the driver runs.

Shared by ``upload_video`` (one source) and ``upload_videos`` (a manifest), so both upload,
resume and restart exactly the same way.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from prefect_firework.blocks import FireworkCredentials
from prefect_firework.client.errors import S3UploadError
from prefect_firework.flows._driver import Call, Gather
from prefect_firework.limits import DEFAULT_LIMITS, MediaLimits
from prefect_firework.parts import plan_parts
from prefect_firework.sources import SourceInfo
from prefect_firework.tasks import (
    complete_multipart_upload,
    create_multipart_upload,
    upload_part,
    upload_single,
)

__all__ = ["MultipartUploadFailed", "Strategy", "Uploaded", "choose_strategy", "upload_steps"]

Strategy = Literal["auto", "single", "multipart"]


class MultipartUploadFailed(RuntimeError):
    """Parts could not all be uploaded. Names the upload left open, so no orphan goes
    unreported (the API has no abort call; an S3 lifecycle rule cleans such uploads up)."""

    def __init__(self, message: str, key: str, upload_id: str) -> None:
        super().__init__(f"{message} (multipart upload {upload_id} for key {key} left open)")
        self.message = message
        self.key = key
        self.upload_id = upload_id

    def __reduce__(self):  # picklable: Prefect ships exceptions between processes
        return (type(self), (self.message, self.key, self.upload_id))


@dataclass(frozen=True)
class Uploaded:
    """Where the bytes landed and how they got there."""

    s3_key: str
    strategy: str
    parts: int
    upload_id: str | None = None
    #: multipart uploads given up on the way (see ``note``)
    abandoned: tuple[str, ...] = ()

    @property
    def note(self) -> str | None:
        """Names the uploads abandoned on the way, so none is left open unreported."""
        return _abandoned_note(self.abandoned) if self.abandoned else None


def _abandoned_note(upload_ids: Sequence[str]) -> str:
    return (
        f"multipart upload(s) {', '.join(upload_ids)} abandoned (part URLs expired, or the "
        "completion was refused after an earlier answer was lost) and left open: the API has "
        "no abort call; the bucket's lifecycle rules remove them"
    )


def _also(upload_ids: Sequence[str]) -> str:
    return f"; {_abandoned_note(upload_ids)}" if upload_ids else ""


def choose_strategy(size: int, strategy: Strategy, limits: MediaLimits = DEFAULT_LIMITS) -> str:
    """``single`` at or below the spec's ~100 MB guidance, ``multipart`` above; or as asked."""
    if strategy not in ("auto", "single", "multipart"):
        raise ValueError(f"strategy must be auto, single or multipart, not {strategy!r}")
    if strategy != "auto":
        return strategy
    return "single" if size <= limits.single_upload_max else "multipart"


def upload_steps(
    source: str,
    info: SourceInfo,
    *,
    channel_id: str,
    credentials: FireworkCredentials | str | None,
    strategy: Strategy = "auto",
    part_size: int | None = None,
    max_concurrency: int = 8,
    transport_params: Mapping[str, Any] | None = None,
    verify_md5: bool = True,
    multipart_threshold: int | None = None,
) -> Generator[Any, Any, Uploaded]:
    """Upload ``source`` by presigned POST or multipart; return where it landed.

    ``multipart_threshold`` (bytes) moves the single/multipart line from the spec's ~100 MB.
    """
    limits = DEFAULT_LIMITS
    if multipart_threshold is not None:
        limits = replace(limits, single_upload_max=multipart_threshold)
    mode = choose_strategy(info.size, strategy, limits)
    if mode == "single":
        key = yield Call(
            upload_single,
            {
                "source": source,
                "filename": info.filename,
                "mime_type": info.mime_type,
                "channel_id": channel_id,
                "size": info.size,
                "transport_params": transport_params,
                "credentials": credentials,
            },
        )
        return Uploaded(key, "single", 1)
    return (
        yield from _multipart_steps(
            source,
            info,
            channel_id=channel_id,
            credentials=credentials,
            part_size=part_size,
            max_concurrency=max_concurrency,
            transport_params=transport_params,
            verify_md5=verify_md5,
        )
    )


def _multipart_steps(
    source: str,
    info: SourceInfo,
    *,
    channel_id: str,
    credentials: FireworkCredentials | str | None,
    part_size: int | None,
    max_concurrency: int,
    transport_params: Mapping[str, Any] | None,
    verify_md5: bool,
) -> Generator[Any, Any, Uploaded]:
    plan = plan_parts(info.size, concurrency=max_concurrency, part_size=part_size)
    abandoned: list[str] = []
    # the second pass runs only when a part URL was refused as expired (or revoked): one fresh
    # multipart upload, bypassing the cached initiate, whose parts all go again
    for initiate in (
        create_multipart_upload,
        create_multipart_upload.with_options(refresh_cache=True),
    ):
        upload = yield Call(
            initiate,
            {
                "filename": info.filename,
                "mime_type": info.mime_type,
                "channel_id": channel_id,
                "parts_count": len(plan),
                "fingerprint": info.fingerprint,
                "credentials": credentials,
            },
        )
        urls = {p.part: p.put_url for p in upload.parts}
        if sorted(urls) != [p.number for p in plan]:
            raise MultipartUploadFailed(
                f"the API signed parts {sorted(urls)} for a plan of {len(plan)}"
                + _also(abandoned),
                upload.key,
                upload.upload_id,
            )
        calls = [
            Call(
                upload_part,
                {
                    "put_url": urls[part.number],
                    "source": source,
                    "part": part,
                    "upload_id": upload.upload_id,
                    "fingerprint": info.fingerprint,
                    "parts_total": len(plan),
                    "verify_md5": verify_md5,
                    "transport_params": transport_params,
                    "credentials": credentials,
                },
            )
            for part in plan
        ]
        try:
            completed = yield Gather(calls)
        except S3UploadError as exc:
            if exc.status_code == 403 and initiate is create_multipart_upload:
                abandoned.append(upload.upload_id)
                continue
            raise MultipartUploadFailed(
                f"a part failed: {exc}{_also(abandoned)}", upload.key, upload.upload_id
            ) from exc
        except Exception as exc:
            raise MultipartUploadFailed(
                f"a part failed: {exc}{_also(abandoned)}", upload.key, upload.upload_id
            ) from exc
        try:
            key = yield Call(
                complete_multipart_upload,
                {
                    "key": upload.key,
                    "upload_id": upload.upload_id,
                    "parts": completed,
                    "credentials": credentials,
                },
            )
        except Exception as exc:
            if getattr(exc, "status_code", None) == 400 and initiate is create_multipart_upload:
                # e.g. completed by an earlier try whose answer was lost (a timeout, or a crash
                # before the result was saved): refused now, and forever on every rerun that
                # resumes it. Upload once more, fresh; the create then uses the new key.
                abandoned.append(upload.upload_id)
                continue
            raise MultipartUploadFailed(
                f"completing failed: {exc}{_also(abandoned)}", upload.key, upload.upload_id
            ) from exc
        return Uploaded(key, "multipart", len(plan), upload.upload_id, tuple(abandoned))
    raise AssertionError("unreachable: the fresh pass returns or raises")
