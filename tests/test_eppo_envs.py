"""EPPO's environments: MiniGrid layout split and the order-execution MDP with its baselines."""

import itertools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401
from rlkit.env_spec import EnvSpec
from rlkit.envs.order_execution import (
    DECISIONS,
    REGIMES,
    OrderExecutionEnv,
    baseline_pa,
    gain_loss_ratio,
    load_minute_bars,
    schedule_pa,
    synthetic_days,
)
from rlkit.rl.common import Evaluator


@pytest.mark.parametrize("env_id", ["rlkit/MiniGrid-v0", "rlkit/OrderExecution-v0"])
def test_envs_pass_the_gymnasium_checker(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


def _layout(env, seed=None):
    env.reset(seed=seed)
    grid = env.unwrapped.grid.encode()
    return grid.tobytes() + bytes(env.unwrapped.agent_pos)


def test_minigrid_trains_on_a_fixed_layout_set_and_evaluates_on_unseen_ones():
    train = gym.make("rlkit/MiniGrid-v0", task="MiniGrid-DoorKey-6x6-v0", train_layouts=3)
    train.reset(seed=0)
    seen = {_layout(train) for _ in range(60)}
    assert len(seen) <= 3
    spec = EnvSpec("rlkit/MiniGrid-v0", {"task": "MiniGrid-DoorKey-6x6-v0", "train_layouts": 3},
                   {"train_layouts": None})
    held = spec.for_eval().make()
    unseen = {_layout(held, seed) for seed in range(1000, 1040)}
    assert len(unseen - seen) >= 30
    obs, _ = held.reset(seed=0)
    assert obs.shape == (147,) and obs.dtype == np.float32 and obs.max() <= 1.0


def test_minigrid_grid_split_shares_no_grid_between_training_and_evaluation():
    """DoorKey-6x6's seeds generate 36 grids; the grid split trains on the first k and evaluates on
    the rest, where the seed split's 50 training seeds already cover 27 of the 36."""
    from rlkit.envs.minigrid import grid_split_seeds, seeds_by_grid

    task = "MiniGrid-DoorKey-6x6-v0"
    groups = seeds_by_grid(task, 2000)
    assert len(groups) == 36
    assert len({i for i, g in enumerate(groups) if any(s < 50 for s in g)}) == 27     # the seed split's leak
    train, heldout = grid_split_seeds(task, 8, "train"), grid_split_seeds(task, 8, "heldout")
    grid = lambda env: env.unwrapped.grid.encode().tobytes()
    seen = set()
    env = gym.make("rlkit/MiniGrid-v0", task=task, train_grids=8, grid_set="train")
    for seed in range(40):
        env.reset(seed=seed)
        seen.add(grid(env))
    test_env = gym.make("rlkit/MiniGrid-v0", task=task, train_grids=8, grid_set="heldout")
    unseen = set()
    for seed in range(40):
        test_env.reset(seed=seed)
        unseen.add(grid(test_env))
    assert len(seen) <= 8 and not seen & unseen and len(unseen) > 8
    assert not set(train) & set(heldout) and len(train) + len(heldout) == 2000
    with pytest.raises(ValueError, match="held-out grids"):
        grid_split_seeds(task, 36, "train")


def test_minigrid_success_flag():
    env = gym.make("rlkit/MiniGrid-v0", task="MiniGrid-Empty-5x5-v0", train_layouts=None)
    env.reset(seed=0)
    info, done = {}, False
    for a in [2, 2, 1, 2, 2]:    # forward x2, turn right, forward x2: the goal of Empty-5x5
        _, r, done, _, info = env.step(a)
    assert done and r > 0 and info["success"] == 1.0


def _play(env, actions, seed=0):
    env.reset(seed=seed)
    rewards, info = [], {}
    for a in actions:
        _, r, term, _, info = env.step(a)
        rewards.append(r)
        if term:
            break
    return rewards, info


def test_order_rewards_sum_to_the_price_advantage_and_the_order_completes():
    env = OrderExecutionEnv(num_days=20, penalty=0.0, scale=1.0)
    for actions in ([1] * 8, [0] * 7 + [0], [4], [2, 0, 3, 1, 0, 0, 0, 0]):
        rewards, info = _play(env, actions)
        assert env.remaining == 0 and env.fractions.sum() == pytest.approx(1.0)
        assert sum(rewards) == pytest.approx(info["episode_metrics"]["pa_bps"], rel=1e-9, abs=1e-9)
    _play(env, [0] * 8)
    assert env.fractions[-1] == 1.0            # the last decision liquidates the remainder


def test_order_penalty_is_qlibs_quadratic_tick_penalty():
    env = OrderExecutionEnv(num_days=20, penalty=4.0, scale=0.01)
    r_pen, _ = _play(env, [4])
    r_free, _ = _play(OrderExecutionEnv(num_days=20, penalty=0.0, scale=0.01), [4])
    # everything in one decision: 6 ticks of 1/6 of Q -> penalty 4 * 6 * (1/6)^2
    assert r_free[0] - r_pen[0] == pytest.approx(0.01 * 4 * 6 / 36)


def test_order_sides_and_price_advantage_sign():
    env = OrderExecutionEnv(num_days=50)
    env.reset(seed=3)
    d = env.d
    cheap = np.zeros(DECISIONS)
    cheap[np.argmin(env.days.price[d].reshape(DECISIONS, -1).mean(1))] = 1.0
    dear = np.zeros(DECISIONS)
    dear[np.argmax(env.days.price[d].reshape(DECISIONS, -1).mean(1))] = 1.0
    pa = lambda frac, side: schedule_pa(env.days, d, frac, side, env.Q)
    assert pa(cheap, +1.0) > pa(dear, +1.0)     # buy low
    assert pa(dear, -1.0) > pa(cheap, -1.0)     # sell high


def test_oracle_is_the_best_schedule_of_the_action_set():
    env = OrderExecutionEnv(num_days=30, penalty=0.0, scale=1.0)
    for seed in range(3):
        env.reset(seed=seed)
        best = max(schedule_pa(env.days, env.d, np.array(f, float) / 4, env.side, env.Q)
                   for f in itertools.product(range(5), repeat=DECISIONS) if sum(f) == 4)
        oracle = env.baseline_schedules()["oracle"]
        assert schedule_pa(env.days, env.d, oracle, env.side, env.Q) == pytest.approx(best)


def test_baselines_twap_pays_only_costs_and_oracle_bounds_them():
    env = gym.make("rlkit/OrderExecution-v0", num_days=200)
    pa = baseline_pa(env, 100, 0)
    assert pa["oracle"].mean() > pa["vwap"].mean() and pa["oracle"].mean() > pa["twap"].mean()
    assert -15 < pa["twap"].mean() < 0          # spread + impact, no timing gain on average
    assert gain_loss_ratio(np.array([2.0, 4.0, -1.0])) == pytest.approx(3.0)


def test_shifted_regime_is_more_volatile_and_the_signal_weaker():
    train, shifted = synthetic_days(REGIMES["train"], 400, 0), synthetic_days(REGIMES["shifted"], 400, 0)
    ret = lambda m: np.diff(np.log(m.price[:, ::6]), axis=1)
    assert ret(shifted).std() > ret(train).std()
    corr = lambda m: np.corrcoef(m.signal[:, 1:-1].ravel(), ret(m)[:, 1:].ravel())[0, 1]
    assert corr(train) > corr(shifted) > 0


def test_evaluator_averages_episode_metrics():
    ev = Evaluator(lambda: gym.make("rlkit/OrderExecution-v0", num_days=20))
    out = ev.run(lambda o: 1, 3, seed=0)
    assert "eval/pa_bps" in out and np.isfinite(out["eval/pa_bps"])


def test_minute_bar_csv_loader(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    times = [t for day in ("2024-01-02", "2024-01-03", "2024-01-04")
             for t in pd.date_range(f"{day} 09:30", periods=240, freq="1min")]
    frame = pd.DataFrame({"datetime": times, "close": 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, len(times)))),
                          "volume": rng.integers(100, 1000, len(times))})
    frame.to_csv(tmp_path / "bars.csv", index=False)
    days = load_minute_bars(tmp_path / "bars.csv")
    assert days.price.shape == (3, 48) and days.volume[0, 0] == frame.volume[:5].sum()
    env = OrderExecutionEnv(data_path=str(tmp_path / "bars.csv"))
    _, info = _play(env, [1] * 8)
    assert np.isfinite(info["episode_metrics"]["pa_bps"])
    frame.drop(columns="volume").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="volume"):
        load_minute_bars(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="data_path"):
        load_minute_bars(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="regime"):
        OrderExecutionEnv(regime="bull")


def test_atari_pipeline_and_nature_cnn_ensemble_smoke():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    from rlkit.algos.eppo import EPPO, EPPOConfig

    spec = EnvSpec("rlkit/Atari-v0", {"game": "Pong", "max_episode_steps": 200},
                   {"episodic_life": False, "clip_reward": False})
    env = spec.make()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    algo = EPPO(EPPOConfig(encoder="nature_cnn", hidden=(32,), num_envs=2, num_steps=8, num_minibatches=2,
                           update_epochs=1, num_policies=2), spec, seed=0)
    metrics = algo.train_step()
    assert np.isfinite(metrics["loss/ens"]) and metrics["stats/entropy_gap"] >= -1e-6
    assert env.action_space.contains(int(algo.act(obs))) and algo.act(np.stack([obs] * 3)).shape == (3,)


def test_grouped_cnn_members_equal_separate_trunks():
    import torch

    from rlkit.nn import NatureCNN

    cnn = NatureCNN((2, 36, 36), 8, members=3)
    x = torch.rand(5, 2, 36, 36) * 255
    out = cnn(x)
    E = 3
    for k in range(E):
        h = x
        for m in cnn.conv:
            if isinstance(m, torch.nn.Conv2d):
                w = m.weight.chunk(E)[k]
                h = torch.nn.functional.conv2d(h, w, m.bias.chunk(E)[k], stride=m.stride)
            else:
                h = m(h)
        h = torch.relu(h.flatten(1) @ cnn.fc.layers[0].weight[k] + cnn.fc.layers[0].bias[k, 0])
        torch.testing.assert_close(out[k], h, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("task", ["MiniGrid-DoorKey-6x6-v0", "MiniGrid-KeyCorridorS3R2-v0",
                                  "MiniGrid-LavaCrossingS9N1-v0", "MiniGrid-Dynamic-Obstacles-6x6-v0",
                                  "MiniGrid-ObstructedMaze-1Dlhb-v0"])
def test_fast_egocentric_view_equals_minigrids_gen_obs(task):
    """Every direction, walls beyond the grid edge, doors opened, keys carried and dropped,
    moving obstacles (random play), with one view object kept across steps and resets as in
    training, so that its cached grid encoding must follow every change."""
    import minigrid  # noqa: F401

    from rlkit.envs.minigrid import EgocentricView

    env = gym.make(task)
    base = env.unwrapped
    view = EgocentricView(base)
    rng = np.random.default_rng(0)
    steps = episode = 0
    while steps < 150:
        env.reset(seed=episode)
        episode += 1
        for _ in range(60):
            action = int(rng.integers(7)) if rng.random() < 0.5 else int(rng.integers(3))  # mostly moves
            _, _, terminated, truncated, _ = env.step(action)
            np.testing.assert_array_equal(view()["image"], base.gen_obs()["image"])
            steps += 1
            if terminated or truncated:
                break


@pytest.mark.parametrize("view_size", [3, 5, 9])
def test_fast_egocentric_view_other_view_sizes(view_size):
    import minigrid  # noqa: F401

    from rlkit.envs.minigrid import EgocentricView

    env = gym.make("MiniGrid-DoorKey-8x8-v0", agent_view_size=view_size)
    base = env.unwrapped
    view = EgocentricView(base)
    rng = np.random.default_rng(1)
    env.reset(seed=2)
    for _ in range(80):
        env.step(int(rng.integers(7)) if rng.random() < 0.5 else int(rng.integers(3)))
        np.testing.assert_array_equal(view()["image"], base.gen_obs()["image"])


def test_fast_egocentric_view_follows_grid_changes():
    """A box opened into its key, a door toggled by hand, an object dropped: the cached encoding
    is rebuilt each time."""
    import minigrid  # noqa: F401
    from minigrid.core.world_object import Box, Door, Key

    from rlkit.envs.minigrid import EgocentricView

    env = gym.make("MiniGrid-Empty-8x8-v0")
    base = env.unwrapped
    env.reset(seed=0)
    view = EgocentricView(base)
    front = base.front_pos
    base.grid.set(*front, Box("red", contains=Key("blue")))
    door = Door("yellow", is_locked=True)
    base.grid.set(front[0] + 1, front[1], door)
    checks = [lambda: None, lambda: env.step(base.actions.toggle), lambda: env.step(base.actions.pickup),
              lambda: setattr(door, "is_locked", False), lambda: setattr(door, "is_open", True),
              lambda: env.step(base.actions.left), lambda: env.step(base.actions.right),
              lambda: env.step(base.actions.drop)]
    for change in checks:
        change()
        np.testing.assert_array_equal(view()["image"], base.gen_obs()["image"])
    assert base.carrying is None and isinstance(base.grid.get(*base.front_pos), Key)


def test_minigrid_fast_view_flag_keeps_observations():
    fast, slow = (gym.make("rlkit/MiniGrid-v0", fast_view=f) for f in (True, False))
    a, _ = fast.reset(seed=3)
    b, _ = slow.reset(seed=3)
    np.testing.assert_array_equal(a, b)
    for action in [0, 2, 2, 1, 2, 3, 5, 2, 2]:
        np.testing.assert_array_equal(fast.step(action)[0], slow.step(action)[0])
