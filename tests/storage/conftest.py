"""GCS (fake-gcs-server) and Azure Blob (Azurite) sources for real, on 127.0.0.1: started once
per session by the fixtures of ``tests/components.py``, each behind a recording proxy."""

from __future__ import annotations

from components import azurite, azurite_server, gcs, gcs_emulator  # noqa: F401 (fixtures)
