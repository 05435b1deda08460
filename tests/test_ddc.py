"""DDC (Algorithm 3): determinism, save/load, learning at all, the SAC update, bad input."""

import dataclasses

import numpy as np
import pytest
import torch

from _slots import SyntheticSampler, one_torch_thread
from mobigen.control.ddc.algorithm import DDCAgent, DDCConfig, ReplayBuffer
from mobigen.control.ddc.controller import DDCController
from mobigen.control.ddc.policy import DiffusionPolicy
from mobigen.control.ddc.trainer import train_ddc
from mobigen.control.env import DenoisingEnv
from mobigen.control.evaluation import heldout_slots, mean_reward
from mobigen.control.observation import obs_dim
from mobigen.control.validate import SlotSizeError
from mobigen.scenario import preset


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield

SMALL = DDCConfig(hidden=64, batch_size=64, learning_starts=200)


def controller(seed=0, K=5, cfg=SMALL):
    agent = DDCAgent(obs_dim(K), K, 26, cfg, seed=seed)
    return agent, DDCController.from_agent(agent, preset(f"users-{K}"))


def test_same_seed_twice_identical_decisions(tmp_path):
    slots = heldout_slots(SyntheticSampler("paper"), 10)
    _, a = controller(seed=7)
    _, b = controller(seed=7)
    _, c = controller(seed=8)
    da = [a.decide(s) for s in slots]
    for s, d in zip(slots, da):
        for other in (a.decide(s), b.decide(s)):
            np.testing.assert_array_equal(d.T, other.T)
            np.testing.assert_array_equal(d.o, other.o)
    assert any(not np.array_equal(d.T, c.decide(s).T) or not np.array_equal(d.o, c.decide(s).o) for s, d in zip(slots, da))
    path = a.save(tmp_path / "ddc.pt")
    loaded = DDCController.load(path)
    for s, d in zip(slots, da):
        np.testing.assert_array_equal(loaded.decide(s).T, d.T)
        np.testing.assert_array_equal(loaded.decide(s).o, d.o)


def test_policy_shapes_and_gumbel_one_hot():
    pol = DiffusionPolicy(obs_dim(5), 5, 26, n_steps=3, hidden=32)
    s = torch.randn(4, obs_dim(5))
    a, probs = pol(s, generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 10) and probs.shape == (4, 5, 26)
    assert torch.all(a.abs() <= 1.0)
    # T coordinates sit on bin centres (a hard one-hot), and gradients flow to the denoiser
    k = torch.round(((a[:, :5] + 1) / 2 * 26) - 0.5)
    assert torch.allclose((k + 0.5) / 26 * 2 - 1, a[:, :5], atol=1e-5)
    a.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in pol.denoiser.parameters())


def test_update_with_gamma_moves_targets_softly():
    cfg = dataclasses.replace(SMALL, gamma=0.9, tau=0.1)
    agent = DDCAgent(obs_dim(3), 3, 26, cfg, seed=0)
    buf = ReplayBuffer(obs_dim(3), 6, 1000)
    rng = np.random.default_rng(0)
    for _ in range(200):
        buf.add(rng.normal(size=obs_dim(3)), rng.uniform(-1, 1, 6), rng.normal(), rng.normal(size=obs_dim(3)))
    before = [p.clone() for p in agent.critic_target.parameters()]
    stats = agent.update(buf.sample(64, rng))
    assert all(np.isfinite(v) for v in stats.values())
    for pt, p, b in zip(agent.critic_target.parameters(), agent.critic.parameters(), before):
        torch.testing.assert_close(pt, 0.9 * b + 0.1 * p)  # eq. (30)


def test_short_training_improves_on_untrained_policy():
    sc = preset("paper")
    sampler = SyntheticSampler(sc)
    slots = heldout_slots(sampler, 60)
    rewards = {}

    def on_eval(t, agent):
        rewards[t] = mean_reward(DDCController.from_agent(agent, sc), slots)

    train_ddc(DenoisingEnv(sc, sampler), 1000, seed=0, config=SMALL, eval_every=1000, on_eval=on_eval, progress=False)
    from mobigen.control.exact import ExactController

    exact = mean_reward(ExactController(), slots)
    gap0 = exact - rewards[0]
    assert gap0 > 0.5  # the untrained policy is far from the optimum ...
    assert rewards[1000] > rewards[0] + 0.4 * gap0  # ... and 1000 slots close at least 40% of the gap


def test_bad_slots_are_refused():
    _, ctrl = controller(K=5)
    slot = SyntheticSampler("paper").sample(np.random.default_rng(0))
    bad_q = dataclasses.replace(slot, q_I=np.where(np.arange(26) == 3, np.nan, slot.q_I))
    with pytest.raises(ValueError, match="q_I"):
        ctrl.decide(bad_q)
    with pytest.raises(ValueError, match="device_budget"):
        ctrl.decide(dataclasses.replace(slot, device_budget=-slot.device_budget))
    with pytest.raises(ValueError, match="qoe_threshold"):
        ctrl.decide(dataclasses.replace(slot, qoe_threshold=slot.qoe_threshold + 1.0))
    with pytest.raises(ValueError):
        dataclasses.replace(slot, alpha=np.full(5, np.nan))  # the Slot itself refuses NaN per-user fields
    with pytest.raises(SlotSizeError, match="K = 3"):
        ctrl.decide(SyntheticSampler("users-3").sample(np.random.default_rng(0)))
    empty = SyntheticSampler("users-1").sample(np.random.default_rng(0))
    fields = {f.name: getattr(empty, f.name) for f in dataclasses.fields(empty)}
    for name in ("condition", "alpha", "beta", "condition_bytes", "omega_I", "qoe_threshold", "f_device",
                 "device_budget", "uplink_bps", "downlink_bps", "extraction_s", "difficulty"):
        fields[name] = fields[name][:0]
    fields["q_I"] = fields["q_I"][:0]
    fields["q_T"] = fields["q_T"][:0]
    with pytest.raises(ValueError, match="K = 0"):
        ctrl.decide(type(empty)(**fields))


def test_load_refuses_foreign_file(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"format": "other"}, p)
    with pytest.raises(ValueError, match="not a"):
        DDCController.load(p)
    with pytest.raises(FileNotFoundError):
        DDCController.load(tmp_path / "missing.pt")
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a"):
        DDCController.load(text)
    torch.save({"format": "mobigen-ddc-actor-v1", "K": 5}, p)  # right tag, missing fields
    with pytest.raises(ValueError, match="damaged"):
        DDCController.load(p)
