"""The API's route table: every endpoint of the spec and the OAuth token endpoint.

The app registers one FastAPI route per row (handled by the ``Handlers`` method of the same
name); faults and the request log name requests by the same rows. The private ``/_sandbox``
routes are not endpoints: they are never faulted or logged.
"""

from __future__ import annotations

from prefect_firework.sandbox.engine._routing import Route, RouteTable

__all__ = ["ROUTES"]

ROUTES = RouteTable(
    Route("POST", "/oauth/token", "token"),
    Route("POST", "/api/v1/upload_signatures", "upload_signature"),
    Route("POST", "/api/v1/upload_multipart/signatures", "multipart_signatures"),
    Route("POST", "/api/v1/upload_multipart/complete", "multipart_complete"),
    Route("POST", "/api/v1/videos", "create_video"),
    Route("GET", "/api/v1/videos/imports/{import_id}", "get_import"),
    Route("GET", "/api/v1/videos/{video_id}", "get_video"),
    Route("PATCH", "/api/v1/videos/{video_id}", "update_video"),
)
