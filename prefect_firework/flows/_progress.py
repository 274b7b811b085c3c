"""What a batch shows while it runs and when it ends: a Prefect progress artifact, console
progress, and at the end a table artifact of the results and a Markdown summary.

Result records carry ids, counts and error texts only; errors come from exceptions that the
client has already redacted, so no secret or presigned URL reaches an artifact.
"""

from __future__ import annotations

import collections
import logging
import sys
import time
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

__all__ = ["BatchProgress"]

_UPDATE_EVERY = 1.0  # seconds between progress artifact updates


class BatchProgress:
    """Counts finished rows and reports them to the Prefect UI and the console."""

    def __init__(self, name: str, *, total: int) -> None:
        self.name = name
        self.total = total
        self.done = 0
        self.bytes = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self.started = time.perf_counter()
        self._last_update = 0.0
        self._logger: logging.Logger | logging.LoggerAdapter[Any] = get_run_logger()
        self._artifact = create_progress_artifact(
            0.0, key=f"{name.replace('_', '-')}-progress", description=f"{name}: rows finished"
        )
        self._bar = self._console_bar()

    def _console_bar(self) -> Any:
        if not (sys.stderr.isatty() or "ipykernel" in sys.modules):
            return None
        from rich.progress import Progress

        bar = Progress(transient=False)
        bar.start()
        bar.add_task(self.name, total=self.total)
        return bar

    def row_done(self, record: dict[str, Any], *, count: bool = True) -> None:
        """Record a finished row (``count=False`` when a row's status is revised later)."""
        if count:
            self.done += 1
            self.bytes += int(record.get("bytes") or 0)
        self.counts[str(record.get("status"))] += 1 if count else 0
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(self._bar.task_ids[0], completed=self.done)
        if now - self._last_update >= _UPDATE_EVERY or self.done == self.total:
            self._last_update = now
            update_progress_artifact(self._artifact, self.percent)
            if self._bar is None:
                self._logger.info(
                    "%s: %d/%d rows, %.1f MiB, %.1f MiB/s",
                    self.name,
                    self.done,
                    self.total,
                    self.bytes / 2**20,
                    self.bytes / 2**20 / max(now - self.started, 1e-9),
                )

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else 100.0 * self.done / self.total

    def close(self, frame: pd.DataFrame | None, *, title: str | None) -> None:
        """Finish the progress display; publish the results table and a summary."""
        if self._bar is not None:
            self._bar.stop()
        update_progress_artifact(self._artifact, 100.0)
        if frame is None or title is None:
            return
        slug = self.name.replace("_", "-")
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        create_table_artifact(records, key=f"{slug}-results", description=title)
        create_markdown_artifact(self.summary(frame), key=f"{slug}-summary", description=title)
        self._logger.info(self.summary_line(frame))

    def summary_line(self, frame: pd.DataFrame) -> str:
        counts = frame["status"].value_counts().to_dict() if len(frame) else {}
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"{self.name}: {len(frame)} rows ({parts or 'none'})"

    def summary(self, frame: pd.DataFrame) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        total_bytes = int(pd.to_numeric(frame.get("bytes"), errors="coerce").fillna(0).sum())
        lines = [
            f"# {self.name}",
            "",
            "| status | rows |",
            "| --- | ---: |",
        ]
        for status, n in sorted(frame["status"].value_counts().items()):
            lines.append(f"| {status} | {n} |")
        lines += [
            "",
            f"**Rows:** {len(frame)}  **Bytes:** {total_bytes / 2**20:.1f} MiB  "
            f"**Elapsed:** {elapsed:.1f} s  "
            f"**Throughput:** {total_bytes / 2**20 / elapsed:.1f} MiB/s",
        ]
        errors = frame["error"].dropna() if "error" in frame else pd.Series([], dtype=object)
        if len(errors):
            lines += ["", "## Top errors", "", "| error | rows |", "| --- | ---: |"]
            for text, n in errors.str.slice(0, 160).value_counts().head(5).items():
                lines.append(f"| {str(text).replace('|', '/')} | {n} |")
        return "\n".join(lines)
