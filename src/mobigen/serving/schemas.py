"""The `/v1` API's messages (pydantic): the uplink request metadata and the JSON parts of replies.

Uplink (design.md "Wire formats"): ``POST /v1/generate`` is ``multipart/form-data`` with two parts:

* ``meta``: a JSON document validated by ``GenerateMeta`` (prompt, ν = (λ, α, β, codec), ω, Q̃,
  device profile (f_k, C_k), bandwidth estimate);
* ``condition``: the engineered condition I_k(ν_k) as raw bytes (a file part), exactly what
  ``conditions.codec.encode`` produced — no base64, so D(I_k(ν_k)) on the wire is the real size.

Every number in ``GenerateMeta`` is finite (NaN/Infinity are refused) and bounded: Table I's level
grids for α and β, [0, 1] for ω and Q̃, and the documented physical bounds below (``LINK_MBPS``,
``DEVICE_FLOPS``, ``DEVICE_BUDGET_FLOPS``) elsewhere, so that no admitted request can break a slot's
decision (issue 12). Limits that depend on the server's settings (prompt length, condition bytes)
are checked at admission (``serving.admission``).

Downlink: see ``serving.protocol`` (a framed body: ``ResultMeta`` JSON + the wire payload).
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mobigen.conditions.codec import CODECS
from mobigen.scenario import ALPHAS, BETAS, CONDITIONS

API_PREFIX = "/v1"
"""Version prefix of every request/response endpoint (``/health`` and ``/metrics`` sit outside it)."""

LINK_MBPS = (0.1, 100_000.0)
"""Accepted declared bandwidth B↑/B↓ (Mbps): from 100 kbit/s (below any cellular link the paper
models, Table I: 5-20 Mbps; a 1 MB image still arrives in 80 s) to 100 Gbit/s. The lower bound also
bounds the reply pacing at B↓: a 1e-6 Mbps declaration would never finish."""

DEVICE_FLOPS = (1e9, 1e18)
"""Accepted device computing capacity f_k (FLOPS): 1 GFLOPS (below any smartphone GPU; Table I's
devices run at f_E/10..f_E/2, about 1-5 TFLOPS) to 1 EFLOPS."""

DEVICE_BUDGET_FLOPS = (0.0, 1e21)
"""Accepted device compute budget C_k per slot (FLOPs): 0 (the device runs no step) to 1e21
(about 10⁹ denoising steps of ε₀ = 1.2 TFLOPs; Table I's budgets are C_E/50..C_E/5)."""

GRID_TOLERANCE = 1e-9
"""α and β within this of a Table I level are taken as that level (JSON round-off); anything else is refused."""

MAX_SEED = 2**63
"""Seeds lie in [0, 2**63) (torch generators take 64-bit seeds)."""

MAX_EXTRACTION_S = 3600.0
"""Largest reported on-device extraction time (s); the field is informational."""


try:
    from enum import StrEnum
except ImportError:  # Python 3.10: the same behaviour (str() and format() give the value)
    class StrEnum(str, enum.Enum):  # type: ignore[no-redef]
        """``enum.StrEnum`` of Python 3.11."""

        __str__ = str.__str__
        __format__ = str.__format__


class RequestStatus(StrEnum):
    """Where a request stands (records, ``ResultMeta.status``, ``RequestState.status``)."""

    QUEUED = "queued"
    """Waiting for its slot to close."""
    DECIDING = "deciding"
    """The slot's controller + guard are running."""
    EDGE_RUNNING = "edge_running"
    """Edge denoising queued or running in the worker."""
    AWAITING_DEVICE = "awaiting_device"
    """Reply sent, waiting for the device's completion confirmation."""
    COMPLETED = "completed"
    """The device confirmed it finished the local steps."""
    EDGE_COMPLETED = "edge_completed"
    """o_k = 1, or the edge took over the local steps after the deadline."""
    FAILED = "failed"
    """Could not be served (reason given); never silently dropped."""
    REFUSED = "refused"
    """Refused at shutdown or on overload (reason given)."""
    ABANDONED = "abandoned"
    """The client went away before the reply; its share was computed and discarded."""

    @property
    def final(self) -> bool:
        """True for the statuses a request never leaves."""
        return self in _FINAL


_FINAL = frozenset({RequestStatus.COMPLETED, RequestStatus.EDGE_COMPLETED, RequestStatus.FAILED,
                    RequestStatus.REFUSED, RequestStatus.ABANDONED})


def snap_to_grid(name: str, value: float, grid: tuple[float, ...]) -> float:
    """The level of ``grid`` within ``GRID_TOLERANCE`` of ``value`` (ValueError naming ``name`` otherwise)."""
    for level in grid:
        if abs(value - level) <= GRID_TOLERANCE:
            return level
    raise ValueError(f"field '{name}' must be one of {list(grid)} (Table I), got {value!r}")


class DeviceProfile(BaseModel):
    """A device's computing profile as it declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    f_flops: float = Field(ge=DEVICE_FLOPS[0], le=DEVICE_FLOPS[1],
                           description="f_k, the device's computing capacity (FLOPS); see schemas.DEVICE_FLOPS.")
    budget_flops: float = Field(ge=DEVICE_BUDGET_FLOPS[0], le=DEVICE_BUDGET_FLOPS[1],
                                description="C_k, the device's compute budget per slot (FLOPs); see "
                                            "schemas.DEVICE_BUDGET_FLOPS.")


class GenerateMeta(BaseModel):
    """The JSON ``meta`` part of an uplink request."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    request_id: str | None = Field(
        None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
        description="Client-chosen id (idempotency key); the server assigns one when absent.",
    )
    prompt: str = Field(min_length=1, description="Text prompt (at most the server's max_prompt_chars characters).")
    condition: str = Field(description="λ_k, the condition type (one of scenario.CONDITIONS).",
                           json_schema_extra={"enum": list(CONDITIONS)})
    alpha: float = Field(description="α_k, resolution level (one of Table I's levels).",
                         json_schema_extra={"enum": list(ALPHAS)})
    beta: float = Field(description="β_k, quality level (one of Table I's levels).", json_schema_extra={"enum": list(BETAS)})
    codec: str = Field("jpeg", min_length=1, max_length=16, description="Codec of the condition bytes (conditions.codec).",
                       json_schema_extra={"enum": list(CODECS)})
    omega_I: float = Field(ge=0.0, le=1.0, description="ω^I_k, preference for perceptual similarity; ω^T_k = 1 - ω^I_k.")
    qoe_threshold: float = Field(ge=0.0, le=1.0, description="Q̃_k, the QoE the user requires.")
    device: DeviceProfile = Field(description="f_k and C_k.")
    uplink_mbps: float = Field(ge=LINK_MBPS[0], le=LINK_MBPS[1], description="B↑_k estimate (Mbps); see schemas.LINK_MBPS.")
    downlink_mbps: float = Field(ge=LINK_MBPS[0], le=LINK_MBPS[1],
                                 description="B↓_k estimate (Mbps); the server paces its reply at this rate.")
    seed: int = Field(0, ge=0, lt=MAX_SEED, description="Seed of the initial noise z_T (both sides derive z_T from it).")
    extraction_s: float | None = Field(None, ge=0, le=MAX_EXTRACTION_S,
                                       description="Measured on-device extraction time, for the report only (s).")

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str) -> str:
        if v not in CONDITIONS:
            raise ValueError(f"field 'condition' must be one of {list(CONDITIONS)}, got {v!r}")
        return v

    @field_validator("codec")
    @classmethod
    def _codec(cls, v: str) -> str:
        if v not in CODECS:
            raise ValueError(f"field 'codec' must be one of {list(CODECS)}, got {v!r}")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        return snap_to_grid("alpha", v, ALPHAS)

    @field_validator("beta")
    @classmethod
    def _beta(cls, v: float) -> float:
        return snap_to_grid("beta", v, BETAS)


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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    device_denoise_s: float | None = Field(None, ge=0, le=86_400, description="Measured local denoising + decode time (s).")
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
    "API_PREFIX", "CompleteBody", "DEVICE_BUDGET_FLOPS", "DEVICE_FLOPS", "DecisionInfo", "DeviceProfile", "ErrorBody",
    "GRID_TOLERANCE", "GenerateMeta", "LINK_MBPS", "ModelPrediction", "RequestState", "RequestStatus", "ResultMeta",
    "Timings", "snap_to_grid",
]
