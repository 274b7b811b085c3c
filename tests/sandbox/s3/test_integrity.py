"""Integrity on any bucket (issue 13): ETags that are not MD5s, unsigned headers, Content-MD5.

Real S3 shows two behaviours a client must survive, each a ``SandboxConfig`` switch here:
``s3_etags="opaque"`` (SSE-KMS / SSE-C buckets: an ETag is 32 hex digits but not the MD5 of the
bytes) and ``s3_unsigned_headers="refuse"`` (a presigned PUT carrying a header its URL did not
sign is refused). ``Content-MD5`` on a part PUT is checked whenever it may be sent.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest
from sandbox_support import (
    HTTP,
    PART,
    SMALL,
    Api,
    error_of,
    md5_of,
    post_fields,
    s3_code,
    s3_post,
    split,
)

from prefect_firework.sandbox import Sandbox, SandboxConfig

NOT_SIGNED = "There were headers present in the request which were not signed"
BAD_DIGEST = "The Content-MD5 you specified did not match what we received."
INVALID_DIGEST = "The Content-MD5 you specified was invalid."
MODES = {
    "md5-accept": {},
    "opaque-accept": {"s3_etags": "opaque"},
    "md5-refuse": {"s3_unsigned_headers": "refuse"},
    "opaque-refuse": {"s3_etags": "opaque", "s3_unsigned_headers": "refuse"},
}


def _element(resp: httpx.Response, name: str) -> str:
    match = re.search(f"<{name}>(.*?)</{name}>", resp.text)
    assert match, resp.text
    return match.group(1)


def _b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _multipart_etag(etags: list[str]) -> str:
    joined = b"".join(bytes.fromhex(e.strip('"')) for e in etags)
    return f"{hashlib.md5(joined).hexdigest()}-{len(etags)}"


@pytest.fixture(scope="module")
def sandboxes(shared_sandbox: Sandbox) -> Iterator[dict[str, Sandbox]]:
    """One sandbox per mode (the default one is the suite's shared sandbox)."""
    started: dict[str, Sandbox] = {"md5-accept": shared_sandbox}
    try:
        for name, changes in MODES.items():
            if changes:
                started[name] = Sandbox(config=SMALL.replace(**changes)).start()
        yield started
    finally:
        for name, sandbox in started.items():
            if name != "md5-accept":
                sandbox.stop()


@pytest.fixture
def mode_api(request: pytest.FixtureRequest, sandboxes: dict[str, Sandbox]) -> Iterator[Api]:
    sandbox = sandboxes[request.param]
    sandbox.reset()
    client = Api(sandbox)
    yield client
    client.close()


def _api_for(sandboxes: dict[str, Sandbox], mode: str) -> Api:
    sandboxes[mode].reset()
    return Api(sandboxes[mode])


# -- every mode: single and multipart uploads work, with the ETags that mode gives ------------


def _check_etag(mode: str, etag: str, data: bytes) -> str:
    """Assert the ETag's shape for the mode; return it unquoted."""
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), etag
    bare = etag.strip('"')
    if mode.startswith("md5"):
        assert bare == hashlib.md5(data).hexdigest()
    else:
        assert bare != hashlib.md5(data).hexdigest()
    return bare


@pytest.mark.parametrize("mode_api", list(MODES), indirect=True)
def test_single_post_upload_in_each_mode(mode_api: Api, media) -> None:
    api, mode = mode_api, _mode_of(mode_api)
    data = media.clip.read_bytes()
    etags = []
    for _ in range(2):  # the same bytes twice
        sig = api.signature()
        resp = s3_post(sig["post_url"], post_fields(sig), data)
        assert resp.status_code == 204, resp.text
        etags.append(_check_etag(mode, resp.headers["etag"], data))
        obj = {o["key"]: o for o in api.sb.objects()}[sig["key"]]
        assert (obj["size"], obj["md5"], obj["etag"]) == (
            len(data),
            md5_of(media.clip),
            etags[-1],
        )
        assert api.create_ok(s3_key=sig["key"])["id"]
    if mode.startswith("opaque"):
        assert etags[0] != etags[1]  # new for every upload, as on SSE-KMS
    else:
        assert etags[0] == etags[1]


@pytest.mark.parametrize("mode_api", list(MODES), indirect=True)
def test_multipart_upload_in_each_mode(mode_api: Api, media) -> None:
    api, mode = mode_api, _mode_of(mode_api)
    data = media.big.read_bytes()
    chunks = split(data, [PART, PART, -1])
    init = api.initiate(3)
    parts = api.put_parts(init, chunks)
    bare = [_check_etag(mode, p["etag"], c) for p, c in zip(parts, chunks, strict=True)]
    again = HTTP.put(init["parts"][0]["signature"]["put_url"], content=chunks[0])
    assert again.status_code == 200
    if mode.startswith("opaque"):
        assert again.headers["etag"].strip('"') != bare[0]  # the same bytes, a new ETag
        # complete wants the ETags the bucket gave, not the MD5s
        md5s = [
            {"part": p["part"], "etag": hashlib.md5(c).hexdigest()}
            for p, c in zip(parts, chunks, strict=True)
        ]
        assert error_of(api.complete(init, md5s)) == "Multipart upload failed"
    parts[0] = {"part": 1, "etag": again.headers["etag"]}
    assert api.complete(init, parts).status_code == 204
    obj = {o["key"]: o for o in api.sb.objects()}[init["key"]]
    assert (obj["size"], obj["md5"]) == (len(data), md5_of(media.big))
    assert obj["etag"] == _multipart_etag([p["etag"] for p in parts])
    assert api.sb.video(api.create_ok(s3_key=init["key"])["id"])["size"] == len(data)


def _mode_of(api: Api) -> str:
    cfg = api.sb.config
    return f"{cfg.s3_etags}-{cfg.s3_unsigned_headers}"


# -- Content-MD5, where unsigned headers are accepted (the default) ----------------------------


@pytest.mark.parametrize("mode", ["md5-accept", "opaque-accept"])
def test_content_md5_is_checked_on_part_puts(sandboxes: dict[str, Sandbox], media, mode) -> None:
    api = _api_for(sandboxes, mode)
    try:
        data = media.big.read_bytes()
        chunks = split(data, [PART, -1])
        init = api.initiate(2)
        urls = [p["signature"]["put_url"] for p in init["parts"]]
        first = HTTP.put(urls[0], content=chunks[0], headers={"Content-MD5": _b64md5(chunks[0])})
        assert first.status_code == 200, first.text
        # a body that is not what the Content-MD5 says: BadDigest, and the part stays as it was
        corrupted = bytes([chunks[0][0] ^ 0xFF]) + chunks[0][1:]
        bad = HTTP.put(urls[0], content=corrupted, headers={"Content-MD5": _b64md5(chunks[0])})
        assert (bad.status_code, s3_code(bad)) == (400, "BadDigest")
        assert _element(bad, "Message") == BAD_DIGEST
        assert _element(bad, "ExpectedDigest") == hashlib.md5(chunks[0]).hexdigest()
        assert _element(bad, "CalculatedDigest") == _b64md5(corrupted)
        second = HTTP.put(urls[1], content=chunks[1], headers={"Content-MD5": _b64md5(chunks[1])})
        assert second.status_code == 200
        (upload,) = api.sb.multipart_uploads()
        assert [p["etag"] for p in upload["parts"]] == [
            first.headers["etag"].strip('"'),
            second.headers["etag"].strip('"'),
        ]
        parts = [
            {"part": 1, "etag": first.headers["etag"]},
            {"part": 2, "etag": second.headers["etag"]},
        ]
        assert api.complete(init, parts).status_code == 204
        assert {o["key"]: o["md5"] for o in api.sb.objects()}[init["key"]] == md5_of(media.big)
    finally:
        api.close()


@pytest.mark.parametrize(
    "value",
    ["", "YWJyYWNhZGFicmE=", "d41d8cd98f00b204e9800998ecf8427e", "not base64 at all!", "AAAA"],
    ids=["empty", "short", "hex", "garbage", "3-bytes"],
)
def test_malformed_content_md5_is_invalid_digest(api: Api, value: str) -> None:
    init = api.initiate(1)
    resp = HTTP.put(
        init["parts"][0]["signature"]["put_url"],
        content=b"x" * 1000,
        headers={"Content-MD5": value},
    )
    assert (resp.status_code, s3_code(resp)) == (400, "InvalidDigest")
    assert _element(resp, "Message") == INVALID_DIGEST
    assert api.sb.multipart_uploads()[0]["parts"] == []


def test_unsigned_x_amz_headers_are_accepted_by_default(api: Api) -> None:
    init = api.initiate(1)
    resp = HTTP.put(
        init["parts"][0]["signature"]["put_url"],
        content=b"x" * 1000,
        headers={"x-amz-meta-origin": "test", "x-amz-checksum-crc32": "AAAAAA=="},
    )
    assert resp.status_code == 200, resp.text


def test_post_policy_fixes_the_form_fields(api: Api, media) -> None:
    """A Content-MD5 (or any field the policy does not list) fails the policy, in every mode."""
    sig = api.signature()
    fields = post_fields(sig)
    fields.insert(-1, ("Content-MD5", _b64md5(media.clip.read_bytes())))
    resp = s3_post(sig["post_url"], fields, media.clip.read_bytes())
    assert (resp.status_code, s3_code(resp)) == (403, "AccessDenied")
    assert "Extra input fields: content-md5" in resp.text
    assert api.sb.objects() == []


# -- refusing unsigned headers, as S3 may -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, "content-md5"),
        ({"Content-MD5": "not valid"}, "content-md5"),  # refused before it is looked at
        ({"x-amz-checksum-crc32": "AAAAAA=="}, "x-amz-checksum-crc32"),
        (
            {
                "x-amz-meta-a": "1",
                "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
                "X-Amz-Acl": "private",
            },
            "x-amz-meta-a, content-md5, x-amz-acl",
        ),
    ],
    ids=["content-md5", "invalid-content-md5", "checksum", "several"],
)
def test_refuse_mode_names_the_unsigned_headers(
    sandboxes: dict[str, Sandbox], headers: dict[str, str], named: str
) -> None:
    api = _api_for(sandboxes, "md5-refuse")
    try:
        init = api.initiate(1)
        resp = HTTP.put(init["parts"][0]["signature"]["put_url"], content=b"", headers=headers)
        assert (resp.status_code, s3_code(resp)) == (403, "AccessDenied")
        assert _element(resp, "Message") == NOT_SIGNED
        assert _element(resp, "HeadersNotSigned") == named
        assert api.sb.multipart_uploads()[0]["parts"] == []
    finally:
        api.close()


def test_refuse_mode_accepts_what_every_request_carries(sandboxes: dict[str, Sandbox]) -> None:
    """Host and Content-Length (and Content-Type, User-Agent, ...) need no signature, nor an
    unsigned payload hash."""
    api = _api_for(sandboxes, "md5-refuse")
    try:
        init = api.initiate(1)
        resp = HTTP.put(
            init["parts"][0]["signature"]["put_url"],
            content=b"x" * 1000,
            headers={
                "Content-Type": "video/mp4",
                "User-Agent": "test",
                "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
            },
        )
        assert resp.status_code == 200, resp.text
    finally:
        api.close()


def test_config_refuses_unknown_modes() -> None:
    with pytest.raises(ValueError, match="s3_etags"):
        SandboxConfig(s3_etags="sha256")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="s3_unsigned_headers"):
        SandboxConfig(s3_unsigned_headers="sometimes")  # type: ignore[arg-type]
    assert (SandboxConfig().s3_etags, SandboxConfig().s3_unsigned_headers) == ("md5", "accept")
