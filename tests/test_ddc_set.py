"""The set-structured DDC (control.ddc_set) on tiny budgets and synthetic slots."""

import numpy as np
import pytest
import torch

from _slots import SyntheticSampler, one_torch_thread
from mobigen.control.ddc_set.agent import SetDDCAgent, SetDDCConfig
from mobigen.control.ddc_set.controller import SetDDCController, is_set_checkpoint
from mobigen.control.ddc_set.mixture import MixtureConfig, MixtureSampler, sub_slot
from mobigen.control.ddc_set.tokens import TOKEN_DIM, tokens
from mobigen.control.ddc_set.trainer import train_ddc_set
from mobigen.control.evaluation import heldout_slots, mean_reward
from mobigen.control.random_controller import RandomController
from mobigen.scenario import preset

TINY = SetDDCConfig(hidden=16, heads=2, layers=1, batch_size=16, learning_starts=30, t_dim=8)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_torch_thread():
        yield


def _mixture(k_max: int = 4, **kw) -> MixtureSampler:
    fams = [preset("paper").replace(num_users=k_max), preset("low-end").replace(num_users=k_max)]
    return MixtureSampler(SyntheticSampler, MixtureConfig(k_min=2, k_max=k_max, **kw), families=fams)


def _train(steps: int, seed: int = 0, config: SetDDCConfig = TINY, k_max: int = 4) -> SetDDCAgent:
    return train_ddc_set(_mixture(k_max), steps, seed=seed, config=config, progress=False)


def test_tokens_use_fixed_constants_not_the_scenario():
    sc = preset("users-6")
    slot = SyntheticSampler(sc).sample(np.random.default_rng(0))
    tok = tokens(slot)
    assert tok.shape == (6, TOKEN_DIM) and tok.dtype == np.float32
    other = SyntheticSampler(sc.replace(edge_budget_steps=120.0)).sample(np.random.default_rng(0))
    diff = np.nonzero(np.any(tokens(other) != tok, axis=0))[0]
    assert len(diff) > 0  # C_E is an input: the tokens change with it ...
    same = [i for i in range(TOKEN_DIM) if i not in diff]
    np.testing.assert_array_equal(tokens(other)[:, same], tok[:, same])  # ... and nothing else moves


@pytest.mark.parametrize("mixer", ["attention", "pool"])
def test_permuting_the_users_permutes_the_decision(mixer):
    agent = SetDDCAgent(SetDDCConfig(hidden=16, heads=2, mixer=mixer, critic_layers=1), seed=3)
    ctrl = SetDDCController.from_agent(agent)
    slot = SyntheticSampler(preset("users-7")).sample(np.random.default_rng(1))
    perm = np.random.default_rng(2).permutation(7)
    d, dp = ctrl.decide(slot), ctrl.decide(sub_slot(slot, perm))
    np.testing.assert_array_equal(dp.T, d.T[perm])
    np.testing.assert_array_equal(dp.e, d.e[perm])
    s = torch.from_numpy(tokens(slot))[None]
    a = torch.rand(1, 14) * 2 - 1
    pa = torch.cat([a[:, :7][:, perm], a[:, 7:][:, perm]], dim=1)
    q, qp = agent.critic(s, a), agent.critic(s[:, perm], pa)  # the critics are permutation-invariant
    torch.testing.assert_close(q[0], qp[0], rtol=1e-5, atol=1e-6)


def test_same_seed_gives_identical_weights():
    a, b = _train(60, seed=5), _train(60, seed=5)
    for (ka, va), (kb, vb) in zip(a.actor.state_dict().items(), b.actor.state_dict().items()):
        assert ka == kb
        torch.testing.assert_close(va, vb, rtol=0, atol=0)
    c = _train(60, seed=6)
    assert any(not torch.equal(va, vc) for va, vc in zip(a.actor.state_dict().values(), c.actor.state_dict().values()))


def test_learns_at_all_on_a_tiny_budget():
    """Can fail: after 600 slots the policy must beat uniform random decisions on held-out slots."""
    agent = _train(600, config=SetDDCConfig(hidden=32, heads=2, layers=1, batch_size=64, learning_starts=100,
                                            actor_delay=100, x_reg=0.01, mixer="pool"))
    slots = heldout_slots(SyntheticSampler(preset("users-4")), 40)
    ctrl = SetDDCController.from_agent(agent)
    assert mean_reward(ctrl, slots) > mean_reward(RandomController(0), slots) + 0.2


def test_a_K_never_trained_on_gets_a_valid_decision():
    ctrl = SetDDCController.from_agent(_train(60, k_max=3))  # trained on K = 2..3
    for K in (1, 9):
        slot = SyntheticSampler(preset(f"users-{K}")).sample(np.random.default_rng(K))
        d = ctrl.decide(slot)
        assert d.T.shape == (K,) and np.all((d.T >= 5) & (d.T <= 30)) and np.all(d.e <= d.T)


def test_another_step_range_is_an_input():
    ctrl = SetDDCController.from_agent(_train(40))
    sc = preset("users-4").replace(steps_min=3, steps_max=12)
    d = ctrl.decide(SyntheticSampler(sc).sample(np.random.default_rng(0)))
    assert np.all((d.T >= 3) & (d.T <= 12))


def test_save_load_round_trip(tmp_path):
    ctrl = SetDDCController.from_agent(_train(40), meta={"note": "tiny"})
    path = ctrl.save(tmp_path / "set.pt")
    assert is_set_checkpoint(path)
    back = SetDDCController.load(path)
    assert back.meta == {"note": "tiny"} and back.config == ctrl.config
    for slot in heldout_slots(SyntheticSampler(preset("users-6")), 5):
        d, e = ctrl.decide(slot), back.decide(slot)
        np.testing.assert_array_equal(d.T, e.T)
        np.testing.assert_array_equal(d.e, e.e)


def test_load_refuses_foreign_files(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a mobigen-ddc-set-actor-v1"):
        SetDDCController.load(bad)
    with pytest.raises(FileNotFoundError):
        SetDDCController.load(tmp_path / "missing.pt")
    assert not is_set_checkpoint(bad)


def test_config_and_mixture_validation():
    with pytest.raises(ValueError, match="'mixer'"):
        SetDDCConfig(mixer="conv")
    with pytest.raises(ValueError, match="'gamma'"):
        SetDDCConfig(gamma=0.5)
    with pytest.raises(ValueError, match="k_min"):
        MixtureConfig(k_min=5, k_max=3)
    with pytest.raises(ValueError, match="edge_budget_range"):
        MixtureConfig(edge_budget_range=(0.0, 10.0))


def test_mixture_slots_vary_K_and_edge_budget():
    m = _mixture(6, vary_edge_budget_prob=1.0)
    rng = np.random.default_rng(0)
    slots = [m.sample(rng) for _ in range(30)]
    assert {s.K for s in slots} <= set(range(2, 7)) and len({s.K for s in slots}) > 2
    budgets = {round(s.params.edge_budget_steps, 3) for s in slots}
    assert len(budgets) > 10 and all(24.0 <= b <= 150.0 for b in budgets)
    s = slots[0]  # C_k = ratio · C_E: the device budgets follow C_E
    ratio = s.device_budget / s.params.edge_budget
    assert np.all(ratio <= 0.2 + 1e-9)


def test_cli_trains_the_set_ddc_over_the_mixture(tmp_path, capsys):
    import json

    from mobigen.cli import main

    n = torch.get_num_threads()
    try:
        rc = main(["train", "ddc", "--steps", "30", "--eval-every", "30", "--eval-slots", "2", "--k-max", "4",
                   "--out", str(tmp_path), "--no-tensorboard", "--json", "-", "--no-progress"])
    finally:
        torch.set_num_threads(n)
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["algo"] == "ddc-set" and summary["steps"] == 30 and len(summary["families"]) == 8
    ctrl = SetDDCController.load(tmp_path / "ddcset_seed0.pt")
    assert ctrl.meta["mixture"]["k_max"] == 4
    assert main(["train", "ddc", "--scenario", "paper", "--out", str(tmp_path)]) == 2  # the mixture, not one scenario
