"""Keep secrets out of URLs, messages and log records.

Three kinds of secret pass through this client: the OAuth client secret, the bearer tokens it
buys, and presigned S3 credentials (a POST's ``Policy``/``X-Amz-Signature``, a part URL's query
string). Any of them in a log line or an exception string is a leak, because Prefect ships both to
its API and UI. So every URL we print goes through :func:`redact_url`, every free text we print
goes through :func:`redact`, and :func:`install_log_redaction` puts a filter on the loggers of the
libraries our calls drive (httpx logs full presigned URLs at INFO; botocore, urllib3 and
smart-open log signatures, presigned request lines and storage keys at DEBUG).

Redaction is pattern based (URL query strings, ``Bearer ...``, ``key=value`` and JSON pairs with
sensitive names) and, as a second line of defence, value based: the client registers every secret
it handles with :func:`register_secret` and :func:`redact` replaces those exact values anywhere.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import SecretStr

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "display_name",
    "install_log_redaction",
    "redact",
    "redact_source",
    "redact_url",
    "register_secret",
    "scrub",
]

REDACTED = "[REDACTED]"

#: Query parameters whose values are safe (and useful) to keep in logs.
_SAFE_QUERY_KEYS = frozenset({"partnumber", "uploadid", "part", "async"})
#: Query parameter prefixes that are signing material as a whole: dropped, not just blanked.
_SIGNING_PREFIXES = ("x-amz-", "x-goog-")

_SENSITIVE_NAMES = (
    r"access_token|refresh_token|id_token|client_secret|password|secret|token|"
    r"policy|signature|put_url|post_url_signature|credential|authorization|"
    r"aws_secret_access_key|aws_session_token|aws_access_key_id|secret_access_key|"
    r"session_token|account_key|accountkey|sas_token|sharedaccesssignature|"
    r"connection_string|private_key|x-amz-[a-z0-9-]+|x-goog-[a-z0-9-]+|awsaccesskeyid|sig"
)
# "name": "value" (JSON, or a Python repr with single quotes) and name=value / name: value
# (forms, headers, query strings).
_JSON_PAIR = re.compile(
    r"""(?i)(["'](?:""" + _SENSITIVE_NAMES + r""")["']\s*:\s*)"""
    r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,}\]]+)"""
)
_KV_PAIR = re.compile(r"(?i)(?<![\w-])((?:" + _SENSITIVE_NAMES + r")\s*[=:]\s*)([^\s&,;\"'}\]]+)")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
# user:password@ (or a lone user@) in a URI of any scheme: s3://KEY:SECRET@bucket, https://u:p@
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"'<>]+@")
_URL = re.compile(r"https?://[^\s\"'<>]+")

_MIN_SECRET_LEN = 8
_MAX_SECRETS = 2048
_secrets: OrderedDict[str, None] = OrderedDict()
_secrets_lock = threading.Lock()


def register_secret(value: str | SecretStr | None) -> None:
    """Remember a secret value so :func:`redact` scrubs it wherever it appears.

    Short values are ignored (redacting every "abc" would mangle ordinary text). The registry is
    bounded; the oldest entries (long-expired tokens, used signatures) fall out first.
    """
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        _secrets[value] = None
        _secrets.move_to_end(value)
        while len(_secrets) > _MAX_SECRETS:
            _secrets.popitem(last=False)


def redact_url(url: object) -> str:
    """Return ``url`` safe to print: no password, no fragment, no signing query parameters.

    ``partNumber`` and ``uploadId`` keep their values; ``X-Amz-*``/``X-Goog-*`` parameters are
    dropped entirely (one ``[REDACTED]`` marks where they were); every other query value becomes
    ``[REDACTED]``.
    """
    if isinstance(url, SecretStr):
        url = url.get_secret_value()
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact(text, _urls=False)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
    kept: list[str] = []
    dropped_signing = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        lowered = key.lower()
        if lowered.startswith(_SIGNING_PREFIXES):
            dropped_signing = True
        elif lowered in _SAFE_QUERY_KEYS:
            kept.append(f"{quote(key)}={quote(value)}")
        else:
            kept.append(f"{quote(key)}={REDACTED}")
    if dropped_signing:
        kept.append(REDACTED)
    cleaned = urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), ""))
    return _scrub_known(cleaned)


def redact(text: object, *, _urls: bool = True) -> str:
    """Return ``text`` with URLs, bearer tokens, sensitive pairs and known secrets scrubbed."""
    if isinstance(text, SecretStr):
        return REDACTED
    out = str(text)
    out = _USERINFO.sub(lambda m: m.group(1), out)
    if _urls:
        out = _URL.sub(lambda m: redact_url(m.group(0)), out)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", out)
    out = _JSON_PAIR.sub(lambda m: f"{m.group(1)}'{REDACTED}'", out)
    out = _KV_PAIR.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    return _scrub_known(out)


def scrub(text: str, *, limit: int = 2000) -> str:
    """:func:`redact`, then cut to ``limit`` characters (for records that are stored)."""
    out = redact(text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def redact_source(source: object) -> str:
    """A source URI safe to show: no ``user:secret@`` part, no query string, no fragment.

    Local paths are returned unchanged (they hold no credentials and ``?`` is a legal file-name
    character). The credential rule follows smart-open's S3 parser, where an AWS secret may
    contain ``/``: everything up to the first ``@`` is dropped when it looks like ``id:secret``
    with no ``/`` in the id (a plain ``user@host`` is dropped too).
    """
    text = str(source) if not hasattr(source, "__fspath__") else source.__fspath__()
    if "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    for sep in ("?", "#"):
        rest = rest.split(sep, 1)[0]
    if "@" in rest:
        maybe_auth, tail = rest.split("@", 1)
        looks_like_secret = ":" in maybe_auth and "/" not in maybe_auth.split(":", 1)[0]
        if looks_like_secret or "/" not in maybe_auth:
            rest = tail
    return f"{scheme}://{rest}"


def display_name(source: object, default: str = "video") -> str:
    """The last path segment of a source, for run names and messages: no query, no secret."""
    shown = redact_source(source)
    if "://" in shown:
        shown = shown.split("://", 1)[1].partition("/")[2]
    name = shown.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name or default


def _scrub_known(text: str) -> str:
    with _secrets_lock:
        known = list(_secrets)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message through :func:`redact`.

    It formats the record once (``msg % args``), redacts the result and stores it back with no
    args, so handlers further down see only the scrubbed text. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


#: The loggers of the libraries our calls drive, which print request URLs, headers, signing
#: steps or the arguments they were given (smart-open logs ``transport_params`` at DEBUG,
#: botocore its signatures, urllib3 presigned request lines). A logger's filters do not apply
#: to its children's records, so each family is covered logger by logger: the ones known to
#: log are created up front, and every other existing child is found on each install.
_FAMILIES = (
    "httpx",
    "httpcore",
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "smart_open",
    "google",
    "azure",
    "prefect_firework",
)
_KNOWN_CHILDREN = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "botocore.auth",
    "botocore.awsrequest",
    "botocore.client",
    "botocore.credentials",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.regions",
    "botocore.retryhandler",
    "botocore.utils",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.response",
    "urllib3.util.retry",
    "smart_open.smart_open_lib",
    "smart_open.s3",
    "smart_open.http",
    "smart_open.gcs",
    "smart_open.azure",
    "smart_open.utils",
    "smart_open.transport",
    "azure.core.pipeline.policies.http_logging_policy",
    "google.auth.transport.requests",
    "prefect_firework.client",
    "prefect_firework.sources",
)
_install_lock = threading.Lock()
_covered: set[str] = set()
_seen_loggers = -1


def _needs_filter(name: str) -> bool:
    return any(name == family or name.startswith(family + ".") for family in _FAMILIES)


def install_log_redaction() -> None:
    """Attach one :class:`RedactingFilter` to every logger of the libraries our calls drive
    (see ``_FAMILIES``), existing children included. Cheap to call again: it rescans only
    when new loggers were created since (a library imported later)."""
    global _seen_loggers
    manager = logging.Logger.manager
    with _install_lock:
        count = len(manager.loggerDict)
        if count == _seen_loggers:
            return
        names = [*_FAMILIES, *_KNOWN_CHILDREN]
        names += [name for name in list(manager.loggerDict) if _needs_filter(name)]
        for name in names:
            if name in _covered:
                continue
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())
            _covered.add(name)
        _seen_loggers = len(manager.loggerDict)
