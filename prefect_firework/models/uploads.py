"""Upload signatures: single presigned POST (up to ~100 MB) and multipart (up to 5 GB).

Presigned material is secret: whoever holds a policy and signature (or a part URL) can write to
the bucket until it expires. Those fields are ``SecretStr``, so reprs, logs, Prefect results and
exception strings show ``**********``; the S3 helpers unwrap them only to build the request.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from prefect_firework.limits import DEFAULT_LIMITS, SUPPORTED_MIME_TYPES
from prefect_firework.models._base import RequestModel, ResponseModel

__all__ = [
    "CompletedPart",
    "MultipartCompleteRequest",
    "MultipartUpload",
    "MultipartUploadRequest",
    "PartSignature",
    "UploadSignature",
    "UploadSignatureRequest",
    "validate_mime_type",
]


def validate_mime_type(value: str) -> str:
    """The API accepts only ``video/mp4`` and ``video/quicktime`` (``.mp4`` and ``.mov``)."""
    allowed = sorted(set(SUPPORTED_MIME_TYPES.values()))
    if value not in allowed:
        raise ValueError(f"mime_type must be one of {allowed}, got {value!r}")
    return value


class UploadSignatureRequest(RequestModel):
    """Body of ``POST /api/v1/upload_signatures``."""

    filename: str = Field(min_length=1)
    mime_type: str
    channel_id: str = Field(min_length=1)

    @field_validator("mime_type")
    @classmethod
    def _mime_type(cls, value: str) -> str:
        return validate_mime_type(value)


class UploadSignature(ResponseModel):
    """A presigned S3 POST; ``policy`` and ``signature`` are secret."""

    key: str
    post_url: str
    policy: SecretStr
    signature: SecretStr
    date: str
    credential: str
    algorithm: str = "AWS4-HMAC-SHA256"
    acl: str = "private"

    def form_fields(self, mime_type: str) -> list[tuple[str, str]]:
        """The S3 form fields in the required order: key, acl, X-Amz-Algorithm, X-Amz-Credential,
        X-Amz-Date, Policy, X-Amz-Signature, Content-Type; ``file`` goes after them, last.

        The values include the unwrapped policy and signature: use them only to build the body.
        """
        return [
            ("key", self.key),
            ("acl", self.acl),
            ("X-Amz-Algorithm", self.algorithm),
            ("X-Amz-Credential", self.credential),
            ("X-Amz-Date", self.date),
            ("Policy", self.policy.get_secret_value()),
            ("X-Amz-Signature", self.signature.get_secret_value()),
            ("Content-Type", mime_type),
        ]


class MultipartUploadRequest(RequestModel):
    """Body of ``POST /api/v1/upload_multipart/signatures``."""

    filename: str = Field(min_length=1)
    mime_type: str
    channel_id: str = Field(min_length=1)
    parts_count: int = Field(ge=1, le=DEFAULT_LIMITS.max_parts)

    @field_validator("mime_type")
    @classmethod
    def _mime_type(cls, value: str) -> str:
        return validate_mime_type(value)


class PartSignature(ResponseModel):
    """One part of a multipart upload: its 1-based number and presigned PUT URL (secret).

    The API nests the URL (``{"part": 1, "signature": {"put_url": ..., "key": ...}}``); this
    model flattens it and also accepts the flat shape.
    """

    part: int = Field(ge=1)
    put_url: SecretStr
    key: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("signature"), dict):
            nested = data["signature"]
            flat = {k: v for k, v in data.items() if k != "signature"}
            flat.setdefault("put_url", nested.get("put_url"))
            if nested.get("key") is not None:
                flat.setdefault("key", nested.get("key"))
            return flat
        return data


class MultipartUpload(ResponseModel):
    """An initiated multipart upload; ``parts`` sorted by part number."""

    key: str
    upload_id: str
    parts: list[PartSignature]

    @field_validator("parts")
    @classmethod
    def _sorted(cls, parts: list[PartSignature]) -> list[PartSignature]:
        return sorted(parts, key=lambda p: p.part)


class CompletedPart(RequestModel):
    """A part uploaded to S3 and the ``ETag`` S3 returned for it (sent as S3 sent it)."""

    part: int = Field(ge=1, le=DEFAULT_LIMITS.max_parts)
    etag: str = Field(min_length=1)


class MultipartCompleteRequest(RequestModel):
    """Body of ``POST /api/v1/upload_multipart/complete``.

    Parts are sorted by number (S3 rejects out-of-order lists); duplicates are an error.
    """

    key: str = Field(min_length=1)
    upload_id: str = Field(min_length=1)
    parts: list[CompletedPart] = Field(min_length=1, max_length=DEFAULT_LIMITS.max_parts)

    @field_validator("parts")
    @classmethod
    def _unique_sorted(cls, parts: list[CompletedPart]) -> list[CompletedPart]:
        numbers = [p.part for p in parts]
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate part numbers: {duplicates}")
        return sorted(parts, key=lambda p: p.part)
