"""A strict, synchronous ``multipart/form-data`` parser for the small uplink body (RFC 7578).

The uplink has exactly two parts (``meta`` JSON, ``condition`` file). Parsing the already
size-limited body bytes in one synchronous pass keeps the per-request control-plane work short
and measurable (no awaits in the middle); anything that is not well-formed multipart raises
``MultipartError`` (a ``ValueError``) with a message saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOUNDARY_RE = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_NAME_RE = re.compile(r'(?:^|;)\s*name="([^"]*)"', re.IGNORECASE)
_FILENAME_RE = re.compile(r'(?:^|;)\s*filename="([^"]*)"', re.IGNORECASE)


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class Part:
    """One form part."""

    name: str
    """The form field name."""
    filename: str | None
    """Set for file parts."""
    content_type: str | None
    """The part's Content-Type header, if any."""
    data: bytes
    """The part's content."""


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` content type (MultipartError when missing)."""
    m = _BOUNDARY_RE.search(content_type or "")
    if not m:
        raise MultipartError("header 'content-type' has no multipart boundary")
    b = (m.group(1) or m.group(2)).encode("latin-1")
    if not 1 <= len(b) <= 70:
        raise MultipartError("multipart boundary must be 1-70 characters (RFC 2046)")
    return b


def parse_form(body: bytes, content_type: str, *, max_parts: int = 4) -> dict[str, Part]:
    """Parts by name; duplicate names, too many parts, missing headers or a missing end are errors."""
    b = boundary_of(content_type)
    delim = b"--" + b
    start = body.find(delim)
    if start < 0:
        raise MultipartError("body does not contain the multipart boundary")
    pos = start + len(delim)
    parts: dict[str, Part] = {}
    while True:
        if body.startswith(b"--", pos):
            return parts  # the closing delimiter
        if not body.startswith(b"\r\n", pos):
            raise MultipartError("malformed multipart delimiter line")
        pos += 2
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            raise MultipartError("multipart part without a header/body separator")
        headers: dict[str, str] = {}
        for line in body[pos:head_end].split(b"\r\n"):
            key, sep, value = line.partition(b":")
            if not sep:
                raise MultipartError(f"malformed multipart header line {line[:60]!r}")
            headers[key.strip().lower().decode("latin-1")] = value.strip().decode("utf-8", "replace")
        nxt = body.find(b"\r\n" + delim, head_end + 4)
        if nxt < 0:
            raise MultipartError("multipart body ends without a closing boundary (truncated?)")
        disp = headers.get("content-disposition", "")
        if not disp.lower().startswith("form-data"):
            raise MultipartError("multipart part lacks 'Content-Disposition: form-data'")
        name_m = _NAME_RE.search(disp)
        if not name_m:
            raise MultipartError("multipart part has no name")
        name = name_m.group(1)
        if name in parts:
            raise MultipartError(f"multipart part {name!r} appears twice")
        if len(parts) >= max_parts:
            raise MultipartError(f"more than {max_parts} multipart parts")
        file_m = _FILENAME_RE.search(disp)
        parts[name] = Part(name, file_m.group(1) if file_m else None, headers.get("content-type"),
                           body[head_end + 4 : nxt])
        pos = nxt + 2 + len(delim)


__all__ = ["MultipartError", "Part", "boundary_of", "parse_form"]
