"""The batch engine behind ``upload_videos``, ``import_videos``, ``update_videos`` and
``get_videos``: manifests in, one result per row out, paced, idempotent and resumable.

Most users only call the flows; this package is for those who build their own: the ledger
(``Ledger``), the pacers, the manifest readers and row parsers, the part planner and the
results table. How a row travels through it is drawn in docs/ARCHITECTURE.md.

Names resolve lazily, so importing one of them does not import pandas unless it needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_firework._lazy import lazy_exports

if TYPE_CHECKING:
    from prefect_firework.batch._batch import KEY_FIELD
    from prefect_firework.batch._create import upload_row_key
    from prefect_firework.batch._ledger import Ledger, LedgerEntry, LedgerStatus
    from prefect_firework.batch._locks import FileLockManager, LockInfo
    from prefect_firework.batch._manifest import manifest_format, read_manifest, write_results
    from prefect_firework.batch._pacing import (
        ChannelPacer,
        PrefectRateLimitPacer,
        gcl_parameters,
    )
    from prefect_firework.batch._parts import PartRange, plan_parts
    from prefect_firework.batch._results import (
        RESULT_COLUMNS,
        ResultStatus,
        RowResult,
        results_frame,
    )
    from prefect_firework.batch._rows import (
        METADATA_COLUMNS,
        UPDATE_COLUMNS,
        UPLOAD_COLUMNS,
        InvalidRow,
        UpdateRow,
        UploadRow,
        parse_update_rows,
        parse_upload_rows,
        parse_video_ids,
    )

_EXPORTS: dict[str, str] = {
    "KEY_FIELD": "prefect_firework.batch._batch",
    "Ledger": "prefect_firework.batch._ledger",
    "LedgerEntry": "prefect_firework.batch._ledger",
    "LedgerStatus": "prefect_firework.batch._ledger",
    "FileLockManager": "prefect_firework.batch._locks",
    "LockInfo": "prefect_firework.batch._locks",
    "manifest_format": "prefect_firework.batch._manifest",
    "read_manifest": "prefect_firework.batch._manifest",
    "write_results": "prefect_firework.batch._manifest",
    "ChannelPacer": "prefect_firework.batch._pacing",
    "PrefectRateLimitPacer": "prefect_firework.batch._pacing",
    "gcl_parameters": "prefect_firework.batch._pacing",
    "PartRange": "prefect_firework.batch._parts",
    "plan_parts": "prefect_firework.batch._parts",
    "RESULT_COLUMNS": "prefect_firework.batch._results",
    "ResultStatus": "prefect_firework.batch._results",
    "RowResult": "prefect_firework.batch._results",
    "results_frame": "prefect_firework.batch._results",
    "InvalidRow": "prefect_firework.batch._rows",
    "METADATA_COLUMNS": "prefect_firework.batch._rows",
    "UPDATE_COLUMNS": "prefect_firework.batch._rows",
    "UPLOAD_COLUMNS": "prefect_firework.batch._rows",
    "UpdateRow": "prefect_firework.batch._rows",
    "UploadRow": "prefect_firework.batch._rows",
    "parse_update_rows": "prefect_firework.batch._rows",
    "parse_upload_rows": "prefect_firework.batch._rows",
    "parse_video_ids": "prefect_firework.batch._rows",
    "upload_row_key": "prefect_firework.batch._create",
}

__all__ = [
    "KEY_FIELD",
    "METADATA_COLUMNS",
    "RESULT_COLUMNS",
    "UPDATE_COLUMNS",
    "UPLOAD_COLUMNS",
    "ChannelPacer",
    "FileLockManager",
    "InvalidRow",
    "Ledger",
    "LedgerEntry",
    "LedgerStatus",
    "LockInfo",
    "PartRange",
    "PrefectRateLimitPacer",
    "ResultStatus",
    "RowResult",
    "UpdateRow",
    "UploadRow",
    "gcl_parameters",
    "manifest_format",
    "parse_update_rows",
    "parse_upload_rows",
    "parse_video_ids",
    "plan_parts",
    "read_manifest",
    "results_frame",
    "upload_row_key",
    "write_results",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
