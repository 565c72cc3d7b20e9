"""EPPO: the loss against the paper's equations, the ensemble's properties, its special cases."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.algos.eppo import (
    EPPO,
    EnsembleActorCritic,
    EPPOConfig,
    categorical_diversity,
    categorical_member_entropy,
    categorical_mixture_entropy,
    gaussian_diversity,
)
from rlkit.rl.ppo import PPO, PPOConfig

TINY = dict(num_envs=2, num_steps=8, num_minibatches=2, update_epochs=1, hidden=(16,))


def _batch(algo, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, algo.obs_dim, generator=g)
    with torch.no_grad():
        action, logp = algo.model.sample(obs)
        logp = logp + 0.1 * torch.randn(n, generator=g)      # an "old" policy that differs
    return {"obs": obs, "action": action, "logp": logp, "value": torch.randn(n, generator=g),
            "ret": torch.randn(n, generator=g)}, torch.randn(n, generator=g)


def test_k1_without_member_and_diversity_terms_is_exactly_ppo():
    eppo = EPPO(EPPOConfig(**TINY, num_policies=1, c_sub=0.0, c_div=0.0, vf_coef=0.3), "CartPole-v1", seed=0)
    ppo = PPO(PPOConfig(**TINY, clip_coef=0.1, vf_coef=0.6), "CartPole-v1", seed=0)
    ppo.model.critic.load_state_dict(eppo.model.critic.state_dict())
    linears = [m for m in ppo.model.actor if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, layer in zip(linears, eppo.model.members.layers, strict=True):
            lin.weight.copy_(layer.weight[0].T)
            lin.bias.copy_(layer.bias[0, 0])
    b, adv = _batch(eppo)
    loss_e, _ = eppo.loss(b, adv)
    loss_p, _ = ppo.loss(b, adv)
    torch.testing.assert_close(loss_e, loss_p, rtol=1e-6, atol=1e-7)


def test_member_ratio_is_taken_against_the_old_mixture():
    algo = EPPO(EPPOConfig(**TINY, c_ens=0.0, c_sub=1.0, c_div=0.0, ent_coef=0.0, vf_coef=0.0),
                "CartPole-v1", seed=0)
    b, adv = _batch(algo)
    loss, stats = algo.loss(b, adv)
    probs = algo.model.heads(b["obs"]).exp()                               # [B, K, A]
    p_taken = probs[torch.arange(16), :, b["action"].long()]               # [B, K]
    ratio = p_taken / b["logp"].exp().unsqueeze(-1)                        # old MIXTURE in the denominator
    clipped = ratio.clamp(0.9, 1.1)
    expected = -torch.min(ratio * adv[:, None], clipped * adv[:, None]).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(stats["loss/sub"], expected)


def test_theorem_1_mixture_entropy_is_at_least_the_mean_member_entropy():
    g = torch.Generator().manual_seed(0)
    for K, A in [(2, 3), (4, 7), (8, 2)]:
        probs = torch.rand(500, K, A, generator=g).pow(4)
        probs = probs / probs.sum(-1, keepdim=True)
        gap = categorical_mixture_entropy(probs) - categorical_member_entropy(probs)
        assert (gap >= -1e-6).all()


def test_diversity_bounds():
    n = 5
    one_hot = torch.zeros(1, 4, n)
    one_hot[..., 2] = 1
    assert categorical_diversity(one_hot).item() == pytest.approx(1.0)
    disjoint = torch.eye(4).reshape(1, 4, 4)
    assert categorical_diversity(disjoint).item() == pytest.approx(0.0)
    uniform = torch.full((1, 4, n), 1 / n)
    assert categorical_diversity(uniform).item() == pytest.approx(1 / n)


def test_diversity_gradient_step_lowers_the_overlap():
    model = EnsembleActorCritic((6,), gym.spaces.Discrete(4), (16,), 4)
    obs = torch.randn(64, 6)
    before = model.diversity(model.heads(obs)).mean()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before.backward()
    opt.step()
    assert model.diversity(model.heads(obs)).mean() < before


@pytest.mark.parametrize("shared", [False, True])
def test_batched_members_equal_their_separate_forward_passes(shared):
    model = EnsembleActorCritic((6,), gym.spaces.Discrete(3), (16, 16), 3, shared_trunk=shared)
    obs = torch.randn(10, 6)
    out = model.heads(obs)
    x = model.members[0](obs) if shared else obs
    layers = model.members[1].layers if shared else model.members.layers
    for k in range(3):
        h = x
        for i, layer in enumerate(layers):
            h = h @ layer.weight[k] + layer.bias[k, 0]
            h = torch.tanh(h) if i < len(layers) - 1 else h
        torch.testing.assert_close(out[:, k], h.log_softmax(-1))
    mix = model.mixture_log_prob(out, torch.tensor([0] * 10))
    torch.testing.assert_close(mix, out.exp().mean(1)[:, 0].log())


def test_acting_samples_the_mixture_and_evaluation_takes_its_argmax():
    model = EnsembleActorCritic((3,), gym.spaces.Discrete(3), (8,), 2)
    with torch.no_grad():   # member 0 always picks action 0, member 1 action 1 (prob 0.9 each)
        layer = model.members.layers[-1]
        layer.weight.zero_()
        layer.bias.copy_(torch.log(torch.tensor([[[0.9, 0.05, 0.05]], [[0.05, 0.9, 0.05]]])))
        layer.bias[0, 0, 0] += 0.01                   # mixture argmax: action 0
    obs = torch.zeros(4000, 3)
    counts = torch.bincount(model.act(obs, deterministic=False), minlength=3).float() / 4000
    torch.testing.assert_close(counts, torch.tensor([0.475, 0.475, 0.05]), atol=0.03, rtol=0)
    assert (model.act(obs[:5], deterministic=True) == 0).all()


def test_gaussian_mixture_extension():
    space = gym.spaces.Box(-1, 1, (2,))
    model = EnsembleActorCritic((3,), space, (8,), 4)
    mu = torch.zeros(5, 4, 2)
    assert torch.allclose(gaussian_diversity(mu, model.log_std), torch.ones(5))
    far = torch.arange(4.0).repeat_interleave(2).reshape(1, 4, 2) * 100
    assert gaussian_diversity(far, model.log_std).item() < 1e-6
    out = model.heads(torch.randn(7, 3))
    with torch.no_grad():
        out = out + torch.randn_like(out) * 3         # spread the members
        h_mix, h_member = (torch.stack([model.entropies(out)[i] for _ in range(400)]).mean(0) for i in (0, 1))
    assert (h_mix >= h_member - 0.05).all()
    a = torch.randn(7, 2)
    manual = torch.stack([torch.distributions.Normal(out[:, k], model.log_std[k].exp()).log_prob(a).sum(-1)
                          for k in range(4)], -1).exp().mean(-1).log()
    torch.testing.assert_close(model.mixture_log_prob(out, a), manual)


def test_metrics_report_the_eppo_terms_and_the_theorem_1_gap():
    algo = EPPO(EPPOConfig(**TINY), "CartPole-v1", seed=0)
    m = algo.train_step()
    assert {"loss/ens", "loss/sub", "loss/div", "stats/entropy_gap", "stats/clipfrac"} <= set(m)
    assert m["stats/entropy_gap"] >= -1e-6 and 0 <= m["loss/div"] <= 1


def test_config_rejects_an_empty_policy_loss_and_bad_sizes():
    from rlkit.config import ConfigError

    with pytest.raises(ConfigError, match="c_ens"):
        EPPOConfig(c_ens=0.0, c_sub=0.0)
    with pytest.raises(ConfigError, match="num_policies"):
        EPPOConfig(num_policies=0)


def test_the_ablations_train():
    for over in ({"c_ens": 0.0}, {"c_div": 0.0}, {"shared_trunk": True}):
        m = EPPO(EPPOConfig(**TINY, **over), "CartPole-v1", seed=0).train_step()
        assert all(math.isfinite(v) for v in m.values())
    assert np.isfinite(EPPO(EPPOConfig(**TINY), "Pendulum-v1", seed=0).train_step()["loss/div"])


@pytest.mark.parametrize("algo", ["ppo", "eppo"])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_rollout_log_probs_are_those_of_the_acting_policy(algo, env_id):
    """collect() runs only the policy head and the draw per step, and log pi_old(a|s) in one pass
    after the rollout; it must equal torch.distributions' log-density of the stored actions."""
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    agent = (PPO(PPOConfig(**TINY), env_id, seed=0) if algo == "ppo"
             else EPPO(EPPOConfig(**TINY), env_id, seed=0))
    rollout, _ = agent.collect()
    obs, action = rollout["obs"].flatten(0, 1), rollout["action"].flatten(0, 1)
    model = agent.model
    with torch.no_grad():
        out = model.heads(obs)
        if algo == "ppo":
            dist = (Categorical(logits=out) if model.discrete
                    else Independent(Normal(out, model.log_std.exp()), 1))
        else:
            member = (Categorical(logits=out) if model.discrete
                      else Independent(Normal(out, model.log_std.exp()), 1))
            dist = MixtureSameFamily(Categorical(logits=torch.zeros(len(obs), model.K)), member)
        expected = dist.log_prob(action)
    torch.testing.assert_close(rollout["logp"].flatten(), expected, rtol=1e-5, atol=1e-5)


def test_optimizer_eps_and_head_init_follow_each_methods_release():
    """PPO keeps CleanRL's Adam eps 1e-5 and orthogonal heads (gain 0.01); EPPO uses the released
    code's PyTorch defaults: Adam eps 1e-8 and nn.Linear's init of the member heads."""
    ppo = PPO(PPOConfig(**TINY), "CartPole-v1", seed=0)
    eppo = EPPO(EPPOConfig(**TINY), "CartPole-v1", seed=0)
    assert ppo.optim.param_groups[0]["eps"] == 1e-5 and eppo.optim.param_groups[0]["eps"] == 1e-8
    head = eppo.model.member_head()
    bound = 1 / math.sqrt(head.weight.shape[1])
    assert head.weight.abs().max() <= bound and head.bias.abs().max() <= bound
    assert head.bias.abs().max() > 0.5 * bound                               # not CleanRL's zero bias
    assert not torch.allclose(head.weight[0], head.weight[1])
    orthogonal = EPPO(EPPOConfig(**TINY, head_init="orthogonal"), "CartPole-v1", seed=0).model.member_head()
    assert orthogonal.bias.abs().max() == 0 and orthogonal.weight.abs().max() < 0.05


def test_members_differ_after_a_few_updates_with_the_released_heads():
    """With CleanRL's heads (gain 0.01) every member starts uniform and identical, the diversity term
    has nothing to push on and the entropy gap H(mixture) - mean H(member) stays at 0; with the
    released heads the members differ from the start and keep differing."""
    cfg = dict(num_envs=4, num_steps=64, hidden=(64, 64))
    gaps = {}
    for head_init in ("released", "orthogonal"):
        algo = EPPO(EPPOConfig(**cfg, head_init=head_init), "CartPole-v1", seed=0)
        gaps[head_init] = [algo.train_step()["stats/entropy_gap"] for _ in range(5)]
        obs = torch.randn(256, algo.obs_dim)
        with torch.no_grad():
            probs = algo.model.heads(obs).exp()                                # [B, K, A]
        disagreement = (probs[:, :, None] - probs[:, None]).abs().sum(-1).mean()
        gaps[head_init + "_tv"] = float(disagreement)
    assert min(gaps["released"]) > 1e-3 and max(gaps["orthogonal"]) < 1e-4, gaps
    assert gaps["released_tv"] > 10 * gaps["orthogonal_tv"], gaps
