"""Row validation of upload and update manifests, ids, keys and the results table."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_firework.batch import (
    RESULT_COLUMNS,
    InvalidRow,
    ResultStatus,
    RowResult,
    UpdateRow,
    UploadRow,
    parse_update_rows,
    parse_upload_rows,
    parse_video_ids,
    results_frame,
    upload_row_key,
)

FILE_ROW: dict[str, Any] = {
    "source": "s3://bucket/videos/a.mp4",
    "channel_id": "ch1",
    "caption": "A",
}
URL_ROW: dict[str, Any] = {
    "url": "https://cdn.example.com/v/a.mp4",
    "channel_id": "ch1",
    "caption": "A",
}


def upload(*rows: dict[str, Any]) -> list[UploadRow | InvalidRow]:
    return parse_upload_rows(pd.DataFrame(list(rows)))


def one(row: dict[str, Any]) -> UploadRow | InvalidRow:
    [result] = upload(row)
    return result


def invalid(row: dict[str, Any]) -> InvalidRow:
    result = one(row)
    assert isinstance(result, InvalidRow), result
    return result


def valid(row: dict[str, Any]) -> UploadRow:
    result = one(row)
    assert isinstance(result, UploadRow), result
    return result


def update(*rows: dict[str, Any]) -> list[UpdateRow | InvalidRow]:
    return parse_update_rows(pd.DataFrame(list(rows)))


# ---------------------------------------------------------------------- upload: happy paths


def test_file_and_url_rows_become_typed_rows_with_only_the_given_fields() -> None:
    file_row, url_row = upload(
        {**FILE_ROW, "description": "d", "hashtags": ["x", "y"]},
        {**URL_ROW, "async": True, "access": "private"},
    )
    assert isinstance(file_row, UploadRow) and isinstance(url_row, UploadRow)
    assert (file_row.kind, file_row.source, file_row.url) == ("file", FILE_ROW["source"], None)
    assert not file_row.asynchronous
    # the DataFrame has NaN in every column a row did not fill: none of them is sent
    assert file_row.metadata.to_api() == {
        "channel_id": "ch1",
        "caption": "A",
        "description": "d",
        "hashtags": ["x", "y"],
    }
    assert (url_row.kind, url_row.url, url_row.source) == ("url", URL_ROW["url"], None)
    assert url_row.asynchronous
    assert url_row.metadata.to_api() == {"channel_id": "ch1", "caption": "A", "access": "private"}


def test_row_is_the_zero_based_position_not_the_index_label() -> None:
    frame = pd.DataFrame([FILE_ROW, {**FILE_ROW, "caption": 5}], index=[10, 20])
    first, second = parse_upload_rows(frame)
    assert first.row == 0 and second.row == 1
    assert isinstance(second, InvalidRow) and second.error.startswith("row 1, column 'caption'")


def test_every_metadata_field_is_accepted() -> None:
    row = valid(
        {
            **URL_ROW,
            "key": "k-1",
            "description": "desc",
            "access": "public",
            "archived_at": "2025-01-29T12:00:00Z",
            "audio_disabled": "no",
            "hashtags": '["a", "b"]',
            "business_store_id": "store1",
            "product_ids": '["p1", 2]',
            "custom_fields": '{"sku": "123", "batch_7": "x"}',
            "display_social_attributions": "TRUE",
            "external_media": '{"source": "tiktok", "url": "https://t.co/x", "username": "u"}',
            "poster_url": "https://cdn.example.com/p.PNG",
            "video_hidden": 1,
        }
    )
    assert row.key == "k-1"
    assert row.metadata.to_api() == {
        "channel_id": "ch1",
        "caption": "A",
        "description": "desc",
        "access": "public",
        "archived_at": "2025-01-29T12:00:00Z",
        "audio_disabled": False,
        "hashtags": ["a", "b"],
        "business_store_id": "store1",
        "product_ids": ["p1", "2"],
        "custom_fields": {"sku": "123", "batch_7": "x"},
        "display_social_attributions": True,
        "external_media": {"source": "tiktok", "url": "https://t.co/x", "username": "u"},
        "poster_url": "https://cdn.example.com/p.PNG",
        "video_hidden": True,
    }


@pytest.mark.parametrize(
    "source",
    [
        "a.mp4",
        "videos/B.MOV",
        "C:\\videos\\c.Mp4",
        "file:///data/d.mov",
        "s3://bucket/k/e.MP4",
        "https://host.example.com/f.mp4?X-Amz-Signature=abc",
        Path("/data/g.mp4"),
    ],
)
def test_source_extensions_mp4_and_mov_any_case(source: Any) -> None:
    assert valid({**FILE_ROW, "source": source}).source == str(source)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("a.avi", ".avi"),
        ("clip", "none"),
        ("s3://b/v.mp4.gz", ".gz"),
        ("https://h.com/x?f=a.mp4", "none"),
    ],
)
def test_other_source_extensions_are_invalid(source: str, shown: str) -> None:
    row = invalid({**FILE_ROW, "source": source})
    assert (row.column, row.rule) == ("source", "extension")
    assert shown in row.error and ".mp4, .mov" in row.error
    assert "X-Amz" not in row.error


def test_exactly_one_of_source_and_url() -> None:
    both = invalid({**FILE_ROW, "url": URL_ROW["url"]})
    neither = invalid({"channel_id": "c", "caption": "x", "source": None, "url": float("nan")})
    assert (both.column, both.rule) == ("source", "source_or_url") and "both are set" in both.error
    assert neither.rule == "source_or_url" and "both are empty" in neither.error


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://localhost/v.mp4", "url_hostname"),
        ("https://cdn.example.com", "url_path"),
        ("https://cdn.example.com/", "url_path"),
        ("cdn.example.com/v.mp4", "url_scheme"),
        ("ftp://cdn.example.com/v.mp4", "url_scheme"),
        ("http://[::1/v.mp4", "url_syntax"),
    ],
)
def test_url_rules(url: str, rule: str) -> None:
    row = invalid({**URL_ROW, "url": url})
    assert (row.column, row.rule) == ("url", rule)
    assert row.error.startswith("row 0, column 'url': ")


def test_async_is_for_url_rows_and_must_be_boolean() -> None:
    assert invalid({**FILE_ROW, "async": True}).rule == "async_needs_url"
    assert valid({**FILE_ROW, "async": False}).asynchronous is False
    assert invalid({**URL_ROW, "async": "sometimes"}).rule == "boolean"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (True, True),
        (np.bool_(False), False),
        ("true", True),
        ("FALSE", False),
        (" Yes ", True),
        ("no", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0.0, False),
        (np.int64(1), True),
    ],
)
def test_boolean_spellings(cell: Any, expected: bool) -> None:
    assert valid({**FILE_ROW, "video_hidden": cell}).metadata.video_hidden is expected


@pytest.mark.parametrize("cell", ["maybe", "t", 2, -1, 0.5, "[]", ["true"]])
def test_other_booleans_are_invalid(cell: Any) -> None:
    row = invalid({**FILE_ROW, "audio_disabled": cell})
    assert (row.column, row.rule) == ("audio_disabled", "boolean")


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, pd.NaT, np.nan, "", "   "])
def test_empty_cells_are_not_sent(missing: Any) -> None:
    row = valid({**FILE_ROW, "description": missing, "product_ids": missing, "key": missing})
    assert row.key is None
    assert set(row.metadata.to_api()) == {"channel_id", "caption"}


def test_ids_that_pandas_made_numbers_become_text() -> None:
    frame = pd.DataFrame(
        [
            {**FILE_ROW, "channel_id": 123, "business_store_id": 7, "key": 9},
            {**FILE_ROW, "channel_id": None, "business_store_id": None},  # makes the column float
        ]
    )
    first, second = parse_upload_rows(frame)
    assert isinstance(first, UploadRow)
    assert (first.metadata.channel_id, first.metadata.business_store_id) == ("123", "7")
    assert first.key == "9"
    assert isinstance(second, InvalidRow) and (second.column, second.rule) == (
        "channel_id",
        "required",
    )
    assert valid({**FILE_ROW, "product_ids": np.array([1, 2])}).metadata.product_ids == ["1", "2"]


@pytest.mark.parametrize(
    ("column", "cell"),
    [("caption", 123), ("caption", 1.5), ("description", 2024), ("access", 1), ("poster_url", 3)],
)
def test_numbers_in_text_columns_are_invalid(column: str, cell: Any) -> None:
    row = invalid({**FILE_ROW, column: cell})
    assert (row.column, row.rule) == (column, "type")
    assert "must be text" in row.error


@pytest.mark.parametrize("cell", [True, 1.5, float("inf"), [1]])
def test_ids_must_be_text_or_whole_numbers(cell: Any) -> None:
    row = invalid({**FILE_ROW, "channel_id": cell})
    assert (row.column, row.rule) == ("channel_id", "type")


@pytest.mark.parametrize(
    ("cell", "rule"),
    [
        ("abc", "json"),
        ("{}", "list"),
        ('{"a": 1}', "list"),
        ('"p1"', "list"),
        (5, "list"),
        ({"a": 1}, "list"),
    ],
)
def test_product_ids_must_be_a_list(cell: Any, rule: str) -> None:
    row = invalid({**FILE_ROW, "product_ids": cell})
    assert (row.column, row.rule) == ("product_ids", rule)
    assert row.error.startswith("row 0, column 'product_ids': must be a")


def test_list_items_are_checked() -> None:
    row = invalid({**FILE_ROW, "hashtags": '["ok", 7]'})
    assert (row.column, row.rule) == ("hashtags", "type") and "item 1 must be text" in row.error
    row = invalid({**FILE_ROW, "product_ids": '["ok", true]'})
    assert (row.column, row.rule) == ("product_ids", "type") and "item 1" in row.error


@pytest.mark.parametrize(
    ("cell", "rule"),
    [("[1]", "object"), ("not json", "json"), (["a"], "object"), (3, "object")],
)
def test_objects_must_be_objects(cell: Any, rule: str) -> None:
    row = invalid({**FILE_ROW, "custom_fields": cell})
    assert (row.column, row.rule) == ("custom_fields", rule)


def test_custom_fields_rules_come_from_the_model_with_a_readable_error() -> None:
    row = invalid({**FILE_ROW, "custom_fields": '{"Bad Key": "v"}'})
    assert (row.column, row.rule) == ("custom_fields", "custom_fields_key")
    assert row.error.startswith(
        "row 0, column 'custom_fields': key 'Bad Key' must match ^[a-z0-9_]{1,255}$"
    )
    for key in ("Upper", "with space", "k" * 256, ""):
        assert invalid({**FILE_ROW, "custom_fields": {key: "v"}}).rule == "custom_fields_key"
    assert valid({**FILE_ROW, "custom_fields": {"k" * 255: "v" * 1024}})
    long_value = invalid({**FILE_ROW, "custom_fields": {"k": "v" * 1025}})
    assert long_value.rule == "custom_fields_value_length"
    assert "value of key 'k' is 1025 characters; the maximum is 1024" in long_value.error
    not_text = invalid({**FILE_ROW, "custom_fields": {"k": 5}})
    assert (not_text.column, not_text.rule) == ("custom_fields", "type")
    assert "key 'k' must be a valid string" in not_text.error


def test_parquet_struct_nulls_are_dropped_from_objects() -> None:
    row = valid({**FILE_ROW, "custom_fields": {"a": "1", "b": None}})
    assert row.metadata.custom_fields == {"a": "1"}
    row = valid(
        {
            **URL_ROW,
            "external_media": {"source": "yt", "url": "https://youtu.be/x", "username": None},
        }
    )
    assert row.metadata.to_api()["external_media"] == {"source": "yt", "url": "https://youtu.be/x"}


def test_model_rules_become_row_column_rule_errors() -> None:
    cases = {
        "access": ("secret", "choice", "must be 'public' or 'private'"),
        "archived_at": ("yesterday", "iso8601", "must be an ISO 8601 timestamp"),
        "poster_url": ("https://cdn.example.com/p.gif", "poster_extension", ".jpg or .png"),
        "caption": ("", None, None),  # blank: not given -> required
    }
    for column, (cell, rule, text) in cases.items():
        row = invalid({**FILE_ROW, column: cell})
        assert row.column == column
        if rule is None:
            assert row.rule == "required" and row.error == "row 0, column 'caption': is required"
        else:
            assert row.rule == rule and text in row.error
    ftp_poster = invalid({**FILE_ROW, "poster_url": "ftp://cdn.example.com/p.png"})
    assert (ftp_poster.column, ftp_poster.rule) == ("poster_url", "poster_url")


def test_attribution_needs_external_media() -> None:
    row = invalid({**FILE_ROW, "display_social_attributions": "yes"})
    assert (row.column, row.rule) == ("display_social_attributions", "requires_external_media")
    assert row.error.startswith("row 0, column 'display_social_attributions': ")
    media = invalid({**FILE_ROW, "external_media": {"source": "tiktok"}})
    assert (media.column, media.rule) == ("external_media", "required")
    assert "field 'url' is required" in media.error
    extra = invalid(
        {
            **FILE_ROW,
            "external_media": {"source": "t", "url": "https://t.example.com/v", "likes": 3},
        }
    )
    assert extra.rule == "unknown_field" and "field 'likes' is not a known field" in extra.error


def test_archived_at_accepts_datetimes() -> None:
    stamp = pd.Timestamp("2025-01-29T12:00:00Z")
    assert valid({**FILE_ROW, "archived_at": stamp}).metadata.archived_at == stamp.isoformat()
    moment = datetime(2025, 1, 2, tzinfo=timezone.utc)
    assert valid({**FILE_ROW, "archived_at": moment}).metadata.archived_at == moment.isoformat()
    assert invalid({**FILE_ROW, "archived_at": 5}).rule == "type"


def test_remove_poster_spellings_mean_no_poster_on_create() -> None:
    for cell in ("null", "NULL", ""):
        assert "poster_url" not in valid({**FILE_ROW, "poster_url": cell}).metadata.to_api()


def test_required_columns_missing_from_the_header() -> None:
    row = invalid({"source": "a.mp4"})
    assert (row.column, row.rule) == ("channel_id", "required")
    assert row.error == ("row 0, column 'channel_id': is required; column 'caption': is required")


def test_all_problems_of_a_row_are_reported_first_one_in_column_and_rule() -> None:
    row = invalid(
        {"url": "ftp://x.com/a.mp4", "channel_id": "c", "caption": 1, "video_hidden": "?"}
    )
    assert (row.column, row.rule) == ("url", "url_scheme")
    assert "column 'caption': must be text" in row.error
    assert "column 'video_hidden': must be a boolean" in row.error


def test_unknown_columns_make_every_row_invalid_with_a_hint() -> None:
    rows = upload({**FILE_ROW, "captoin": "x", "key": "k1"}, {**FILE_ROW, "captoin": None})
    assert all(isinstance(row, InvalidRow) for row in rows)
    first = rows[0]
    assert isinstance(first, InvalidRow)
    assert (first.row, first.key, first.column, first.rule) == (
        0,
        "k1",
        "captoin",
        "unknown_column",
    )
    assert "did you mean 'caption'?" in first.error
    assert "known columns: key, source, url, async, channel_id, caption" in first.error
    assert rows[1].error.startswith("row 1, column 'captoin': unknown column")


def test_duplicate_and_non_text_column_names() -> None:
    frame = pd.DataFrame(
        [["a.mp4", "c", "x", "y"]], columns=["source", "channel_id", "caption", "caption"]
    )
    [row] = parse_upload_rows(frame)
    assert isinstance(row, InvalidRow) and (row.column, row.rule) == ("caption", "duplicate_column")
    [row] = parse_upload_rows(pd.DataFrame([[1]]))
    assert isinstance(row, InvalidRow) and (row.column, row.rule) == ("0", "unknown_column")


def test_duplicate_keys_invalidate_later_rows() -> None:
    rows = upload(
        {**FILE_ROW, "key": "x"},
        {**FILE_ROW, "key": "y"},
        {**FILE_ROW, "key": "x"},
        {**FILE_ROW, "key": "x", "caption": 5},
    )
    assert [type(row).__name__ for row in rows] == [
        "UploadRow",
        "UploadRow",
        "InvalidRow",
        "InvalidRow",
    ]
    third, fourth = rows[2], rows[3]
    assert isinstance(third, InvalidRow) and isinstance(fourth, InvalidRow)
    assert third.error == "row 2, column 'key': duplicate key 'x', first used by row 0"
    assert (third.key, third.rule) == ("x", "duplicate_key")
    assert fourth.rule == "duplicate_key" and "column 'caption': must be text" in fourth.error


def test_invalid_key_cell() -> None:
    row = invalid({**FILE_ROW, "key": ["k"]})
    assert (row.column, row.rule) == ("key", "type")


def test_empty_frames() -> None:
    assert parse_upload_rows(pd.DataFrame()) == []
    assert parse_upload_rows(pd.DataFrame(columns=["source", "caption"])) == []
    assert parse_update_rows(pd.DataFrame()) == []
    with pytest.raises(TypeError):
        parse_upload_rows([FILE_ROW])  # type: ignore[arg-type]


# ---------------------------------------------------------------------- update rows


def test_update_semantics() -> None:
    rows = update(
        {"video_id": "v0", "poster_url": "null"},
        {"video_id": "v1", "poster_url": ""},
        {"video_id": "v2", "poster_url": "NULL", "caption": None},
        {"video_id": "v3", "product_ids": [], "custom_fields": {}},
        {"video_id": "v4", "video_hidden": "true"},
        {"video_id": "v5", "product_ids": "[]", "custom_fields": "{}"},
        {"video_id": "v6", "poster_url": "https://cdn.example.com/p.jpg", "caption": "New"},
        {"video_id": "v7", "display_social_attributions": True},
    )
    bodies = [row.update.to_api() for row in rows if isinstance(row, UpdateRow)]
    assert [row.video_id for row in rows if isinstance(row, UpdateRow)] == [
        f"v{i}" for i in range(8)
    ]
    assert bodies == [
        {"poster_url": None},
        {"poster_url": ""},
        {"poster_url": None},
        {"product_ids": [], "custom_fields": {}},
        {"video_hidden": True},
        {"product_ids": [], "custom_fields": {}},
        {"caption": "New", "poster_url": "https://cdn.example.com/p.jpg"},
        {"display_social_attributions": True},
    ]


def test_update_nan_means_leave_as_is_and_nothing_to_update_is_invalid() -> None:
    rows = update({"video_id": "v1", "caption": "x"}, {"video_id": "v2", "caption": np.nan})
    assert isinstance(rows[0], UpdateRow) and rows[0].update.to_api() == {"caption": "x"}
    second = rows[1]
    assert isinstance(second, InvalidRow) and second.rule == "nothing_to_update"
    assert second.column is None and second.error.startswith("row 1: nothing to update")


def test_update_video_id_rules() -> None:
    missing, number, bad = update(
        {"video_id": None, "caption": "x"},
        {"video_id": 42, "caption": "x"},
        {"video_id": [1], "caption": "x"},
    )
    assert isinstance(missing, InvalidRow) and (missing.column, missing.rule) == (
        "video_id",
        "required",
    )
    assert isinstance(number, UpdateRow) and number.video_id == "42"
    assert isinstance(bad, InvalidRow) and (bad.column, bad.rule) == ("video_id", "type")


def test_update_rejects_create_only_columns_and_bad_values() -> None:
    [row] = update({"video_id": "v", "channel_id": "c"})
    assert isinstance(row, InvalidRow) and (row.column, row.rule) == (
        "channel_id",
        "unknown_column",
    )
    poster, media, caption = update(
        {"video_id": "v", "poster_url": "https://x.com/p.gif"},
        {"video_id": "v", "external_media": "[]"},
        {"video_id": "v", "caption": 7},
    )
    assert isinstance(poster, InvalidRow) and poster.rule == "poster_extension"
    assert isinstance(media, InvalidRow) and media.rule == "object"
    assert isinstance(caption, InvalidRow) and caption.rule == "type"


def test_update_duplicate_keys() -> None:
    rows = update(
        {"video_id": "a", "key": "k", "caption": "x"}, {"video_id": "b", "key": "k", "caption": "y"}
    )
    assert isinstance(rows[1], InvalidRow) and rows[1].rule == "duplicate_key"


# ---------------------------------------------------------------------- video ids


def test_parse_video_ids_from_every_shape() -> None:
    assert parse_video_ids(["a", " b ", "a"]) == ["a", "b"]
    assert parse_video_ids(pd.Series(["x", None, np.nan, "y"])) == ["x", "y"]
    assert parse_video_ids(pd.DataFrame({"video_id": ["v1", pd.NA, 12]})) == ["v1", "12"]
    assert parse_video_ids("solo") == ["solo"]
    assert parse_video_ids([]) == []
    with pytest.raises(ValueError, match="no 'video_id' column"):
        parse_video_ids(pd.DataFrame({"id": ["x"]}))
    with pytest.raises(
        ValueError, match=r"position 1: must be an id .*position 2: must not be empty"
    ):
        parse_video_ids(["ok", True, "  "])


# ---------------------------------------------------------------------- keys

PINNED_URL_KEY = "auto-41a4f7110ec56607e5e79a4d1fb0da216e8f6c04586af55e19f1637014063751"


def test_upload_row_key_is_stable_and_sensitive_to_what_matters() -> None:
    base = valid({**FILE_ROW, "custom_fields": {"a": "1", "b": "2"}})
    same = valid({**FILE_ROW, "custom_fields": {"b": "2", "a": "1"}, "async": False})
    key = upload_row_key(base, "fp1")
    assert key.startswith("auto-") and len(key) == len("auto-") + 64
    assert key == upload_row_key(same, "fp1")
    assert key != upload_row_key(base, "fp2")
    assert key != upload_row_key(valid({**FILE_ROW, "custom_fields": {"a": "1"}}), "fp1")
    assert key != upload_row_key(
        valid({**FILE_ROW, "channel_id": "other", "custom_fields": {"a": "1", "b": "2"}}), "fp1"
    )
    # without a fingerprint the source URI stands in for the content
    assert upload_row_key(base, None) != key
    assert upload_row_key(base, None) == upload_row_key(same, None)
    url_row = valid(URL_ROW)
    assert upload_row_key(url_row, None) == upload_row_key(url_row, "ignored")
    async_row = valid({**URL_ROW, "async": True})
    assert upload_row_key(url_row, None) == upload_row_key(async_row, None)
    assert upload_row_key(valid({**FILE_ROW, "key": "mine"}), "fp") == "mine"
    # a pinned value: changing the hash silently would make every user's rerun create again
    assert upload_row_key(valid(URL_ROW), None) == PINNED_URL_KEY


# ---------------------------------------------------------------------- results


def test_results_frame_has_exact_columns_stable_dtypes_and_sorted_rows() -> None:
    records = [
        {"row": 2, "key": "k2", "status": "failed", "error": "boom"},
        {
            "row": 0,
            "key": "k0",
            "status": "created",
            "video_id": "v0",
            "bytes": 10,
            "seconds": 1.5,
            "strategy": "single",
        },
        RowResult(1, status=ResultStatus.INVALID, error="row 1, ...", caption="Launch"),
    ]
    frame = results_frame(records)
    assert list(frame.columns) == RESULT_COLUMNS
    assert frame["row"].tolist() == [0, 1, 2]
    assert frame["status"].tolist() == ["created", "invalid", "failed"]
    assert frame.loc[0, "bytes"] == 10 and math.isclose(frame.loc[0, "seconds"], 1.5)
    assert frame["video_id"].isna().tolist() == [False, True, True]
    assert frame["caption"].tolist()[1] == "Launch"
    expected = {
        "row": "Int64",
        "source": "string",
        "caption": "string",
        "key": "string",
        "status": "string",
        "video_id": "string",
        "import_id": "string",
        "strategy": "string",
        "bytes": "Int64",
        "seconds": "Float64",
        "recorded_at": "datetime64[ns, UTC]",
        "error": "string",
    }
    assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == expected
    empty = results_frame([])
    assert list(empty.columns) == RESULT_COLUMNS and len(empty) == 0
    assert {column: str(dtype) for column, dtype in empty.dtypes.items()} == expected
    with pytest.raises(TypeError, match="no column 'upload_id'"):  # never dropped silently
        results_frame([{"row": 0, "status": "failed", "upload_id": "u1"}])
    with pytest.raises(TypeError, match="no field 'upload_id'"):
        RowResult(0).set(ResultStatus.FAILED, upload_id="u1")
    nan_bytes = results_frame([{"row": 0, "bytes": float("nan"), "video_id": 5}])
    assert nan_bytes["bytes"].isna().all() and nan_bytes.loc[0, "video_id"] == "5"
