"""The S3 front's route table: a POST upload and a part PUT, whatever the request target.

The front routes on the method alone, as S3 answers any path: the handlers read the bucket
and key themselves and answer ``NoSuchBucket`` or a signature error, never a routing 404.
Other methods are 405 ``MethodNotAllowed``.
"""

from __future__ import annotations

from prefect_firework.sandbox.engine._routing import Route, RouteTable

__all__ = ["ROUTES"]

ROUTES = RouteTable(
    Route("POST", "{target:path}", "s3_post"),
    Route("PUT", "{target:path}", "s3_part"),
)
