"""``mobigen bench scaleout``: the edge's scale-out figures from ONE run (issue 14 targets).

Every configuration is the same ``serving.loadtest`` (N clients × S slots, real tiny split
denoising, unique request ids, lost / duplicated counted), run back to back in this one invocation,
so the ratios compare like with like on the same machine:

1. throughput (requests/s) of the Ray Serve engine with each worker count in ``workers`` (target:
   2 workers ≥ 1.6× 1 worker);
2. the slowest reply of each configuration against the single-worker serial server's (embedded
   engine, ``edge_max_batch = 1``: one user's edge steps after another) (target ≤ 0.3×); with
   ``edge_max_batch > 1`` the batched embedded server is measured too.

Timings are wall-clock on whatever else the machine runs: the report carries the 1-minute load
average after each run.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScaleoutConfig:
    """What ``run_scaleout`` measures."""

    clients: int = 8
    """Concurrent clients N (clients)."""
    slots: int = 3
    """Requests per client, one per slot (requests)."""
    max_users: int = 8
    """K: users per slot (users)."""
    slot_ms: float = 500.0
    """Slot window (ms)."""
    image_size: int = 256
    """Generated image side (px): large enough that denoising, not HTTP, dominates."""
    workers: tuple[int, ...] = (1, 2)
    """Ray worker counts compared (replicas)."""
    edge_max_batch: int = 1
    """Users per batched edge step in the Ray runs (1 = each replica serial: pure replica scaling); above 1
    the batched embedded server runs too (users)."""
    serial_baseline: bool = True
    """Also run the single-worker serial embedded server (the slowest-reply reference)."""
    scenario: str = "paper"
    """Scenario preset or file."""
    seed: int = 0
    """Seed of the request draws."""


_KEEP = ("engine", "workers", "edge_max_batch", "image_size", "sent", "answered", "lost", "duplicated",
         "retries_after_503", "wall_s",
         "requests_per_s", "rtt_ms", "overhead_ms", "load_average_1min_after", "non_200", "errors_sample")


def _one(cfg: ScaleoutConfig, engine: str, workers: int, batch: int) -> dict[str, Any]:
    from mobigen.serving.loadtest import run_loadtest

    r = run_loadtest(cfg.clients, cfg.slots, scenario=cfg.scenario, max_users=cfg.max_users, slot_ms=cfg.slot_ms,
                     denoise="tiny", seed=cfg.seed, engine=engine, workers=workers, image_size=cfg.image_size,
                     edge_max_batch=batch)
    out = {k: r.get(k) for k in _KEEP}
    out["slowest_reply_s"] = (r["rtt_ms"]["max"] or 0.0) / 1000.0
    logger.info("%s workers=%d batch=%d: %.2f req/s, slowest %.2f s, lost %d, duplicated %d", engine, workers, batch,
                out["requests_per_s"] or 0.0, out["slowest_reply_s"], out["lost"], out["duplicated"])
    return out


def run_scaleout(cfg: ScaleoutConfig) -> dict[str, Any]:
    """Steps 1-2 of the module docstring; returns every run and the ratios."""
    runs: dict[str, dict] = {}
    if cfg.serial_baseline:
        runs["embedded_serial_1"] = _one(cfg, "embedded", 1, 1)
    if cfg.edge_max_batch > 1:  # the batched single-process server, for comparison with the Ray runs
        runs[f"embedded_batch{cfg.edge_max_batch}_1"] = _one(cfg, "embedded", 1, cfg.edge_max_batch)
    for w in cfg.workers:
        runs[f"ray_{w}"] = _one(cfg, "ray", w, cfg.edge_max_batch)
    base = runs.get(f"ray_{min(cfg.workers)}")
    ratios: dict[str, float | None] = {}
    for name, r in runs.items():
        if base and name.startswith("ray_") and base["requests_per_s"]:
            ratios[f"throughput_{name}_vs_ray_{min(cfg.workers)}"] = r["requests_per_s"] / base["requests_per_s"]
        if cfg.serial_baseline and runs["embedded_serial_1"]["slowest_reply_s"]:
            ratios[f"slowest_reply_{name}_vs_serial"] = r["slowest_reply_s"] / runs["embedded_serial_1"]["slowest_reply_s"]
    return {"config": asdict(cfg), "runs": runs, "ratios": ratios,
            "lost": sum(r["lost"] for r in runs.values()), "duplicated": sum(r["duplicated"] for r in runs.values())}


__all__ = ["ScaleoutConfig", "run_scaleout"]
