"""The QP env, rho policies and the RLQP agent."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlkit.envs  # noqa: F401
from rlkit.algos.rlqp import RLQP, ActiveSetRule, LearnedRhoPolicy, RLQPConfig, Settings, solve
from rlkit.algos.rlqp.policy import Actor, row_features
from rlkit.envs.qp.admm import ADMM
from rlkit.envs.qp.env import QPEnv
from rlkit.envs.qp.problems import generate

TINY = dict(random_episodes=1, updates_per_step=1.5, batch_size=16, hidden=(16,), eval_per_class=1)


def tiny_env():
    return QPEnv({"random_qp": (5, 8), "control": (2, 3)}, max_steps=6)


def test_env_step_runs_k_iterations_and_rewards_minus_one_until_solved():
    env = gym.make("rlkit/QP-v0", classes={"random_qp": (8, 8)}, max_steps=80).unwrapped
    obs, info = env.reset(seed=1)
    assert obs.shape[1] == 6 and info["iterations"] == 50
    rewards = []
    while True:
        obs, r, term, trunc, info = env.step(np.full(len(obs), 0.1))
        rewards.append(r)
        if term or trunc:
            break
    assert term and rewards[-1] == 0.0 and set(rewards[:-1]) <= {-1.0}
    assert info["iterations"] == 50 * (len(rewards) + 1)


def test_env_with_osqp_rho_vector_reproduces_fixed_rho_solve():
    env = gym.make("rlkit/QP-v0", classes={"random_qp": (8, 8)}, max_steps=200).unwrapped
    obs, _ = env.reset(seed=4)
    qp = env.problem
    while True:
        obs, r, term, trunc, info = env.step(obs[:, 5])        # keep the current rho_vec
        if term or trunc:
            break
    ref = solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho="fixed", eps_abs=1e-5, eps_rel=1e-5,
                eps_prim_inf=1e-15, eps_dual_inf=1e-15)
    assert info["iterations"] == ref.iterations


def test_row_features_shapes_and_paper_encoding():
    qp = generate("random_qp", 6, 0)
    s = ADMM(qp.P, qp.q, qp.A, qp.l, qp.u)
    s.run(50)
    f = row_features(s, "mode8", "paper")
    assert f.shape == (qp.m, 4)
    assert np.allclose(f[:, 3], np.log10(s.rho_vec))
    assert row_features(s, "symlog", "relative").shape == (qp.m, 6)


def test_policy_is_called_at_every_adaptation_point_and_sets_the_vector():
    calls = []

    def policy(solver):
        calls.append(solver.iter)
        return np.full(solver.m, 0.5)

    qp = generate("random_qp", 10, 2)
    res = solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho=policy, adaptive_rho_interval=50)
    assert calls == list(range(50, res.iterations, 50)) or calls == list(range(50, res.iterations + 1, 50))
    assert res.refactorizations == 1 + len(calls)


def test_hand_rule_beats_osqp_on_random_qps_at_high_accuracy():
    its = {"osqp": [], "rule": []}
    for seed in range(6):
        qp = generate("random_qp", 20, 100 + seed)
        kw = dict(eps_abs=1e-5, eps_rel=1e-5, max_iter=3000)
        its["osqp"].append(solve(qp.P, qp.q, qp.A, qp.l, qp.u, **kw).iterations)
        its["rule"].append(solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho=ActiveSetRule(), **kw).iterations)
    assert np.mean(its["rule"]) < np.mean(its["osqp"])


def test_learned_policy_saves_and_loads_as_a_plain_torch_file(tmp_path):
    torch.manual_seed(0)
    pol = LearnedRhoPolicy(Actor(4, (8, 8)), "symlog", "paper")
    path = pol.save(tmp_path / "policy.pt")
    back = LearnedRhoPolicy.load(path)
    qp = generate("random_qp", 8, 0)
    kw = dict(eps_abs=1e-4, eps_rel=1e-4, max_iter=600)
    a = solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho=pol, **kw)
    b = solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho=back, **kw)
    assert a.iterations == b.iterations and np.allclose(a.x, b.x)
    assert torch.load(path, weights_only=True)["param"] == "paper"


def test_agent_stores_one_transition_per_row_and_learns():
    torch.manual_seed(0)
    agent = RLQP(RLQPConfig(**TINY), tiny_env, seed=0)
    m1 = agent.train_step()
    assert len(agent.buffer) > 0 and "loss/critic" in m1
    rows_per_step = m1["train/rows"]
    assert len(agent.buffer) % rows_per_step == 0
    ev = agent.evaluate(1)
    assert {"eval/iterations", "eval/success", "eval/speedup_vs_osqp"} <= set(ev)


def test_the_configured_discount_reaches_the_td_target():
    """Round-1 defect: the replay buffer was built without ``gamma``, so its own default 0.99 set
    the discount whatever ``RLQPConfig.gamma`` said."""
    for gamma in (0.5, 0.99):
        agent = RLQP(RLQPConfig(**TINY, gamma=gamma), tiny_env, seed=0)
        agent.train_step()
        batch = agent.buffer.sample(16)
        alive = batch["discount"] > 0
        assert alive.any() and torch.allclose(batch["discount"][alive], torch.tensor(gamma))


def test_schedule_in_updates_per_env_step():
    """Per-episode schedule: updates_per_step x the episode's env steps (fractions carried), after
    the random episodes. The release's: bursts of update_every x updates_per_step updates at every
    multiple of update_every env steps from update_after on, random actions for random_steps."""
    agent = RLQP(RLQPConfig(**TINY), tiny_env, seed=0)
    owed = 0.0
    for _ in range(5):
        before = agent.env_steps
        agent.train_step()
        if agent.episodes >= TINY["random_episodes"]:
            owed += 1.5 * (agent.env_steps - before)
        assert agent.grad_steps == int(owed + 1e-9)
    release = dict(TINY, random_episodes=0, random_steps=12, updates_per_step=0.5, update_every=8,
                   update_after=8)
    agent = RLQP(RLQPConfig(**release), tiny_env, seed=0)
    while agent.env_steps < 40:
        agent.train_step()
        assert agent.grad_steps == 4 * (agent.env_steps // 8)          # bursts at 8, 16, ...: 0.5 x 8 each


def _run(agent, steps):
    return [agent.train_step() for _ in range(steps)]


def test_parallel_collection_equals_serial_and_resumes_mid_round():
    """Episodes in worker processes: with the same rounds (``episodes_per_round=3``) two workers
    give exactly the numbers of one (every episode is a function of the seed and its index); a
    checkpoint taken inside a round (two episodes pending) resumes bit-exactly."""
    serial = RLQP(RLQPConfig(**TINY, episodes_per_round=3), tiny_env, seed=3)
    parallel = RLQP(RLQPConfig(**TINY, episodes_per_round=3, workers=2), tiny_env, seed=3)
    head = _run(parallel, 1)
    state = copy.deepcopy(parallel.state_dict())
    assert len(state["pending"]) == 2
    rest = _run(parallel, 4)
    assert head + rest == _run(serial, 5)
    resumed = RLQP(RLQPConfig(**TINY, episodes_per_round=3, workers=2), tiny_env, seed=3)
    resumed.load_state_dict(state)
    assert _run(resumed, 4) == rest
    assert len({m["train/rows"] for m in head + rest}) > 1            # the episodes draw different problems


def test_the_paper_preset_follows_the_released_trainer():
    """experiment=rlqp_paper against the release's train_benchmarks_full.sh / rlqp_train defaults."""
    from helpers import compose

    cfg = compose(["experiment=rlqp_paper"])
    algo, env = cfg.algo, cfg.env.kwargs
    schedule = (algo.batch_size, algo.updates_per_step, algo.update_every, algo.update_after)
    assert schedule == (100, 1.0, 1000, 1000)
    assert (algo.random_steps, algo.random_episodes, algo.buffer_rows) == (5000, 0, 100_000_000)
    assert (algo.lr, algo.lr_decay, algo.lr_decay_steps) == (1e-4, 0.999, 2000)
    assert list(algo.hidden) == [128, 128, 128]
    assert (algo.exploration, algo.exploration_noise, algo.features, algo.gamma, algo.tau) == (
        "shared", 2.0, "mode8", 0.99, 0.005)
    assert (env.iters_per_step, env.check_every, env.max_steps, env.eps) == (200, 200, 50, 1e-6)


def test_lr_decays_per_epoch_of_env_steps_and_resumes():
    torch.manual_seed(0)
    cfg = RLQPConfig(**TINY, lr_decay=0.5, lr_decay_steps=2)
    agent = RLQP(cfg, tiny_env, seed=0)
    agent.train_step()
    m = agent.train_step()
    steps_before_update = agent.env_steps
    assert m["train/lr"] == cfg.lr * 0.5 ** (steps_before_update // 2) < cfg.lr
    assert agent.learner.actor_optim.param_groups[0]["lr"] == m["train/lr"]
    assert agent.learner.critic_optim.param_groups[0]["lr"] == m["train/lr"]
    resumed = RLQP(cfg, tiny_env, seed=0)
    resumed.load_state_dict(agent.state_dict())
    assert resumed.env_steps == agent.env_steps and resumed._decay_lr() == m["train/lr"]


def test_solve_settings_call_the_policy_every_k_iterations():
    agent = RLQP(RLQPConfig(**TINY), tiny_env, seed=0)
    s = agent.solve_settings()
    assert isinstance(s, Settings) and s.adaptive_rho_interval == 50 and s.max_iter == 350


def test_scalar_policy_sets_one_rho_with_osqps_row_rule():
    torch.manual_seed(0)
    pol = LearnedRhoPolicy(Actor(4, (8,)), "symlog", "paper", scalar=True)
    qp = generate("control", 3, 0)                 # has equality rows
    s = ADMM(qp.P, qp.q, qp.A, qp.l, qp.u)
    s.run(50)
    rho = pol(s)
    assert isinstance(rho, float)
    s.adapt(pol)
    assert np.allclose(s.rho_vec, s.rho_vec_for(rho)) and s.eq.any()


def test_scalar_agent_trains_and_evaluates():
    torch.manual_seed(0)
    agent = RLQP(RLQPConfig(**TINY, scalar=True), tiny_env, seed=0)
    assert "loss/critic" in agent.train_step()
    assert 0.0 <= agent.evaluate(1)["eval/success"] <= 1.0


def test_report_rows_parse_back_into_numbers():
    from rlkit.algos.rlqp.report import compare, read_report

    problems = [generate("random_qp", 6, 0), generate("control", 2, 1)]
    rows, means = compare(problems, {"osqp default": "osqp", "hand rule": ActiveSetRule()},
                          Settings(eps_abs=1e-5, eps_rel=1e-5, adaptive_rho_interval=50), "tiny set")
    validation = "Validation (2 problems, mean iterations by episode): 250: 130, 500: 95. RLQP ..."
    text = "\n".join([validation, "", *rows])
    report = read_report(text)
    assert report["validation"] == {250: 130.0, 500: 95.0}
    parsed = report["sets"]["tiny set"]
    assert [r["class"] for r in parsed] == ["control"] * 2 + ["random_qp"] * 2 + ["all"] * 2
    overall = {r["method"]: r["mean"] for r in parsed if r["class"] == "all"}
    assert overall == {name: round(its) for name, its in means.items()}
    assert all(r["solved"] == 1.0 and r["refactorisations"] >= 1 for r in parsed)


def test_floor_and_per_class_terms_of_the_claim():
    """The floor: a problem not solved in the first K iterations (at OSQP's default rho) needs at
    least K + check_every; the claim counts classes at 3x fewer mean iterations than OSQP and classes
    with a lower shifted geometric mean."""
    from rlkit.algos.rlqp.report import class_counts, floor_iterations, per_class

    np.testing.assert_array_equal(floor_iterations([25, 50, 51, 400], 50, 25), [25, 50, 75, 75])
    problems = [generate("random_qp", 5, s) for s in range(2)] + [generate("control", 2, s) for s in range(2)]
    results = {"osqp": {"per_problem": [300, 330, 90, 120]}, "learned": {"per_problem": [100, 100, 75, 50]}}
    classes = per_class(problems, results, 50, 25)
    assert classes["random_qp"]["floor"]["mean"] == 75 and classes["control"]["floor"]["mean"] == 62.5
    counts = class_counts(classes, "learned")
    assert counts["classes"] == 2 and counts["at_3x"] == 1 and counts["sgm_below"] == 2
    assert counts["pooled_ratio"] == pytest.approx(840 / 325)
    assert counts["over_floor"] == pytest.approx(325 / 275)


def test_the_shipped_policy_loads_safely_and_needs_fewer_iterations_than_osqp():
    """The policy shipped in the package (rlkit/algos/rlqp/pretrained/qp_mixed.pt): plain data
    (weights_only), kilobytes, says what it was trained on, and on fresh problems of a training
    class needs fewer ADMM iterations than OSQP's adaptive rho through ``solve(..., rho="learned")``."""
    from rlkit.algos.rlqp import pretrained
    from rlkit.algos.rlqp.shipped import PRETRAINED

    path = PRETRAINED / "qp_mixed.pt"
    meta = torch.load(path, weights_only=True)["meta"]
    assert path.stat().st_size < 100_000
    assert {"trained_on", "iters_per_step", "check_every", "test_iterations", "test_classes"} <= set(meta)
    assert pretrained().meta == meta
    its: dict[str, list[int]] = {"osqp": [], "learned": []}
    for i in range(6):
        qp = generate("random_qp", 20, 900_000 + i)        # seeds far from the training streams
        for rho, runs in its.items():
            runs.append(solve(qp.P, qp.q, qp.A, qp.l, qp.u, rho=rho, eps_abs=1e-5, eps_rel=1e-5).iterations)
    assert np.mean(its["learned"]) < np.mean(its["osqp"]), its
    with pytest.raises(ValueError, match="no shipped rho policy 'nope'"):
        pretrained("nope")
