"""The form of a POST upload: a streaming multipart/form-data reader and the form's checks.

The reader keeps the fields in the order they came; the ``file`` field is spooled (1 MB in
memory, the rest on disk), counted and MD5-summed as it arrives, every other field is held in
memory up to 64 KB. ``check_form`` answers S3's errors for a form that is not exactly
``FORM_ORDER``.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO

from prefect_firework.sandbox.engine._middleware import Receive
from prefect_firework.sandbox.s3._errors import AccessDenied, InvalidArgument, MalformedPOSTRequest

__all__ = ["FORM_ORDER", "FormReader", "Spool", "check_form", "form_boundary", "read_form"]

#: the fields of a POST upload, in the order they must come; lower-cased, as S3 field names
#: are case-insensitive
FORM_ORDER = (
    "key",
    "acl",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "policy",
    "x-amz-signature",
    "content-type",
    "file",
)
_SPOOL = 1024 * 1024
_MAX_FIELD = 64 * 1024


class Spool:
    """A body being received: spooled to disk past 1 MB, counted and MD5-summed on the way."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
        self.size = 0
        self._md5 = hashlib.md5()

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)
        self._md5.update(data)

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    def close(self) -> None:
        self.file.close()


class FormReader:
    """Streams a multipart/form-data body, keeping field order; the ``file`` field is spooled."""

    def __init__(self, boundary: bytes) -> None:
        from python_multipart.multipart import MultipartParser

        self.fields: list[tuple[str, bytes | None]] = []  # None marks the file field
        self.file: Spool | None = None
        self.error: str | None = None
        self._name = ""
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._value = bytearray()
        self._in_file = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def write(self, data: bytes) -> None:
        self._parser.write(data)

    def finalize(self) -> None:
        self._parser.finalize()

    def _part_begin(self) -> None:
        self._headers = {}
        self._value = bytearray()
        self._in_file = False

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(
            self._header_value
        )
        self._header_field = bytearray()
        self._header_value = bytearray()

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name.lower() == "file" and self.file is None:
            self._in_file = True
            self.file = Spool()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file and self.file is not None:
            self.file.write(data[start:end])
            return
        if len(self._value) + (end - start) > _MAX_FIELD:
            self.error = f"Form field {self._name!r} is too large"
            return
        self._value += data[start:end]

    def _part_end(self) -> None:
        self.fields.append((self._name, None if self._in_file else bytes(self._value)))
        self._in_file = False


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type; None for any other type."""
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        return None
    return bytes(options[b"boundary"])


async def read_form(form: FormReader, receive: Receive) -> bool:
    """Feed the whole body to the parser; False if the client went away, 400
    ``MalformedPOSTRequest`` if it does not parse (read to the end all the same)."""
    from python_multipart.exceptions import MultipartParseError

    parse_error: str | None = None
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        chunk = message.get("body", b"")
        if chunk and parse_error is None:
            try:
                form.write(chunk)
            except MultipartParseError as exc:
                parse_error = str(exc)
        if not message.get("more_body", False):
            break
    if parse_error is None:
        try:
            form.finalize()
        except MultipartParseError as exc:
            parse_error = str(exc)
    if parse_error is not None or form.error is not None:
        raise MalformedPOSTRequest()
    return True


def check_form(form: FormReader) -> dict[str, str]:
    """The form's fields by lower-cased name, if they are exactly ``FORM_ORDER``: 400
    ``InvalidArgument`` for a missing, repeated or misplaced field, 403 ``AccessDenied`` for an
    unknown one."""
    names = [name.lower() for name, _ in form.fields]
    if "file" not in names:
        raise InvalidArgument("POST requires exactly one file upload per request.")
    if names.index("file") != len(names) - 1:
        raise InvalidArgument(
            "The file field must be the last field of the form; found "
            + ", ".join(names[names.index("file") + 1 :])
            + " after it.",
        )
    if len(set(names)) != len(names):
        raise InvalidArgument("Each form field may appear only once.")
    for name in names:
        if name not in FORM_ORDER:
            raise AccessDenied(f"Invalid according to Policy: Extra input fields: {name}")
    for name in FORM_ORDER:
        if name not in names:
            raise InvalidArgument(f"Bucket POST must contain a field named '{name}'.")
    if tuple(names) != FORM_ORDER:
        raise InvalidArgument(
            "Form fields must be sent in this order: key, acl, X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Date, Policy, X-Amz-Signature, Content-Type, file.",
        )
    return {
        name.lower(): value.decode("utf-8", "replace")
        for name, value in form.fields
        if value is not None
    }
