"""The fast near-optimal multi-edge controller: Lagrangian association, local search, exact per-edge DP.

1. Option values w_km(e) (``values``).
2. Dual functions. For a price λ ∈ [0, δ₁] per edge step, h_km(λ) = max_e (w_km(e) − λe). Since
   δ₁(E − B)⁺ ≥ λ(E − B) for λ ∈ [0, δ₁], an edge m serving the set S earns at most
   V_m(S) = min_λ Σ_{k∈S} h_km(λ) + λB_m (weak duality; equality when the w_km are concave).
   λ runs over a grid of ``n_prices`` points on [0, δ₁].
3. Association by Lagrangian relaxation of the per-edge budgets: prices λ_m are set by coordinate
   descent on the dual D(λ) = Σ_k max_m h_km(λ_m) + Σ_m λ_m B_m, and each user joins its
   arg-max_m h_km(λ_m).
4. Local search on F(a) = Σ_m V_m(S_m): best single move (one user to another edge), and when no
   move improves, best swap (two users on different edges exchange edges), until neither improves.
5. Start choice: the searched association, least loaded and best channel (``baselines``) are scored
   with the exact per-edge optimum (``values.edge_rewards``, the value of ``control.exact``'s DP); the
   best is kept, so the controller never does worse than those two baselines.
6. Exact polish: the ``polish_tries`` moves with the best surrogate gain are re-scored with the exact
   per-edge optimum of the two edges they touch; the best real improvement is applied, for up to
   ``polish_rounds`` rounds.
7. The exact per-edge DP (``control.exact.solve``) decides (T_k, e_k) on every edge.
"""

from __future__ import annotations

import numpy as np

from mobigen.control.exact import ExactController
from mobigen.control.multiedge.base import decide_per_edge
from mobigen.control.multiedge.baselines import best_channel, least_loaded
from mobigen.control.multiedge.values import EdgeValues, edge_rewards, edge_values
from mobigen.system.multiedge import MultiDecision, MultiEdgeSlot

_TOL = 1e-9


def dual_tables(ev: EdgeValues, n_prices: int) -> tuple[np.ndarray, np.ndarray]:
    """(prices λ_g (G,), h_km(λ_g) (K, M, G)) of step 2."""
    lam = np.linspace(0.0, ev.delta1, n_prices) if ev.delta1 > 0 else np.zeros(1)
    steps = np.arange(ev.w.shape[2], dtype=float)
    H = (ev.w[:, :, :, None] - steps[None, None, :, None] * lam[None, None, None, :]).max(axis=2)
    return lam, H


def lagrangian_association(H: np.ndarray, lam: np.ndarray, budget: np.ndarray, sweeps: int = 4) -> np.ndarray:
    """Step 3: coordinate descent over each edge's price on the dual; users join their best edge."""
    K, M, G = H.shape
    g = np.zeros(M, dtype=np.int64)
    rows = np.arange(K)
    for _ in range(sweeps):
        changed = False
        for m in range(M):
            cur = H[:, np.arange(M), g]  # (K, M) at the current prices
            others = np.delete(cur, m, axis=1).max(axis=1) if M > 1 else np.full(K, -np.inf)
            dual = np.maximum(H[:, m, :], others[:, None]).sum(axis=0) + lam * budget[m]  # (G,)
            dual += sum(lam[g[j]] * budget[j] for j in range(M) if j != m)
            best = int(np.argmin(dual))
            if best != g[m]:
                g[m], changed = best, True
        if not changed:
            break
    return np.argmax(H[rows[:, None], np.arange(M)[None, :], g[None, :]], axis=1).astype(np.int64)


class _Surrogate:
    """F(a) = Σ_m V_m(S_m) of step 4 with incremental per-edge sums."""

    def __init__(self, H: np.ndarray, lam: np.ndarray, budget: np.ndarray, edge: np.ndarray) -> None:
        self.H, self.offset = H, lam[None, :] * budget[:, None]  # (M, G)
        self.edge = edge.copy()
        K, M, _ = H.shape
        self.S = self.offset.copy()
        np.add.at(self.S, self.edge, H[np.arange(K), self.edge])
        self.V = self.S.min(axis=1)

    def best_move(self) -> tuple[float, int, int]:
        """(gain, user, target edge) of the best single move."""
        K, M, _ = self.H.shape
        rows = np.arange(K)
        removed = (self.S[self.edge] - self.H[rows, self.edge]).min(axis=1) - self.V[self.edge]  # (K,)
        added = (self.S[None, :, :] + self.H).min(axis=2) - self.V[None, :]  # (K, M)
        gain = removed[:, None] + added
        gain[rows, self.edge] = -np.inf
        k, m = np.unravel_index(int(np.argmax(gain)), gain.shape)
        return float(gain[k, m]), int(k), int(m)

    def move_gains(self) -> np.ndarray:
        """Surrogate gain of every move, (K, M) (−inf for staying)."""
        K = self.H.shape[0]
        rows = np.arange(K)
        removed = (self.S[self.edge] - self.H[rows, self.edge]).min(axis=1) - self.V[self.edge]
        gain = removed[:, None] + (self.S[None, :, :] + self.H).min(axis=2) - self.V[None, :]
        gain[rows, self.edge] = -np.inf
        return gain

    def best_swap(self) -> tuple[float, int, int]:
        """(gain, user i, user j) of the best swap of two users on different edges."""
        rows = np.arange(self.H.shape[0])
        a = self.edge
        Hown = self.H[rows, a]  # (K, G): h at own edge
        Hcross = self.H[:, a]  # (K, K, G): Hcross[j, i] = h_j at edge a_i
        # edge a_i loses i and gains j; edge a_j loses j and gains i
        new_i = (self.S[a][:, None, :] - Hown[:, None, :] + Hcross.transpose(1, 0, 2)).min(axis=2) - self.V[a][:, None]
        gain = new_i + new_i.T
        gain[a[:, None] == a[None, :]] = -np.inf
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        return float(gain[i, j]), int(i), int(j)

    def move(self, k: int, m: int) -> None:
        c = int(self.edge[k])
        self.S[c] -= self.H[k, c]
        self.S[m] += self.H[k, m]
        self.edge[k] = m
        self.V[[c, m]] = self.S[[c, m]].min(axis=1)


def local_search(H: np.ndarray, lam: np.ndarray, budget: np.ndarray, edge: np.ndarray, max_iter: int) -> np.ndarray:
    """Step 4: improving moves, then swaps, until neither improves F (or ``max_iter`` changes)."""
    sur = _Surrogate(H, lam, budget, edge)
    for _ in range(max_iter):
        gain, k, m = sur.best_move()
        if gain > _TOL:
            sur.move(k, m)
            continue
        gain, i, j = sur.best_swap() if H.shape[0] > 1 else (-np.inf, 0, 0)
        if gain <= _TOL:
            break
        ei, ej = int(sur.edge[i]), int(sur.edge[j])
        sur.move(i, ej)
        sur.move(j, ei)
    return sur.edge


class FastController:
    """Steps 1-7 of the module docstring."""

    name = "fast"

    def __init__(self, *, n_prices: int = 33, max_iter: int = 200, polish_tries: int = 4,
                 polish_rounds: int = 2) -> None:
        if n_prices < 2:
            raise ValueError(f"n_prices: must be >= 2, got {n_prices!r}")
        self.n_prices, self.max_iter = int(n_prices), int(max_iter)
        self.polish_tries, self.polish_rounds = int(polish_tries), int(polish_rounds)

    def associate(self, mslot: MultiEdgeSlot) -> np.ndarray:
        """Steps 1-6: the associated edge of every user."""
        if mslot.M == 1:
            return np.zeros(mslot.K, dtype=np.int64)
        ev = edge_values(mslot)
        lam, H = dual_tables(ev, self.n_prices)
        searched = local_search(H, lam, ev.budget, lagrangian_association(H, lam, ev.budget), self.max_iter)
        starts = (searched, least_loaded(mslot), best_channel(mslot))
        M = mslot.M
        per_edge = edge_rewards([ev.w[a == m, m] for a in starts for m in range(M)], np.tile(ev.budget, 3), ev.delta1)
        edge = starts[int(np.argmax(per_edge.reshape(3, M).sum(axis=1)))]  # step 5; ties: the searched one
        return _polish(ev, H, lam, edge, self.polish_tries, self.polish_rounds)

    def decide(self, mslot: MultiEdgeSlot) -> MultiDecision:
        return decide_per_edge(mslot, self.associate(mslot), self._exact)  # step 7

    _exact = ExactController()


def _edge_rewards(ev: EdgeValues, edge: np.ndarray) -> np.ndarray:
    """The exact optimal reward of every edge under association ``edge`` (``values.edge_rewards``)."""
    M = ev.w.shape[1]
    return edge_rewards([ev.w[edge == m, m] for m in range(M)], ev.budget, ev.delta1)


def _polish(ev: EdgeValues, H: np.ndarray, lam: np.ndarray, edge: np.ndarray, n_try: int,
            rounds: int) -> np.ndarray:
    """Step 6: re-score the surrogate's ``n_try`` most promising moves exactly; keep the best real gain."""
    edge = edge.copy()
    rewards = _edge_rewards(ev, edge)
    for _ in range(rounds):
        gains = _Surrogate(H, lam, ev.budget, edge).move_gains()
        moves = [tuple(int(i) for i in np.unravel_index(int(flat), gains.shape))
                 for flat in np.argsort(gains, axis=None)[::-1][:n_try]]
        moves = [(k, m) for k, m in moves if np.isfinite(gains[k, m])]
        if not moves:
            break
        ws, budgets = [], []
        for k, m in moves:  # both touched edges of every trial, scored in one batch
            c = int(edge[k])
            trial = edge.copy()
            trial[k] = m
            ws += [ev.w[trial == c, c], ev.w[trial == m, m]]
            budgets += [ev.budget[c], ev.budget[m]]
        r = edge_rewards(ws, np.array(budgets), ev.delta1).reshape(-1, 2)
        gain = np.array([r[i, 0] + r[i, 1] - rewards[edge[k]] - rewards[m] for i, (k, m) in enumerate(moves)])
        best = int(np.argmax(gain))
        if gain[best] <= _TOL:
            break
        k, m = moves[best]
        rewards[edge[k]], rewards[m] = r[best]
        edge[k] = m
    return edge
