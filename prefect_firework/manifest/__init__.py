"""Manifests: the DataFrame (or CSV / Parquet / JSON Lines file) that drives a batch flow.

Reading (:func:`read_manifest`), validating rows into typed specs before anything runs
(:func:`parse_upload_rows`, :func:`parse_update_rows`, :func:`parse_video_ids`), idempotency keys
(:func:`upload_row_key`) and the results table (:func:`results_frame`, :func:`write_results`).
Plain pandas + :mod:`prefect_firework.models`: no Prefect, no network besides reading the file.

Upload manifest schema
----------------------

One row per video. ``row`` in results and errors is the row's **0-based position** in the
manifest (the first data row of a CSV is row 0; a DataFrame's index labels are ignored).

| column | required | type | notes |
|---|---|---|---|
| `source` | one of `source`/`url` | text (path or URI) | file to upload: local path, `file://`, `s3://`, `gs://`, `https://`, ... Extension `.mp4` or `.mov` (any case); size and duration are checked later by the preflight |
| `url` | one of `source`/`url` | text | public http(s) URL for Firework to import: hostname with a dot, a path |
| `async` | no | boolean | URL rows only: import in the background (202) and poll |
| `channel_id` | yes | id | encoded channel id |
| `caption` | yes | text | |
| `description` | no | text | |
| `access` | no | text | `public` or `private` |
| `archived_at` | no | ISO 8601 text or datetime | |
| `audio_disabled` | no | boolean | |
| `hashtags` | no | list of text | |
| `business_store_id` | no | id | |
| `product_ids` | no | list of ids | `[]` tags nothing |
| `custom_fields` | no | object | keys `^[a-z0-9_]{1,255}$`, text values of at most 1024 characters |
| `display_social_attributions` | no | boolean | `true` requires `external_media` |
| `external_media` | no | object | `source`, `url` required; `username`, `navigation_enabled` optional |
| `poster_url` | no | text | http(s) URL ending in `.jpg` or `.png` |
| `video_hidden` | no | boolean | hide from product detail pages |
| `key` | no | id | idempotency key; unique in the manifest. Default: `auto-` + SHA-256 of channel, source fingerprint (or URL) and metadata |

Update manifest schema (``parse_update_rows``): `video_id` (required, id), optional `key`, and any
of `caption`, `description`, `access`, `archived_at`, `audio_disabled`, `hashtags`,
`business_store_id`, `product_ids`, `custom_fields`, `display_social_attributions`,
`external_media`, `poster_url`, `video_hidden`. `source`, `url`, `async` and `channel_id` are
unknown columns there (a video cannot move channel).

Files
-----

`read_manifest` takes a DataFrame (copied) or a path/URI of any storage smart-open reaches
(`s3://`, `gs://`, `azure://`, `https://`, local), by extension: `.csv`, `.parquet`, `.jsonl` or
`.ndjson`; CSV and JSON Lines may be compressed (`.gz`, `.bz2`, `.xz`, `.zst`). Text files must
be UTF-8 (a BOM is fine). CSV cells are read as text; empty nameless columns (a spreadsheet's
trailing commas) are dropped. An empty file is an empty manifest.

Cell values
-----------

- **Empty** (NaN, None, pd.NA, NaT, an empty or blank string, a missing CSV cell): the field is
  not given and not sent. In an update that means "leave as is" (`poster_url` aside, see below).
- **Booleans**: `True`/`False`, `1`/`0`, or the text `true`/`false`/`yes`/`no`/`1`/`0` in any
  case. Anything else is invalid.
- **Lists and objects**: Python lists/dicts (numpy arrays and Parquet structs too) or JSON text
  (what CSV gives you): `["a", "b"]`, `{"sku": "123"}`. The Python literals `DataFrame.to_csv`
  writes for list/dict cells (`['a', 'b']`) are read too. Text that is not a list where a list
  is needed (`abc`, `{}`) is invalid. Object keys whose value is null are dropped (Parquet fills
  absent struct keys with null).
- **Text columns** (`caption`, `description`, `access`, `poster_url`, `url`, `hashtags` items)
  must be text: a number there (a caption `2024` that pandas read as int) is invalid ("must be
  text"). CSV and JSON Lines strings are always text.
- **Id columns** (`channel_id`, `business_store_id`, `product_ids` items, `video_id`, `key`) accept
  text or whole numbers: `123` and `123.0` (pandas' int/float guesses) become `"123"`. Leading
  zeros lost by pandas cannot be recovered: keep such ids as text (CSV files are read as text).

Update semantics per format
---------------------------

| intent | DataFrame | CSV | JSON Lines |
|---|---|---|---|
| leave a field as is | `None` / NaN (`""` too, except in `poster_url`) | empty cell | key absent, or `null` (except `poster_url`) |
| remove the custom poster | `poster_url` = `"null"` (any case) or `""` | cell text `null` | `"poster_url": null` (or `"null"`, `""`) |
| untag all products | `product_ids` = `[]` | `[]` | `"product_ids": []` |
| clear custom fields | `custom_fields` = `{}` | `{}` | `"custom_fields": {}` |
| hide/show on PDP (bulk) | `video_hidden` alone | `true`/`false` alone | `"video_hidden": true` alone |

CSV cannot tell an empty cell from a quoted empty string (`""`), so in CSV only the text `null`
removes a poster. In JSON Lines, `null` in `poster_url` *removes* the poster: a file written by
``DataFrame.to_json(orient="records", lines=True)`` writes NaN as `null`, so drop the
`poster_url` column (or fill it) unless you mean to remove posters. In an upload manifest the
"remove" spellings simply mean "no custom poster". A row with a `video_id` and nothing to update
is invalid (`nothing_to_update`).

Errors
------

Header problems make every row invalid (`unknown_column` with a "did you mean" hint and the list
of known columns, `duplicate_column`): a typo such as `captoin` is never dropped silently. Cell
problems make the row invalid with ``error`` like ``row 7, column 'custom_fields': key 'Bad Key'
must match ^[a-z0-9_]{1,255}$ (...)`` (all problems of the row, the first also in ``column`` and
``rule``). A repeated `key` makes the second and later rows invalid (`duplicate_key`). File-level
problems (unknown extension, not UTF-8, unparsable file) raise :class:`ManifestError`.
"""

# ruff: noqa: E501 (the docstring holds Markdown tables, which cannot wrap)

from prefect_firework.manifest.io import (
    ManifestError,
    ManifestFormat,
    manifest_format,
    read_manifest,
    write_results,
)
from prefect_firework.manifest.results import (
    RESULT_COLUMNS,
    RESULT_DTYPES,
    RESULT_STATUSES,
    results_frame,
)
from prefect_firework.manifest.rows import (
    METADATA_COLUMNS,
    UPDATE_COLUMNS,
    UPLOAD_COLUMNS,
    InvalidRow,
    UpdateRow,
    UploadRow,
    parse_update_rows,
    parse_upload_rows,
    parse_video_ids,
    upload_row_key,
)

__all__ = [
    "METADATA_COLUMNS",
    "RESULT_COLUMNS",
    "RESULT_DTYPES",
    "RESULT_STATUSES",
    "UPDATE_COLUMNS",
    "UPLOAD_COLUMNS",
    "InvalidRow",
    "ManifestError",
    "ManifestFormat",
    "UpdateRow",
    "UploadRow",
    "manifest_format",
    "parse_update_rows",
    "parse_upload_rows",
    "parse_video_ids",
    "read_manifest",
    "results_frame",
    "upload_row_key",
    "write_results",
]
