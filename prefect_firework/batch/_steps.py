"""The steps that move one source's bytes to S3, as a pipeline the driver runs.

Shared by ``upload_video`` (one source) and ``upload_videos`` (a manifest), so both upload,
resume and restart exactly the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from prefect_firework.batch._driver import Blocking, Call, Gather
from prefect_firework.batch._parts import PartRange, plan_parts
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.errors import MultipartUploadFailed, S3UploadError, SourceChangedError
from prefect_firework.limits import DEFAULT_LIMITS, MediaLimits
from prefect_firework.models import CompletedPart, MultipartUpload
from prefect_firework.sources import SourceError, SourceInfo, SourceVersion, verify_unchanged
from prefect_firework.tasks import (
    complete_multipart_upload,
    create_multipart_upload,
    upload_part,
    upload_single,
)

__all__ = [
    "MultipartUploadFailed",
    "Strategy",
    "Uploaded",
    "choose_strategy",
    "planned_strategy",
    "upload_steps",
]

Strategy = Literal["auto", "single", "multipart"]


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
    """``single`` at or below the API's ~100 MB guidance for one POST, else ``multipart``;
    or as asked."""
    if strategy not in ("auto", "single", "multipart"):
        raise ValueError(f"strategy must be auto, single or multipart, not {strategy!r}")
    if strategy != "auto":
        return strategy
    return "single" if size <= limits.single_upload_max else "multipart"


def planned_strategy(
    size: int, strategy: Strategy = "auto", multipart_threshold: int | None = None
) -> str:
    """The strategy :func:`upload_steps` will use, known before any byte moves (a row that
    fails mid-upload still says how it was being uploaded)."""
    limits = DEFAULT_LIMITS
    if multipart_threshold is not None:
        limits = replace(limits, single_upload_max=multipart_threshold)
    return choose_strategy(size, strategy, limits)


#: what the API answers when it will not assemble the parts (e.g. a part under 5 MB that is
#: not the last)
MULTIPART_FAILED = "Multipart upload failed"


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
    owner: str | None = None,
    spent: Callable[[str], bool] | None = None,
) -> Generator[Any, Any, Uploaded]:
    """Upload ``source`` by presigned POST or multipart; return where it landed.

    ``multipart_threshold`` (bytes) moves the single/multipart line from the API's ~100 MB.
    ``owner`` (a row key) keeps rows from sharing a resumable upload; ``spent(upload_id)``
    says whether a cached upload already became a video (then it is not reused).
    """
    mode = planned_strategy(info.size, strategy, multipart_threshold)
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
                "expected": info.version,
            },
        )
        return Uploaded(key, "single", 1)
    plan = plan_parts(info.size, concurrency=max_concurrency, part_size=part_size)
    return (
        yield from _multipart_steps(
            _Multipart(
                source=source,
                info=info,
                channel_id=channel_id,
                credentials=credentials,
                max_concurrency=max_concurrency,
                transport_params=transport_params,
                verify_md5=verify_md5,
                owner=owner,
                spent=spent,
            ),
            plan,
        )
    )


@dataclass(frozen=True)
class _Multipart:
    """What every pass of one multipart upload shares."""

    source: str
    info: SourceInfo
    channel_id: str
    credentials: FireworkCredentials | str | None
    max_concurrency: int
    transport_params: Mapping[str, Any] | None
    verify_md5: bool
    owner: str | None
    spent: Callable[[str], bool] | None

    def initiate(self, plan: Sequence[PartRange], *, fresh: bool) -> Call:
        task = (
            create_multipart_upload.with_options(refresh_cache=True)
            if fresh
            else (create_multipart_upload)
        )
        kwargs: dict[str, Any] = {
            "filename": self.info.filename,
            "mime_type": self.info.mime_type,
            "channel_id": self.channel_id,
            "parts_count": len(plan),
            "fingerprint": self.info.fingerprint,
            "credentials": self.credentials,
        }
        if self.owner is not None:
            kwargs["owner"] = self.owner
        return Call(task, kwargs)

    def part(self, upload: MultipartUpload, part: PartRange, total: int) -> Call:
        return Call(
            upload_part,
            {
                "put_url": {p.part: p.put_url for p in upload.parts}[part.number],
                "source": self.source,
                "part": part,
                "upload_id": upload.upload_id,
                "fingerprint": self.info.fingerprint,
                "parts_total": total,
                "verify_md5": self.verify_md5,
                "transport_params": self.transport_params,
                "credentials": self.credentials,
                "expected": self.info.version,
            },
        )

    def complete(self, upload: MultipartUpload, parts: list[CompletedPart]) -> Call:
        return Call(
            complete_multipart_upload,
            {
                "key": upload.key,
                "upload_id": upload.upload_id,
                "parts": parts,
                "credentials": self.credentials,
            },
        )

    def unchanged(self) -> Blocking:
        """The source is still the version its parts were read from (else SourceChanged)."""
        return Blocking(
            _verify_unchanged,
            (self.source, self.info.version),
            {"transport_params": self.transport_params},
        )


def _verify_unchanged(
    source: str, expected: SourceVersion, transport_params: Mapping[str, Any] | None
) -> None:
    try:
        verify_unchanged(
            source, expected, transport_params=dict(transport_params) if transport_params else None
        )
    except SourceError as exc:
        if exc.rule != "changed":
            raise
        raise SourceChangedError(
            f"{exc.message}; the parts are not assembled, so no video is made of mixed bytes",
            url=exc.source,
        ) from None


def _larger_parts(size: int, plan: Sequence[PartRange], concurrency: int) -> list[PartRange]:
    """A new plan of fewer, larger parts (the API's advice after "Multipart upload failed")."""
    return plan_parts(size, concurrency=concurrency, part_size=2 * plan[0].length)


def _multipart_steps(job: _Multipart, plan: list[PartRange]) -> Generator[Any, Any, Uploaded]:
    abandoned: list[str] = []
    # a second, fresh pass (bypassing the cached initiate) runs only when the first cannot
    # finish: its cached upload already became a video, a part URL was refused as expired,
    # or the API would not assemble the parts
    for fresh in (False, True):
        upload = yield job.initiate(plan, fresh=fresh)
        if not fresh and job.spent is not None and (yield Blocking(job.spent, (upload.upload_id,))):
            continue  # completed and consumed by a create: upload afresh, nothing left open
        if sorted(p.part for p in upload.parts) != [p.number for p in plan]:
            raise MultipartUploadFailed(
                f"the API signed parts {sorted(p.part for p in upload.parts)} for a plan of "
                f"{len(plan)}" + _also(abandoned),
                upload.key,
                upload.upload_id,
            )
        try:
            completed = yield Gather([job.part(upload, part, len(plan)) for part in plan])
        except S3UploadError as exc:
            if exc.status_code == 403 and not fresh:
                abandoned.append(upload.upload_id)
                continue
            raise MultipartUploadFailed(
                f"a part failed: {type(exc).__name__}: {exc}{_also(abandoned)}",
                upload.key,
                upload.upload_id,
            ) from exc
        except Exception as exc:
            raise MultipartUploadFailed(
                f"a part failed: {type(exc).__name__}: {exc}{_also(abandoned)}",
                upload.key,
                upload.upload_id,
            ) from exc
        try:
            yield job.unchanged()
            key = yield job.complete(upload, completed)
        except Exception as exc:
            if _assembly_refused(exc) and not fresh:
                # parts too small for the service, or completed by an earlier try whose
                # answer was lost (refused now, and on every rerun that resumes it): upload
                # once more, fresh, with fewer, larger parts; the create uses the new key
                abandoned.append(upload.upload_id)
                plan = _larger_parts(job.info.size, plan, job.max_concurrency)
                continue
            raise MultipartUploadFailed(
                f"completing failed: {type(exc).__name__}: {exc}{_also(abandoned)}",
                upload.key,
                upload.upload_id,
            ) from exc
        return Uploaded(key, "multipart", len(plan), upload.upload_id, tuple(abandoned))
    raise AssertionError("unreachable: the fresh pass returns or raises")


def _assembly_refused(exc: BaseException) -> bool:
    """The API's 400 "Multipart upload failed" (any other 400 fails the row as it is)."""
    return (
        getattr(exc, "status_code", None) == 400
        and MULTIPART_FAILED.lower() in str(getattr(exc, "message", exc)).lower()
    )
