"""DDC's update rule: Soft Actor-Critic with the diffusion actor (Algorithm 3, eqs. 27-30).

Entropy: the actor's T_k are categorical (Gumbel-softmax), so log π's expectation over them is
known exactly: E[log π] = −Σ_k H(p_k) (as in discrete SAC). The offloading fractions u_k are a
deterministic function of the diffusion noise a_N; their entropy has no closed form and is not
estimated — exploration over u comes from the reverse-process noise (Algorithm 3 line 3/5).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mobigen.control.ddc.networks import TwinCritic
from mobigen.control.ddc.policy import DiffusionPolicy


@dataclass(frozen=True)
class DDCConfig:
    """Hyper-parameters of DDC (the paper gives none but N = 3 reverse steps)."""

    n_diffusion_steps: int = 3
    """N, reverse steps of eq. (21) (the paper's deployment: 3)."""
    hidden: int = 128
    """Hidden width of the denoiser and critics (units); "moderate" as in Sec. VI-D.1."""
    t_dim: int = 16
    """Width of the sinusoidal time embedding (units)."""
    x_reg: float = 1e-3
    """Weight of a small L2 penalty on the actor's raw x₀, added to eq. (27): without it the
    actor drifts into tanh saturation and its gradient vanishes (observed in our runs)."""
    lr_actor: float = 3e-4
    """Adam learning rate of the actor."""
    lr_critic: float = 1e-3
    """Adam learning rate of the critics."""
    gamma: float = 0.0
    """γ of eq. (29). Slots are independent draws (s' does not depend on a), so the optimal policy
    is the per-slot one for every γ and γ = 0 removes bootstrapping variance; γ > 0 is supported.
    With γ = 0, eq. (29) is y' = r: the target critics are still updated (eq. 30) but unused."""
    tau: float = 0.005
    """τ of eq. (30), soft target update rate."""
    xi: float = 0.003
    """ξ of eqs. (27), (29), the entropy weight (fixed)."""
    batch_size: int = 128
    """Transitions per update (Algorithm 3 line 8)."""
    buffer_size: int = 100_000
    """Replay buffer capacity (transitions)."""
    learning_starts: int = 500
    """Environment steps of the untrained policy before the first update."""
    updates_per_step: int = 1
    """Gradient updates per environment step."""
    actor_delay: int = 0
    """Critic-only updates before the actor's first (0: from the first update, as Algorithm 3)."""

    def __post_init__(self) -> None:
        for name in ("n_diffusion_steps", "hidden", "t_dim", "batch_size", "buffer_size", "updates_per_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"DDC config field '{name}' must be >= 1")
        if self.actor_delay < 0:
            raise ValueError("DDC config field 'actor_delay' must be >= 0")
        if not 0 <= self.gamma < 1:
            raise ValueError("DDC config field 'gamma' must lie in [0, 1)")
        if not 0 < self.tau <= 1:
            raise ValueError("DDC config field 'tau' must lie in (0, 1]")
        if self.xi < 0:
            raise ValueError("DDC config field 'xi' must be >= 0")


class ReplayBuffer:
    """The experience replay buffer E of Algorithm 3 (a ring of numpy arrays)."""

    def __init__(self, state_dim: int, action_dim: int, capacity: int) -> None:
        self.s = np.zeros((capacity, state_dim), np.float32)
        self.a = np.zeros((capacity, action_dim), np.float32)
        self.r = np.zeros(capacity, np.float32)
        self.s2 = np.zeros((capacity, state_dim), np.float32)
        self.capacity, self.size, self._i = capacity, 0, 0

    def add(self, s: np.ndarray, a: np.ndarray, r: float, s2: np.ndarray) -> None:
        """Store one transition (Algorithm 3 line 7)."""
        i = self._i
        self.s[i], self.a[i], self.r[i], self.s2[i] = s, a, r, s2
        self._i = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """A random batch (Algorithm 3 line 8)."""
        idx = rng.integers(0, self.size, size=n)
        return (torch.from_numpy(self.s[idx]), torch.from_numpy(self.a[idx]),
                torch.from_numpy(self.r[idx]), torch.from_numpy(self.s2[idx]))


class DDCAgent:
    """Actor, twin critics, target critics and their optimisers; ``update`` is one pass of
    Algorithm 3 lines 9-11."""

    def __init__(self, state_dim: int, K: int, n_T: int, config: DDCConfig = DDCConfig(), seed: int = 0) -> None:
        self.config, self.state_dim, self.K, self.n_T = config, state_dim, K, n_T
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.actor = DiffusionPolicy(state_dim, K, n_T, n_steps=config.n_diffusion_steps, hidden=config.hidden,
                                         t_dim=config.t_dim)
            self.critic = TwinCritic(state_dim, 2 * K, config.hidden)
        self.critic_target = copy.deepcopy(self.critic)
        for prm in self.critic_target.parameters():
            prm.requires_grad_(False)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=config.lr_actor)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=config.lr_critic)
        self.gen = torch.Generator().manual_seed(seed)
        self.n_updates = 0

    @staticmethod
    def expected_logp(probs: torch.Tensor) -> torch.Tensor:
        """E[log π] of the categorical T_k part, −Σ_k H(p_k), from probabilities (B, K, n_T)."""
        return (probs * torch.log(probs.clamp_min(1e-12))).sum((-1, -2))

    @torch.no_grad()
    def act(self, obs: np.ndarray, *, explore: bool) -> np.ndarray:
        """The box action for one observation: sampled (training, Algorithm 3 line 5) or
        deterministic (evaluation / inference)."""
        s = torch.as_tensor(obs, dtype=torch.float32)[None]
        a, _ = self.actor(s, deterministic=not explore, generator=self.gen)
        return a[0].numpy()

    def update(self, batch: tuple[torch.Tensor, ...]) -> dict[str, float]:
        """One SAC update: critics by eq. (28) with target (29), actor by eq. (27), targets by (30)."""
        c = self.config
        s = batch[0]
        stats = {"loss_q": self._update_critic(batch)}
        if self.n_updates >= c.actor_delay:
            stats |= self._update_actor(s)

        with torch.no_grad():  # eq. (30)
            for pt, p in zip(self.critic_target.parameters(), self.critic.parameters()):
                pt.mul_(1.0 - c.tau).add_(c.tau * p)
        self.n_updates += 1
        return stats

    def _update_critic(self, batch: tuple[torch.Tensor, ...]) -> float:
        """The critics' step of eq. (28) with the target of eq. (29); returns the loss."""
        c = self.config
        s, a, r, s2 = batch
        with torch.no_grad():
            y = r.clone()
            if c.gamma > 0:
                a2, p2 = self.actor(s2, generator=self.gen)
                logp2 = self.expected_logp(p2)  # E[log π(a'|s')] (categorical part)
                y = r + c.gamma * (self.critic_target.min(s2, a2) - c.xi * logp2)  # eq. (29)
        q1, q2 = self.critic(s, a)
        loss_q = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()  # eq. (28)
        self.opt_critic.zero_grad(set_to_none=True)
        loss_q.backward()
        self.opt_critic.step()
        return loss_q.item()

    def _update_actor(self, s: torch.Tensor) -> dict[str, float]:
        """The actor step of eq. (27) against the (frozen) twin critics' minimum."""
        c = self.config
        for prm in self.critic.parameters():
            prm.requires_grad_(False)
        a_new, probs, x0 = self.actor.sample(s, generator=self.gen)
        logp = self.expected_logp(probs)  # E[log π(a|s)] = −Σ_k H(p_k)
        loss_pi = (c.xi * logp - self.critic.min(s, a_new)).mean()  # eq. (27)
        loss_pi = loss_pi + c.x_reg * (x0 ** 2).mean()  # keeps x₀ out of the heads' tanh saturation
        self.opt_actor.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.opt_actor.step()
        for prm in self.critic.parameters():
            prm.requires_grad_(True)
        return {"loss_pi": loss_pi.item(), "entropy": -logp.mean().item()}


    def state_dict(self) -> dict:
        """Everything needed to resume training."""
        return {"config": asdict(self.config), "state_dim": self.state_dim, "K": self.K, "n_T": self.n_T,
                "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "opt_actor": self.opt_actor.state_dict(),
                "opt_critic": self.opt_critic.state_dict(), "n_updates": self.n_updates,
                "gen": self.gen.get_state()}

    @classmethod
    def from_state_dict(cls, d: dict) -> "DDCAgent":
        agent = cls(d["state_dim"], d["K"], d["n_T"], DDCConfig(**d["config"]))
        agent.actor.load_state_dict(d["actor"])
        agent.critic.load_state_dict(d["critic"])
        agent.critic_target.load_state_dict(d["critic_target"])
        agent.opt_actor.load_state_dict(d["opt_actor"])
        agent.opt_critic.load_state_dict(d["opt_critic"])
        agent.n_updates = d["n_updates"]
        agent.gen.set_state(d["gen"])
        return agent

