"""What the results artifacts show a person: errors grouped with their rows, status first."""

from __future__ import annotations

from prefect_firework.batch import ResultStatus, RowResult, results_frame
from prefect_firework.batch._progress import artifact_records, error_groups, row_ranges
from prefect_firework.batch._run import counts_message

TYPO = "unknown column 'captoin' (did you mean 'caption'?); known columns: source, url, caption"


def _frame():
    return results_frame(
        [
            RowResult(0, status=ResultStatus.INVALID, error=f"row 0: {TYPO}"),
            RowResult(1, status=ResultStatus.INVALID, error=f"row 1: {TYPO}"),
            RowResult(2, source="b.mp4", caption="B", key="auto-" + "f" * 64).set(
                ResultStatus.CREATED, video_id="v2"
            ),
            RowResult(3, status=ResultStatus.INVALID, error=f"row 3: {TYPO}"),
            RowResult(4).fail("row 4, column 'channel_id': NotFoundError: 404 Channel not found"),
        ]
    )


def test_errors_are_grouped_by_message_with_their_rows() -> None:
    groups = error_groups(_frame())
    assert groups == [
        (TYPO, [0, 1, 3]),
        ("column 'channel_id': NotFoundError: 404 Channel not found", [4]),
    ]
    assert row_ranges([0, 1, 3]) == "rows 0-1, 3"
    assert row_ranges([4]) == "row 4"
    assert row_ranges([7, 5, 6, 9]) == "rows 5-7, 9"


def test_the_artifact_puts_status_and_error_first_and_shortens_the_key() -> None:
    records = artifact_records(_frame())
    assert list(records[0])[:5] == ["row", "status", "error", "source", "caption"]
    assert records[2]["key"] == "auto-ffffffffffff..." and len(records[2]["key"]) == 20
    assert records[2]["source"] == "b.mp4" and records[0]["video_id"] is None


def test_the_counts_message_lists_successes_first() -> None:
    assert counts_message(_frame()) == "5 rows: 1 created, 1 failed, 3 invalid"
    assert counts_message(results_frame([])) == "0 rows"


def test_a_large_table_artifact_shows_the_rows_that_need_attention_first_and_is_capped() -> None:
    rows = [
        RowResult(i, key=f"k{i}").set(ResultStatus.CREATED, video_id=f"v{i}") for i in range(2500)
    ]
    rows[1800].fail("boom")
    rows[2400].set(ResultStatus.INVALID, error="row 2400: bad caption")
    records = artifact_records(results_frame(rows), limit=1000)
    assert len(records) == 1000
    assert [r["row"] for r in records[:2]] == [1800, 2400]
    assert [r["row"] for r in records[2:5]] == [0, 1, 2]
    small = artifact_records(_frame(), limit=1000)
    assert [r["row"] for r in small] == [0, 1, 2, 3, 4], "under the cap: row order, all rows"
