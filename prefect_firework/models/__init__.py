"""Pydantic models of every request and response of the Firework Video API.

Request models forbid unknown fields (a typo fails before any request) and send only the fields
that were set (``to_api()``); response models ignore unknown fields. Presigned material and tokens
are ``SecretStr``. Models hold data only (no clients), so they pickle and travel between processes.
"""

from prefect_firework.models.imports import (
    ImportStatus,
    VideoFromS3Key,
    VideoFromUrl,
    VideoImport,
    validate_import_url,
)
from prefect_firework.models.token import AccessToken
from prefect_firework.models.uploads import (
    CompletedPart,
    MultipartCompleteRequest,
    MultipartUpload,
    MultipartUploadRequest,
    PartSignature,
    UploadSignature,
    UploadSignatureRequest,
    validate_mime_type,
)
from prefect_firework.models.video import (
    Access,
    ExternalMedia,
    ExternalMediaInfo,
    Video,
    VideoMetadata,
    VideoPoster,
    VideoUpdate,
    validate_archived_at,
    validate_poster_url,
)

__all__ = [
    "Access",
    "AccessToken",
    "CompletedPart",
    "ExternalMedia",
    "ExternalMediaInfo",
    "ImportStatus",
    "MultipartCompleteRequest",
    "MultipartUpload",
    "MultipartUploadRequest",
    "PartSignature",
    "UploadSignature",
    "UploadSignatureRequest",
    "Video",
    "VideoFromS3Key",
    "VideoFromUrl",
    "VideoImport",
    "VideoMetadata",
    "VideoPoster",
    "VideoUpdate",
    "validate_archived_at",
    "validate_import_url",
    "validate_mime_type",
    "validate_poster_url",
]
