"""Flows: compose the tasks into the jobs users run."""

from prefect_firework.flows.imports import import_video
from prefect_firework.flows.upload import upload_video

__all__ = ["import_video", "upload_video"]
