"""The mobile client (Fig. 5, left half) as a Python API: ``MobileClient``.

One request: VCE chooses ν_k = (λ, α, β, codec) for the user's ω_k, Q̃_k, B↑ and f_k (Alg. 1-2) →
extract the condition → encode it → upload it with the prompt at the shaped uplink rate B↑ →
receive the decision and the latent (o_k < 1) or the image (o_k = 1) at the server-paced rate B↓ →
run the remaining T_k − ⌊o_k T_k⌋ steps locally with the *same* components as the edge → VAE-decode
→ confirm completion to the edge. Every stage is timed; ``ClientResult`` holds the per-request
breakdown (bytes up and down, L¹, L², edge and device steps, the decision) measured here, beside the
server's system-model prediction (eqs. 2, 6, 7).

Nothing from the server is trusted (``serving.reply_checks``): /health, the result metadata, the
payload (its steps, seed, condition, shape, scales and ``request_digest``, which must be this
request's) are bounded and checked before anything is allocated or computed; a bad reply raises
``ReplyError`` naming what was wrong. The image is saved before the completion call, so a failing
completion never loses it. With ``shape_uplink=False`` the link is shaped elsewhere (the kernel,
``serving.netns``) and the upload time is measured up to the server's reply instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mobigen.scenario import Scenario, resolve
from mobigen.serving.protocol import RESULT_MEDIA_TYPE, FramingError, decode_result
from mobigen.serving.reply_checks import (
    MAX_JSON_BYTES,
    MAX_REPLY_BYTES,
    HealthInfo,
    ReplyError,
    ServerError,
    check_payload,
    check_result,
    error_from_body,
    parse_health,
    parse_json_object,
    shown,
    validation_line,
)
from mobigen.serving.schemas import API_PREFIX, ResultMeta
from mobigen.serving.shaping import DEFAULT_CHUNK, bits_per_second, shaped_chunks_sync
from mobigen.serving.splitrun import GenerationSpec, SplitRunner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceProfileSpec:
    """A device type of the scenario: f_k and C_k."""

    device_type: int
    """Index into the scenario's device types (round-robin types of Table I)."""
    f_flops: float
    """f_k (FLOPS)."""
    budget_flops: float
    """C_k (FLOPs per slot)."""

    @classmethod
    def from_scenario(cls, scenario: Scenario, device_type: int) -> "DeviceProfileSpec":
        n = len(scenario.device_compute_ratios)
        if not 0 <= device_type < n:
            raise ValueError(f"field 'device_type' must lie in 0..{n - 1}, got {device_type}")
        return cls(device_type, scenario.device_compute_ratios[device_type] * scenario.f_edge,
                   scenario.device_budget_ratios[device_type] * scenario.edge_budget_flops)


@dataclass(frozen=True)
class PreparedRequest:
    """An engineered condition ready to upload."""

    condition: str
    """λ_k."""
    alpha: float
    """α_k."""
    beta: float
    """β_k."""
    codec: str
    """Codec of ``data``."""
    data: bytes = field(repr=False)
    """The encoded condition I_k(ν_k) (bytes)."""
    extraction_s: float
    """Measured extraction time on this machine (s)."""
    encode_s: float
    """Measured compression time on this machine (s)."""
    vce_s: float
    """Measured VCE decision time (s)."""
    vce_expected_q: tuple[float, float] | None = None
    """VCE's expected (q^I, q^T) at its reference T (quality backend in ``vce_backend``)."""
    vce_backend: str | None = None
    """Quality backend of VCE's expectation."""


@dataclass
class ClientResult:
    """The per-request breakdown a client prints and the demo saves."""

    request_id: str
    decision: dict
    """T, o, edge_steps, local_steps, controller, guard_repaired."""
    condition: str
    alpha: float
    beta: float
    codec: str
    uplink_bytes: int
    """Bytes of the whole upload on the wire (condition + metadata + multipart framing)."""
    condition_bytes: int
    """D(I_k(ν_k)): bytes of the condition alone."""
    downlink_bytes: int
    """Bytes of the whole reply on the wire (framing + wire payload)."""
    payload_bytes: int
    """D(z) or D(x₀): bytes of the wire payload alone."""
    payload_kind: str
    extraction_s: float
    """Measured (s)."""
    uplink_s: float
    """Measured upload time at the shaped rate (s). Paced by this client: until the last byte left it; on a
    link shaped elsewhere (``shape_uplink=False``): until the first reply byte minus the server's own time."""
    server_wait_s: float
    """From the end of the upload to the first reply byte (slot wait, decision, edge steps) (s); on a link
    shaped elsewhere, the server's reported ``server_total_s``."""
    downlink_s: float
    """Measured download time at the server-paced rate (s)."""
    local_s: float
    """Measured local denoising + VAE decode (s)."""
    L1_s: float
    """Measured L¹ = extraction + uplink (s), eq. (2)'s terms."""
    L2_s: float
    """Measured L² = server wait + downlink + local (s), eq. (6)/(7)'s terms (edge steps inside the wait)."""
    latency_s: float
    """L¹ + L² measured (s)."""
    server: dict
    """The server's ResultMeta (timings, model prediction with its quality backend)."""
    completion: dict | None = None
    """The server's RequestState after the completion confirmation."""
    image_path: str | None = None
    components: str = ""
    uplink_mbps: float = 0.0
    downlink_mbps: float = 0.0

    def to_row(self) -> dict:
        """Flat JSON row (the demo's summary.json)."""
        d = asdict(self)
        d["T"] = self.decision["T"]
        d["o"] = self.decision["o"]
        return d


def build_multipart(meta: dict, data: bytes, boundary: str | None = None) -> tuple[bytes, str]:
    """(body, content-type) of the ``/v1/generate`` upload: a 'meta' JSON part and a 'condition' file part."""
    b = boundary or uuid.uuid4().hex
    head = (f"--{b}\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n"
            ).encode() + json.dumps(meta).encode() + (
        f"\r\n--{b}\r\nContent-Disposition: form-data; name=\"condition\"; filename=\"condition\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


class MobileClient:
    """One mobile device talking to an edge server over HTTP.

    Everything the server sends is checked before it is used (``serving.reply_checks``): a bad reply
    raises ``ReplyError`` (a ``ServerError`` with status 502) naming what was wrong, a refusal
    ``ServerError``, a server that cannot be reached ``httpx.ConnectError``/``httpx.ConnectTimeout``."""

    def __init__(self, server_url: str, *, scenario: str | Scenario = "paper", device_type: int = 0,
                 uplink_mbps: float | None = None, downlink_mbps: float | None = None, seed: int = 0,
                 shape_uplink: bool = True, vce: Any = None, runner: SplitRunner | None = None,
                 components: str | None = None, timeout_s: float = 120.0, transport: Any = None) -> None:
        import httpx

        self.url = server_url.rstrip("/")
        self.scenario = resolve(scenario)
        self.device = DeviceProfileSpec.from_scenario(self.scenario, device_type)
        rng = np.random.default_rng(seed)
        lo, hi = self.scenario.uplink_mbps_range
        self.uplink_mbps = float(uplink_mbps) if uplink_mbps is not None else float(rng.uniform(lo, hi))
        lo, hi = self.scenario.downlink_mbps_range
        self.downlink_mbps = float(downlink_mbps) if downlink_mbps is not None else float(rng.uniform(lo, hi))
        if not (self.uplink_mbps > 0 and self.downlink_mbps > 0):
            raise ValueError("fields 'uplink_mbps'/'downlink_mbps' must be > 0")
        self.shape_uplink = shape_uplink
        self.timeout_s = float(timeout_s)
        self._vce = vce
        self._runner = runner
        self._components = components
        self.http = httpx.Client(timeout=timeout_s, transport=transport)
        self._health: dict | None = None
        self._health_info: HealthInfo | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "MobileClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- HTTP with bounds -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _transport(self, what: str) -> Iterator[None]:
        """Connection failures stay httpx errors ('cannot reach'); anything after connecting is a ReplyError."""
        import httpx

        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.TimeoutException as exc:
            raise ReplyError(f"{what}: no answer within the {self.timeout_s:g} s timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ReplyError(f"{what}: the connection broke ({type(exc).__name__}: {shown(str(exc), 120)})") from None

    def _read(self, r: Any, limit: int, what: str) -> bytes:
        """The whole body of a streamed response, at most ``limit`` bytes; a body cut short is 'truncated'."""
        import httpx

        declared = r.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise ReplyError(f"{what} declares {int(declared)} bytes, over the {limit}-byte limit")
        buf = bytearray()
        try:
            for chunk in r.iter_bytes():
                buf += chunk
                if len(buf) > limit:
                    raise ReplyError(f"{what} exceeds the {limit}-byte limit")
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.TimeoutException, httpx.TransportError) as exc:
            of = f" of the {declared} declared" if declared else ""
            raise ReplyError(f"{what} was truncated: the connection broke after {len(buf)}{of} bytes "
                             f"({type(exc).__name__})") from None
        return bytes(buf)

    def _request_json(self, method: str, path: str, what: str, **kw: Any) -> dict:
        """One JSON request: a JSON object back, ``ServerError`` for a refusal, ``ReplyError`` otherwise."""
        with self._transport(what), self.http.stream(method, f"{self.url}{path}", **kw) as r:
            body = self._read(r, MAX_JSON_BYTES, what)
        if r.status_code >= 400:
            raise error_from_body(r.status_code, r.headers.get("content-type", ""), body)
        if r.status_code != 200:
            raise ReplyError(f"{what}: unexpected HTTP status {r.status_code}")
        return parse_json_object(body, what)

    # ---- server facts ---------------------------------------------------------------------------
    def health(self) -> dict:
        """``GET /health``, with the fields the client relies on checked (``HealthInfo``)."""
        with self._transport("the /health reply"), self.http.stream("GET", f"{self.url}/health") as r:
            body = self._read(r, MAX_JSON_BYTES, "the /health reply")
        if r.status_code >= 400:
            raise error_from_body(r.status_code, r.headers.get("content-type", ""), body)
        self._health, self._health_info = parse_health(body)
        return self._health

    @property
    def health_info(self) -> HealthInfo:
        if self._health_info is None:
            self.health()
        return self._health_info

    @property
    def runner(self) -> SplitRunner:
        """The device's own components: ``components`` (a local weights directory) if given, else what the
        server announces in /health (tiny components from its seed, or its weights directory), at the
        server's image size. Both sides must hold identical weights."""
        if self._runner is None:
            h = self.health_info
            if h.components is None:
                raise ReplyError("the server runs no generation (control plane only) but sent a payload to finish")
            self._runner = SplitRunner(GenerationSpec(components=self._components or h.components,
                                                      components_seed=h.components_seed,
                                                      image_size=h.image_size, wire_mode=h.wire_mode))
        return self._runner

    @property
    def vce(self) -> Any:
        if self._vce is None:
            from mobigen.conditions.vce import load_default_vce

            self._vce = load_default_vce(self.scenario)
        return self._vce

    # ---- the device side of VCE -----------------------------------------------------------------
    def prepare(self, image_rgb: np.ndarray, *, omega_I: float, qoe_threshold: float,
                condition: str | None = None, alpha: float | None = None, beta: float | None = None,
                codec_name: str | None = None) -> PreparedRequest:
        """VCE (Alg. 1-2) unless ν is given explicitly, then extraction and compression (Sec. IV-B)."""
        from mobigen.conditions import codec, extractors

        t0 = time.perf_counter()
        expected = backend = None
        if condition is None:
            choice = self.vce.choose(omega_I, qoe_threshold, bits_per_second(self.uplink_mbps), self.device.f_flops)
            condition, alpha, beta, codec_name = choice.condition, choice.alpha, choice.beta, choice.codec
            expected, backend = (choice.q_I, choice.q_T), choice.quality_backend
        elif alpha is None or beta is None:
            raise ValueError("fields 'alpha' and 'beta' are required when 'condition' is given")
        codec_name = codec_name or "jpeg"
        t1 = time.perf_counter()
        cond_img = extractors.extract(condition, image_rgb)
        t2 = time.perf_counter()
        data = codec.encode(cond_img, alpha, beta, codec_name)
        t3 = time.perf_counter()
        return PreparedRequest(condition, float(alpha), float(beta), codec_name, data, extraction_s=t2 - t1,
                               encode_s=t3 - t2, vce_s=t1 - t0, vce_expected_q=expected, vce_backend=backend)

    # ---- upload / download ----------------------------------------------------------------------
    def meta_for(self, prepared: PreparedRequest, *, prompt: str, omega_I: float, qoe_threshold: float,
                 seed: int, request_id: str | None = None) -> dict:
        return {
            "request_id": request_id or uuid.uuid4().hex, "prompt": prompt, "condition": prepared.condition,
            "alpha": prepared.alpha, "beta": prepared.beta, "codec": prepared.codec, "omega_I": omega_I,
            "qoe_threshold": qoe_threshold,
            "device": {"f_flops": self.device.f_flops, "budget_flops": self.device.budget_flops},
            "uplink_mbps": self.uplink_mbps, "downlink_mbps": self.downlink_mbps, "seed": seed,
            "extraction_s": prepared.extraction_s,
        }

    def upload(self, meta: dict, data: bytes) -> tuple[ResultMeta, bytes, dict]:
        """POST the request (uplink paced at B↑ unless the link is shaped elsewhere); returns (result meta
        checked against the request and the scenario, wire payload, measured transfer facts)."""
        body, ctype = build_multipart(meta, data)
        marks: dict[str, float] = {}

        def paced():  # noqa: ANN202
            rate = bits_per_second(self.uplink_mbps) if self.shape_uplink else None
            marks["up_start"] = time.perf_counter()
            for chunk in shaped_chunks_sync(body, rate, chunk=DEFAULT_CHUNK):
                yield chunk
            marks["up_end"] = time.perf_counter()

        headers = {"content-type": ctype, "content-length": str(len(body))}
        what = "the /v1/generate reply"
        with self._transport(what), self.http.stream("POST", f"{self.url}{API_PREFIX}/generate", content=paced(),
                                                     headers=headers) as r:
            marks["first_byte"] = time.perf_counter()
            raw = self._read(r, MAX_REPLY_BYTES if r.status_code == 200 else MAX_JSON_BYTES, what)
            marks["down_end"] = time.perf_counter()
        if r.status_code >= 400:
            raise error_from_body(r.status_code, r.headers.get("content-type", ""), raw)
        if r.status_code != 200:
            raise ReplyError(f"{what}: unexpected HTTP status {r.status_code}")
        if not r.headers.get("content-type", "").startswith(RESULT_MEDIA_TYPE):
            raise ReplyError(f"{what} has content-type {shown(r.headers.get('content-type', 'none'), 60)!r}, "
                             f"not {RESULT_MEDIA_TYPE}")
        try:
            meta_json, payload = decode_result(raw)
        except FramingError as exc:
            raise ReplyError(str(exc)) from None
        result = check_result(meta_json, payload, request_id=meta["request_id"], scenario=self.scenario)
        up_end = marks.get("up_end", marks["first_byte"])
        up_start = marks.get("up_start", up_end)
        uplink_s, wait_s = up_end - up_start, marks["first_byte"] - up_end
        if not self.shape_uplink:  # the link is shaped elsewhere (the kernel): the socket took the body long
            # before it was delivered, so the upload ends where the server's own time before its reply begins
            to_reply = marks["first_byte"] - up_start
            wait_s = min(to_reply, result.timings.server_total_s)
            uplink_s = to_reply - wait_s
        facts = {
            "uplink_bytes": len(body), "downlink_bytes": len(raw), "uplink_s": uplink_s, "server_wait_s": wait_s,
            "downlink_s": marks["down_end"] - marks["first_byte"],
        }
        return result, payload, facts

    def confirm(self, request_id: str, *, ok: bool = True, device_denoise_s: float | None = None) -> dict:
        """POST /v1/requests/{id}/complete; returns the server's RequestState (ServerError on 4xx)."""
        return self._state_reply(self._request_json(
            "POST", f"{API_PREFIX}/requests/{request_id}/complete", "the completion reply",
            json={"ok": ok, "device_denoise_s": device_denoise_s}), "the completion reply")

    def state(self, request_id: str) -> dict:
        return self._state_reply(self._request_json("GET", f"{API_PREFIX}/requests/{request_id}",
                                                    "the request-state reply"), "the request-state reply")

    @staticmethod
    def _state_reply(j: dict, what: str) -> dict:
        from pydantic import ValidationError

        from mobigen.serving.schemas import RequestState

        try:
            return RequestState.model_validate(j).model_dump()
        except ValidationError as exc:
            raise ReplyError(validation_line(exc, what)) from None

    # ---- the whole request ------------------------------------------------------------------------
    def _finish(self, result: ResultMeta, payload: bytes, prepared: PreparedRequest, *, prompt: str,
                seed: int) -> tuple[np.ndarray | None, float]:
        """Decode and check the payload, run the local steps (eq. 5) + VAE decode; (image, seconds)."""
        from mobigen.conditions import codec
        from mobigen.generation import wire

        if result.payload_kind == "none":
            return None, 0.0
        h = self.health_info
        try:
            p = wire.decode_payload(payload)  # refuses anything malformed, absurd scales included
        except wire.WireFormatError as exc:
            raise ReplyError(f"the downlink payload is malformed: {exc}") from None
        runner = self.runner
        comps = runner.components if p.kind == "latent" else None
        check_payload(p, result, seed=seed, condition=prepared.condition, image_size=h.image_size,
                      latent_channels=getattr(comps, "latent_channels", None),
                      vae_scale=getattr(comps, "vae_scale_factor", None))
        digest = runner.request_digest(prompt=prompt, condition_bytes=prepared.data, seed=seed,
                                       total_steps=result.decision.T, edge_steps=result.decision.edge_steps)
        t0 = time.perf_counter()
        try:
            cond_rgb = codec.decode(prepared.data) if p.kind == "latent" else None  # the condition the edge used
            image = runner.finish(p, prompt=prompt, condition_rgb=cond_rgb, expected_digest=digest)  # eq. (5)
        except wire.WireFormatError as exc:
            raise ReplyError(f"the downlink payload was refused: {exc}") from None
        return image, time.perf_counter() - t0

    def _confirm_safely(self, result: ResultMeta, local_s: float) -> dict:
        """The completion call; its failure never loses the request's outcome (the image is saved first)."""
        import httpx

        try:
            return self.confirm(result.request_id, device_denoise_s=local_s)
        except ReplyError as exc:
            return {"request_id": result.request_id, "status": "unconfirmed", "detail": exc.detail}
        except ServerError as exc:
            if exc.status_code in (404, 409):  # the deadline passed: the edge took over, or the record expired
                return {"request_id": result.request_id, "status": "late", "detail": exc.detail}
            return {"request_id": result.request_id, "status": "unconfirmed", "detail": str(exc)}
        except httpx.TransportError as exc:
            return {"request_id": result.request_id, "status": "unconfirmed",
                    "detail": f"the completion call could not reach the server: {type(exc).__name__}: {shown(str(exc), 120)}"}

    def run(self, prepared: PreparedRequest, *, prompt: str, omega_I: float, qoe_threshold: float, seed: int = 0,
            request_id: str | None = None, out_path: str | None = None, confirm: bool = True) -> ClientResult:
        """Upload ``prepared``, receive, finish locally, decode, save (``out_path``) and confirm."""
        meta = self.meta_for(prepared, prompt=prompt, omega_I=omega_I, qoe_threshold=qoe_threshold, seed=seed,
                             request_id=request_id)
        h = self.health_info
        if h.components is not None or self._runner is not None:
            self.runner.ensure_ready()  # a phone's model is resident and warm: load it before timing anything
        result, payload, facts = self.upload(meta, prepared.data)
        image, local_s = self._finish(result, payload, prepared, prompt=prompt, seed=seed)
        saved = None
        if image is not None and out_path:  # saved BEFORE the completion call: its failure must not lose it
            from PIL import Image

            Image.fromarray(image).save(out_path)
            saved = out_path
        completion = None
        if confirm and result.status == "awaiting_device":
            completion = self._confirm_safely(result, local_s)
        L1 = prepared.extraction_s + facts["uplink_s"]
        L2 = facts["server_wait_s"] + facts["downlink_s"] + local_s
        return ClientResult(
            request_id=result.request_id, decision=result.decision.model_dump(), condition=prepared.condition,
            alpha=prepared.alpha, beta=prepared.beta, codec=prepared.codec, uplink_bytes=facts["uplink_bytes"],
            condition_bytes=len(prepared.data), downlink_bytes=facts["downlink_bytes"],
            payload_bytes=result.payload_bytes, payload_kind=result.payload_kind, extraction_s=prepared.extraction_s,
            uplink_s=facts["uplink_s"], server_wait_s=facts["server_wait_s"], downlink_s=facts["downlink_s"],
            local_s=local_s, L1_s=L1, L2_s=L2, latency_s=L1 + L2, server=result.model_dump(mode="json"),
            completion=completion, image_path=saved,
            components=result.components, uplink_mbps=self.uplink_mbps, downlink_mbps=self.downlink_mbps,
        )

    def generate(self, image_rgb: np.ndarray, *, prompt: str, omega_I: float, qoe_threshold: float, seed: int = 0,
                 out_path: str | None = None) -> ClientResult:
        """VCE + extraction + compression, then ``run``: the whole mobile side of one request."""
        prepared = self.prepare(image_rgb, omega_I=omega_I, qoe_threshold=qoe_threshold)
        return self.run(prepared, prompt=prompt, omega_I=omega_I, qoe_threshold=qoe_threshold, seed=seed,
                        out_path=out_path)


def format_breakdown(r: ClientResult) -> str:
    """Human-readable per-request breakdown (what ``mobigen client`` prints)."""
    d, m = r.decision, r.server["model"]
    lines = [
        f"request {r.request_id}  components={r.components}",
        f"  VCE choice   : λ={r.condition} α={r.alpha} β={r.beta} codec={r.codec}",
        f"  decision     : T={d['T']} o={d['o']:.3f} edge steps={d['edge_steps']} device steps={d['local_steps']} "
        f"(controller {d['controller']}{', guard repaired' if d['guard_repaired'] else ''})",
        f"  bytes        : up {r.uplink_bytes} (condition {r.condition_bytes})  down {r.downlink_bytes} "
        f"({r.payload_kind} {r.payload_bytes})",
        f"  rates        : B↑={r.uplink_mbps:.2f} Mbps  B↓={r.downlink_mbps:.2f} Mbps",
        f"  L¹ measured  : {r.L1_s:.3f} s = extraction {r.extraction_s:.3f} + uplink {r.uplink_s:.3f}   "
        f"(model eq. 2: {m['L1_s']:.3f} s, uplink term {m['uplink_s']:.3f} s)",
        f"  L² measured  : {r.L2_s:.3f} s = server {r.server_wait_s:.3f} (edge denoise "
        f"{r.server['timings']['edge_denoise_s']:.3f}) + downlink {r.downlink_s:.3f} + local {r.local_s:.3f}   "
        f"(model eq. {'7' if d['local_steps'] == 0 else '6'}: {m['L2_s']:.3f} s)",
        f"  quality      : Q={m['Q']:.3f} ({m['quality_backend']} quality model, predicted)",
    ]
    if r.completion:
        lines.append(f"  completion   : {r.completion.get('status')} {r.completion.get('detail', '')}")
    if r.image_path:
        lines.append(f"  image        : {r.image_path}")
    return "\n".join(lines)


__all__ = ["ClientResult", "DeviceProfileSpec", "MobileClient", "PreparedRequest", "ReplyError", "ServerError",
           "build_multipart", "format_breakdown"]
