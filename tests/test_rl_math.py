import math

import pytest
import torch

from rlkit.nn import MLP
from rlkit.rl.common import polyak_update
from rlkit.rl.ppo import compute_gae, ppo_loss
from rlkit.rl.sac import SquashedGaussianActor


def test_gae_matches_hand_computation():
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [1.5]])
    d = torch.tensor([[0.0], [1.0], [0.0]])          # episode ends after step 1
    adv, ret = compute_gae(r, v, d, torch.tensor([2.0]), gamma=0.9, lam=0.5)
    a2 = 3 + 0.9 * 2.0 - 1.5
    a1 = 2 - 1.0                                     # no bootstrap across the end
    a0 = (1 + 0.9 * 1.0 - 0.5) + 0.9 * 0.5 * a1
    assert torch.allclose(adv[:, 0], torch.tensor([a0, a1, a2]))
    assert torch.allclose(ret, adv + v)


def test_lambda_one_gives_discounted_monte_carlo_returns():
    r = torch.ones(4, 1)
    _, ret = compute_gae(r, torch.zeros(4, 1), torch.zeros(4, 1), torch.zeros(1), 0.5, 1.0)
    assert torch.allclose(ret[:, 0], torch.tensor([1.875, 1.75, 1.5, 1.0]))


def test_clipped_surrogate_ignores_ratios_beyond_the_clip_in_the_improving_direction():
    adv = torch.tensor([1.0, -1.0])
    old = torch.zeros(2)
    new = torch.log(torch.tensor([1.5, 0.5]))        # both beyond 1 +- 0.2, in the improving direction
    out = ppo_loss(new, old, adv, torch.zeros(2), torch.zeros(2), torch.zeros(2), 0.2, False)
    assert math.isclose(out["policy"].item(), -(1.2 * 1.0 + 0.8 * -1.0) / 2, rel_tol=1e-6)
    assert out["clipfrac"].item() == 1.0


def test_value_clipping_takes_the_pessimistic_loss():
    out = ppo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), new_v=torch.tensor([2.0]),
                   old_v=torch.tensor([0.0]), returns=torch.tensor([3.0]), clip_coef=0.2,
                   clip_vloss=True)
    assert math.isclose(out["value"].item(), 0.5 * (3.0 - 0.2) ** 2, rel_tol=1e-6)


def test_squashed_gaussian_log_prob_matches_change_of_variables():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 2, (8,))
    obs = torch.randn(5, 3)
    a, logp = actor.sample(obs)
    mu, log_std = actor(obs)
    u = torch.atanh(a.clamp(-1 + 1e-6, 1 - 1e-6))
    ref = torch.distributions.Normal(mu, log_std.exp()).log_prob(u).sum(-1) \
        - torch.log(1 - a.pow(2)).sum(-1)
    assert torch.allclose(logp, ref, atol=1e-3)


def test_polyak_update_moves_target_by_tau():
    src, tgt = MLP(2, 1, (3,)), MLP(2, 1, (3,))
    before = [p.clone() for p in tgt.parameters()]
    polyak_update(tgt, src, 0.25)
    for b, s, t in zip(before, src.parameters(), tgt.parameters(), strict=True):
        assert torch.allclose(t, 0.75 * b + 0.25 * s)


def test_running_mean_std_matches_the_whole_stream():
    from rlkit.rl.common import RunningMeanStd

    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(n, generator=g) * 3 + 2 for n in (5, 40, 17)]
    rms = RunningMeanStd()
    for c in chunks:
        rms.update(c)
    allx = torch.cat(chunks)
    assert abs(rms.mean - allx.mean().item()) < 1e-3
    assert abs(rms.var - allx.var(unbiased=False).item()) < 1e-2


def test_norm_returns_scales_value_targets_by_the_running_return_std():
    from rlkit.rl.ppo import PPO, PPOConfig

    agent = PPO(PPOConfig(num_envs=2, num_steps=32, num_minibatches=2, update_epochs=1, hidden=(8,),
                          norm_returns=True), "CartPole-v1", seed=0)
    for _ in range(3):
        agent.train_step()
    assert agent.return_rms.count > 190 and agent.return_rms.var > 1.0   # CartPole returns grow to > 1
    assert agent._value_scale() == pytest.approx((agent.return_rms.var + 1e-8) ** 0.5)


def test_gumbel_max_sampling_draws_from_the_softmax():
    from rlkit.rl.ppo import sample_categorical

    torch.manual_seed(0)
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0])
    draws = sample_categorical(logits.expand(200_000, 4))
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    torch.testing.assert_close(freq, logits.double().softmax(-1), rtol=0, atol=0.005)
