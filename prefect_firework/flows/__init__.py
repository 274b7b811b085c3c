"""The flows users run: one video (``upload_video``, ``import_video``), a manifest of them
(``upload_videos``, ``import_videos``), and existing videos (``update_videos``,
``get_videos``), with the errors they raise.

Names resolve lazily, so ``from prefect_firework.flows import upload_video`` does not import
pandas (the batch flows need it; a single upload does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_firework._lazy import lazy_exports

if TYPE_CHECKING:
    from prefect_firework.errors import (
        ImportFailedError,
        ImportTimeoutError,
        MultipartUploadFailed,
        RowErrorsFound,
    )
    from prefect_firework.flows._batch import import_videos, upload_videos
    from prefect_firework.flows._import import import_video
    from prefect_firework.flows._upload import upload_video
    from prefect_firework.flows._videos import get_videos, update_videos

_EXPORTS: dict[str, str] = {
    "upload_video": "prefect_firework.flows._upload",
    "import_video": "prefect_firework.flows._import",
    "upload_videos": "prefect_firework.flows._batch",
    "import_videos": "prefect_firework.flows._batch",
    "update_videos": "prefect_firework.flows._videos",
    "get_videos": "prefect_firework.flows._videos",
    "ImportFailedError": "prefect_firework.errors",
    "ImportTimeoutError": "prefect_firework.errors",
    "MultipartUploadFailed": "prefect_firework.errors",
    "RowErrorsFound": "prefect_firework.errors",
}

__all__ = [
    "ImportFailedError",
    "ImportTimeoutError",
    "MultipartUploadFailed",
    "RowErrorsFound",
    "get_videos",
    "import_video",
    "import_videos",
    "update_videos",
    "upload_video",
    "upload_videos",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
