"""Admission of one ``/v1/generate`` upload: every check happens BEFORE the request joins a slot.

A request is admitted only when nothing in it can break its slot's decision (issue 12):

1. ``check_content_type``: the body is ``multipart/form-data`` exactly (415 otherwise, e.g. for
   ``multipart/form-datax``) with a boundary (400);
2. ``check_parts``: the form holds exactly one text part ``meta`` and one file part ``condition``
   (422 naming the part otherwise);
3. ``parse_meta``: the ``meta`` JSON validates as ``schemas.GenerateMeta`` (every number finite and
   bounded, α and β on Table I's grids) and the prompt is at most ``max_prompt_chars`` (422 naming
   the field);
4. ``check_condition``: the condition part is at most ``max_condition_bytes`` (413) and its bytes are
   the codec ``meta.codec`` names (422);
5. ``decode_condition``: the bytes decode to a condition of at most 512x512 (422; corrupt, truncated
   or decompression-bomb images are refused as ``conditions.codec.decode`` refuses them).

Each step raises ``ServiceError`` with the status and a message naming the field.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header

from mobigen.serving.service_error import ServiceError
from mobigen.serving.errors import validation_message
from mobigen.serving.schemas import GenerateMeta
from mobigen.serving.settings import ServerSettings

PARTS = {"meta": "a text part holding the JSON request metadata", "condition": "a file part with the condition bytes"}
"""The upload's parts (the client's wire contract, ``serving.client.build_multipart``)."""


def _invalid(detail: str) -> ServiceError:
    return ServiceError(422, "invalid_request", detail)


def check_content_type(header: str | None) -> None:
    """Step 1: ``multipart/form-data`` with a boundary."""
    media, params = parse_options_header(header or "")
    if media != b"multipart/form-data":
        raise ServiceError(415, "unsupported_media_type",
                           "body must be multipart/form-data with a JSON part 'meta' and a file part 'condition' "
                           f"(got content-type {header or 'none'!r})")
    if not params.get(b"boundary"):
        raise ServiceError(400, "malformed_multipart", "header 'content-type' has no multipart boundary")


def check_parts(items: list[tuple[str, Any]]) -> None:
    """Step 2: exactly the parts ``PARTS``, each once; ``meta`` a text part, ``condition`` a file part."""
    names = [name for name, _ in items]
    for name in names:
        if name not in PARTS:
            raise _invalid(f"field '{name}': unknown part; the upload has exactly the parts 'meta' and 'condition'")
        if names.count(name) > 1:
            raise _invalid(f"field '{name}': the part appears {names.count(name)} times")
    for name, what in PARTS.items():
        if name not in names:
            raise _invalid(f"field '{name}': missing ({what} named '{name}')")
    values = dict(items)
    if not isinstance(values["meta"], str):
        raise _invalid("field 'meta': must be a text part holding JSON, not a file")
    if isinstance(values["condition"], str):
        raise _invalid("field 'condition': must be a file part with the encoded condition bytes")


def parse_meta(text: str | bytes, settings: ServerSettings) -> GenerateMeta:
    """Step 3: the validated metadata (422 naming ``meta.<field>``)."""
    try:
        meta = GenerateMeta.model_validate_json(text)
    except ValidationError as exc:
        raise _invalid(validation_message(exc, "meta")) from None
    if len(meta.prompt) > settings.max_prompt_chars:
        raise _invalid(f"field 'meta.prompt': {len(meta.prompt)} characters exceeds the limit of "
                       f"{settings.max_prompt_chars} (setting max_prompt_chars)")
    return meta


def check_condition(data: bytes, meta: GenerateMeta, settings: ServerSettings) -> None:
    """Step 4: size limit and codec."""
    from mobigen.conditions import codec

    if len(data) > settings.max_condition_bytes:
        raise ServiceError(413, "condition_too_large",
                           f"field 'condition': {len(data)} bytes exceeds the limit of {settings.max_condition_bytes} bytes")
    try:
        actual = codec.sniff(data)
    except ValueError as exc:
        raise ServiceError(422, "invalid_condition", f"field 'condition': {exc}") from None
    if actual != meta.codec:
        raise ServiceError(422, "invalid_condition",
                           f"field 'condition': the bytes are {actual} but field 'meta.codec' says {meta.codec!r}")


def decode_condition(data: bytes) -> np.ndarray:
    """Step 5: the decoded 512x512 RGB condition (422 for corrupt, truncated, too large or bomb images)."""
    from mobigen.conditions import codec

    try:
        return codec.decode(data)
    except ValueError as exc:
        raise ServiceError(422, "invalid_condition", f"field 'condition': {exc}") from None


__all__ = ["PARTS", "check_condition", "check_content_type", "check_parts", "decode_condition", "parse_meta"]
