"""The README's code runs: every fenced block of README.md, read at test time, is executed
against the real thing (the sandbox, moto's S3, a Prefect API, a Dask cluster, redis-server)
or has a stated reason why not (``DISPOSITIONS``), and a new block without one fails.

A block runs as written except for the placeholders in its test's substitution table (the
sandbox's ids for ``"..."`` and ``X6Xqd6W``, ephemeral ports for fixed ones); each
substitution must match, so a placeholder that left the README fails here rather than
silently running something else. Python blocks run in a fresh interpreter of the venv with
their own ``PREFECT_HOME``; a few lines of the test's own may come before (a prelude, for a
fragment that continues earlier code) or after (printing what the test asserts on). Shell
blocks run line by line in ``bash`` with the venv's ``bin`` first on ``PATH``. ``s3://media``
is moto's S3 server, reached through ``AWS_ENDPOINT_URL`` (which botocore honours).
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import hmac
import inspect
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from components import moto_s3_server, redis_server, wait_until  # noqa: F401 (fixtures)

from prefect_firework import __version__
from prefect_firework.sandbox import Sandbox
from prefect_firework.sandbox.media import make_mp4

#: tests that need a Prefect API: the session's test server (started on first use)
server = pytest.mark.prefect_server

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
RESULT = "README-RESULT "

# ------------------------------------------------------------------------- the blocks


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, the heading it sits under and its index there."""

    heading: str
    index: int
    lang: str
    code: str

    @property
    def ident(self) -> str:
        return f"{self.heading} #{self.index}"


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of README.md (or ``text``), in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    heading = ""
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip()
            body: list[str] = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            index = counts.get(heading, 0)
            counts[heading] = index + 1
            blocks.append(Block(heading, index, lang, "\n".join(body) + "\n"))
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        i += 1
    return blocks


def block(ident: str) -> Block:
    """The README block ``ident`` as it is now; fails if it is gone."""
    found = {b.ident: b for b in readme_blocks()}
    assert ident in found, f"README block {ident!r} is gone; update DISPOSITIONS and its test"
    return found[ident]


def substitute(code: str, table: Mapping[str, str]) -> str:
    """Apply exactly the placeholder substitutions in ``table``; each must match."""
    for old, new in table.items():
        assert old in code, f"placeholder {old!r} is no longer in the README block:\n{code}"
        code = code.replace(old, new)
    return code


def commands(code: str) -> list[str]:
    """The logical lines of a shell block (continuations joined), comment-only lines dropped."""
    out: list[str] = []
    current = ""
    for line in code.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.endswith("\\"):
            out.append(current.rstrip("\n"))
            current = ""
    assert not current, "a shell block ends in a continuation"
    return out


#: every block of README.md and what this module does with it: "run by <test>", "checked by
#: <test>" (compared with what a named test runs, or with the code it documents), or "not run:
#: <reason>"
DISPOSITIONS: dict[str, str] = {
    "Two commands #0": "checked by test_two_commands_are_the_makefile_targets: `make demo` is "
    "`prefect-firework demo`, which tests/test_demo.py runs; `make test` is this suite itself",
    "Two commands #1": "not run: the demo's output table (tests/test_demo.py checks its words)",
    "Quick start #0": "run by test_quick_start",
    "Command line #0": "run by test_command_line",
    "The client, from a notebook #0": "run by test_the_client_from_a_notebook",
    "`upload_video` and `import_video` #0": "checked by test_signature_listings: a listing of "
    "signatures, not code; compared with the flows' real signatures",
    "Batch flows: `upload_videos`, `import_videos`, `update_videos`, `get_videos` #0": "checked by "
    "test_signature_listings: a listing of signatures, not code; compared with the real ones",
    "Dry run #0": "not run: example output of a dry run (tests/batch check its wording)",
    "Pacing #0": "checked by test_pacing_block_is_the_several_machines_command: the same "
    "command as 'Bigger than one machine #3', which test_several_machines_recipe runs",
    "Deployments #0": "run by test_zero_to_a_nightly_upload (steps 2-5 and the README's "
    "`prefect deployment run`; step 1 is the session's test server, already running)",
    "Bigger than one machine #0": "run by test_dask_recipe",
    "Bigger than one machine #1": "checked by test_ray_recipe_is_what_test_ray_runs: "
    "tests/deployments/test_ray.py starts this head (on free ports) for its run",
    "Bigger than one machine #2": "checked by test_ray_recipe_is_what_test_ray_runs: the call "
    "tests/deployments/test_ray.py makes on its Ray cluster (a second cluster here is heavy)",
    "Bigger than one machine #3": "run by test_several_machines_recipe",
    "Bigger than one machine #4": "run by test_several_machines_recipe",
    "Webhooks #0": "run by test_webhook_receiver",
    "Webhooks #1": "run by test_webhook_receiver (prelude: the imports and a Starlette `app`)",
    "Webhooks #2": "run by test_import_failed_automation",
    "Sandbox #0": "run by test_sandbox_and_curl",
}


def test_every_readme_block_has_a_disposition() -> None:
    """A README block added without a disposition here fails: none goes unrun unnoticed."""
    idents = [b.ident for b in readme_blocks()]
    assert len(idents) == len(set(idents)), "two blocks with one identity"
    assert sorted(idents) == sorted(DISPOSITIONS), (
        "a README block without a disposition here, or a disposition for a block that is gone"
    )
    tests = globals()
    for ident, disposition in DISPOSITIONS.items():
        kind, _, rest = disposition.partition(" ")
        assert kind in {"run", "checked", "not"}, ident
        if kind in {"run", "checked"}:
            name = rest.removeprefix("by ").split()[0].rstrip(":")
            assert name in tests and name.startswith("test_"), (ident, name)
            # and that test reads this very block
            heading = ident.rsplit(" #", 1)[0]
            assert heading in inspect.getsource(tests[name]), (ident, name)


def test_the_parser_sees_headings_languages_and_indices() -> None:
    """The identities and substitutions the other tests rely on, on a small text."""
    text = "# A\n```bash\necho 1\n```\n## B\n```python\nx = 1\n```\n```\nout\n```\n"
    assert readme_blocks(text) == [
        Block("A", 0, "bash", "echo 1\n"),
        Block("B", 0, "python", "x = 1\n"),
        Block("B", 1, "", "out\n"),
    ]
    with pytest.raises(AssertionError, match="no longer in the README"):
        substitute("a = 1", {'client_id="..."': "x"})
    assert commands("# c\nls \\\n  -l   # x\n\necho\n") == ["ls \\\n  -l   # x", "echo"]


# ------------------------------------------------------------------------- running them


@dataclass
class Env:
    """What the processes of one test get: a Prefect home, an API, moto as S3."""

    home: Path
    api_url: str
    s3_endpoint: str
    extra: dict[str, str]

    def vars(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREWORK_", "AWS_"))}
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_CLI_PROMPT="false",
            PYTHONUNBUFFERED="1",
            COLUMNS="400",  # rich never folds a key or an id across lines
            AWS_ENDPOINT_URL=self.s3_endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            # the flows' pacer and polling, matched to the module's sandbox
            FIREWORK_RATE_LIMIT_CREATES="1000",
            FIREWORK_RATE_LIMIT_WINDOW="60",
            FIREWORK_POLL_INTERVAL="0.2",
        )
        if self.api_url:
            env["PREFECT_API_URL"] = self.api_url
        env.update(self.extra)
        return env


def results_in(output: str) -> dict[str, Any]:
    """What an epilogue printed (one ``README-RESULT {json}`` line)."""
    found = [line[len(RESULT) :] for line in output.splitlines() if line.startswith(RESULT)]
    assert len(found) == 1, output[-3000:]
    return json.loads(found[0])


def run_python(
    code: str, env: Env, cwd: Path, *, prelude: str = "", epilogue: str = "", timeout: float = 180
) -> str:
    """Run a Python block in a fresh interpreter (from a file: tracebacks name its lines)."""
    script = cwd / f"readme_block_{uuid.uuid4().hex[:6]}.py"
    script.write_text(prelude + code + epilogue)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env.vars(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"the README block failed:\n{code}\n{output[-4000:]}"
    return done.stdout


def run_shell(
    command: str, env: Env, cwd: Path, *, expect: int = 0, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run one shell line of a block in bash; assert its exit code."""
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-ec", command],
        cwd=cwd,
        env=env.vars(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == expect, (
        f"{command}\nexited {done.returncode}, not {expect}:\n{(done.stdout + done.stderr)[-4000:]}"
    )
    return done


class Background:
    """A long-running line of a block (a server, a worker), in its own process group; a
    thread drains its output (a full pipe would stall it) into ``lines``."""

    def __init__(self, command: str, env: Env, cwd: Path) -> None:
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=cwd,
            env=env.vars(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, pattern: str, *, timeout: float = 90, after: int = 0) -> re.Match[str]:
        """The first line from index ``after`` on that matches ``pattern``."""
        def probe() -> re.Match[str] | None:
            for line in self.lines[after:]:
                found = re.search(pattern, line)
                if found:
                    return found
            assert self.process.poll() is None, f"exited {self.process.poll()}:\n{self.output()}"
            return None

        deadline = time.monotonic() + timeout
        while (found := probe()) is None:
            assert time.monotonic() < deadline, f"no {pattern!r} in {timeout} s:\n{self.output()}"
            time.sleep(0.05)
        return found

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 30) -> int:
        """Signal it, wait for it (SIGKILL after ``timeout``), then end what it left behind in
        its process group (which this test made)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(timeout=10)
        return self.process.returncode


# ------------------------------------------------------------------------- fixtures


@pytest.fixture
def api_url() -> str:
    """The session's test server for tests marked ``server``; else none (blocks that need no
    Prefect API, or start their own)."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value() or "")


@pytest.fixture
def env(tmp_path: Path, api_url: str, moto_s3_server: Any) -> Env:  # noqa: F811
    """A fresh Prefect home on the session's test server; ``s3://media`` is moto."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    return Env(home, api_url, moto_s3_server.endpoint, {})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def credentials_table(sb: Sandbox, quote: str) -> dict[str, str]:
    """``client_id=…, client_secret=…`` -> the sandbox's, plus its ``base_url``."""
    q = quote
    return {
        f"client_id={q}...{q}, client_secret={q}...{q}": f"client_id={q}{sb.client_id}{q}, "
        f"client_secret={q}{sb.client_secret}{q}, base_url={q}{sb.base_url}{q}"
    }


def s3_manifest(
    moto: Any, sb: Sandbox, media: Path, key: str, count: int, prefix: str
) -> list[str]:
    """A Parquet manifest at ``s3://media/<key>`` of ``count`` MP4s also on s3://media."""
    rows = []
    for i in range(count):
        path = make_mp4(media / f"{prefix}{i}.mp4", 4, size=60_000 + i, seed=31 + i + len(prefix))
        source = moto.put(f"videos/{prefix}{i}.mp4", path)
        channel = sb.channel_ids[i % 2]
        rows.append({"source": source, "channel_id": channel, "caption": f"{prefix}{i}"})
    buffer = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buffer, index=False)
    moto.client.put_object(Bucket="media", Key=key, Body=buffer.getvalue())
    return [r["caption"] for r in rows]


def read_s3_parquet(moto: Any, key: str) -> pd.DataFrame:
    body = moto.client.get_object(Bucket="media", Key=key)["Body"].read()
    return pd.read_parquet(io.BytesIO(body))


def captions(sb: Sandbox) -> list[str]:
    return sorted(v["caption"] for v in sb.videos())


def delete_blocks(*slugs: str) -> None:
    """Free block names a block saves without ``overwrite`` (the session's server is shared)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for slug in slugs:
            block_type, name = slug.split("/")
            try:
                document = client.read_block_document_by_name(name, block_type)
            except ObjectNotFound:
                continue
            client.delete_block_document(document.id)


def delete_work_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectNotFound):
        client.delete_work_pool(name)


def delete_gcl(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectNotFound):
        client.delete_global_concurrency_limit_by_name(name)


# ------------------------------------------------------------------------- the tests


def test_two_commands_are_the_makefile_targets() -> None:
    """`make demo`/`make test` are the Makefile's; running them here would nest the suite."""
    lines = commands(block("Two commands #0").code)
    assert [line.split("#")[0].split() for line in lines] == [["make", "demo"], ["make", "test"]]
    makefile = (REPO / "Makefile").read_text()
    demo = re.search(r"^demo: .*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    test = re.search(r"^test: (.*)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert demo and demo.group(1).strip() == "$(BIN)/prefect-firework demo"
    assert test and "lint" in test.group(1) and "-m pytest" in test.group(2)
    demo_test = (REPO / "tests" / "test_demo.py").read_text()
    assert '"demo"]' in demo_test and "returncode == 0" in demo_test


@server
def test_quick_start(sb: Sandbox, env: Env, workdir: Path, moto_s3_server: Any) -> None:  # noqa: F811
    moto = moto_s3_server
    moto.put("launch.mp4", make_mp4(workdir / "launch.mp4", 4, size=70_000, seed=5))
    rows = s3_manifest(moto, sb, workdir, "manifests/2026-11-27.parquet", 2, "quick")
    moto.client.delete_object(Bucket="media", Key="manifests/2026-11-27.results.parquet")
    code = substitute(
        block("Quick start #0").code,
        {**credentials_table(sb, '"'), '"X6Xqd6W"': f'"{sb.channel_id}"'},
    )
    epilogue = (
        "\nimport json\n"
        f"print({RESULT!r} + json.dumps({{'video': video.id, "
        "'statuses': list(results['status']), 'ids': list(results['video_id'])}))\n"
    )
    out = results_in(run_python(code, env, workdir, epilogue=epilogue))

    assert captions(sb) == sorted(["Launch day", *rows])
    launch = sb.video(out["video"])
    assert launch["caption"] == "Launch day" and launch["channel_id"] == sb.channel_id
    assert out["statuses"] == ["created", "created"]
    written = read_s3_parquet(moto, "manifests/2026-11-27.results.parquet")
    assert list(written["status"]) == ["created", "created"]
    assert list(written["video_id"]) == out["ids"]
    assert sorted(sb.video(i)["caption"] for i in out["ids"]) == rows


def test_the_client_from_a_notebook(workdir: Path, env: Env) -> None:
    """The client alone, on a sandbox the block starts and stops itself."""
    """Saves the block, uploads an S3 file and an S3 manifest; sandbox and results agree."""
    epilogue = (
        "\nimport json, os\n"
        f"print({RESULT!r} + json.dumps({{'id': video.id, 'caption': video.caption, "
        "'key': sig.key, 'running': sb.running, "
        "'size': os.path.getsize('clip.mp4')}))\n"
    )
    out = results_in(run_python(block("The client, from a notebook #0").code, env, workdir,
                                epilogue=epilogue))  # fmt: skip
    assert out["id"] and out["caption"] == "Hi"
    assert out["key"].endswith("clip.mp4") and out["running"] is False
    assert out["size"] == 64 * 1024


def _listed(listing: str) -> list[tuple[str, list[str]]]:
    """``name(params) -> ret`` entries of a signature listing (each starts a line, its
    continuation lines are indented), params as written."""
    entries = re.split(r"\n(?=\S)", listing.strip())
    parsed = []
    for entry in entries:
        found = re.fullmatch(r"(\w+)\((.*)\) -> [\w. |]+", " ".join(entry.split()))
        assert found, f"not a signature: {entry!r}"
        parsed.append((found.group(1), [p.strip() for p in found.group(2).split(",")]))
    return parsed


def test_signature_listings() -> None:
    """The listings name the flows' real parameters, in order, with their defaults."""
    from prefect_firework import flows

    batch = "Batch flows: `upload_videos`, `import_videos`, `update_videos`, `get_videos` #0"
    listings = [block("`upload_video` and `import_video` #0").code, block(batch).code]
    seen = []
    for listing in listings:
        for name, params in _listed(listing):
            seen.append(name)
            real = inspect.signature(getattr(flows, name).fn).parameters
            names = list(real)
            position = -1
            keyword_only = False
            for param in params:
                if param in {"*", "..."}:
                    keyword_only = keyword_only or param == "*"
                    continue
                pname, _, default = param.partition("=")
                assert pname in real, f"{name}: no parameter {pname!r}"
                assert names.index(pname) > position, f"{name}: {pname!r} out of order"
                position = names.index(pname)
                kind = real[pname].kind
                assert (kind is inspect.Parameter.KEYWORD_ONLY) == keyword_only, (name, pname)
                if default:
                    assert real[pname].default == ast.literal_eval(default), (name, pname)
                else:
                    assert real[pname].default is inspect.Parameter.empty, (name, pname)
            if "..." not in params:
                listed = [p.partition("=")[0] for p in params if p != "*"]
                assert listed == names, f"{name}: the listing is not the whole signature"
    assert seen == ["upload_video", "import_video", "upload_videos", "import_videos",
                    "update_videos", "get_videos"]  # fmt: skip


@server
def test_command_line(sb: Sandbox, env: Env, workdir: Path, tmp_path: Path) -> None:
    """Every line of the block, in order, against the module's sandbox."""
    from prefect_firework.batch._ledger import Ledger, LedgerEntry

    make_mp4(workdir / "launch.mp4", 4, size=60_000, seed=1)
    make_mp4(workdir / "teaser.mp4", 4, size=61_000, seed=2)
    served = make_mp4(tmp_path / "served" / "unboxing.mp4", 4, size=62_000, seed=3)
    url = sb.serve_files(served.parent).rstrip("/") + "/unboxing.mp4"
    manifest = workdir / "manifests" / "2026-11-27.csv"
    manifest.parent.mkdir()
    batch_rows = [
        {"source": str(make_mp4(workdir / f"b{i}.mp4", 4, size=63_000 + i, seed=9 + i)),
         "channel_id": sb.channel_id, "caption": f"batch{i}"}
        for i in range(2)
    ]  # fmt: skip
    pd.DataFrame(batch_rows).to_csv(manifest, index=False)
    env.extra.update(
        FIREWORK_CLIENT_ID=sb.client_id,
        FIREWORK_CLIENT_SECRET=sb.client_secret,
        FIREWORK_BASE_URL=sb.base_url,
    )
    key = "readme-creating-row"
    code = block("Command line #0").code
    resolved = re.search(r'# "(<key>: creating -> created \(video <id>\))"', code)
    assert resolved, "the README says what `ledger resolve` prints"
    lines = commands(code)
    assert len(lines) == 8, lines
    upload, import_, batch, dry_run, listing, show, resolve, version = lines

    done = run_shell(substitute(upload, {"X6Xqd6W": sb.channel_id}), env, workdir)
    uploaded = [v for v in sb.videos() if v["caption"] == "Launch day"]
    assert len(uploaded) == 2, done.stdout
    assert all(v["hashtags"] == ["launch"] for v in uploaded), uploaded
    assert all(v["custom_fields"].get("team") == "video" for v in uploaded), uploaded
    assert all(v["id"] in done.stdout for v in uploaded) and "created" in done.stdout

    table = {"https://cdn.example.com/unboxing.mp4": url, "X6Xqd6W": sb.channel_id}
    done = run_shell(substitute(import_, table), env, workdir)
    [imported] = [v for v in sb.videos() if v["caption"] == "Unboxing"]
    assert imported["id"] in done.stdout and "imported" in done.stdout

    done = run_shell(batch, env, workdir)
    results = pd.read_csv(workdir / "results.csv")
    assert list(results["status"]) == ["created", "created"], done.stdout
    assert "2 rows: 2 created" in done.stdout
    assert sorted(sb.video(v)["caption"] for v in results["video_id"]) == ["batch0", "batch1"]

    videos = len(sb.videos())
    done = run_shell(dry_run, env, workdir)
    assert "nothing was sent to Firework" in done.stdout and "done" in done.stdout
    assert len(sb.videos()) == videos

    # a row a crash left `creating`, in the default ledger (Prefect's result storage)
    Ledger(env.home / "storage").put(LedgerEntry(key=key, status="creating"))
    done = run_shell(listing, env, workdir)
    assert re.search(rf"{key}\s.*creating", done.stdout), done.stdout
    done = run_shell(substitute(show, {"<key>": key}), env, workdir)
    assert key in done.stdout and "creating" in done.stdout
    video_id = imported["id"]
    table = {"<key>": key, "<id>": video_id}
    done = run_shell(substitute(resolve, table), env, workdir)
    assert done.stdout.strip() == substitute(resolved.group(1), table)
    settled = Ledger(env.home / "storage").get(key)
    assert settled is not None and (settled.status, settled.video_id) == ("created", video_id)
    assert run_shell(version, env, workdir).stdout.strip() == f"prefect-firework {__version__}"


@pytest.fixture
def dask_cluster(moto_s3_server: Any, api_url: str, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    """A Dask worker process on 127.0.0.1 that reaches the Prefect API and moto's S3 (one is
    enough to show the tasks leave the flow's process; test_distributed.py runs two)."""
    import distributed

    home = tmp_path / "dask-home"
    home.mkdir()
    worker_env = Env(home, api_url, moto_s3_server.endpoint, {}).vars()
    worker_env = {k: v for k, v in worker_env.items() if k.startswith(("AWS_", "PREFECT_"))}
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=4, processes=True, host="127.0.0.1",
        dashboard_address=None, env=worker_env,
    ) as cluster:  # fmt: skip
        yield cluster


def _executed(cluster: Any) -> int:
    import distributed

    with distributed.Client(cluster, set_as_default=False) as client:
        counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return sum(counts.values())


@server
def test_dask_recipe(
    sb: Sandbox, env: Env, workdir: Path, moto_s3_server: Any, dask_cluster: Any  # noqa: F811
) -> None:
    """The Dask recipe on a real cluster: the rows' tasks ran in the worker process."""
    from prefect_firework.blocks import FireworkCredentials

    rows = s3_manifest(moto_s3_server, sb, workdir, "manifests/2026-11-27.parquet", 2, "dask")

    FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    ).save("firework", overwrite=True)  # what "Quick start" saved
    code = substitute(
        block("Bigger than one machine #0").code,
        {'"tcp://scheduler:8786"': repr(dask_cluster.scheduler_address)},
    )
    before = _executed(dask_cluster)
    run_python(code, env, workdir)
    assert captions(sb) == rows
    # the rows' tasks ran on the workers: upload_single and create_video per row
    assert _executed(dask_cluster) - before >= 2 * len(rows)


def test_pacing_block_is_the_several_machines_command() -> None:
    """Its one command is run by test_several_machines_recipe."""
    [pacing] = commands(block("Pacing #0").code)
    assert pacing == commands(block("Bigger than one machine #3").code)[0]


@server
def test_several_machines_recipe(
    sb: Sandbox, env: Env, workdir: Path, moto_s3_server: Any, redis_server: Any  # noqa: F811
) -> None:
    """The once-only set-up (limit, blocks) and one machine's script, on redis and moto."""
    from prefect.client.orchestration import get_client

    from prefect_firework.batch import gcl_parameters

    shell = commands(block("Bigger than one machine #3").code)
    assert len(shell) == 3, shell
    limit_name = f"firework-create-{sb.channel_id}"
    # the names the block creates, free as on a new server
    delete_blocks("firework-credentials/firework", "s3-bucket/firework-ledger")
    delete_gcl(limit_name)
    rows = s3_manifest(moto_s3_server, sb, workdir, "manifests/2026-11-27-a.parquet", 1, "m")
    ledger_keys = {o["Key"] for o in moto_s3_server.client.list_objects_v2(
        Bucket="firework-ledger").get("Contents", [])}  # fmt: skip
    try:
        tables = [{"X6Xqd6W": sb.channel_id}, credentials_table(sb, "'"), {}]
        for line, table in zip(shell, tables, strict=True):
            run_shell(substitute(line, table), env, workdir)
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(limit_name)
        assert (limit.limit, limit.slot_decay_per_second) == (1, 0.0612)
        assert gcl_parameters(20, 300) == (1, 0.0612)  # what the block's comment says

        code = substitute(
            block("Bigger than one machine #4").code,
            {'host="redis", port=6379': f'host="{redis_server.host}", port={redis_server.port}'},
        )
        run_python(code, env, workdir)
        assert captions(sb) == rows
        written = {o["Key"] for o in moto_s3_server.client.list_objects_v2(
            Bucket="firework-ledger").get("Contents", [])} - ledger_keys  # fmt: skip
        assert written, "the row's ledger entry is in the S3Bucket block's bucket"
    finally:
        delete_gcl(limit_name)


def test_ray_recipe_is_what_test_ray_runs() -> None:
    """A second Ray cluster is heavy: the block is the call test_ray.py runs."""
    source = (REPO / "tests" / "deployments" / "test_ray.py").read_text()
    [start] = commands(block("Bigger than one machine #1").code)
    argv = start.split("#")[0].split()
    assert argv[:2] == ["ray", "start"]
    for flag in ("--head", "--port", "--num-cpus"):
        assert f'"{flag}"' in source, flag
    assert re.search(r'"--num-cpus", "2"', source)

    def runner_call(tree: ast.AST) -> tuple[str, list[str]]:
        """``upload_videos.with_options(task_runner=RayTaskRunner(...))(...)``: its keywords."""
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Call)
                and ast.unparse(node.func.func) == "upload_videos.with_options"
            ):
                [kw] = node.func.keywords
                runner = kw.value
                assert isinstance(runner, ast.Call)
                return (
                    f"{kw.arg}={ast.unparse(runner.func)}({runner.keywords[0].arg}=)",
                    sorted(k.arg for k in node.keywords if k.arg),
                )
        raise AssertionError("no upload_videos.with_options(...)(...) call")

    readme = runner_call(ast.parse(block("Bigger than one machine #2").code))
    tested = runner_call(ast.parse(source))
    assert readme[0] == tested[0] == "task_runner=RayTaskRunner(address=)"
    assert set(readme[1]) <= set(tested[1]), (readme, tested)
    assert "from prefect_ray import RayTaskRunner" in block("Bigger than one machine #2").code


def _signed(secret: str, body: bytes) -> dict[str, str]:
    """``FW-Webhooks-Signature`` written out here, independently of the receiver."""
    t = str(int(time.time() * 1000))
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).digest()
    signature = f"t={t},v1={base64.b64encode(mac).decode()}"
    return {"Content-Type": "application/json", "FW-Webhooks-Signature": signature}


def _delivery(video_id: str) -> bytes:
    doc = {"id": f"evt_{uuid.uuid4().hex}", "event_type": "video_updated",
           "created_at": "2026-11-27T00:00:00Z", "data": {"video_id": video_id}}  # fmt: skip
    return json.dumps(doc).encode()


def _stored_events(resource_id: str, timeout: float = 30) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventResourceFilter
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def read() -> list[Any]:
        async with get_client() as client:
            page = await client.read_events(
                EventFilter(resource=EventResourceFilter(id=[resource_id])), limit=10
            )
            return page.events

    return wait_until(
        lambda: run_coro_as_sync(read()), timeout=timeout, what=resource_id, every=0.2
    )


@server
def test_webhook_receiver(env: Env, workdir: Path) -> None:
    """Save the secret, serve it, deliver a signed webhook; then the receiver in an app."""
    secret = "whsec_" + secrets.token_urlsafe(24)
    save, serve = commands(block("Webhooks #0").code)
    delete_blocks("firework-webhook-secret/firework-hooks")
    run_shell(substitute(save, {"whsec_...": secret}), env, workdir)

    receiver = Background(substitute(serve, {"--port 8780": "--port 0"}), env, workdir)
    try:
        url = receiver.wait_for_line(r"receiver on (http://\S+)").group(1)
        body = _delivery("VREADME1")
        assert httpx.post(url, content=body, headers=_signed(secret, body)).status_code == 202
        other = _delivery("VREADME1")
        refused = httpx.post(url, content=other, headers=_signed("whsec_other", other))
        assert refused.status_code == 401
    finally:
        assert receiver.stop() == 0, "".join(receiver.lines)
    assert secret not in "".join(receiver.lines)
    [event] = _stored_events("firework.video.VREADME1")
    assert event.event == "firework.video.updated"

    # the same receiver in one's own Starlette app, from the block saved above
    prelude = (
        "from starlette.applications import Starlette\n"
        "from prefect_firework.blocks import FireworkWebhookSecret\n"
        "app = Starlette()\n"
    )
    body = _delivery("VREADME2")
    epilogue = (
        "\nimport json\nfrom starlette.testclient import TestClient\n"
        f"response = TestClient(app).post('/webhooks/firework', content={body!r}, "
        f"headers={_signed(secret, body)!r})\n"
        f"print({RESULT!r} + json.dumps({{'status': response.status_code}}))\n"
    )
    out = run_python(block("Webhooks #1").code, env, workdir, prelude=prelude, epilogue=epilogue)
    assert results_in(out) == {"status": 202}
    [event] = _stored_events("firework.video.VREADME2")
    assert event.event == "firework.video.updated"


@server
def test_import_failed_automation(env: Env, workdir: Path) -> None:
    """The automation is stored, running url-imports with the URL template."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:  # the deployment the automation runs
        try:
            deployment_id = client.read_deployment_by_name("import-manifest/url-imports").id
        except ObjectNotFound:
            flow_id = client.create_flow_from_name("import-manifest")
            deployment_id = client.create_deployment(flow_id=flow_id, name="url-imports")
    name = "firework-retry-failed-imports"

    def ours() -> list[Any]:
        with get_client(sync_client=True) as client:
            return client.read_automations_by_name(name)

    before = {a.id for a in ours()}
    try:
        run_python(block("Webhooks #2").code, env, workdir)
        [created] = [a for a in ours() if a.id not in before]
        [action] = created.actions
        assert action.deployment_id == deployment_id
        assert action.parameters == {"url": "{{ event.payload.url }}"}
        assert created.trigger.expect == {"firework.video.import_failed"}
    finally:
        with get_client(sync_client=True) as client:
            for automation in ours():
                if automation.id not in before:
                    client.delete_automation(automation.id)


def test_sandbox_and_curl(env: Env, workdir: Path) -> None:
    """The CLI sandbox and the curl lines: a token, then an upload signature."""
    from prefect_firework.models import UploadSignature

    assert shutil.which("jq"), "the README's curl block pipes the token through jq"
    start, *curl = commands(block("Sandbox #0").code)
    ports = {"prefect-firework sandbox ": "prefect-firework sandbox --port 0 --s3-port 0 "}
    start = substitute(start, ports)
    sandbox = Background(start, env, workdir)
    try:
        sandbox.wait_for_line(r"^inspect: ")  # the banner's last lines: all of it is out
        banner = re.findall(r"^(\w+): (\S+)$", sandbox.output(), re.MULTILINE)
        values = dict(banner)
        env.extra.update(
            CLIENT_ID=values["client_id"],
            CLIENT_SECRET=values["client_secret"],
            CHANNEL_ID=values["channel_id"],
        )
        script = substitute("\n".join(curl), {"http://127.0.0.1:8765": values["base_url"]})
        signature = UploadSignature.model_validate_json(run_shell(script, env, workdir).stdout)
        assert signature.key.endswith("a.mp4") and signature.post_url.startswith(values["s3_url"])
        requests = httpx.get(f"{values['base_url']}/_sandbox/requests", timeout=10).json()
        assert [r["endpoint"] for r in requests][-2:] == ["token", "upload_signature"], requests
    finally:
        assert sandbox.stop(signal.SIGINT) == 0, "".join(sandbox.lines)


@server
def test_zero_to_a_nightly_upload(
    sb: Sandbox, env: Env, workdir: Path, moto_s3_server: Any  # noqa: F811
) -> None:
    """Steps 2-5 and `prefect deployment run`: the run completes, the videos exist."""
    text = " ".join(README.read_text().split())
    run_now = "prefect deployment run 'upload-manifest/nightly-manifest-upload' -p date=2026-11-27"
    assert f"`{run_now}` runs it now" in text, "the README's way to run the deployment now"
    assert "first `prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`" in text
    server_line, save, pool, deploy, worker_line = commands(block("Deployments #0").code)
    rows = s3_manifest(moto_s3_server, sb, workdir, "manifests/2026-11-27.parquet", 2, "nightly")
    moto_s3_server.client.delete_object(Bucket="media", Key="manifests/2026-11-27.results.parquet")

    # step 1 is the session's test server (the same server app, already up: a second
    # `prefect server start` costs 20-120 s on a loaded 2-core machine); the names steps 2-3
    # create are freed first, as on a new server
    assert server_line.split("#")[0].split() == ["prefect", "server", "start"]
    delete_blocks("firework-credentials/firework")
    delete_work_pool("firework-process")
    env.extra.update(PREFECT_WORKER_QUERY_SECONDS="1")
    worker: Background | None = None
    try:
        run_shell(substitute(save, credentials_table(sb, "'")), env, workdir)
        run_shell(pool, env, workdir)
        run_shell(deploy, env, REPO)
        worker = Background(worker_line, env, workdir)
        done = run_shell(run_now, env, workdir)
        flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
        assert flow_run_id, done.stdout

        def finished() -> dict[str, Any] | None:
            run = httpx.get(f"{env.api_url}/flow_runs/{flow_run_id.group(1)}", timeout=10).json()
            final = run["state"]["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
            return run if final else None

        run = wait_until(finished, timeout=180, what="the deployment's flow run", every=0.5)
        assert run["state"]["type"] == "COMPLETED", (run["state"], "".join(worker.lines[-40:]))
        assert run["parameters"]["manifest"] == "s3://media/manifests/{date}.parquet"
        assert run["parameters"]["credentials"] == "firework"
    finally:
        if worker is not None:
            worker.stop()
    assert captions(sb) == rows
    written = read_s3_parquet(moto_s3_server, "manifests/2026-11-27.results.parquet")
    assert list(written["status"]) == ["created", "created"]


def test_the_first_make_says_what_it_is_doing() -> None:
    """`make demo` / `make test` on a fresh clone spend about a minute installing from the
    lock: the first line they print must say so, not leave the terminal silent."""
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^\$\(STAMP\): .*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "no $(STAMP) rule"
    first = recipe.group(1).splitlines()[0].strip()
    assert first.startswith("@echo") and "requirements.lock" in first and "first run" in first
