"""Fixtures of the sandbox conformance suite: one shared sandbox (reset per test) and media."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_support import SMALL, Api, jpeg_bytes

from prefect_firework.sandbox import Sandbox
from prefect_firework.sandbox.engine._probe import png_bytes
from prefect_firework.sandbox.media import make_mp4, set_mp4_duration


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox(config=SMALL) as sandbox:
        yield sandbox


@pytest.fixture
def sb(shared_sandbox: Sandbox) -> Sandbox:
    """The shared sandbox with nothing left over from earlier tests."""
    shared_sandbox.reset()
    return shared_sandbox


@pytest.fixture
def api(sb: Sandbox) -> Iterator[Api]:
    client = Api(sb)
    yield client
    client.close()


@dataclass(frozen=True)
class Media:
    """Files for the suite; all but ``big`` are small enough for a single POST."""

    dir: Path
    clip: Path  # 4 s, 60,000 bytes
    big: Path  # 4 s, 300,000 bytes (multipart: four 64 KiB parts and a rest)
    mov: Path  # the clip as .mov
    short: Path  # 2 s
    long: Path  # claims 3601 s
    exact_min: Path  # exactly 3 s
    exact_max: Path  # exactly 3600 s
    not_video: Path  # 40,000 random bytes named .mp4
    poster_png: Path  # 90x160 PNG
    poster_jpg: Path  # 1080x1920 JPEG header
    not_image: Path  # text named .png


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("sandbox-media")
    clip = make_mp4(root / "clip.mp4", 4, size=60_000)
    big = make_mp4(root / "big.mp4", 4, size=300_000, seed=1)
    mov = root / "clip.mov"
    shutil.copyfile(clip, mov)
    short = make_mp4(root / "short.mp4", 2, size=40_000, seed=2)
    variants = {}
    for name, seconds in (("long", 3601.0), ("exact_min", 3.0), ("exact_max", 3600.0)):
        path = root / f"{name}.mp4"
        shutil.copyfile(clip, path)
        set_mp4_duration(path, seconds)
        variants[name] = path
    not_video = root / "not_video.mp4"
    not_video.write_bytes(os.urandom(40_000))
    poster_png = root / "poster.png"
    poster_png.write_bytes(png_bytes(90, 160))
    poster_jpg = root / "poster.jpg"
    poster_jpg.write_bytes(jpeg_bytes(1080, 1920))
    not_image = root / "not_image.png"
    not_image.write_text("this is not an image")
    return Media(
        dir=root,
        clip=clip,
        big=big,
        mov=mov,
        short=short,
        not_video=not_video,
        poster_png=poster_png,
        poster_jpg=poster_jpg,
        not_image=not_image,
        **variants,
    )
