"""Video metadata we send (create, update) and the video the API returns.

The API distinguishes an omitted field ("keep what is there") from ``null`` ("remove") and from
an empty value (``product_ids: []`` untags everything, ``custom_fields: {}`` clears them). The
request models keep that distinction by sending only the fields that were set (pydantic's
``model_fields_set``): leave a field out and it is not sent; pass ``None`` and, where the API
allows it, ``null`` is sent. Fields for which ``null`` means nothing (``access``, ``hashtags``,
...) reject an explicit ``None`` instead of sending a value the API would refuse.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from prefect_firework.models._base import RequestModel, ResponseModel

__all__ = [
    "Access",
    "ExternalMedia",
    "ExternalMediaInfo",
    "Video",
    "VideoMetadata",
    "VideoPoster",
    "VideoUpdate",
    "validate_archived_at",
    "validate_poster_url",
]

Access = Literal["public", "private"]

CUSTOM_FIELD_KEY = re.compile(r"[a-z0-9_]{1,255}")
CUSTOM_FIELD_MAX_VALUE = 1024
POSTER_EXTENSIONS = (".jpg", ".png")


def check_http_url(value: str, field: str | None = None) -> str:
    """An http(s) URL with a host and, if given, a port in 1..65535.

    ``field`` starts the message (``poster_url must be ...``); without it the message starts
    at the rule (``must be ...``), for callers that name the field themselves.
    """
    head = f"{field} " if field else ""
    context = {"value": repr(value)}
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise PydanticCustomError(
            "url_syntax",
            head + "is not a valid URL ({reason}): {value}",
            {**context, "reason": str(exc)},
        ) from None
    if parts.scheme not in ("http", "https") or not host:
        raise PydanticCustomError(
            "url_scheme", head + "must be an http(s) URL with a host, got {value}", context
        )
    if port == 0:
        raise PydanticCustomError("url_syntax", head + "has port 0: {value}", context)
    return value


class ExternalMedia(RequestModel):
    """Social media attribution: ``source`` and ``url`` (an http(s) URL) are required."""

    source: str = Field(min_length=1, description='Platform: "tiktok", "instagram", "youtube", ...')
    url: str = Field(min_length=1, description="URL of the original social media post")
    username: str | None = None
    navigation_enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class ExternalMediaInfo(ExternalMedia):
    """``external_media`` as the API returns it: the same fields, unknown extras ignored,
    nothing refused (a response must never fail to parse over a field we only display)."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return value


class VideoPoster(ResponseModel):
    """One poster image of a video, as the API returns it."""

    url: str
    aspect_ratio: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None


def validate_archived_at(value: Any) -> Any:
    """Accept a ``datetime``/``date`` or an ISO 8601 string; return the ISO 8601 string."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        candidate = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
        try:
            datetime.fromisoformat(candidate)
        except ValueError:
            raise PydanticCustomError(
                "iso8601",
                f"archived_at must be an ISO 8601 timestamp (e.g. 2025-01-29T12:00:00Z), "
                f"got {value!r}"
            ) from None
        return text
    return value


def validate_poster_url(value: str) -> str:
    """An http(s) URL with a host whose path ends in ``.jpg`` or ``.png``."""
    try:
        check_http_url(value, "poster_url")
    except PydanticCustomError as exc:  # one rule name for every poster problem
        raise PydanticCustomError("poster_url", exc.message()) from None
    if not urlsplit(value).path.lower().endswith(POSTER_EXTENSIONS):
        raise PydanticCustomError(
            "poster_extension",
            f"poster_url must point to a .jpg or .png image (by its path), got {value!r}"
        )
    return value


def _not_blank(caption: str) -> str:
    if not caption.strip():
        raise PydanticCustomError(
            "blank_caption", "caption must not be blank (the API requires a caption)"
        )
    return caption


class _VideoFields(RequestModel):
    """Fields shared by create (``VideoMetadata``) and update (``VideoUpdate``)."""

    description: str | None = None
    access: Access | None = None
    archived_at: str | None = Field(default=None, description="ISO 8601 timestamp")
    audio_disabled: bool | None = None
    hashtags: list[str] | None = None
    business_store_id: str | None = None
    product_ids: list[str] | None = None
    custom_fields: dict[str, str] | None = None
    display_social_attributions: bool | None = None
    external_media: ExternalMedia | None = None
    poster_url: str | None = None
    video_hidden: bool | None = None

    @field_validator(
        "access",
        "audio_disabled",
        "hashtags",
        "business_store_id",
        "product_ids",
        "custom_fields",
        "display_social_attributions",
        "video_hidden",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # None is the "not set" default; passed explicitly it would send a null the API refuses.
        if value is None:
            raise PydanticCustomError(
                "not_null", f"{info.field_name} may be omitted but not set to None"
            )
        return value

    @field_validator("archived_at", mode="before")
    @classmethod
    def _archived_at(cls, value: Any) -> Any:
        return validate_archived_at(value)

    @field_validator("custom_fields")
    @classmethod
    def _custom_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            if not CUSTOM_FIELD_KEY.fullmatch(key):
                raise PydanticCustomError(
                    "custom_fields_key",
                    f"custom_fields key {key!r} must match ^[a-z0-9_]{{1,255}}$ "
                    "(lowercase letters, digits, underscore)"
                )
            if len(item) > CUSTOM_FIELD_MAX_VALUE:
                raise PydanticCustomError(
                    "custom_fields_value_length",
                    f"custom_fields[{key!r}] is {len(item)} characters; "
                    f"the maximum is {CUSTOM_FIELD_MAX_VALUE}"
                )
        return value

    @field_validator("poster_url")
    @classmethod
    def _poster_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return value  # "remove the custom poster"
        return validate_poster_url(value)


class VideoMetadata(_VideoFields):
    """Metadata of a new video: ``channel_id`` and ``caption`` required.

    Used as the ``metadata`` JSON of a file upload and merged into the JSON body of a URL import
    or an S3-key create. ``to_api()`` returns only the fields that were set.
    """

    channel_id: str = Field(min_length=1)
    caption: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_poster_is_no_poster(cls, data: Any) -> Any:
        # "null or empty removes the custom poster": a new video has none, so on a create
        # either spelling means "no custom poster" and is not sent at all
        if isinstance(data, dict) and "poster_url" in data and data["poster_url"] in (None, ""):
            data = {k: v for k, v in data.items() if k != "poster_url"}
        return data

    @field_validator("caption")
    @classmethod
    def _caption_not_blank(cls, value: str) -> str:
        return _not_blank(value)

    def to_api(self) -> dict[str, Any]:
        body = super().to_api()
        # required fields first: easier to read in request logs and sandbox records
        return {"channel_id": body.pop("channel_id"), "caption": body.pop("caption"), **body}

    @model_validator(mode="after")
    def _attribution_needs_media(self) -> VideoMetadata:
        if self.display_social_attributions and self.external_media is None:
            raise PydanticCustomError(
                "requires_external_media",
                "display_social_attributions=True requires external_media with source and url"
            )
        return self


class VideoUpdate(_VideoFields):
    """A partial update: every field optional; only the fields set are sent.

    ``poster_url=None`` or ``""`` removes the custom poster; ``product_ids=[]`` untags all
    products; ``custom_fields={}`` clears them. ``display_social_attributions=True`` without
    ``external_media`` is allowed here, because the video may already have one (the API
    checks that); only the contradiction ``external_media=None`` with it is rejected.
    """

    caption: str | None = Field(default=None, min_length=1)

    @field_validator("caption", mode="before")
    @classmethod
    def _caption_not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "caption may be omitted but not set to None")
        return value

    @field_validator("caption")
    @classmethod
    def _caption_not_blank(cls, value: str | None) -> str | None:
        return value if value is None else _not_blank(value)

    @model_validator(mode="after")
    def _attribution_not_contradicted(self) -> VideoUpdate:
        if (
            self.display_social_attributions
            and "external_media" in self.model_fields_set
            and self.external_media is None
        ):
            raise PydanticCustomError(
                "external_media_conflict",
                "display_social_attributions=True cannot be combined with external_media=None"
            )
        return self


class Video(ResponseModel):
    """A video as the API returns it (create, update, get).

    Only ``id`` is required: a create that succeeded must never fail to parse and lose the id.
    """

    id: str
    access: str = "public"
    audio_disabled: bool = False
    caption: str = ""
    description: str | None = None
    hashtags: list[str] = Field(default_factory=list)
    archived_at: str | None = None
    product_ids: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    display_social_attributions: bool = False
    external_media: ExternalMediaInfo | None = None
    thumbnail_url: str | None = None
    video_posters: list[VideoPoster] = Field(default_factory=list)

    @field_validator("hashtags", "product_ids", "video_posters", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _null_dict(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("audio_disabled", "display_social_attributions", mode="before")
    @classmethod
    def _null_bool(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("access", "caption", mode="before")
    @classmethod
    def _null_str(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return "public" if info.field_name == "access" else ""
        return value
