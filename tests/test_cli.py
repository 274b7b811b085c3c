"""``prefect-firework``: upload, import, batch, ledger, --version and sandbox, for real.

Commands that run flows run as subprocesses, as a user runs them, against the module's sandbox
and the session's Prefect test server, with credentials from ``FIREWORK_*`` (in-process, the
Prefect log handlers would outlive typer's captured streams); the ledger and the app itself are
exercised in-process with typer's ``CliRunner``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prefect.filesystems import RemoteFileSystem, WritableFileSystem
from typer.testing import CliRunner

from prefect_firework import __version__
from prefect_firework.batch._ledger import Ledger, LedgerEntry
from prefect_firework.cli import app
from prefect_firework.errors import LedgerError
from prefect_firework.sandbox.media import make_mp4

#: wide enough that rich never folds a key, id or error across lines
ENV = {"COLUMNS": "400"}
CLI = [sys.executable, "-m", "prefect_firework.cli"]

#: tests that run flows: on the session's Prefect API (the subprocesses get its URL)
flows = pytest.mark.prefect_server


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def run_cli(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``prefect-firework ARGS`` in a subprocess, on the session's Prefect API if one runs."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, **ENV}
    if PREFECT_API_URL.value():
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    """A flow command: exit code, stdout and stderr, with room for a slow machine."""
    return run_cli(*args, timeout=300)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli-media")
    return {
        "a": make_mp4(root / "a.mp4", 4, size=60_000, seed=11),
        "b": make_mp4(root / "b.mp4", 4, size=61_000, seed=12),
        "c": make_mp4(root / "c.mp4", 4, size=62_000, seed=13),
        "served": make_mp4(root / "served" / "remote.mp4", 4, size=63_000, seed=14).parent,
    }


@pytest.fixture
def firework_env(sb, monkeypatch) -> None:
    """The CLI's credentials: the sandbox's client through the FIREWORK_* settings."""
    monkeypatch.setenv("FIREWORK_CLIENT_ID", sb.client_id)
    monkeypatch.setenv("FIREWORK_CLIENT_SECRET", sb.client_secret)
    monkeypatch.setenv("FIREWORK_BASE_URL", sb.base_url)


def flow_runs(name: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
    return sum(1 for run in runs if run.state is not None and run.state.is_completed())


# ---------------------------------------------------------------------- the app


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"prefect-firework {__version__}"


def test_help_says_what_the_cli_is() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Upload videos to Firework from Prefect" not in result.stdout
    for command in ("upload", "import", "batch", "ledger", "sandbox", "demo", "webhooks"):
        assert re.search(rf"^\W*{command}\b", result.stdout, re.MULTILINE), command
    upload_help = invoke("upload", "--help").stdout
    assert "upload_video flow" in upload_help and "upload_videos flow" in upload_help


# ---------------------------------------------------------------------- upload


@flows
def test_upload_two_files_creates_two_videos_and_a_rerun_none(
    sb, firework_env, media, tmp_path
) -> None:
    ledger = tmp_path / "ledger"
    args = ["upload", media["a"], media["b"], "--channel", sb.channel_id, "--caption", "Two"]
    args += ["--hashtag", "cli", "--hashtag", "test", "--custom-field", "team=video"]
    args += ["--description", "from the CLI", "--ledger", ledger]
    before = flow_runs("upload_videos")

    first = cli(*args)
    assert first.returncode == 0, first.stderr
    videos = sb.videos()
    assert len(videos) == 2
    assert flow_runs("upload_videos") == before + 1, "one upload_videos flow run"
    for video in videos:
        assert video["caption"] == "Two" and video["description"] == "from the CLI"
        assert video["hashtags"] == ["cli", "test"]
        assert video["custom_fields"]["team"] == "video"
        assert video["id"] in first.stdout
    assert first.stdout.count("created") == 2
    assert "a.mp4" in first.stdout and "b.mp4" in first.stdout

    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert len(sb.videos()) == 2, "the rerun created no video"
    assert again.stdout.count("skipped") == 2
    assert all(video["id"] in again.stdout for video in videos)


@flows
def test_upload_one_file_runs_upload_video(sb, firework_env, media) -> None:
    before = flow_runs("upload_video")
    result = cli("upload", media["c"], "--channel", sb.channel_id, "--caption", "One")
    assert result.returncode == 0, result.stderr
    (video,) = sb.videos()
    assert video["caption"] == "One" and video["id"] in result.stdout
    assert flow_runs("upload_video") == before + 1


@flows
def test_upload_failure_exits_1_with_the_error(sb, firework_env, tmp_path) -> None:
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"\0" * 1000)
    result = cli("upload", tiny, "--channel", sb.channel_id, "--caption", "Too small")
    assert result.returncode == 1, result.stderr
    assert "failed" in result.stdout and "tiny.mp4" in result.stdout
    assert "below the 25,600-byte minimum" in result.stdout
    assert sb.videos() == []


@flows
def test_upload_of_files_that_all_fail_shows_the_table_and_exits_1(
    sb, firework_env, tmp_path
) -> None:
    """upload_videos ends Failed when no row succeeded; the table is printed all the same."""
    tiny = []
    for name in ("tiny-1.mp4", "tiny-2.mp4"):
        tiny.append(tmp_path / name)
        tiny[-1].write_bytes(b"\0" * 1000)
    result = cli("upload", *tiny, "--channel", sb.channel_id, "--caption", "Small")
    assert result.returncode == 1, result.stderr
    for path in tiny:
        line = next(line for line in result.stdout.splitlines() if path.name in line)
        assert "invalid" in line and "below the 25,600-byte minimum" in line  # its preflight
    assert "upload_videos failed" not in result.stderr
    assert sb.videos() == []


def test_bad_metadata_is_refused_before_any_flow(tmp_path) -> None:
    file = tmp_path / "x.mp4"
    file.write_bytes(b"x")
    no_equals = invoke("upload", file, "--channel", "c", "--caption", "x", "--custom-field", "k")
    assert no_equals.exit_code == 2 and "key=value" in no_equals.output
    bad_key = invoke(
        "upload", file, "--channel", "c", "--caption", "x", "--custom-field", "Bad Key=v"
    )
    assert bad_key.exit_code == 2 and "custom_fields key 'Bad Key'" in bad_key.output
    bad_access = invoke(
        "import", "https://e.example.com/v.mp4", "--channel", "c", "--caption", "x",
        "--access", "secret",
    )  # fmt: skip
    assert bad_access.exit_code == 2 and "access" in bad_access.output


# ---------------------------------------------------------------------- import


@flows
def test_import_one_url_async(sb, firework_env, media) -> None:
    url = f"{sb.serve_files(media['served']).rstrip('/')}/remote.mp4"
    before = flow_runs("import_video")
    result = cli(
        "import", url, "--channel", sb.channel_id, "--caption", "Imported", "--async",
        "--access", "private", "--hashtag", "url",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (video,) = sb.videos()
    assert video["caption"] == "Imported" and video["access"] == "private"
    assert video["hashtags"] == ["url"]
    assert video["id"] in result.stdout and "imported" in result.stdout
    assert flow_runs("import_video") == before + 1


@flows
def test_import_several_urls_runs_import_videos(sb, firework_env, media, tmp_path) -> None:
    base = sb.serve_files(media["served"]).rstrip("/")
    urls = [f"{base}/remote.mp4", f"{base}/remote.mp4?copy=2"]
    before = flow_runs("import_videos")
    args = ["import", *urls, "--channel", sb.channel_id, "--caption", "Pair"]
    args += ["--ledger", tmp_path / "ledger"]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    videos = sb.videos()
    assert len(videos) == 2 and all(v["id"] in result.stdout for v in videos)
    assert flow_runs("import_videos") == before + 1
    assert "copy=[REDACTED]" in result.stdout, "query values are not printed"


# ---------------------------------------------------------------------- batch


@flows
def test_batch_csv_with_a_bad_row_exits_1_and_prints_its_error(
    sb, firework_env, media, tmp_path
) -> None:
    rows = [
        {"source": str(media["a"]), "channel_id": sb.channel_id, "caption": "Good"},
        {"source": str(media["b"]), "channel_id": sb.channel_id, "caption": ""},
    ]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    output = tmp_path / "results.csv"
    args = ["batch", manifest, "--output", output, "--ledger", tmp_path / "ledger"]
    before = flow_runs("upload_videos")
    result = cli(*args, "--max-concurrency", "2")
    assert result.returncode == 1, result.stderr
    assert "row 1, column 'caption'" in result.stdout
    bad = next(line for line in result.stdout.splitlines() if "column 'caption'" in line)
    assert "b.mp4" in bad and "invalid" in bad, "the row's source beside its error"
    assert "2 rows: 1 created, 1 invalid" in result.stdout
    (video,) = sb.videos()
    assert video["caption"] == "Good" and video["id"] in result.stdout
    assert flow_runs("upload_videos") == before + 1
    assert sorted(pd.read_csv(output)["status"]) == ["created", "invalid"]

    # the row fixed, a rerun creates only what is missing and exits 0
    rows[1]["caption"] = "Fixed"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 rows: 1 created, 1 skipped" in rerun.stdout
    assert sorted(v["caption"] for v in sb.videos()) == ["Fixed", "Good"]


def test_batch_dry_run_prints_the_plan_and_sends_nothing(sb, firework_env, media, tmp_path) -> None:
    rows = [
        {"source": str(media["a"]), "channel_id": sb.channel_id, "caption": "Good"},
        {"source": str(tmp_path / "missing.mp4"), "channel_id": sb.channel_id, "caption": "Gone"},
    ]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    sent = len(sb.requests)
    result = cli("batch", manifest, "--dry-run", "--ledger", tmp_path / "ledger")
    assert result.returncode == 1, result.stderr  # a refused row
    assert "dry run: 2 rows (1 ready, 1 refused)" in result.stdout
    assert f"1 creates on {sb.channel_id}: at once" in result.stdout
    assert "single" in result.stdout and "missing.mp4" in result.stdout
    assert len(sb.requests) == sent and sb.videos() == []


def test_batch_refuses_a_manifest_it_cannot_read_before_any_flow(tmp_path) -> None:
    unknown = invoke("batch", tmp_path / "manifest.txt", "--ledger", tmp_path / "ledger")
    assert unknown.exit_code == 2
    assert "unknown manifest extension '.txt'" in unknown.stderr
    missing = invoke("batch", tmp_path / "missing.csv", "--ledger", tmp_path / "ledger")
    assert missing.exit_code == 2
    assert "missing.csv" in missing.stderr and "no such file" in missing.stderr


# ---------------------------------------------------------------------- ledger


@pytest.fixture
def ledger_dir(tmp_path) -> Path:
    ledger = Ledger(tmp_path / "ledger")
    ledger.put(LedgerEntry(key="row-creating", status="creating", s3_key="u/1"))
    ledger.put(LedgerEntry(key="row-created", status="created", video_id="VID123"))
    ledger.put(LedgerEntry(key="row-not", status="not_created", error="HTTP 422"))
    (ledger.local_directory / "entries" / "notes.json").write_text("not an entry")
    return tmp_path / "ledger"


def test_ledger_entries_lists_local_storage(ledger_dir) -> None:
    listed = {entry.key: entry for entry in Ledger(ledger_dir).entries()}
    assert set(listed) == {"row-creating", "row-created", "row-not"}
    assert listed["row-created"].video_id == "VID123"
    assert list(Ledger(ledger_dir / "empty").entries()) == []


def test_ledger_entries_lists_a_remote_file_system() -> None:
    ledger = Ledger(RemoteFileSystem(basepath="memory://cli-ledger"), namespace="listing")
    ledger.put(LedgerEntry(key="r1", status="created", video_id="V1"))
    ledger.put(LedgerEntry(key="r2", status="creating"))
    ledger.spend_upload("upload-1", "r1")  # not an entry
    assert sorted((e.key, e.status) for e in ledger.entries()) == [
        ("r1", "created"),
        ("r2", "creating"),
    ]


def test_ledger_entries_lists_an_s3_bucket() -> None:
    import boto3
    from moto import mock_aws
    from prefect_aws import AwsCredentials
    from prefect_aws.s3 import S3Bucket

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="cli-ledger")
        credentials = AwsCredentials(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        block = S3Bucket(bucket_name="cli-ledger", credentials=credentials, bucket_folder="f")
        ledger = Ledger(block, namespace="ns")
        ledger.put(LedgerEntry(key="s1", status="created", video_id="V1"))
        ledger.put(LedgerEntry(key="s2", status="not_created"))
        Ledger(block, namespace="ns-other").put(LedgerEntry(key="s3", status="created"))
        assert sorted(e.key for e in ledger.entries()) == ["s1", "s2"]


class NoListingStorage(WritableFileSystem):
    """A storage block with reads and writes but no way to list."""

    _block_type_slug = "prefect-firework-test-no-listing"

    def read_path(self, path: str) -> bytes:
        raise FileNotFoundError(path)

    def write_path(self, path: str, content: bytes) -> None:
        return None


def test_ledger_entries_on_a_block_without_listing_says_so() -> None:
    ledger = Ledger(NoListingStorage())
    assert ledger.get("k") is None  # reads by key still work
    with pytest.raises(LedgerError, match="listing the ledger needs local storage"):
        list(ledger.entries())


def test_ledger_list(ledger_dir) -> None:
    result = invoke("ledger", "list", "--storage", ledger_dir)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    created = next(line for line in lines if "row-created" in line)
    assert "created" in created and "VID123" in created and re.search(r"\d{4}-\d\d-\d\d", created)
    assert any("row-creating" in line and "creating" in line for line in lines)
    assert any("row-not" in line and "not_created" in line for line in lines)
    assert "3 entries" in result.stdout

    only = invoke("ledger", "list", "--storage", ledger_dir, "--status", "creating")
    assert only.exit_code == 0 and "row-creating" in only.stdout
    assert "row-created " not in only.stdout and "VID123" not in only.stdout
    assert "1 entries" in only.stdout

    assert invoke("ledger", "list", "--storage", ledger_dir, "--status", "done").exit_code == 2
    empty = invoke("ledger", "list", "--storage", ledger_dir / "none")
    assert empty.exit_code == 0 and "no entries" in empty.stdout


def test_ledger_show(ledger_dir) -> None:
    result = invoke("ledger", "show", "row-created", "--storage", ledger_dir)
    assert result.exit_code == 0, result.output
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert fields["key"] == "row-created" and fields["status"] == "created"
    assert fields["video_id"] == "VID123" and fields["import_id"] == "-"
    assert invoke("ledger", "show", "row-not", "--storage", ledger_dir).stdout.count("HTTP 422")

    missing = invoke("ledger", "show", "nope", "--storage", ledger_dir)
    assert missing.exit_code == 1 and "no entry for key 'nope'" in missing.stderr


def test_ledger_resolve_refuses_a_created_entry_and_an_unknown_key(ledger_dir) -> None:
    ledger = Ledger(ledger_dir)
    refused = invoke(
        "ledger", "resolve", "row-created", "--video-id", "OTHER", "--storage", ledger_dir
    )
    assert refused.exit_code == 1, refused.output
    assert "is created (video VID123), not creating" in refused.stderr
    assert "--force" in refused.stderr
    assert ledger.get("row-created").video_id == "VID123", "left as it was"

    refused = invoke("ledger", "resolve", "row-not", "--storage", ledger_dir)
    assert refused.exit_code == 1 and "is not_created" in refused.stderr

    unknown = invoke("ledger", "resolve", "no-such-row", "--storage", ledger_dir)
    assert unknown.exit_code == 1 and "no entry for key 'no-such-row'" in unknown.stderr
    assert ledger.get("no-such-row") is None


def test_ledger_resolve_settles_creating_and_forces_the_rest(ledger_dir) -> None:
    ledger = Ledger(ledger_dir)
    settled = invoke("ledger", "resolve", "row-creating", "--storage", ledger_dir)
    assert settled.exit_code == 0, settled.output
    assert settled.stdout.strip() == "row-creating: creating -> not_created"
    assert ledger.get("row-creating").status == "not_created"

    forced = invoke(
        "ledger", "resolve", "row-created", "--video-id", "VID999", "--force",
        "--storage", ledger_dir,
    )  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.strip() == "row-created: created -> created (video VID999)"
    assert ledger.get("row-created").video_id == "VID999"

    new = invoke(
        "ledger", "resolve", "brand-new", "--video-id", "V7", "--force", "--storage", ledger_dir
    )
    assert new.exit_code == 0, new.output
    assert new.stdout.strip() == "brand-new: (no entry) -> created (video V7)"
    assert ledger.get("brand-new").status == "created"


def test_resolve_without_force_keeps_the_lock_and_refuses_in_the_library(ledger_dir) -> None:
    ledger = Ledger(ledger_dir)
    with pytest.raises(LedgerError, match="no entry for key 'ghost'"):
        ledger.resolve("ghost", "V1")
    with pytest.raises(LedgerError, match="is created"):
        ledger.resolve("row-created", None, timeout=5)
    assert ledger.resolve("row-created", None, force=True).status == "not_created"
    with ledger.hold("row-creating", timeout=5):  # the lock was released each time
        pass


# ---------------------------------------------------------------------- sandbox


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_sandbox_on_a_busy_port_names_it_and_suggests_port_0(busy_port) -> None:
    result = run_cli("sandbox", "--port", busy_port, "--s3-port", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {busy_port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port 0" in result.stderr and "Traceback" not in result.stderr

    s3 = run_cli("sandbox", "--port", "0", "--s3-port", busy_port)
    assert s3.returncode == 1 and f"port {busy_port}" in s3.stderr
    assert "--s3-port 0" in s3.stderr


def test_sandbox_flags_and_config_knobs() -> None:
    help_text = run_cli("sandbox", "--help").stdout
    flag = next(line for line in help_text.splitlines() if "--allow-remote" in line)
    assert "<bool>" not in flag, "shown as a flag, not an option taking a value"
    assert run_cli("sandbox", "--rate-limit-count", "0").returncode == 2

    proc = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--s3-port", "0", "--rate-limit-count", "3",
         "--rate-limit-window", "7.5", "--transcoding-delay", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        base_url = None
        deadline = time.monotonic() + 60
        while base_url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"sandbox exited: {proc.wait()} {proc.stderr.read()}")
            if line.startswith("base_url: "):
                base_url = line.split(": ", 1)[1].strip()
        assert base_url is not None
        config = httpx.get(f"{base_url}/_sandbox/info", timeout=10).json()["config"]
        assert config["rate_limit_count"] == 3
        assert config["rate_limit_window"] == 7.5
        assert config["transcoding_delay"] == 0
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


#: banner lines that are not identities: addresses and the per-start bucket
_ADDRESSES = {"base_url", "token_url", "s3_url", "moto_url", "bucket", "inspect", "try"}


@contextmanager
def running_sandbox(*args: object) -> Iterator[dict[str, str]]:
    """``prefect-firework sandbox ARGS`` in a subprocess: its banner, then SIGINT and exit 0."""
    proc = subprocess.Popen(
        [*CLI, "sandbox", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        fields: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "try" not in fields:
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise AssertionError(f"no banner: {proc.poll()} {fields}")
            name, sep, value = line.partition(": ")
            if sep:
                fields[name.strip()] = value.strip()
        yield fields
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _token_status(fields: dict[str, str], client_id: str, client_secret: str) -> int:
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return httpx.post(fields["token_url"], data=form, timeout=10).status_code


def test_sandbox_seed_pins_the_banner_across_restarts() -> None:
    with running_sandbox("--seed", 42, "--port", 0, "--s3-port", 0) as first:
        port = first["base_url"].rsplit(":", 1)[1]
    with running_sandbox("--seed", 42, "--port", port, "--s3-port", 0) as second:
        assert second["base_url"] == first["base_url"]
        assert set(second) == set(first), "the banner keeps its shape"
        same = {k: v for k, v in first.items() if k not in _ADDRESSES}
        assert {k: second[k] for k in same} == same
        assert len(first["channel_ids"].split(", ")) == 3
        # the first start's credentials get a token from the second
        assert _token_status(second, first["client_id"], first["client_secret"]) == 200
    with running_sandbox("--seed", 43, "--port", 0, "--s3-port", 0) as other:
        for name in ("client_id", "client_secret", "channel_id", "business_store_ids"):
            assert other[name] != first[name], name


def test_sandbox_explicit_ids_win_and_a_bad_channel_id_is_refused(busy_port) -> None:
    pins = ["--client-id", "ci-client", "--client-secret", "ci-secret"]
    channels = ["--channel-id", "PinA1", "--channel-id", "PinB2, PinC3"]
    with running_sandbox("--seed", 42, *pins, *channels, "--port", 0, "--s3-port", 0) as banner:
        assert (banner["client_id"], banner["client_secret"]) == ("ci-client", "ci-secret")
        assert banner["channel_ids"] == "PinA1, PinB2, PinC3"
        assert banner["channel_id"] == "PinA1"
        assert "client_id=ci-client -d client_secret=ci-secret" in banner["try"]
        assert _token_status(banner, "ci-client", "ci-secret") == 200

    bad = run_cli("sandbox", "--port", 0, "--s3-port", 0, "--channel-id", "not/an id")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "'not/an id' is not an encoded id" in bad.stderr and "Traceback" not in bad.stderr
    assert "Firework sandbox is running" not in bad.stdout
    spaced = run_cli("sandbox", "--port", 0, "--s3-port", 0, "--client-id", "a b")
    assert spaced.returncode == 2 and "client_id must be" in spaced.stderr
    # the busy-port check still comes first and still names the option
    busy = run_cli("sandbox", "--seed", 1, "--channel-id", "PinA1", "--port", busy_port)
    assert busy.returncode == 1 and f"port {busy_port} on 127.0.0.1" in busy.stderr
