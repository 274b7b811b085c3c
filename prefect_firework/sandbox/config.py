"""``SandboxConfig``: every limit and behaviour of the sandbox, in one place.

The sandbox is an independent reading of the API's rules, so these constants repeat the ones
the client keeps: if both sides shared them, a misreading would pass every test. Sizes are
binary units, as AWS reads them: 25 KB is 25,600 bytes, 5 GB 5,368,709,120 bytes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from prefect_firework.sandbox.engine._ids import ENCODED_ID_MAX, is_encoded_id

__all__ = ["SandboxConfig", "human_size"]

KIB = 1024
MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox behaves; the defaults are the spec's values.

    Every limit is configurable so tests reach each rule with small files and short clocks,
    e.g. ``SandboxConfig(min_part_size=64 * 1024, max_file_size=1024 * 1024)``.

    The seeded identities are new on every start unless pinned: ``seed=7`` derives all of
    them from 7, ``client_id`` / ``client_secret`` / ``channel_ids`` set those outright (they
    win over the seed), so a saved credentials block and a manifest outlive a restart.
    """

    #: interface to bind; anything but loopback also needs ``allow_remote=True``
    host: str = "127.0.0.1"
    #: API port; 0 picks a free one
    port: int = 0
    #: strict S3 front port; 0 picks a free one
    s3_port: int = 0
    #: required to bind a non-loopback interface (the sandbox has no real security)
    allow_remote: bool = False

    #: derive every seeded id and secret from this number (clients and their secrets, the
    #: no-membership client, both businesses, channels, stores, products): two sandboxes of
    #: one seed hand out the same ones. None: random on every start. Videos, imports, uploads
    #: and tokens stay random either way, so an id from before a restart is unknown (404)
    #: rather than some other, newer video's
    seed: int | None = None
    #: the main client's id, instead of the seeded or random one (printable ASCII, no spaces)
    client_id: str | None = None
    #: the main client's secret, instead of the seeded or random one (printable ASCII, no spaces)
    client_secret: str | None = None
    #: the main business's channel ids, in order (``channel_ids[0]`` is the default channel):
    #: each 1..32 base62 characters, distinct. Fewer than three keep the seeded rest; more add
    #: channels ``channel-4`` ...
    channel_ids: tuple[str, ...] | None = None

    #: smallest accepted file, bytes (25 KB)
    min_file_size: int = 25 * KIB
    #: largest accepted file, bytes (5 GB)
    max_file_size: int = 5 * GIB
    #: shortest accepted video, seconds, inclusive
    min_duration: float = 3.0
    #: longest accepted video, seconds, inclusive (1 hour)
    max_duration: float = 3600.0
    #: most parts of a multipart upload
    max_parts: int = 100
    #: every part but the last must be at least this big (5,242,880 bytes)
    min_part_size: int = 5_242_880
    #: above this size multipart is recommended; informational only
    single_upload_hint: int = 100 * MIB

    #: creates allowed per channel within ``rate_limit_window`` (20 per 5 minutes)
    rate_limit_count: int = 20
    #: sliding window of the per-channel create limit, seconds
    rate_limit_window: float = 300.0
    #: whether a 429 carries ``Retry-After`` (the spec promises none; False tests clients
    #: that must back off without it)
    rate_limit_retry_after: bool = True

    #: lifetime of upload policies and presigned part URLs, seconds (60 min)
    signature_lifetime: int = 3600
    #: lifetime of access tokens, seconds (``expires_in``)
    token_lifetime: int = 3600
    #: time from video creation until "transcoding" finishes (imports complete, thumbnails show)
    transcoding_delay: float = 0.5
    #: timeout of each network step when the sandbox downloads a URL (imports, posters)
    import_download_timeout: float = 30.0
    #: largest poster image the sandbox downloads, bytes
    max_poster_size: int = 10 * MIB
    #: longest caption, or None for no limit (the default). The spec names "caption too long"
    #: (422) but gives no number, so the sandbox invents none; set one to rehearse that 422
    #: ("caption too long (maximum is N characters)") with a limit you know of.
    max_caption_length: int | None = None
    #: longest custom field value
    max_custom_field_length: int = 1024
    #: threads that run async URL imports
    import_workers: int = 2

    #: where to POST signed webhooks (``video_created``, ``video_updated``,
    #: ``video_import_failed``); None sends none
    webhook_url: str | None = None
    #: endpoint secret the deliveries are signed with (``FW-Webhooks-Signature``)
    webhook_secret: str = "sandbox-webhook-secret"
    #: seconds before each retry of a delivery not answered 2xx; attempts = 1 + len
    #: (Firework: up to 6 attempts); make it short in tests, e.g. ``(0.05, 0.1)``
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)
    #: an attempt not answered within this many seconds failed (Firework: 30 s)
    webhook_timeout: float = 30.0
    #: the event types the endpoint is subscribed to
    webhook_events: tuple[str, ...] = ("video_created", "video_updated", "video_import_failed")

    #: name of the bucket behind the S3 front; "" gives each sandbox a bucket of its own
    #: (moto keeps one store per process, so sandboxes of one process would share objects)
    bucket: str = ""
    #: region used in credential scopes and signatures
    region: str = "us-east-1"

    #: the ETags the S3 front returns for part PUTs and presigned POSTs. ``"md5"``: the quoted
    #: MD5 of the bytes (the spec's "typically", and S3 without SSE-KMS/SSE-C). ``"opaque"``:
    #: as on an SSE-KMS or SSE-C bucket, 32 hex digits that are *not* the MD5 of the bytes and
    #: differ from one upload of the same bytes to the next; complete still wants them back.
    #: A completed multipart object's ETag is ``<MD5 of the part ETags>-<parts>`` either way.
    s3_etags: Literal["md5", "opaque"] = "md5"
    #: a presigned part PUT carrying a header its URL did not sign (the URLs sign only
    #: ``host``; the headers that count are ``Content-MD5`` and ``x-amz-*`` but
    #: ``x-amz-content-sha256``). ``"accept"``: as S3 often does; a ``Content-MD5`` is then
    #: checked (400 ``BadDigest`` if the bytes differ, 400 ``InvalidDigest`` if it is not the
    #: base64 of 16 bytes). ``"refuse"``: as S3 may, 403 ``AccessDenied`` "There were headers
    #: present in the request which were not signed" with ``<HeadersNotSigned>`` naming them,
    #: before the body is read. Presigned POSTs refuse any form field the policy does not
    #: list (``Content-MD5`` included) in both modes.
    s3_unsigned_headers: Literal["accept", "refuse"] = "accept"

    def __post_init__(self) -> None:
        problems = self._identity_problems()
        if not 0 <= self.min_file_size <= self.max_file_size:
            problems.append("need 0 <= min_file_size <= max_file_size")
        if not 0 <= self.min_duration <= self.max_duration:
            problems.append("need 0 <= min_duration <= max_duration")
        if self.max_parts < 1 or self.min_part_size < 1:
            problems.append("max_parts and min_part_size must be positive")
        if self.rate_limit_count < 1 or self.rate_limit_window <= 0:
            problems.append("rate limit count and window must be positive")
        if self.signature_lifetime < 1 or self.token_lifetime < 1:
            problems.append("signature_lifetime and token_lifetime must be >= 1 second")
        if self.transcoding_delay < 0 or self.import_download_timeout <= 0:
            problems.append("transcoding_delay must be >= 0 and import_download_timeout > 0")
        if self.max_caption_length is not None and self.max_caption_length < 1:
            problems.append("max_caption_length must be >= 1 or None (no limit)")
        if self.import_workers < 1:
            problems.append("import_workers must be >= 1")
        if self.webhook_url is not None and not self.webhook_url.startswith(
            ("http://", "https://")
        ):
            problems.append("webhook_url must be an http(s) URL")
        if not self.webhook_secret or self.webhook_timeout <= 0:
            problems.append("webhook_secret must be set and webhook_timeout > 0")
        if any(delay < 0 for delay in self.webhook_retry_delays):
            problems.append("webhook_retry_delays must be >= 0")
        if self.s3_etags not in ("md5", "opaque"):
            problems.append('s3_etags must be "md5" or "opaque"')
        if self.s3_unsigned_headers not in ("accept", "refuse"):
            problems.append('s3_unsigned_headers must be "accept" or "refuse"')
        if problems:
            raise ValueError("invalid SandboxConfig: " + "; ".join(problems))

    def _identity_problems(self) -> list[str]:
        """What is wrong with ``seed`` and the pinned ids (``channel_ids`` becomes a tuple)."""
        problems: list[str] = []
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            problems.append(f"seed must be an integer or None, not {self.seed!r}")
        for name in ("client_id", "client_secret"):
            value = getattr(self, name)
            if value is not None and not _is_credential(value):
                problems.append(f"{name} must be 1..255 printable ASCII characters without spaces")
        if self.channel_ids is None:
            return problems
        if isinstance(self.channel_ids, str) or not isinstance(self.channel_ids, (tuple, list)):
            problems.append(f"channel_ids must be a tuple of ids, not {self.channel_ids!r}")
            return problems
        object.__setattr__(self, "channel_ids", tuple(self.channel_ids))
        bad = [c for c in self.channel_ids if not is_encoded_id(c)]
        if not self.channel_ids:
            problems.append("channel_ids must name at least one channel (or be None)")
        elif bad:
            problems.append(
                f"channel_ids: {', '.join(map(repr, bad))} "
                f"{'is not an encoded id' if len(bad) == 1 else 'are not encoded ids'} "
                f"(1..{ENCODED_ID_MAX} letters and digits, e.g. 'X6Xqd6W')"
            )
        elif len(set(self.channel_ids)) != len(self.channel_ids):
            problems.append("channel_ids must be distinct")
        return problems

    def replace(self, **changes: Any) -> SandboxConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able view, served at ``GET /_sandbox/info``."""
        return dataclasses.asdict(self)


def _is_credential(value: object) -> bool:
    """1..255 printable ASCII characters, no whitespace: survives a form body and a banner."""
    return (
        isinstance(value, str) and 0 < len(value) <= 255 and all("!" <= ch <= "~" for ch in value)
    )


def human_size(n: int) -> str:
    """Format a limit the way the spec's messages do: 25600 -> "25KB", 5 GiB -> "5GB"."""
    for unit, scale in (("GB", GIB), ("MB", MIB), ("KB", KIB)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return f"{n}B"
