"""S3's errors, one class per error code the sandbox answers; each renders S3's XML body.

``S3Error`` holds the code, the status and a default message; a raise may give its own message
and extra elements (``ProposedSize``, ``HeadersNotSigned`` ...), which follow ``<Message>`` in
the body. The front answers any ``S3Error`` a handler raises; injected faults answer the class
of their status.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar
from xml.sax.saxutils import escape

from prefect_firework.sandbox.engine._ids import new_id

if TYPE_CHECKING:
    from prefect_firework.sandbox.faults import FaultRule

__all__ = [
    "AccessDenied",
    "BadDigest",
    "BadRequest",
    "EntityTooLarge",
    "EntityTooSmall",
    "IncompleteBody",
    "InternalError",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidDigest",
    "InvalidPolicyDocument",
    "MalformedPOSTRequest",
    "MethodNotAllowed",
    "MissingContentLength",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "NotImplementedHere",
    "OperationAborted",
    "S3Error",
    "SignatureDoesNotMatch",
    "SlowDown",
    "s3_fault_body",
]


class S3Error(Exception):
    """An S3 error response: ``<Code>``, its status, ``<Message>`` and extra elements."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = self.default_message if message is None else message
        super().__init__(self.message)
        self.extra = extra

    def body(self) -> bytes:
        """The XML error document, with a fresh ``<RequestId>``."""
        items = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in self.extra.items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            f"{items}<RequestId>{new_id(16)}</RequestId></Error>"
        ).encode()


class InternalError(S3Error):
    pass


class BadRequest(S3Error):
    code, status = "BadRequest", 400
    default_message = "Bad Request"


class InvalidArgument(S3Error):
    code, status = "InvalidArgument", 400
    default_message = "Invalid Argument"


class MalformedPOSTRequest(S3Error):
    code, status = "MalformedPOSTRequest", 400
    default_message = "The body of your POST request is not well-formed multipart/form-data."


class InvalidPolicyDocument(S3Error):
    code, status = "InvalidPolicyDocument", 400
    default_message = "Invalid Policy: malformed"


class EntityTooSmall(S3Error):
    code, status = "EntityTooSmall", 400
    default_message = "Your proposed upload is smaller than the minimum allowed size"


class EntityTooLarge(S3Error):
    code, status = "EntityTooLarge", 400
    default_message = "Your proposed upload exceeds the maximum allowed size"


class IncompleteBody(S3Error):
    code, status = "IncompleteBody", 400
    default_message = (
        "You did not provide the number of bytes specified by the Content-Length HTTP header."
    )


class InvalidDigest(S3Error):
    code, status = "InvalidDigest", 400
    default_message = "The Content-MD5 you specified was invalid."


class BadDigest(S3Error):
    code, status = "BadDigest", 400
    default_message = "The Content-MD5 you specified did not match what we received."


class AccessDenied(S3Error):
    code, status = "AccessDenied", 403
    default_message = "Access Denied"


class InvalidAccessKeyId(S3Error):
    code, status = "InvalidAccessKeyId", 403
    default_message = "The AWS Access Key Id you provided does not exist in our records."


class SignatureDoesNotMatch(S3Error):
    code, status = "SignatureDoesNotMatch", 403
    default_message = (
        "The request signature we calculated does not match the signature you provided."
    )


class NoSuchBucket(S3Error):
    code, status = "NoSuchBucket", 404
    default_message = "The specified bucket does not exist"


class NoSuchKey(S3Error):
    code, status = "NoSuchKey", 404
    default_message = "The specified key does not exist."


class NoSuchUpload(S3Error):
    code, status = "NoSuchUpload", 404
    default_message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed."
    )


class MethodNotAllowed(S3Error):
    code, status = "MethodNotAllowed", 405
    default_message = "The specified method is not allowed against this resource."


class OperationAborted(S3Error):
    code, status = "OperationAborted", 409
    default_message = "A conflicting conditional operation is currently in progress."


class MissingContentLength(S3Error):
    code, status = "MissingContentLength", 411
    default_message = "You must provide the Content-Length HTTP header."


class NotImplementedHere(S3Error):
    """``NotImplemented`` (the class name would shadow Python's ``NotImplemented``)."""

    code, status = "NotImplemented", 501
    default_message = "A header you provided implies functionality that is not implemented"


class SlowDown(S3Error):
    code, status = "SlowDown", 503
    default_message = "Please reduce your request rate."


#: the error an injected fault answers for its status (``InternalError`` for any other)
_FAULT_ERRORS: dict[int, type[S3Error]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        AccessDenied,
        NoSuchKey,
        OperationAborted,
        InternalError,
        NotImplementedHere,
        SlowDown,
    )
}


def s3_fault_body(rule: FaultRule) -> tuple[str, bytes]:
    """Body of an injected fault on an S3 endpoint (XML unless the test gave its own)."""
    if rule.body is not None:
        if isinstance(rule.body, bytes):
            return "application/octet-stream", rule.body
        if isinstance(rule.body, str):
            return "application/xml", rule.body.encode()
        return "application/json", json.dumps(rule.body).encode()
    status = rule.status or 500
    error = _FAULT_ERRORS.get(status, InternalError)(f"Injected fault: HTTP {status}")
    return "application/xml", error.body()
