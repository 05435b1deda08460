"""The set DDC at inference: ``SetDDCController.decide(slot)`` for a slot of any K and any scenario
numbers, with save/load of the trained actor.

Deterministic (a_N = 0, each reverse step's mean, T_k = argmax), so the same slot always gets the
same decision, and permuting the users permutes the decision. Validation: NaN / negative /
out-of-range fields or K = 0 raise ``ValueError`` naming the field.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mobigen.control.action_map import action_to_decision
from mobigen.control.ddc.controller import read_checkpoint
from mobigen.control.ddc_set.agent import SetDDCConfig
from mobigen.control.ddc_set.policy import SetDiffusionPolicy
from mobigen.control.ddc_set.tokens import tokens
from mobigen.control.validate import validate_slot
from mobigen.system.slot import Decision, Slot

FORMAT = "mobigen-ddc-set-actor-v1"
"""Checkpoint format tag."""


class SetDDCController:
    """A trained set-DDC actor as a ``Controller`` (any K, any scenario numbers)."""

    name = "ddc"

    def __init__(self, actor: SetDiffusionPolicy, config: SetDDCConfig, meta: dict[str, Any] | None = None) -> None:
        self.actor = actor.eval()
        self.config = config
        self.meta = dict(meta or {})

    def decide(self, slot: Slot) -> Decision:
        validate_slot(slot)
        with torch.inference_mode():
            a, _ = self.actor(torch.from_numpy(tokens(slot))[None], deterministic=True)
        return action_to_decision(a[0].numpy(), slot)

    def save(self, path: str | Path) -> Path:
        """Write the actor (no critics, no optimiser state) and its metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": FORMAT, "config": asdict(self.config), "meta": self.meta,
                    "actor": {k: v.clone() for k, v in self.actor.state_dict().items()}}, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SetDDCController":
        path = Path(path)
        d = read_checkpoint(path, FORMAT)
        try:
            cfg = SetDDCConfig(**d["config"])
            actor = SetDiffusionPolicy(n_steps=cfg.n_diffusion_steps, hidden=cfg.hidden, heads=cfg.heads,
                                       layers=cfg.layers, t_dim=cfg.t_dim, mixer=cfg.mixer)
            actor.load_state_dict(d["actor"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"DDC checkpoint '{path}' is damaged: {type(exc).__name__}: {exc}") from exc
        return cls(actor, cfg, meta=d.get("meta"))

    @classmethod
    def from_agent(cls, agent, meta: dict[str, Any] | None = None) -> "SetDDCController":
        """Share (not copy) a training agent's actor."""
        return cls(agent.actor, agent.config, meta=meta)


def is_set_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a set-DDC actor (else, e.g., a flat ``control.ddc`` one)."""
    try:
        d = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception:  # a foreign or damaged file: not ours
        return False
    return isinstance(d, dict) and d.get("format") == FORMAT
