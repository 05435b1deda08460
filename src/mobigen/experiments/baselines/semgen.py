"""*SemGen* (Sec. VI-A.3, ref. [22]): the condition chosen by one evaluation metric, its downscaling
factor chosen by a Deep Q-Network, equal denoising steps, all generation on the edge.

Our reading, where the paper is silent (each choice documented here):

* **One metric.** SemGen configures one evaluation metric for the whole system and disregards each
  user's preference ω (the paper: SemGen and AaaS "excel at only one evaluation metric due to their
  disregard of user preferences"). Default: DS (perceptual similarity, q^I) — SemGen is a semantic
  communication system whose goal is to reproduce the source; ``metric="IR"`` selects prompt alignment.
  It picks the condition type that scores highest on that metric alone (uncompressed, at the equal step
  count) and never looks at the weighted QoE (eq. 1) or at the user's threshold Q̃_k.
* **Downscaling only.** SemGen downscales (α); it does not touch the codec quality, so β = 1.0
  (the highest quality level of Table I).
* **DQN.** Stable-Baselines3 ``DQN`` over the discrete α levels of the scenario. State: the uplink
  bandwidth (normalised over the scenario's range) and the metric (0 = DS, 1 = IR); the condition type
  follows from the metric. Reward: the chosen metric's score minus η times the upload time the choice
  causes (eq. 2), i.e. eq. (8) with SemGen's single metric as its quality, less the latency terms that
  do not depend on α. One-step episodes (a contextual bandit), trained at evaluation time with a
  fixed seed for ``train_steps`` steps (no checkpoint needs shipping; training takes seconds).
* **Equal steps, all on the edge.** T_k = ⌊C_E / (ε₀ K)⌋ clipped to the allowed range, o_k = 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mobigen.scenario import CONDITIONS, Scenario
from mobigen.system import Decision, Slot, SystemParams, transfer_time_s

log = logging.getLogger(__name__)

METRICS: tuple[str, str] = ("DS", "IR")
"""SemGen's two possible metrics: DS (perceptual similarity, q^I) and IR (prompt alignment, q^T)."""


def equal_steps(scenario: Scenario) -> int:
    """T_k = ⌊C_E/(ε₀ K)⌋ clipped to [steps_min, steps_max]: the edge budget split equally."""
    return int(np.clip(np.floor(scenario.edge_budget_steps / scenario.num_users + 1e-9),
                       scenario.steps_min, scenario.steps_max))


class EqualStepsEdgeController:
    """SemGen's controller: every user gets the same T_k and o_k = 1 (all denoising on the edge)."""

    name = "semgen-equal-steps"

    def __init__(self, scenario: Scenario) -> None:
        self.T = equal_steps(scenario)

    def decide(self, slot: Slot) -> Decision:
        T = np.full(slot.K, self.T, dtype=np.int64)
        return Decision(T=T, e=T)  # all on the edge (e_k = T_k, o_k = 1)


@dataclass(frozen=True)
class SemGenTables:
    """What SemGen's DQN needs, precomputed over the α levels: the metric scores and the bytes."""

    alphas: tuple[float, ...]
    """α levels the DQN picks from."""
    beta: float
    """β used (SemGen does not change codec quality)."""
    steps: int
    """The equal step count T."""
    condition_for_metric: tuple[int, int]
    """Condition index SemGen uses for DS and for IR."""
    score: np.ndarray
    """(2 metrics, n_α): the metric's score of that condition at (α, β, T), difficulty 0 (quality-model units)."""
    mean_bytes: np.ndarray
    """(2 metrics, n_α): mean condition bytes over the profiled images (bytes)."""
    quality_backend: str
    """Backend of ``score``."""


def build_tables(scenario: Scenario, quality, mean_bytes_fn) -> SemGenTables:
    """Precompute SemGen's tables. ``quality`` is a QualityModel; ``mean_bytes_fn(c, α, β)`` the mean
    profiled bytes of a configuration."""
    T = equal_steps(scenario)
    beta = max(scenario.betas)
    alphas = tuple(sorted(scenario.alphas))
    conds = [CONDITIONS.index(c) for c in scenario.conditions]
    best: list[int] = []
    for m in range(2):
        full = [float(quality.scores(c, 1.0 if 1.0 in alphas else max(alphas), beta, T)[m]) for c in conds]
        best.append(conds[int(np.argmax(full))])
    score = np.zeros((2, len(alphas)))
    nbytes = np.zeros((2, len(alphas)))
    for m in range(2):
        for j, a in enumerate(alphas):
            score[m, j] = float(quality.scores(best[m], a, beta, T)[m])
            nbytes[m, j] = float(mean_bytes_fn(best[m], a, beta))
    return SemGenTables(alphas=alphas, beta=beta, steps=T, condition_for_metric=(best[0], best[1]),
                        score=score, mean_bytes=nbytes, quality_backend=str(getattr(quality, "backend", "unknown")))


def semgen_reward(tables: SemGenTables, params: SystemParams, metric: int, alpha_idx: int,
                  uplink_bps: float) -> float:
    """The DQN's reward: metric score − η × upload time — eq. (8) with SemGen's one metric as the quality.

    The other latency terms (extraction, T equal edge steps, the image download of eq. 7) do not depend on
    α, so they are left out: the same argmax, and a reward centred near the scores that a small DQN
    learns quickly."""
    up = float(transfer_time_s(tables.mean_bytes[metric, alpha_idx], uplink_bps))  # eq. (2)
    return float(tables.score[metric, alpha_idx] - params.eta * up)


def make_env(tables: SemGenTables, scenario: Scenario, metrics: tuple[int, ...] = (0, 1)):
    """The DQN's training environment: one-step episodes over random (bandwidth, metric ∈ ``metrics``) contexts."""
    import gymnasium as gym
    from gymnasium import spaces

    params = SystemParams.from_scenario(scenario)
    lo, hi = scenario.uplink_mbps_range

    class SemGenEnv(gym.Env):
        """Context: (uplink bandwidth normalised to [0, 1], metric ∈ {0, 1}); action: α index."""

        metadata: dict = {"render_modes": []}

        def __init__(self) -> None:
            super().__init__()
            self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
            self.action_space = spaces.Discrete(len(tables.alphas))
            self._ctx = (0, 1e7)

        def _draw(self) -> np.ndarray:
            u = float(self.np_random.uniform())
            metric = int(metrics[int(self.np_random.integers(len(metrics)))])
            self._ctx = (metric, (lo + u * (hi - lo)) * 1e6)
            return np.array([u, metric], dtype=np.float32)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self._draw(), {}

        def step(self, action):
            metric, up = self._ctx
            r = semgen_reward(tables, params, metric, int(action), up)
            return self._draw(), r, True, False, {}

    return SemGenEnv()


def observation(uplink_bps: np.ndarray, metric: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Observations for a batch of users (see ``make_env``)."""
    lo, hi = scenario.uplink_mbps_range
    u = (np.asarray(uplink_bps, dtype=float) / 1e6 - lo) / max(hi - lo, 1e-9)
    return np.stack([np.clip(u, 0.0, 1.0), np.asarray(metric, dtype=float)], axis=1).astype(np.float32)


class SemGenPolicy:
    """SemGen's trained DQN plus its tables: ``choose(omega_I, uplink_bps)`` → (condition, α, β) per user."""

    def __init__(self, scenario: Scenario, tables: SemGenTables, model, metric: str = "DS") -> None:
        if metric not in METRICS:
            raise ValueError(f"metric: must be one of {METRICS}, got {metric!r}")
        self.scenario = scenario
        self.tables = tables
        self.model = model
        self.metric = metric
        """SemGen's one evaluation metric ("DS" or "IR")."""

    @classmethod
    def train(cls, scenario: Scenario, quality, mean_bytes_fn, *, steps: int, seed: int, metric: str = "DS") -> "SemGenPolicy":
        """Train SemGen's DQN with Stable-Baselines3 (fixed seed, CPU, deterministic) for ``metric``."""
        import torch
        from stable_baselines3 import DQN

        if metric not in METRICS:
            raise ValueError(f"metric: must be one of {METRICS}, got {metric!r}")
        if steps < 100:
            raise ValueError(f"steps: SemGen's DQN needs at least 100 training steps, got {steps}")
        tables = build_tables(scenario, quality, mean_bytes_fn)
        env = make_env(tables, scenario, metrics=(METRICS.index(metric),))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a 32x32 MLP: one thread is ~10x faster than two contending ones here
        try:
            torch.manual_seed(seed)
            model = DQN(
                "MlpPolicy", env, learning_rate=1e-3, buffer_size=10_000, learning_starts=min(200, steps // 4),
                batch_size=64, gamma=0.0, train_freq=1, gradient_steps=1, target_update_interval=200,
                exploration_fraction=0.5, exploration_final_eps=0.02, policy_kwargs={"net_arch": [32, 32]},
                seed=seed, device="cpu", verbose=0,
            )
            model.learn(total_timesteps=steps, progress_bar=False)
        finally:
            torch.set_num_threads(threads)
        log.info("SemGen DQN trained for %d steps (seed %d, metric %s)", steps, seed, metric)
        return cls(scenario, tables, model, metric)

    def metric_of(self, omega_I: np.ndarray) -> np.ndarray:
        """The metric index used for every user: SemGen's one metric, whatever ω says."""
        return np.full(np.asarray(omega_I).shape, METRICS.index(self.metric), dtype=np.int64)

    def choose(self, omega_I: np.ndarray, uplink_bps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(condition index, α, β) per user, greedy DQN action."""
        metric = self.metric_of(omega_I)
        obs = observation(uplink_bps, metric, self.scenario)
        act, _ = self.model.predict(obs, deterministic=True)
        act = np.asarray(act, dtype=np.int64).reshape(-1)
        cond = np.asarray(self.tables.condition_for_metric)[metric]
        alpha = np.asarray(self.tables.alphas)[act]
        return cond.astype(np.int64), alpha.astype(float), np.full(len(act), self.tables.beta)

    def greedy_table(self) -> dict[str, object]:
        """The learned α over a bandwidth grid (for the report)."""
        lo, hi = self.scenario.uplink_mbps_range
        grid = np.linspace(lo, hi, 7)
        _, a, _ = self.choose(np.full(grid.size, 0.5), grid * 1e6)
        m = METRICS.index(self.metric)
        return {"metric": self.metric, "condition": CONDITIONS[self.tables.condition_for_metric[m]],
                "uplink_mbps": grid.tolist(), "alpha": a.tolist()}
