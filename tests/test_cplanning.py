"""C-learning's relabelling and loss against hand-computed values; the 2D point mazes."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401
from rlkit.algos.cplanning import CLearner, CLearningConfig, relabel_batch, targets_and_weights
from rlkit.algos.cplanning.clearning import truncated_geometric
from rlkit.data.episodes import EpisodeBuffer
from rlkit.envs.point_maze import PointMazeEnv, geodesic_distances, wall_map


@pytest.mark.parametrize(("name", "resize", "free", "longest"),
                         [("FourRooms", 1, 104, 20), ("Maze6x6", 1, 21, 20), ("Maze6x6", 2, 84, 36),
                          ("Maze11x11", 1, 67, 66)])
def test_maze_maps_match_the_spec_geodesics(name, resize, free, longest):
    walls = wall_map(name, resize)
    d = geodesic_distances(walls)
    cells = ~walls.ravel()
    assert cells.sum() == free and d[np.ix_(cells, cells)].max() == longest


def test_point_maze_dynamics_block_walls_and_flag_success():
    env = PointMazeEnv("Maze6x6", resize=1, action_noise=0.0)
    check_env(env, skip_render_check=True)
    env.reset(seed=0, options={"start": [0.5, 1.5], "goal": [4.5, 0.5]})
    env.step(np.array([0.0, 1.0]))            # (0, 2) is a wall: the column move is dropped at the wall
    assert env.pos[1] < 2.0 and env.pos[0] == pytest.approx(0.5)
    env.reset(seed=0, options={"start": [0.5, 0.5], "goal": [1.2, 1.2]})
    _, r, _, _, info = env.step(np.array([1.0, 1.0]))
    assert r == 1.0 and info["success"] == 1.0
    env.reset(seed=0, options={"start": [0.5, 0.5], "goal": [5.5, 5.5]})
    for _ in range(5):
        env.step(np.array([-1.0, -1.0]))      # out of the map is blocked too
    assert (env.pos >= 0).all()


def test_targets_and_weights_by_hand():
    cfg = CLearningConfig(gamma=0.9, batch_size=10)
    c_next = torch.tensor([0.5] * 5 + [0.5, 0.0, 0.9, 0.99, 0.2], dtype=torch.float64)
    target, weight = targets_and_weights(c_next, cfg)
    w = torch.tensor([1.0, 0.0, 9.0, 10.0, 0.25], dtype=torch.float64)   # 0.99/0.01 = 99 -> clipped to 10
    y = 0.9 * w / (1 + 0.9 * w)
    torch.testing.assert_close(target, torch.cat([torch.ones(5, dtype=torch.float64), y]))
    expected_weight = torch.tensor([0.1, 0.1, 0.1, 1.0, 1.0, *(1 + 0.9 * w).tolist()], dtype=torch.float64)
    torch.testing.assert_close(weight, expected_weight)
    unclipped, _ = targets_and_weights(c_next, CLearningConfig(gamma=0.9, batch_size=10, w_clip=-1))
    assert unclipped[8] == pytest.approx(0.9 * 99 / (1 + 0.9 * 99))


def test_truncated_geometric_matches_its_distribution():
    g = torch.Generator().manual_seed(0)
    k = truncated_geometric(torch.full((200_000,), 4), 0.5, g)
    p = torch.bincount(k, minlength=4).double() / len(k)
    expected = torch.tensor([8, 4, 2, 1], dtype=torch.float64) / 15
    torch.testing.assert_close(p, expected, atol=0.005, rtol=0)


LENGTHS = [3, 17, 8, 30, 200]


def _counting_buffer():
    """Episodes whose states are (episode, t): a goal tells which state it was taken from."""
    buf = EpisodeBuffer({"obs": (2,), "action": (2,), "next_obs": (2,)}, 1000, seed=0)
    for e, length in enumerate(LENGTHS):
        t = torch.arange(length, dtype=torch.float32)
        buf.add_episode({"obs": torch.stack([torch.full((length,), float(e)), t], -1),
                         "action": torch.zeros(length, 2),
                         "next_obs": torch.stack([torch.full((length,), float(e)), t + 1], -1)})
    return buf


@pytest.mark.parametrize("future_start", [0, 1])
def test_future_goals_follow_the_reference_window_inside_their_episode(future_start):
    """Future goals are s_{t+k}, k = 0 the current state (reference) or s_{t+1+k}, within the
    reference's 50-state window and never past the episode end."""
    cfg = CLearningConfig(batch_size=2000, gamma=0.95, future_start=future_start)
    b = relabel_batch(_counting_buffer(), cfg, slice(0, 2))
    n_next, n_future = 600, 400
    fut = slice(n_next, n_next + n_future)
    assert torch.equal(b["goal"][:n_next], b["next_obs"][:n_next])
    assert torch.equal(b["goal"][fut, 0], b["obs"][fut, 0])                 # same episode
    ahead = b["goal"][fut, 1] - b["obs"][fut, 1]                            # j - t
    assert ahead.min() == future_start and ahead.max() <= 49                # the window s_t .. s_t+49
    torch.testing.assert_close(ahead - future_start, b["future_k"].float())
    lengths = torch.tensor(LENGTHS)[b["obs"][fut, 0].long()]
    assert (b["goal"][fut, 1] <= lengths.float()).all()                     # never past the episode end
    random_goals = b["goal"][n_next + n_future:]
    assert all(any(torch.equal(r, o) for o in b["obs"]) for r in random_goals)   # states of the batch


def test_lambda_fix_scales_the_bootstrapped_ratio_by_twice_the_next_fraction():
    """The reference's lambda_fix: y = lam gamma w / (1 + lam gamma w), weight 1 + lam gamma w,
    lam = 2 relabel_next; off, lam = 1 (and with next 0.5 the two agree)."""
    c_next = torch.tensor([0.5] * 5 + [0.5, 0.0, 0.9, 0.99, 0.2], dtype=torch.float64)
    w = torch.tensor([1.0, 0.0, 9.0, 10.0, 0.25], dtype=torch.float64)
    cfg = CLearningConfig(gamma=0.9, batch_size=10, relabel_next=0.3, relabel_future=0.2, lambda_fix=True)
    target, weight = targets_and_weights(c_next, cfg)
    lam_gamma_w = 0.6 * 0.9 * w
    torch.testing.assert_close(target[5:], lam_gamma_w / (1 + lam_gamma_w))
    torch.testing.assert_close(weight[5:], 1 + lam_gamma_w)
    plain = CLearningConfig(gamma=0.9, batch_size=10, relabel_next=0.5, relabel_future=0.0)
    fixed = CLearningConfig(gamma=0.9, batch_size=10, relabel_next=0.5, relabel_future=0.0, lambda_fix=True)
    torch.testing.assert_close(targets_and_weights(c_next, plain), targets_and_weights(c_next, fixed))


def test_clearner_update_is_finite_and_moves_the_critic():
    torch.manual_seed(0)
    cfg = CLearningConfig(batch_size=16, hidden=(16,), actor_loss="log")
    learner = CLearner(cfg, 2, 2, 2, torch.device("cpu"))
    b = {"obs": torch.rand(16, 2), "goal": torch.rand(16, 2), "action": torch.rand(16, 2) * 2 - 1,
         "next_obs": torch.rand(16, 2)}
    before = [p.clone() for p in learner.critic.parameters()]
    out = learner.update(b)
    assert all(np.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, p) for a, p in zip(before, learner.critic.parameters(), strict=True))


def test_config_checks_the_relabelling_split():
    from rlkit.config import ConfigError

    with pytest.raises(ConfigError, match="0.5"):
        CLearningConfig(relabel_next=0.3, relabel_future=0.3)


def test_point_maze_is_registered():
    env = gym.make("rlkit/PointMaze-v0", maze="Maze11x11", resize=1, max_steps=100)
    obs, _ = env.reset(seed=1)
    assert obs.shape == (4,) and (obs >= 0).all() and (obs <= 1).all()


def _cell_centres(walls):
    return np.argwhere(~walls).astype(float) + 0.5


@pytest.mark.parametrize("backend", ["networkx", "scipy"])
def test_planner_with_oracle_costs_returns_the_true_shortest_path(backend):
    from rlkit.algos.cplanning import planner

    env = PointMazeEnv("Maze6x6", resize=1)
    nodes = _cell_centres(env.walls)
    cost = env.geodesic_between(nodes[:, None], nodes[None])
    graph = planner.sparsify(cost, max_cost=1.0)                    # only moves between adjacent cells
    start, goal = 0, int(np.argmax(cost[0]))
    path = planner.shortest_path(graph, start, goal, backend)
    assert path[0] == start and path[-1] == goal
    assert len(path) - 1 == cost[start, goal] == 20                  # the maze's longest geodesic
    for a, b in zip(path[:-1], path[1:], strict=True):
        assert cost[a, b] == 1
    assert planner.shortest_path(planner.sparsify(cost, 0.5), start, goal, backend) is None


def test_sparsify_top_k_and_waypoint_picking():
    from rlkit.algos.cplanning import planner

    cost = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], float)
    kept = planner.sparsify(cost, max_cost=2.5, top_k=1)
    assert np.isfinite(kept).sum(1).tolist() == [1, 1, 1, 1] and np.isinf(np.diag(kept)).all()
    assert planner.pick_waypoints(list(range(10)), 3) == [1, 5, 9]
    assert planner.pick_waypoints([0, 4, 7], 8) == [4, 7]
    rng = np.random.default_rng(0)
    picks = [planner.resample_waypoint(np.array([0.0, 1, 1]), np.array([5.0, 0, 3]), rng) for _ in range(50)]
    assert set(picks) == {2}                                          # the only node with weight


def _clustered_nodes(env, rng, per_cell_near=40, far_cells=12):
    """Replay-like nodes from a fixed start: most in the start's few cells, a thin trail beyond."""
    free = np.argwhere(~env.walls)
    start = env.start_cell.astype(float)
    d = env.geodesic_between(start[None] + 0.5, free + 0.5)
    near = free[d <= 1]
    trail = free[np.argsort(d)][: far_cells + len(near)][len(near):]
    cells = np.concatenate([np.repeat(near, per_cell_near, 0), trail])
    return env.normalise(cells + rng.uniform(0.1, 0.9, cells.shape)), trail


def test_clustered_nodes_are_connected_by_the_cutoff_rule_but_not_by_top_k():
    """Defect 1 of the C-Planning review: with nodes piled in the start cells, keeping each node's k
    cheapest edges links only same-cell nodes, so no start-goal path exists; the distance cutoff
    alone (the default, as SoRB) finds the path along the trail."""
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig

    env = PointMazeEnv("Maze6x6", resize=2, max_steps=60)
    nodes, trail = _clustered_nodes(env, np.random.default_rng(0))
    make = lambda **kw: CPlanning(CPlanningConfig(hidden=(8,), cost="oracle", oracle_max_hop=2.0, **kw),
                                  lambda: PointMazeEnv("Maze6x6", resize=2, max_steps=60), seed=0)
    start = env.normalise(env.start_cell + 0.5)
    goal = env.normalise(trail[-1] + 0.5)
    assert CPlanningConfig().top_k is None
    waypoints, found = make().plan(start, goal, nodes, np.random.default_rng(0))
    assert found and len(waypoints) >= 3
    assert not make(top_k=5).plan(start, goal, nodes, np.random.default_rng(0))[1]


def test_oracle_fallback_divides_by_the_replay_density():
    """Defect 3: the oracle arm's fallback draws a waypoint with the learned arm's rule,
    w(s0 -> s_w) w(s_w -> g) with w = p^pi / p, so a cell holding many nodes is not favoured for its
    count: each cell's total weight is gamma^(d0 + d1), whatever its node count."""
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig

    env = PointMazeEnv("Maze6x6", resize=2, max_steps=60)
    nodes, trail = _clustered_nodes(env, np.random.default_rng(0))
    agent = CPlanning(CPlanningConfig(hidden=(8,), cost="oracle", gamma=0.9),
                      lambda: PointMazeEnv("Maze6x6", resize=2, max_steps=60), seed=0)
    start = env.normalise(env.start_cell[None] + 0.5)
    distance = agent._oracle_distance(start, nodes)[0]
    w = agent._oracle_ratio(distance, nodes, nodes)
    cells = env.cell_index(env.unnormalise(nodes))
    per_cell = {c: w[cells == c].sum() for c in np.unique(cells)}
    for c, total in per_cell.items():
        d = distance[cells == c][0]
        assert total == pytest.approx(0.9 ** d * len(nodes), rel=1e-9)      # count x (gamma^d / (count / N))


def test_calibration_diagnostic_after_a_short_training_run():
    """Defect 2: with lambda_fix (the C-Planning default) a short run on a small maze gives a
    classifier that orders pairs by true distance (Spearman > 0) and is not pinned at the w clip."""
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig

    cfg = CPlanningConfig(hidden=(64, 64), batch_size=64, planning=False, random_steps=1000,
                          updates_per_step=1.0, lambda_fix=True)
    agent = CPlanning(cfg, lambda: PointMazeEnv("Maze6x6", resize=1, max_steps=30, start="uniform"), seed=0)
    for _ in range(100):
        agent.train_step()
    stats = agent.calibration_stats()
    assert stats["calibration/spearman"] > 0.2, stats
    assert stats["calibration/at_clip"] < 0.05, stats
    assert stats["calibration/c_mean"] < 0.7, stats               # without lambda_fix: 0.88 and rising
    assert {"calibration/spearman", "calibration/at_clip"} <= set(agent.evaluate(1))


def test_the_cached_node_block_is_reused_between_rebuilds():
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig

    cfg = CPlanningConfig(hidden=(16,), batch_size=16, random_steps=60, planning_start=60, num_nodes=20,
                          rebuild_every=3, updates_per_step=0.25, min_prob=0.01)
    agent = CPlanning(cfg, lambda: PointMazeEnv("Maze6x6", resize=1, max_steps=30), seed=0)
    calls = []
    pair_probability = agent.pair_probability
    agent.pair_probability = lambda src, dst: calls.append((len(src), len(dst))) or pair_probability(src, dst)
    for _ in range(6):
        agent.train_step()
    node_blocks = [c for c in calls if c == (20, 20)]
    assert len(node_blocks) == 2 and (1, 21) in calls and (20, 1) in calls     # episodes 3 and 6 rebuild


@pytest.mark.parametrize("cost", ["learned", "oracle"])
def test_cplanning_collects_through_waypoints_and_logs_the_search(cost):
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig

    cfg = CPlanningConfig(hidden=(16,), batch_size=16, random_steps=60, planning_start=60, num_nodes=20,
                          cost=cost, updates_per_step=0.25, min_prob=0.01, oracle_max_hop=6)
    agent = CPlanning(cfg, lambda: PointMazeEnv("Maze6x6", resize=1, max_steps=30), seed=0)
    metrics = [agent.train_step() for _ in range(4)]
    last = metrics[-1]
    assert {"cplanning/path_found", "cplanning/waypoints", "cplanning/coverage"} <= set(last)
    assert agent.buffer.size == 120 and set(agent.buffer.lengths) == {30}
    assert 0 <= last["cplanning/waypoint_reach_rate"] <= 1
    assert "eval/success" in agent.evaluate(2)


ROBOTICS = [("rlkit/RoboticsMaze-v0", {"env_id": "PointMaze_UMaze-v3"}, 2),
            ("rlkit/RoboticsMaze-v0",
             {"env_id": "AntMaze_UMaze-v5", "include_cfrc_ext_in_observation": False}, 2),
            ("rlkit/SawyerPush-v0", {}, 3)]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("env_id", "kwargs", "goal_dim"), ROBOTICS, ids=["pointmaze", "antmaze", "sawyer"])
def test_robotics_goal_envs_pass_check_env_and_take_an_injected_goal(env_id, kwargs, goal_dim):
    pytest.importorskip("gymnasium_robotics" if "Maze" in env_id else "metaworld")
    env = gym.make(env_id, max_steps=5, **kwargs).unwrapped
    if "AntMaze" in kwargs.get("env_id", ""):
        assert not Path(env.inner.tmp_xml_file_path).exists()        # nothing left behind in /tmp
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    achieved = obs[env.goal_slice]
    assert len(achieved) == goal_dim and obs.shape == env.observation_space.shape
    obs, info = env.reset(seed=3, options={"goal": achieved})          # the goal is where we start
    np.testing.assert_allclose(obs[-goal_dim:], achieved)
    assert info["success"] == 1.0 and env.compute_reward(achieved, achieved) == 1.0
    steps = [env.step(env.action_space.sample()) for _ in range(5)]
    assert [s[3] for s in steps] == [False] * 4 + [True] and not any(s[2] for s in steps)
    env.close()


def test_cplanning_plans_in_a_goal_space_smaller_than_the_state():
    pytest.importorskip("gymnasium_robotics")
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig

    cfg = CPlanningConfig(hidden=(16,), batch_size=16, random_steps=20, planning_start=20, num_nodes=10,
                          min_prob=0.01)
    agent = CPlanning(cfg, lambda: gym.make("rlkit/RoboticsMaze-v0", max_steps=10), seed=0)
    for _ in range(4):
        agent.train_step()
    obs, _ = agent.env.reset(seed=1)
    waypoints, _ = agent.plan(obs[:agent.sdim], obs[agent.sdim:])
    assert agent.sdim == 6 and all(w.shape == (2,) for w in waypoints)
    assert agent.evaluate(1)["eval/length"] == 10


def test_bf16_screen_gives_the_float32_graph():
    """graph_precision=bf16 scores the node block in bfloat16 and rescores in float32 the pairs near
    the cutoff: the sparsified graph has float32's edges and costs within bfloat16's error, so its
    shortest paths cost what float32's do up to that error (ties between near-equal paths may break
    the other way), and bfloat16's logit error stays well inside the screen's margin."""
    from rlkit.algos.cplanning import CPlanning, CPlanningConfig, planner
    from rlkit.algos.cplanning.agent import BF16_MARGIN

    cfg = CPlanningConfig(hidden=(64, 64), batch_size=64, planning=False, random_steps=300, min_prob=0.75)
    agent = CPlanning(cfg, lambda: PointMazeEnv("Maze6x6", resize=1, max_steps=30, start="uniform"), seed=0)
    for _ in range(40):
        agent.train_step()
    nodes = agent.sample_nodes(torch.Generator().manual_seed(0))
    fp32 = agent.node_block_probability(nodes)
    agent.cfg.graph_precision = "bf16"
    bf16 = agent.node_block_probability(nodes)
    assert 0.0 < agent.last_screen_fraction < 1.0
    cutoff = -np.log(cfg.min_prob)
    graph = lambda p: planner.sparsify(-np.log(np.clip(p, 1e-12, 1)), cutoff)
    np.testing.assert_array_equal(np.isfinite(graph(bf16)), np.isfinite(graph(fp32)))
    np.testing.assert_allclose(graph(bf16), graph(fp32), atol=0.02)
    exact = graph(fp32)
    path_cost = lambda path: sum(exact[a, b] for a, b in zip(path[:-1], path[1:], strict=True))
    for start, goal in [(0, 1), (2, 3), (4, 5), (6, 7)]:
        best = planner.shortest_path(exact, start, goal)
        assert path_cost(planner.shortest_path(graph(bf16), start, goal)) <= path_cost(best) + 0.02 * len(best)
    goals = nodes[:, agent.goal_slice]
    error = (agent.pair_logit(nodes, goals, agent._bf16_nets()) - agent.pair_logit(nodes, goals)).abs()
    assert error.max() < BF16_MARGIN / 2, float(error.max())
