"""What the Prefect UI's block catalog shows of each block: a description that starts with one
short sentence of its own (the card may show no more), the logo and the documentation link."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client

from prefect_firework.blocks import FireworkCredentials, FireworkWebhookSecret

tomllib = pytest.importorskip("tomllib")

pytestmark = pytest.mark.prefect_server

BLOCKS = [FireworkCredentials, FireworkWebhookSecret]
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

by_block = pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.__name__)


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(?=\s|$)", " ".join(text.split()))
    assert match, f"no sentence in {text!r}"
    return match.group(1)


def _check_description(description: str | None) -> None:
    assert description
    first_paragraph = " ".join(description.split("\n\n", 1)[0].split())
    sentence = _first_sentence(description)
    assert sentence.endswith(".")
    assert len(sentence) < 120, sentence
    assert first_paragraph == sentence, "the first paragraph should be that one sentence"


def _check_https(url: object) -> None:
    parts = urlsplit(str(url))
    assert parts.scheme == "https" and parts.netloc, url


@by_block
def test_the_description_starts_with_one_short_sentence(block: type[Block]):
    _check_description(block.model_json_schema()["description"])
    _check_description(block.get_description())


@by_block
def test_logo_and_documentation_are_https_urls(block: type[Block]):
    _check_https(block._logo_url)
    _check_https(block._documentation_url)


@by_block
def test_the_documentation_is_this_projects_readme(block: type[Block]):
    urls = tomllib.loads(PYPROJECT.read_text())["project"]["urls"]
    for url in urls.values():
        _check_https(url)
    page = str(block._documentation_url).split("#", 1)[0]
    assert page == urls["Homepage"]
    anchor = str(block._documentation_url).split("#", 1)[1]
    readme = (PYPROJECT.parent / "README.md").read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in readme.splitlines()
        if line.startswith("#")
    }
    assert anchor in headings, f"#{anchor} is no heading of the README"


@by_block
def test_the_registered_block_type_carries_them(block: type[Block]):
    block.register_type_and_schema()
    with get_client(sync_client=True) as client:
        registered = client.read_block_type_by_slug(block.get_block_type_slug())
    assert str(registered.logo_url) == str(block._logo_url)
    assert str(registered.documentation_url) == str(block._documentation_url)
    assert registered.description == block.get_description()
    _check_description(registered.description)
