"""Models: spec validation before any request, and "omitted" vs "null" vs "empty" in to_api()."""

from __future__ import annotations

import pickle
import re
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from prefect_firework.models import (
    AccessToken,
    CompletedPart,
    ExternalMedia,
    MultipartCompleteRequest,
    MultipartUpload,
    MultipartUploadRequest,
    PartSignature,
    UploadSignature,
    UploadSignatureRequest,
    Video,
    VideoFromS3Key,
    VideoFromUrl,
    VideoImport,
    VideoMetadata,
    VideoUpdate,
    validate_import_url,
)


def meta(**kw: object) -> VideoMetadata:
    return VideoMetadata(channel_id="ch1", caption="Hello", **kw)


def error_fields(exc: PydanticValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


# -- to_api semantics ---------------------------------------------------------------------------


def test_metadata_sends_only_fields_set() -> None:
    assert meta().to_api() == {"channel_id": "ch1", "caption": "Hello"}


def test_metadata_empty_lists_and_dicts_are_sent() -> None:
    body = meta(product_ids=[], custom_fields={}, hashtags=[]).to_api()
    assert body["product_ids"] == []
    assert body["custom_fields"] == {}
    assert body["hashtags"] == []


def test_update_omit_null_and_empty_string_are_distinct() -> None:
    assert VideoUpdate().to_api() == {}
    assert VideoUpdate(poster_url=None).to_api() == {"poster_url": None}
    assert VideoUpdate(poster_url="").to_api() == {"poster_url": ""}
    assert VideoUpdate(product_ids=[], custom_fields={}).to_api() == {
        "product_ids": [],
        "custom_fields": {},
    }
    assert VideoUpdate(description=None).to_api() == {"description": None}


def test_nested_external_media_sends_only_set_fields() -> None:
    body = meta(
        display_social_attributions=True,
        external_media=ExternalMedia(source="tiktok", url="https://tiktok.com/@a/video/1"),
    ).to_api()
    assert body["external_media"] == {"source": "tiktok", "url": "https://tiktok.com/@a/video/1"}


def test_model_copy_update_is_sent() -> None:
    update = VideoUpdate(caption="a").model_copy(update={"video_hidden": True})
    assert update.to_api() == {"caption": "a", "video_hidden": True}


def test_full_metadata_round_trip() -> None:
    m = meta(
        description="d",
        access="private",
        archived_at="2025-01-29T12:00:00Z",
        audio_disabled=True,
        hashtags=["a", "b"],
        business_store_id="store1",
        product_ids=["p1", "sku-2"],
        custom_fields={"campaign_2025": "spring"},
        poster_url="https://cdn.example.com/poster.PNG?x=1",
        video_hidden=False,
    )
    body = m.to_api()
    assert list(body)[:2] == ["channel_id", "caption"]
    assert body["archived_at"] == "2025-01-29T12:00:00Z"
    assert VideoMetadata.model_validate(body) == m


# -- validation mirrors the spec ----------------------------------------------------------------


@pytest.mark.parametrize("missing", ["channel_id", "caption"])
def test_metadata_required_fields(missing: str) -> None:
    kw = {"channel_id": "c", "caption": "x"}
    del kw[missing]
    with pytest.raises(PydanticValidationError) as info:
        VideoMetadata(**kw)
    assert missing in error_fields(info.value)


def test_typo_is_rejected() -> None:
    with pytest.raises(PydanticValidationError) as info:
        VideoMetadata(channel_id="c", caption="x", captoin="y")
    assert "captoin" in error_fields(info.value)
    with pytest.raises(PydanticValidationError):
        VideoUpdate(hashtag=["a"])


def test_access_enum() -> None:
    with pytest.raises(PydanticValidationError) as info:
        meta(access="unlisted")
    assert "access" in error_fields(info.value)


@pytest.mark.parametrize(
    "field",
    ["access", "hashtags", "product_ids", "custom_fields", "audio_disabled", "video_hidden"],
)
def test_non_nullable_fields_reject_explicit_none(field: str) -> None:
    with pytest.raises(PydanticValidationError) as info:
        VideoUpdate(**{field: None})
    assert field in error_fields(info.value)


@pytest.mark.parametrize("value", ["tag", [1, 2], ["ok", None]])
def test_hashtags_and_product_ids_must_be_lists_of_strings(value: object) -> None:
    with pytest.raises(PydanticValidationError):
        meta(hashtags=value)
    with pytest.raises(PydanticValidationError):
        VideoUpdate(product_ids=value)


@given(st.from_regex(re.compile(r"[a-z0-9_]{1,255}"), fullmatch=True))
def test_custom_field_valid_keys_accepted(key: str) -> None:
    assert VideoUpdate(custom_fields={key: "v"}).custom_fields == {key: "v"}


@given(st.text(min_size=0, max_size=300).filter(lambda k: not re.fullmatch(r"[a-z0-9_]{1,255}", k)))
def test_custom_field_invalid_keys_rejected(key: str) -> None:
    with pytest.raises(PydanticValidationError) as info:
        VideoUpdate(custom_fields={key: "v"})
    assert "custom_fields" in error_fields(info.value)


def test_custom_field_value_length() -> None:
    assert VideoUpdate(custom_fields={"k": "x" * 1024}).custom_fields
    with pytest.raises(PydanticValidationError, match="1025 characters"):
        VideoUpdate(custom_fields={"k": "x" * 1025})
    with pytest.raises(PydanticValidationError):
        VideoUpdate(custom_fields={"k": 5})


def test_social_attribution_requires_external_media_on_create() -> None:
    with pytest.raises(PydanticValidationError, match="external_media"):
        meta(display_social_attributions=True)
    with pytest.raises(PydanticValidationError):
        meta(display_social_attributions=True, external_media={"source": "tiktok"})
    ok = meta(
        display_social_attributions=True,
        external_media={"source": "tiktok", "url": "https://t.co/x"},
    )
    assert ok.external_media is not None


def test_social_attribution_on_update_defers_to_existing_media() -> None:
    # The video may already have external_media: the API decides, not the client.
    assert VideoUpdate(display_social_attributions=True).to_api() == {
        "display_social_attributions": True
    }
    with pytest.raises(PydanticValidationError, match="external_media=None"):
        VideoUpdate(display_social_attributions=True, external_media=None)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/p.jpg",
        "http://cdn.example.com/a/b/p.png",
        "https://cdn.example.com/p.JPG?v=2",
    ],
)
def test_poster_url_valid(url: str) -> None:
    assert meta(poster_url=url).poster_url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example.com/p.jpg",
        "https://cdn.example.com/p.gif",
        "https://cdn.example.com/p.jpeg",
        "https:///p.jpg",
        "cdn.example.com/p.jpg",
        "https://cdn.example.com/p?x=.jpg",
    ],
)
def test_poster_url_invalid(url: str) -> None:
    with pytest.raises(PydanticValidationError) as info:
        meta(poster_url=url)
    assert "poster_url" in error_fields(info.value)
    with pytest.raises(PydanticValidationError):
        VideoUpdate(poster_url=url)


def test_poster_url_null_or_empty_means_no_custom_poster() -> None:
    # "set to null or empty to remove": a new video has no custom poster, so on a create both
    # mean "none" and nothing is sent; on an update they remove the poster and are sent
    for empty in (None, ""):
        created = meta(poster_url=empty)
        assert "poster_url" not in created.to_api() and "poster_url" not in created.model_fields_set
        assert VideoUpdate(poster_url=empty).to_api() == {"poster_url": empty}


def test_archived_at_iso8601() -> None:
    when = datetime(2025, 1, 29, 12, 0, tzinfo=timezone.utc)
    assert meta(archived_at=when).to_api()["archived_at"] == "2025-01-29T12:00:00+00:00"
    assert meta(archived_at="2025-01-29T12:00:00.123Z").archived_at
    assert VideoUpdate(archived_at=None).to_api() == {"archived_at": None}
    for bad in ("yesterday", "2025-13-01T00:00:00Z", "29/01/2025"):
        with pytest.raises(PydanticValidationError) as info:
            meta(archived_at=bad)
        assert "archived_at" in error_fields(info.value)


def test_update_caption_cannot_be_null_or_empty() -> None:
    with pytest.raises(PydanticValidationError):
        VideoUpdate(caption=None)
    with pytest.raises(PydanticValidationError):
        VideoUpdate(caption="")


# -- uploads ------------------------------------------------------------------------------------


def test_upload_signature_request_mime_type() -> None:
    req = UploadSignatureRequest(filename="a.mov", mime_type="video/quicktime", channel_id="c")
    assert req.to_api() == {"filename": "a.mov", "mime_type": "video/quicktime", "channel_id": "c"}
    with pytest.raises(PydanticValidationError, match="mime_type"):
        UploadSignatureRequest(filename="a.avi", mime_type="video/x-msvideo", channel_id="c")


@pytest.mark.parametrize("count", [0, 101, -1])
def test_parts_count_range(count: int) -> None:
    with pytest.raises(PydanticValidationError) as info:
        MultipartUploadRequest(
            filename="a", mime_type="video/mp4", channel_id="c", parts_count=count
        )
    assert "parts_count" in error_fields(info.value)


def test_upload_signature_secrets_hidden_and_order() -> None:
    sig = UploadSignature(
        key="k",
        post_url="https://s3/",
        policy="POLICYVALUE123",
        signature="SIGVALUE123456",
        date="20250129T120000Z",
        credential="AKIA/x",
    )
    assert "POLICYVALUE123" not in repr(sig) and "SIGVALUE123456" not in str(sig)
    assert "POLICYVALUE123" not in sig.model_dump_json()
    names = [name for name, _ in sig.form_fields("video/mp4")]
    assert names == [
        "key",
        "acl",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "Policy",
        "X-Amz-Signature",
        "Content-Type",
    ]
    restored = pickle.loads(pickle.dumps(sig))
    assert restored.policy.get_secret_value() == "POLICYVALUE123"


def test_part_signature_nested_and_flat_shapes() -> None:
    nested = PartSignature.model_validate(
        {"part": 2, "signature": {"put_url": "https://s3/x?X-Amz-Signature=abc", "key": "k"}}
    )
    flat = PartSignature.model_validate({"part": 2, "put_url": "https://s3/x", "key": "k"})
    assert isinstance(nested.put_url, SecretStr) and nested.key == "k"
    assert "abc" not in repr(nested)
    assert flat.part == 2
    upload = MultipartUpload.model_validate(
        {"key": "k", "upload_id": "u", "parts": [nested.model_dump(), flat.model_dump()]}
        | {"parts": [{"part": 3, "put_url": "x"}, {"part": 1, "put_url": "y"}]}
    )
    assert [p.part for p in upload.parts] == [1, 3]


def test_complete_request_rules() -> None:
    parts = [CompletedPart(part=2, etag='"b"'), CompletedPart(part=1, etag='"a"')]
    body = MultipartCompleteRequest(key="k", upload_id="u", parts=parts).to_api()
    assert body["parts"] == [{"part": 1, "etag": '"a"'}, {"part": 2, "etag": '"b"'}]
    with pytest.raises(PydanticValidationError, match="duplicate"):
        MultipartCompleteRequest(key="k", upload_id="u", parts=[parts[0], parts[0]])
    with pytest.raises(PydanticValidationError):
        MultipartCompleteRequest(key="k", upload_id="u", parts=[])
    with pytest.raises(PydanticValidationError):
        CompletedPart(part=1, etag="")
    with pytest.raises(PydanticValidationError):
        CompletedPart(part=101, etag="x")
    too_many = [CompletedPart(part=i % 100 + 1, etag="x") for i in range(101)]
    with pytest.raises(PydanticValidationError):
        MultipartCompleteRequest(key="k", upload_id="u", parts=too_many)


# -- imports ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/v.mp4", "scheme"),
        ("file:///tmp/v.mp4", "scheme"),
        ("https://localhost/v.mp4", "dot"),
        ("https:///v.mp4", "dot"),
        ("https://example.com", "path"),
        ("https://example.com/", "path"),
    ],
)
def test_import_url_rules(url: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        validate_import_url(url)
    with pytest.raises(PydanticValidationError, match=rule):
        VideoFromUrl(url=url, metadata=meta())


def test_import_body_is_flat() -> None:
    body = VideoFromUrl(
        url="https://example.com/v.mp4", asynchronous=True, metadata=meta(hashtags=["x"])
    ).to_api()
    assert body == {
        "url": "https://example.com/v.mp4",
        "async": True,
        "channel_id": "ch1",
        "caption": "Hello",
        "hashtags": ["x"],
    }
    assert VideoFromS3Key(s3_key="k", metadata=meta()).to_api() == {
        "s3_key": "k",
        "channel_id": "ch1",
        "caption": "Hello",
    }


def test_video_import_parsing() -> None:
    running = VideoImport.model_validate(
        {
            "id": "i1",
            "status": "running",
            "video_id": None,
            "created_at": "2025-01-29T12:00:00Z",
            "completed_at": None,
            "extra": 1,
        }
    )
    assert not running.done and running.video_id is None
    errored = VideoImport.model_validate(
        {
            "id": "i1",
            "status": "errored",
            "created_at": "2025-01-29T12:00:00Z",
            "error": {"message": "download failed"},
        }
    )
    assert errored.done and not errored.succeeded and errored.error == "download failed"
    with pytest.raises(PydanticValidationError):
        VideoImport.model_validate({"id": "i1", "status": "weird"})


# -- responses ----------------------------------------------------------------------------------


def test_video_is_tolerant() -> None:
    video = Video.model_validate(
        {
            "id": "v1",
            "caption": "c",
            "access": "unlisted",
            "hashtags": None,
            "custom_fields": None,
            "external_media": {"source": "tiktok", "url": "u", "username": "me", "id": 7},
            "video_posters": [
                {
                    "url": "https://cdn/p.jpg",
                    "aspect_ratio": "9:16",
                    "format": "jpg",
                    "width": 540,
                    "height": 960,
                }
            ],
            "brand_new_field": True,
        }
    )
    assert video.hashtags == [] and video.custom_fields == {}
    assert video.external_media is not None and video.external_media.username == "me"
    assert video.video_posters[0].width == 540
    assert Video.model_validate({"id": "v2"}).video_posters == []


def test_access_token_expiry() -> None:
    token = AccessToken.model_validate({"access_token": "tok-abcdefgh", "expires_in": 120})
    assert "tok-abcdefgh" not in repr(token)
    assert not token.expires_within(60)
    assert token.expires_within(121)
    default = AccessToken.model_validate({"access_token": "tok-abcdefgh"})
    assert default.expires_in == 3600
    with pytest.raises(PydanticValidationError):
        AccessToken.model_validate({"expires_in": 10})


@pytest.mark.parametrize(
    "model",
    [
        meta(custom_fields={"a": "b"}, external_media=ExternalMedia(source="s", url="https://social.example.com/p/1")),
        VideoUpdate(poster_url=None),
        Video(id="v"),
        VideoImport(id="i", status="running"),
        AccessToken.model_validate({"access_token": "tok-abcdefgh"}),
        CompletedPart(part=1, etag='"e"'),
        PartSignature(part=1, put_url="https://s3/x"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_models_pickle(model: object) -> None:
    restored = pickle.loads(pickle.dumps(model))
    assert restored == model
    if hasattr(model, "to_api"):
        assert restored.to_api() == model.to_api()  # fields_set survives
