"""The mobile client (Fig. 5, left half) as a Python API: ``MobileClient``.

One request: VCE chooses ν_k = (λ, α, β, codec) for the user's ω_k, Q̃_k, B↑ and f_k (Alg. 1-2) →
extract the condition → encode it → upload it with the prompt at the shaped uplink rate B↑ →
receive the decision and the latent (o_k < 1) or the image (o_k = 1) at the server-paced rate B↓ →
run the remaining T_k − ⌊o_k T_k⌋ steps locally with the *same* components as the edge → VAE-decode
→ confirm completion to the edge. Every stage is timed; ``ClientResult`` holds the per-request
breakdown (bytes up and down, L¹, L², edge and device steps, the decision) measured here, beside the
server's system-model prediction (eqs. 2, 6, 7).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mobigen.scenario import Scenario, resolve
from mobigen.serving.protocol import RESULT_MEDIA_TYPE, decode_result
from mobigen.serving.schemas import API_PREFIX, ResultMeta
from mobigen.serving.shaping import DEFAULT_CHUNK, bits_per_second, shaped_chunks_sync
from mobigen.serving.splitrun import GenerationSpec, SplitRunner

logger = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The server answered with an error status; ``status_code`` and ``detail`` say which and why."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(f"HTTP {status_code} {error}: {detail}")
        self.status_code = status_code
        self.error = error
        self.detail = detail


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
    """Measured upload time at the shaped rate (s)."""
    server_wait_s: float
    """From the end of the upload to the first reply byte (slot wait, decision, edge steps) (s)."""
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
    """One mobile device talking to an edge server over HTTP."""

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
        self._vce = vce
        self._runner = runner
        self._components = components
        self.http = httpx.Client(timeout=timeout_s, transport=transport)
        self._health: dict | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "MobileClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- server facts ---------------------------------------------------------------------------
    def health(self) -> dict:
        r = self.http.get(f"{self.url}/health")
        self._raise(r)
        self._health = r.json()
        return self._health

    @property
    def runner(self) -> SplitRunner:
        """The device's own components: ``components`` (a local weights directory) if given, else what the
        server announces in /health (tiny components from its seed, or its weights directory), at the
        server's image size. Both sides must hold identical weights."""
        if self._runner is None:
            h = self._health or self.health()
            if h.get("components") is None:
                raise RuntimeError("the server runs no generation (control plane only); nothing to finish locally")
            self._runner = SplitRunner(GenerationSpec(components=self._components or h["components"],
                                                      components_seed=h["components_seed"],
                                                      image_size=h["image_size"], wire_mode=h["wire_mode"]))
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
        """POST the request (uplink paced at B↑); returns (result meta, wire payload, measured transfer facts)."""
        body, ctype = build_multipart(meta, data)
        marks: dict[str, float] = {}

        def paced():  # noqa: ANN202
            rate = bits_per_second(self.uplink_mbps) if self.shape_uplink else None
            marks["up_start"] = time.perf_counter()
            for chunk in shaped_chunks_sync(body, rate, chunk=DEFAULT_CHUNK):
                yield chunk
            marks["up_end"] = time.perf_counter()

        headers = {"content-type": ctype, "content-length": str(len(body))}
        with self.http.stream("POST", f"{self.url}{API_PREFIX}/generate", content=paced(), headers=headers) as r:
            marks["first_byte"] = time.perf_counter()
            raw = r.read()
            marks["down_end"] = time.perf_counter()
            if r.status_code != 200:
                self._raise(r)
            if not r.headers.get("content-type", "").startswith(RESULT_MEDIA_TYPE):
                raise ServerError(r.status_code, "bad_reply", f"unexpected content-type {r.headers.get('content-type')!r}")
        meta_json, payload = decode_result(raw)
        result = ResultMeta.model_validate(meta_json)
        up_end = marks.get("up_end", marks["first_byte"])
        facts = {
            "uplink_bytes": len(body), "downlink_bytes": len(raw),
            "uplink_s": up_end - marks.get("up_start", up_end),
            "server_wait_s": marks["first_byte"] - up_end,
            "downlink_s": marks["down_end"] - marks["first_byte"],
        }
        return result, payload, facts

    @staticmethod
    def _raise(r: Any) -> None:
        if r.status_code < 400:
            return
        try:
            r.read()
            j = r.json()
            raise ServerError(r.status_code, j.get("error", "error"), j.get("detail", r.text))
        except (ValueError, KeyError):
            raise ServerError(r.status_code, "error", r.text) from None

    def confirm(self, request_id: str, *, ok: bool = True, device_denoise_s: float | None = None) -> dict:
        """POST /v1/requests/{id}/complete; returns the server's RequestState (ServerError on 4xx)."""
        r = self.http.post(f"{self.url}{API_PREFIX}/requests/{request_id}/complete",
                           json={"ok": ok, "device_denoise_s": device_denoise_s})
        self._raise(r)
        return r.json()

    def state(self, request_id: str) -> dict:
        r = self.http.get(f"{self.url}{API_PREFIX}/requests/{request_id}")
        self._raise(r)
        return r.json()

    # ---- the whole request ------------------------------------------------------------------------
    def run(self, prepared: PreparedRequest, *, prompt: str, omega_I: float, qoe_threshold: float, seed: int = 0,
            request_id: str | None = None, out_path: str | None = None, confirm: bool = True) -> ClientResult:
        """Upload ``prepared``, receive, finish locally, decode, save (``out_path``) and confirm."""
        from mobigen.conditions import codec
        from mobigen.generation import wire

        meta = self.meta_for(prepared, prompt=prompt, omega_I=omega_I, qoe_threshold=qoe_threshold, seed=seed,
                             request_id=request_id)
        h = self._health or self.health()
        if h.get("components") is not None or self._runner is not None:
            self.runner.ensure_ready()  # a phone's model is resident and warm: load it before timing anything
        result, payload, facts = self.upload(meta, prepared.data)
        local_s = 0.0
        image = None
        if result.payload_kind != "none":
            p = wire.decode_payload(payload)  # refuses anything malformed (WireFormatError)
            t0 = time.perf_counter()
            if p.kind == "latent":
                cond_rgb = codec.decode(prepared.data)  # the same condition the edge used
                image = self.runner.finish(p, prompt=prompt, condition_rgb=cond_rgb)  # eq. (5) + VAE decode
            else:
                image = p.image
            local_s = time.perf_counter() - t0
        completion = None
        if confirm and result.status == "awaiting_device":
            try:
                completion = self.confirm(result.request_id, device_denoise_s=local_s)
            except ServerError as exc:  # e.g. the deadline passed and the edge took over
                completion = {"request_id": result.request_id, "status": "late", "detail": exc.detail}
        if image is not None and out_path:
            from PIL import Image

            Image.fromarray(image).save(out_path)
        L1 = prepared.extraction_s + facts["uplink_s"]
        L2 = facts["server_wait_s"] + facts["downlink_s"] + local_s
        return ClientResult(
            request_id=result.request_id, decision=result.decision.model_dump(), condition=prepared.condition,
            alpha=prepared.alpha, beta=prepared.beta, codec=prepared.codec, uplink_bytes=facts["uplink_bytes"],
            condition_bytes=len(prepared.data), downlink_bytes=facts["downlink_bytes"],
            payload_bytes=result.payload_bytes, payload_kind=result.payload_kind, extraction_s=prepared.extraction_s,
            uplink_s=facts["uplink_s"], server_wait_s=facts["server_wait_s"], downlink_s=facts["downlink_s"],
            local_s=local_s, L1_s=L1, L2_s=L2, latency_s=L1 + L2, server=result.model_dump(mode="json"),
            completion=completion, image_path=out_path if image is not None and out_path else None,
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


__all__ = ["ClientResult", "DeviceProfileSpec", "MobileClient", "PreparedRequest", "ServerError",
           "build_multipart", "format_breakdown"]
