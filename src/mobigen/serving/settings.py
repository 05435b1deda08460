"""Edge-server settings: one validated, immutable pydantic model (``ServerSettings``).

Values come from, in order: explicit keyword arguments (the CLI passes its flags), then
``MOBIGEN_SERVE_<FIELD>`` environment variables (``ServerSettings.from_env``), then the defaults
below. ``pydantic-settings`` is not a dependency; ``from_env`` does the same job in a few lines.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_CONTROLLER = "exact"
"""Default DDC controller of the live server: the exact per-slot optimum (see ``commands/serve.py``)."""


class ServerSettings(BaseModel):
    """Everything the edge server needs to start (units in each field's description)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    host: str = Field("127.0.0.1", description="Interface to bind (the tests only ever use 127.0.0.1).")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 = any free port).")
    scenario: str = Field("paper", description="Scenario preset name or file (mobigen.scenario.resolve).")
    controller: str = Field(DEFAULT_CONTROLLER, description="Controller name for control.registry.make_controller.")
    controller_seed: int = Field(0, description="Seed handed to controllers that draw random numbers.")
    slot_ms: float = Field(200.0, gt=0, le=600_000, description="Slot window: a slot closes this long after its first request (ms).")
    max_users: int = Field(5, ge=1, le=1024, description="K: a slot closes as soon as this many requests are in.")
    max_body_bytes: int = Field(2_000_000, ge=1024, description="Largest accepted request body, checked before parsing (bytes).")
    max_condition_bytes: int = Field(1_000_000, ge=1, description="Largest accepted engineered-condition part (bytes).")
    max_prompt_chars: int = Field(1000, ge=1, description="Longest accepted prompt (characters).")
    completion_deadline_s: float | None = Field(
        None, gt=0, description="Seconds after the reply by which the device must confirm completion; None = the scenario's L̃ (s)."
    )
    components: str = Field("tiny", description="'tiny' (built in code from `seed`) or a local weights directory.")
    components_seed: int = Field(0, description="Seed of the tiny components; client and server must use the same one.")
    denoise: Literal["run", "none"] = Field(
        "run", description="'run' = real split denoising; 'none' = control plane only (load tests), payload-free replies."
    )
    wire_mode: str = Field("fp16", description="Latent wire mode of generation.wire.encode_latent: 'fp16', 'fp32' or 'q8zstd'.")
    image_format: str = Field("png", description="Wire format of the final image when o_k = 1: 'png', 'jpeg' or 'webp'.")
    image_size: int = Field(512, ge=64, le=1024, description="Generated image side (pixels, multiple of 64); 512 is the paper's.")
    edge_max_batch: int = Field(8, ge=1, le=64, description="Most users whose edge steps share one batched denoiser "
                                "forward (issue 14; serving.batched_worker); 1 = one user after another (users).")
    shape_downlink: bool = Field(True, description="Pace each reply at the request's declared downlink rate B↓ (token bucket).")
    decode_in_thread: bool = Field(False, description="Decode uploaded conditions in a thread pool instead of on the event loop.")
    engine: Literal["embedded", "ray"] = Field(
        "embedded", description="'embedded' = one process, worker threads; 'ray' = a Ray Serve application "
                                "(serving.ray): FastAPI ingress + N denoise-worker replicas.")
    workers: int = Field(1, ge=1, le=1024, description="Denoise-worker replicas (threads for 'embedded', Ray Serve "
                                                       "replicas for 'ray', each on one GPU when GPUs exist) (workers).")
    torch_threads: int = Field(0, ge=0, le=1024, description="Embedded engine: torch's intra-op threads in this process, "
                               "set when the server starts (it holds for the whole process); 0 leaves torch's default "
                               "(one per core). The Ray engine sets each replica's from its CPUs (threads).")
    max_edge_queue: int = Field(256, ge=1, description="Most edge jobs outstanding (worker queues + the open slot) "
                                                       "before new requests get 503 + Retry-After (jobs).")
    max_wait_s: float | None = Field(
        None, gt=0, description="Longest estimated wait for the edge that a request needing edge steps may face "
                                "before it is refused with 503 + Retry-After; None = the scenario's L̃ (s).")
    queue_limit: int = Field(1024, ge=1, description="Most requests waiting for a slot or the worker before new ones get 503.")
    record_ttl_s: float = Field(600.0, gt=0, description="How long finished request records stay queryable (s).")
    max_records: int = Field(100_000, ge=1, description="Most request records held; past it the oldest finished ones "
                                                        "are dropped first (they then answer 404) (records).")
    shutdown_grace_s: float = Field(30.0, ge=0, description="On shutdown, how long queued work may still run before it is refused (s).")
    header_timeout_s: float = Field(10.0, gt=0, le=3600, description="A connection must send a complete request head within this long (s).")
    body_idle_timeout_s: float = Field(10.0, gt=0, le=3600, description="Longest pause between received bytes of a request body (s).")
    send_stall_timeout_s: float = Field(60.0, gt=0, le=3600, description="Longest wait for a client that stopped reading its reply; "
                                        "the connection is then aborted (s).")
    keep_alive_s: float = Field(5.0, gt=0, le=3600, description="An idle kept-alive connection is closed after this long (s).")
    max_header_bytes: int = Field(32_768, ge=1024, le=1 << 20, description="Largest request head accepted (bytes).")
    max_connections: int = Field(1000, ge=1, le=100_000, description="Open connections beyond which new requests get 503.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("field 'host' must be a non-empty host name without spaces")
        return v

    @field_validator("wire_mode")
    @classmethod
    def _wire_mode(cls, v: str) -> str:
        if v not in ("fp16", "fp32", "q8zstd"):
            raise ValueError(f"field 'wire_mode' must be 'fp16', 'fp32' or 'q8zstd', got {v!r}")
        return v

    @field_validator("image_format")
    @classmethod
    def _image_format(cls, v: str) -> str:
        if v not in ("png", "jpeg", "webp"):
            raise ValueError(f"field 'image_format' must be 'png', 'jpeg' or 'webp', got {v!r}")
        return v

    @field_validator("image_size")
    @classmethod
    def _image_size(cls, v: int) -> int:
        if v % 64:
            raise ValueError(f"field 'image_size' must be a multiple of 64 pixels, got {v}")
        return v

    @classmethod
    def from_env(cls, **overrides: Any) -> "ServerSettings":
        """Settings from ``MOBIGEN_SERVE_<FIELD>`` variables, then ``overrides`` (non-None ones win)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            env = os.environ.get(f"MOBIGEN_SERVE_{name.upper()}")
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


__all__ = ["DEFAULT_CONTROLLER", "ServerSettings"]
