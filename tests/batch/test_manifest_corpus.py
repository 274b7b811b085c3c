"""The bad-input corpus of issue 6 for the manifest parser.

Two halves: a table of named bad inputs, each with the rule it must be refused with, and
hypothesis-generated manifests mixing good and bad cells (also through a CSV file and random
bytes), where the invariants are: no uncaught exception, exactly one result per row in order, and
every invalid row's error names its row and (when one is at fault) its column.
"""

from __future__ import annotations

import io
import string
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_firework.batch import (
    UPDATE_COLUMNS,
    UPLOAD_COLUMNS,
    InvalidRow,
    UpdateRow,
    UploadRow,
    parse_update_rows,
    parse_upload_rows,
    read_manifest,
)
from prefect_firework.errors import ManifestError

GOOD: dict[str, Any] = {"source": "v.mp4", "channel_id": "ch", "caption": "c"}
GOOD_URL: dict[str, Any] = {
    "url": "https://cdn.example.com/v.mp4",
    "channel_id": "ch",
    "caption": "c",
}

#: (name, row, column, rule): every kind of bad input the issue lists that a parser can see
BAD_CASES: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("caption is a number", {**GOOD, "caption": 123}, "caption", "type"),
    ("description is a list", {**GOOD, "description": ["x"]}, "description", "type"),
    ("channel_id is a boolean", {**GOOD, "channel_id": True}, "channel_id", "type"),
    ("hashtags is a number", {**GOOD, "hashtags": 3}, "hashtags", "list"),
    ("video_hidden is a word", {**GOOD, "video_hidden": "maybe"}, "video_hidden", "boolean"),
    ("archived_at is not a date", {**GOOD, "archived_at": "soon"}, "archived_at", "iso8601"),
    ("access is unknown", {**GOOD, "access": "unlisted"}, "access", "choice"),
    ("unknown column (typo)", {**GOOD, "captoin": "x"}, "captoin", "unknown_column"),
    ("unknown column (case)", {**GOOD, "Caption": "x"}, "Caption", "unknown_column"),
    ("bad extension .avi", {**GOOD, "source": "v.avi"}, "source", "extension"),
    ("bad extension .mkv", {**GOOD, "source": "s3://b/v.mkv"}, "source", "extension"),
    ("no extension", {**GOOD, "source": "s3://b/video"}, "source", "extension"),
    (
        "custom_fields key with capitals",
        {**GOOD, "custom_fields": {"Sku": "1"}},
        "custom_fields",
        "custom_fields_key",
    ),
    (
        "custom_fields key with a space",
        {**GOOD, "custom_fields": {"a b": "1"}},
        "custom_fields",
        "custom_fields_key",
    ),
    (
        "custom_fields key of 256 chars",
        {**GOOD, "custom_fields": {"k" * 256: "1"}},
        "custom_fields",
        "custom_fields_key",
    ),
    (
        "custom_fields value of 1025 chars",
        {**GOOD, "custom_fields": {"k": "v" * 1025}},
        "custom_fields",
        "custom_fields_value_length",
    ),
    ("custom_fields not an object", {**GOOD, "custom_fields": '["a"]'}, "custom_fields", "object"),
    ("url without a dot", {**GOOD_URL, "url": "https://localhost/v.mp4"}, "url", "url_hostname"),
    ("url without a path", {**GOOD_URL, "url": "https://cdn.example.com"}, "url", "url_path"),
    ("url without a scheme", {**GOOD_URL, "url": "cdn.example.com/v.mp4"}, "url", "url_scheme"),
    ("ftp url", {**GOOD_URL, "url": "ftp://cdn.example.com/v.mp4"}, "url", "url_scheme"),
    (
        "poster .gif",
        {**GOOD, "poster_url": "https://cdn.example.com/p.gif"},
        "poster_url",
        "poster_extension",
    ),
    (
        "poster without scheme",
        {**GOOD, "poster_url": "cdn.example.com/p.jpg"},
        "poster_url",
        "poster_url",
    ),
    (
        "attribution without external_media",
        {**GOOD, "display_social_attributions": True},
        "display_social_attributions",
        "requires_external_media",
    ),
    (
        "external_media without url",
        {**GOOD, "external_media": {"source": "tiktok"}},
        "external_media",
        "required",
    ),
    ("product_ids is a word", {**GOOD, "product_ids": "abc"}, "product_ids", "json"),
    ("product_ids is an object", {**GOOD, "product_ids": "{}"}, "product_ids", "list"),
    ("product_ids is a dict", {**GOOD, "product_ids": {"a": 1}}, "product_ids", "list"),
    ("source and url", {**GOOD, "url": GOOD_URL["url"]}, "source", "source_or_url"),
    ("neither source nor url", {"channel_id": "c", "caption": "c"}, "source", "source_or_url"),
    ("no caption", {"source": "v.mp4", "channel_id": "c"}, "caption", "required"),
    ("async on a file row", {**GOOD, "async": "yes"}, "async", "async_needs_url"),
]


@pytest.mark.parametrize(
    ("name", "row", "column", "rule"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_input_corpus(name: str, row: dict[str, Any], column: str | None, rule: str) -> None:
    [result] = parse_upload_rows(pd.DataFrame([row]))
    assert isinstance(result, InvalidRow), name
    assert (result.column, result.rule) == (column, rule), result.error
    assert result.error.startswith(f"row 0, column {column!r}: ")


def test_bad_rows_do_not_spoil_good_ones_and_duplicate_keys() -> None:
    rows = [{**GOOD, "key": f"k{i}"} for i in range(3)]
    rows += [
        {**case[1], "key": f"bad{i}"}
        for i, case in enumerate(BAD_CASES)
        if "captoin" not in case[1] and "Caption" not in case[1]
    ]
    rows.append({**GOOD, "key": "k1"})
    results = parse_upload_rows(pd.DataFrame(rows))
    assert [r.row for r in results] == list(range(len(rows)))
    assert all(isinstance(r, UploadRow) for r in results[:3])
    assert all(isinstance(r, InvalidRow) for r in results[3:])
    last = results[-1]
    assert isinstance(last, InvalidRow) and last.rule == "duplicate_key"
    assert "first used by row 1" in last.error


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_manifest_is_a_manifest_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"m{suffix}"
    path.write_bytes("caption\nÉté 2024 — soldes\n".encode("cp1252"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(path)


# ---------------------------------------------------------------------- generated manifests

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
JUNK = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.lists(st.one_of(TEXT, st.integers(), st.none()), max_size=3),
    st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.none()), max_size=3),
    st.sampled_from(
        ["[", "{", "[]", "{}", '["a"]', '{"a": "b"}', "null", "NaN", "true", "[1, [2]]"]
    ),
)
KEYS = st.text(alphabet=string.ascii_lowercase + string.digits + "_", min_size=1, max_size=8)

GOOD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "source": st.sampled_from(
        ["a.mp4", "dir/b.MOV", "s3://bkt/k/c.mp4", "https://h.example.com/v.mov?s=1"]
    ),
    "url": st.sampled_from(["https://cdn.example.com/v.mp4", "http://a.example.org/x/y"]),
    "async": st.sampled_from([True, False, "yes", "0"]),
    "channel_id": st.one_of(st.sampled_from(["ch1", "007"]), st.integers(0, 10**9)),
    "caption": st.text(alphabet=string.ascii_letters + " ,\"'é✓", min_size=1, max_size=20).filter(
        str.strip
    ),
    "description": TEXT,
    "access": st.sampled_from(["public", "private"]),
    "archived_at": st.sampled_from(
        ["2025-01-29T12:00:00Z", "2024-02-29", pd.Timestamp("2025-01-01", tz="UTC")]
    ),
    "audio_disabled": st.sampled_from([True, False, "TRUE", "no", 1, 0]),
    "hashtags": st.one_of(st.lists(TEXT, max_size=3), st.just('["a", "b"]')),
    "business_store_id": st.one_of(st.just("store"), st.integers(0, 999)),
    "product_ids": st.one_of(
        st.lists(st.sampled_from(["p1", "00123", "sku-9"]), max_size=3), st.just("[]")
    ),
    "custom_fields": st.one_of(st.dictionaries(KEYS, TEXT, max_size=3), st.just("{}")),
    "external_media": st.just({"source": "tiktok", "url": "https://t.co/x", "username": "u"}),
    "poster_url": st.sampled_from(["https://c.example.com/p.jpg", "http://c.example.com/q.PNG"]),
    "video_hidden": st.booleans(),
    "display_social_attributions": st.sampled_from([True, "true", False]),
    "video_id": st.one_of(st.sampled_from(["v1", "abc"]), st.integers(1, 10**6)),
}
UNKNOWN = st.sampled_from(["captoin", "Caption", "channel", "extra", " caption", "source "])


@st.composite
def upload_rows(draw: st.DrawFn, *, bad: bool) -> dict[str, Any]:
    row: dict[str, Any] = {}
    kind = draw(st.sampled_from(["source", "url"]))
    row[kind] = draw(GOOD_VALUES[kind])
    if kind == "url" and draw(st.booleans()):
        row["async"] = draw(GOOD_VALUES["async"])
    row["channel_id"] = draw(GOOD_VALUES["channel_id"])
    row["caption"] = draw(GOOD_VALUES["caption"])
    optional = [
        c
        for c in UPLOAD_COLUMNS
        if c not in ("key", "source", "url", "async", "channel_id", "caption")
    ]
    for column in draw(st.lists(st.sampled_from(optional), unique=True, max_size=6)):
        row[column] = draw(GOOD_VALUES[column])
    if row.get("external_media") is None:
        row.pop("display_social_attributions", None)
    if bad:
        for column in draw(
            st.lists(st.sampled_from(UPLOAD_COLUMNS), unique=True, min_size=1, max_size=4)
        ):
            row[column] = draw(JUNK)
        if draw(st.integers(0, 9)) == 0:
            row[draw(UNKNOWN)] = draw(JUNK)
    return row


@st.composite
def update_rows(draw: st.DrawFn, *, bad: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"video_id": draw(GOOD_VALUES["video_id"])}
    optional = [c for c in UPDATE_COLUMNS if c not in ("key", "video_id")]
    for column in draw(st.lists(st.sampled_from(optional), unique=True, min_size=1, max_size=5)):
        row[column] = draw(GOOD_VALUES[column])
    if bad:
        for column in draw(
            st.lists(st.sampled_from(UPDATE_COLUMNS), unique=True, min_size=1, max_size=4)
        ):
            row[column] = draw(JUNK)
    return row


def check(results: list[Any], n: int, typed: type) -> None:
    assert len(results) == n
    for position, result in enumerate(results):
        assert result.row == position
        if isinstance(result, InvalidRow):
            assert result.rule and result.error.startswith(f"row {position}")
            if result.column is not None:
                assert result.error.startswith(f"row {position}, column {result.column!r}: ")
            else:
                assert result.rule == "nothing_to_update"
        else:
            assert isinstance(result, typed)


FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(upload_rows(bad=False), max_size=6))
def test_generated_good_upload_rows_are_all_valid(rows: list[dict[str, Any]]) -> None:
    results = parse_upload_rows(pd.DataFrame(rows))
    check(results, len(rows), UploadRow)
    assert all(isinstance(result, UploadRow) for result in results), results


@FAST
@given(st.lists(st.one_of(upload_rows(bad=True), upload_rows(bad=False)), max_size=8))
def test_generated_upload_manifests_never_crash(rows: list[dict[str, Any]]) -> None:
    check(parse_upload_rows(pd.DataFrame(rows)), len(rows), UploadRow)


@FAST
@given(st.lists(st.one_of(update_rows(bad=True), update_rows(bad=False)), max_size=8))
def test_generated_update_manifests_never_crash(rows: list[dict[str, Any]]) -> None:
    results = parse_update_rows(pd.DataFrame(rows))
    check(results, len(rows), UpdateRow)
    for result in results:
        if isinstance(result, UpdateRow):
            assert result.update.model_fields_set, "a valid update sends something"


@FAST
@given(st.lists(st.one_of(upload_rows(bad=True), upload_rows(bad=False)), min_size=1, max_size=6))
def test_generated_manifests_through_a_csv_file(rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    text = buffer.getvalue()
    frame = (
        pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, na_values=[""])
        if text.strip()
        else pd.DataFrame()
    )
    check(parse_upload_rows(frame), len(frame), UploadRow)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".csv", ".jsonl", ".parquet", ".csv.gz"]))
def test_random_bytes_are_a_frame_or_a_manifest_error(data: bytes, suffix: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"m{suffix}"
        path.write_bytes(data)
        try:
            frame = read_manifest(path)
        except ManifestError:
            return
        check(parse_upload_rows(frame), len(frame), UploadRow)


def test_numpy_and_extension_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "source": ["a.mp4", "b.mp4", "c.mp4"],
            "channel_id": pd.array([1, None, 3], dtype="Int64"),
            "caption": pd.array(["x", "y", None], dtype="string"),
            "video_hidden": pd.array([True, None, False], dtype="boolean"),
            "product_ids": [np.array(["p"]), None, np.array([], dtype=object)],
        }
    )
    first, second, third = parse_upload_rows(frame)
    assert isinstance(first, UploadRow) and first.metadata.channel_id == "1"
    assert first.metadata.product_ids == ["p"] and first.metadata.video_hidden is True
    assert isinstance(second, InvalidRow) and second.column == "channel_id"
    assert isinstance(third, InvalidRow) and (third.column, third.rule) == ("caption", "required")
