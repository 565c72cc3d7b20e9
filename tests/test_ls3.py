"""LS3: the navigation env and teachers, labels, latent models, the CEM planner's rules, resumable stages."""

import copy
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401
from rlkit.algos.ls3 import LS3, LS3Config, PlannerConfig, SafeSetCEM
from rlkit.algos.ls3.data import collect_offline, load_dataset, random_crops, save_dataset
from rlkit.algos.ls3.models import DynamicsEnsemble, LatentClassifier, SafeSet, ValueEnsemble, trajectory_labels
from rlkit.algos.ls3.vae import VAE
from rlkit.envs.ls3_navigation import GOAL, NavigationEnv, in_obstacle, teacher_action
from rlkit.precision import autocast

TINY = dict(n_demos=2, n_constraint=2, vae_arch="small", vae_iters=4, vae_batch=16, latent_dim=4,
            dyn_hidden=(16,), val_hidden=(16,), head_hidden=(16,), val_members=2, dyn_members=3,
            dyn_pretrain=3, val_mc_pretrain=3, val_td_pretrain=3, safe_pretrain=3, constr_pretrain=3,
            goal_pretrain=3, dyn_updates=2, val_updates=2, safe_updates=2, constr_updates=2, goal_updates=2,
            episodes_per_iter=1, population=16, elites=4, particles=2, iterations=3, batch_size=16,
            stage_checkpoint_every=2)


def test_navigation_env_passes_check_env_and_is_registered():
    check_env(NavigationEnv(32), skip_render_check=True)
    env = gym.make("rlkit/LS3Navigation-v0", image_size=32)
    obs, info = env.reset(seed=0)
    assert obs.shape == (3, 32, 32) and obs.dtype == np.uint8 and np.linalg.norm(info["state"] - (30, 75)) < 5
    assert {"constraint", "success", "state", "next_state"} <= set(env.step(np.zeros(2))[4])


def test_navigation_dynamics_reward_and_freeze():
    env = NavigationEnv(32)
    env.reset(seed=0)
    env.state = np.array([74.0, 75.0])
    _, reward, _, _, info = env.step(np.array([3.0, 0.0]))          # into the obstacle
    assert reward == -1 and info["constraint"] == 1 and in_obstacle(env.state)
    frozen = env.state.copy()
    _, _, _, _, info = env.step(np.array([-3.0, 0.0]))
    np.testing.assert_array_equal(env.state, frozen)
    env.frozen, env.state = False, GOAL.copy()
    _, reward, _, _, info = env.step(np.zeros(2))                   # reward from the pre-move state
    assert reward == 0 and info["success"] == 1


def test_teachers_match_the_spec_numbers():
    env, rng = NavigationEnv(32), np.random.default_rng(0)
    returns = []
    for ep in range(20):
        _, info = env.reset(seed=ep)
        state, total = info["state"], 0.0
        for t in range(100):
            _, r, _, _, info = env.step(teacher_action(state, t, rng))
            state, total = info["next_state"], total + r
        returns.append(total)
    assert -88 <= np.mean(returns) <= -80                           # the official demos' return, -83.7 +- 1.7
    data = collect_offline(env, {"constraint": 5}, seed=1)
    violated = [data["constraint"][data["episode"] == e].max() for e in range(5)]
    assert violated == [1.0] * 5 and (data["on_policy"] == 0).all()


def test_trajectory_labels_by_hand():
    safe, rtg = trajectory_labels(torch.tensor([-1.0, -1.0, 0.0, -1.0, 0.0, -1.0]))
    assert safe.tolist() == [1, 1, 1, 1, 1, 0]
    assert rtg.tolist() == [-3, -2, -2, -1, -1, 0]                 # strictly after t, undiscounted
    safe, _ = trajectory_labels(torch.tensor([-1.0, -1.0]))
    assert safe.tolist() == [0, 0]


def test_value_td_target_is_zero_at_goal_and_treats_time_limit_as_terminal():
    value = ValueEnsemble(2, members=2, hidden=(8,), gamma=0.5)
    for p in value.target.parameters():
        torch.nn.init.zeros_(p)
    torch.nn.init.constant_(value.target.layers[-1].bias, -4.0)    # V_targ = -4 everywhere
    b = {"z": torch.zeros(3, 2), "next_z": torch.zeros(3, 2), "reward": torch.tensor([-1.0, 0.0, -1.0]),
         "done": torch.tensor([0.0, 0.0, 1.0]), "rtg": torch.zeros(3)}
    for p in value.net.parameters():
        torch.nn.init.zeros_(p)
    # prediction 0; targets: -1 + 0.5 * -4 = -3, 0 (goal), -1 (terminal) -> Huber per element
    expected = torch.nn.functional.smooth_l1_loss(torch.zeros(3), torch.tensor([-3.0, 0.0, -1.0]))
    assert torch.isclose(value.loss(b, "td"), expected)


def test_bellman_safe_set_targets():
    ss = SafeSet(2, hidden=(8,), gamma_s=0.3)
    for p in ss.target.parameters():
        torch.nn.init.zeros_(p)                                     # sigmoid(0) = 0.5 -> backup 0.15
    b = {"safe": torch.tensor([1.0, 0.0]), "next_z": torch.zeros(2, 2)}
    assert torch.allclose(ss.bellman_target(b), torch.tensor([1.0, 0.15]))
    ss.reduction = "add"
    assert torch.allclose(ss.bellman_target(b), torch.tensor([0.15 + 0.7, 0.15]))
    ss.kind = "bc"
    assert torch.equal(ss.bellman_target(b), b["safe"])


def test_dynamics_member_step_equals_the_batched_ensemble():
    dyn = DynamicsEnsemble(3, 2, members=4, hidden=(8, 8))
    z, a = torch.randn(5, 3), torch.randn(5, 2)
    mean, log_std = dyn(z.expand(4, -1, -1), a.expand(4, -1, -1))
    m2, s2 = dyn.member_step(2, z, a)
    assert torch.allclose(mean[2], m2, atol=1e-6) and torch.allclose(log_std[2], s2, atol=1e-6)


class _Fixed(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, z):
        return self.fn(z)


def _planner(**overrides) -> SafeSetCEM:
    """A planner on a 1-D latent moved exactly by the action: z' = z + a (zero-std dynamics)."""
    dyn = DynamicsEnsemble(1, 1, members=2, hidden=(4,))
    for layer in dyn.net.layers:
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    dyn.net.layers[-1].bias.data[..., 1] = -30.0                 # log_std of dz: tiny noise
    dyn.member_step = lambda m, z, a: (a, torch.full_like(z, -30.0))
    value = _Fixed(lambda z: z[:, 0])                           # V = z: go right
    safe = _Fixed(lambda z: 10 * (2.0 - z[:, 0]))               # safe iff z < 2
    constraint = _Fixed(lambda z: 10 * (z[:, 0] - 1.5))          # constraint iff z > 1.5
    goal = _Fixed(lambda z: torch.full_like(z[:, 0], -10.0))
    cfg = PlannerConfig(population=64, elites=8, particles=2, horizon=2, iterations=4, **overrides)
    return SafeSetCEM(cfg, dyn, value, safe, constraint, goal, np.array([-1.0]), np.array([1.0]), seed=0)


def test_planner_respects_the_constraint_and_reports_diagnostics():
    action, diag = _planner().plan(torch.zeros(1))
    assert diag["random_action"] == 0 and diag["feasible"] > 0
    assert action[0] > 0.3                                       # moves right but keeps z_t <= 1.5
    score, feasible = _planner().score(torch.zeros(1), torch.full((1, 2, 1), 1.0))      # z = 1, 2
    assert not feasible[0] and score[0] < -1e5 + 10


def test_planner_without_constraints_goes_straight_to_the_value():
    action, _ = _planner(constr_ignore=True, safe_set_ignore=True).plan(torch.zeros(1))
    assert action[0] > 0.9


def test_planner_relaxes_then_falls_back_to_a_random_action():
    planner = _planner(feasibility="mask")          # (with "score", V > 0 would offset one penalty)
    planner.safe_set.fn = lambda z: torch.full_like(z[:, 0], -10.0)   # nothing is ever safe
    action, diag = planner.plan(torch.zeros(1))
    assert diag == {"relaxations": 5.0, "random_action": 1.0, "feasible": 0.0} and -1 <= action[0] <= 1
    assert np.isclose(planner.delta_s, 0.8 * 0.8**6)


def test_score_feasibility_quirk_and_fix():
    """One violating step near the goal: the official score threshold calls it feasible, the mask not."""
    official, fixed = _planner(), _planner(feasibility="mask")
    for p in (official, fixed):
        p.goal.fn = lambda z: torch.full_like(z[:, 0], 10.0)     # goal bonus H = 2 per sequence
        p.value.fn = lambda z: torch.zeros_like(z[:, 0])
        p.constraint.fn = lambda z: 10 * (z[:, 0] - 0.5)
    seq = torch.full((1, 2, 1), 0.3)                              # z = 0.3, 0.6 -> one violation
    assert official.score(torch.zeros(1), seq)[1][0] and not fixed.score(torch.zeros(1), seq)[1][0]


def test_dynamics_noise_flag_rolls_out_the_mean():
    dyn = DynamicsEnsemble(3, 2, members=2, hidden=(8,))
    z, a, g = torch.randn(4, 3), torch.randn(4, 2), torch.Generator().manual_seed(0)
    mean, _ = dyn.member_step(1, z, a)
    assert torch.allclose(dyn.sample_next(z, a, 1, g, noise=False), z + mean)
    assert not torch.allclose(dyn.sample_next(z, a, 1, g), z + mean)       # official: a sample
    planner = _planner(dynamics_noise=False)
    assert planner.cfg.dynamics_noise is False and planner.plan(torch.zeros(1))[1]["random_action"] == 0


def test_mean_rollout_scores_one_particle_for_all():
    """Without dynamics noise every particle follows the same rollout: scoring one must give what
    scoring all ``particles`` of them gives."""
    torch.manual_seed(0)
    dyn = DynamicsEnsemble(3, 2, members=3, hidden=(16,))
    weights = 3 * torch.randn(4, 3)
    heads = [_Fixed(lambda z, w=w: torch.tanh(z) @ w) for w in weights]   # value, safe set, constraint, goal
    cfg = PlannerConfig(population=50, elites=5, particles=7, horizon=3, iterations=3, dynamics_noise=False,
                        delta_s=0.4, delta_c=0.6)
    fast, full = (SafeSetCEM(cfg, dyn, *heads, np.array([-1.0, -1.0]), np.array([1.0, 1.0]), seed=0)
                  for _ in range(2))
    full.dynamics = copy.copy(dyn)
    full.dynamics.sample_next = lambda z, a, m, g, noise: dyn.sample_next(z, a, m, g, noise=False)
    full.cfg = dataclasses.replace(cfg, dynamics_noise=True)     # takes the per-particle path
    z0, actions = torch.randn(3), torch.rand(50, 3, 2) * 2 - 1
    (score, feasible), (ref_score, ref_feasible) = fast.score(z0, actions), full.score(z0, actions)
    torch.testing.assert_close(score, ref_score)
    assert torch.equal(feasible, ref_feasible) and 0 < feasible.sum() < 50


def test_episode_success_is_reaching_the_goal_at_any_step():
    """A teacher episode that reaches the goal (return > -100) counts as a success."""
    env = NavigationEnv(16)
    agent = LS3(LS3Config(**TINY), lambda: env, seed=0)
    rng = np.random.default_rng(0)
    diag = {"relaxations": 0, "random_action": 0, "feasible": 1}
    agent.planner.plan = lambda z, s0=None: (teacher_action(env.state, env.t, rng), diag)
    out = agent.run_episode(store=False)
    assert -100 < out["return"] < -60 and out["success"] == 1.0 and out["constraint"] == 0.0


def test_random_crops_keep_shape_and_identity_at_full_scale():
    x = torch.rand(3, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    assert random_crops(x, g).shape == x.shape
    assert torch.allclose(random_crops(x, g, scale=(1.0, 1.0), ratio=(1.0, 1.0)), x, atol=1e-5)


def test_dataset_roundtrip_and_malformed_file(tmp_path):
    data = collect_offline(NavigationEnv(16), {"demo": 1, "constraint": 1}, seed=0)
    save_dataset(tmp_path / "d.npz", data)
    back = load_dataset(tmp_path / "d.npz")
    assert all(np.array_equal(back[k], data[k]) for k in data)
    np.savez(tmp_path / "bad.npz", obs=data["obs"])
    with pytest.raises(ValueError, match="lacks field"):
        load_dataset(tmp_path / "bad.npz")


def test_ls3_stages_resume_from_their_files(tmp_path):
    cfg = LS3Config(**TINY)
    make = lambda: NavigationEnv(16, horizon=10)
    agent = LS3(cfg, make, seed=0)
    agent.set_run_dir(tmp_path)
    metrics = agent.train_step()
    assert {"vae/recon", "pretrain/goal", "ls3/return", "loss/value_td"} <= set(metrics)
    for name in ("dataset.npz", "vae.pt", "modules.pt"):
        assert (tmp_path / "ls3" / name).exists()
    again = LS3(cfg, make, seed=0)                               # a rerun reuses every stage
    again.set_run_dir(tmp_path)
    again.prepare()
    for a, b in zip(agent.vae.parameters(), again.vae.parameters(), strict=True):
        assert torch.equal(a, b)
    from rlkit.checkpoint import load_checkpoint

    pretrained = load_checkpoint(tmp_path / "ls3" / "modules.pt")
    assert torch.equal(pretrained["models"]["goal"]["net.0.weight"], again.goal.state_dict()["net.0.weight"])
    assert pretrained["done"] == {"dynamics": 3, "value_mc": 3, "value_td": 3, "safe_set": 3, "constraint": 3,
                                  "goal": 3}
    restored = LS3(cfg, make, seed=0)
    restored.load_state_dict(agent.state_dict())
    assert restored.ready and restored.episodes == 1 and restored.replay.size == agent.replay.size


def test_constraint_and_goal_classifier_labels():
    clf = LatentClassifier(2, "goal", hidden=(4,))
    b = {"next_z": torch.zeros(2, 2), "reward": torch.tensor([0.0, -1.0]),
         "constraint": torch.tensor([1.0, 0.0])}
    with torch.no_grad():
        logit = clf(b["next_z"])
    y = torch.tensor([1.0, 0.0])
    assert torch.isclose(clf.loss(b), torch.nn.functional.binary_cross_entropy_with_logits(logit, y))
    with pytest.raises(ValueError):
        LatentClassifier(2, "reward")


def test_reacher_env_geometry_teachers_and_check_env():
    from rlkit.envs.ls3_reacher import OBSTACLE, TARGET, ReacherEnv, finger_position, inverse_kinematics

    np.testing.assert_allclose(finger_position(np.array([0.75 * np.pi, 0.0])), TARGET, atol=0.011)
    for q in inverse_kinematics(OBSTACLE):
        np.testing.assert_allclose(finger_position(q), OBSTACLE, atol=1e-9)
    env = ReacherEnv(image_size=16)
    check_env(env, skip_render_check=True)
    data = collect_offline(env, {"demo": 1, "constraint": 1, "random": 1}, seed=0, random_horizon=5)
    demo, bad = data["episode"] == 0, data["episode"] == 1
    assert data["obs"].shape[1:] == (9, 16, 16) and (data["reward"][demo] == 0).any()
    assert data["constraint"][demo].max() == 0 and data["constraint"][bad].max() == 1
    assert (data["episode"] == 2).sum() == 5
    assert data["on_policy"][demo].all() and not data["on_policy"][bad].any()
    env.close()


def test_push_env_teachers_and_check_env():
    from rlkit.envs.ls3_push import PushEnv

    env = PushEnv(image_size=16, horizon=60)
    check_env(env, skip_render_check=True)
    data = collect_offline(env, {"demo": 1}, seed=0)
    assert data["obs"].shape[1:] == (3, 16, 16) and (data["reward"] == 0).any()    # all 3 blocks pushed
    assert data["constraint"].max() == 0
    policy, _ = env.teacher("constraint", np.random.default_rng(0))
    actions = np.array([policy({}, t) for t in range(40)])
    pushes = (actions == [0.0, -0.02]).all(1)
    assert 0 < pushes.sum() < 40 and (np.abs(actions[~pushes]) <= 0.05).all()    # pushes and bursts
    env.close()


def test_vae_stage_resumes_from_its_last_saved_iteration(tmp_path):
    from rlkit.checkpoint import load_checkpoint

    cfg = LS3Config(**(TINY | {"vae_iters": 2}))
    agent = LS3(cfg, lambda: NavigationEnv(16, horizon=10), seed=0)
    agent.set_run_dir(tmp_path)
    images = agent.offline_data()["obs"]
    agent.train_vae(images)                                   # "killed" after 2 of 4 iterations
    assert load_checkpoint(tmp_path / "ls3" / "vae.pt")["iteration"] == 2
    again = LS3(LS3Config(**(TINY | {"vae_iters": 4})), lambda: NavigationEnv(16, horizon=10), seed=0)
    again.set_run_dir(tmp_path)
    steps = []
    again.vae_optim.step = lambda *a, **k: steps.append(1)  # count the remaining optimiser steps
    again.train_vae(images)
    assert len(steps) == 2 and load_checkpoint(tmp_path / "ls3" / "vae.pt")["iteration"] == 4


def test_ls3_decoder_first_layer_as_a_matrix_product_equals_the_transposed_conv():
    decoder = VAE(8, 3, 64, "ls3").decoder
    z = torch.randn(5, 8)
    as_conv = decoder.deconv(decoder.fc(z).view(-1, decoder.c0, 1, 1))
    torch.testing.assert_close(decoder(z), as_conv, rtol=1e-5, atol=1e-6)


def test_stage_paths_expand_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = LS3Config(**(TINY | {"stage_dir": "~/stages", "vae_checkpoint": "~/vae.pt"}))
    agent = LS3(cfg, lambda: NavigationEnv(16, horizon=10), seed=0)
    assert agent._stage_path(None, "modules.pt") == tmp_path / "stages" / "modules.pt"
    assert agent._stage_path(cfg.vae_checkpoint, "vae.pt") == tmp_path / "vae.pt"


def test_mismatched_dataset_and_vae_files_get_clear_errors(tmp_path):
    cfg = LS3Config(**TINY)
    agent = LS3(cfg, lambda: NavigationEnv(16, horizon=10), seed=0)
    agent.set_run_dir(tmp_path)
    agent.train_vae(agent.offline_data()["obs"])
    bigger = LS3(cfg, lambda: NavigationEnv(24, horizon=10), seed=0)        # 24x24 images
    bigger.set_run_dir(tmp_path)
    with pytest.raises(ValueError, match="renders"):
        bigger.offline_data()
    other = LS3(LS3Config(**(TINY | {"latent_dim": 6})), lambda: NavigationEnv(16, horizon=10), seed=0)
    other.set_run_dir(tmp_path)
    with pytest.raises(ValueError, match="does not fit"):
        other.train_vae(np.zeros((2, 3, 16, 16), np.uint8))


def test_a_reused_vae_checkpoint_must_exist_and_be_fully_trained(tmp_path):
    """``vae_checkpoint`` is read, never trained into: the seeds of a sweep share it."""
    from rlkit.checkpoint import load_checkpoint
    from rlkit.config import ConfigError

    def agent(seed=1, **settings):                          # another seed: another initial VAE
        return LS3(LS3Config(**(TINY | settings)), lambda: NavigationEnv(16, horizon=10), seed=seed)

    trainer = agent(seed=0, stage_dir=str(tmp_path), vae_iters=2)
    images = trainer.offline_data()["obs"]
    shared = str(tmp_path / "vae.pt")
    with pytest.raises(ConfigError, match="does not exist; train the VAE once"):
        agent(vae_checkpoint=shared).train_vae(images)
    trainer.train_vae(images)                                  # 2 iterations; TINY asks for 4
    with pytest.raises(ConfigError, match="has trained 2 of algo.vae_iters=4 iterations"):
        agent(vae_checkpoint=shared).train_vae(images)
    reuser = agent(vae_checkpoint=shared, vae_iters=2)
    assert reuser.train_vae(images) == {} and load_checkpoint(tmp_path / "vae.pt")["iteration"] == 2
    for a, b in zip(reuser.vae.parameters(), trainer.vae.parameters(), strict=True):
        assert torch.equal(a, b)


def test_value_members_train_on_their_own_batches_against_their_own_targets():
    """Official ValueEnsemble: member e regresses on r + gamma V'_e(z') over its own batch; the
    round-1 variant (``ensemble_mean``) uses one batch and the mean of the target members."""
    official = ValueEnsemble(2, members=2, hidden=(8,), gamma=0.5)
    assert official.batch_members == 2
    ours = ValueEnsemble(2, members=2, hidden=(8,), gamma=0.5, targets="ensemble_mean")
    assert ours.batch_members is None
    for value in (official, ours):
        for p in [*value.target.parameters(), *value.net.parameters()]:
            torch.nn.init.zeros_(p)
        bias = value.target.layers[-1].bias
        bias.data[:] = torch.tensor([-4.0, -2.0]).view_as(bias)
    rows = {"z": torch.zeros(2, 1, 2), "next_z": torch.zeros(2, 1, 2), "reward": -torch.ones(2, 1),
            "done": torch.zeros(2, 1), "rtg": torch.zeros(2, 1)}
    # member 0: -1 + 0.5 * -4 = -3; member 1: -1 + 0.5 * -2 = -2 (Huber of 0 against each)
    assert torch.isclose(official.loss(rows, "td"), torch.tensor((2.5 + 1.5) / 2))
    shared = {k: v[0] for k, v in rows.items()}
    # mean target -1 + 0.5 * -3 = -2.5 for both members
    assert torch.isclose(ours.loss(shared, "td"), torch.tensor(2.0))


def test_safe_set_target_starts_random_as_released_then_syncs():
    official, ours = SafeSet(2, hidden=(8,)), SafeSet(2, hidden=(8,), target_init="copy")
    z = torch.randn(5, 2)
    assert not torch.allclose(official.target(z), official.net(z))
    assert torch.allclose(ours.target(z), ours.net(z))
    for _ in range(100):
        official.after_update(official.net)
    assert torch.allclose(official.target(z), official.net(z))


def test_navigation_draws_the_obstacle_over_the_robot_and_the_official_constraint_teacher():
    from rlkit.envs.ls3_navigation import ConstraintTeacher

    s = np.array([72.0, 75.0])                          # the disc overlaps the obstacle's left edge
    red = [(NavigationEnv(obstacle_on_top=flag).render_state(s)[0] > 128).sum() for flag in (True, False)]
    assert 0 < red[0] < red[1]
    state, rng = np.array([0.0, 0.0]), np.random.default_rng(0)
    official = ConstraintTeacher(rng, noise=0.0)(state, 20)
    clipped = ConstraintTeacher(rng, noise=0.0, unit_direction=False)(state, 20)
    assert np.isclose(np.linalg.norm(official), 1.5)
    assert np.allclose(official / 1.5, np.array([88, 75]) / np.hypot(88, 75))
    assert np.allclose(clipped, [1.5, 1.5])


# ---------------------------------------------------------------------- ground-truth diagnostics
def test_navigation_ground_truth_steps_progress_and_noise_free_step():
    from rlkit.envs.ls3_navigation import noise_free_step, optimal_steps, route_progress

    steps = optimal_steps()
    assert steps[150, 75] == 0 and np.isinf(steps[80, 60])          # the goal; inside the obstacle
    assert steps[150, 15] == 20      # straight down: y must pass 72 (||s - goal|| < 3), 57+ units at 3 a step
    assert steps[30, 75] == 40       # around the obstacle (the spec's near-optimal return is about -41)
    np.testing.assert_allclose(route_progress(np.array([[30, 75], [30, 15], [90, 15], [90, 40], [150, 75]])),
                               [0, 0.25, 0.5, 0.5, 1])
    np.testing.assert_array_equal(noise_free_step(np.array([[80.0, 60.0], [1.0, 149.0]]),
                                                  np.array([[3.0, 3.0], [-5.0, 5.0]])),
                                  [[80, 60], [0, 150]])                  # frozen; clipped action and world


def test_oracle_planner_scores_the_true_value_of_the_noise_free_end_state():
    from rlkit.algos.ls3.oracle import NavigationOracle, latent_position, state_latent

    oracle = NavigationOracle(None, 0.99, torch.device("cpu"))
    heads = [_Fixed(lambda z: torch.full_like(z[:, 0], -10.0)) for _ in range(4)]   # unused value, safe, ...
    dyn = DynamicsEnsemble(2, 2, members=2, hidden=(8,))
    cfg = PlannerConfig(population=8, elites=2, particles=3, horizon=2, iterations=2, dynamics_model="oracle",
                        value_model="oracle", safe_set_model="oracle")
    planner = SafeSetCEM(cfg, dyn, *heads, np.full(2, -3.0), np.full(2, 3.0), oracle=oracle)
    s0 = torch.tensor([140.0, 60.0])
    actions = torch.tensor([[[3.0, 3.0], [3.0, 3.0]], [[-3.0, 0.0], [-3.0, 0.0]]])
    score, feasible = planner.score(state_latent(s0), actions, s0)
    v = lambda x, y: -(1 - 0.99 ** optimal_steps_at(x, y)) / (1 - 0.99)
    torch.testing.assert_close(score, torch.tensor([v(146, 66), v(134, 60)]))
    assert feasible.all()
    torch.testing.assert_close(latent_position(state_latent(s0)), s0)
    with pytest.raises(ValueError, match="pass the position"):
        planner.score(state_latent(s0), actions)


def optimal_steps_at(x: int, y: int) -> float:
    from rlkit.envs.ls3_navigation import optimal_steps

    return float(optimal_steps()[x, y])


def test_image_latent_table_encodes_every_integer_position():
    from rlkit.algos.ls3.oracle import image_latent_table

    env = NavigationEnv(16)
    encode = lambda x: torch.as_tensor(x, dtype=torch.float32).mean((2, 3))        # [N, 3]
    table = image_latent_table(lambda p: env.render_state(p, cache=False), encode, chunk=5000)
    assert table.shape == (181, 151, 3) and not env._cache
    torch.testing.assert_close(table[40, 20], encode(env.render_state(np.array([40.5, 20.9]))[None])[0])


def test_state_latent_diagnostic_runs_and_errors_are_clear(tmp_path):
    """latent=state stores positions (the dataset records them) and trains no VAE; an oracle value
    with learned image dynamics is refused."""
    cfg = LS3Config(**TINY, latent="state", dynamics_model="oracle", value_model="oracle")
    agent = LS3(cfg, lambda: NavigationEnv(16), seed=0)
    agent.set_run_dir(tmp_path)
    metrics = agent.train_step()
    assert not any(k.startswith("vae/") for k in metrics)
    assert {"ls3/progress", "ls3/max_progress", "ls3/end_x", "ls3/end_y"} <= set(metrics)
    data = load_dataset(tmp_path / "ls3" / "dataset.npz")
    assert data["state"].shape == data["next_state"].shape == (len(data["reward"]), 2)
    rows = agent.replay.sample(4)
    assert rows["z"].shape == (4, 2) and rows["z"].abs().max() <= 1
    with pytest.raises(ValueError, match="dynamics_model=oracle or latent=state"):
        LS3Config(**TINY, value_model="oracle")
    with pytest.raises(ValueError, match="images only"):
        agent.act(np.zeros((3, 16, 16), np.uint8))


def test_bf16_planner_keeps_the_fp32_elites_on_a_fixed_set():
    """Under precision=bf16 (the networks' matrix products in bfloat16, rlkit.precision): on 10 fixed
    states and populations the elite sets overlap fp32's by >= 95% on average, and the scores agree to
    bf16 accuracy."""
    torch.manual_seed(0)
    d = 8
    mods = [DynamicsEnsemble(d, 2, 3, (64, 64)), ValueEnsemble(d, 3, (64, 64)), SafeSet(d, (64, 64)),
            LatentClassifier(d, "constraint", (64, 64)), LatentClassifier(d, "goal", (64, 64))]
    planner = SafeSetCEM(PlannerConfig(population=300, elites=30, particles=4, horizon=3, iterations=3,
                                       delta_s=0.0, delta_c=1.0), *mods, np.full(2, -3.0), np.full(2, 3.0))
    g = torch.Generator().manual_seed(1)
    overlaps = []
    for _ in range(10):
        z0, cand = torch.randn(d, generator=g), 6 * torch.rand(300, 3, 2, generator=g) - 3
        scores = []
        for precision in ("fp32", "bf16"):
            planner.generator.manual_seed(2)
            with autocast(precision, "cpu"):
                scores.append(planner.score(z0, cand)[0])
        assert scores[0].dtype == scores[1].dtype == torch.float32
        spread = scores[0].max() - scores[0].min()
        assert 0 < (scores[0] - scores[1]).abs().max() < 0.01 * spread      # measured: <= 0.5%
        elites = [set(s.topk(30).indices.tolist()) for s in scores]
        overlaps.append(len(elites[0] & elites[1]) / 30)
    assert np.mean(overlaps) >= 0.95, overlaps                                 # measured: 1.0


def test_cem_refit_uses_the_unbiased_std_as_released():
    elites = torch.tensor([[[0.0]], [[1.0]], [[2.0]], [[3.0]]])             # [E=4, H=1, k=1]
    mean, std = _planner().refit(elites)
    assert mean.item() == 1.5 and np.isclose(std.item(), np.sqrt(5 / 3))    # sum of squares 5 over E - 1
    assert np.isclose(_planner(cem_std_unbiased=False).refit(elites)[1].item(), np.sqrt(5 / 4))
