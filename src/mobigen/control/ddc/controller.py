"""DDC at inference: ``DDCController.decide(slot)`` with save/load of the trained actor.

Deterministic: the reverse process starts from a_N = 0 and takes each step's mean, and T_k is
the argmax (``policy.DiffusionPolicy``), so the same slot always gets the same decision.
Validation: NaN / negative / out-of-range fields or K = 0 raise ``ValueError``; a K other than
the trained one raises ``validate.SlotSizeError`` (``registry.make_controller`` documents the
fallback to Exact for that case).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mobigen.control.action_map import action_to_decision
from mobigen.control.ddc.algorithm import DDCConfig
from mobigen.control.ddc.policy import DiffusionPolicy
from mobigen.control.observation import obs_dim, observe
from mobigen.control.validate import SlotSizeError, validate_slot
from mobigen.system.slot import Decision, Slot

FORMAT = "mobigen-ddc-actor-v1"
"""Checkpoint format tag."""


def read_checkpoint(path: Path, fmt: str) -> dict[str, Any]:
    """The dict saved in a DDC checkpoint of format ``fmt``; FileNotFoundError / ValueError naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"DDC checkpoint '{path}' does not exist")
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError for a foreign file
        raise ValueError(f"DDC checkpoint '{path}' is not a {fmt} file ({type(exc).__name__})") from exc
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise ValueError(f"DDC checkpoint '{path}' is not a {fmt} file")
    return d


class DDCController:
    """A trained DDC actor as a ``Controller``."""

    name = "ddc-flat"

    def __init__(self, actor: DiffusionPolicy, *, K: int, steps_min: int, steps_max: int,
                 config: DDCConfig, meta: dict[str, Any] | None = None) -> None:
        self.actor = actor.eval()
        self.K, self.steps_min, self.steps_max, self.config = K, steps_min, steps_max, config
        self.meta = dict(meta or {})

    def decide(self, slot: Slot) -> Decision:
        validate_slot(slot, expected_K=self.K)
        p = slot.params
        if (p.steps_min, p.steps_max) != (self.steps_min, self.steps_max):
            raise SlotSizeError(f"slot params 'steps_min/steps_max' = {p.steps_min}..{p.steps_max}, "
                                f"the policy was trained for {self.steps_min}..{self.steps_max}")
        with torch.inference_mode():
            a, _ = self.actor(torch.from_numpy(observe(slot))[None], deterministic=True)
        return action_to_decision(a[0].numpy(), slot)

    def save(self, path: str | Path) -> Path:
        """Write the actor (no critics, no optimiser state) and its metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": FORMAT, "K": self.K, "steps_min": self.steps_min, "steps_max": self.steps_max,
                    "config": asdict(self.config), "meta": self.meta,
                    "actor": {k: v.clone() for k, v in self.actor.state_dict().items()}}, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "DDCController":
        path = Path(path)
        d = read_checkpoint(path, FORMAT)
        try:
            cfg = DDCConfig(**d["config"])
            K, n_T = d["K"], d["steps_max"] - d["steps_min"] + 1
            actor = DiffusionPolicy(obs_dim(K), K, n_T, n_steps=cfg.n_diffusion_steps, hidden=cfg.hidden,
                                    t_dim=cfg.t_dim)
            actor.load_state_dict(d["actor"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"DDC checkpoint '{path}' is damaged: {type(exc).__name__}: {exc}") from exc
        return cls(actor, K=K, steps_min=d["steps_min"], steps_max=d["steps_max"], config=cfg, meta=d.get("meta"))

    @classmethod
    def from_agent(cls, agent, scenario, meta: dict[str, Any] | None = None) -> "DDCController":
        """Share (not copy) a training agent's actor."""
        return cls(agent.actor, K=scenario.num_users, steps_min=scenario.steps_min, steps_max=scenario.steps_max,
                   config=agent.config, meta=meta)
