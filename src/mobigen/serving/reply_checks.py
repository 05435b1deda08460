"""Bounds on everything the mobile client accepts from an edge server.

A server (or whatever answers on its address) may send anything: an error body that is not the
documented ``{"error", "detail"}`` object, a binary 500 page, a ``/health`` reply without a field, an
absurd image size, a decision outside the scenario's step range, a latent claiming more steps than
the decision, a huge reply. Every check here raises :class:`ReplyError` (or builds a
:class:`ServerError` for a well-formed refusal) with a one-line message naming what was wrong, so
``mobigen client`` never shows a traceback and never allocates or computes what a reply claims
before the claim has been checked against the request and the scenario.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mobigen.scenario import Scenario

MAX_REPLY_BYTES = 64 << 20
"""Largest ``/v1/generate`` reply read (bytes): a 1024² PNG or a 16x128x128 fp16 latent is well under it."""
MAX_JSON_BYTES = 1 << 20
"""Largest JSON reply (``/health``, request states, error bodies) read (bytes)."""
MAX_SHOWN_CHARS = 200
"""Most characters of a server's text quoted in a one-line message."""
MAX_LABEL_CHARS = 4096
"""Longest free-text field (controller, components, quality backend) accepted from a reply."""
MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 64, 1024
"""Image sides a server may announce (pixels, multiple of 64; ``ServerSettings.image_size``'s range)."""


class ServerError(RuntimeError):
    """The server answered with an error status; ``status_code`` and ``detail`` say which and why."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(f"HTTP {status_code} {error}: {detail}")
        self.status_code = status_code
        self.error = error
        self.detail = detail


class ReplyError(ServerError):
    """The server's reply is malformed, out of bounds, inconsistent with the request, or broke off.

    A ``ServerError`` with status 502 (bad gateway: an invalid answer from upstream) and error
    'bad_reply', so callers that pass a server's refusal on (the web console) pass this on too."""

    def __init__(self, detail: str) -> None:
        super().__init__(502, "bad_reply", detail)


def shown(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` safe for one terminal line: control characters escaped, at most ``limit`` characters."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return out + (f"… ({len(text)} characters)" if len(text) > limit else "")


def describe_body(body: bytes, content_type: str) -> str:
    """What an unexpected body is, in one line: quoted text if it is text, else its size and type."""
    if not body:
        return "an empty body"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or sum(not (c.isprintable() or c in "\r\n\t") for c in text) > len(text) // 20:
        return f"{len(body)} bytes of binary data (content-type {shown(content_type or 'none', 60)!r})"
    return repr(shown(" ".join(text.split())))


def error_from_body(status_code: int, content_type: str, body: bytes) -> ServerError:
    """A ``ServerError`` from a 4xx/5xx reply, whatever its body (the documented shape, other JSON, binary)."""
    try:
        j = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        j = None
    if isinstance(j, dict) and isinstance(j.get("error"), str) and isinstance(j.get("detail"), str):
        return ServerError(status_code, shown(j["error"], 60), shown(j["detail"]))
    if j is not None:
        what = f"a JSON {type(j).__name__} instead of the documented {{'error', 'detail'}} object: {describe_body(body, content_type)}"
    else:
        what = describe_body(body, content_type)
    return ServerError(status_code, "error", f"the error body is {what}")


def parse_json_object(body: bytes, what: str) -> dict:
    """``body`` as a JSON object, else ``ReplyError`` naming ``what`` (e.g. 'the /health reply')."""
    if len(body) > MAX_JSON_BYTES:
        raise ReplyError(f"{what} is {len(body)} bytes, over the {MAX_JSON_BYTES}-byte limit")
    try:
        j = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReplyError(f"{what} is not JSON: {describe_body(body, '')}") from None
    if not isinstance(j, dict):
        raise ReplyError(f"{what} is a JSON {type(j).__name__}, not an object")
    return j


def validation_line(exc: ValidationError, what: str) -> str:
    """One line naming the first offending fields of a pydantic error, e.g. ``field 'decision.T': ...``."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(root)"
        parts.append(f"field {loc!r}: {shown(str(err.get('msg', 'invalid')), 120)}")
    more = f" (+{len(exc.errors()) - 3} more)" if len(exc.errors()) > 3 else ""
    return f"{what}: " + "; ".join(parts) + more


class HealthInfo(BaseModel):
    """The fields of ``GET /health`` the client relies on, bounded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: str = Field(max_length=64, description="'ok' or 'shutting_down'.")
    components: str | None = Field(max_length=MAX_LABEL_CHARS,
                                   description="'tiny', a weights directory, or None (control plane only).")
    components_seed: int = Field(ge=0, lt=2**63, description="Seed of the tiny components.")
    image_size: int = Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE, description="Generated image side (pixels).")
    wire_mode: str = Field(description="Latent wire mode (generation.wire.LATENT_MODES).")

    @field_validator("image_size")
    @classmethod
    def _multiple_of_64(cls, v: int) -> int:
        if v % 64:
            raise ValueError(f"must be a multiple of 64 pixels, got {v}")
        return v

    @field_validator("wire_mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        from mobigen.generation.wire import LATENT_MODES

        if v not in LATENT_MODES:
            raise ValueError(f"must be one of {LATENT_MODES}, got {shown(v, 40)!r}")
        return v


def parse_health(body: bytes) -> tuple[dict, HealthInfo]:
    """(the raw /health object, its checked fields); ``ReplyError`` names a missing or absurd field."""
    j = parse_json_object(body, "the /health reply")
    try:
        return j, HealthInfo.model_validate(j)
    except ValidationError as exc:
        raise ReplyError(validation_line(exc, "the /health reply")) from None


def _finite(name: str, v: Any, lo: float = 0.0, hi: float = math.inf) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ReplyError(f"the result's field {name!r} must be a finite number in [{lo:g}, {hi:g}], got {shown(repr(v), 60)}")


def check_result(meta_json: dict, payload: bytes, *, request_id: str, scenario: Scenario) -> Any:
    """The reply's ``ResultMeta``, checked against the request, the scenario and the payload that follows."""
    from mobigen.serving.schemas import ResultMeta

    try:
        r = ResultMeta.model_validate(meta_json)
    except ValidationError as exc:
        raise ReplyError(validation_line(exc, "the result metadata")) from None
    if r.request_id != request_id:
        raise ReplyError(f"the result's field 'request_id' is {shown(r.request_id, 80)!r}, not this request's {request_id!r}")
    d = r.decision
    lo, hi = scenario.steps_min, scenario.steps_max
    if not lo <= d.T <= hi:
        raise ReplyError(f"the result's field 'decision.T' = {d.T} lies outside the scenario's step range [{lo}, {hi}]")
    if not 0 <= d.edge_steps <= d.T or d.local_steps != d.T - d.edge_steps:
        raise ReplyError(f"the result's fields 'decision.edge_steps' = {d.edge_steps} and 'decision.local_steps' = "
                         f"{d.local_steps} do not split T = {d.T}")
    _finite("decision.o", d.o, 0.0, 1.0)
    for name, v in r.timings.model_dump().items():
        _finite(f"timings.{name}", v)
    for name, v in r.model.model_dump().items():
        if name != "quality_backend":
            _finite(f"model.{name}", v, -math.inf if name == "Q" else 0.0)
    for name, v in (("decision.controller", d.controller), ("components", r.components),
                    ("model.quality_backend", r.model.quality_backend)):
        if len(v) > MAX_LABEL_CHARS:
            raise ReplyError(f"the result's field {name!r} is {len(v)} characters, over {MAX_LABEL_CHARS}")
    if r.slot_size < 1 or r.slot_id < 0 or r.uplink_bytes < 0:
        raise ReplyError(f"the result's fields 'slot_size' = {r.slot_size}, 'slot_id' = {r.slot_id}, "
                         f"'uplink_bytes' = {r.uplink_bytes} must be >= 1, >= 0, >= 0")
    if r.completion_deadline_s is not None:
        _finite("completion_deadline_s", r.completion_deadline_s, 1e-3)
    if r.payload_bytes != len(payload):
        raise ReplyError(f"the result's field 'payload_bytes' = {r.payload_bytes} but {len(payload)} payload bytes followed")
    full = d.edge_steps == d.T
    want_kind = "image" if full else "latent"
    if r.payload_kind not in ("none", want_kind):
        raise ReplyError(f"the result's field 'payload_kind' is {r.payload_kind!r} but the decision "
                         f"(edge steps {d.edge_steps} of {d.T}) needs a{'n' if full else ''} {want_kind}")
    want_status = "edge_completed" if full else "awaiting_device"
    if r.status != want_status:
        raise ReplyError(f"the result's field 'status' is {r.status!r}; a reply with edge steps {d.edge_steps} "
                         f"of {d.T} must be {want_status!r}")
    return r


def check_payload(p: Any, result: Any, *, seed: int, condition: str, image_size: int,
                  latent_channels: int | None = None, vae_scale: int | None = None) -> None:
    """A decoded wire ``Payload`` against the result's decision and this device's request and weights."""
    d = result.decision
    if p.kind != result.payload_kind:
        raise ReplyError(f"the payload is a{'n' if p.kind == 'image' else ''} {p.kind} but the result says "
                         f"{result.payload_kind!r}")
    if p.total_steps != d.T or p.steps_done != d.edge_steps:
        raise ReplyError(f"the payload claims {p.steps_done} of {p.total_steps} steps done, but the decision is "
                         f"{d.edge_steps} of T = {d.T}")
    if p.seed != seed:
        raise ReplyError(f"the payload's seed {p.seed} is not this request's seed {seed}")
    if p.condition_type != condition:
        raise ReplyError(f"the payload's condition_type {p.condition_type!r} is not this request's {condition!r}")
    if p.kind == "image":
        if p.shape != (image_size, image_size, 3):
            raise ReplyError(f"the image is {p.shape[0]}x{p.shape[1]}, the server announced {image_size}x{image_size}")
        return
    if latent_channels is not None and p.shape[1] != latent_channels:
        raise ReplyError(f"the latent has {p.shape[1]} channels; this device's weights use {latent_channels}")
    if vae_scale is not None and (p.shape[2] * vae_scale, p.shape[3] * vae_scale) != (image_size, image_size):
        raise ReplyError(f"the latent {p.shape[2]}x{p.shape[3]} does not decode to the announced "
                         f"{image_size}x{image_size} image (VAE factor {vae_scale})")


__all__ = ["HealthInfo", "MAX_JSON_BYTES", "MAX_REPLY_BYTES", "ReplyError", "ServerError", "check_payload",
           "check_result", "describe_body", "error_from_body", "parse_health", "parse_json_object", "shown",
           "validation_line"]
