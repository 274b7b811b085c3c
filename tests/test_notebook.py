"""``examples/quickstart.ipynb``, run top to bottom in a real Jupyter kernel, as a user runs it.

The kernel is this venv's interpreter, from a kernelspec written to a temporary directory (no
kernelspec in the user's home is looked at). Its environment has a fresh ``PREFECT_HOME`` and
none of the suite's ``PREFECT_*`` / ``FIREWORK_*`` variables, so the notebook must set what it
needs itself. Its flows therefore run on the temporary local Prefect API that Prefect starts at
the first call: what a user who opens the notebook without ``PREFECT_API_URL`` gets, and where
Prefect 3.9's ``database is locked`` telemetry traceback appears (PrefectHQ/prefect#19771). On
the suite's test server (analytics off) the notebook's own setting would go untested.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import psutil
import pytest
from ipykernel import kernelspec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
STATUS = re.compile(r"\b(created|imported|updated|skipped|invalid|failed)\b")


def _kernel_env(prefect_home: Path) -> dict[str, str]:
    """This process's environment without the suite's Prefect and Firework settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FIREWORK_"))}
    env["PREFECT_HOME"] = str(prefect_home)
    # the one concession to speed: the dev venv holds every collection (prefect-aws, -ray,
    # -dask, -redis), whose block types the temporary API would import and register on its
    # first start; the notebook's save registers FireworkCredentials' type itself
    env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = "false"
    return env


def execute(path: Path, tmp: Path, timeout: int = 240) -> tuple[Any, float, list[str]]:
    """Run the notebook at ``path`` in a fresh kernel of this venv; return it, the seconds,
    and the kernel's child processes that outlived it (stopped here).

    Errors do not stop the run (``allow_errors``): every cell's outputs are kept for the
    assertions, which report the first error with its traceback.
    """
    kernels = tmp / "kernels"
    kernelspec.write_kernel_spec(kernels / "python3", overrides={"display_name": "venv"})
    km = KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    assert km.kernel_spec is not None and km.kernel_spec.argv[0] == sys.executable
    (tmp / "prefect").mkdir()
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, km=km, timeout=timeout, allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    children: list[psutil.Process] = []
    try:
        client.execute(env=_kernel_env(tmp / "prefect"))
        kernel = psutil.Process(km.provisioner.pid)  # type: ignore[union-attr]
        children = kernel.children(recursive=True)  # the temporary Prefect API among them
    finally:
        # graceful, as a closed notebook's kernel exits: Prefect stops its temporary API at
        # exit (nbclient leaves running a kernel whose manager it did not make). The kernel
        # does not act on the shutdown request promptly here; jupyter_client sends SIGTERM
        # after half the wait, on which it exits and the API stops too (a 60 s wait: ~30 s)
        km.shutdown_wait_time = 10
        km.shutdown_kernel()
    seconds = time.perf_counter() - started
    _, alive = psutil.wait_procs(children, timeout=10)
    for process in alive:
        process.kill()
    return nb, seconds, [" ".join(p.cmdline()[:6]) for p in alive]


def text(output: Any) -> str:
    """Everything an output shows: stream text, rich data, an error's traceback."""
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return "\n".join([output.ename, output.evalue, *output.traceback])
    return "\n".join(str(v) for v in output.get("data", {}).values())


def tagged(nb: Any, tag: str) -> Any:
    (cell,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return cell


def shown(cell: Any) -> str:
    """The cell's displayed value (its ``execute_result``), as plain text."""
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return str(result.data["text/plain"])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[str]]:
    nb, seconds, left = execute(NOTEBOOK, tmp_path_factory.mktemp("notebook"))
    print(f"quickstart.ipynb ran in {seconds:.1f} s")
    return nb, left


@pytest.fixture
def notebook(run: tuple[Any, list[str]]) -> Any:
    """The executed notebook, with its outputs."""
    return run[0]


def test_the_committed_notebook_has_no_outputs() -> None:
    """Outputs are generated by running it, not committed (they hold ports, ids, paths)."""
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source


def test_every_cell_ran_without_error(notebook: Any) -> None:
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [(c.source, o) for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n\n".join(f"{s}\n{text(o)}" for s, o in errors[:1])


def test_no_output_shows_a_traceback(notebook: Any) -> None:
    """Prefect's telemetry traceback (``database is locked``) included: the notebook turns
    analytics off before Prefect is imported."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            shows = text(output)
            for needle in ("Traceback", "database is locked"):
                assert needle not in shows, f"{needle!r} in the output of:\n{cell.source}\n{shows}"


def test_no_output_shows_a_warning(notebook: Any) -> None:
    """A reader sees the flows' log lines and tables, not library warnings (a progress bar
    that needs ipywidgets, a deprecation)."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            shows = text(output)
            assert "Warning" not in shows, f"in the output of:\n{cell.source}\n{shows}"


def test_the_results_table_has_a_status_per_row(notebook: Any) -> None:
    results = shown(tagged(notebook, "results"))
    assert STATUS.findall(results) == ["created", "created", "invalid"], results
    assert "row 2, column 'access'" in results, results  # the error names the refused field
    rerun = shown(tagged(notebook, "rerun"))
    assert STATUS.findall(rerun) == ["skipped", "skipped", "invalid"], rerun
    updated = shown(tagged(notebook, "updated"))
    assert STATUS.findall(updated) == ["updated"] * 3, updated


def test_the_sandbox_holds_the_videos(notebook: Any) -> None:
    """One upload_video, two created batch rows; the rerun made none; the update tagged all."""
    printed = "".join(text(o) for o in tagged(notebook, "sandbox").outputs)
    assert "sandbox: 3 videos, 3 objects" in printed, printed
    assert printed.count("'spring-sale'") == 3, printed


def test_the_kernel_stopped_what_it_started(run: tuple[Any, list[str]]) -> None:
    """Closing the notebook (a graceful kernel shutdown) stops the temporary Prefect API; the
    sandbox's servers are threads, stopped by ``sb.stop()``."""
    assert run[1] == []
