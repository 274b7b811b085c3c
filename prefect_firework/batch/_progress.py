"""What a batch shows while it runs and when it ends: a Prefect progress artifact, console
progress, and at the end a table artifact of the results and a Markdown summary.

Everything here is best effort: artifacts go to the Prefect API from one background thread,
so an API that is slow or down never stalls the rows and never fails the batch (a failed
call is logged and dropped; the final artifacts are waited for a bounded time). Result
records carry ids, counts and error texts only; errors come from exceptions that the client
has already redacted, so no secret or presigned URL reaches an artifact.
"""

from __future__ import annotations

import collections
import contextvars
import importlib.util
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from prefect import get_run_logger

from prefect_firework.batch._pacing import CreatesLeft
from prefect_firework.batch._results import ResultStatus, RowResult

__all__ = ["ArtifactReporter", "BatchProgress"]

_UPDATE_EVERY = 1.0  # seconds between progress artifact updates
#: how long the end of a batch waits for its artifacts to reach the Prefect API
FINAL_ARTIFACT_TIMEOUT = 30.0

logger = logging.getLogger("prefect_firework.flows")


class ArtifactReporter:
    """Runs Prefect artifact calls on one daemon thread, in order, never raising.

    ``latest`` calls replace a queued call of the same name (only the newest progress value
    matters); :meth:`flush` waits up to a timeout for what is queued.
    """

    def __init__(self) -> None:
        # Prefect finds the flow run an artifact belongs to in context variables: the
        # thread runs every call in a copy of the creator's context
        self._context = contextvars.copy_context()
        self._queue: queue.Queue[tuple[str, Callable[[], Any]] | None] = queue.Queue()
        self._pending: dict[str, Callable[[], Any]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def submit(self, name: str, call: Callable[[], Any], *, latest: bool = False) -> None:
        with self._lock:
            if latest and name in self._pending:
                self._pending[name] = call  # the queued one will run this newer call
                return
            if latest:
                self._pending[name] = call
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="firework-artifacts", daemon=True
                )
                self._thread.start()
        self._queue.put((name, call))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, call = item
            with self._lock:
                call = self._pending.pop(name, call)
            try:
                self._context.run(call)
            except Exception as exc:  # the Prefect API is down or slow: the batch goes on
                self.failures += 1
                logger.warning(
                    "Could not publish the %s artifact to the Prefect API (%s); the batch "
                    "goes on without it",
                    name,
                    type(exc).__name__,
                )
            finally:
                with self._lock:
                    if self._queue.empty():
                        self._idle.set()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued was tried; False if ``timeout`` passed first."""
        return self._idle.wait(timeout)


class BatchProgress:
    """Counts finished rows and reports them to the Prefect UI and the console; with
    ``creates``, also each channel's creates left and the least time the budget allows them."""

    def __init__(self, name: str, *, total: int, creates: CreatesLeft | None = None) -> None:
        self.name = name
        self.total = total
        self.creates = creates
        self.done = 0
        self.bytes = 0
        self.counts: collections.Counter[str] = collections.Counter()
        self.started = time.perf_counter()
        self._last_update = 0.0
        self._logger: logging.Logger | logging.LoggerAdapter[Any] = get_run_logger()
        self._reporter = ArtifactReporter()
        self._artifact: list[Any] = []  # the progress artifact's id, once created
        key = f"{name.replace('_', '-')}-progress"
        self._reporter.submit("progress", lambda: self._create_progress(key))
        self._bar = self._console_bar()

    def _create_progress(self, key: str) -> None:
        from prefect.artifacts import create_progress_artifact

        self._artifact.append(
            create_progress_artifact(0.0, key=key, description=f"{self.name}: rows finished")
        )

    def _update_progress(self, percent: float, description: str) -> None:
        from prefect.artifacts import update_progress_artifact

        if self._artifact:
            update_progress_artifact(self._artifact[0], percent, description=description)

    def eta(self) -> list[str]:
        """Each channel's creates left and the least time the budget allows them."""
        return self.creates.lines() if self.creates is not None else []

    def _description(self) -> str:
        return "; ".join([f"{self.name}: rows finished", *self.eta()])

    def _console_bar(self) -> Any:
        from rich import get_console

        # a notebook is a running IPython kernel (rich asks IPython), not merely ipykernel
        # imported somewhere in the process (a test runner, a library)
        jupyter = "IPython" in sys.modules and get_console().is_jupyter
        if not (sys.stderr.isatty() or jupyter):
            return None
        if jupyter and importlib.util.find_spec("ipywidgets") is None:
            # rich draws a live bar in Jupyter only through ipywidgets; without them it draws
            # nothing and warns 'install "ipywidgets"' on every refresh: log lines instead
            return None
        from rich.progress import Progress

        bar = Progress(transient=False)
        bar.start()
        bar.add_task(self.name, total=self.total)
        return bar

    def row_done(self, result: RowResult, *, count: bool = True) -> None:
        """Record a finished row (``count=False`` when a row's status is revised later)."""
        if count:
            self.done += 1
            if result.status is not ResultStatus.SKIPPED:
                self.bytes += int(result.bytes or 0)
        self.counts[str(result.status)] += 1 if count else 0
        self.create_ended(result)
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(self._bar.task_ids[0], completed=self.done)
        if now - self._last_update >= _UPDATE_EVERY or self.done == self.total:
            self._last_update = now
            percent, description = self.percent, self._description()
            self._reporter.submit(
                "progress-update",
                lambda: self._update_progress(percent, description),
                latest=True,
            )
            if self._bar is None:
                self._logger.info(
                    "%s: %d/%d rows, %.1f MiB, %.1f MiB/s%s",
                    self.name,
                    self.done,
                    self.total,
                    self.bytes / 2**20,
                    self.bytes / 2**20 / max(now - self.started, 1e-9),
                    "".join(f"; {line}" for line in self.eta()),
                )

    def create_ended(self, result: RowResult) -> None:
        """The row's create is no longer to come (an accepted import ends it before its poll)."""
        if self.creates is not None:
            made = result.status in _MADE
            self.creates.row_ended(result.row, made=made)

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else 100.0 * self.done / self.total

    def close(
        self,
        frame: pd.DataFrame | None,
        *,
        title: str | None,
        timeout: float = FINAL_ARTIFACT_TIMEOUT,
    ) -> None:
        """Finish the progress display; publish the results table and a summary."""
        if self._bar is not None:
            self._bar.stop()
        description = self._description()
        self._reporter.submit(
            "progress-update", lambda: self._update_progress(100.0, description), latest=True
        )
        if frame is not None and title is not None:
            self._publish(frame, title)
            self._logger.info(self.summary_line(frame))
        if not self._reporter.flush(timeout):
            self._logger.warning(
                "The Prefect API did not take the artifacts of %s within %.0f s; the results "
                "are complete without them",
                self.name,
                timeout,
            )

    def _publish(self, frame: pd.DataFrame, title: str) -> None:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact

        slug = self.name.replace("_", "-")
        records = artifact_records(frame)
        if len(records) < len(frame):
            title = (
                f"{title}: {len(records)} of {len(frame)} rows, every failed or invalid row "
                "first (the whole table is the flow's result and its output= file)"
            )
        summary = self.summary(frame)
        self._reporter.submit(
            "results",
            lambda: create_table_artifact(records, key=f"{slug}-results", description=title),
        )
        self._reporter.submit(
            "summary",
            lambda: create_markdown_artifact(summary, key=f"{slug}-summary", description=title),
        )

    def summary_line(self, frame: pd.DataFrame) -> str:
        counts = frame["status"].value_counts().to_dict() if len(frame) else {}
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"{self.name}: {len(frame)} rows ({parts or 'none'})"

    def summary(self, frame: pd.DataFrame) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        # bytes this run sent: a skipped row's bytes went up in an earlier run
        sent = frame[~frame["status"].isin(["skipped", "invalid"])] if len(frame) else frame
        total_bytes = int(pd.to_numeric(sent.get("bytes"), errors="coerce").fillna(0).sum())
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
        if self.creates is not None and self.creates.made_lines():
            lines += ["", "## Create budget", ""]
            lines += [f"- {line}" for line in self.creates.made_lines()]
        groups = error_groups(frame)
        if groups:
            lines += ["", "## Top errors", "", "| error | rows | count |", "| --- | --- | ---: |"]
            for text, rows in groups[:_TOP_ERRORS]:
                shown = text.replace("|", "/").replace("\n", " ")
                lines.append(f"| {shown} | {row_ranges(rows)} | {len(rows)} |")
        return "\n".join(lines)


_TOP_ERRORS = 10
#: statuses of a row whose create this run made (an import accepted counts)
_MADE = (ResultStatus.CREATED, ResultStatus.IMPORTED, ResultStatus.IMPORTING)
_ROW_PREFIX = re.compile(r"^row \d+(?:, |: )")
#: the artifact's column order: what a person reads first, then the wide columns
_ARTIFACT_COLUMNS = (
    "row",
    "status",
    "error",
    "source",
    "caption",
    "video_id",
    "import_id",
    "strategy",
    "bytes",
    "seconds",
    "recorded_at",
    "key",
)


#: the most rows a results table artifact shows: a 20,000-row table is more than the UI can
#: page through usefully, and its JSON held the flow's memory and the API's database
ARTIFACT_ROWS = 1000


def artifact_records(frame: pd.DataFrame, limit: int = ARTIFACT_ROWS) -> list[dict[str, Any]]:
    """The results table as the UI shows it: ``status`` and ``error`` first, a short key (the
    full one stays in the results file); at most ``limit`` rows, the failed and invalid ones
    first, then the others in row order."""
    if len(frame) > limit:
        attention = frame["status"].isin(["failed", "invalid"]).fillna(False).astype(bool)
        frame = pd.concat([frame[attention], frame[~attention]]).head(limit)
    columns = [c for c in _ARTIFACT_COLUMNS if c in frame] + [
        c for c in frame.columns if c not in _ARTIFACT_COLUMNS
    ]
    shown = frame[columns].astype(object).where(frame[columns].notna(), None)
    if "recorded_at" in shown:  # JSON for the API: ISO 8601 text
        shown["recorded_at"] = shown["recorded_at"].map(
            lambda t: t.isoformat(timespec="seconds") if t is not None else None
        )
    if "key" in shown:
        shown["key"] = shown["key"].map(
            lambda k: k if not isinstance(k, str) or len(k) <= 20 else f"{k[:17]}..."
        )
    return shown.to_dict(orient="records")


def error_groups(frame: pd.DataFrame) -> list[tuple[str, list[int]]]:
    """Errors grouped by their text without the row prefix, largest group first: one line per
    rule and message (``unknown column 'captoin' ...`` for rows 0-1), not one per row."""
    if "error" not in frame:
        return []
    groups: dict[str, list[int]] = {}
    for row, error in zip(frame["row"], frame["error"], strict=True):
        if isinstance(error, str) and error:
            groups.setdefault(_ROW_PREFIX.sub("", error, count=1), []).append(int(row))
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0]))


def row_ranges(rows: list[int]) -> str:
    """``rows 0-3, 7`` for the rows [0, 1, 2, 3, 7]."""
    spans: list[list[int]] = []
    for row in sorted(rows):
        if spans and row == spans[-1][1] + 1:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return ("row " if len(rows) == 1 else "rows ") + text
