"""The public surface: one root for every error, and every import the README shows works."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import prefect_firework.errors as errors

README = Path(__file__).resolve().parent.parent / "README.md"
_IMPORT = re.compile(r"\b(from prefect_firework[\w.]* import [\w, ]+?(?: as \w+)?)(?=[;\"'\\\n]|$)")


def readme_imports() -> list[str]:
    """Every ``from prefect_firework... import ...`` the README shows, code or prose."""
    found = {m.group(1).strip() for m in _IMPORT.finditer(README.read_text())}
    return sorted(found)


def test_the_readme_shows_imports() -> None:
    assert "from prefect_firework.flows import upload_video, upload_videos" in readme_imports()


@pytest.mark.parametrize("statement", readme_imports())
def test_every_readme_import_works(statement: str) -> None:
    # a fresh interpreter: nothing imported earlier in the suite can hide a broken path
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:prefect_firework", "-c", statement],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_public_error_derives_from_the_one_root() -> None:
    public = [getattr(errors, name) for name in errors.__all__]
    assert all(inspect.isclass(c) and issubclass(c, errors.PrefectFireworkError) for c in public)
    with pytest.warns(DeprecationWarning, match="InvalidRequestError"):
        assert errors.ValidationError is errors.InvalidRequestError
    # the tree drawn in the module's docstring names every public error
    drawn = set(re.findall(r"(\w+(?:Error|Failed|Found|Timeout))\b", errors.__doc__ or ""))
    assert set(errors.__all__) <= drawn | {"PrefectFireworkError"}
