"""One Prefect task per Firework API operation. Thin: the client does the work.

Every task takes ``credentials`` (a ``FireworkCredentials`` block, a saved block's name, or
None to resolve from ``FIREWORK_*`` settings); credentials never enter a cache key.
"""

from prefect_firework.tasks.auth import get_access_token
from prefect_firework.tasks.imports import (
    ImportFailedError,
    ImportTimeoutError,
    get_video_import,
    wait_for_video_import,
    wait_for_video_import_events,
    wait_for_video_imports,
)
from prefect_firework.tasks.uploads import (
    complete_multipart_upload,
    create_multipart_upload,
    create_upload_signature,
    upload_part,
    upload_single,
    upload_to_s3,
)
from prefect_firework.tasks.videos import create_video, get_video, update_video

__all__ = [
    "ImportFailedError",
    "ImportTimeoutError",
    "complete_multipart_upload",
    "create_multipart_upload",
    "create_upload_signature",
    "create_video",
    "get_access_token",
    "get_video",
    "get_video_import",
    "update_video",
    "upload_part",
    "upload_single",
    "upload_to_s3",
    "wait_for_video_import",
    "wait_for_video_import_events",
    "wait_for_video_imports",
]
