"""A saved credentials block and a manifest survive a sandbox restart (issue #16).

Sandbox A (``seed=16``) is stopped, B starts with the same seed on A's port: the block saved
for A, loaded by name, and a manifest file written with A's channel id work against B as they
are, through the real client and the real ``upload_videos`` flow.
"""

from __future__ import annotations

import pandas as pd
import pytest

from prefect_firework.batch import Ledger
from prefect_firework.blocks import FireworkCredentials
from prefect_firework.flows import upload_videos
from prefect_firework.sandbox import Sandbox, SandboxConfig
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server

CONFIG = SandboxConfig(seed=16, transcoding_delay=0.1)


def test_saved_block_and_manifest_work_against_a_restarted_sandbox(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FIREWORK_POLL_INTERVAL", "0.1")
    clip = make_mp4(tmp_path / "clip.mp4", 4, size=60_000, seed=16)
    with Sandbox(config=CONFIG) as first:
        FireworkCredentials(
            client_id=first.client_id, client_secret=first.client_secret, base_url=first.base_url
        ).save("sandbox-restart", overwrite=True)
        channel_id, port = first.channel_ids[1], int(first.base_url.rsplit(":", 1)[1])
        manifest = tmp_path / "manifest.csv"
        pd.DataFrame([{"source": str(clip), "channel_id": channel_id, "caption": "kept"}]).to_csv(
            manifest, index=False
        )
        on_first = upload_videos(
            str(manifest), credentials="sandbox-restart", ledger=Ledger(tmp_path / "ledger-a")
        )
        assert list(on_first["status"]) == ["created"], on_first.to_dict("records")

    with Sandbox(config=CONFIG.replace(port=port)) as second:
        block = FireworkCredentials.load("sandbox-restart")
        assert block.base_url == second.base_url
        # this process's shared client for the block still holds A's token: B answers it 401,
        # the client fetches a new token with the pinned credentials and goes on
        fw = block.get_client()
        sig = fw.create_upload_signature(
            filename="clip.mp4", mime_type="video/mp4", channel_id=channel_id
        )
        assert sig.key.startswith(f"uploads/{channel_id}/")
        answers = [(r.endpoint, r.status) for r in second.requests]
        assert answers[:3] == [("upload_signature", 401), ("token", 200), ("upload_signature", 201)]
        # a new ledger: the first one records A's video, which this sandbox never had
        frame = upload_videos(
            str(manifest), credentials="sandbox-restart", ledger=Ledger(tmp_path / "ledger-b")
        )
        assert list(frame["status"]) == ["created"], frame.to_dict("records")
        video = second.video(frame.loc[0, "video_id"])
        assert video["channel_id"] == channel_id and video["caption"] == "kept"
        assert frame.loc[0, "video_id"] != on_first.loc[0, "video_id"]
