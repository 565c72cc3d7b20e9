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
from rlkit.seeding import eval_seed, own_torch_rng


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
    updates_per_step: float = 1.0
    buffer_size: int = 1_000_000
    test_search: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.cost in ("learned", "oracle"), "cost", self.cost, "must be learned or oracle")
        check(self.backend in ("networkx", "scipy"), "backend", self.backend, "must be networkx or scipy")
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
        self.update_debt = 0.0

    # ------------------------------------------------------------------ E-step
    def pair_probability(self, src: np.ndarray, dst: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """min_j C_j(s_i, pi(s_i, g_k), g_k) for states ``src`` x goals ``dst``, [len(src), len(dst)].
        Evaluated in blocks of about ``chunk`` pairs so activations stay in cache."""
        s = torch.as_tensor(src, dtype=torch.float32, device=self.device)
        g = torch.as_tensor(dst, dtype=torch.float32, device=self.device)
        rows = max(1, chunk // len(g))
        out = []
        with torch.no_grad():
            for block in s.split(rows):
                S = block[:, None].expand(-1, len(g), -1).reshape(len(block) * len(g), -1)
                G = g[None].expand(len(block), -1, -1).reshape(len(block) * len(g), -1)
                a = torch.tanh(self.learner.actor(torch.cat([S, G], -1))[0])
                out.append(torch.sigmoid(self.learner.logits(self.learner.critic, S, G, a).min(0).values))
        return torch.cat(out).view(len(s), len(g)).cpu().numpy().astype(np.float64)

    def _oracle_cost(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        env = self.env
        achieved = env.unnormalise(src[:, self.goal_slice])
        return env.geodesic_between(achieved[:, None], env.unnormalise(dst)[None])

    def sample_nodes(self, generator: torch.Generator) -> np.ndarray:
        """``num_nodes`` replay states drawn uniformly, the graph's nodes."""
        rows = torch.randint(self.buffer.size, (self.cfg.num_nodes,), generator=generator)
        return self.buffer.storage.read(rows)["next_obs"].numpy().astype(np.float64)

    def plan(self, start: np.ndarray, goal: np.ndarray, nodes: np.ndarray | None = None,
             rng: np.random.Generator | None = None) -> tuple[list[np.ndarray], bool]:
        """Waypoints (goals, normalised like the env's) from state ``start`` to ``goal``, and whether a
        path was found. Graph indices: N replay states, then the start (a source only), then the goal
        (a destination only); edge i -> j scores reaching node j's goal part from state i. Training
        rebuilds its nodes every ``rebuild_every`` episodes; evaluation passes its own ``nodes`` and
        ``rng`` (the fallback's draw)."""
        cfg = self.cfg
        if nodes is None:
            if self.nodes is None or self.episodes % cfg.rebuild_every == 0:
                self.nodes = self.sample_nodes(self.buffer.generator)
            nodes = self.nodes
        n = len(nodes)
        sources = np.concatenate([nodes, start[None]])
        goals = np.concatenate([nodes[:, self.goal_slice], goal[None]])
        if cfg.cost == "oracle":
            pair_cost, max_cost = self._oracle_cost(sources, goals), cfg.oracle_max_hop
        else:
            prob = self.pair_probability(sources, goals)
            pair_cost, max_cost = -np.log(np.clip(prob, 1e-12, 1.0)), -math.log(cfg.min_prob)
        cost = np.full((n + 2, n + 2), np.inf)
        cost[: n + 1, np.r_[0:n, n + 1]] = pair_cost
        path = planner.shortest_path(planner.sparsify(cost, max_cost, cfg.top_k), n, n + 1, cfg.backend)
        if path is not None:
            return [goals[i] for i in planner.pick_waypoints(path, cfg.num_waypoints)[:-1]], True
        if cfg.cost == "oracle":
            w_from, w_to = np.exp(-pair_cost[n, :n]), np.exp(-pair_cost[:n, n])
        else:
            ratio = lambda p: p / np.clip(1 - p, 1e-6, None)          # w = C / (1 - C)
            w_from, w_to = ratio(prob[n, :n]), ratio(prob[:n, n])
        return [goals[planner.resample_waypoint(w_from, w_to, rng or self.rng)]], False

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
        point mazes, Euclidean in achieved-goal space elsewhere); ``far_fraction`` (point mazes): the
        fraction of its states at least the env's far threshold (0.6 x the longest BFS distance)
        from the start."""
        achieved = states[:, self.goal_slice]
        if not hasattr(env, "geodesic_from"):
            return {"coverage": float(np.max(np.linalg.norm(achieved - achieved[0], axis=-1)))}
        dist = env.geodesic_from(env.unnormalise(achieved[0]), env.unnormalise(achieved))
        return {"coverage": float(dist.max()), "far_fraction": float(np.mean(dist >= env.far_threshold()))}

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
                   "cplanning/coverage": out["coverage"], **getattr(self, "last_losses", {})}
        if "far_fraction" in out:
            metrics["cplanning/far_fraction"] = out["far_fraction"]
        if found is not None:
            metrics |= {"cplanning/path_found": float(found), "cplanning/waypoints": float(len(waypoints)),
                        "cplanning/waypoint_reach_rate": out["waypoint_reach_rate"]}
        return metrics

    def evaluate(self, episodes: int, seed: int | None = None) -> dict[str, float]:
        """Greedy episodes in the eval env with the goal given directly (episode k resets with
        ``seed + k``; default seed: ``rlkit.seeding.eval_seed``); with ``test_search`` the same
        episodes again through SoRB-style search waypoints over replay states drawn with ``seed``
        (``eval/search_*``)."""
        base = eval_seed(self.seed, seed)
        out = self._evaluate(base, episodes, search=False)
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
        training env, the graph nodes and the agent's torch stream."""
        from rlkit.env_state import env_state
        from rlkit.seeding import generator_state

        return {"learner": self.learner.state_dict(), "buffer": self.buffer.state_dict(),
                "counters": torch.tensor([self.env_steps, self.episodes, self.grad_steps]),
                "update_debt": self.update_debt, "rng": generator_state(self.rng),
                "env": env_state(self.env), "torch_stream": self.torch_stream.state_dict(),
                "nodes": None if self.nodes is None else torch.as_tensor(self.nodes)}

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
