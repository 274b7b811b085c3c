"""import-manifest with ``url``: what the import_failed automation runs for one failed URL."""

from __future__ import annotations

import pandas as pd
import pytest

from prefect_firework.flows.deployments import import_manifest
from prefect_firework.sandbox.media import make_mp4

pytestmark = pytest.mark.prefect_server


def test_url_parameter_imports_only_that_urls_rows(sb, block_name, tmp_path):
    served = tmp_path / "served"
    for name in ("a.mp4", "b.mp4"):
        make_mp4(served / name, 4, size=60_000, seed=len(name) + ord(name[0]))
    base = sb.serve_files(served).rstrip("/")
    manifest = tmp_path / "2026-11-27.csv"
    pd.DataFrame(
        [
            {"url": f"{base}/a.mp4", "channel_id": sb.channel_id, "caption": "a"},
            {"url": f"{base}/b.mp4", "channel_id": sb.channel_id, "caption": "b"},
        ]
    ).to_csv(manifest, index=False)
    summary = import_manifest(
        str(manifest),
        credentials=block_name,
        url=f"{base}/b.mp4",
        ledger=str(tmp_path / "ledger"),
    )
    assert summary["rows"] == 1 and summary["statuses"] == {"imported": 1}
    assert summary["output"] is None, "a one-URL retry does not overwrite the day's results"
    videos = sb.videos()
    assert [v["caption"] for v in videos] == ["b"]
    assert not (tmp_path / "2026-11-27.results.csv").exists()
