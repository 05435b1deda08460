"""The set-structured DDC's agent: Algorithm 3's update (``control.ddc.algorithm.DDCAgent.update``,
eqs. 27-30, unchanged) on the set networks, and a replay buffer bucketed by slot shape.

Differences from the flat agent, both forced by "one policy for every K": the critics predict the
reward per user (eq. 26 / K, ``trainer``), and the entropy term of eqs. (27), (29) is the mean of the
users' categorical entropies (the flat agent sums them), so ξ weighs the same at every K.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mobigen.control.ddc.algorithm import DDCAgent, DDCConfig, ReplayBuffer
from mobigen.control.ddc_set.networks import MIXERS, TwinSetCritic
from mobigen.control.ddc_set.policy import SetDiffusionPolicy
from mobigen.control.ddc_set.tokens import TOKEN_DIM


@dataclass(frozen=True)
class SetDDCConfig(DDCConfig):
    """DDCConfig plus the set networks' shape (the paper gives none but N = 3 reverse steps)."""

    hidden: int = 64
    """Width of the encoder, denoiser and critics (units)."""
    heads: int = 4
    """Attention heads of every self-attention block."""
    layers: int = 2
    """Self-attention blocks of the actor's encoder."""
    critic_layers: int = 0
    """Interaction blocks of each critic. 0: the per-user values see each other only through the
    critic's slot head (mean context and edge load), which is eq. (26)'s structure: a sum of per-user
    terms plus the edge-budget penalty on Σ e_k."""
    mixer: str = "pool"
    """How users interact in the actor's encoder and the critics: "attention" or "pool" (mean pooling)."""
    xi: float = 0.01
    """ξ of eqs. (27), (29), weight of the mean per-user entropy (fixed)."""
    x_reg: float = 0.01
    """Weight of the L2 penalty on the actor's raw x₀ (see ``DDCConfig.x_reg``)."""
    actor_delay: int = 1000
    """Critic-only updates before the actor's first: the critics first learn from the uniform warm-up
    slots (without it the actor followed an untrained critic into T = steps_min in our runs)."""
    lr_actor: float = 3e-4
    """Adam learning rate of the actor."""
    lr_critic: float = 1e-3
    """Adam learning rate of the critics."""
    learning_starts: int = 1000
    """Slots of uniform random actions before the first update."""
    buffer_size: int = 200_000
    """Replay capacity per (K, n_T) bucket (transitions)."""
    critic_extra_updates: int = 1
    """Extra critic-only updates (eq. 28) per environment step, besides ``updates_per_step`` full ones
    (the critics are cheap to update and the actor follows their gradient)."""
    explore_eps: float = 0.1
    """While training, each user's action is replaced by a uniform random one with this probability
    (on top of the diffusion noise), so that the replay keeps covering every (T, e)."""
    lr_final_frac: float = 0.1
    """Both learning rates decay linearly over the run to this fraction of their start (1: constant)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("heads", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"DDC config field '{name}' must be >= 1")
        if self.critic_layers < 0:
            raise ValueError("DDC config field 'critic_layers' must be >= 0")
        if self.critic_extra_updates < 0:
            raise ValueError("DDC config field 'critic_extra_updates' must be >= 0")
        if not 0.0 <= self.explore_eps <= 1.0:
            raise ValueError("DDC config field 'explore_eps' must lie in [0, 1]")
        if not 0.0 < self.lr_final_frac <= 1.0:
            raise ValueError("DDC config field 'lr_final_frac' must lie in (0, 1]")
        if self.mixer not in MIXERS:
            raise ValueError(f"DDC config field 'mixer' must be one of {MIXERS}, got {self.mixer!r}")
        if self.hidden % self.heads:
            raise ValueError("DDC config field 'hidden' must be a multiple of 'heads'")
        if self.gamma != 0.0:
            raise ValueError("DDC config field 'gamma' must be 0 for the set DDC (slots are independent draws "
                             "of different sizes; eq. (29) is y' = r)")


class SetDDCAgent(DDCAgent):
    """Actor, twin critics, target critics and optimisers of the set DDC; ``update`` is the flat
    agent's (Algorithm 3 lines 9-11)."""

    def __init__(self, config: SetDDCConfig = SetDDCConfig(), seed: int = 0) -> None:
        self.config, self.state_dim, self.K, self.n_T = config, TOKEN_DIM, None, None
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.actor = SetDiffusionPolicy(n_steps=config.n_diffusion_steps, hidden=config.hidden,
                                            heads=config.heads, layers=config.layers, t_dim=config.t_dim,
                                            mixer=config.mixer)
            self.critic = TwinSetCritic(config.hidden, config.heads, config.critic_layers, config.mixer)
        self.critic_target = copy.deepcopy(self.critic)
        for prm in self.critic_target.parameters():
            prm.requires_grad_(False)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=config.lr_actor)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=config.lr_critic)
        self.gen = torch.Generator().manual_seed(seed)
        self.n_updates = 0

    def set_lr_fraction(self, frac: float) -> None:
        """Scale both optimisers' learning rates to ``frac`` of the configured ones."""
        for opt, lr in ((self.opt_actor, self.config.lr_actor), (self.opt_critic, self.config.lr_critic)):
            for group in opt.param_groups:
                group["lr"] = lr * frac

    @staticmethod
    def expected_logp(probs: torch.Tensor) -> torch.Tensor:
        """E[log π] of the categorical part per user: −mean_k H(p_k), probabilities (B, K, n_T)."""
        return (probs * torch.log(probs.clamp_min(1e-12))).sum(-1).mean(-1)

    def state_dict(self) -> dict:
        """Everything needed to resume training."""
        return {"config": asdict(self.config), "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "opt_actor": self.opt_actor.state_dict(),
                "opt_critic": self.opt_critic.state_dict(), "n_updates": self.n_updates, "gen": self.gen.get_state()}

    @classmethod
    def from_state_dict(cls, d: dict) -> "SetDDCAgent":
        agent = cls(SetDDCConfig(**d["config"]))
        for name in ("actor", "critic", "critic_target", "opt_actor", "opt_critic"):
            getattr(agent, name).load_state_dict(d[name])
        agent.n_updates = d["n_updates"]
        agent.gen.set_state(d["gen"])
        return agent


class BucketedReplay:
    """The replay buffer E of Algorithm 3, one ``ReplayBuffer`` per slot shape (K, n_T): a batch
    comes from one bucket (chosen with probability ∝ its size), so it needs no padding."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.buckets: dict[tuple[int, int], ReplayBuffer] = {}

    @property
    def size(self) -> int:
        return sum(b.size for b in self.buckets.values())

    def add(self, tok: np.ndarray, n_T: int, a: np.ndarray, r: float) -> None:
        """Store one transition: tokens (K, TOKEN_DIM), box action (2K,), reward per user."""
        K = tok.shape[0]
        buf = self.buckets.get((K, n_T))
        if buf is None:
            buf = self.buckets[(K, n_T)] = ReplayBuffer(K * TOKEN_DIM, 2 * K, self.capacity)
        flat = tok.reshape(-1)
        buf.add(flat, a, r, flat)  # s' is unused (γ = 0)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """(tokens (n, K, TOKEN_DIM), actions (n, 2K), rewards (n,), tokens) from one bucket."""
        keys = sorted(self.buckets)
        sizes = np.array([self.buckets[k].size for k in keys], dtype=float)
        key = keys[int(rng.choice(len(keys), p=sizes / sizes.sum()))]
        s, a, r, _ = self.buckets[key].sample(n, rng)
        s = s.reshape(n, key[0], TOKEN_DIM)
        return s, a, r, s
