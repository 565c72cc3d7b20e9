"""C-Planning (Zhang, Eysenbach, Salakhutdinov, Levine, Gonzalez; ICLR 2022): C-learning whose
training data is collected through a graph-search curriculum of waypoints (EM view: the E-step
picks waypoints, the M-step is C-learning). No official code exists; constants the paper does not
source are ours and live in :class:`CPlanningConfig` / ``conf/algo/cplanning.yaml``.

Per episode (``train_step``): reset to (s0, g); once ``planning_start`` env steps are collected,
search waypoints from s0 to g over replay states (algos/cplanning/planner.py; learned -log C edge
costs, or BFS geodesics with ``cost=oracle``); the agent is commanded to each waypoint in turn,
switching when it is reached or after ``steps_per_waypoint`` steps, then to g. C-learning
relabels goals inside its batches, so the commanded goals never enter the loss. At test time the
goal is given directly (``test_search=true`` adds SoRB-style search as the comparison).
``planning=false`` is plain C-learning with the same loop.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rlkit.agent import Agent
from rlkit.algos.cplanning import planner
from rlkit.algos.cplanning.clearning import CLearner, CLearningConfig, relabel_batch
from rlkit.config import check, check_positive
from rlkit.data.episodes import EpisodeBuffer
from rlkit.env_spec import EnvLike, env_factory, eval_env_factory
from rlkit.precision import full_precision
from rlkit.seeding import eval_seed, own_torch_rng

#: Logit margin of the bfloat16 screen (``graph_precision=bf16``): pairs scored within this of the cutoff
#: are scored again in float32, so no edge flips. bfloat16's error on these networks is far smaller
#: (largest seen: 0.046 logits, a 2x128 classifier after 40k steps); tests/test_cplanning.py checks it.
BF16_MARGIN = 0.25


@dataclass
class CPlanningConfig(CLearningConfig):
    """C-learning's settings plus the curriculum (defaults: the C-learning release and SoRB where they exist,
    ours where unsourced; docs/cplanning.md)."""

    planning: bool = True
    cost: str = "learned"            # learned (-log min C) | oracle (BFS geodesic, isolates the curriculum)
    planning_start: int = 5000       # env steps before the first search
    random_steps: int = 2000         # uniform random actions at the start
    num_nodes: int = 200
    rebuild_every: int = 10          # episodes between node re-samplings
    min_prob: float = 0.3            # c_min: keep edges with min C >= c_min (cost <= -log c_min)
    top_k: int | None = None
    oracle_max_hop: float = 4.0      # oracle edges up to this many cells
    num_waypoints: int = 8           # K
    steps_per_waypoint: int = 20
    backend: str = "networkx"        # networkx | scipy
    graph_precision: str = "fp32"    # fp32 | bf16: screen the node block in bfloat16 (same graph, faster)
    updates_per_step: float = 1.0
    buffer_size: int = 1_000_000
    test_search: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.cost in ("learned", "oracle"), "cost", self.cost, "must be learned or oracle")
        check(self.backend in ("networkx", "scipy"), "backend", self.backend, "must be networkx or scipy")
        check(self.graph_precision in ("fp32", "bf16"), "graph_precision", self.graph_precision,
              "must be fp32 or bf16")
        check(0 < self.min_prob < 1, "min_prob", self.min_prob, "must be in (0, 1)")
        check_positive(self, "num_nodes", "num_waypoints", "steps_per_waypoint", "rebuild_every", "buffer_size")


class CPlanning(Agent):
    """C-Planning / C-learning agent on a goal env whose observation is [state, goal] (PointMaze)."""

    config_class = CPlanningConfig
    env: Any                 # a goal env: [state, goal] observations (duck-typed: geodesic_between, ...)
    eval_env: Any

    @own_torch_rng
    def __init__(self, cfg: CPlanningConfig, env: EnvLike, *, device: str | torch.device = "cpu",
                 seed: int = 0) -> None:
        self.cfg, self.device = cfg, torch.device(device)
        self.env = env_factory(env)().unwrapped
        self.eval_env = eval_env_factory(env)().unwrapped
        self.env.reset(seed=seed)
        obs_dim = int(self.env.observation_space.shape[0])
        self.goal_slice: slice = getattr(self.env, "goal_slice", slice(0, obs_dim // 2))
        gdim = len(range(obs_dim)[self.goal_slice])
        self.sdim = obs_dim - gdim
        self.adim = int(np.prod(self.env.action_space.shape))
        if cfg.cost == "oracle" and not hasattr(self.env, "geodesic_between"):
            raise ValueError("algo.cost=oracle needs an env with BFS geodesics (rlkit/PointMaze-v0); "
                             "use algo.cost=learned")
        self.learner = CLearner(cfg, self.sdim, gdim, self.adim, self.device)
        self.buffer = EpisodeBuffer({"obs": (self.sdim,), "action": (self.adim,), "next_obs": (self.sdim,)},
                                    cfg.buffer_size, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.env_steps, self.episodes, self.grad_steps, self.seed = 0, 0, 0, seed
        self.nodes: np.ndarray | None = None
        self.node_block: np.ndarray | None = None     # _edge_values(nodes, nodes), cached between rebuilds
        self.update_debt = 0.0
        self.calibration = self._calibration_pairs(seed) if hasattr(self.env, "geodesic_between") else None

    def _calibration_pairs(self, seed: int, n: int = 256) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """A fixed set of (state, goal) pairs at uniform free positions and their BFS distances (cells)."""
        env, rng = self.eval_env, np.random.default_rng(seed + 7_919)
        pos = env.free[rng.integers(len(env.free), size=(2, n))] + rng.uniform(0.0, 1.0, (2, n, 2))
        as_tensor = lambda p: torch.as_tensor(env.normalise(p), dtype=torch.float32, device=self.device)
        return as_tensor(pos[0]), as_tensor(pos[1]), env.geodesic_between(pos[0], pos[1])

    def calibration_stats(self) -> dict[str, float]:
        """The classifier against the maze's true distances on the fixed pairs: the Spearman rank
        correlation of -log C with the geodesic (positive when C orders pairs by distance), the mean C,
        and the fraction of pairs whose w = C / (1 - C) is at the w clip (pinned: every edge passes)."""
        from scipy.stats import spearmanr

        if self.calibration is None:
            return {}
        states, goals, distance = self.calibration
        c = self.probability(states, goals).double().cpu().numpy()
        w_clip = self.cfg.w_clip
        clip = 1.0 / (1.0 - self.cfg.gamma) if w_clip is None or w_clip < 0 else w_clip
        rho = spearmanr(-np.log(np.clip(c, 1e-12, 1.0)), distance).statistic
        return {"calibration/spearman": float(np.nan_to_num(rho)), "calibration/c_mean": float(c.mean()),
                "calibration/at_clip": float(np.mean(c / np.clip(1 - c, 1e-12, None) >= 0.99 * clip))}

    # ------------------------------------------------------------------ E-step
    @torch.no_grad()
    def logit(self, states: torch.Tensor, goals: torch.Tensor, nets: tuple[Any, Any] | None = None
              ) -> torch.Tensor:
        """min_j f_j(s, pi(s, g), g) of paired rows, [B], in float32 (the greedy action, as for the
        graph's edges); ``nets``: (actor, critic) copies in another precision (:meth:`_bf16_nets`).
        The nets' own dtype decides, not the caller's ``precision`` (autocast is off here): the graph
        is the same whatever precision training runs in."""
        actor, critic = nets or (self.learner.actor, self.learner.critic)
        dtype = next(critic.parameters()).dtype
        states, goals = states.to(dtype), goals.to(dtype)
        with full_precision(states.device):
            a = torch.tanh(actor(torch.cat([states, goals], -1))[0]).to(dtype)
            return self.learner.logits(critic, states, goals, a).min(0).values.float()

    def probability(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """min_j C_j(s, pi(s, g), g) of paired rows, [B]."""
        return torch.sigmoid(self.logit(states, goals))

    def pair_logit(self, src: np.ndarray, dst: np.ndarray, nets: tuple[Any, Any] | None = None,
                   chunk: int | None = None) -> torch.Tensor:
        """:meth:`logit` for states ``src`` x goals ``dst``, [len(src), len(dst)]. Evaluated in blocks
        of about ``chunk`` pairs so activations stay in cache (default: the fastest on one CPU core,
        4096 in float32 and 16384 in bfloat16, whose rows are half the size)."""
        s = torch.as_tensor(src, dtype=torch.float32, device=self.device)
        g = torch.as_tensor(dst, dtype=torch.float32, device=self.device)
        chunk = chunk or (4096 if nets is None else 16384)
        rows = max(1, chunk // len(g))
        out = []
        for block in s.split(rows):
            S = block[:, None].expand(-1, len(g), -1).reshape(len(block) * len(g), -1)
            G = g[None].expand(len(block), -1, -1).reshape(len(block) * len(g), -1)
            out.append(self.logit(S, G, nets))
        return torch.cat(out).view(len(s), len(g))

    def pair_probability(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """:meth:`probability` for states ``src`` x goals ``dst``, [len(src), len(dst)] (float32)."""
        return torch.sigmoid(self.pair_logit(src, dst)).cpu().numpy().astype(np.float64)

    def _bf16_nets(self) -> tuple[Any, Any]:
        """bfloat16 copies of the actor and the critic, for screening the node block."""
        return (copy.deepcopy(self.learner.actor).to(torch.bfloat16),
                copy.deepcopy(self.learner.critic).to(torch.bfloat16))

    def node_block_probability(self, nodes: np.ndarray) -> np.ndarray:
        """:meth:`pair_probability` of the nodes x their goals, the graph's node-to-node edges. With
        ``graph_precision=bf16`` every pair is scored in bfloat16 and the pairs whose bfloat16 logit is
        within ``BF16_MARGIN`` of the cutoff are scored again in float32: the graph keeps float32's edges,
        with costs within bfloat16's error of float32's (benchmarks/cplanning_speed.py compares the
        shortest paths)."""
        goals = nodes[:, self.goal_slice]
        if self.cfg.graph_precision == "fp32":
            return self.pair_probability(nodes, goals)
        screen = self.pair_logit(nodes, goals, self._bf16_nets())
        cutoff = math.log(self.cfg.min_prob / (1 - self.cfg.min_prob))
        candidate = (screen - cutoff).abs() < BF16_MARGIN
        i, j = torch.nonzero(candidate, as_tuple=True)
        exact = torch.cat([self.logit(torch.as_tensor(nodes, dtype=torch.float32, device=self.device)[a],
                                      torch.as_tensor(goals, dtype=torch.float32, device=self.device)[b])
                           for a, b in zip(i.split(4096), j.split(4096), strict=True)] or [screen[:0, 0]])
        screen[i, j] = exact
        self.last_screen_fraction = float(candidate.float().mean())
        return torch.sigmoid(screen).cpu().numpy().astype(np.float64)

    def _oracle_distance(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """BFS geodesic (cells) from the achieved goal of each state ``src`` to each goal ``dst``."""
        env = self.env
        achieved = env.unnormalise(src[:, self.goal_slice])
        return env.geodesic_between(achieved[:, None], env.unnormalise(dst)[None])

    def _oracle_ratio(self, distance: np.ndarray, dst: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """The oracle's density ratio w(s -> g) = p^pi(g | s) / p(g), with p^pi(g | s) = gamma^d(s, g)
        (the discounted occupancy of g for a policy that reaches it in d steps and stays) and p(g) the
        replay density of g's cell, estimated from the graph's nodes (uniform replay draws)."""
        env = self.env
        cells = env.cell_index(env.unnormalise(nodes[:, self.goal_slice]))
        counts = np.bincount(cells, minlength=env.H * env.W)
        density = np.maximum(counts[env.cell_index(env.unnormalise(dst))], 1) / len(nodes)
        return self.cfg.gamma ** distance / density

    def sample_nodes(self, generator: torch.Generator) -> np.ndarray:
        """``num_nodes`` replay states drawn uniformly, the graph's nodes."""
        rows = torch.randint(self.buffer.size, (self.cfg.num_nodes,), generator=generator)
        return self.buffer.storage.read(rows)["next_obs"].numpy().astype(np.float64)

    def plan(self, start: np.ndarray, goal: np.ndarray, nodes: np.ndarray | None = None,
             rng: np.random.Generator | None = None) -> tuple[list[np.ndarray], bool]:
        """Waypoints (goals, normalised like the env's) from state ``start`` to ``goal``, and whether a
        path was found. Graph indices: N replay states, then the start (a source only), then the goal
        (a destination only); edge i -> j scores reaching node j's goal part from state i. Training
        rebuilds its nodes, and the node-to-node block of the edge matrix, every ``rebuild_every``
        episodes (only the start's row and the goal's column are new per episode); evaluation passes
        its own ``nodes`` and ``rng`` (the fallback's draw)."""
        cfg = self.cfg
        if nodes is None:
            if self.nodes is None or self.node_block is None or self.episodes % cfg.rebuild_every == 0:
                self.nodes = self.sample_nodes(self.buffer.generator)
                self.node_block = self._node_block(self.nodes)
            nodes, block = self.nodes, self.node_block
        else:
            block = self._node_block(nodes)
        n = len(nodes)
        goals = np.concatenate([nodes[:, self.goal_slice], goal[None]])
        from_start = self._edge_values(start[None], goals)[0]             # start -> nodes, goal [n + 1]
        to_goal = self._edge_values(nodes, goal[None])[:, 0]               # nodes -> goal [n]
        cost = np.full((n + 2, n + 2), np.inf)
        cost[:n, :n] = self._cost(block)
        cost[n, np.r_[0:n, n + 1]] = self._cost(from_start)
        cost[:n, n + 1] = self._cost(to_goal)
        max_cost = cfg.oracle_max_hop if cfg.cost == "oracle" else -math.log(cfg.min_prob)
        path = planner.shortest_path(planner.sparsify(cost, max_cost, cfg.top_k), n, n + 1, cfg.backend)
        if path is not None:
            return [goals[i] for i in planner.pick_waypoints(path, cfg.num_waypoints)[:-1]], True
        if cfg.cost == "oracle":           # the learned rule with oracle distances (_oracle_ratio)
            w_from = self._oracle_ratio(from_start[:n], goals[:n], nodes)
            w_to = self.cfg.gamma ** to_goal              # / p(g): the same for every node
        else:
            ratio = lambda p: p / np.clip(1 - p, 1e-6, None)          # w = C / (1 - C)
            w_from, w_to = ratio(from_start[:n]), ratio(to_goal)
        return [goals[planner.resample_waypoint(w_from, w_to, rng or self.rng)]], False

    def _cost(self, values: np.ndarray) -> np.ndarray:
        """Edge costs from :meth:`_edge_values`: -log C (learned) or the distance itself (oracle)."""
        return values if self.cfg.cost == "oracle" else -np.log(np.clip(values, 1e-12, 1.0))

    def _node_block(self, nodes: np.ndarray) -> np.ndarray:
        """:meth:`_edge_values` of the nodes x their goals (:meth:`node_block_probability` when learned)."""
        if self.cfg.cost == "oracle":
            return self._oracle_distance(nodes, nodes[:, self.goal_slice])
        return self.node_block_probability(nodes)

    def _edge_values(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """[len(src), len(dst)]: classifier probabilities (learned) or BFS distances (oracle)."""
        if self.cfg.cost == "oracle":
            return self._oracle_distance(src, dst)
        return self.pair_probability(src, dst)

    # ------------------------------------------------------------------ acting
    def _action(self, state: np.ndarray, goal: np.ndarray, deterministic: bool) -> np.ndarray:
        x = torch.as_tensor(np.concatenate([state, goal]), dtype=torch.float32, device=self.device)[None]
        with torch.no_grad():
            a = torch.tanh(self.learner.actor(x)[0]) if deterministic else self.learner.actor.sample(x)[0]
        return a[0].cpu().numpy()

    def _distance(self, env, state: np.ndarray, target: np.ndarray) -> float:
        """Distance in env units between the achieved goal of ``state`` and ``target``."""
        gap = state[self.goal_slice] - target
        return float(np.linalg.norm(env.unnormalise(gap) if hasattr(env, "unnormalise") else gap))

    def run_episode(self, env, obs: np.ndarray, waypoints: list[np.ndarray], explore: bool,
                    store: bool) -> dict[str, float]:
        """One episode from the reset observation ``obs``, commanded through ``waypoints`` then to the
        env's goal; switches waypoint when it is reached or after ``steps_per_waypoint`` steps."""
        goal = obs[self.sdim:]
        targets, reached, on_target, success = [*waypoints, goal], 0, 0, 0.0
        states, actions = [obs[:self.sdim]], []
        min_distance = self._distance(env, obs[:self.sdim], goal)
        done = False
        while not done:
            state = obs[:self.sdim]
            if explore and self.env_steps < self.cfg.random_steps:
                action = self.rng.uniform(-1, 1, self.adim)
            else:
                action = self._action(state, targets[0], deterministic=not explore)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            states.append(obs[:self.sdim])
            actions.append(action)
            success = max(success, float(info["success"]))
            min_distance = min(min_distance, self._distance(env, obs[:self.sdim], goal))
            on_target += 1
            if len(targets) > 1:
                at_waypoint = self._distance(env, obs[:self.sdim], targets[0]) < env.success_radius
                if at_waypoint or on_target >= self.cfg.steps_per_waypoint:
                    reached += at_waypoint
                    targets, on_target = targets[1:], 0
            if store:
                self.env_steps += 1
                self._maybe_update()
        s = np.array(states)
        if store:
            self.buffer.add_episode({"obs": torch.as_tensor(s[:-1], dtype=torch.float32),
                                     "action": torch.as_tensor(np.array(actions), dtype=torch.float32),
                                     "next_obs": torch.as_tensor(s[1:], dtype=torch.float32)})
        return {"success": success, "waypoint_reach_rate": reached / max(len(waypoints), 1),
                **self._coverage(env, s), "min_distance": min_distance, "length": len(actions)}

    def _coverage(self, env, states: np.ndarray) -> dict[str, float]:
        """``coverage``: the farthest distance from the start among an episode's states (BFS cells on
        point mazes, Euclidean in achieved-goal space elsewhere); ``p90_distance``: the 90th percentile
        of its states' distances from the start (a continuous measure with no floor at zero);
        ``far_fraction`` (point mazes): the fraction of its states at least the env's far threshold
        (0.6 x the longest BFS distance) from the start."""
        achieved = states[:, self.goal_slice]
        if not hasattr(env, "geodesic_from"):
            dist = np.linalg.norm(achieved - achieved[0], axis=-1)
            return {"coverage": float(dist.max()), "p90_distance": float(np.percentile(dist, 90))}
        dist = env.geodesic_from(env.unnormalise(achieved[0]), env.unnormalise(achieved))
        return {"coverage": float(dist.max()), "p90_distance": float(np.percentile(dist, 90)),
                "far_fraction": float(np.mean(dist >= env.far_threshold()))}

    def _maybe_update(self) -> None:
        if self.buffer.size < self.cfg.batch_size or self.env_steps < self.cfg.random_steps:
            return
        self.update_debt += self.cfg.updates_per_step
        while self.update_debt >= 1:
            self.update_debt -= 1
            batch = relabel_batch(self.buffer, self.cfg, self.goal_slice)
            self.last_losses = self.learner.update({k: v.to(self.device) for k, v in batch.items()})
            self.grad_steps += 1

    # ------------------------------------------------------------------ Algorithm contract
    @own_torch_rng
    def train_step(self) -> dict[str, float]:
        """One training episode (planning, collection, ``updates_per_step`` updates per env step)."""
        obs, _ = self.env.reset()
        waypoints: list[np.ndarray] = []
        found = None
        if self.cfg.planning and self.env_steps >= self.cfg.planning_start:
            waypoints, found = self.plan(obs[:self.sdim], obs[self.sdim:])
        out = self.run_episode(self.env, obs, waypoints, explore=True, store=True)
        self.episodes += 1
        metrics = {"train/episode_success": out["success"], "train/env_steps": float(self.env_steps),
                   "train/grad_steps": float(self.grad_steps),
                   "cplanning/coverage": out["coverage"], "cplanning/p90_distance": out["p90_distance"],
                   **getattr(self, "last_losses", {})}
        if "far_fraction" in out:
            metrics["cplanning/far_fraction"] = out["far_fraction"]
        if found is not None:
            metrics |= {"cplanning/path_found": float(found), "cplanning/waypoints": float(len(waypoints)),
                        "cplanning/waypoint_reach_rate": out["waypoint_reach_rate"]}
        return metrics

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """Greedy episodes in the eval env with the goal given directly (episode k resets with
        ``seed + k``; default seed: ``rlkit.seeding.eval_seed``), and on mazes the classifier's
        calibration (:meth:`calibration_stats`, ``calibration/*``); with ``test_search`` the same
        episodes again through SoRB-style search waypoints over replay states drawn with ``seed``
        (``eval/search_*``)."""
        base = eval_seed(self.seed, seed)
        out = self._evaluate(base, episodes, search=False) | self.calibration_stats()
        if self.cfg.test_search and self.buffer.size > 0:
            searched = self._evaluate(base, episodes, search=True)
            out |= {k.replace("eval/", "eval/search_"): v for k, v in searched.items()}
        return out

    def _evaluate(self, base: int, episodes: int, search: bool) -> dict[str, float]:
        nodes = self.sample_nodes(torch.Generator().manual_seed(base)) if search else None
        rng = np.random.default_rng(base)
        results = []
        for k in range(episodes):
            obs, _ = self.eval_env.reset(seed=base + k)
            waypoints = self.plan(obs[:self.sdim], obs[self.sdim:], nodes, rng)[0] if search else []
            results.append(self.run_episode(self.eval_env, obs, waypoints, explore=False, store=False))
        mean = lambda k: float(np.mean([r[k] for r in results]))
        return {"eval/success": mean("success"), "eval/return": mean("success"), "eval/length": mean("length"),
                "eval/min_distance": mean("min_distance")}

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Actions for one [state, goal] observation or a batch, with the goal given directly (no
        search): the actor's mean, or a draw from it with ``deterministic=False``."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim == 1:
            return self._action(obs[:self.sdim], obs[self.sdim:], deterministic).astype(np.float32)
        return np.stack([self.act(o, deterministic) for o in obs])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly: the learner, the episode buffer, the counters, the
        training env, the graph nodes with their cached edge block, and the agent's torch stream."""
        from rlkit.env_state import env_state
        from rlkit.seeding import generator_state

        return {"learner": self.learner.state_dict(), "buffer": self.buffer.state_dict(),
                "counters": torch.tensor([self.env_steps, self.episodes, self.grad_steps]),
                "update_debt": self.update_debt, "rng": generator_state(self.rng),
                "env": env_state(self.env), "torch_stream": self.torch_stream.state_dict(),
                "nodes": None if self.nodes is None else torch.as_tensor(self.nodes),
                "node_block": None if self.node_block is None else torch.as_tensor(self.node_block)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into an agent built with the same configuration."""
        from rlkit.env_state import load_env_state
        from rlkit.seeding import set_generator_state

        self.learner.load_state_dict(state["learner"])
        self.buffer.load_state_dict(state["buffer"])
        self.env_steps, self.episodes, self.grad_steps = (int(x) for x in state["counters"])
        self.update_debt = float(state["update_debt"])
        set_generator_state(self.rng, state["rng"])
        load_env_state(self.env, state["env"])
        self.torch_stream.load_state_dict(state["torch_stream"])
        self.nodes = None if state["nodes"] is None else state["nodes"].numpy()
        self.node_block = None if state["node_block"] is None else state["node_block"].numpy()
