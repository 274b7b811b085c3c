"""Reading manifests and writing results: CSV, Parquet, JSON Lines; local files and S3 (moto)."""

from __future__ import annotations

import gzip
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from prefect_firework.batch import (
    RESULT_COLUMNS,
    InvalidRow,
    UpdateRow,
    UploadRow,
    manifest_format,
    parse_update_rows,
    parse_upload_rows,
    read_manifest,
    results_frame,
    write_results,
)
from prefect_firework.errors import ManifestError

ROWS: list[dict[str, Any]] = [
    {
        "key": "k0",
        "source": "s3://bucket/a.mp4",
        "channel_id": "007",
        "caption": "First",
        "hashtags": ["a", "b"],
        "product_ids": ["p1", "p2"],
        "custom_fields": {"sku": "1"},
        "video_hidden": True,
    },
    {
        "key": "k1",
        "url": "https://cdn.example.com/v.mp4",
        "async": True,
        "channel_id": "ch",
        "caption": 'Second, with a comma and "quotes"',
        "external_media": {"source": "tiktok", "url": "https://t.co/x", "username": "me"},
        "display_social_attributions": True,
        "poster_url": "https://cdn.example.com/p.jpg",
    },
    {"key": "k2", "source": "b.MOV", "channel_id": "ch", "caption": "Ünïcødé ✓"},
    {"key": "k3", "source": "c.avi", "channel_id": "ch", "caption": "bad extension"},
]


def expected_rows() -> list[UploadRow | InvalidRow]:
    return parse_upload_rows(pd.DataFrame(ROWS))


def as_json_cells(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """What a user writes to CSV: list and dict cells as JSON text."""
    return pd.DataFrame(
        [
            {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in row.items()}
            for row in rows
        ]
    )


def write_manifest(path: Path, fmt: str) -> None:
    if fmt == "csv":
        as_json_cells(ROWS).to_csv(path, index=False)
    elif fmt == "csv.gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            as_json_cells(ROWS).to_csv(handle, index=False)
    elif fmt == "parquet":
        pd.DataFrame(ROWS).to_parquet(path, index=False)
    elif fmt in ("jsonl", "ndjson"):
        path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    elif fmt == "jsonl.gz":
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in ROWS).encode()))
    else:  # pragma: no cover
        raise AssertionError(fmt)


def dumped(rows: list[UploadRow | InvalidRow]) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


FORMATS = ["csv", "csv.gz", "parquet", "jsonl", "ndjson", "jsonl.gz"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_local_round_trip_parses_like_the_dataframe(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"manifest.{fmt}"
    write_manifest(path, fmt)
    frame = read_manifest(path)
    assert len(frame) == len(ROWS)
    assert dumped(parse_upload_rows(frame)) == dumped(expected_rows())
    assert read_manifest(str(path)).shape == frame.shape  # a str path works too


def test_csv_is_read_as_text_so_ids_keep_their_zeros(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text('source,channel_id,caption,product_ids\na.mp4,007,2024,"[""00123""]"\n')
    [row] = parse_upload_rows(read_manifest(path))
    assert isinstance(row, UploadRow)
    assert row.metadata.channel_id == "007"
    assert row.metadata.caption == "2024"  # text in CSV: a caption may be a number
    assert row.metadata.product_ids == ["00123"]


def test_csv_written_by_pandas_with_list_and_dict_cells(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    pd.DataFrame(ROWS).to_csv(path, index=False)  # cells become "['a', 'b']", "{'sku': '1'}"
    assert dumped(parse_upload_rows(read_manifest(path))) == dumped(expected_rows())


def test_nameless_empty_csv_columns_are_dropped_but_nameless_data_is_not(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("source,channel_id,caption,,\na.mp4,c,x,,\nb.mp4,c,y,,\n")
    rows = parse_upload_rows(read_manifest(path))
    assert all(isinstance(row, UploadRow) for row in rows)
    path.write_text("source,channel_id,caption,\na.mp4,c,x,oops\n")
    [row] = parse_upload_rows(read_manifest(path))
    assert isinstance(row, InvalidRow) and (row.column, row.rule) == (
        "Unnamed: 3",
        "unknown_column",
    )


def test_utf8_bom_is_fine_and_other_encodings_are_refused(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffsource,channel_id,caption\na.mp4,c,Café\n".encode())
    assert list(read_manifest(bom).columns) == ["source", "channel_id", "caption"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("source,channel_id,caption\na.mp4,c,Café\n".encode("latin-1"))
    with pytest.raises(ManifestError, match=r"is not UTF-8 .*encoding error: byte 0xe9"):
        read_manifest(latin)
    jsonl = tmp_path / "latin.jsonl"
    jsonl.write_bytes('{"caption": "Café"}\n'.encode("cp1252"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(jsonl)


@pytest.mark.parametrize("name", ["empty.csv", "empty.csv.gz", "empty.jsonl", "empty.parquet"])
def test_empty_files_give_empty_frames(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    frame = read_manifest(path)
    assert frame.empty
    assert parse_upload_rows(frame) == []


def test_header_only_and_blank_lines(tmp_path: Path) -> None:
    header = tmp_path / "h.csv"
    header.write_text("source,channel_id,caption\n")
    assert parse_upload_rows(read_manifest(header)) == []
    blank = tmp_path / "b.jsonl"
    blank.write_text('\n{"source": "a.mp4", "channel_id": "c", "caption": "x"}\n\n')
    [row] = parse_upload_rows(read_manifest(blank))
    assert isinstance(row, UploadRow) and row.row == 0


def test_unknown_extensions_are_refused_by_name(tmp_path: Path) -> None:
    for name in ("manifest.xlsx", "manifest", "manifest.parquet.gz", "m.json"):
        with pytest.raises(ManifestError, match="unknown manifest extension"):
            read_manifest(tmp_path / name)
    with pytest.raises(ManifestError, match=r"'\.xlsx'"):
        read_manifest("s3://bucket/m.xlsx?X-Amz-Signature=secret")
    with pytest.raises(ManifestError) as info:
        read_manifest("https://user:pw@host.example.com/m.txt?sig=secret")
    assert "secret" not in str(info.value) and "pw" not in str(info.value)
    assert manifest_format("https://h.example.com/m.csv?x=1") == ("csv", None)
    assert manifest_format("M.CSV.GZ") == ("csv", ".gz")
    assert manifest_format("m.ndjson.zst") == ("jsonl", ".zst")
    with pytest.raises(TypeError):
        read_manifest(42)  # type: ignore[arg-type]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read manifest"):
        read_manifest(tmp_path / "missing.csv")
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text('{"caption": "x"}\n{oops\n')
    with pytest.raises(ManifestError, match="line 2: not valid JSON"):
        read_manifest(bad_line)
    not_object = tmp_path / "list.jsonl"
    not_object.write_text("[1, 2]\n")
    with pytest.raises(ManifestError, match="line 1: each line must be a JSON object"):
        read_manifest(not_object)
    parquet = tmp_path / "bad.parquet"
    parquet.write_bytes(b"not parquet at all")
    with pytest.raises(ManifestError, match="not a readable Parquet file"):
        read_manifest(parquet)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('a,b\n1,2,3,4\n"unterminated\n')
    with pytest.raises(ManifestError, match="not valid CSV"):
        read_manifest(ragged)


def test_dataframe_passes_through_as_a_copy() -> None:
    frame = pd.DataFrame(ROWS)
    copy = read_manifest(frame)
    assert copy is not frame and copy.equals(frame)
    copy.loc[0, "caption"] = "changed"
    assert frame.loc[0, "caption"] == "First"


# ---------------------------------------------------------------------- update semantics per format


def update_bodies(frame: pd.DataFrame) -> list[dict[str, Any] | str]:
    return [
        row.update.to_api() if isinstance(row, UpdateRow) else row.rule
        for row in parse_update_rows(frame)
    ]


def test_jsonl_null_removes_the_poster_and_missing_keys_leave_it(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    lines = [
        {"video_id": "v0", "poster_url": None},
        {"video_id": "v1", "caption": "x"},
        {"video_id": "v2", "poster_url": ""},
        {"video_id": "v3", "poster_url": "https://c.example.com/p.png", "description": None},
        {"video_id": "v4", "product_ids": [], "custom_fields": {}},
        {"video_id": "v5", "caption": None},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    assert update_bodies(read_manifest(path)) == [
        {"poster_url": None},
        {"caption": "x"},
        {"poster_url": ""},
        {"poster_url": "https://c.example.com/p.png"},
        {"product_ids": [], "custom_fields": {}},
        "nothing_to_update",
    ]


def test_csv_null_text_removes_the_poster_and_empty_cells_leave_it(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        "video_id,poster_url,product_ids,custom_fields,video_hidden\n"
        "v0,null,,,\n"
        'v1,"",,,yes\n'
        "v2,,[],{},\n"
        "v3,,,,\n"
    )
    assert update_bodies(read_manifest(path)) == [
        {"poster_url": None},
        {"video_hidden": True},  # CSV cannot tell "" from an empty cell: poster left as is
        {"product_ids": [], "custom_fields": {}},
        "nothing_to_update",
    ]


# ---------------------------------------------------------------------- results


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz", "r.parquet", "r.jsonl"])
def test_write_results_local(tmp_path: Path, name: str) -> None:
    frame = results_frame(
        [
            {"row": 1, "key": "b", "status": "failed", "error": 'boom, "quoted"'},
            {
                "row": 0,
                "key": "a",
                "status": "created",
                "video_id": "v",
                "bytes": 5,
                "seconds": 0.5,
                "recorded_at": datetime(2026, 11, 27, 2, 3, 4, tzinfo=timezone.utc),
            },
        ]
    )
    path = tmp_path / name
    write_results(frame, path)
    if name.endswith(".parquet"):
        back = pd.read_parquet(path)
        assert back.dtypes.equals(frame.dtypes) and back.equals(frame)
    elif ".csv" in name:
        back = pd.read_csv(path)
        assert list(back.columns) == RESULT_COLUMNS
        assert back["error"].tolist()[1] == 'boom, "quoted"'
        assert back["recorded_at"].tolist()[0] == "2026-11-27 02:03:04+00:00"
    else:
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert lines[0]["video_id"] == "v" and lines[1]["video_id"] is None
        assert lines[0]["recorded_at"].startswith("2026-11-27T02:03:04")
        assert list(lines[0]) == RESULT_COLUMNS
    with pytest.raises(ManifestError):
        write_results(frame, tmp_path / "r.txt")


# ---------------------------------------------------------------------- S3


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl.gz"])
def test_s3_round_trip(tmp_path: Path, s3_bucket: tuple[str, dict[str, Any]], fmt: str) -> None:
    bucket, transport_params = s3_bucket
    local = tmp_path / f"m.{fmt}"
    write_manifest(local, fmt)
    client = boto3.client("s3", **transport_params["client_kwargs"]["S3.Client"])
    client.put_object(Bucket=bucket, Key=f"in/m.{fmt}", Body=local.read_bytes())
    frame = read_manifest(f"s3://{bucket}/in/m.{fmt}", transport_params=transport_params)
    assert dumped(parse_upload_rows(frame)) == dumped(expected_rows())

    results = results_frame([{"row": 0, "key": "k0", "status": "created", "video_id": "v0"}])
    write_results(results, f"s3://{bucket}/out/results.parquet", transport_params=transport_params)
    body = client.get_object(Bucket=bucket, Key="out/results.parquet")["Body"].read()
    assert pd.read_parquet(io.BytesIO(body)).equals(results)


def test_s3_missing_object_is_a_manifest_error(s3_bucket: tuple[str, dict[str, Any]]) -> None:
    bucket, transport_params = s3_bucket
    with pytest.raises(ManifestError, match="cannot read manifest"):
        read_manifest(f"s3://{bucket}/nope.csv", transport_params=transport_params)
