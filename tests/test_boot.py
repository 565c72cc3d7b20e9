"""BooT / Trajectory Transformer: data pipeline, model, generation, planner and agent."""

import math

import numpy as np
import pytest
import torch

from rlkit.algos.boot import BeamPlanner, BooT, BooTConfig, PlannerConfig, QuantileDiscretizer, reward_to_go
from rlkit.algos.boot.agent import lr_multiplier
from rlkit.algos.boot.data import build_windows, joined_transitions
from rlkit.algos.boot.generation import GenerationConfig, autoregressive, filter_by_confidence, teacher_forcing
from rlkit.algos.boot.model import TrajectoryGPT, trajectory_loss
from rlkit.algos.boot.planner import filter_cdf, rollout
from rlkit.data import DatasetError, OfflineDataset, load_dataset
from rlkit.env_spec import EnvSpec

PENDULUM_BUILDER = "rlkit.dataset_builders.pendulum_mixed"
PENDULUM = EnvSpec("Pendulum-v1", dataset="local:pendulum_mixed", dataset_builder=PENDULUM_BUILDER)
TINY = dict(n_layer=1, n_head=2, n_embd=8, batch_size=16, n_bins=20, beam_width=4, horizon=2,
            eval_max_steps=3, generation_num=4, generation_confidence_factor=0.25)


@pytest.fixture(scope="module")
def pendulum_env():
    return PENDULUM    # generated under RLKIT_DATA_DIR


def _toy(terminal_at: int | None = None) -> OfflineDataset:
    n = 6
    term = np.zeros(n, bool)
    tout = np.zeros(n, bool)
    tout[2] = True
    if terminal_at is not None:
        term[terminal_at] = True
    else:
        tout[5] = True
    return OfflineDataset(observations=np.arange(n, dtype=np.float32)[:, None],
                          actions=np.zeros((n, 1), np.float32), rewards=np.arange(1, n + 1, dtype=np.float32),
                          terminals=term, timeouts=tout)


def test_reward_to_go_excludes_current_reward():
    r = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(reward_to_go(r, 0.5), [2 + 0.5 * 3, 3, 0])


def test_termination_penalty_replaces_reward_and_episodes_split():
    eps, returns = joined_transitions(_toy(terminal_at=5), 1.0, -100.0)
    assert [len(e) for e in eps] == [3, 3]
    np.testing.assert_allclose(eps[1][:, 2], [4, 5, -100])          # penalty replaces r at the terminal
    np.testing.assert_allclose(eps[1][:, 3], [5 - 100, -100, 0])     # RTG uses penalised rewards
    np.testing.assert_allclose(returns, [6, 15])                     # raw returns kept


def test_discretizer_quantiles_midpoints_and_expectation():
    data = np.random.default_rng(0).normal(size=(1000, 3))
    d = QuantileDiscretizer(data, 10)
    tok = d.discretize(data)
    assert tok.min() == 0 and tok.max() == 9
    counts = np.stack([np.bincount(tok[:, k], minlength=10) for k in range(3)])
    assert counts.min() >= 95 and counts.max() <= 105            # equal-mass bins
    rec = d.reconstruct(tok)
    np.testing.assert_array_equal(d.discretize(rec), tok)         # midpoints re-discretise to the bin
    probs = torch.zeros(2, 11, dtype=torch.float64)
    probs[0, 3] = 1.0
    probs[1, 10] = 1.0                                            # stop-token mass is ignored
    np.testing.assert_allclose(d.expectation(probs, 1).numpy(), [d.midpoints[1, 3], 0.0])


def test_windows_pad_with_stop_tokens_and_mask_beyond_first_pad():
    ds = _toy()
    eps, _ = joined_transitions(ds, 0.99, -100.0)
    disc = QuantileDiscretizer(np.concatenate(eps), 5)
    w = build_windows(eps, disc, seq_len=3)
    assert len(w) == 4                                            # starts 0..T-2 per episode
    X, Y, mask = w.batch(torch.tensor([1]))                       # episode 0, start 1: steps 1, 2, 3(pad)
    D = w.transition_dim
    seq = torch.cat([X, Y[:, -1:]], 1).view(3, D)
    assert (seq[2] == 5).all() and (seq[:2] < 5).all()           # stop token = n_bins
    full_mask = torch.cat([torch.ones(1, 1, dtype=torch.bool), mask], 1).view(3, D)
    assert full_mask[:2].all() and full_mask[2].all()             # step 3 == T: still trained on
    X, Y, mask = build_windows(eps, disc, seq_len=4).batch(torch.tensor([1]))
    assert not mask[0, -D:].any()                                 # step 4 > T: masked


def _model(obs=2, act=1, bins=7, dtype=torch.float32):
    torch.manual_seed(0)
    return TrajectoryGPT(obs, act, bins, block_size=5 * (obs + act + 2) - 1, n_layer=2, n_head=2,
                         n_embd=16, dropout=0.0).to(dtype).eval()


def test_model_never_attends_to_reward_to_go_tokens():
    m = _model()
    D = m.transition_dim
    x = torch.randint(0, 7, (2, 3 * D))
    y = x.clone()
    y[:, D - 1] = (x[:, D - 1] + 3) % 7                           # change an R token
    lx, ly = m(x), m(y)
    # positions after the R token only see it through attention, which is masked; the R position
    # itself differs through its own residual stream
    keep = [p for p in range(3 * D) if p != D - 1]
    torch.testing.assert_close(lx[:, keep], ly[:, keep])


def test_per_dimension_offsets_heads_and_stop_token():
    m = _model()
    D = m.transition_dim
    x = torch.zeros(1, D, dtype=torch.long)
    emb = m.embed(x, past=0)
    torch.testing.assert_close(emb[0, 1], m.tok_emb.weight[7])    # dim 1 token 0 -> index 1 * n_bins
    stop = m.embed(torch.full((1, 1), 7), past=3)
    torch.testing.assert_close(stop[0, 0], m.tok_emb.weight[m.stop_token])
    assert m.heads.shape == (D, 8, 16)
    assert m(x).shape == (1, D, 8)


def test_kv_cache_matches_full_forward_with_key_mask():
    m = _model(dtype=torch.float64)
    x = torch.randint(0, 7, (3, 17))
    full = m(x)
    cache = m.new_cache()
    parts = [m(x[:, :9], cache)] + [m(x[:, i:i + 1], cache) for i in range(9, 17)]
    torch.testing.assert_close(torch.cat(parts, 1), full)


def test_unfused_attention_equals_fused():
    a = _model(dtype=torch.float64)
    b = TrajectoryGPT(2, 1, 7, 24, 2, 2, 16, 0.0, fused_attention=False).to(torch.float64).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 7, (2, 20))
    torch.testing.assert_close(a(x), b(x))


def test_loss_weights_action_tokens_five_times():
    m = _model()
    D = m.transition_dim
    w = m.token_weights()
    assert w.tolist() == [1, 1, 5, 1, 1]
    logits = torch.zeros(1, D - 1, 8)
    y = torch.zeros(1, D - 1, dtype=torch.long)
    loss, per = trajectory_loss(logits, y, torch.ones(1, D - 1), w)
    ce = math.log(8)
    # target t has within-transition index t + 1: obs1, act, r, R
    torch.testing.assert_close(per[0], torch.tensor([ce, 5 * ce, ce, ce]))
    torch.testing.assert_close(loss, torch.tensor(8 * ce / 4))


def test_filter_cdf_drops_the_low_mass_tail():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = filter_cdf(probs.log(), 0.6).softmax(-1)
    # sorted ascending: .05, .15, .3, .5 -> cumsum < .6 for .05, .15 (0.2) and .3 (0.5): keep only .5
    assert torch.allclose(out, torch.tensor([[1.0, 0, 0, 0]]), atol=1e-6)
    out = filter_cdf(probs.log(), 0.1).softmax(-1)
    assert out[0, 3] < 1e-6 and out[0, :3].sum() > 0.999


def test_generation_keeps_prefix_and_confidence_conventions():
    m = _model(dtype=torch.float64)
    D = m.transition_dim
    X = torch.randint(0, 7, (4, 3 * D - 1))
    Y = torch.cat([X[:, 1:], torch.randint(0, 7, (4, 1))], 1)
    full = torch.cat([X, Y[:, -1:]], 1)
    g = torch.Generator().manual_seed(0)
    cfg = GenerationConfig(num=2, real_r=True, real_R=True)
    tf, conf_tf = teacher_forcing(m, X, Y, cfg, g)
    assert tf.shape == (8, 3 * D) and conf_tf.shape == (8,)
    torch.testing.assert_close(tf[:, :2 * D], full.repeat(2, 1)[:, :2 * D])     # real prefix kept
    torch.testing.assert_close(tf[:, -2:], full.repeat(2, 1)[:, -2:])          # real r, R copied
    ar, conf_ar = autoregressive(m, X, Y, cfg, g)
    torch.testing.assert_close(ar[:, :2 * D], full.repeat_interleave(2, 0)[:, :2 * D])
    # AR confidence is a mean log10 p (>= log10 of the smallest prob), TF a sum over D tokens
    assert (conf_ar <= 0).all() and (conf_tf <= 0).all()
    # greedy observation tokens: argmax of the teacher-forced logits
    logits = m(X)[:, -D:]
    torch.testing.assert_close(tf[:4, -D:-D + 2], logits[:, :2].argmax(-1))
    g5 = torch.Generator().manual_seed(5)
    cached, conf_c = autoregressive(m, X, Y, GenerationConfig(num=2, cache=True), g5)
    plain, conf_p = autoregressive(m, X, Y, GenerationConfig(num=2), torch.Generator().manual_seed(5))
    torch.testing.assert_close(cached, plain)
    torch.testing.assert_close(conf_c, conf_p)


def test_padded_windows_and_stop_tokens_can_be_left_out_of_generation():
    """Official: every window generates and the filter may keep padded ones; unpadded_only drops the
    windows that reach into stop padding, reject_stop the candidates that generate a stop token;
    ``stats`` says how much of what was kept came from padded windows or holds a stop token."""
    from rlkit.algos.boot.generation import generate

    m = _model(dtype=torch.float64)
    D, stop = m.transition_dim, m.n_bins
    X = torch.randint(0, 7, (6, 3 * D - 1))
    Y = torch.cat([X[:, 1:], torch.randint(0, 7, (6, 1))], 1)
    mask = torch.ones_like(Y, dtype=torch.bool)
    X[3:, -D + 1:], Y[3:, -D:], mask[3:, -D:] = stop, stop, False        # windows 3-5 end in padding
    for kind in ("tf", "ar"):
        stats: dict = {}
        official = GenerationConfig(kind=kind, num=2, confidence_type="none")
        seqs, _, _ = generate(m, X, Y, mask, official, torch.Generator().manual_seed(0), stats)
        assert len(seqs) == 12 and stats["kept_padded"] == 0.5
        clean = GenerationConfig(kind=kind, num=2, confidence_type="none", unpadded_only=True, reject_stop=True)
        seqs, masks, _ = generate(m, X, Y, mask, clean, torch.Generator().manual_seed(0), stats)
        assert stats["kept_padded"] == 0.0 and stats["kept_stop"] == 0.0 and masks.all()
        assert not (seqs[:, -D:] == stop).any() and len(seqs) <= 6


def test_confidence_filters():
    c = torch.tensor([-0.1, -0.5, -0.3, -2.0])
    assert filter_by_confidence(c, "ratio", 0.5).tolist() == [0, 2]
    assert filter_by_confidence(c, "thresh", 0.4).tolist() == [0, 2]
    assert len(filter_by_confidence(c, "none", 0.0)) == 4


def test_lr_schedule_boot_quirk_and_tt_floor():
    assert lr_multiplier(50, 100, 1100, True) == 0.5
    assert lr_multiplier(100, 100, 1100, True) == 1.0
    assert lr_multiplier(599, 100, 1100, True) > 0.5           # cosine just before half
    assert lr_multiplier(601, 100, 1100, True) == 0.1          # BooT: hard drop past half
    assert 0.49 < lr_multiplier(601, 100, 1100, False) < 0.5   # TT: the cosine continues
    assert lr_multiplier(5000, 100, 1100, False) == 0.1


def _planner(cache: bool, seed: int = 0) -> BeamPlanner:
    m = _model(obs=3, act=2, bins=9, dtype=torch.float64)
    data = np.random.default_rng(0).normal(size=(500, 7))
    cfg = PlannerConfig(horizon=4, beam_width=6, n_expand=2, max_context_transitions=2, cache=cache)
    return BeamPlanner(m, QuantileDiscretizer(data, 9), cfg, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("context", [0, 1, 3])
def test_cached_planner_chooses_the_same_plans_with_fewer_tokens(context):
    prefix = torch.randint(0, 9, (3, context * 7 + 3))
    ref, fast = _planner(cache=False), _planner(cache=True)
    p_ref, v_ref = ref.plan(prefix)
    p_fast, v_fast = fast.plan(prefix)
    torch.testing.assert_close(p_fast, p_ref, rtol=0, atol=0)
    torch.testing.assert_close(v_fast, v_ref)
    np.testing.assert_array_equal(ref.actions(p_ref), fast.actions(p_fast))


def test_batched_planning_equals_one_episode_at_a_time_for_one_episode():
    prefix = torch.randint(0, 9, (1, 10))
    a, _ = _planner(cache=True).plan(prefix)
    b, _ = _planner(cache=False).plan(prefix)
    assert a.shape == (1, 4, 7)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_generation_check_counts_every_window_and_the_padded_share(pendulum_env):
    """The validity check generates from every window of its batches and reports the share of kept
    candidates made from padded windows; with generation_unpadded_only that share is 0, and the
    training step logs the same share (stats/kept_padded)."""
    shares = {}
    for unpadded in (False, True):
        cfg = BooTConfig(**TINY, generation_epoch_thresh=0.0, generation_type="teacherforcing",
                         generation_unpadded_only=unpadded,
                         generation_reject_stop=unpadded)
        agent = BooT(cfg, pendulum_env, seed=0)
        checks = agent.generation_error(3)
        assert {"generated_state_rmse_bins", "generated_checked", "generated_with_stop",
                "generated_from_padded"} <= set(checks)
        assert checks["generated_checked"] + checks["generated_with_stop"] > 0
        shares[unpadded] = checks["generated_from_padded"]
        agent.steps_per_epoch = 2
        m = agent.train_step()
        assert 0.0 <= m["stats/kept_padded"] <= 1.0 and (not unpadded or m["stats/kept_padded"] == 0.0)
    assert shares[True] == 0.0 and 0.0 <= shares[False] <= 1.0


def test_agent_trains_bootstraps_and_resumes(pendulum_env):
    for gen in ("teacherforcing", "autoregressive"):
        for kind in ("once", "repeat"):
            cfg = BooTConfig(**TINY, generation_epoch_thresh=0.0, generation_type=gen, bootstrap_type=kind)
            agent = BooT(cfg, pendulum_env, seed=0)
            agent.steps_per_epoch = 2                      # force epoch ends quickly
            agent.order = agent.order[:32]
            for _ in range(5):
                m = agent.train_step()
            assert m["stats/bootstrapping"] == 1.0 and math.isfinite(m["loss/train"])
            if kind == "once":
                assert m["stats/generated"] == 16 and math.isfinite(m["loss/bootstrap"])
            else:
                assert len(agent.pool) > 0


def test_control_arm_uses_real_windows(pendulum_env):
    agent = BooT(BooTConfig(**TINY, generation_epoch_thresh=0.0, bootstrap_control=True), pendulum_env, seed=0)
    m = agent.train_step()
    assert m["stats/generated"] == 16 and "stats/confidence" not in m
    cfg = BooTConfig(**{**TINY, "generation_num": 1}, generation_epoch_thresh=0.0, bootstrap_control=True)
    agent = BooT(cfg, pendulum_env, seed=0)
    agent.cursor = len(agent.order) - 3        # a short last batch: int(3 windows x 1 x 0.25) keeps none
    m = agent.train_step()
    assert m["stats/generated"] == 0 and "loss/bootstrap" not in m and math.isfinite(m["loss/train"])


def test_agent_evaluates_with_planner_and_reports_nll(pendulum_env):
    agent = BooT(BooTConfig(**TINY, bootstrap=False), pendulum_env, seed=0)
    agent.train_step()
    ev = agent.evaluate(2)
    assert ev["eval/length"] == 3 and math.isfinite(ev["eval/return"])
    nll = agent.nll(agent.windows)
    assert set(nll) == {"loss", "obs", "action", "reward", "value", "all", "model", "argmax_rmse_bins"}
    assert all(0 < nll[k] < 10 for k in nll if k != "argmax_rmse_bins")
    assert 0 <= nll["argmax_rmse_bins"] < agent.cfg.n_bins
    parts = [nll["obs"], nll["reward"], nll["value"]]          # model: obs, reward and reward-to-go tokens
    assert min(parts) <= nll["model"] <= max(parts)
    open_loop = agent.open_loop_error(agent.windows, steps=5, n=32)
    assert open_loop == agent.open_loop_error(agent.windows, steps=5, n=32)          # seeded
    assert 0 <= open_loop["open_loop_rmse_bins"] < agent.cfg.n_bins
    for name in agent.heldout:
        assert f"eval/{name}/open_loop_rmse_bins" in ev and f"eval/{name}/model" in ev
    assert agent.act(np.zeros(3)).shape == (1,)


def test_heldout_curves_leave_training_unchanged(pendulum_env):
    """heldout_every adds the held-out metrics to every N-th real-data step's metrics (the curves
    and the best-validation checkpoint of the claim) without changing what is trained."""
    sets = {"heldout": {"val": "local:pendulum_mixed_val"},
            "heldout_builders": {"val": PENDULUM_BUILDER + "_val"}, "generation_epoch_thresh": 0.0}
    plain = BooT(BooTConfig(**TINY, **sets), pendulum_env, seed=0)
    curves = BooT(BooTConfig(**TINY, **sets, heldout_every=2), pendulum_env, seed=0)
    for step in range(1, 5):
        a, b = plain.train_step(), curves.train_step()
        assert ("eval/val/model" in b) == (step % 2 == 0) and "eval/val/model" not in a
        assert a["loss/train"] == b["loss/train"] and a["loss/bootstrap"] == b["loss/bootstrap"]
    assert b["eval/val/model"] == curves.heldout_metrics()["eval/val/model"]
    with pytest.raises(Exception, match="heldout_every"):
        BooTConfig(**TINY, heldout_every=-1)


def test_rollout_plans_episodes_in_lockstep():
    import gymnasium as gym

    planner = _planner(cache=True)
    planner.model = TrajectoryGPT(3, 1, 9, 34, 1, 2, 8, 0.0).to(torch.float64).eval()
    planner.obs_dim, planner.act_dim, planner.D = 3, 1, 6
    planner.disc = QuantileDiscretizer(np.random.default_rng(0).normal(size=(100, 6)), 9)
    res = rollout(planner, [gym.make("Pendulum-v1") for _ in range(2)], [0, 1], max_steps=3)
    assert res["length"].tolist() == [3, 3]


def test_bad_dataset_inputs_give_clear_errors(tmp_path, pendulum_env):
    with pytest.raises(DatasetError, match="python -m rlkit.dataset_builders"):
        load_dataset("local:no_such_set")
    with pytest.raises(DatasetError, match="builder 'rlkit.nowhere.build' not found"):
        load_dataset("local:no_such_set", "rlkit.nowhere.build")
    with pytest.raises(DatasetError, match="unknown source"):
        load_dataset("s3:bucket")
    with pytest.raises(Exception, match="pair the dataset with its env"):
        BooT(BooTConfig(**TINY), EnvSpec("CartPole-v1", dataset=PENDULUM.dataset))
    with pytest.raises(Exception, match="needs a dataset"):
        BooT(BooTConfig(**TINY), "Pendulum-v1")


def test_mujoco_dataset_command_writes_every_level(tmp_path):
    from rlkit.dataset_builders import main

    main(["mujoco", "--env", "Hopper-v5", "--sac-steps", "30", "--eval-every", "15", "--steps", "40",
          "--medium-return=-1e9", "--out", str(tmp_path)])
    for level in ("random", "medium", "medium-replay", "expert", "medium-expert"):
        ds = load_dataset(str(tmp_path / f"hopper-{level}.hdf5"))
        assert ds.observations.shape[1] == 11 and ds.actions.shape[1] == 3
        assert (ds.terminals | ds.timeouts)[-1]
    assert len(load_dataset(str(tmp_path / "hopper-medium-replay.hdf5"))) == 15   # SAC's data until medium
    assert len(load_dataset(str(tmp_path / "hopper-medium-expert.hdf5"))) == 80


def test_pendulum_splits_differ_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RLKIT_DATA_DIR", str(tmp_path))
    train = load_dataset("local:pendulum_mixed", PENDULUM_BUILDER)
    assert len(train) == 6000 and (tmp_path / "pendulum_mixed.hdf5").exists()
    assert len(load_dataset("local:pendulum_mixed_shifted", PENDULUM_BUILDER + "_shifted")) == 2000
    iid = load_dataset("local:pendulum_mixed_iid", "rlkit.dataset_builders:pendulum_mixed_iid")
    val = load_dataset("local:pendulum_mixed_val", PENDULUM_BUILDER + "_val")
    assert len(load_dataset("local:pendulum_mixed")) == 6000       # cached: no builder needed now
    assert len(val) == len(iid) == 3000
    assert not np.allclose(train.observations[:200], iid.observations[:200])
    assert not np.allclose(val.observations[:200], iid.observations[:200])


def test_runner_steps_null_runs_the_official_schedule(tmp_path):
    from helpers import ROOT, TINY_BOOT
    from hydra import compose, initialize_config_dir

    from rlkit.runner import run_experiment

    over = ["algo=boot", "env=pendulum_mixed", *TINY_BOOT, "algo.batch_size=2048", "algo.n_epochs=2",
            "algo.bootstrap=false",                       # the schedule, not bootstrapping (tested above)
            "runner.steps=null", "runner.eval_every=100", "runner.log_every=1", "runner.checkpoint_every=100",
            "runner.eval_episodes=1", "logger.wandb.mode=disabled"]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=over)
    summary = run_experiment(cfg, tmp_path)
    assert summary["steps"] == 2 * 3                      # 2 epochs x ceil(5970 / 2048) batches
    assert "eval/return" in summary["final"]
    from rlkit.algos.boot.evaluate import main as evaluate

    out = evaluate([str(tmp_path), "--episodes", "3", "--beam-width", "2"])   # 3 episodes in one batch
    assert out["eval/length"] == 3 and (tmp_path / "evaluation.json").exists()
