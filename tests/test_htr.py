"""PEARL + HTR: the encoder's closed forms, the relabelling invariants, oyster's regression bugs."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401
from rlkit.algos.htr import PEARL, PEARLConfig, kl_to_standard_normal, product_of_gaussians, relabel
from rlkit.envs.point_robot import SparsePointRobotEnv, semicircle_goals, sparse_reward

TINY = dict(net_size=16, net_layers=2, encoder_hidden=(16,), meta_batch=4, num_initial_steps=20,
            num_tasks_sample=3, num_steps_prior=20, num_steps_posterior=20, num_train_steps_per_itr=3,
            batch_size=8, embedding_batch_size=8, num_exp_traj_eval=1, num_steps_per_eval=40,
            buffer_size=2000)


def _agent(**over):
    env = lambda: SparsePointRobotEnv(num_tasks=10, num_train_tasks=6)
    return PEARL(PEARLConfig(**{**TINY, **over}), env, seed=0)


def test_point_robot_env_facts():
    env = gym.make("rlkit/SparsePointRobot-v0")
    check_env(env.unwrapped, skip_render_check=True)
    goals = semicircle_goals()
    assert goals.shape == (100, 2) and np.allclose(np.linalg.norm(goals, axis=1), 1)
    assert (goals[:, 1] >= -1e-12).all()
    inner = env.unwrapped
    assert len(inner.train_tasks) == 80 and len(inner.test_tasks) == 20
    inner.set_task(3)
    obs, _ = env.reset(seed=0)
    assert np.allclose(obs, 0)
    obs, r, term, trunc, info = env.step(np.array([5.0, 0.0]))     # clipped to 1 -> moves 0.1
    assert np.allclose(obs, [0.1, 0.0]) and not term and not trunc
    assert info["dense_reward"] == pytest.approx(-np.linalg.norm(obs - goals[3]))
    steps = 1
    while not trunc:
        *_, trunc, _ = env.step(np.zeros(2))
        steps += 1
    assert steps == 20
    assert sparse_reward(np.array([0.0, 0.9]), np.array([0.0, 1.0])) == pytest.approx(0.9)
    assert sparse_reward(np.array([0.0, 0.7]), np.array([0.0, 1.0])) == 0.0


def test_product_of_gaussians_closed_form_and_mask():
    mu = torch.tensor([[[1.0], [3.0]]])
    var = torch.tensor([[[1.0], [4.0]]])
    m, v = product_of_gaussians(mu, var)
    assert v.item() == pytest.approx(1 / (1 + 0.25)) and m.item() == pytest.approx(v.item() * (1 + 3 / 4))
    m0, v0 = product_of_gaussians(mu, var, mask=torch.zeros(1, 2))
    assert m0.item() == 0 and v0.item() == 1                       # empty context = the prior
    m1, v1 = product_of_gaussians(mu, var, mask=torch.tensor([[1.0, 0.0]]))
    assert m1.item() == pytest.approx(1.0) and v1.item() == pytest.approx(1.0)
    assert kl_to_standard_normal(torch.zeros(1, 3), torch.ones(1, 3)).item() == pytest.approx(0.0)
    kl = kl_to_standard_normal(torch.tensor([[1.0]]), torch.tensor([[2.0]])).item()
    assert kl == pytest.approx(0.5 * (2 + 1 - 1 - np.log(2)))


def test_every_rollout_stores_its_last_transition():
    agent = _agent()
    agent.train_step()
    buf = agent.rl_buffer.buffers[0]
    assert set(buf.lengths) == {20}                       # oyster dropped the last one until 2020-05
    ep = buf.episode(0)
    assert torch.allclose(ep["obs"][1:], ep["next_obs"][:-1])


def test_sparse_mode_context_and_critic_see_sparse_rewards():
    agent = _agent(critic_reward="sparse")
    agent.train_step()
    context, batch, _ = agent.sample_meta_batch()
    r_ctx = context[..., agent.obs_dim + agent.act_dim]
    nxt = agent.enc_buffer.sample([0], 4)["next_obs"]     # the context column is the sparse reward
    assert (r_ctx >= 0).all() and (batch["reward"] >= 0).all()
    assert torch.equal(batch["reward"], batch["reward_sparse"])
    assert nxt.shape[-1] == 2


def test_relabelled_slots_share_one_solved_train_goal_and_rewards_match_the_env():
    agent = _agent(critic_reward="sparse", relabel_prob=1.0)
    agent.train_step()
    env, goals = agent.env, agent.train_goals
    # an episode that passes through the ball of train goal 2
    path = torch.linspace(0, 1, 20)[:, None] * goals[2]
    episode = {"obs": torch.cat([torch.zeros(1, 2), path[:-1]]), "action": torch.zeros(20, 2), "next_obs": path,
               "reward_sparse": torch.zeros(20), "reward_dense": torch.zeros(20), "done": torch.zeros(20)}
    for buf in agent.rl_buffer.buffers:
        buf.starts, buf.lengths, buf.size, buf._table = [], [], 0, None
        buf.add_episode(episode)
    ctx, rl = agent._relabel_slot(0)
    solved = relabel.solved_tasks(path, goals, env.reward)
    assert 2 in solved.tolist()
    # both batches labelled with one goal g' among the solved train goals, rewards = env reward under g'
    for g_idx in solved.tolist():
        if torch.allclose(ctx["reward"], sparse_reward(ctx["next_obs"], goals[g_idx])):
            assert torch.allclose(rl["reward"], sparse_reward(rl["next_obs"], goals[g_idx]))
            break
    else:
        pytest.fail("relabelled rewards match no solved train goal")
    assert (ctx["reward"] > 0).any()


def test_unsolved_episodes_leave_the_slot_plain_pearl():
    agent = _agent(critic_reward="sparse", relabel_prob=1.0)
    agent.train_step()
    still = {"obs": torch.zeros(20, 2), "action": torch.zeros(20, 2), "next_obs": torch.zeros(20, 2),
             "reward_sparse": torch.zeros(20), "reward_dense": torch.zeros(20), "done": torch.zeros(20)}
    buf = agent.rl_buffer.buffers[1]
    buf.starts, buf.lengths, buf.size, buf._table = [], [], 0, None
    buf.add_episode(still)
    assert agent._relabel_slot(1) is None


def test_non_relabelled_slots_are_plain_pearl():
    import copy
    from dataclasses import replace

    plain = _agent(critic_reward="sparse")
    plain.train_step()
    path = torch.linspace(0, 1, 20)[:, None] * plain.train_goals[2]
    solving = {"obs": torch.zeros(20, 2), "action": torch.zeros(20, 2), "next_obs": path,
               "reward_sparse": torch.zeros(20), "reward_dense": torch.zeros(20), "done": torch.zeros(20)}
    for task in (0, 1, 2):                      # these tasks' episodes can be relabelled, the others cannot
        buf = plain.rl_buffer.buffers[task]
        buf.starts, buf.lengths, buf.size, buf._table = [], [], 0, None
        buf.add_episode(solving)
    htr = copy.deepcopy(plain)
    htr.cfg = replace(plain.cfg, relabel_prob=0.5)
    plain.cfg.meta_batch = htr.cfg.meta_batch = 32
    ca, ba, _ = plain.sample_meta_batch()
    cb, bb, stats = htr.sample_meta_batch()
    changed = [i for i in range(32) if not torch.equal(ca[i], cb[i])]
    assert len(changed) == round(stats["htr/relabelled_slots"] * 32) > 0
    for i in range(32):
        if i not in changed:
            assert torch.equal(ba["reward"][i], bb["reward"][i]) and torch.equal(ba["obs"][i], bb["obs"][i])
    # the diagnostics: shares of positive (sparse) rewards in the context and the RL batch
    assert stats["htr/rl_reward_positive"] == float((bb["reward"] > 0).float().mean()) > 0
    assert stats["htr/context_reward_positive"] > 0


def test_ec_cluster_keeps_only_episodes_that_earn_reward():
    goal = torch.tensor([0.0, 1.0])
    hit = {"next_obs": torch.tensor([[0.0, 0.5], [0.0, 0.95]]), "obs": torch.zeros(2, 2)}
    miss = {"next_obs": torch.tensor([[0.5, 0.0], [0.6, 0.0]]), "obs": torch.zeros(2, 2)}
    fn = SparsePointRobotEnv().reward
    out = relabel.cluster(hit, [miss, hit, miss], goal, fn)
    assert len(out["next_obs"]) == 4


def test_eager_relabelling_adds_copies_to_the_solved_tasks_buffers():
    agent = _agent(critic_reward="sparse", relabel_prob=1.0, eager_relabel=True)
    path = torch.linspace(0, 1, 20)[:, None] * agent.train_goals[4]
    episode = {"obs": torch.zeros(20, 2), "action": torch.zeros(20, 2), "next_obs": path,
               "reward_sparse": torch.zeros(20), "reward_dense": torch.zeros(20), "done": torch.zeros(20)}
    before = agent.rl_buffer.buffers[4].num_episodes
    agent._store_eager(episode)
    counts = [b.num_episodes for b in agent.rl_buffer.buffers]
    assert sum(counts) == 1
    j = int(np.argmax(counts))
    assert j == 4 or before == 0
    stored = agent.rl_buffer.buffers[j].episode(0)
    assert torch.allclose(stored["reward_sparse"], sparse_reward(path, agent.train_goals[j]).float())


def test_encoder_learns_only_from_critic_and_kl():
    agent = _agent()
    agent.train_step()
    context, batch, _ = agent.sample_meta_batch()
    before = [p.clone() for p in agent.encoder.parameters()]
    agent.cfg.kl_lambda, lr = 0.0, agent.optims["encoder"].param_groups[0]["lr"]
    agent.optims["qf"].param_groups[0]["lr"] = 0.0
    agent.optims["encoder"].param_groups[0]["lr"] = lr
    agent.update(context, batch)
    moved = any(not torch.equal(a, b) for a, b in zip(before, agent.encoder.parameters(), strict=True))
    assert moved                                   # the critic loss reaches the encoder
    # policy and value see z detached: their graphs never reach the encoder
    z = torch.zeros(3, agent.cfg.latent_dim, requires_grad=True)
    x = torch.cat([torch.zeros(3, agent.obs_dim), z.detach()], -1)
    agent.vf(x).sum().backward()
    assert z.grad is None


def test_meta_test_protocol_shapes_and_evaluate_keys():
    agent = _agent()
    agent.train_step()
    out = agent.meta_test([6, 7], runs=3)
    assert out["return"].shape == (6,) and set(np.unique(out["success"])) <= {0.0, 1.0}
    ev = agent.evaluate(2)
    assert {"eval/return", "eval/success", "eval/first_return", "eval/train_tasks_return"} <= set(ev)


def test_meta_test_draws_a_fresh_z_for_every_trajectory_as_oyster():
    """Round-2 defect: meta-test reused one prior z for every exploration trajectory, so they were
    identical. oyster samples z after every trajectory: prior draws while exploring, then from the
    posterior of all context so far."""
    agent = _agent(num_exp_traj_eval=2, num_steps_per_eval=80)       # 4 trajectories of 20 steps
    agent.train_step()
    seen, rollout = [], agent.rollout
    agent.rollout = lambda tasks, z, deterministic: seen.append(z.clone()) or rollout(tasks, z, deterministic)
    out = agent.meta_test([6], runs=1)
    assert len(seen) == 4 and not torch.equal(seen[0], seen[1]) and not torch.equal(seen[2], seen[3])
    assert out["first_return"].shape == (1,)


def test_posterior_collection_starts_from_the_prior_and_q_nets_get_oysters_init():
    """oyster's collect_data starts from clear_z (the prior) and infers the posterior after
    update_post_train trajectories; rlkit's init reaches the twin Q networks too."""
    agent = _agent(num_steps_posterior=60, update_post_train=1)
    agent.train_step()                                               # fills the encoder buffer
    calls, posterior = [], agent.posterior_from_buffer
    agent.posterior_from_buffer = lambda tasks: calls.append(len(calls)) or posterior(tasks)
    rollouts, rollout = [], agent.rollout
    agent.rollout = lambda tasks, z, **kw: rollouts.append(len(calls)) or rollout(tasks, z, **kw)
    agent.collect([0, 1], 60, posterior=True, encoder_too=True)
    assert rollouts == [0, 1, 2]                # first trajectory on the prior, then one posterior each
    fresh = _agent()
    last = fresh.qf.linears[-1]
    assert last.weight.abs().max() <= 3e-3 and last.bias.abs().max() <= 3e-3
    assert torch.all(fresh.qf.linears[0].bias == 0.1)


def test_config_errors_name_the_key():
    from rlkit.config import ConfigError

    with pytest.raises(ConfigError, match="critic_reward"):
        PEARLConfig(critic_reward="shaped")
    with pytest.raises(ConfigError, match="relabel_strategy"):
        PEARLConfig(relabel_strategy="her")
    with pytest.raises(TypeError, match="meta-RL task env"):
        PEARL(PEARLConfig(**TINY), "CartPole-v1")


@pytest.mark.parametrize("env_id", ["rlkit/SparseWheeled-v0", "rlkit/SparseAntGoal-v0"])
def test_mujoco_goal_tasks_follow_the_task_api(env_id):
    env = gym.make(env_id, num_tasks=10, num_train_tasks=6, max_steps=30)
    inner = env.unwrapped
    check_env(inner, skip_render_check=True)
    assert len(inner.train_tasks) == 6 and np.allclose(np.linalg.norm(inner.goals, axis=1), 2.0)
    inner.set_task(2)
    env.reset(seed=0)
    for _ in range(30):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert trunc and not term
    goal = inner.task_goal(2)
    assert info["sparse_reward"] == inner.reward(obs, goal, "sparse") == r
    assert info["dense_reward"] == pytest.approx(-np.linalg.norm(obs[:2] - goal))
    batch = inner.batch([0, 3, 5])
    first = batch.reset()
    out = batch.step(np.zeros((3, *env.action_space.shape)))
    assert out["next_obs"].shape == (3, *env.observation_space.shape) and first.shape[0] == 3
    again = inner.batch([0, 3, 5])
    assert again.envs[0] is batch.envs[0]                       # the pool is reused


def test_wheeled_robot_drives_forward_when_both_wheels_push():
    env = gym.make("rlkit/SparseWheeled-v0")
    env.reset(seed=0)
    for _ in range(100):
        obs, *_ = env.step(np.array([2.0, 2.0], dtype=np.float32))
    assert obs[0] > 0.5 and abs(obs[1]) < 0.1


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("task_name", ["reach-v3", "push-v3"])
def test_metaworld_ml1_task_api_and_pure_sparse_reward(task_name):
    pytest.importorskip("metaworld")
    from rlkit.envs.metaworld_tasks import SparseMetaWorldEnv

    env = SparseMetaWorldEnv(task_name, num_tasks=6, num_train_tasks=3, max_steps=5)
    check_env(env, skip_render_check=True)
    assert env.train_tasks == [0, 1, 2] and env.test_tasks == [3, 4, 5] and env.task_goal([4]).shape == (1, 3)
    env.set_task(4)
    obs, _ = env.reset(seed=0)
    assert np.allclose(obs[-3:], 0)                                    # the goal is hidden
    np.testing.assert_allclose(env.inner._target_pos, env.goals[4])
    _, r, _, _, info = env.step(env.action_space.sample())
    goal = env.goals[4]
    assert r == info["sparse_reward"] == env.reward(env.inner._get_obs(), goal)
    fake = np.zeros((2, 39))
    fake[1, env.slice] = goal + 0.01                                   # within 0.05 of the goal
    assert env.reward(fake, goal[None]).tolist() == [0.0, 1.0]
    env.close()


def test_multitask_buffer_samples_per_task():
    from rlkit.algos.htr.buffer import MultiTaskBuffer

    mt = MultiTaskBuffer(3, {"obs": (1,), "reward": ()}, capacity_per_task=50)
    for task in range(3):
        mt.add_episode(task, {"obs": torch.full((10, 1), float(task)), "reward": torch.zeros(10)})
    b = mt.sample([2, 0], batch_size=7)
    assert b["obs"].shape == (2, 7, 1)
    assert (b["obs"][0] == 2).all() and (b["obs"][1] == 0).all()
    ctx = mt.sample_context([1], 5)
    assert ctx["obs"].shape == (1, 5, 1) and (ctx["obs"] == 1).all()
