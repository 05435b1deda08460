"""Helpers shared by the serving/client tests (not a test module itself)."""

from __future__ import annotations

import json

import numpy as np

from mobigen.scenario import preset


class StepQuality:
    """A quality model built for the tests (the QualityModel interface): q rises with T and falls
    with compression, so the controllers have a real trade-off to decide. Labelled 'test-model'."""

    backend = "test-model"

    def scores(self, condition, alpha, beta, steps, difficulty=None):  # noqa: ANN001, ANN201
        c = np.asarray(condition, dtype=float)
        T = np.asarray(steps, dtype=float)
        fid = 0.5 + 0.25 * np.asarray(alpha, dtype=float) + 0.25 * np.asarray(beta, dtype=float)
        s = 1.0 - np.exp(-T / 8.0)
        q_I = np.clip((0.75 + 0.03 * (c < 2)) * fid * s, 0, 1)
        q_T = np.clip((0.78 + 0.03 * (c >= 2)) * fid * s, 0, 1)
        return q_I, q_T


def jpeg_condition(seed: int = 0, side: int = 128) -> bytes:
    """A real JPEG of a random edge-like map (what conditions.codec.encode produces)."""
    from mobigen.conditions import codec

    rng = np.random.default_rng(seed)
    img = (rng.random((512, 512)) > 0.9).astype(np.uint8) * 255
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    return codec.encode(rgb, alpha=side / 512, beta=0.5, codec="jpeg")


def meta_dict(device_type: int = 0, **over) -> dict:  # noqa: ANN003
    sc = preset("paper")
    f = sc.device_compute_ratios[device_type] * sc.f_edge
    c = sc.device_budget_ratios[device_type] * sc.edge_budget_flops
    d = dict(prompt="a dog on the beach", condition="canny", alpha=0.25, beta=0.5, codec="jpeg", omega_I=0.5,
             qoe_threshold=0.6, device={"f_flops": f, "budget_flops": c}, uplink_mbps=10.0, downlink_mbps=10.0, seed=1)
    d.update(over)
    return d


def multipart(meta: dict | str, condition: bytes | None) -> dict:
    """httpx ``files=`` argument for one upload."""
    files = {"meta": (None, meta if isinstance(meta, str) else json.dumps(meta), "application/json")}
    if condition is not None:
        files["condition"] = ("condition.jpg", condition, "image/jpeg")
    return files


class FixedController:
    """A controller built for the tests: every user gets the same (T, o)."""

    def __init__(self, T: int, o: float) -> None:
        self.name = f"fixed(T={T},o={o})"
        self.T, self.o = T, o

    def decide(self, slot):  # noqa: ANN001, ANN201
        from mobigen.system import Decision

        return Decision.from_ratio(T=np.full(slot.K, self.T, dtype=np.int64), o=np.full(slot.K, self.o))


def small_scenario_file(tmp_path, **changes) -> str:  # noqa: ANN001, ANN003
    """A scenario with 2..4 denoising steps (cheap tiny generation), written as JSON."""
    from mobigen.scenario import dump_file

    sc = preset("paper").replace(name="tests-small", steps_min=2, steps_max=4, **changes)
    path = tmp_path / f"scenario-{abs(hash(tuple(sorted(changes.items())))) % 10**8}.json"
    dump_file(sc, path)
    return str(path)
