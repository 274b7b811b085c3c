"""Bad input through the flow: every row ``invalid`` (or a precise error), no crash, and not one
request to Firework for a row that is refused.

``tests/batch/test_manifest_corpus.py`` fuzzes the manifest *parser*; here the same kinds
of input go through ``upload_videos`` against the sandbox, with real files (0 B, 24 KB, 2 s and
61 min containers, a text file named ``.mp4``...), and the sandbox's request log is the judge.
A named corpus first, then file-level cases, then hypothesis-generated manifests that mix good
rows with bad cells. ``RELIABILITY_SOAK=1`` (``make soak``) raises the number of generated
manifests from 10 to 150.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flow_results import results_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import assert_accounting, count, mp4

from prefect_firework.batch import RESULT_COLUMNS, UPLOAD_COLUMNS
from prefect_firework.batch._ledger import Ledger
from prefect_firework.errors import ManifestError
from prefect_firework.flows import upload_videos
from prefect_firework.sandbox.media import make_mp4, pad_to_size, set_mp4_duration

pytestmark = pytest.mark.prefect_server

SOAK = bool(os.environ.get("RELIABILITY_SOAK"))
EXAMPLES = 150 if SOAK else 10


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad-media")
    files = {
        "ok": mp4(d / "ok.mp4", size=40_000, seed=1),
        "ok2": mp4(d / "ok2.mp4", size=41_000, seed=2),
        "mov": mp4(d / "ok.mov", size=42_000, seed=3),
        "short": mp4(d / "short.mp4", size=40_000, seed=4),
        "long": mp4(d / "long.mp4", size=40_000, seed=5),
        "missing": str(d / "missing.mp4"),
        "avi": str(d / "clip.avi"),
        "gif": str(d / "poster.gif"),
        "noext": str(d / "clip"),
    }
    set_mp4_duration(files["short"], 2.0)
    set_mp4_duration(files["long"], 61 * 60)
    tiny = make_mp4(d / "tiny.mp4", 4, seed=6)
    pad_to_size(tiny, 24 * 1024)  # a real 4 s MP4 of 24 KB: under the 25 KB minimum
    files["tiny"] = str(tiny)
    (d / "zero.mp4").write_bytes(b"")
    files["zero"] = str(d / "zero.mp4")
    (d / "text.mp4").write_bytes(b"not a video at all\n" * 3000)
    files["text"] = str(d / "text.mp4")
    for name in ("avi", "gif", "noext"):
        shutil.copyfile(files["ok"], files[name])
    return files


@pytest.fixture
def served(sb, media, tmp_path) -> str:
    directory = tmp_path / "served"
    directory.mkdir()
    shutil.copyfile(media["ok"], directory / "clip.mp4")
    return sb.serve_files(directory).rstrip("/") + "/clip.mp4"


def corpus(sb: Any, media: dict[str, str], served: str) -> list[tuple[str, dict[str, Any], str]]:
    """(name, row, column the error must name): every kind of bad input issue 6 lists."""
    good = {"source": media["ok"], "channel_id": sb.channel_id, "caption": "good"}
    url = {"url": served, "channel_id": sb.channel_id, "caption": "good"}
    return [
        ("caption is a number", {**good, "caption": 123}, "caption"),
        ("caption missing", {"source": media["ok"], "channel_id": sb.channel_id}, "caption"),
        ("channel_id is a list", {**good, "channel_id": ["a"]}, "channel_id"),
        ("hashtags is a number", {**good, "hashtags": 7}, "hashtags"),
        ("audio_disabled is a word", {**good, "audio_disabled": "maybe"}, "audio_disabled"),
        ("archived_at is not a date", {**good, "archived_at": "someday"}, "archived_at"),
        ("access is unknown", {**good, "access": "secret"}, "access"),
        ("extension .avi", {**good, "source": media["avi"]}, "source"),
        ("extension .gif", {**good, "source": media["gif"]}, "source"),
        ("no extension", {**good, "source": media["noext"]}, "source"),
        ("file of 0 B", {**good, "source": media["zero"]}, "source"),
        ("file of 24 KB", {**good, "source": media["tiny"]}, "source"),
        ("video of 2 s", {**good, "source": media["short"]}, "source"),
        ("video of 61 min", {**good, "source": media["long"]}, "source"),
        ("text named .mp4", {**good, "source": media["text"]}, "source"),
        ("file missing", {**good, "source": media["missing"]}, "source"),
        ("custom_fields capitals", {**good, "custom_fields": {"Sku": "1"}}, "custom_fields"),
        ("custom_fields space", {**good, "custom_fields": {"a b": "1"}}, "custom_fields"),
        (
            "custom_fields 256-char key",
            {**good, "custom_fields": {"k" * 256: "1"}},
            "custom_fields",
        ),
        (
            "custom_fields 1025-char value",
            {**good, "custom_fields": {"k": "v" * 1025}},
            "custom_fields",
        ),
        ("custom_fields a list", {**good, "custom_fields": '["a"]'}, "custom_fields"),
        ("url without a dot", {**url, "url": "https://localhost/clip.mp4"}, "url"),
        ("url without a path", {**url, "url": "https://cdn.example.com"}, "url"),
        ("url without a scheme", {**url, "url": "cdn.example.com/clip.mp4"}, "url"),
        ("ftp url", {**url, "url": "ftp://cdn.example.com/clip.mp4"}, "url"),
        ("poster .gif", {**good, "poster_url": "https://cdn.example.com/p.gif"}, "poster_url"),
        (
            "attribution without external_media",
            {**good, "display_social_attributions": True},
            "display_social_attributions",
        ),
        (
            "external_media without url",
            {**good, "external_media": {"source": "tiktok"}},
            "external_media",
        ),
        ("product_ids not a list", {**good, "product_ids": "sku-1"}, "product_ids"),
        ("product_ids an object", {**good, "product_ids": {"a": "b"}}, "product_ids"),
        ("source and url", {**good, "url": served}, "source"),
        ("neither source nor url", {"channel_id": sb.channel_id, "caption": "c"}, "source"),
        ("async on a file row", {**good, "async": True}, "async"),
    ]


def _no_crash(error: str) -> None:
    for sign in ("Traceback", "TypeError", "KeyError", "AttributeError", "IndexError", "NoneType"):
        assert sign not in error, error


def test_named_corpus_is_refused_without_a_request(sb, media, served, ledger):
    cases = corpus(sb, media, served)
    frame = results_of(
        upload_videos,
        pd.DataFrame([row for _, row, _ in cases]),
        ledger=ledger,
        credentials=_creds(sb),
    )
    assert list(frame["row"]) == list(range(len(cases)))
    for (name, _, column), result in zip(cases, frame.to_dict("records"), strict=True):
        assert result["status"] == "invalid", (name, result)
        assert result["error"].startswith(f"row {result['row']}, column {column!r}: "), (
            name,
            result["error"],
        )
        _no_crash(result["error"])
    assert sb.requests == [], "an invalid row costs no request"


def test_file_level_bad_input(sb, media, tmp_path, ledger):
    creds = _creds(sb)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        f"source,channel_id,caption\n{media['ok']},{sb.channel_id},caf\xe9 cr\xe8me\n".encode(
            "latin-1"
        )
    )
    with pytest.raises(ManifestError, match="UTF-8"):
        upload_videos(str(latin1), credentials=creds, ledger=ledger)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("source,channel_id,caption\n")
    (tmp_path / "empty.jsonl").write_text("")
    for manifest in (
        str(tmp_path / "empty.csv"),
        str(tmp_path / "header.csv"),
        str(tmp_path / "empty.jsonl"),
        pd.DataFrame(),
    ):
        frame = upload_videos(manifest, credentials=creds, ledger=ledger)
        assert list(frame.columns) == RESULT_COLUMNS and frame.empty
    with pytest.raises(ManifestError, match="extension"):
        upload_videos(str(tmp_path / "manifest.xlsx"), credentials=creds, ledger=ledger)
    # a typo in a column name: every row refused, none silently uploaded without it
    typo = pd.DataFrame([{"source": media["ok"], "channel_id": sb.channel_id, "captoin": "x"}])
    frame = results_of(upload_videos, typo, credentials=creds, ledger=ledger)
    assert list(frame["status"]) == ["invalid"] and "captoin" in frame.loc[0, "error"]
    assert sb.requests == []
    # duplicate keys: the first row is uploaded, the second refused
    rows = [
        {"key": "same", "source": media["ok"], "channel_id": sb.channel_id, "caption": "a"},
        {"key": "same", "source": media["ok2"], "channel_id": sb.channel_id, "caption": "b"},
    ]
    frame = upload_videos(pd.DataFrame(rows), credentials=creds, ledger=ledger)
    assert list(frame["status"]) == ["created", "invalid"]
    assert "duplicate" in frame.loc[1, "error"] and frame.loc[1, "error"].startswith("row 1")
    assert count(sb, "create_video") == 1 and count(sb, "upload_signature") == 1


def _creds(sb: Any) -> Any:
    from prefect_firework.blocks import FireworkCredentials

    return FireworkCredentials(
        client_id=sb.client_id, client_secret=sb.client_secret, base_url=sb.base_url
    )


# -- generated manifests --------------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet='[]{}":,abc 0', max_size=20),
    st.lists(st.one_of(st.integers(), st.text(max_size=8)), max_size=3),
    st.dictionaries(
        st.text(max_size=12), st.one_of(st.text(max_size=12), st.integers()), max_size=3
    ),
)


def _cells(media: dict[str, str], served: str) -> dict[str, st.SearchStrategy[Any]]:
    """Per column: values known to be bad (and a few good ones), mixed with junk."""
    files = st.sampled_from(
        [
            media[k]
            for k in (
                "zero",
                "tiny",
                "short",
                "long",
                "text",
                "missing",
                "avi",
                "gif",
                "noext",
                "ok",
                "mov",
            )
        ]
    )
    urls = st.sampled_from(
        [
            served,
            "https://localhost/a.mp4",
            "https://cdn.example.com",
            "cdn.example.com/a.mp4",
            "ftp://cdn.example.com/a.mp4",
            "http://",
            "https://cdn.example.com/a b.mp4",
        ]
    )
    custom = st.sampled_from(
        [
            {"Sku": "1"},
            {"a b": "1"},
            {"k" * 256: "1"},
            {"k": "v" * 1025},
            '["a"]',
            "{not json",
            {"ok_key": "fine"},
            {},
        ]
    )
    return {
        "source": st.one_of(files, JUNK),
        "url": st.one_of(urls, JUNK),
        "async": st.one_of(st.sampled_from([True, "yes", "maybe"]), JUNK),
        "caption": st.one_of(st.sampled_from(["", " ", "x" * 300, "ok"]), JUNK),
        "channel_id": JUNK,
        "key": st.one_of(st.sampled_from(["dup", "dup", "k/../x"]), JUNK),
        "custom_fields": st.one_of(custom, JUNK),
        "poster_url": st.one_of(
            st.sampled_from(
                ["https://cdn.example.com/p.gif", "https://cdn.example.com/p.jpg", "p.png"]
            ),
            JUNK,
        ),
        "display_social_attributions": st.one_of(st.just(True), JUNK),
        "external_media": st.one_of(st.sampled_from([{"source": "tiktok"}, {"url": "x"}]), JUNK),
        "product_ids": st.one_of(st.sampled_from(["sku-1", '{"a": 1}', "[1, 2]"]), JUNK),
        "hashtags": JUNK,
        "access": st.one_of(st.sampled_from(["public", "private", "secret"]), JUNK),
        "archived_at": st.one_of(st.sampled_from(["2024-01-01T00:00:00Z", "someday"]), JUNK),
        "audio_disabled": JUNK,
        "video_hidden": JUNK,
        "business_store_id": JUNK,
        "description": JUNK,
        "captoin": JUNK,
    }


@st.composite
def manifests(draw: Any, sb: Any, media: dict[str, str], served: str) -> list[dict[str, Any]]:
    cells = _cells(media, served)
    columns = sorted(set(UPLOAD_COLUMNS) | {"captoin"})
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        base: dict[str, Any] = draw(
            st.sampled_from(
                [
                    {"source": media["ok"], "channel_id": sb.channel_id, "caption": "good"},
                    {"source": media["ok2"], "channel_id": sb.channel_id, "caption": "good"},
                    {"url": served, "channel_id": sb.channel_id, "caption": "good"},
                ]
            )
        )
        # most rows get one to three bad cells; unknown columns only now and then
        names = draw(st.lists(st.sampled_from(columns), max_size=3, unique=True))
        if "captoin" in names and draw(st.integers(0, 3)):
            names.remove("captoin")
        row = dict(base)
        for name in names:
            row[name] = draw(cells[name])
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def generated(sandbox, media, tmp_path_factory) -> Any:
    """The sandbox's file server for the generated examples (module scope: hypothesis runs
    many examples in one test function)."""
    directory = tmp_path_factory.mktemp("gen-served")
    shutil.copyfile(media["ok"], directory / "clip.mp4")
    return directory


def test_generated_manifests_never_crash_nor_spend_requests(sb, media, generated):
    served = sb.serve_files(generated).rstrip("/") + "/clip.mp4"
    creds = _creds(sb)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not SOAK,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(rows=manifests(sb, media, served))
    def check(rows: list[dict[str, Any]]) -> None:
        sb.reset()
        served_again = sb.serve_files(generated).rstrip("/") + "/clip.mp4"
        rows = [{k: (served_again if v == served else v) for k, v in r.items()} for r in rows]
        ledger_dir = tempfile.mkdtemp(prefix="bad-input-ledger-")
        try:
            frame = results_of(
                upload_videos,
                pd.DataFrame(rows),
                credentials=creds,
                ledger=Ledger(Path(ledger_dir)),
            )
        finally:
            shutil.rmtree(ledger_dir, ignore_errors=True)
        assert list(frame["row"]) == list(range(len(rows)))
        # skipped: a row listing the same video as an earlier row of the manifest
        assert set(frame["status"]) <= {"invalid", "created", "imported", "failed", "skipped"}
        records = frame.to_dict("records")
        for r in records:
            error = r["error"] if isinstance(r["error"], str) else ""
            if r["status"] == "invalid":
                assert error.startswith(f"row {r['row']}"), r
            if r["status"] == "failed":
                assert error, r
            _no_crash(error)
        # requests only for accepted rows: at most one signature per accepted file row, one
        # create per accepted row that is not a repeat; a made video had exactly its create
        accepted = [r for r in records if r["status"] != "invalid"]
        files = [r for r in accepted if r["strategy"] in ("single", "multipart")]
        creating = [r for r in accepted if r["status"] != "skipped"]
        made = [r for r in accepted if r["status"] in ("created", "imported")]
        context = (json.dumps(rows, default=str), records)
        assert len(made) <= count(sb, "create_video") <= len(creating), context
        signatures = count(sb, "upload_signature") + count(sb, "multipart_signatures")
        assert signatures <= len(files), context
        if not accepted:
            assert sb.requests == [], context
        assert_accounting(sb, frame, len(rows))

    check()
