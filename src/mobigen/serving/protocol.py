"""Framing of a ``/v1/generate`` reply body: JSON metadata followed by the wire payload.

Layout (media type ``application/vnd.mobigen.result``)::

    b"MGR1" | uint32 big-endian n | n bytes of UTF-8 JSON (schemas.ResultMeta) | payload

The payload is a ``generation.wire`` latent (o_k < 1) or image (o_k = 1), or empty in the
control-plane-only mode. Keeping it binary (not base64 JSON) makes the downlink bytes real:
D(z) on the wire is the wire format's size plus a few hundred bytes of metadata.
"""

from __future__ import annotations

import json
import struct

RESULT_MEDIA_TYPE = "application/vnd.mobigen.result"
_MAGIC = b"MGR1"
_MAX_META = 1 << 20


class FramingError(ValueError):
    """A reply body that is not a well-formed ``MGR1`` frame."""


def encode_result(meta: dict, payload: bytes) -> bytes:
    """Frame ``meta`` (JSON-serialisable) and ``payload`` into one body."""
    head = json.dumps(meta, separators=(",", ":")).encode("utf-8")
    return _MAGIC + struct.pack(">I", len(head)) + head + payload


def decode_result(body: bytes) -> tuple[dict, bytes]:
    """(meta, payload) from a framed body; ``FramingError`` on anything malformed."""
    if len(body) < 8 or body[:4] != _MAGIC:
        raise FramingError("result body: missing 'MGR1' magic (not a mobigen result)")
    (n,) = struct.unpack(">I", body[4:8])
    if n > _MAX_META or 8 + n > len(body):
        raise FramingError(f"result body: metadata length {n} exceeds the body ({len(body)} bytes)")
    try:
        meta = json.loads(body[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FramingError(f"result body: metadata is not JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise FramingError("result body: metadata must be a JSON object")
    return meta, body[8 + n :]


__all__ = ["FramingError", "RESULT_MEDIA_TYPE", "decode_result", "encode_result"]
