"""The public API as a user's code calls it, for ``make typecheck`` (mypy; never run).

The wheel ships ``py.typed``, so a user's type checker reads our annotations: these lines
fail the check if a public call loses its type (a flow's value seen as ``None``, a lazy
export seen as ``Any``).
"""

from __future__ import annotations

from typing_extensions import assert_type

from prefect_firework import FireworkClient, FireworkCredentials
from prefect_firework.errors import FireworkError
from prefect_firework.flows import import_video, upload_video, upload_videos
from prefect_firework.models import Video, VideoImport, VideoMetadata
from prefect_firework.tasks import create_video


def _usage(credentials: FireworkCredentials, client: FireworkClient) -> None:
    assert_type(credentials.get_client(), FireworkClient)
    assert_type(upload_video("clip.mp4", "channel", "caption", credentials=credentials), Video)
    imported = import_video("https://example.com/a.mp4", "channel", "caption", mode="async")
    assert_type(imported, Video | VideoImport)
    upload_videos("manifest.csv", credentials=credentials, max_concurrency=8)
    metadata = VideoMetadata(channel_id="channel", caption="caption")
    assert_type(create_video(metadata, url="https://example.com/a.mp4"), Video | VideoImport)
    assert_type(client.get_video("X6Xqd6W"), Video)
    assert_type(client.create_video_from_url("https://example.com/a.mp4", metadata), Video)
    try:
        client.get_video("X6Xqd6W")
    except FireworkError as exc:
        assert_type(exc.status_code, int | None)
