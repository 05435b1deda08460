"""The `/v1` API's messages (pydantic): the uplink request metadata and the JSON parts of replies.

Uplink (design.md "Wire formats"): ``POST /v1/generate`` is ``multipart/form-data`` with two parts:

* ``meta``: a JSON document validated by ``GenerateMeta`` (prompt, ν = (λ, α, β, codec), ω, Q̃,
  device profile (f_k, C_k), bandwidth estimate);
* ``condition``: the engineered condition I_k(ν_k) as raw bytes (a file part), exactly what
  ``conditions.codec.encode`` produced — no base64, so D(I_k(ν_k)) on the wire is the real size.

Downlink: see ``serving.protocol`` (a framed body: ``ResultMeta`` JSON + the wire payload).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mobigen.scenario import ALPHAS, BETAS, CONDITIONS

API_PREFIX = "/v1"
"""Version prefix of every request/response endpoint (``/health`` and ``/metrics`` sit outside it)."""

RequestStatus = Literal[
    "queued",  # waiting for its slot to close
    "deciding",  # the slot's controller + guard are running
    "edge_running",  # edge denoising queued or running in the worker
    "awaiting_device",  # reply sent, waiting for the device's completion confirmation
    "completed",  # the device confirmed it finished the local steps
    "edge_completed",  # o_k = 1, or the edge took over the local steps after the deadline
    "failed",  # could not be served (reason given); never silently dropped
    "refused",  # refused at shutdown or on overload (reason given)
    "abandoned",  # the client went away before the reply; its share was computed and discarded
]


class DeviceProfile(BaseModel):
    """A device's computing profile as it declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    f_flops: float = Field(gt=0, description="f_k, the device's computing capacity (FLOPS).")
    budget_flops: float = Field(ge=0, description="C_k, the device's compute budget per slot (FLOPs).")

    @field_validator("f_flops", "budget_flops")
    @classmethod
    def _finite(cls, v: float, info) -> float:  # noqa: ANN001
        if not math.isfinite(v):
            raise ValueError(f"field '{info.field_name}' must be finite")
        return v


class GenerateMeta(BaseModel):
    """The JSON ``meta`` part of an uplink request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str | None = Field(
        None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="Client-chosen id (idempotency key); the server assigns one when absent.",
    )
    prompt: str = Field(min_length=1, description="Text prompt.")
    condition: str = Field(description="λ_k, the condition type (one of scenario.CONDITIONS).")
    alpha: float = Field(description="α_k, resolution level (Table I).")
    beta: float = Field(description="β_k, quality level (Table I).")
    codec: str = Field("jpeg", min_length=1, max_length=16, description="Codec of the condition bytes (conditions.codec).")
    omega_I: float = Field(ge=0.0, le=1.0, description="ω^I_k, preference for perceptual similarity; ω^T_k = 1 - ω^I_k.")
    qoe_threshold: float = Field(ge=0.0, le=1.0, description="Q̃_k, the QoE the user requires.")
    device: DeviceProfile = Field(description="f_k and C_k.")
    uplink_mbps: float = Field(gt=0, le=100_000, description="B↑_k estimate (Mbps).")
    downlink_mbps: float = Field(gt=0, le=100_000, description="B↓_k estimate (Mbps); the server paces its reply at this rate.")
    seed: int = Field(0, ge=0, lt=2**63, description="Seed of the initial noise z_T (both sides derive z_T from it).")
    extraction_s: float | None = Field(None, ge=0, description="Measured on-device extraction time, for the report only (s).")

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        if v not in CONDITIONS:
            raise ValueError(f"field 'condition' must be one of {list(CONDITIONS)}, got {v!r}")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not any(math.isclose(v, a) for a in ALPHAS):
            raise ValueError(f"field 'alpha' must be one of {list(ALPHAS)} (Table I), got {v!r}")
        return v

    @field_validator("beta")
    @classmethod
    def _beta(cls, v: float) -> float:
        if not any(math.isclose(v, b) for b in BETAS):
            raise ValueError(f"field 'beta' must be one of {list(BETAS)} (Table I), got {v!r}")
        return v

    @field_validator("uplink_mbps", "downlink_mbps", "omega_I", "qoe_threshold")
    @classmethod
    def _finite(cls, v: float, info) -> float:  # noqa: ANN001
        if not math.isfinite(v):
            raise ValueError(f"field '{info.field_name}' must be finite")
        return v


class DecisionInfo(BaseModel):
    """The slot's decision for one user, after the feasibility guard."""

    T: int = Field(description="T_k, total denoising steps.")
    o: float = Field(description="o_k, offloading ratio in (0, 1].")
    edge_steps: int = Field(description="⌊o_k T_k⌋, steps the edge ran (eq. 4).")
    local_steps: int = Field(description="T_k - ⌊o_k T_k⌋, steps left to the device (eq. 5).")
    controller: str = Field(description="Controller that decided.")
    guard_repaired: bool = Field(description="Whether the feasibility guard changed this user's (T_k, o_k).")


class Timings(BaseModel):
    """Server-side timings of one request (s), measured with time.perf_counter."""

    queue_s: float = Field(description="From the request being parsed to its slot closing (s).")
    decision_s: float = Field(description="Slot build + controller decide + guard, shared by the slot (s).")
    edge_wait_s: float = Field(description="Waiting in the worker queue behind other users' edge steps (s).")
    edge_denoise_s: float = Field(description="This user's edge denoising + encoding in the worker (s).")
    overhead_s: float = Field(description="Control-plane wall time in the server: total minus the slot wait, the worker wait "
                                          "and denoising; includes event-loop queueing behind other requests (s).")
    processing_s: float = Field(description="Control-plane work for this request alone: parsing, validation, condition "
                                            "decoding, the slot's decision (shared) and building the reply (s).")
    processing_cpu_s: float = Field(description="The same work as processing_s in CPU time of the server's event-loop "
                                                "thread (time.thread_time), insensitive to other processes (s).")
    server_total_s: float = Field(description="From the request being parsed to the reply being ready (s).")


class ModelPrediction(BaseModel):
    """What the system model (eqs. 2, 6, 7) predicts for this user, beside the measurements."""

    L1_s: float = Field(description="L¹_k, eq. (2) (s).")
    uplink_s: float = Field(description="D(I_k(ν_k)) / B↑, eq. (2)'s transfer term (s).")
    L2_s: float = Field(description="L²_k, eq. (6) or (7) (s).")
    edge_s: float = Field(description="ε₀⌊o_k T_k⌋ / f_E (s).")
    downlink_s: float = Field(description="D(z or x₀) / B↓ with the scenario's D (s).")
    local_s: float = Field(description="ε₀ d_k / f_k (s).")
    Q: float = Field(description="Q_k from the quality model (eq. 1).")
    quality_backend: str = Field(description="Quality backend behind Q ('surrogate' or 'measured').")


class ResultMeta(BaseModel):
    """The JSON header of a ``/v1/generate`` reply (followed by the wire payload)."""

    request_id: str
    slot_id: int = Field(description="Sequence number of the slot that served the request.")
    slot_size: int = Field(description="Users in that slot.")
    status: RequestStatus
    decision: DecisionInfo
    timings: Timings
    model: ModelPrediction
    payload_kind: Literal["latent", "image", "none"] = Field(
        description="'latent' (o_k < 1), 'image' (o_k = 1), 'none' (control-plane-only server)."
    )
    payload_bytes: int = Field(description="Bytes of the wire payload that follows (D(z) or D(x₀)).")
    uplink_bytes: int = Field(description="Bytes of the condition part the server received.")
    completion_deadline_s: float | None = Field(description="Seconds the device has to confirm completion (None when o_k = 1).")
    components: str = Field(description="'tiny' or the weights directory the edge generated with.")


class CompleteBody(BaseModel):
    """Body of ``POST /v1/requests/{id}/complete``."""

    model_config = ConfigDict(extra="forbid")

    device_denoise_s: float | None = Field(None, ge=0, description="Measured local denoising + decode time (s).")
    ok: bool = Field(True, description="False when the device could not finish (the edge then takes over if it can).")


class RequestState(BaseModel):
    """``GET /v1/requests/{id}``: where a request stands."""

    request_id: str
    status: RequestStatus
    detail: str = Field("", description="Why (for failed / refused / edge_completed).")
    slot_id: int | None = None
    image_available: bool = Field(False, description="The edge holds the final image (GET .../image).")


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="Machine-readable kind, e.g. 'invalid_request', 'body_too_large'.")
    detail: str = Field(description="A human-readable message naming the offending field.")


__all__ = [
    "API_PREFIX", "CompleteBody", "DecisionInfo", "DeviceProfile", "ErrorBody", "GenerateMeta", "ModelPrediction",
    "RequestState", "RequestStatus", "ResultMeta", "Timings",
]
